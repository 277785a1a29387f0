// Path comparisons across a sweep: where the failures are tells whose fault
// they are.
//   - the DNS Service IP fails while the CoreDNS pod IPs answer: the Service
//     path (kube-proxy rules, conntrack), not CoreDNS;
//   - one server (one CoreDNS pod) fails from every vantage while its peers
//     answer: that server is sick;
//   - everything fails from one namespace while the host reaches the same
//     servers: that pod's network.
// A target's role comes from the strongest source it was probed as anywhere
// in the sweep (a pod probes the Service IP as its resolv.conf nameserver),
// and from the Kubernetes Service IPs when known.
import type { SweepRow, Target, TargetSource, Transport, Vantage } from '../model.js';
import { nodeFinding, plural, vantageFinding, type Finding } from './finding.js';
import { canonicalIp } from './ip.js';
import { allPassed, byTarget, byVantage, describeTarget, groupBy, ofTransport, outcome, reasonSummary, targetKey } from './rows.js';

export interface PathContext {
  /** ClusterIPs of the cluster DNS Service, when Kubernetes is known. */
  dnsServiceIps?: readonly string[];
  /** Every vantage that was probed (the host among them, when it was). */
  vantages: readonly Vantage[];
}

type Role = 'dns-service' | 'coredns-pod' | 'static' | 'resolv.conf';
const STRENGTH: Readonly<Record<TargetSource, number>> = { 'dns-service': 3, 'coredns-pod': 2, static: 1, 'resolv.conf': 0 };

interface TargetInfo {
  key: string;
  target: Target;
  role: Role;
}

/** The role and the most descriptive Target of each server:port in the rows. */
export function targetRoles(rows: readonly SweepRow[], dnsServiceIps: readonly string[] = []): Map<string, TargetInfo> {
  const service = new Set(dnsServiceIps.map(canonicalIp));
  const out = new Map<string, TargetInfo>();
  for (const r of rows) {
    const key = targetKey(r.target);
    const seen = out.get(key);
    if (!seen || STRENGTH[r.target.source] > STRENGTH[seen.role]) out.set(key, { key, target: r.target, role: r.target.source });
  }
  for (const info of out.values()) if (service.has(canonicalIp(info.target.server))) info.role = 'dns-service';
  return out;
}

const isOk = (r: SweepRow): boolean => r.result.ok;
const answers = (rows: readonly SweepRow[]): boolean => rows.some(isOk);

function serviceVersusPods(rows: readonly SweepRow[], roles: Map<string, TargetInfo>): Finding[] {
  interface Hit {
    vantage: Vantage;
    services: string[];
    pods: string[];
    transports: Transport[];
    failing: SweepRow[];
  }
  let compared = 0;
  const hits: Hit[] = [];
  for (const vRows of byVantage(rows).values()) {
    const svc: SweepRow[] = [];
    const pods: SweepRow[] = [];
    for (const r of vRows) {
      const role = roles.get(targetKey(r.target))?.role;
      if (role === 'dns-service') svc.push(r);
      else if (role === 'coredns-pod') pods.push(r);
    }
    // Only where some pod answers is there anything to compare with: a
    // vantage where nothing answers is the isolation check's.
    if (svc.length === 0 || !answers(pods)) continue;
    compared++;
    const hit: Hit = { vantage: vRows[0]!.vantage, services: [], pods: [], transports: [], failing: [] };
    for (const transport of ['udp', 'tcp'] as const) {
      const answeringPods = [...byTarget(ofTransport(pods, transport)).values()].filter(answers);
      if (answeringPods.length === 0) continue;
      const failingSvc = [...byTarget(ofTransport(svc, transport)).values()].filter((l) => outcome(l) === 'fail');
      if (failingSvc.length === 0) continue;
      hit.transports.push(transport);
      for (const l of failingSvc) {
        hit.failing.push(...l);
        const d = describeTarget(roles.get(targetKey(l[0]!.target))!.target);
        if (!hit.services.includes(d)) hit.services.push(d);
      }
      for (const l of answeringPods) {
        const d = describeTarget(roles.get(targetKey(l[0]!.target))!.target);
        if (!hit.pods.includes(d)) hit.pods.push(d);
      }
    }
    if (hit.transports.length > 0) hits.push(hit);
  }
  if (hits.length === 0) return [];
  const over = (h: Hit): string => h.transports.map((t) => t.toUpperCase()).join(' and ');
  if (hits.length === compared && compared >= 2) {
    const services = [...new Set(hits.flatMap((h) => h.services))];
    const pods = [...new Set(hits.flatMap((h) => h.pods))];
    const all = hits.flatMap((h) => h.failing);
    const transports = [...new Set(hits.flatMap((h) => h.transports))];
    return [
      nodeFinding({
        code: 'path/service-fails-pods-answer',
        severity: 'error',
        subject: services.join(','),
        message: `The DNS Service ${services.join(', ')} fails over ${transports.map((t) => t.toUpperCase()).join(' and ')} from every vantage (${compared}; ${reasonSummary(all)}) while the CoreDNS pods ${pods.join(', ')} answer: the Service path on this node (kube-proxy rules or conntrack) is broken, not CoreDNS.`,
        evidence: { services, pods, transports, reasons: reasonSummary(all), vantages: compared },
      }),
    ];
  }
  return hits.map((h) =>
    vantageFinding(h.vantage, {
      code: 'path/service-fails-pods-answer',
      severity: 'error',
      subject: h.services.join(','),
      message: `The DNS Service ${h.services.join(', ')} fails over ${over(h)} from this vantage (${reasonSummary(h.failing)}) while the CoreDNS pods ${h.pods.join(', ')} answer: the Service translation on this path (kube-proxy rules or conntrack) is broken, not CoreDNS.`,
      evidence: { services: h.services, pods: h.pods, transports: h.transports, reasons: reasonSummary(h.failing) },
    }),
  );
}

