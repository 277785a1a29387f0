// Kubernetes objects → the project's records (src/kube/types.ts). Input is
// either a raw JSON object from a watch stream (times are strings) or a model
// object from a list or get (times are Dates); both have the same field
// names, so these readers take `unknown` and check what they use.
import type {
  ContainerInfo,
  ContainerResources,
  DeploymentInfo,
  DnsServiceTarget,
  LeaseInfo,
  NodeConditionInfo,
  ObjectRef,
  PodInfo,
  ServiceInfo,
  ServicePort,
} from './types.js';

type Obj = Record<string, unknown>;

const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/** A string map (labels, annotations, selector, resources), keeping string values only. */
function strMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, x] of Object.entries(obj(v))) {
    if (typeof x === 'string') out[k] = x;
    else if (typeof x === 'number') out[k] = String(x);
  }
  return out;
}

/** A time as RFC 3339: Dates (model objects) and strings (raw JSON) alike. */
export function timeString(v: unknown): string | undefined {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? undefined : v.toISOString();
  return str(v);
}

export interface ObjectMetaView {
  namespace: string;
  name: string;
  uid: string;
  resourceVersion: string;
}

export function metaOf(o: unknown): ObjectMetaView {
  const m = obj(obj(o).metadata);
  return { namespace: str(m.namespace) ?? '', name: str(m.name) ?? '', uid: str(m.uid) ?? '', resourceVersion: str(m.resourceVersion) ?? '' };
}

/**
 * The Deployment that owns a pod, from its controller ReplicaSet's name: a
 * Deployment names its ReplicaSets <deployment>-<pod-template-hash>, and the
 * pod carries that hash as a label.
 */
function ownerDeployment(meta: Obj, labels: Record<string, string>, namespace: string): ObjectRef | undefined {
  const owner = arr(meta.ownerReferences)
    .map(obj)
    .find((r) => r.controller === true);
  const hash = labels['pod-template-hash'];
  const rs = str(owner?.name);
  if (!owner || owner.kind !== 'ReplicaSet' || !rs || !hash || !rs.endsWith(`-${hash}`)) return undefined;
  return { namespace, name: rs.slice(0, -hash.length - 1) };
}

export function toPodInfo(o: unknown): PodInfo {
  const p = obj(o);
  const meta = obj(p.metadata);
  const spec = obj(p.spec);
  const status = obj(p.status);
  const m = metaOf(o);
  const labels = strMap(meta.labels);
  const limits = new Map(arr(spec.containers).map((c) => [str(obj(c).name) ?? '', str(obj(obj(obj(c).resources).limits).memory)]));
  const statuses = new Map(arr(status.containerStatuses).map((c) => [str(obj(c).name) ?? '', obj(c)]));
  const containers: ContainerInfo[] = arr(spec.containers).map((c) => {
    const name = str(obj(c).name) ?? '';
    const cs = statuses.get(name) ?? {};
    // The last termination, or the current one while the container is down.
    const terminated = obj(obj(cs.lastState).terminated);
    const current = obj(obj(cs.state).terminated);
    const t = str(current.reason) ? current : terminated;
    const info: ContainerInfo = { name, ready: cs.ready === true, restartCount: num(cs.restartCount) ?? 0 };
    const reason = str(t.reason);
    if (reason) info.lastTerminationReason = reason;
    const at = timeString(t.finishedAt);
    if (reason && at) info.lastTerminatedAt = at;
    const limit = limits.get(name);
    if (limit) info.memoryLimit = limit;
    return info;
  });
  const ips = arr(status.podIPs)
    .map((x) => str(obj(x).ip))
    .filter((x): x is string => !!x);
  const ip = str(status.podIP);
  if (ip && !ips.includes(ip)) ips.unshift(ip);
  const info: PodInfo = {
    namespace: m.namespace,
    name: m.name,
    uid: m.uid,
    resourceVersion: m.resourceVersion,
    phase: str(status.phase) ?? 'Unknown',
    ready: arr(status.conditions).some((c) => obj(c).type === 'Ready' && obj(c).status === 'True'),
    terminating: meta.deletionTimestamp !== undefined && meta.deletionTimestamp !== null,
    ips,
    labels,
    containers,
    dnsPolicy: str(spec.dnsPolicy) ?? 'ClusterFirst',
    hostNetwork: spec.hostNetwork === true,
  };
  const nodeName = str(spec.nodeName);
  if (nodeName) info.nodeName = nodeName;
  if (ip) info.ip = ip;
  const owner = ownerDeployment(meta, labels, m.namespace);
  if (owner) info.ownerDeployment = owner;
  return info;
}

