// The diagnosis of one sweep: for every probed vantage, read what its
// resolver and network look like (resolv.conf, routes, interfaces), then run
// each check over that data and over the sweep's results; then the
// comparisons across vantages and the node's conntrack counters.
//
//   const state = createDiagnoseState();              // once, kept across sweeps
//   const findings = await diagnoseSweep(report, diagnoseContext(config, { state, kube }));
//
// The checks themselves are pure functions (one file each); this file only
// gathers their inputs. Reading never throws: a file that cannot be read or
// parsed becomes a finding about that file.
import type { Config } from '../config/schema.js';
import { dumpInterfaces, type NetnsHandle } from '../netns/binding.js';
import { openVantage } from '../netns/guard.js';
import { readProcStat } from '../discovery/proc-scan.js';
import { readResolvConf } from '../discovery/resolv-conf.js';
import type { KubeFacts, ResolvConfRead, SweepReport, SweepRow, Vantage } from '../model.js';
import { checkConntrack, readConntrack, type ConntrackSample } from './conntrack.js';
import { sortFindings, type Finding } from './finding.js';
import { checkFirewall } from './firewall.js';
import { checkInterfaces, localAddresses, type InterfaceDump } from './interfaces.js';
import { isLoopback } from './ip.js';
import { parseInterfaceDump, type NetInterface } from './netlink.js';
import { checkPath } from './path.js';
import { checkProtocol } from './protocol.js';
import { mapLimit } from './read.js';
import { checkResolvConf } from './resolv-conf.js';
import { checkRoutes, parseRouteFacts, readRoutes, routeInterfaces, type RouteTables } from './routes.js';
import { byVantage } from './rows.js';
import { findPeer, listHostLinks, readHostLink, type HostLink, type HostLinkIndex } from './sysfs-net.js';
import { errorMessage } from '../text/untrusted.js';

export { FINDING_AREAS, FINDING_CODES, NODE, SEVERITIES, type FindingArea, type Finding, type FindingCode, type Severity } from './finding.js';
export { FindingTracker, type FindingChanges } from './tracker.js';
export { findingCounts, findingEvent, findingJson, findingLogRecord, findingsJson, findingsText, summaryLine } from './format.js';
export type { DnsPolicy, KubeFacts, KubePod } from '../model.js';

/** What the daemon keeps between sweeps. */
export interface DiagnoseState {
  conntrack: ConntrackSample | null;
}

export const createDiagnoseState = (): DiagnoseState => ({ conntrack: null });

/**
 * Reads the interfaces of a vantage's namespace: a dump, or 'gone' when the
 * vantage no longer exists. The default opens the vantage race-safely and has
 * the addon dump its links and addresses from inside.
 */
export type InterfaceReader = (v: Vantage, procRoot: string) => Promise<InterfaceDump | 'gone'>;

export interface DiagnoseContext {
  /** Default /proc. */
  procRoot?: string;
  /** Where sysfs is mounted, for the host ends of veth pairs. Default /sys. */
  sysRoot?: string;
  /** diagnose.nodeLocalDns. */
  nodeLocalDns?: readonly string[];
  /** diagnose.conntrack.threshold. Default 0.9. */
  conntrackThreshold?: number;
  /** Kubernetes data, when known. */
  kube?: KubeFacts | undefined;
  /** Kept by the caller across sweeps (a daemon); absent in one-shot runs. Updated in place. */
  state?: DiagnoseState | undefined;
  /** false: skip the interfaces check (no addon); a function: read interfaces another way (tests). */
  interfaces?: boolean | InterfaceReader;
  /** Vantages read at once. Default 16. */
  concurrency?: number;
  /** Milliseconds clock. Default Date.now. */
  now?: () => number;
}

/** The context from the effective configuration; the rest (kube, state) as given. */
export function diagnoseContext(config: Config, extra: Pick<DiagnoseContext, 'kube' | 'state' | 'sysRoot'> = {}): DiagnoseContext {
  return {
    procRoot: config.discovery.procRoot,
    nodeLocalDns: config.diagnose.nodeLocalDns,
    conntrackThreshold: config.diagnose.conntrack.threshold,
    ...extra,
  };
}

