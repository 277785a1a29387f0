// Restart one CoreDNS pod: the policy/v1 Eviction API, which respects the
// pod's PodDisruptionBudget (429 means "not now": tried again in a later
// sweep). A plain delete, which does not, only when the Eviction
// subresource is not served and remedy.evict.allowDelete is true. Both carry
// the pod's UID as a precondition: a pod replaced under the same name is
// never the one removed.
import { KubeApiError } from '../kube/errors.js';
import type { KubeApi, PodInfo } from '../kube/types.js';
import { reasonForKubeError, type DecisionReason } from './decision.js';

export interface ActionOutcome {
  result: 'acted' | 'skipped';
  reason: DecisionReason;
  message: string;
  details?: Record<string, string | number | boolean>;
}

const name = (p: { namespace: string; name: string }): string => `${p.namespace}/${p.name}`;

/** Skipped with the reason of an API failure. */
export function apiFailure(err: unknown, doing: string): ActionOutcome {
  if (!(err instanceof KubeApiError)) throw err;
  return {
    result: 'skipped',
    reason: reasonForKubeError(err.reason),
    message: `${doing}: ${err.message}`,
    details: { apiError: err.reason, ...(err.status ? { status: err.status } : {}) },
  };
}

/** Is this still the pod the decision was about (same UID, not terminating)? */
export async function verifyPod(api: KubeApi, pod: PodInfo): Promise<ActionOutcome | undefined> {
  let now: PodInfo | undefined;
  try {
    now = await api.getPod(pod);
  } catch (err) {
    return apiFailure(err, `cannot read pod ${name(pod)}`);
  }
  if (!now || now.uid !== pod.uid)
    return { result: 'skipped', reason: 'target-changed', message: `pod ${name(pod)} is gone or was replaced since the decision` };
  if (now.terminating) return { result: 'skipped', reason: 'target-changed', message: `pod ${name(pod)} is already terminating` };
  return undefined;
}

export async function evictPod(api: KubeApi, pod: PodInfo, opts: { allowDelete: boolean }): Promise<ActionOutcome> {
  const stale = await verifyPod(api, pod);
  if (stale) return stale;
  try {
    await api.evictPod(pod, pod.uid);
    return { result: 'acted', reason: 'threshold-reached', message: `evicted pod ${name(pod)}`, details: { method: 'eviction' } };
  } catch (err) {
    if (!(err instanceof KubeApiError)) throw err;
    if (err.reason === 'too-many-requests') {
      return {
        result: 'skipped',
        reason: 'pdb-blocked',
        message: `the Eviction API refused to evict pod ${name(pod)} now (429: ${err.message.replace(/^.*HTTP 429: /, '')}); trying again in a later sweep`,
      };
    }
    if (err.reason === 'conflict')
      return { result: 'skipped', reason: 'target-changed', message: `pod ${name(pod)} was replaced since the decision (UID precondition failed)` };
    if (err.reason !== 'not-found') return apiFailure(err, `cannot evict pod ${name(pod)}`);
  }
  // 404: the pod is gone, or the Eviction subresource is not served.
  const gone = await verifyPod(api, pod);
  if (gone) return gone;
  if (!opts.allowDelete) {
    return {
      result: 'skipped',
      reason: 'eviction-unsupported',
      message: `the API server does not serve the Eviction API for pod ${name(pod)}, and remedy.evict.allowDelete is false`,
    };
  }
  try {
    await api.deletePod(pod, pod.uid);
    return {
      result: 'acted',
      reason: 'threshold-reached',
      message: `deleted pod ${name(pod)} (the Eviction API is not served; remedy.evict.allowDelete is true)`,
      details: { method: 'delete' },
    };
  } catch (err) {
    if (err instanceof KubeApiError && err.reason === 'conflict')
      return { result: 'skipped', reason: 'target-changed', message: `pod ${name(pod)} was replaced since the decision (UID precondition failed)` };
    return apiFailure(err, `cannot delete pod ${name(pod)}`);
  }
}
