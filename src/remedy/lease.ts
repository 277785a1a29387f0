// The cluster-wide remedy Lease (coordination.k8s.io/v1): a node takes it
// before acting, renews it while it waits for the result, and releases it.
// Every write carries the resourceVersion read, so two nodes racing for it
// cannot both win: the loser gets 409 Conflict. A Lease whose holder stopped
// renewing (renewTime + leaseDurationSeconds in the past) may be taken over;
// this assumes node clocks agree to well within the duration (NTP).
//
// The Lease also carries the last action (annotation), so a node that takes
// it next can see that another node already acted on the same target.
import { KubeApiError } from '../kube/errors.js';
import type { KubeApi, LeaseInfo, ObjectRef } from '../kube/types.js';

export const LAST_ACTION_ANNOTATION = 'coredns-healthd/last-action';

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

export type AcquireResult = { ok: true; lease: LeaseInfo; lastAction?: LastAction } | { ok: false; holder: string; renewTime?: string };

export function parseLastAction(lease: LeaseInfo | undefined): LastAction | undefined {
  const text = lease?.annotations[LAST_ACTION_ANNOTATION];
  if (!text) return undefined;
  try {
    const v = JSON.parse(text) as Partial<LastAction>;
    if (typeof v.key === 'string' && typeof v.at === 'string' && typeof v.node === 'string' && typeof v.action === 'string') return v as LastAction;
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
  /** The Lease as last written by this node while it holds it. */
  #held: LeaseInfo | undefined;

  constructor(api: KubeApi, settings: LeaseSettings, now: () => number = Date.now) {
    this.#api = api;
    this.#s = settings;
    this.#now = now;
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
        return { ok: true, lease: this.#held };
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
    return { ok: true, lease: this.#held, ...(last ? { lastAction: last } : {}) };
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
      const annotations = { ...held.annotations, ...(lastAction ? { [LAST_ACTION_ANNOTATION]: JSON.stringify(lastAction) } : {}) };
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
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    }
  }
}
