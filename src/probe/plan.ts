// The probe budget: which (vantage, target, transport) pairs a sweep probes
// when the node may send at most `budget` DNS queries per sweep
// (probe.maxQueriesPerSecond × interval). Pure; the only state is the
// Rotation's memory of when each pair was last planned.
//
// Each planned pair reserves `costPerPair` queries (probe.attempts × the
// number of queries): a probe whose every attempt fails still stays within
// the budget. In order:
//   1. host: the host vantage probes all its targets over every transport,
//      every sweep, whatever the budget (it covers the node, and the remedy
//      gate reads only its probes);
//   2. what is left is shared by the pods' pairs in two groups, 4 parts to
//      "own" (each pod's own resolv.conf nameservers) and 1 to "other" (the
//      other targets: each CoreDNS pod IP, static targets); a group that needs
//      less than its share leaves the rest to the other one;
//   3. within a group, the pairs that are due (UDP every sweep, TCP every
//      tcpEvery sweeps) go least recently planned first (never planned first,
//      then by key, so ties are stable).
//
// The bound (proved in the unit test's comment, checked there at random): a pair of
// period p in a group of n pairs that gets at least b slots every sweep is
// planned at most p + ceil(n / b) - 1 sweeps after its previous plan. With
// enough budget (b ≥ n) that is p: everything is probed every sweep (TCP
// every tcpEvery), as without a budget.
import type { PairClass, PlanGroup, Target, Transport } from '../model.js';

export type { PairClass } from '../model.js';
export const PAIR_CLASSES: readonly PairClass[] = ['host', 'own', 'other'];

/** own : other, the shares of the pods' budget. */
export const OWN_WEIGHT = 4;
export const OTHER_WEIGHT = 1;

export interface PlanTarget {
  target: Target;
  /** One of the vantage's own resolv.conf nameservers. */
  own: boolean;
}

export interface PlanVantage {
  /** Stable identity of the vantage across sweeps (dev:inode, and the pod UID). */
  key: string;
  host: boolean;
  targets: readonly PlanTarget[];
}

export interface PlanOptions {
  transports: readonly Transport[];
  /** Queries a sweep may send; Infinity: no budget. */
  budget: number;
  /** Queries one planned pair may send at most (attempts × queries). */
  costPerPair: number;
  /** Pods probe over TCP every this many sweeps (1: every sweep). */
  tcpEvery: number;
}

export interface PlannedPair {
  vantageKey: string;
  target: Target;
  transport: Transport;
  class: PairClass;
}

export type GroupPlan = PlanGroup;

export interface SweepPlan {
  /** 1 for the Rotation's first plan. */
  sweep: number;
  /** Queries per sweep; null: no budget. */
  budget: number | null;
  /** Queries reserved by the planned pairs (costPerPair each) and for TCP retries (retryReserve). */
  reserved: number;
  /** Queries kept for TCP retries of truncated UDP replies: as many as the previous sweep sent (noteRetries). */
  retryReserve: number;
  planned: PlannedPair[];
  /** Pairs known but not planned this sweep (health keeps their last result). */
  skipped: PlannedPair[];
  groups: Record<PairClass, GroupPlan>;
  /** The longest rotation of any group; null when a group gets no slot. */
  rotationSweeps: number | null;
}

export const pairKey = (vantageKey: string, t: Pick<Target, 'server' | 'port'>, transport: Transport): string =>
  `${vantageKey}|${t.server}|${t.port}|${transport}`;

/** The rotation bound of a group: n pairs, b slots a sweep, longest period p. */
export function rotationBound(n: number, slots: number | null, period: number): number | null {
  if (n === 0) return period > 0 ? 1 : null;
  if (slots === null) return period;
  if (slots <= 0) return null;
  return period + Math.ceil(n / slots) - 1;
}

interface Candidate {
  pair: PlannedPair;
  key: string;
  period: number;
}

interface AgedCandidate {
  c: Candidate;
  age: number;
}

/** Oldest first (never planned: age Infinity), then by key. */
const byAgeThenKey = (a: AgedCandidate, b: AgedCandidate): number => (a.age === b.age ? (a.c.key < b.c.key ? -1 : a.c.key > b.c.key ? 1 : 0) : b.age - a.age);

/** The longest period in a group (0 when empty). */
function maxPeriod(cands: readonly Candidate[]): number {
  let m = 0;
  for (const x of cands) m = Math.max(m, x.period);
  return m;
}

/** Remembers when each pair was last planned; plan() once per sweep. */
export class Rotation {
  #sweep = 0;
  #retries = 0;
  #last = new Map<string, number>();

  /** Sweeps planned so far. */
  /**
   * The TCP retries (truncated UDP replies) the sweep just planned sent: the next plan keeps that
   * many queries of its budget for them, so a sweep goes over its budget only by replies that
   * became truncated since the one before (one query each).
   */
  noteRetries(n: number): void {
    this.#retries = Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
  }

  get sweeps(): number {
    return this.#sweep;
  }