/** The default InterfaceReader: openVantage (race-safe), then the addon's dump from inside the namespace. */
export async function readInterfacesNative(v: Vantage, procRoot: string): Promise<InterfaceDump | 'gone'> {
  const opened = openVantage(v, procRoot);
  if (!opened.ok) return opened.reason === 'gone' ? 'gone' : { ok: false, error: opened.detail };
  const handle: NetnsHandle = opened.handle;
  try {
    let parsed = parseInterfaceDump(await dumpInterfaces(handle));
    // A dump that raced a change is inconsistent; one more read is enough in practice.
    if (parsed.interrupted) parsed = parseInterfaceDump(await dumpInterfaces(handle));
    return { ok: true, parsed };
  } catch (err) {
    return { ok: false, error: errorMessage(err) };
  } finally {
    handle.close();
  }
}

interface VantageFacts {
  vantage: Vantage;
  resolv: ResolvConfRead;
  routes: RouteTables;
  dump: InterfaceDump | null;
}

async function stillSame(v: Vantage, procRoot: string): Promise<boolean> {
  if (v.hostNetwork) return true;
  try {
    return (await readProcStat(procRoot, v.pid)).startTime === v.startTime;
  } catch {
    return false;
  }
}

async function gather(
  v: Vantage,
  swept: ResolvConfRead | undefined,
  ctx: Required<Pick<DiagnoseContext, 'procRoot'>> & { reader: InterfaceReader | null },
): Promise<VantageFacts | null> {
  const netDir = v.hostNetwork ? `${ctx.procRoot}/thread-self/net` : `${ctx.procRoot}/${v.pid}/net`;
  const [resolv, routeFacts, dump] = await Promise.all([
    // The sweep's own read when it made one: a container file is read once per sweep.
    swept ?? readResolvConf(v.resolvConfFile),
    readRoutes(netDir),
    ctx.reader ? ctx.reader(v, ctx.procRoot) : Promise.resolve(null),
  ]);
  // Files read through /proc/<pid> belong to the discovered process only if
  // it is still that process afterwards (see netns/guard.ts).
  if (dump === 'gone' || !(await stillSame(v, ctx.procRoot))) return null;
  return { vantage: v, resolv, routes: parseRouteFacts(routeFacts), dump };
}

/** Interfaces that are one end of a veth pair whose other end is in another namespace. */
const vethEnds = (dump: InterfaceDump | null): NetInterface[] =>
  dump?.ok ? dump.parsed.interfaces.filter((i) => !i.loopback && i.link !== null && i.linkNetnsId !== null) : [];

async function hostPeers(facts: readonly VantageFacts[], sysRoot: string): Promise<Map<string, Map<number, HostLink>>> {
  const out = new Map<string, Map<number, HostLink>>();
  const wanted = facts.filter((f) => !f.vantage.hostNetwork && vethEnds(f.dump).length > 0);
  if (wanted.length === 0) return out;
  const { links } = await listHostLinks(sysRoot);
  const details = new Map<string, Promise<HostLink>>();
  const detail = (l: HostLinkIndex): Promise<HostLink> => {
    let p = details.get(l.name);
    if (!p) details.set(l.name, (p = readHostLink(sysRoot, l)));
    return p;
  };
  for (const f of wanted) {
    const peers = new Map<number, HostLink>();
    for (const i of vethEnds(f.dump)) {
      const l = findPeer(links, i.index, i.link!);
      if (l) peers.set(i.index, await detail(l));
    }
    out.set(f.vantage.id, peers);
  }
  return out;
}

async function hostRouteInterfaces(procRoot: string): Promise<Set<string>> {
  const t = parseRouteFacts(await readRoutes(`${procRoot}/thread-self/net`));
  return new Set([...(t.v4?.routes ?? []), ...(t.v6?.routes ?? [])].map((r) => r.iface).filter((i): i is string => i !== null));
}

