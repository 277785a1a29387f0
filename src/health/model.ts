// The health state of every check: one (vantage, target, transport, query)
// seen in the last sweep, with hysteresis.
//
// - The first result of a check decides its initial state (healthy on a pass,
//   unhealthy on a failure): a node that is broken when the daemon starts is
//   reported broken after the first sweep, not after failureThreshold sweeps.
// - Then a healthy check turns unhealthy after failureThreshold consecutive
//   failures, and an unhealthy one healthy after successThreshold
//   consecutive passes. `since` is when the current state began.
// - A result that says nothing about DNS does not move the state: 'cancelled'
//   (shutdown) and 'netns-gone' (the namespace vanished mid-sweep; it is
//   dropped at the next discovery).
// - Checks absent from a sweep are dropped (the vantage is gone, the target
//   left resolv.conf or the configuration): the state stays as big as the node.
//   A check the probe budget skipped this sweep (report.plan.skipped) is kept
//   as it was, its last result aging.
// - Freshness: each check remembers the sweep (this model's count of updates)
//   of its last result. With a budget every pair is probed at least every K
//   sweeps (the plan's rotationSweeps for its class); a check whose result is
//   more than STALE_FACTOR × K sweeps old is stale (the rotation is stuck), and
//   /healthz says so as for a failing check. A class with no slot at all (K
//   null: the budget is too small; the daemon warns) is never called stale.
// - The same namespace id holding another pod (inode reuse) starts afresh.
import type { PairClass, PlanGroup, ProbeResult, Query, Reason, SweepReport, SweepRow, Target, Transport, Vantage } from '../model.js';
import { queryLabel } from '../probe/query-spec.js';
import { targetLabel } from './labels.js';

export type CheckState = 'healthy' | 'unhealthy';

export interface Thresholds {
  /** Consecutive failures that turn a healthy check unhealthy. */
  failureThreshold: number;
  /** Consecutive passes that turn an unhealthy check healthy. */
  successThreshold: number;
}

/** A check's last probe: the sweep's result as it came, with its tries and when. */
export type LastResult = ProbeResult & {
  /** Tries this probe took. */
  attempts: number;
  at: Date;
};

export interface Check {
  readonly key: string;
  vantage: Vantage;
  /** See labels.ts. */
  vantageLabel: string;
  readonly target: Target;
  /** "ip:port" */
  readonly targetLabel: string;
  readonly transport: Transport;
  /** "name TYPE" */
  readonly query: string;
  state: CheckState;
  since: Date;
  consecutiveFailures: number;
  consecutiveSuccesses: number;
  last: LastResult;
  lastSuccessAt: Date | null;
  /** Its class in the probe budget (null: probed without one). */
  class: PairClass | null;
  /** The model's sweep number of the last result. */
  lastSweep: number;
  /** Sweeps since the last result (0: this sweep). */
  ageSweeps: number;
  /** More than STALE_FACTOR × its rotation (K) sweeps old. */
  stale: boolean;
}

/** A check is stale when its last result is more than this many times its rotation (in sweeps) old. */
export const STALE_FACTOR = 2;

export interface Transition {
  /** The check after the change. */
  check: Readonly<Check>;
  /** null: the check's first result. */
  from: CheckState | null;
  to: CheckState;
}

export interface UpdateResult {
  /** State changes, including first results (from null). */
  transitions: Transition[];
  /** Checks dropped because the sweep did not have them. */
  removed: Check[];
}

/** Results that say nothing about the DNS path. */
const NEUTRAL: ReadonlySet<Reason> = new Set<Reason>(['cancelled', 'netns-gone']);

export const checkKey = (vantage: Pick<Vantage, 'dev' | 'inode'>, target: Pick<Target, 'server' | 'port'>, transport: Transport, query: string): string =>
  `${vantage.dev}:${vantage.inode}|${targetLabel(target)}|${transport}|${query}`;

const lastOf = (row: SweepRow, at: Date): LastResult => ({ ...row.result, attempts: row.attempts, at });

function checkThresholds(t: Thresholds): Thresholds {
  for (const k of ['failureThreshold', 'successThreshold'] as const) {
    if (!Number.isInteger(t[k]) || t[k] < 1) throw new TypeError(`health.${k} must be an integer of at least 1, got ${String(t[k])}`);
  }
  return { failureThreshold: t.failureThreshold, successThreshold: t.successThreshold };
}

// The order of localeCompare() without arguments, from one collator made once
// (localeCompare looks the collator up again on every call).
const COLLATOR = new Intl.Collator();
const STATE_ORDER = (a: Check, b: Check): number =>
  Number(b.vantage.hostNetwork) - Number(a.vantage.hostNetwork) ||
  COLLATOR.compare(a.vantageLabel, b.vantageLabel) ||
  COLLATOR.compare(a.targetLabel, b.targetLabel) ||
  COLLATOR.compare(a.transport, b.transport) ||
  COLLATOR.compare(a.query, b.query);

const pairOf = (vantage: Pick<Vantage, 'dev' | 'inode' | 'podUid'>, target: Pick<Target, 'server' | 'port'>, transport: Transport): string =>
  `${vantage.dev}:${vantage.inode}:${vantage.podUid ?? ''}|${targetLabel(target)}|${transport}`;

export class HealthModel {
  #checks = new Map<string, Check>();
  /** checks() in order; null when it must be sorted again. */
  #sorted: Check[] | null = null;
  #thresholds: Thresholds;
  #sweep = 0;
  #rotation: Partial<Record<PairClass, PlanGroup>> = {};

  constructor(thresholds: Thresholds) {
    this.#thresholds = checkThresholds(thresholds);
  }

  /** New thresholds apply from the next result on. */
  setThresholds(thresholds: Thresholds): void {
    this.#thresholds = checkThresholds(thresholds);
  }

