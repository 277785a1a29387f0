// Vantages, probe results and sweep reports for the health, metrics and
// daemon unit tests (no network, no root).
import type { ProbeResult, Query, Reason, SweepReport, SweepRow, Target, Transport, Vantage, VantageReport, VantageStatus } from '../../src/model.js';
import { checkQuery } from '../../src/probe/query-spec.js';
import { vantageLabels } from '../../src/discovery/vantage.js';

export const QUERY: Query = checkQuery({ name: 'kubernetes.default.svc.cluster.local' });

export function vantage(inode: number, over: Partial<Vantage> = {}): Vantage {
  const hostNetwork = over.hostNetwork ?? false;
  return {
    id: `netns:[${inode}]`,
    dev: 4,
    inode,
    pid: 1000 + inode,
    startTime: 500 + inode,
    source: hostNetwork ? 'host' : 'proc',
    hostNetwork,
    containerIds: [],
    containerNames: [],
    resolvConfFile: hostNetwork ? { root: null, path: '/etc/resolv.conf' } : { root: `/proc/${1000 + inode}/root`, path: '/etc/resolv.conf' },
    ...over,
  };
}

export const HOST = vantage(4026531840, { hostNetwork: true });
export const POD_A = vantage(4026532001, { podNamespace: 'default', podName: 'web-1', podUid: 'uid-a', source: 'proc+docker' });
export const POD_B = vantage(4026532002, { podUid: 'uid-b' });

export function result(reason: Reason, over: Partial<ProbeResult> = {}): ProbeResult {
  const ok = reason === 'ok';
  return {
    ok,
    reason,
    rcode: ok ? 'NOERROR' : reason === 'rcode' ? 'SERVFAIL' : null,
    answers: ok ? ['10.96.0.1'] : [],
    rttSeconds: ok || reason === 'rcode' ? 0.002 : null,
    transport: over.transport ?? 'udp',
    truncated: false,
    ...(ok ? {} : { detail: `${reason} detail` }),
    ...over,
  };
}

export const target = (server: string, port = 53, source: Target['source'] = 'resolv.conf'): Target => ({ server, port, source });

export function row(v: Vantage, server: string, transport: Transport, reason: Reason, query: Query = QUERY, attempts = 1): SweepRow {
  return { vantage: v, target: target(server), transport, query, attempts, result: result(reason, { transport }) };
}

export function report(vantages: readonly Vantage[], rows: readonly SweepRow[], statuses: Record<string, VantageStatus> = {}): SweepReport {
  const labels = vantageLabels(vantages);
  const vr: VantageReport[] = vantages.map((v) => ({ vantage: v, label: labels.get(v.id)!, status: statuses[v.id] ?? 'probed' }));
  return { startedAt: new Date('2024-05-01T12:00:00Z'), durationSeconds: 0.05, vantages: vr, rows: [...rows] };
}

/** One row per (vantage, transport) against one server, all with the same reason. */
export function uniform(
  vantages: readonly Vantage[],
  server: string,
  reason: Reason | ((v: Vantage, t: Transport) => Reason),
  transports: readonly Transport[] = ['udp', 'tcp'],
): SweepReport {
  const rows = vantages.flatMap((v) => transports.map((t) => row(v, server, t, typeof reason === 'function' ? reason(v, t) : reason)));
  return report(vantages, rows);
}