function oneServerFails(rows: readonly SweepRow[], roles: Map<string, TargetInfo>): Finding[] {
  const findings: Finding[] = [];
  const targets = byTarget(rows);
  const peersByRole = groupBy(
    [...roles.values()].filter((i) => i.role === 'coredns-pod' || i.role === 'static'),
    (i) => i.role,
  );
  for (const [role, peers] of peersByRole) {
    if (peers.length < 2) continue;
    for (const info of peers) {
      const tRows = targets.get(info.key) ?? [];
      if (outcome(tRows) !== 'fail') continue; // fails from every vantage, over every transport
      const from = new Set(tRows.map((r) => r.vantage.id));
      const answering = peers.filter((p) => p.key !== info.key && (targets.get(p.key) ?? []).some((r) => r.result.ok && from.has(r.vantage.id)));
      if (answering.length === 0) continue;
      const what = role === 'coredns-pod' ? 'CoreDNS pod' : 'DNS server';
      const verdict = role === 'coredns-pod' ? 'that pod is sick (CoreDNS itself, not the network of this node)' : 'that server is down or not serving';
      findings.push(
        nodeFinding({
          code: 'path/one-server-fails',
          severity: 'error',
          subject: info.key,
          message: `${what} ${describeTarget(info.target)} fails from every vantage (${plural(from.size, 'vantage')}; ${reasonSummary(tRows)}) while ${answering.map((a) => describeTarget(a.target)).join(', ')} answer${answering.length === 1 ? 's' : ''}: ${verdict}.`,
          evidence: {
            server: info.target.server,
            port: info.target.port,
            label: info.target.label ?? null,
            role,
            reasons: reasonSummary(tRows),
            vantages: from.size,
            answering: answering.map((a) => describeTarget(a.target)),
          },
        }),
      );
    }
  }
  return findings;
}

function netnsIsolated(rows: readonly SweepRow[], ctx: PathContext): Finding[] {
  const host = ctx.vantages.find((v) => v.hostNetwork);
  if (!host) return [];
  const perVantage = byVantage(rows);
  const hostRows = perVantage.get(host.id) ?? [];
  const hostAnswering = new Set(hostRows.filter((r) => r.result.ok).map((r) => targetKey(r.target)));
  if (hostAnswering.size === 0) return [];
  interface Hit {
    vantage: Vantage;
    rows: SweepRow[];
    common: string[];
  }
  let others = 0;
  const hits: Hit[] = [];
  for (const [id, vRows] of perVantage) {
    if (id === host.id) continue;
    const common = [...new Set(vRows.map((r) => targetKey(r.target)))].filter((k) => hostAnswering.has(k)).sort();
    if (common.length === 0) continue;
    others++;
    if (outcome(vRows) === 'fail') hits.push({ vantage: vRows[0]!.vantage, rows: vRows, common });
  }
  if (hits.length === 0) return [];
  if (hits.length === others && others >= 2) {
    const all = hits.flatMap((h) => h.rows);
    const common = [...new Set(hits.flatMap((h) => h.common))].sort();
    return [
      nodeFinding({
        code: 'path/netns-isolated',
        severity: 'error',
        message: `Every probe from every pod network namespace fails (${plural(others, 'namespace')}; ${reasonSummary(all)}) while the host reaches ${common.join(', ')}: the pod network of this node is broken (the bridge or CNI, or a host firewall on the forward path), not DNS.`,
        evidence: { vantages: others, reasons: reasonSummary(all), hostAnswers: common },
      }),
    ];
  }
  return hits.map((h) =>
    vantageFinding(h.vantage, {
      code: 'path/netns-isolated',
      severity: 'error',
      message: `Every probe from this network namespace fails (${reasonSummary(h.rows)}) while the host reaches ${h.common.join(', ')}: the fault is in this pod's network (its interface, veth, routes or a policy on its path), not in DNS.`,
      evidence: { reasons: reasonSummary(h.rows), hostAnswers: h.common, probes: h.rows.length },
    }),
  );
}

/** The path comparisons over every row of a sweep. */
export function checkPath(rows: readonly SweepRow[], ctx: PathContext): Finding[] {
  // Each comparison explains failing rows: a sweep where every probe passed has none to explain.
  if (allPassed(rows)) return [];
  const roles = targetRoles(rows, ctx.dnsServiceIps);
  return [...serviceVersusPods(rows, roles), ...oneServerFails(rows, roles), ...netnsIsolated(rows, ctx)];
}