function serversOf(f: VantageFacts, rows: readonly SweepRow[]): string[] {
  const own = f.resolv.parsed.nameservers.filter((n) => !n.scopeId).map((n) => n.address);
  return [...new Set([...own, ...rows.map((r) => r.target.server)])];
}

/**
 * Findings for one sweep, sorted: node findings first, then by vantage in the
 * report's order, errors first. Never rejects because of a vantage, a file or
 * the addon: those become findings (or, for a vantage gone since the sweep,
 * nothing).
 */
export async function diagnoseSweep(report: SweepReport, ctx: DiagnoseContext = {}): Promise<Finding[]> {
  const procRoot = ctx.procRoot ?? '/proc';
  const sysRoot = ctx.sysRoot ?? '/sys';
  const now = (ctx.now ?? Date.now)();
  const reader = ctx.interfaces === false ? null : typeof ctx.interfaces === 'function' ? ctx.interfaces : readInterfacesNative;
  const probedReports = report.vantages.filter((r) => r.status === 'probed');
  const probed = probedReports.map((r) => r.vantage);
  const swept = new Map(probedReports.map((r) => [r.vantage.id, r.resolvConfRead]));
  const rowsOf = byVantage(report.rows);

  const [gathered, conntrackFacts] = await Promise.all([
    mapLimit(probed, ctx.concurrency ?? 16, (v) => gather(v, swept.get(v.id), { procRoot, reader })),
    readConntrack(procRoot),
  ]);
  const facts = gathered.filter((f): f is VantageFacts => f !== null);
  const needHost = facts.some((f) => !f.vantage.hostNetwork && vethEnds(f.dump).length > 0);
  const [peers, hostRouteIfaces] = await Promise.all([
    hostPeers(facts, sysRoot),
    needHost ? hostRouteInterfaces(procRoot) : Promise.resolve(new Set<string>()),
  ]);

  // Vantages gone since the sweep (exited, pid reused) say nothing any more,
  // neither alone nor in the comparisons.
  const present = new Set(facts.map((f) => f.vantage.id));
  const rows = report.rows.filter((r) => present.has(r.vantage.id));
  const findings: Finding[] = [];
  for (const f of facts) {
    const v = f.vantage;
    const rows = rowsOf.get(v.id) ?? [];
    const servers = serversOf(f, rows);
    findings.push(...checkResolvConf(v, f.resolv, rows, { kube: ctx.kube, nodeLocalDns: ctx.nodeLocalDns ?? [] }));
    findings.push(...checkRoutes(v, f.routes, servers, f.dump ? localAddresses(f.dump) : new Set()));
    if (f.dump) {
      findings.push(
        ...checkInterfaces(v, {
          dump: f.dump,
          peers: peers.get(v.id) ?? new Map(),
          hostRouteIfaces,
          routeIfaces: routeInterfaces(f.routes, servers),
          loopbackServer: servers.some(isLoopback),
          loopbackAnswers: rows.some((r) => r.result.ok && isLoopback(r.target.server)),
          failing: rows.some((r) => !r.result.ok),
        }),
      );
    }
    findings.push(...checkFirewall(v, rows));
  }
  findings.push(...checkProtocol(rows));
  findings.push(...checkPath(rows, { vantages: facts.map((f) => f.vantage), dnsServiceIps: ctx.kube?.dnsServiceIps ?? [] }));
  const conntrack = checkConntrack(conntrackFacts, {
    threshold: ctx.conntrackThreshold ?? 0.9,
    previous: ctx.state?.conntrack ?? undefined,
    tracking: ctx.state !== undefined,
    now,
  });
  findings.push(...conntrack.findings);
  if (ctx.state) ctx.state.conntrack = conntrack.sample;
  return sortFindings(
    findings,
    report.vantages.map((r) => r.vantage.id),
  );
}
