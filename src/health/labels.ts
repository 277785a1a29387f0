// How vantages and targets are named in metrics labels, logs and /status.
//
// The `vantage` label stays bounded by the number of network namespaces on
// the node: "host" for the host's own namespace (hostNetwork pods share it),
// "<namespace>/<pod>" when the pod is known (Docker labels), else the
// namespace id "netns:[<inode>]" (containerd and CRI-O pods: their pod UID is
// in /status and the logs, not in the label). Two namespaces that would get
// the same name (a pod whose sandbox was recreated while the old one
// lingers) are told apart by appending the namespace id to all but the first.
//
// Pod names and namespaces may come from Docker labels, which a container's
// creator chooses: a label is capped at MAX_FIELD characters (before the
// namespace id is appended, so labels stay unique). It is kept raw here (for
// /status and logs, whose JSON escapes it); metrics and text escape it.
import type { Target, Vantage } from '../model.js';
import { MAX_FIELD, capString } from '../text/untrusted.js';

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

/** "10.96.0.10:53", "[fd00::10]:53". */
export const targetLabel = (t: Pick<Target, 'server' | 'port'>): string => (t.server.includes(':') ? `[${t.server}]:${t.port}` : `${t.server}:${t.port}`);

/** The pod a vantage belongs to, for logs and /status: "namespace/name", else its UID, else undefined. */
export function podOf(v: Vantage): string | undefined {
  if (v.hostNetwork) return undefined;
  if (v.podNamespace && v.podName) return capString(`${v.podNamespace}/${v.podName}`, MAX_FIELD);
  return v.podUid === undefined ? undefined : capString(v.podUid, MAX_FIELD);
}
