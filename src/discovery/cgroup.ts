// Pure parser of /proc/<pid>/cgroup: which pod and container a process
// belongs to, and which runtime started it.
//
// Paths it recognises (cgroup v1 controller lines and the v2 "0::" line alike):
//   systemd driver  /kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid_with_underscores>.slice/cri-containerd-<id>.scope
//                   ...-pod<uid>.slice/crio-<id>.scope | crio-conmon-<id>.scope | docker-<id>.scope
//                   /kubepods.slice/kubepods-pod<uid>.slice/...              (Guaranteed QoS)
//   cgroupfs driver /kubepods/burstable/pod<uid>/<id>   /kubepods/pod<uid>/crio-<id>
//   plain Docker    /docker/<id>   /system.slice/docker-<id>.scope
//   Podman          /machine.slice/libpod-<id>.scope
//   nested (kind)   /docker/<node-id>/kubepods/besteffort/pod<uid>/<id>  (the pod wins)
// Anything else (host processes, user sessions) yields no pod and no container.

import { capString } from '../text/untrusted.js';
import { ContainerRuntime } from '../model.js';

export type QosClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

export interface CgroupInfo {
  /** 1 when any v1 controller hierarchy is listed (including hybrid mode), else 2. */
  cgroupVersion: 1 | 2;
  /** Pod UID with dashes (systemd escapes them as underscores). */
  podUid?: string;
  /** Full 64-hex container ID. Absent for CRI-O's conmon, which is not a container. */
  containerId?: string;
  runtime?: ContainerRuntime;
  qosClass?: QosClass;
  /** The cgroup path the answer came from (or the first path when none matched), capped at MAX_FIELD characters. */
  path?: string;
}

interface PathInfo {
  podUid?: string;
  containerId?: string;
  runtime?: ContainerRuntime;
  qosClass?: QosClass;
}

const ID = '([0-9a-f]{64})';
// Container segments, systemd-scope and cgroupfs spellings. Order matters:
// crio-conmon- must be tried before crio-.
const CONTAINER_SEGMENTS: { re: RegExp; runtime?: ContainerRuntime; monitor?: boolean }[] = [
  { re: new RegExp(`^cri-containerd-${ID}\\.scope$`), runtime: 'containerd' },
  { re: new RegExp(`^crio-conmon-${ID}(?:\\.scope)?$`), runtime: 'cri-o', monitor: true },
  { re: new RegExp(`^crio-${ID}(?:\\.scope)?$`), runtime: 'cri-o' },
  { re: new RegExp(`^docker-${ID}\\.scope$`), runtime: 'docker' },
  { re: new RegExp(`^libpod-${ID}(?:\\.scope)?$`), runtime: 'podman' },
  { re: new RegExp(`^${ID}$`) }, // cgroupfs driver: the bare ID; runtime unknown unless the parent says
];

// UUIDs (API pods) or 32 hex digits (static pods: the manifest hash).
const UID = '([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12}|[0-9a-f]{32})';
const POD_SYSTEMD = new RegExp(`^kubepods(?:-(burstable|besteffort))?-pod${UID}\\.slice$`);
const POD_CGROUPFS = new RegExp(`^pod${UID}$`);
const QOS: Record<string, QosClass> = { burstable: 'Burstable', besteffort: 'BestEffort' };

const normalizeUid = (raw: string): string => raw.replace(/_/g, '-');

function matchContainer(segment: string): { containerId?: string; runtime?: ContainerRuntime } | undefined {
  for (const c of CONTAINER_SEGMENTS) {
    const m = c.re.exec(segment);
    if (!m) continue;
    const out: { containerId?: string; runtime?: ContainerRuntime } = {};
    if (!c.monitor) out.containerId = m[1]!; // every pattern captures the ID as group 1
    if (c.runtime) out.runtime = c.runtime;
    return out;
  }
  return undefined;
}

