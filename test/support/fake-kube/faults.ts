// Injectable faults: a rule matches requests by their attributes and answers
// with an error status, delays the answer, resets the connection, or (for a
// watch) ends the stream after a while.

export interface RequestAttributes {
  verb: string;
  group: string;
  version: string;
  resource: string;
  subresource: string;
  namespace?: string;
  name?: string;
  user: string;
  method: string;
  path: string;
}

export interface FaultMatch {
  verb?: string | string[];
  resource?: string;
  subresource?: string;
  group?: string;
  namespace?: string;
  name?: string;
  user?: string;
}

export interface FaultRule {
  match?: FaultMatch;
  /** Answer with this HTTP status and a Status body (e.g. 403, 500, 429). */
  status?: number;
  reason?: string;
  message?: string;
  /** Wait this long before handling (or failing) the request. */
  delayMs?: number;
  /** Destroy the connection without an answer. */
  reset?: boolean;
  /** For a watch: end the stream after this long (a dropped watch). */
  dropWatchAfterMs?: number;
  /** Match at most this many requests; default unlimited. */
  times?: number;
}

export interface FaultHandle {
  /** Requests the rule matched so far. */
  readonly hits: number;
  remove(): void;
}

const REASONS: Readonly<Record<number, string>> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  409: 'Conflict',
  410: 'Expired',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

export const reasonForStatus = (status: number): string => REASONS[status] ?? 'Unknown';

function matches(m: FaultMatch | undefined, a: RequestAttributes): boolean {
  if (!m) return true;
  if (m.verb !== undefined && !(Array.isArray(m.verb) ? m.verb : [m.verb]).includes(a.verb)) return false;
  if (m.resource !== undefined && m.resource !== a.resource) return false;
  if (m.subresource !== undefined && m.subresource !== a.subresource) return false;
  if (m.group !== undefined && m.group !== a.group) return false;
  if (m.namespace !== undefined && m.namespace !== a.namespace) return false;
  if (m.name !== undefined && m.name !== a.name) return false;
  if (m.user !== undefined && m.user !== a.user) return false;
  return true;
}

export class Faults {
  #rules: { rule: FaultRule; hits: number; removed: boolean }[] = [];

  add(rule: FaultRule): FaultHandle {
    const entry = { rule, hits: 0, removed: false };
    this.#rules.push(entry);
    return {
      get hits() {
        return entry.hits;
      },
      remove: () => {
        entry.removed = true;
        this.#rules = this.#rules.filter((e) => e !== entry);
      },
    };
  }

  clear(): void {
    this.#rules = [];
  }

  /** The first rule that matches and has uses left (counting this use), or undefined. */
  take(a: RequestAttributes): FaultRule | undefined {
    for (const e of this.#rules) {
      if (e.removed || !matches(e.rule.match, a)) continue;
      if (e.rule.times !== undefined && e.hits >= e.rule.times) continue;
      e.hits++;
      return e.rule;
    }
    return undefined;
  }
}
