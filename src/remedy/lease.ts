// The cluster-wide remedy Lease (coordination.k8s.io/v1): a node takes it
// before acting, renews it while it waits for the result, and releases it.
// Every write carries the resourceVersion read, so two nodes racing for it
// cannot both win: the loser gets 409 Conflict. A Lease whose holder stopped
// renewing (renewTime + leaseDurationSeconds in the past) may be taken over;
// this assumes node clocks agree to well within the duration (NTP).
//
// The Lease also carries the actions of the last hours (annotation
// coredns-healthd/actions, and the last one alone in coredns-healthd/last-action),
// so that a node that takes it next sees what every node did: cooldowns per
// target and remedy.maxActionsPerHour hold for the whole cluster, not per node.
import { KubeApiError } from '../kube/errors.js';
import type { KubeApi, LeaseInfo, ObjectRef } from '../kube/types.js';
import { realClock, type RemedyClock } from './clock.js';

export const LAST_ACTION_ANNOTATION = 'coredns-healthd/last-action';
export const ACTIONS_ANNOTATION = 'coredns-healthd/actions';
/** The history kept on the Lease: actions of the last day, at most this many. */
export const MAX_HISTORY = 64;
const HISTORY_MS = 24 * 3_600_000;

export interface LastAction {
  action: string;
  /** "pod:<uid>" or "deployment:<ns>/<name>" (src/remedy/gate.ts keys). */
  key: string;
  node: string;
  /** RFC 3339 */
  at: string;
}

export interface LeaseSettings {
  namespace: string;
  name: string;
  durationMs: number;
  /** This node's name. */
  holder: string;
}

export type AcquireResult = { ok: true; lease: LeaseInfo; lastAction?: LastAction; history: LastAction[] } | { ok: false; holder: string; renewTime?: string };

const isAction = (v: Partial<LastAction> | null | undefined): v is LastAction =>
  typeof v === 'object' && v !== null && typeof v.key === 'string' && typeof v.at === 'string' && typeof v.node === 'string' && typeof v.action === 'string';

/** The actions recorded on the Lease (the history, or the last action of an older writer), oldest first. */
export function parseActions(lease: LeaseInfo | undefined): LastAction[] {
  const text = lease?.annotations[ACTIONS_ANNOTATION];
  let list: LastAction[] = [];
  if (text && text.length <= 64 * 1024) {
    try {
      const v = JSON.parse(text) as unknown;
      if (Array.isArray(v)) list = (v as Partial<LastAction>[]).filter(isAction);
    } catch {
      // An unreadable history is no history.
    }
  }
  const last = parseLastAction(lease);
  if (last && !list.some((a) => a.key === last.key && a.at === last.at)) list.push(last);
  return list.sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
}

/** The history with `record` added: the last day's actions, at most MAX_HISTORY. */
export function withAction(history: readonly LastAction[], record: LastAction, now: number): LastAction[] {
  return [...history, record].filter((a) => now - Date.parse(a.at) < HISTORY_MS).slice(-MAX_HISTORY);
}

export function parseLastAction(lease: LeaseInfo | undefined): LastAction | undefined {
  const text = lease?.annotations[LAST_ACTION_ANNOTATION];
  if (!text) return undefined;
  try {
    const v = JSON.parse(text) as Partial<LastAction>;
    if (isAction(v)) return v;
  } catch {
    // An unreadable record is no record.
  }
  return undefined;
}

/** Tries to release the Lease (see release()). */
export const RELEASE_ATTEMPTS = 3;

export class RemedyLease {
  readonly #api: KubeApi;
  #s: LeaseSettings;
  readonly #now: () => number;
  readonly #clock: RemedyClock;
  /** The Lease as last written by this node while it holds it. */
  #held: LeaseInfo | undefined;

  constructor(api: KubeApi, settings: LeaseSettings, now: () => number = Date.now, clock: RemedyClock = realClock) {
    this.#api = api;
    this.#s = settings;
    this.#now = now;
    this.#clock = clock;
  }

