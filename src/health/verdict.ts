// The answer of each health URL: 200 or 503 and a one-line reason.
//
// In order of precedence:
//   1. health.override "healthy" / "unhealthy" forces the answer (maintenance);
//   2. no sweep has completed yet: 503 ("starting");
//   3. the last completed sweep is older than health.staleAfter: 503 ("stale"),
//      as exechealthz --latency did; this also catches a sweep loop that hangs;
//   4. a check of the group is unhealthy (after hysteresis): 503, naming the
//      first few;
//   5. a check of the group is stale (its last result is more than twice its
//      rotation old: the probe budget's rotation is stuck): 503, naming them;
//   6. otherwise 200.
// The group "all" (/healthz) with no check at all is 503: the daemon probed
// nothing, so it knows nothing. Any other empty group (no pod on the node,
// transport not configured) is 200 with "no checks".
import type { Check } from './model.js';
import { capString } from '../text/untrusted.js';

export const GROUPS = ['all', 'host', 'pods', 'udp', 'tcp'] as const;
export type Group = (typeof GROUPS)[number];
export type Override = 'none' | 'healthy' | 'unhealthy';

/** The URL path of each group. */
export const GROUP_PATHS: Readonly<Record<Group, string>> = {
  all: '/healthz',
  host: '/healthz/host',
  pods: '/healthz/pods',
  udp: '/healthz/udp',
  tcp: '/healthz/tcp',
};

export const inGroup = (group: Group, c: Check): boolean => {
  switch (group) {
    case 'all':
      return true;
    case 'host':
      return c.vantage.hostNetwork;
    case 'pods':
      return !c.vantage.hostNetwork;
    case 'udp':
    case 'tcp':
      return c.transport === group;
  }
};

export interface VerdictInput {
  checks: readonly Check[];
  /** When the last sweep completed; null before the first. */
  lastSweepAt: Date | null;
  now: Date;
  staleAfterMs: number;
  override: Override;
}

export interface Verdict {
  healthy: boolean;
  status: 200 | 503;
  /** One line, e.g. "unhealthy: 1 of 4 pods checks failing: ...". */
  reason: string;
  /** Checks in the group. */
  checks: number;
  unhealthy: number;
}

/** Shown in a reason, at most. */
const MAX_LISTED = 3;
/** A reason is one line of at most this many characters (each listed check gets a share). */
export const MAX_REASON = 1000;
const MAX_PART = 120;

const seconds = (ms: number): string => `${Math.round(ms / 100) / 10}s`;
const checksWord = (n: number): string => (n === 1 ? 'check' : 'checks');

/** One failing check for a reason: its parts capped (the label and the detail may quote a container or a DNS reply); /healthz and STATUS= escape the whole line. */
export const describeCheck = (c: Check): string =>
  `${capString(c.vantageLabel, MAX_PART)} -> ${capString(c.targetLabel, MAX_PART)} ${c.transport} ${capString(c.query, MAX_PART)}: ${c.last.reason}${c.last.detail ? ` (${capString(c.last.detail, MAX_PART)})` : ''}`;

export function evaluate(group: Group, input: VerdictInput): Verdict {
  const members = input.checks.filter((c) => inGroup(group, c));
  const bad = members.filter((c) => c.state === 'unhealthy');
  const base = { checks: members.length, unhealthy: bad.length };
  const ok = (reason: string): Verdict => ({ ...base, healthy: true, status: 200, reason: `ok: ${reason}` });
  const fail = (reason: string): Verdict => ({ ...base, healthy: false, status: 503, reason: capString(reason, MAX_REASON) });

  if (input.override === 'healthy') return ok('maintenance override (health.override is "healthy")');
  if (input.override === 'unhealthy') return fail('unhealthy: maintenance override (health.override is "unhealthy")');
  if (input.lastSweepAt === null) return fail('starting: no sweep has completed yet');
  const age = input.now.getTime() - input.lastSweepAt.getTime();
  if (age > input.staleAfterMs) {
    return fail(`stale: the last sweep completed ${seconds(age)} ago, more than health.staleAfter (${seconds(input.staleAfterMs)})`);
  }
  const what = group === 'all' ? '' : ` ${group}`;
  if (members.length === 0) {
    return group === 'all' ? fail('unhealthy: the last sweep probed nothing (no nameserver in any resolv.conf, and no targets)') : ok(`no${what} checks`);
  }
  if (bad.length > 0) {
    const listed = bad.slice(0, MAX_LISTED).map(describeCheck).join('; ');
    const more = bad.length > MAX_LISTED ? `; and ${bad.length - MAX_LISTED} more` : '';
    return fail(`unhealthy: ${bad.length} of ${members.length}${what} ${checksWord(members.length)} failing: ${listed}${more}`);
  }
  const stale = members.filter((c) => c.stale);
  if (stale.length > 0) {
    const listed = stale
      .slice(0, MAX_LISTED)
      .map(
        (c) =>
          `${capString(c.vantageLabel, MAX_PART)} -> ${capString(c.targetLabel, MAX_PART)} ${c.transport} ${capString(c.query, MAX_PART)}: last probed ${c.ageSweeps} sweeps ago`,
      )
      .join('; ');
    const more = stale.length > MAX_LISTED ? `; and ${stale.length - MAX_LISTED} more` : '';
    return fail(
      `stale checks: ${stale.length} of ${members.length}${what} ${checksWord(members.length)} not probed for more than twice their rotation (the probe budget's rotation is stuck): ${listed}${more}`,
    );
  }
  return ok(`${members.length}${what} ${checksWord(members.length)} healthy`);
}

export function evaluateAll(input: VerdictInput): Record<Group, Verdict> {
  return Object.fromEntries(GROUPS.map((g) => [g, evaluate(g, input)])) as Record<Group, Verdict>;
}