export function toServiceInfo(o: unknown): ServiceInfo {
  const spec = obj(obj(o).spec);
  const m = metaOf(o);
  const ips = arr(spec.clusterIPs)
    .map(str)
    .filter((x): x is string => !!x && x !== 'None');
  const single = str(spec.clusterIP);
  if (ips.length === 0 && single && single !== 'None') ips.push(single);
  const ports: ServicePort[] = arr(spec.ports).map((x) => {
    const p = obj(x);
    const port: ServicePort = { port: num(p.port) ?? 0, protocol: str(p.protocol) ?? 'TCP' };
    const name = str(p.name);
    if (name) port.name = name;
    const target = num(p.targetPort);
    if (target !== undefined) port.targetPort = target;
    return port;
  });
  const info: ServiceInfo = { namespace: m.namespace, name: m.name, uid: m.uid, clusterIPs: ips, ports };
  const selector = strMap(spec.selector);
  if (Object.keys(selector).length > 0) info.selector = selector;
  return info;
}

/** The DNS port of a Service: UDP "dns", then any UDP port, then any port named dns*; undefined when none. */
export function dnsPortOf(ports: readonly ServicePort[]): ServicePort | undefined {
  const udp = ports.filter((p) => p.protocol.toUpperCase() === 'UDP' && p.port > 0);
  return udp.find((p) => p.name === 'dns') ?? udp[0] ?? ports.find((p) => p.name?.startsWith('dns') && p.port > 0);
}

export function toDnsServiceTarget(s: ServiceInfo): DnsServiceTarget {
  const p = dnsPortOf(s.ports);
  const port = p?.port ?? 53;
  return {
    namespace: s.namespace,
    name: s.name,
    ips: [...s.clusterIPs],
    port,
    podPort: p?.targetPort ?? port,
    ...(s.selector ? { selector: { ...s.selector } } : {}),
  };
}

export function toDeploymentInfo(o: unknown): DeploymentInfo {
  const d = obj(o);
  const meta = obj(d.metadata);
  const spec = obj(d.spec);
  const status = obj(d.status);
  const m = metaOf(o);
  const containers: ContainerResources[] = arr(obj(obj(spec.template).spec).containers).map((c) => {
    const r = obj(obj(c).resources);
    return { name: str(obj(c).name) ?? '', limits: strMap(r.limits), requests: strMap(r.requests) };
  });
  return {
    namespace: m.namespace,
    name: m.name,
    uid: m.uid,
    resourceVersion: m.resourceVersion,
    generation: num(meta.generation) ?? 0,
    observedGeneration: num(status.observedGeneration) ?? 0,
    replicas: num(spec.replicas) ?? 1,
    readyReplicas: num(status.readyReplicas) ?? 0,
    updatedReplicas: num(status.updatedReplicas) ?? 0,
    availableReplicas: num(status.availableReplicas) ?? 0,
    annotations: strMap(meta.annotations),
    selector: strMap(obj(spec.selector).matchLabels),
    containers,
  };
}

export function toLeaseInfo(o: unknown): LeaseInfo {
  const spec = obj(obj(o).spec);
  const m = metaOf(o);
  const info: LeaseInfo = {
    namespace: m.namespace,
    name: m.name,
    resourceVersion: m.resourceVersion,
    annotations: strMap(obj(obj(o).metadata).annotations),
  };
  const labels = strMap(obj(obj(o).metadata).labels);
  if (Object.keys(labels).length > 0) info.labels = labels;
  const holder = str(spec.holderIdentity);
  if (holder) info.holderIdentity = holder;
  const duration = num(spec.leaseDurationSeconds);
  if (duration !== undefined) info.leaseDurationSeconds = duration;
  const acquire = timeString(spec.acquireTime);
  if (acquire) info.acquireTime = acquire;
  const renew = timeString(spec.renewTime);
  if (renew) info.renewTime = renew;
  const transitions = num(spec.leaseTransitions);
  if (transitions !== undefined) info.leaseTransitions = transitions;
  return info;
}

export function toNodeConditions(o: unknown): NodeConditionInfo[] {
  return arr(obj(obj(o).status).conditions).map((x) => {
    const c = obj(x);
    const info: NodeConditionInfo = { type: str(c.type) ?? '', status: str(c.status) ?? 'Unknown' };
    for (const k of ['reason', 'message'] as const) {
      const v = str(c[k]);
      if (v !== undefined) info[k] = v;
    }
    for (const k of ['lastHeartbeatTime', 'lastTransitionTime'] as const) {
      const v = timeString(c[k]);
      if (v !== undefined) info[k] = v;
    }
    return info;
  });
}