  get ref(): ObjectRef {
    return { namespace: this.#s.namespace, name: this.#s.name };
  }

  get held(): boolean {
    return this.#held !== undefined;
  }

  update(settings: LeaseSettings): void {
    this.#s = settings;
  }

  #durationSeconds(): number {
    return Math.max(1, Math.ceil(this.#s.durationMs / 1000));
  }

  /** The holder of an unexpired Lease, or undefined when it is free (no holder, expired, or this node). */
  activeHolder(lease: LeaseInfo): string | undefined {
    const holder = lease.holderIdentity;
    if (!holder || holder === this.#s.holder) return undefined;
    const renewed = Date.parse(lease.renewTime ?? lease.acquireTime ?? '');
    const duration = (lease.leaseDurationSeconds ?? this.#durationSeconds()) * 1000;
    if (Number.isFinite(renewed) && renewed + duration < this.#now()) return undefined;
    return holder;
  }

  /**
   * Takes the Lease. { ok: false } when another node holds it (or won the
   * race for it); API failures throw KubeApiError.
   */
  async acquire(): Promise<AcquireResult> {
    const now = new Date(this.#now());
    const current = await this.#api.getLease(this.ref);
    if (!current) {
      try {
        this.#held = await this.#api.createLease({
          ...this.ref,
          holderIdentity: this.#s.holder,
          leaseDurationSeconds: this.#durationSeconds(),
          acquireTime: now,
          renewTime: now,
          leaseTransitions: 0,
        });
        return { ok: true, lease: this.#held, history: [] };
      } catch (err) {
        if (err instanceof KubeApiError && err.reason === 'conflict') return this.#lost();
        throw err;
      }
    }
    const holder = this.activeHolder(current);
    if (holder) return { ok: false, holder, ...(current.renewTime ? { renewTime: current.renewTime } : {}) };
    const takeover = current.holderIdentity !== this.#s.holder;
    try {
      this.#held = await this.#api.updateLease({
        ...this.ref,
        resourceVersion: current.resourceVersion,
        holderIdentity: this.#s.holder,
        leaseDurationSeconds: this.#durationSeconds(),
        acquireTime: takeover || !current.acquireTime ? now : new Date(current.acquireTime),
        renewTime: now,
        leaseTransitions: (current.leaseTransitions ?? 0) + (takeover && current.holderIdentity ? 1 : 0),
        annotations: current.annotations,
      });
    } catch (err) {
      if (err instanceof KubeApiError && err.reason === 'conflict') return this.#lost();
      throw err;
    }
    const last = parseLastAction(current);
    return { ok: true, lease: this.#held, ...(last ? { lastAction: last } : {}), history: parseActions(current) };
  }

  /** Another node won: who holds it now (best effort). */
  async #lost(): Promise<AcquireResult> {
    try {
      const l = await this.#api.getLease(this.ref);
      return { ok: false, holder: l?.holderIdentity ?? 'another node', ...(l?.renewTime ? { renewTime: l.renewTime } : {}) };
    } catch {
      return { ok: false, holder: 'another node' };
    }
  }

  /**
   * Renews the held Lease, recording `lastAction` when given. Throws a
   * KubeApiError on API failure, and "conflict" when another node took the
   * Lease over (then this node no longer holds it).
   */
  async renew(lastAction?: LastAction): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const held = this.#held;
      if (!held) throw new Error('renew: this node does not hold the remedy Lease');
      const annotations = {
        ...held.annotations,
        ...(lastAction
          ? {
              [LAST_ACTION_ANNOTATION]: JSON.stringify(lastAction),
              [ACTIONS_ANNOTATION]: JSON.stringify(withAction(parseActions(held), lastAction, this.#now())),
            }
          : {}),
      };
      try {
        this.#held = await this.#api.updateLease({
          ...this.ref,
          resourceVersion: held.resourceVersion,
          holderIdentity: this.#s.holder,
          leaseDurationSeconds: this.#durationSeconds(),
          ...(held.acquireTime ? { acquireTime: new Date(held.acquireTime) } : {}),
          renewTime: new Date(this.#now()),
          ...(held.leaseTransitions !== undefined ? { leaseTransitions: held.leaseTransitions } : {}),
          annotations,
        });
        return;
      } catch (err) {
        if (!(err instanceof KubeApiError) || err.reason !== 'conflict' || attempt > 0) throw err;
        // Changed since our last write: still ours (retry on the new version), or taken over.
        const now = await this.#api.getLease(this.ref);
        if (now?.holderIdentity !== this.#s.holder) {
          this.#held = undefined;
          throw new KubeApiError('conflict', `the remedy Lease ${this.#s.namespace}/${this.#s.name} is now held by ${now?.holderIdentity ?? 'nobody'}`, {
            status: 409,
            cause: err,
          });
        }
        this.#held = now;
      }
    }
  }

  /** Gives the Lease up (holder cleared, last action kept). Never throws: an unreleased Lease expires by itself. */
  async release(): Promise<boolean> {
    const held = this.#held;
    this.#held = undefined;
    if (!held) return true;
    // A slow or failing API server gets three tries: a Lease left held blocks every node's
    // remedies until it expires. A conflict means someone else wrote it: nothing to release.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#api.updateLease({
          ...this.ref,
          resourceVersion: held.resourceVersion,
          leaseDurationSeconds: held.leaseDurationSeconds ?? this.#durationSeconds(),
          ...(held.leaseTransitions !== undefined ? { leaseTransitions: held.leaseTransitions } : {}),
          renewTime: new Date(this.#now()),
          annotations: held.annotations,
        });
        return true;
      } catch (err) {
        if (attempt >= RELEASE_ATTEMPTS || (err instanceof KubeApiError && (err.reason === 'conflict' || err.reason === 'not-found'))) return false;
        await this.#clock.sleep(100 * attempt, new AbortController().signal);
      }
    }
  }
}
