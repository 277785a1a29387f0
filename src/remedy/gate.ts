// The gate: a pure function from (state, this sweep, the targets, the
// settings) to the decisions it can make without the API and at most one
// candidate action. Everything that could make a restart wrong is checked
// here, in this order:
//   - mode off: decide nothing;
//   - every probed CoreDNS endpoint fails from the host: the node is the
//     fault: report it, restart nothing, and start the counts again;
//   - a pod is restarted only after remedy.failedSweeps consecutive sweeps in
//     which it failed from the host while another CoreDNS endpoint answered;
//   - never below remedy.minReadyPods Ready CoreDNS pods;
//   - a cooldown per pod and per Deployment, a cap on actions per hour;
//   - one action at a time on this node (the Lease makes it one in the cluster).
// An OOMKilled CoreDNS container leads to raising its memory limit; it is
// chosen before an eviction (a restart does not cure a limit too small).
import type { ContainerInfo, KubeTargets, ObjectRef, PodInfo } from '../kube/types.js';
import type { DecisionReason, RemedyDecision } from './decision.js';
import type { RemedySettings } from './settings.js';
import type { PodProbeSummary, SweepSummary } from './sweep-summary.js';

const HOUR_MS = 3_600_000;

export interface GateState {
  /** Consecutive failed host sweeps (while another endpoint answered), per CoreDNS pod UID. */
  readonly failed: ReadonlyMap<string, number>;
  /** When each target was last acted on: "pod:<uid>" or "deployment:<ns>/<name>". */
  readonly lastAction: ReadonlyMap<string, number>;
  /**
   * Dry-run: when this node last said what it would do to each target. Never an action (no
   * cooldown, no hourly cap); it only keeps the same "would" from being repeated every sweep.
   */
  readonly wouldAct: ReadonlyMap<string, number>;
  /** This node's actions in the last hour (ms timestamps). */
  readonly actions: readonly number[];
  /** OOM terminations already decided on: "<pod uid>/<container>/<finishedAt>". */
  readonly oomHandled: ReadonlySet<string>;
}

export const initialGateState = (): GateState => ({ failed: new Map(), lastAction: new Map(), wouldAct: new Map(), actions: [], oomHandled: new Set() });

export interface GateInput {
  now: number;
  summary: SweepSummary;
  targets: KubeTargets;
  settings: RemedySettings;
  nodeName: string;
  /** This node is still busy with an earlier action. */
  busy: boolean;
}

export interface EvictCandidate {
  action: 'evict';
  pod: PodInfo;
  failedSweeps: number;
  /** Ready CoreDNS pods left while this one is gone. */
  readyAfter: number;
  reasons: string[];
}

export interface RaiseMemoryCandidate {
  action: 'raise-memory';
  pod: PodInfo;
  container: ContainerInfo;
  deployment: ObjectRef;
  /** Every OOM termination of this Deployment's container seen now: marked handled with the outcome. */
  oomKeys: string[];
}

export type Candidate = EvictCandidate | RaiseMemoryCandidate;

export interface GatePlan {
  state: GateState;
  decisions: RemedyDecision[];
  candidate?: Candidate;
}

export const podKey = (uid: string): string => `pod:${uid}`;
export const deploymentKey = (d: ObjectRef): string => `deployment:${d.namespace}/${d.name}`;
export const oomKey = (pod: PodInfo, c: ContainerInfo): string => `${pod.uid}/${c.name}/${c.lastTerminatedAt ?? ''}`;
const podTarget = (p: { namespace: string; name: string }): string => `pod ${p.namespace}/${p.name}`;

function minutes(ms: number): string {
  const s = Math.ceil(ms / 1000);
  return s < 120 ? `${s}s` : `${Math.ceil(s / 60)}m`;
}

/** A decision record; `at` from the input's clock. */
export function decision(now: number, d: Omit<RemedyDecision, 'at'>): RemedyDecision {
  return { ...d, at: new Date(now).toISOString() };
}

/** The state after an action (or a dry-run's would-be action) on these targets. */
export function recordAction(state: GateState, keys: readonly string[], now: number): GateState {
  const lastAction = new Map(state.lastAction);
  for (const k of keys) lastAction.set(k, now);
  return { ...state, lastAction, actions: [...state.actions, now] };
}

/** The state after a dry-run said what it would do to these targets (not an action). */
export function recordWouldAct(state: GateState, keys: readonly string[], now: number): GateState {
  const wouldAct = new Map(state.wouldAct);
  for (const k of keys) wouldAct.set(k, now);
  return { ...state, wouldAct };
}

/** The state with these OOM terminations decided on. */
export function markOomHandled(state: GateState, keys: readonly string[]): GateState {
  return { ...state, oomHandled: new Set([...state.oomHandled, ...keys]) };
}

