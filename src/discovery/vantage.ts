// Vantage points: one per distinct network namespace on the node, from which
// pods see DNS. The /proc scan and Docker discovery each produce a list; this
// file holds the project's own types for both and merges them by (dev, inode).
import { type ContainerRuntime, type FileRef, NetnsId, Vantage } from '../model.js';
import { MAX_FIELD, MAX_ITEMS, capList, capString } from '../text/untrusted.js';
import { containerFile, hostFile } from '../netns/container-file.js';

/** One network namespace found by the /proc scan (src/discovery/proc-scan.ts). */
export interface ProcVantage extends NetnsId {
  /** Representative process (see proc-scan.ts for how it is chosen). */
  pid: number;
  /** Field 22 of /proc/<pid>/stat: clock ticks after boot. With pid, identifies the process. */
  startTime: number;
  comm: string;
  /** Processes seen in this namespace. */
  pidCount: number;
  /** The host's own network namespace. */
  hostNetwork: boolean;
  podUid?: string;
  /** Every container ID seen in this namespace, sorted. */
  containerIds: string[];
  runtime?: ContainerRuntime;
}

/** A running container as src/discovery/docker.ts reports it (Docker Engine API). */
export interface DockerContainerInfo {
  id: string;
  /** Container name; a leading "/" (as the Engine API writes it) is dropped when merging. */
  name: string;
  /** State.Pid on the host. */
  pid: number;
  labels: Record<string, string>;
}

/** A Docker container placed in its network namespace (proc-scan.ts locateContainers). */
export interface LocatedContainer extends DockerContainerInfo, NetnsId {
  startTime: number;
  /** The process name of State.Pid. */
  comm: string;
}

export interface MergeOptions {
  procRoot?: string;
  hostResolvConf?: string;
}

export const LABEL_POD_NAME = 'io.kubernetes.pod.name';
export const LABEL_POD_NAMESPACE = 'io.kubernetes.pod.namespace';
export const LABEL_POD_UID = 'io.kubernetes.pod.uid';
export const LABEL_CONTAINER_NAME = 'io.kubernetes.container.name';
/** dockershim marks the pause container so; its container-name label is "POD". */
export const LABEL_DOCKER_TYPE = 'io.kubernetes.docker.type';

export const vantageId = (inode: number): string => `netns:[${inode}]`;

/** The resolv.conf of a container process: /etc/resolv.conf inside <procRoot>/<pid>/root. */
export const containerResolvConf = (procRoot: string, pid: number): FileRef => containerFile(`${procRoot}/${pid}/root`, '/etc/resolv.conf');
const key = (n: NetnsId): string => `${n.dev}:${n.inode}`;

const isSandbox = (c: DockerContainerInfo): boolean => c.labels[LABEL_DOCKER_TYPE] === 'podsandbox' || c.labels[LABEL_CONTAINER_NAME] === 'POD';

