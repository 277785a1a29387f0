// A remedy decision, acted on or not, as one structured record: the daemon
// logs it, counts it in coredns_healthd_remedy_decisions_total{action,result,
// reason} and emits it as a Kubernetes Event. The label values come from
// the fixed sets below, so the metric's series are known in advance.
import type { KubeErrorReason } from '../kube/errors.js';

export const REMEDY_ACTIONS = ['evict', 'raise-memory', 'node-finding'] as const;
export type RemedyAction = (typeof REMEDY_ACTIONS)[number];

export const DECISION_RESULTS = ['acted', 'would-act', 'skipped', 'reported'] as const;
export type DecisionResult = (typeof DECISION_RESULTS)[number];

export const DECISION_REASONS = [
  'threshold-reached',
  'oom-killed',
  'all-endpoints-failed',
  'below-threshold',
  'node-local-fault',
  'local-failure',
  'no-quorum',
  'partition',
  'min-ready-pods',
  'cooldown',
  'hourly-cap',
  'action-in-progress',
  'one-at-a-time',
  'lease-held',
  'pdb-blocked',
  'target-changed',
  'eviction-unsupported',
  'no-deployment',
  'container-not-found',
  'no-memory-limit',
  'at-cap',
  'conflict',
  'forbidden',
  'unauthorized',
  'api-unreachable',
  'api-timeout',
  'api-error',
] as const;
export type DecisionReason = (typeof DECISION_REASONS)[number];

export const DECISION_REASON_DESCRIPTIONS: Readonly<Record<DecisionReason, string>> = {
  'threshold-reached': 'The pod failed from the host vantage in the configured number of consecutive sweeps while another CoreDNS endpoint answered.',
  'oom-killed': 'A CoreDNS container was last terminated for running out of memory (OOMKilled).',
  'all-endpoints-failed': 'Every CoreDNS endpoint failed from this node: the fault is local to the node, so nothing is restarted.',
  'below-threshold': 'The pod failed, but not yet in enough consecutive sweeps.',
  'node-local-fault': 'Not restarted: every CoreDNS endpoint fails from this node, so the pod is not the fault.',
  'local-failure':
    "Not counted against the pod: its probes from this node failed only for local reasons (blocked-locally by this node's firewall, unreachable from this node, netns-gone, error).",
  'no-quorum':
    'Not evicted: fewer than remedy.quorum.minNodes nodes, or less than remedy.quorum.fraction of the nodes that reported on the pod, see it failing while another CoreDNS endpoint answers. The path from this node to the pod is the suspect (an Event on the node says so). The node asks again after 30 s, then 1, 2, 4 and every 5 minutes while it keeps failing to find a quorum.',
  partition:
    'Not evicted: the nodes that see the pod failing (at least remedy.quorum.minNodes, and at least remedy.quorum.fraction of their zone) all share a zone while the nodes outside it see it answer, whether they are a minority of the cluster or not; or more than remedy.quorum.maxFailingPods pods fail by quorum at once: a network partition or cluster-wide fault. The node condition says NetworkPartitionSuspected for 5 minutes.',
  'min-ready-pods': 'Not evicted: fewer Ready CoreDNS pods than remedy.minReadyPods would be left.',
  cooldown: 'The same pod or Deployment was acted on less than remedy.cooldown ago (by this node, or by any node per the Lease).',
  'hourly-cap': 'remedy.maxActionsPerHour actions were already taken in the last hour, in the whole cluster (the history on the remedy Lease) or by this node.',
  'action-in-progress': 'This node is still acting (waiting for a replacement to be Ready).',
  'one-at-a-time': 'Another action was chosen in this sweep; one action at a time.',
  'lease-held': 'Another node holds the remedy Lease: one action at a time in the cluster.',
  'pdb-blocked': 'The Eviction API answered 429: a PodDisruptionBudget forbids it now; tried again in a later sweep.',
  'target-changed': 'The pod is gone, replaced or terminating since the decision.',
  'eviction-unsupported': 'The API server does not serve the policy/v1 Eviction subresource, and remedy.evict.allowDelete is false.',
  'no-deployment': 'The pod is not owned by a Deployment, so its memory limit cannot be raised.',
  'container-not-found': "The Deployment has no container of the OOMKilled container's name.",
  'no-memory-limit': 'The container has no memory limit to raise.',
  'at-cap': 'The memory limit is already at remedy.memory.cap.',
  conflict: 'The object changed while the action was prepared (409 or a failed patch test); tried again in a later sweep.',
  forbidden: 'The API server refused the request (403): RBAC does not allow it.',
  unauthorized: 'The API server did not accept the credentials (401).',
  'api-unreachable':
    'The API server could not be reached (or TLS failed). Probing goes on. After such a failure a node takes no action for two sweep intervals, so that every node publishes its verdicts again first. Not an Event.',
  'api-timeout': 'The API server did not answer in time. Probing goes on; as for api-unreachable, no action for two sweep intervals after it. Not an Event.',
  'api-error': 'The API server failed the request (5xx) or answered unexpectedly; after a 5xx, no action for two sweep intervals.',
};

export interface RemedyDecision {
  action: RemedyAction;
  result: DecisionResult;
  reason: DecisionReason;
  /** "pod kube-system/coredns-x", "deployment kube-system/coredns", "node node-a" */
  target: string;
  /** One sentence for people. */
  message: string;
  /** RFC 3339 */
  at: string;
  pod?: { namespace: string; name: string; uid: string } | undefined;
  deployment?: { namespace: string; name: string };
  node?: string;
  /** Numbers and values behind the decision (failedSweeps, from/to limits, lease holder, ...). */
  details?: Record<string, string | number | boolean>;
}

/** The decision reason for an API failure. */
export function reasonForKubeError(reason: KubeErrorReason): DecisionReason {
  switch (reason) {
    case 'forbidden':
      return 'forbidden';
    case 'unauthorized':
      return 'unauthorized';
    case 'unreachable':
    case 'tls':
      return 'api-unreachable';
    case 'timeout':
      return 'api-timeout';
    case 'conflict':
      return 'conflict';
    case 'not-found':
      return 'target-changed';
    default:
      return 'api-error';
  }
}