/** Why an action on these targets may not run now (cooldown, hourly cap, busy), or undefined. */
function blocked(state: GateState, input: GateInput, keys: readonly string[]): { reason: DecisionReason; message: string } | undefined {
  const { now, settings } = input;
  if (settings.mode === 'dry-run') {
    for (const k of keys) {
      const said = state.wouldAct.get(k);
      if (said !== undefined && now - said < settings.cooldownMs) {
        return {
          reason: 'cooldown',
          message: `dry-run: said ${minutes(now - said)} ago what it would do (nothing was done); says it again after ${minutes(settings.cooldownMs)}`,
        };
      }
    }
  }
  for (const k of keys) {
    const last = state.lastAction.get(k);
    if (last !== undefined && now - last < settings.cooldownMs) {
      return {
        reason: 'cooldown',
        message: `acted on ${k.replace(/^(pod|deployment):/, '$1 ')} ${minutes(now - last)} ago; cooldown ${minutes(settings.cooldownMs)}`,
      };
    }
  }
  const recent = state.actions.filter((t) => now - t < HOUR_MS);
  if (recent.length >= settings.maxActionsPerHour) {
    return { reason: 'hourly-cap', message: `${recent.length} actions by this node in the last hour; at most ${settings.maxActionsPerHour}` };
  }
  if (input.busy) return { reason: 'action-in-progress', message: 'this node is still waiting for its previous action to complete' };
  return undefined;
}