// Names, labels and process names are chosen by whoever starts a container:
// every one is capped (MAX_FIELD) as it enters a Vantage, and a vantage lists
// at most MAX_ITEMS container names (then "…and N more"). They stay raw here;
// text output escapes them (see src/text/untrusted.ts).
const containerName = (c: DockerContainerInfo): string => capString(c.labels[LABEL_CONTAINER_NAME] ?? c.name.replace(/^\//, ''), MAX_FIELD);

/** A label value, capped; undefined when absent. */
const label = (c: DockerContainerInfo, key: string): string | undefined => {
  const v = c.labels[key];
  return v === undefined ? undefined : capString(v, MAX_FIELD);
};

function fromProc(p: ProcVantage): Vantage {
  const v: Vantage = {
    id: vantageId(p.inode),
    dev: p.dev,
    inode: p.inode,
    pid: p.pid,
    startTime: p.startTime,
    comm: capString(p.comm, MAX_FIELD),
    source: p.hostNetwork ? 'host' : 'proc',
    hostNetwork: p.hostNetwork,
    containerIds: [...p.containerIds],
    containerNames: [],
    resolvConfFile: hostFile(''),
  };
  if (p.podUid && !p.hostNetwork) v.podUid = p.podUid;
  if (p.runtime) v.runtime = p.runtime;
  return v;
}

function fromDocker(c: LocatedContainer): Vantage {
  return {
    id: vantageId(c.inode),
    dev: c.dev,
    inode: c.inode,
    pid: c.pid,
    startTime: c.startTime,
    comm: capString(c.comm, MAX_FIELD),
    source: 'docker',
    hostNetwork: false,
    containerIds: [],
    containerNames: [],
    resolvConfFile: hostFile(''),
  };
}

function addContainer(v: Vantage, c: LocatedContainer): void {
  if (!v.containerIds.includes(c.id)) v.containerIds.push(c.id);
  const name = containerName(c);
  if (!v.containerNames.includes(name)) v.containerNames.push(name);
  v.runtime ??= 'docker';
  if (v.source === 'proc') v.source = 'proc+docker';
  if (v.hostNetwork) return; // hostNetwork pods share the host vantage; it belongs to none of them
  const podUid = label(c, LABEL_POD_UID);
  const podNamespace = label(c, LABEL_POD_NAMESPACE);
  const podName = label(c, LABEL_POD_NAME);
  if (podUid !== undefined) v.podUid ??= podUid;
  if (podNamespace !== undefined) v.podNamespace ??= podNamespace;
  if (podName !== undefined) v.podName ??= podName;
}

function dropUndefined(v: Vantage): Vantage {
  for (const k of ['podUid', 'podNamespace', 'podName', 'runtime'] as const) if (v[k] === undefined) delete v[k];
  return v;
}

/**
 * Merges the /proc scan and Docker discovery into one list, one entry per
 * (dev, inode). The /proc entry keeps its representative process; Docker adds
 * container names and the pod's name and namespace from its labels. A netns
 * only Docker knows (its process started after the scan) is represented by a
 * non-pause container when there is one. The host comes first, then by inode.
 */
export function mergeVantages(procList: ProcVantage[], dockerList: LocatedContainer[], options: MergeOptions = {}): Vantage[] {
  const procRoot = options.procRoot ?? '/proc';
  const hostResolvConf = options.hostResolvConf ?? '/etc/resolv.conf';
  const byKey = new Map<string, Vantage>();
  const sandboxRep = new Set<string>(); // docker-only vantages still represented by a pause container
  for (const p of procList) byKey.set(key(p), fromProc(p));
  for (const c of dockerList) {
    const k = key(c);
    let v = byKey.get(k);
    if (!v) {
      v = fromDocker(c);
      byKey.set(k, v);
      if (isSandbox(c)) sandboxRep.add(k);
    } else if (sandboxRep.has(k) && !isSandbox(c)) {
      v.pid = c.pid;
      v.startTime = c.startTime;
      v.comm = capString(c.comm, MAX_FIELD);
      sandboxRep.delete(k);
    }
    addContainer(v, c);
  }
  const list: Vantage[] = [];
  for (const v of byKey.values()) {
    v.containerIds.sort();
    v.containerNames = capList(v.containerNames.sort(), MAX_ITEMS);
    v.resolvConfFile = v.hostNetwork ? hostFile(hostResolvConf) : containerResolvConf(procRoot, v.pid);
    list.push(dropUndefined(v));
  }
  return list.sort(hostThenInode);
}

/** Vantage order: the host first, then by inode (and dev). */
export const hostThenInode = (a: NetnsId & { hostNetwork: boolean }, b: NetnsId & { hostNetwork: boolean }): number =>
  Number(b.hostNetwork) - Number(a.hostNetwork) || a.inode - b.inode || a.dev - b.dev;

/** Who lives in a vantage, for people: pod, container names, or the process. Capped (MAX_FIELD), not escaped. */
export function describeVantage(v: Vantage): string {
  return capString(rawDescription(v), MAX_FIELD);
}

function rawDescription(v: Vantage): string {
  if (v.hostNetwork) return 'host';
  if (v.podNamespace && v.podName) return `${v.podNamespace}/${v.podName}`;
  if (v.containerNames.length > 0) return `container ${v.containerNames.join(',')}`;
  if (v.podUid) return `pod uid ${v.podUid}`;
  if (v.containerIds.length > 0) return `container ${v.containerIds[0]!.slice(0, 12)}`;
  return `pid ${v.pid}`;
}

// Two names for a vantage, for two readers:
//  - describeVantage (above): for people, in `check`'s table and findings:
//    the pod, else container names, else the process;
//  - vantageLabels: the `vantage` label of metrics, health checks and /status,
//    bounded by the number of network namespaces on the node: "host" for the
//    host's own namespace (hostNetwork pods share it), "<namespace>/<pod>" when
//    the pod is known, else the namespace id "netns:[<inode>]" (containerd and
//    CRI-O pods: their pod UID is in /status and the logs, not in the label).
//    Two namespaces that would get the same name (a pod whose sandbox was
//    recreated while the old one lingers) are told apart by appending the
//    namespace id to all but the first. A pod name may come from a Docker
//    label, which a container's creator chooses: it is capped at MAX_FIELD
//    (before the id is appended, so labels stay unique) and kept raw (JSON
//    escapes it; metrics and text escape it). The sweep computes them once
//    (VantageReport.label).

export const HOST_LABEL = 'host';

/** The vantage's name before collisions are resolved. */
export function baseVantageLabel(v: Vantage): string {
  if (v.hostNetwork) return HOST_LABEL;
  if (v.podNamespace && v.podName) return `${v.podNamespace}/${v.podName}`;
  return v.id;
}

/** vantage id → label, unique within the list (first come keeps the plain name). */
export function vantageLabels(vantages: readonly Vantage[]): Map<string, string> {
  const out = new Map<string, string>();
  const used = new Set<string>();
  for (const v of vantages) {
    if (out.has(v.id)) continue;
    let label = capString(baseVantageLabel(v), MAX_FIELD);
    if (used.has(label)) label = `${label} ${v.id}`;
    used.add(label);
    out.set(v.id, label);
  }
  return out;
}
