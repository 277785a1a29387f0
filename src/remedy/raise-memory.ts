// Raise the memory limit of an OOMKilled CoreDNS container in its
// Deployment: the container is found by NAME (not by index), its
// limits.memory is multiplied by remedy.memory.factor up to
// remedy.memory.cap, and nothing else changes: every other limit and request
// stays as it is. The previous value is recorded in an annotation. The JSON
// Patch tests the container's name and old limit at that index first, so a
// Deployment changed in between is a conflict, never a wrong edit.
import { KubeApiError } from '../kube/errors.js';
import type { DeploymentInfo, JsonPatchOp, KubeApi, ObjectRef, PodInfo } from '../kube/types.js';
import { apiFailure, type ActionOutcome } from './evict.js';
import { raisedLimit } from './quantity.js';

export const PREVIOUS_LIMITS_ANNOTATION = 'coredns-healthd/previous-memory-limits';

export type RaisePlan =
  | { ok: true; deployment: DeploymentInfo; container: string; index: number; from: string; to: string; capped: boolean; ops: JsonPatchOp[] }
  | { ok: false; outcome: ActionOutcome };

const ref = (d: ObjectRef): string => `${d.namespace}/${d.name}`;
/** RFC 6901 escaping of one path segment. */
const seg = (s: string): string => s.replace(/~/g, '~0').replace(/\//g, '~1');

const skip = (reason: ActionOutcome['reason'], message: string): RaisePlan => ({ ok: false, outcome: { result: 'skipped', reason, message } });

/** Reads the Deployment and works out the change (used by dry-run too: reading changes nothing). */
export async function planRaise(
  api: KubeApi,
  target: { deployment: ObjectRef; container: string; pod: PodInfo },
  settings: { factor: number; cap: string },
): Promise<RaisePlan> {
  let d: DeploymentInfo | undefined;
  try {
    d = await api.getDeployment(target.deployment);
  } catch (err) {
    return { ok: false, outcome: apiFailure(err, `cannot read deployment ${ref(target.deployment)}`) };
  }
  if (!d) return skip('no-deployment', `deployment ${ref(target.deployment)} does not exist`);
  const sel = Object.entries(d.selector);
  if (sel.length === 0 || !sel.every(([k, v]) => target.pod.labels[k] === v)) {
    return skip('no-deployment', `deployment ${ref(target.deployment)} does not select pod ${target.pod.namespace}/${target.pod.name}`);
  }
  const index = d.containers.findIndex((c) => c.name === target.container);
  if (index < 0) return skip('container-not-found', `deployment ${ref(d)} has no container named ${JSON.stringify(target.container)}`);
  const c = d.containers[index]!;
  const current = c.limits.memory;
  if (!current) return skip('no-memory-limit', `container ${c.name} of deployment ${ref(d)} has no memory limit to raise`);
  const r = raisedLimit(current, settings.factor, settings.cap);
  if (!r.ok) return skip(r.reason === 'at-cap' ? 'at-cap' : 'no-memory-limit', `container ${c.name} of deployment ${ref(d)}: ${r.message}`);
  let previous: Record<string, string> = {};
  try {
    const parsed = JSON.parse(d.annotations[PREVIOUS_LIMITS_ANNOTATION] ?? '{}') as unknown;
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) previous = parsed as Record<string, string>;
  } catch {
    // An unreadable annotation is replaced.
  }
  const record = JSON.stringify({ ...previous, [c.name]: current });
  const base = `/spec/template/spec/containers/${index}`;
  const ops: JsonPatchOp[] = [
    { op: 'test', path: `${base}/name`, value: c.name },
    { op: 'test', path: `${base}/resources/limits/memory`, value: current },
    { op: 'replace', path: `${base}/resources/limits/memory`, value: r.to },
    Object.keys(d.annotations).length > 0
      ? { op: 'add', path: `/metadata/annotations/${seg(PREVIOUS_LIMITS_ANNOTATION)}`, value: record }
      : { op: 'add', path: '/metadata/annotations', value: { [PREVIOUS_LIMITS_ANNOTATION]: record } },
  ];
  return { ok: true, deployment: d, container: c.name, index, from: current, to: r.to, capped: r.capped, ops };
}

/** Sends the planned patch; returns the outcome and the Deployment's new generation. */
export async function applyRaise(api: KubeApi, plan: Extract<RaisePlan, { ok: true }>): Promise<{ outcome: ActionOutcome; generation?: number }> {
  const d = plan.deployment;
  try {
    const after = await api.patchDeployment(d, plan.ops);
    return {
      outcome: {
        result: 'acted',
        reason: 'oom-killed',
        message: `raised the memory limit of container ${plan.container} in deployment ${ref(d)} from ${plan.from} to ${plan.to}${plan.capped ? ' (the cap)' : ''}`,
        details: { container: plan.container, from: plan.from, to: plan.to, capped: plan.capped, generation: after.generation },
      },
      generation: after.generation,
    };
  } catch (err) {
    const changed = {
      outcome: {
        result: 'skipped' as const,
        reason: 'conflict' as const,
        message: `deployment ${ref(d)} changed while its memory limit was being raised; trying again in a later sweep`,
      },
    };
    if (err instanceof KubeApiError && err.reason === 'conflict') return changed;
    // A failed "test" operation is a bare 422 ("the server rejected our request"): tell it from a real
    // validation error by reading the Deployment again.
    if (err instanceof KubeApiError && err.status === 422 && (await changedSince(api, plan))) return changed;
    return { outcome: apiFailure(err, `cannot patch deployment ${ref(d)}`) };
  }
}

/** The container at the planned index no longer has the planned name and old limit (or the read fails). */
async function changedSince(api: KubeApi, plan: Extract<RaisePlan, { ok: true }>): Promise<boolean> {
  try {
    const now = await api.getDeployment(plan.deployment);
    const c = now?.containers[plan.index];
    return !c || c.name !== plan.container || c.limits.memory !== plan.from;
  } catch {
    return false;
  }
}