  plan(vantages: readonly PlanVantage[], opts: PlanOptions): SweepPlan {
    const sweep = ++this.#sweep;
    const budgeted = Number.isFinite(opts.budget);
    const cost = Math.max(1, opts.costPerPair);
    const tcpEvery = Math.max(1, Math.floor(opts.tcpEvery));
    const host: PlannedPair[] = [];
    const groups: Record<'own' | 'other', Candidate[]> = { own: [], other: [] };
    for (const v of vantages) {
      for (const pt of v.targets) {
        for (const transport of opts.transports) {
          const cls: PairClass = v.host ? 'host' : pt.own ? 'own' : 'other';
          const pair: PlannedPair = { vantageKey: v.key, target: pt.target, transport, class: cls };
          if (cls === 'host') host.push(pair);
          else groups[cls].push({ pair, key: pairKey(v.key, pt.target, transport), period: transport === 'tcp' ? tcpEvery : 1 });
        }
      }
    }
    const planned: PlannedPair[] = [...host];
    const skipped: PlannedPair[] = [];
    const hostGroup: GroupPlan = { pairs: host.length, planned: host.length, slots: null, rotationSweeps: host.length ? 1 : null };
    let own: GroupPlan;
    let retryReserve = 0;
    let other: GroupPlan;
    if (!budgeted) {
      // No budget: every due pair, every sweep.
      own = {
        pairs: groups.own.length,
        planned: this.#takeDue(groups.own, sweep, planned, skipped),
        slots: null,
        rotationSweeps: rotationBound(groups.own.length, null, maxPeriod(groups.own)),
      };
      other = {
        pairs: groups.other.length,
        planned: this.#takeDue(groups.other, sweep, planned, skipped),
        slots: null,
        rotationSweeps: rotationBound(groups.other.length, null, maxPeriod(groups.other)),
      };
    } else {
      retryReserve = Math.min(this.#retries, Math.max(0, opts.budget - host.length * cost));
      const slots = Math.max(0, Math.floor((opts.budget - host.length * cost - retryReserve) / cost));
      // Guaranteed shares: a group alone takes every slot.
      let ownShare: number;
      if (groups.other.length === 0) ownShare = slots;
      else if (groups.own.length === 0) ownShare = 0;
      // 4:1, rounded for own, but other keeps a slot when there are two or more.
      else ownShare = Math.min(Math.ceil((slots * OWN_WEIGHT) / (OWN_WEIGHT + OTHER_WEIGHT)), Math.max(slots - 1, 1));
      const otherShare = slots - ownShare;
      const dueOwn = this.#dueSorted(groups.own, sweep);
      const dueOther = this.#dueSorted(groups.other, sweep);
      // A group that needs less than its share leaves the rest to the other.
      let takeOwn = Math.min(dueOwn.length, ownShare);
      const takeOther = Math.min(dueOther.length, otherShare + (ownShare - takeOwn));
      takeOwn = Math.min(dueOwn.length, slots - takeOther);
      const chosen = new Set<Candidate>([...dueOwn.slice(0, takeOwn), ...dueOther.slice(0, takeOther)]);
      for (const c of [...groups.own, ...groups.other]) {
        if (chosen.has(c)) {
          planned.push(c.pair);
          this.#last.set(c.key, sweep);
        } else skipped.push(c.pair);
      }
      own = { pairs: groups.own.length, planned: takeOwn, slots: ownShare, rotationSweeps: rotationBound(groups.own.length, ownShare, maxPeriod(groups.own)) };
      other = {
        pairs: groups.other.length,
        planned: takeOther,
        slots: otherShare,
        rotationSweeps: rotationBound(groups.other.length, otherShare, maxPeriod(groups.other)),
      };
    }
    // Forget pairs that are gone (their pods or targets left): the memory stays as big as the node.
    const live = new Set<string>();
    for (const c of groups.own) live.add(c.key);
    for (const c of groups.other) live.add(c.key);
    for (const k of this.#last.keys()) if (!live.has(k)) this.#last.delete(k);
    const groupPlans = { host: hostGroup, own, other };
    let rotationSweeps: number | null = 1;
    for (const g of [own, other]) {
      if (g.pairs === 0) continue;
      rotationSweeps = rotationSweeps === null || g.rotationSweeps === null ? null : Math.max(rotationSweeps, g.rotationSweeps);
    }
    return {
      sweep,
      budget: budgeted ? opts.budget : null,
      reserved: planned.length * cost + retryReserve,
      retryReserve,
      planned,
      skipped,
      groups: groupPlans,
      rotationSweeps,
    };
  }

  /** Never planned, or planned at least `period` sweeps ago. */
  #due(c: Candidate, sweep: number): boolean {
    const last = this.#last.get(c.key);
    return last === undefined || sweep - last >= c.period;
  }

  /** Plans every due pair of a group (no budget), the rest skipped; returns how many were planned. */
  #takeDue(cands: readonly Candidate[], sweep: number, planned: PlannedPair[], skipped: PlannedPair[]): number {
    let n = 0;
    for (const x of cands) {
      if (this.#due(x, sweep)) {
        planned.push(x.pair);
        this.#last.set(x.key, sweep);
        n++;
      } else skipped.push(x.pair);
    }
    return n;
  }

  /** The due pairs, least recently planned first (never planned first), then by key. */
  #dueSorted(cands: readonly Candidate[], sweep: number): Candidate[] {
    const aged: AgedCandidate[] = [];
    for (const c of cands) {
      if (!this.#due(c, sweep)) continue;
      const last = this.#last.get(c.key);
      aged.push({ c, age: last === undefined ? Infinity : sweep - last });
    }
    aged.sort(byAgeThenKey);
    const sorted: Candidate[] = [];
    for (const x of aged) sorted.push(x.c);
    return sorted;
  }
}
