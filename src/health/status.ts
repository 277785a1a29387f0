// The /status document: every vantage of the last sweep and every check
// (vantage × target × transport × query) with its state, since when, and
// the last result's reason and RTT. Plain JSON data, built on each request.
import type { SweepPlanReport, VantageReport } from '../model.js';
import type { Check } from './model.js';
import { podOf } from './labels.js';
import { MAX_ITEMS, capList, capString } from '../text/untrusted.js';
import { GROUPS, type Group, type Override, type Verdict } from './verdict.js';

export interface SweepInfo {
  number: number;
  startedAt: Date;
  completedAt: Date;
  durationSeconds: number;
}

export interface StatusInput {
  version: string;
  startedAt: Date;
  now: Date;
  override: Override;
  staleAfterMs: number;
  /** Sweeps completed. */
  sweeps: number;
  lastSweep: SweepInfo | null;
  /** The last completed sweeps, oldest first; /status keeps the last RECENT_SWEEPS. */
  recentSweeps?: readonly SweepInfo[];
  /** The configured time between sweeps, when known. */
  intervalMs?: number;
  sweepRunning: boolean;
  vantages: readonly VantageReport[];
  checks: readonly Check[];
  verdicts: Readonly<Record<Group, Verdict>>;
  discovery: { docker: string; scanErrors: number };
  config: { file: string | null; lastReloadAt: Date; lastReloadOk: boolean };
  /** The probe budget's plan of the last sweep (absent: none). */
  plan?: SweepPlanReport | null;
  /** Each class's rotation (K, sweeps) now; default 1. */
  rotationSweeps?: (cls: Check['class']) => number | null;
}

/** sweep.plan of /status: the budget and what it covered (the skipped pairs counted, not listed). */
function planFields(plan: SweepPlanReport): Record<string, unknown> {
  return {
    sweep: plan.sweep,
    budgetQueries: plan.budget,
    reservedQueries: plan.reserved,
    sentQueries: plan.queries,
    plannedPairs: plan.planned,
    skippedPairs: plan.skipped.length,
    rotationSweeps: plan.rotationSweeps,
    groups: plan.groups,
  };
}

const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());

/** Completed sweeps /status lists under sweep.recent. */
export const RECENT_SWEEPS = 10;

export function statusDocument(input: StatusInput): Record<string, unknown> {
  const labels = new Map(input.vantages.map((r) => [r.vantage.id, r.label]));
  const checksPerVantage = new Map<string, { total: number; unhealthy: number }>();
  for (const c of input.checks) {
    const n = checksPerVantage.get(c.vantage.id) ?? { total: 0, unhealthy: 0 };
    n.total++;
    if (c.state === 'unhealthy') n.unhealthy++;
    checksPerVantage.set(c.vantage.id, n);
  }
  return {
    version: input.version,
    now: iso(input.now),
    startedAt: iso(input.startedAt),
    override: input.override,
    health: Object.fromEntries(GROUPS.map((g) => [g, { ...input.verdicts[g] }])),
    sweep: {
      completed: input.sweeps,
      running: input.sweepRunning,
      staleAfterSeconds: input.staleAfterMs / 1000,
      last:
        input.lastSweep === null
          ? null
          : {
              number: input.lastSweep.number,
              startedAt: iso(input.lastSweep.startedAt),
              completedAt: iso(input.lastSweep.completedAt),
              durationSeconds: input.lastSweep.durationSeconds,
              ageSeconds: Math.max(0, (input.now.getTime() - input.lastSweep.completedAt.getTime()) / 1000),
            },
      ...(input.intervalMs === undefined ? {} : { intervalSeconds: input.intervalMs / 1000 }),
      ...(input.plan ? { plan: planFields(input.plan) } : {}),
      recent: (input.recentSweeps ?? [])
        .slice(-RECENT_SWEEPS)
        .map((s) => ({ number: s.number, completedAt: iso(s.completedAt), durationSeconds: s.durationSeconds })),
    },
    discovery: input.discovery,
    config: { file: input.config.file, lastReloadAt: iso(input.config.lastReloadAt), lastReloadSuccessful: input.config.lastReloadOk },
    vantages: input.vantages.map((r) => {
      const v = r.vantage;
      const pod = podOf(v);
      const counts = checksPerVantage.get(v.id) ?? { total: 0, unhealthy: 0 };
      return {
        label: labels.get(v.id) ?? v.id,
        id: v.id,
        source: v.source,
        hostNetwork: v.hostNetwork,
        ...(pod === undefined ? {} : { pod }),
        ...(v.podUid === undefined ? {} : { podUid: v.podUid }),
        pid: v.pid,
        // Names a container chose: capped (discovery caps them already); the JSON sink escapes them.
        ...(v.comm === undefined ? {} : { comm: capString(v.comm) }),
        containers: capList(v.containerNames.length > 0 ? v.containerNames : v.containerIds.map((id) => id.slice(0, 12)), MAX_ITEMS + 1), // + 1: room for discovery's "…and N more"
        status: r.status,
        ...(r.detail === undefined ? {} : { detail: r.detail }),
        ...(r.resolvConf === undefined ? {} : { resolvConf: r.resolvConf }),
        checks: counts.total,
        unhealthy: counts.unhealthy,
      };
    }),
    checks: input.checks.map((c) => {
      const pod = podOf(c.vantage);
      return {
        vantage: c.vantageLabel,
        netns: c.vantage.id,
        ...(pod === undefined ? {} : { pod }),
        target: c.targetLabel,
        targetSource: c.target.source,
        ...(c.target.label === undefined ? {} : { targetName: c.target.label }),
        transport: c.transport,
        query: c.query,
        state: c.state,
        since: iso(c.since),
        consecutiveFailures: c.consecutiveFailures,
        consecutiveSuccesses: c.consecutiveSuccesses,
        lastSuccessAt: iso(c.lastSuccessAt),
        class: c.class,
        ageSeconds: Math.max(0, (input.now.getTime() - c.last.at.getTime()) / 1000),
        ageSweeps: c.ageSweeps,
        rotationSweeps: input.rotationSweeps ? input.rotationSweeps(c.class) : 1,
        stale: c.stale,
        last: {
          at: iso(c.last.at),
          ok: c.last.ok,
          reason: c.last.reason,
          rcode: c.last.rcode,
          rttSeconds: c.last.rttSeconds,
          attempts: c.last.attempts,
          answers: c.last.answers,
          ...(c.last.truncated ? { truncated: true } : {}),
          ...(c.last.detail === undefined ? {} : { detail: c.last.detail }),
        },
      };
    }),
  };
}