  get thresholds(): Thresholds {
    return { ...this.#thresholds };
  }

  get size(): number {
    return this.#checks.size;
  }

  /** Every check, host first, then by vantage, target, transport, query (a new array). */
  checks(): Check[] {
    // Sorted again only when a check came, went or changed what it is sorted by.
    this.#sorted ??= [...this.#checks.values()].sort(STATE_ORDER);
    return this.#sorted.slice();
  }

  get(key: string): Check | undefined {
    return this.#checks.get(key);
  }

  /** Sweeps folded in so far. */
  get sweeps(): number {
    return this.#sweep;
  }

  /** The rotation (K, in sweeps) of a class in the last plan; 1 without a budget; null: never probed. */
  rotationSweeps(cls: PairClass | null): number | null {
    if (cls === null) return 1;
    const g = this.#rotation[cls];
    return g ? g.rotationSweeps : 1;
  }

  /** Folds one sweep into the state. `at` is when the sweep completed. */
  update(report: SweepReport, at: Date = new Date()): UpdateResult {
    const sweep = ++this.#sweep;
    this.#rotation = report.plan?.groups ?? {};
    const labels = new Map<string, string>();
    for (const r of report.vantages) labels.set(r.vantage.id, r.label);
    const seen = new Set<string>();
    const transitions: Transition[] = [];
    for (const row of report.rows) {
      const query = queryLabel(row.query);
      const key = checkKey(row.vantage, row.target, row.transport, query);
      if (seen.has(key)) continue; // one result per check and sweep
      seen.add(key);
      const label = labels.get(row.vantage.id) ?? row.vantage.id;
      let check = this.#checks.get(key);
      if (check && (check.vantage.podUid ?? '') !== (row.vantage.podUid ?? '')) {
        this.#checks.delete(key); // the namespace id now belongs to another pod
        this.#sorted = null;
        check = undefined;
      }
      if (!check) {
        if (NEUTRAL.has(row.result.reason)) continue; // no state to start from
        const ok = row.result.ok;
        check = {
          key,
          vantage: row.vantage,
          vantageLabel: label,
          target: row.target,
          targetLabel: targetLabel(row.target),
          transport: row.transport,
          query,
          state: ok ? 'healthy' : 'unhealthy',
          since: at,
          consecutiveFailures: ok ? 0 : 1,
          consecutiveSuccesses: ok ? 1 : 0,
          last: lastOf(row, at),
          lastSuccessAt: ok ? at : null,
          class: row.class ?? null,
          lastSweep: sweep,
          ageSweeps: 0,
          stale: false,
        };
        this.#checks.set(key, check);
        this.#sorted = null;
        transitions.push({ check, from: null, to: check.state });
        continue;
      }
      if (check.vantageLabel !== label || check.vantage.hostNetwork !== row.vantage.hostNetwork) this.#sorted = null;
      check.vantage = row.vantage;
      check.vantageLabel = label;
      if (NEUTRAL.has(row.result.reason)) continue;
      check.last = lastOf(row, at);
      check.class = row.class ?? null;
      check.lastSweep = sweep;
      const before = check.state;
      if (row.result.ok) {
        check.consecutiveSuccesses++;
        check.consecutiveFailures = 0;
        check.lastSuccessAt = at;
        if (before === 'unhealthy' && check.consecutiveSuccesses >= this.#thresholds.successThreshold) check.state = 'healthy';
      } else {
        check.consecutiveFailures++;
        check.consecutiveSuccesses = 0;
        if (before === 'healthy' && check.consecutiveFailures >= this.#thresholds.failureThreshold) check.state = 'unhealthy';
      }
      if (check.state !== before) {
        check.since = at;
        transitions.push({ check, from: before, to: check.state });
      }
    }
    const skipped = new Set<string>();
    for (const p of report.plan?.skipped ?? []) skipped.add(pairOf(p.vantage, p.target, p.transport));
    const removed: Check[] = [];
    for (const [key, check] of this.#checks) {
      if (!seen.has(key) && !skipped.has(pairOf(check.vantage, check.target, check.transport))) {
        this.#checks.delete(key);
        this.#sorted = null;
        removed.push(check);
        continue;
      }
      check.ageSweeps = sweep - check.lastSweep;
      const k = this.rotationSweeps(check.class);
      // A class the budget leaves no slot (the daemon warns) is held to no rotation: its age shows in the metrics.
      check.stale = k !== null && check.ageSweeps > STALE_FACTOR * k;
    }
    return { transitions, removed };
  }

  /**
   * The report with the last results of the pairs its plan skipped, as rows marked `carried`: what
   * the diagnosis compares (UDP against TCP, one vantage against the others) stays whole between
   * the sweeps that probe a pair. Call after update(report).
   */
  withCarriedRows(report: SweepReport, queries: readonly Query[]): SweepReport {
    const skipped = report.plan?.skipped ?? [];
    if (skipped.length === 0) return report;
    const carried: SweepRow[] = [];
    for (const p of skipped) {
      for (const query of queries) {
        const c = this.#checks.get(checkKey(p.vantage, p.target, p.transport, queryLabel(query)));
        if (!c || (c.vantage.podUid ?? '') !== (p.vantage.podUid ?? '')) continue;
        const { attempts, at: _at, ...result } = c.last;
        carried.push({ vantage: p.vantage, target: c.target, transport: p.transport, query, attempts, result, class: p.class, carried: true });
      }
    }
    return { ...report, rows: [...report.rows, ...carried] };
  }

  /** Forgets every check. */
  clear(): Check[] {
    const all = [...this.#checks.values()];
    this.#checks.clear();
    this.#sorted = null;
    return all;
  }
}
