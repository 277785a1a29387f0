// The ClusterDNSReachable condition on this node's status, as
// node-problem-detector keeps its conditions: True when cluster DNS answers
// from the host, False (with a reason) when it does not. Written when the
// status or reason changes and at least every heartbeat otherwise (a change of
// the message alone waits for the heartbeat; kubernetes.nodeConditionHeartbeat,
// default 1 h: a Node status write reaches every watcher of Nodes, which is why
// the kubelet itself moved its heartbeat to a Lease, KEP-589);
// lastTransitionTime moves only when the status does. A 403 or a missing
// Node turns the condition off (logged once): it is optional.
import { KubeApiError } from '../kube/errors.js';
import type { KubeApi } from '../kube/types.js';
import type { Logger } from '../log.js';
import type { SweepSummary } from './sweep-summary.js';

export const CONDITION_TYPE = 'ClusterDNSReachable';

export interface ConditionState {
  status: 'True' | 'False' | 'Unknown';
  /** CamelCase */
  reason: string;
  message: string;
}

/** The condition a sweep implies, or undefined when the host probed no cluster DNS target. */
export function conditionFromSweep(s: SweepSummary): ConditionState | undefined {
  const pods = s.pods;
  const answering = pods.filter((p) => p.status !== 'failed').length;
  const reasons = [...new Set([...pods.flatMap((p) => p.reasons), ...(s.service?.reasons ?? [])])].sort();
  const detail = reasons.length ? ` (${reasons.join(', ')})` : '';
  if (s.service) {
    if (s.service.status !== 'failed') {
      return { status: 'True', reason: 'ClusterDNSAnswers', message: `the DNS Service and ${answering} of ${pods.length} CoreDNS pods answer from the host` };
    }
    if (pods.length > 0 && answering === 0)
      return {
        status: 'False',
        reason: 'AllEndpointsFailed',
        message: `neither the DNS Service nor any of ${pods.length} CoreDNS pods answer from the host${detail}`,
      };
    return {
      status: 'False',
      reason: 'ServiceFailed',
      message: `the DNS Service does not answer from the host${detail}; ${answering} of ${pods.length} CoreDNS pods do`,
    };
  }
  if (pods.length === 0) return undefined;
  if (answering > 0) return { status: 'True', reason: 'ClusterDNSAnswers', message: `${answering} of ${pods.length} CoreDNS pods answer from the host` };
  return { status: 'False', reason: 'AllEndpointsFailed', message: `none of ${pods.length} CoreDNS pods answer from the host${detail}` };
}

export interface NodeConditionOptions {
  api: KubeApi;
  nodeName: string;
  logger?: Logger;
  /** Rewrite an unchanged condition this often (read at each update); 0 never. Default 1 h. */
  heartbeatMs?: number | (() => number);
  now?: () => number;
}

export type ConditionWriteResult = 'written' | 'unchanged' | 'disabled' | 'failed';

export class NodeConditionReporter {
  readonly #o: NodeConditionOptions;
  readonly #heartbeatMs: () => number;
  readonly #now: () => number;
  #last: (ConditionState & { transition: number; written: number }) | undefined;
  #disabled: string | undefined;
  #busy = false;

  constructor(o: NodeConditionOptions) {
    this.#o = o;
    const hb = o.heartbeatMs ?? 3_600_000;
    this.#heartbeatMs = typeof hb === 'number' ? () => hb : hb;
    this.#now = o.now ?? Date.now;
  }

  /** Why the condition is not written, when it is not. */
  get disabled(): string | undefined {
    return this.#disabled;
  }

  /** Writes the condition if it changed or the heartbeat is due. Never throws. */
  async update(next: ConditionState): Promise<ConditionWriteResult> {
    if (this.#disabled) return 'disabled';
    if (this.#busy) return 'unchanged';
    const now = this.#now();
    const last = this.#last;
    const same = last && last.status === next.status && last.reason === next.reason;
    // A message that only recounts ("2 of 2" -> "1 of 2 pods answer") waits for the heartbeat: one
    // pod replacement must not PATCH every node's status several times.
    const heartbeat = this.#heartbeatMs();
    if (same && (heartbeat === 0 || now - last.written < heartbeat)) return 'unchanged';
    this.#busy = true;
    try {
      let transition = same ? last.transition : now;
      if (!last) {
        // First write: keep the transition time already on the node when the status is the same.
        const conditions = await this.#o.api.getNodeConditions(this.#o.nodeName);
        if (conditions === undefined) return this.#disable(`node ${this.#o.nodeName} does not exist`);
        const existing = conditions.find((c) => c.type === CONDITION_TYPE);
        const t = Date.parse(existing?.lastTransitionTime ?? '');
        if (existing?.status === next.status && Number.isFinite(t)) transition = t;
      }
      await this.#o.api.patchNodeConditions(this.#o.nodeName, [
        {
          type: CONDITION_TYPE,
          status: next.status,
          reason: next.reason,
          message: next.message,
          lastHeartbeatTime: new Date(now),
          lastTransitionTime: new Date(transition),
        },
      ]);
      this.#last = { ...next, transition, written: now };
      return 'written';
    } catch (err) {
      if (err instanceof KubeApiError && (err.reason === 'forbidden' || err.reason === 'not-found')) {
        return this.#disable(
          err.reason === 'forbidden' ? `RBAC does not allow patching nodes/status (${err.message})` : `node ${this.#o.nodeName} does not exist`,
        );
      }
      this.#o.logger?.warn(`cannot update the ${CONDITION_TYPE} node condition; retrying with the next sweep`, { node: this.#o.nodeName, err });
      return 'failed';
    } finally {
      this.#busy = false;
    }
  }

  #disable(why: string): ConditionWriteResult {
    this.#disabled = why;
    this.#o.logger?.warn(`not keeping the ${CONDITION_TYPE} node condition: ${why}`, { node: this.#o.nodeName });
    return 'disabled';
  }
}
