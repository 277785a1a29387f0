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

type Counts = Pick<Verdict, 'checks' | 'unhealthy'>;
const passes = (counts: Counts, reason: string): Verdict => ({ ...counts, healthy: true, status: 200, reason: `ok: ${reason}` });
const fails = (counts: Counts, reason: string): Verdict => ({ ...counts, healthy: false, status: 503, reason: capString(reason, MAX_REASON) });

const describeStale = (c: Check): string =>
  `${capString(c.vantageLabel, MAX_PART)} -> ${capString(c.targetLabel, MAX_PART)} ${c.transport} ${capString(c.query, MAX_PART)}: last probed ${c.ageSweeps} sweeps ago`;

export function evaluate(group: Group, input: VerdictInput): Verdict {
  const members: Check[] = [];
  const bad: Check[] = [];
  const stale: Check[] = [];
  for (const c of input.checks) {
    if (!inGroup(group, c)) continue;
    members.push(c);
    if (c.state === 'unhealthy') bad.push(c);
    if (c.stale) stale.push(c);
  }
  const counts: Counts = { checks: members.length, unhealthy: bad.length };

  if (input.override === 'healthy') return passes(counts, 'maintenance override (health.override is "healthy")');
  if (input.override === 'unhealthy') return fails(counts, 'unhealthy: maintenance override (health.override is "unhealthy")');
  if (input.lastSweepAt === null) return fails(counts, 'starting: no sweep has completed yet');
  const age = input.now.getTime() - input.lastSweepAt.getTime();
  if (age > input.staleAfterMs) {
    return fails(counts, `stale: the last sweep completed ${seconds(age)} ago, more than health.staleAfter (${seconds(input.staleAfterMs)})`);
  }
  const what = group === 'all' ? '' : ` ${group}`;
  if (members.length === 0) {
    return group === 'all'
      ? fails(counts, 'unhealthy: the last sweep probed nothing (no nameserver in any resolv.conf, and no targets)')
      : passes(counts, `no${what} checks`);
  }
  if (bad.length > 0) {
    const listed = bad.slice(0, MAX_LISTED).map(describeCheck).join('; ');
    const more = bad.length > MAX_LISTED ? `; and ${bad.length - MAX_LISTED} more` : '';
    return fails(counts, `unhealthy: ${bad.length} of ${members.length}${what} ${checksWord(members.length)} failing: ${listed}${more}`);
  }
  if (stale.length > 0) {
    const listed = stale.slice(0, MAX_LISTED).map(describeStale).join('; ');
    const more = stale.length > MAX_LISTED ? `; and ${stale.length - MAX_LISTED} more` : '';
    return fails(
      counts,
      `stale checks: ${stale.length} of ${members.length}${what} ${checksWord(members.length)} not probed for more than twice their rotation (the probe budget's rotation is stuck): ${listed}${more}`,
    );
  }
  return passes(counts, `${members.length}${what} ${checksWord(members.length)} healthy`);
}

export function evaluateAll(input: VerdictInput): Record<Group, Verdict> {
  const out = {} as Record<Group, Verdict>;
  for (const g of GROUPS) out[g] = evaluate(g, input);
  return out;
}
