// What the remedy gate needs from a sweep: for each CoreDNS pod, and for the
// DNS Service, how its probes from the HOST vantage went. The host vantage
// is the one that tells a CoreDNS fault from a pod-network fault of one
// container; probes from container vantages do not count here.
import type { KubeTargets } from '../kube/types.js';
import type { SweepReport, SweepRow } from '../model.js';

/** ok: every probe passed; partial: some did; failed: none did. */
export type ProbeStatus = 'ok' | 'partial' | 'failed';

export interface PodProbeSummary {
  namespace: string;
  name: string;
  uid: string;
  status: ProbeStatus;
  /** Distinct failure reasons (src/probe/reasons.ts), sorted. */
  reasons: string[];
  /**
   * Every failure had a reason local to this node (LOCAL_REASONS): it says nothing about the
   * pod, so it is never evidence against it. Absent: false.
   */
  localOnly?: boolean;
}

/**
 * Failure reasons that are about this node, not about the server: its own firewall refused to
 * send (blocked-locally), it has no route (unreachable), the namespace went away, a local error,
 * or a shutdown. A CoreDNS pod is never restarted for them.
 */
export const LOCAL_REASONS: ReadonlySet<string> = new Set(['blocked-locally', 'unreachable', 'netns-gone', 'error', 'cancelled']);

export interface SweepSummary {
  /** When the sweep started. */
  at: Date;
  /** The CoreDNS pods probed from the host in this sweep. */
  pods: PodProbeSummary[];
  /** The DNS Service's ClusterIP(s) from the host; undefined when not probed. */
  service?: { status: ProbeStatus; reasons: string[]; localOnly?: boolean };
}

function statusOf(rows: readonly { result: { ok: boolean; reason?: string | null } }[]): { status: ProbeStatus; reasons: string[]; localOnly?: true } {
  const passed = rows.filter((r) => r.result.ok).length;
  const reasons = [...new Set(rows.filter((r) => !r.result.ok).map((r) => String(r.result.reason ?? 'unknown')))].sort();
  const localOnly = reasons.length > 0 && reasons.every((r) => LOCAL_REASONS.has(r));
  return { status: passed === rows.length ? 'ok' : passed === 0 ? 'failed' : 'partial', reasons, ...(localOnly ? { localOnly: true as const } : {}) };
}

/**
 * Groups the host vantage's rows by CoreDNS pod (by pod IP, both families)
 * and for the DNS Service. Pods without rows (not probed) are left out.
 */
export function summarizeSweep(report: SweepReport, targets: KubeTargets): SweepSummary {
  const host = report.rows.filter((r) => r.vantage.hostNetwork);
  const byIp = new Map<string, { namespace: string; name: string; uid: string }>();
  for (const p of targets.corednsPods) for (const ip of p.ips) byIp.set(ip, { namespace: p.namespace, name: p.name, uid: p.uid });
  const perPod = new Map<string, { pod: { namespace: string; name: string; uid: string }; rows: SweepRow[] }>();
  const service: SweepRow[] = [];
  for (const r of host) {
    if (r.target.source === 'coredns-pod') {
      const pod = byIp.get(r.target.server);
      if (!pod) continue;
      const entry = perPod.get(pod.uid) ?? { pod, rows: [] };
      entry.rows.push(r);
      perPod.set(pod.uid, entry);
    } else if (r.target.source === 'dns-service') service.push(r);
  }
  const pods = [...perPod.values()]
    .map(({ pod, rows }) => ({ ...pod, ...statusOf(rows) }))
    .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
  return { at: report.startedAt, pods, ...(service.length ? { service: statusOf(service) } : {}) };
}