function matchPod(segment: string, parent: string | undefined): { podUid: string; qosClass: QosClass } | undefined {
  const sd = POD_SYSTEMD.exec(segment);
  if (sd) return { podUid: normalizeUid(sd[2]!), qosClass: sd[1] ? QOS[sd[1]]! : 'Guaranteed' };
  const cg = POD_CGROUPFS.exec(segment);
  if (cg && parent !== undefined) {
    if (parent === 'kubepods') return { podUid: normalizeUid(cg[1]!), qosClass: 'Guaranteed' };
    if (QOS[parent]) return { podUid: normalizeUid(cg[1]!), qosClass: QOS[parent] };
  }
  return undefined;
}

/** What one cgroup path says about pod and container (empty object: a host process). */
export function parseCgroupPath(path: string): PathInfo {
  const segments = path.split('/').filter((s) => s !== '');
  // The innermost pod wins (kind and other nested setups put a node container above it).
  for (let i = segments.length - 1; i >= 0; i--) {
    const pod = matchPod(segments[i]!, segments[i - 1]);
    if (!pod) continue;
    const info: PathInfo = { podUid: pod.podUid, qosClass: pod.qosClass };
    const next = segments[i + 1];
    const c = next === undefined ? undefined : matchContainer(next);
    if (c?.containerId) info.containerId = c.containerId;
    if (c?.runtime) info.runtime = c.runtime;
    return info;
  }
  // No pod: the innermost container segment. A bare ID only counts under /docker/.
  for (let i = segments.length - 1; i >= 0; i--) {
    const c = matchContainer(segments[i]!);
    if (!c) continue;
    if (!c.runtime) {
      if (segments[i - 1] !== 'docker') continue;
      c.runtime = 'docker';
    }
    return c;
  }
  return {};
}

// Bounds. The kernel writes this file, but a container names its own
// cgroups (cgroup namespaces, delegation), and fixtures may hold anything:
// at most MAX_LINES lines are read (v1 has one per hierarchy, about 15), a
// path longer than PATH_MAX is no path the kernel wrote and is skipped, and
// the path kept in the result is capped at MAX_FIELD characters.
/** Lines read; real files have one per hierarchy (about 15 under v1, 1 under v2). */
export const MAX_LINES = 256;
/** linux/limits.h PATH_MAX. */
const PATH_MAX = 4096;

const score = (p: PathInfo): number => (p.podUid ? 2 : 0) + (p.containerId ? 1 : 0) + (p.runtime ? 0.5 : 0);

/**
 * Parses the whole file. Lines are `hierarchy-ID:controllers:path`; the path
 * may itself contain colons. Under v1 every controller line is tried and the
 * most informative one wins (controllers can disagree in odd setups).
 * Malformed lines are ignored: the kernel writes this file, a fixture may not.
 */
export function parseCgroup(content: string): CgroupInfo {
  let version: 1 | 2 = 2;
  let best: PathInfo = {};
  let bestPath: string | undefined;
  const text = typeof content === 'string' ? content : '';
  let start = 0;
  for (let n = 0; n < MAX_LINES && start <= text.length; n++) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    if (line.length > PATH_MAX + 64) continue;
    const first = line.indexOf(':');
    const second = first < 0 ? -1 : line.indexOf(':', first + 1);
    if (second < 0) continue;
    const hierarchy = line.slice(0, first);
    const controllers = line.slice(first + 1, second);
    const path = line.slice(second + 1).trim();
    if (!/^\d+$/.test(hierarchy) || !path.startsWith('/')) continue;
    if (hierarchy !== '0' || controllers !== '') version = 1;
    const info = parseCgroupPath(path);
    if (bestPath === undefined || score(info) > score(best)) {
      best = info;
      bestPath = path;
    }
  }
  const out: CgroupInfo = { cgroupVersion: version };
  if (best.podUid) out.podUid = best.podUid;
  if (best.containerId) out.containerId = best.containerId;
  if (best.runtime) out.runtime = best.runtime;
  if (best.qosClass) out.qosClass = best.qosClass;
  if (bestPath !== undefined) out.path = capString(bestPath);
  return out;
}