export function planSweep(prev: GateState, input: GateInput): GatePlan {
  const { now, summary, targets, settings } = input;
  if (settings.mode === 'off') return { state: prev, decisions: [] };
  const decisions: RemedyDecision[] = [];
  const podsByUid = new Map(targets.corednsPods.map((p) => [p.uid, p]));
  const probed = summary.pods.filter((p) => podsByUid.has(p.uid));
  const allFailed = probed.length > 0 && probed.every((p) => p.status === 'failed');

  // Counts: +1 for a failed sweep while another endpoint answered; anything else starts again,
  // including a failure for reasons local to this node (its own firewall, no route): no evidence.
  const evidence = (p: PodProbeSummary): boolean => p.status === 'failed' && p.localOnly !== true;
  const failed = new Map<string, number>();
  for (const p of probed) failed.set(p.uid, !allFailed && evidence(p) ? (prev.failed.get(p.uid) ?? 0) + 1 : 0);
  // A pod this sweep did not probe (the probe budget's rotation) keeps its count: no evidence either way.
  const probedUids = new Set(probed.map((p) => p.uid));
  for (const p of targets.corednsPods) {
    const n = prev.failed.get(p.uid);
    if (!probedUids.has(p.uid) && n !== undefined) failed.set(p.uid, n);
  }
  const keep = Math.max(settings.cooldownMs, HOUR_MS);
  const lastAction = new Map([...prev.lastAction].filter(([, t]) => now - t < keep));
  const wouldAct = new Map([...prev.wouldAct].filter(([, t]) => now - t < keep));
  const live = new Set(targets.corednsPods.flatMap((p) => p.containers.map((c) => oomKey(p, c))));
  const oomHandled = new Set([...prev.oomHandled].filter((k) => live.has(k)));
  const state: GateState = { failed, lastAction, wouldAct, actions: prev.actions.filter((t) => now - t < HOUR_MS), oomHandled };

  if (allFailed) {
    const reasons = [...new Set(probed.flatMap((p) => p.reasons))].sort();
    decisions.push(
      decision(now, {
        action: 'node-finding',
        result: 'reported',
        reason: 'all-endpoints-failed',
        target: `node ${input.nodeName}`,
        node: input.nodeName,
        message: `every CoreDNS endpoint (${probed.length} pod${probed.length === 1 ? '' : 's'}) fails from node ${input.nodeName}${reasons.length ? ` (${reasons.join(', ')})` : ''}: the fault is local to this node, no CoreDNS pod is restarted`,
        details: { pods: probed.length, ...(summary.service ? { service: summary.service.status } : {}) },
      }),
    );
    for (const p of probed) {
      decisions.push(
        decision(now, {
          action: 'evict',
          result: 'skipped',
          reason: 'node-local-fault',
          target: podTarget(p),
          pod: { namespace: p.namespace, name: p.name, uid: p.uid },
          message: `not restarting pod ${p.namespace}/${p.name}: every CoreDNS endpoint fails from this node, so the pod is not the fault`,
        }),
      );
    }
  }

  // Raise memory: one candidate per Deployment container with an OOM termination not yet decided on.
  const raise = new Map<string, RaiseMemoryCandidate>();
  for (const pod of targets.corednsPods) {
    if (pod.terminating) continue;
    for (const c of pod.containers) {
      if (c.lastTerminationReason !== 'OOMKilled') continue;
      const key = oomKey(pod, c);
      if (state.oomHandled.has(key)) continue;
      if (!pod.ownerDeployment) {
        oomHandled.add(key);
        decisions.push(
          decision(now, {
            action: 'raise-memory',
            result: 'skipped',
            reason: 'no-deployment',
            target: podTarget(pod),
            pod: { namespace: pod.namespace, name: pod.name, uid: pod.uid },
            message: `container ${c.name} of pod ${pod.namespace}/${pod.name} was OOMKilled, but the pod is not owned by a Deployment: its memory limit is not raised`,
          }),
        );
        continue;
      }
      const k = `${deploymentKey(pod.ownerDeployment)}/${c.name}`;
      const existing = raise.get(k);
      if (existing) existing.oomKeys.push(key);
      else raise.set(k, { action: 'raise-memory', pod, container: c, deployment: pod.ownerDeployment, oomKeys: [key] });
    }
  }
  const eligible: Candidate[] = [];
  for (const cand of raise.values()) {
    const why = blocked(state, input, [deploymentKey(cand.deployment)]);
    if (!why) {
      eligible.push(cand);
      continue;
    }
    decisions.push(
      decision(now, {
        action: 'raise-memory',
        result: 'skipped',
        reason: why.reason,
        target: `deployment ${cand.deployment.namespace}/${cand.deployment.name}`,
        deployment: cand.deployment,
        message: `not raising the memory limit of container ${cand.container.name} (OOMKilled in pod ${cand.pod.namespace}/${cand.pod.name}): ${why.message}`,
      }),
    );
  }

  // Evict: pods that failed while another endpoint answered.
  if (!allFailed) {
    const ready = targets.corednsPods.filter((p) => p.ready && !p.terminating);
    for (const s of probed) {
      if (s.status !== 'failed') continue;
      const pod = podsByUid.get(s.uid)!;
      if (s.localOnly === true) {
        decisions.push(
          decision(now, {
            action: 'evict',
            result: 'skipped',
            reason: 'local-failure',
            target: podTarget(pod),
            pod: { namespace: pod.namespace, name: pod.name, uid: pod.uid },
            message: `not counting against pod ${pod.namespace}/${pod.name}: it fails from this node only for local reasons (${s.reasons.join(', ')}), which say nothing about the pod`,
            details: { reasons: s.reasons.join(', ') },
          }),
        );
        continue;
      }
      const n = state.failed.get(s.uid) ?? 0;
      const base = { action: 'evict' as const, target: podTarget(pod), pod: { namespace: pod.namespace, name: pod.name, uid: pod.uid } };
      const why = s.reasons.length ? ` (${s.reasons.join(', ')})` : '';
      if (n < settings.failedSweeps) {
        decisions.push(
          decision(now, {
            ...base,
            result: 'skipped',
            reason: 'below-threshold',
            message: `pod ${pod.namespace}/${pod.name} failed from the host${why} in ${n} consecutive sweep${n === 1 ? '' : 's'}; ${settings.failedSweeps} needed`,
            details: { failedSweeps: n, threshold: settings.failedSweeps },
          }),
        );
        continue;
      }
      const readyAfter = ready.filter((p) => p.uid !== pod.uid).length;
      if (readyAfter < settings.minReadyPods) {
        decisions.push(
          decision(now, {
            ...base,
            result: 'skipped',
            reason: 'min-ready-pods',
            message: `not evicting pod ${pod.namespace}/${pod.name}: ${readyAfter} Ready CoreDNS pod${readyAfter === 1 ? '' : 's'} would be left, at least ${settings.minReadyPods} required`,
            details: { failedSweeps: n, readyAfter, minReadyPods: settings.minReadyPods },
          }),
        );
        continue;
      }
      const block = blocked(state, input, [podKey(pod.uid)]);
      if (block) {
        decisions.push(
          decision(now, {
            ...base,
            result: 'skipped',
            reason: block.reason,
            message: `not evicting pod ${pod.namespace}/${pod.name}: ${block.message}`,
            details: { failedSweeps: n },
          }),
        );
        continue;
      }
      eligible.push({ action: 'evict', pod, failedSweeps: n, readyAfter, reasons: s.reasons });
    }
  }

  // One action: raising memory first, then the pod that failed longest.
  eligible.sort((a, b) => {
    if (a.action !== b.action) return a.action === 'raise-memory' ? -1 : 1;
    if (a.action === 'evict' && b.action === 'evict')
      return b.failedSweeps - a.failedSweeps || `${a.pod.namespace}/${a.pod.name}`.localeCompare(`${b.pod.namespace}/${b.pod.name}`);
    return 0;
  });
  const [candidate, ...others] = eligible;
  for (const o of others) {
    decisions.push(
      decision(now, {
        action: o.action,
        result: 'skipped',
        reason: 'one-at-a-time',
        ...(o.action === 'evict'
          ? {
              target: podTarget(o.pod),
              pod: { namespace: o.pod.namespace, name: o.pod.name, uid: o.pod.uid },
              message: `not evicting pod ${o.pod.namespace}/${o.pod.name} in this sweep: one action at a time`,
            }
          : {
              target: `deployment ${o.deployment.namespace}/${o.deployment.name}`,
              deployment: o.deployment,
              message: `not raising the memory limit of ${o.deployment.namespace}/${o.deployment.name} in this sweep: one action at a time`,
            }),
      }),
    );
  }
  return { state, decisions, ...(candidate ? { candidate } : {}) };
}
