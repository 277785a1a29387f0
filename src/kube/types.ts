import { EventWrite } from '../model.js';
// The project's own view of the Kubernetes objects coredns-healthd reads and
// writes. Nothing outside src/kube/ sees a client library type: these plain
// records are what src/kube/ hands out and takes in.

export interface ObjectRef {
  namespace: string;
  name: string;
}

export const refString = (r: ObjectRef): string => `${r.namespace}/${r.name}`;

export interface ContainerInfo {
  name: string;
  ready: boolean;
  restartCount: number;
  /** Why the previous run ended (lastState.terminated.reason), e.g. "OOMKilled". */
  lastTerminationReason?: string;
  /** When it ended (RFC 3339). */
  lastTerminatedAt?: string;
  /** resources.limits.memory of the container in the pod spec, as written ("170Mi"). */
  memoryLimit?: string;
}

export interface PodInfo {
  namespace: string;
  name: string;
  uid: string;
  resourceVersion: string;
  nodeName?: string;
  /** status.phase: Pending, Running, Succeeded, Failed, Unknown. */
  phase: string;
  /** The Ready condition is True. */
  ready: boolean;
  /** metadata.deletionTimestamp is set. */
  terminating: boolean;
  /** status.podIP */
  ip?: string;
  /** status.podIPs (both families on a dual-stack cluster). */
  ips: string[];
  labels: Record<string, string>;
  containers: ContainerInfo[];
  /** The Deployment owning the pod's ReplicaSet, when it has one. */
  ownerDeployment?: ObjectRef | undefined;
  /** spec.dnsPolicy (the API server defaults it to ClusterFirst). */
  dnsPolicy: string;
  /** spec.hostNetwork */
  hostNetwork: boolean;
}

export interface ServicePort {
  name?: string;
  port: number;
  protocol: string;
  /** The pods' port, when given as a number. */
  targetPort?: number;
}

export interface ServiceInfo {
  namespace: string;
  name: string;
  uid: string;
  /** spec.clusterIPs (or spec.clusterIP); empty for a headless Service. */
  clusterIPs: string[];
  ports: ServicePort[];
  /** spec.selector; undefined when the Service has none. */
  selector?: Record<string, string>;
}

export interface DnsServiceTarget {
  namespace: string;
  name: string;
  /** ClusterIPs: one per family on a dual-stack cluster. */
  ips: string[];
  /** The DNS port (the UDP port named "dns", else the first UDP port, else 53). */
  port: number;
  /** The port the CoreDNS pods serve it on (the Service port's numeric targetPort, else the same port). */
  podPort: number;
  selector?: Record<string, string>;
}

/** What the watches know: where cluster DNS is and what it must answer. */
export interface KubeTargets {
  /** Every watch has listed at least once. */
  synced: boolean;
  /** The DNS Service; undefined until seen, or when it does not exist. */
  dnsService?: DnsServiceTarget;
  /** Every pod the DNS Service selects, sorted by namespace/name, whatever its state. */
  corednsPods: PodInfo[];
  /** ClusterIPs of default/kubernetes: the answer for kubernetes.default.svc.<clusterDomain>. */
  expectedAnswer: string[];
  /** Pods on this node by UID, to name the vantages. */
  podsByUid: ReadonlyMap<string, ObjectRef>;
  /** The pods on this node, sorted by namespace/name. */
  nodePods: PodInfo[];
}

export interface ContainerResources {
  name: string;
  limits: Record<string, string>;
  requests: Record<string, string>;
}

export interface DeploymentInfo {
  namespace: string;
  name: string;
  uid: string;
  resourceVersion: string;
  generation: number;
  observedGeneration: number;
  replicas: number;
  readyReplicas: number;
  updatedReplicas: number;
  availableReplicas: number;
  annotations: Record<string, string>;
  /** spec.selector.matchLabels */
  selector: Record<string, string>;
  /** The pod template's containers, in order. */
  containers: ContainerResources[];
}

export interface LeaseInfo {
  namespace: string;
  name: string;
  resourceVersion: string;
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  /** RFC 3339 */
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
  annotations: Record<string, string>;
  labels?: Record<string, string>;
}

export interface LeaseWrite {
  namespace: string;
  name: string;
  /** Required for an update (optimistic concurrency: a stale one is a conflict). */
  resourceVersion?: string;
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: Date;
  renewTime?: Date;
  leaseTransitions?: number;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
}

/** RFC 6902 operations (the JSON Patch a Deployment change is sent as). */
export type JsonPatchOp = { op: 'add' | 'replace' | 'test'; path: string; value: unknown } | { op: 'remove'; path: string };

export interface NodeConditionWrite {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastHeartbeatTime: Date;
  lastTransitionTime: Date;
}

export interface NodeConditionInfo {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastHeartbeatTime?: string;
  lastTransitionTime?: string;
}

/**
 * The API calls remedies make. src/kube/client.ts implements it with the
 * client library; every method throws a KubeApiError (src/kube/errors.ts).
 */
export interface KubeApi {
  /** The API server URL. */
  readonly server: string;
  getPod(ref: ObjectRef): Promise<PodInfo | undefined>;
  /** policy/v1 Eviction of exactly this pod (a UID precondition). */
  evictPod(ref: ObjectRef, uid: string): Promise<void>;
  /** Plain delete with a UID precondition (ignores PodDisruptionBudgets). */
  deletePod(ref: ObjectRef, uid: string): Promise<void>;
  getDeployment(ref: ObjectRef): Promise<DeploymentInfo | undefined>;
  patchDeployment(ref: ObjectRef, ops: JsonPatchOp[]): Promise<DeploymentInfo>;
  getLease(ref: ObjectRef): Promise<LeaseInfo | undefined>;
  createLease(lease: LeaseWrite): Promise<LeaseInfo>;
  updateLease(lease: LeaseWrite): Promise<LeaseInfo>;
  /** The Leases of a namespace that match a label selector. */
  listLeases(namespace: string, labelSelector: string): Promise<LeaseInfo[]>;
  createEvent(event: EventWrite): Promise<void>;
  /** The node's conditions, or undefined when there is no such node. */
  getNodeConditions(node: string): Promise<NodeConditionInfo[] | undefined>;
  /** The node's labels, or undefined when there is no such node. */
  getNodeLabels(node: string): Promise<Record<string, string> | undefined>;
  /** Sets conditions (merged by type) on the node's status. */
  patchNodeConditions(node: string, conditions: NodeConditionWrite[]): Promise<void>;
}
