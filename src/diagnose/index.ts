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
//
// Where it matters (a daemon: `state` kept across passes and `healthyEveryMs`
// set): a vantage's own facts (resolv.conf, routes, interfaces, the host ends
// of its veths) are read and checked again when it fails in this sweep, failed
// at its last diagnosis (so its findings clear once it recovers), is new, or
// something about it changed (its process, its pod's name, the resolv.conf
// the sweep read, its pod's dnsPolicy, the DNS Service IPs,
// diagnose.nodeLocalDns, or a host end of its veths, per the host's
// interface events: link-watch.ts); a healthy vantage is otherwise checked again every
// healthyEveryMs (the first rotation
// spread over its second half, so vantages found together are not all due
// together). In between, the findings of its last diagnosis stand. The
// comparisons across vantages (protocol, path) and conntrack run every pass,
// over every vantage's results; host-side facts (/sys/class/net, the host's
// routes, conntrack) are read at most once per pass.
import type { Config } from '../config/schema.js';
import { dumpInterfaces, type NetnsHandle } from '../netns/binding.js';
import { openVantage } from '../netns/guard.js';
import { readProcStat } from '../discovery/proc-scan.js';
import { readResolvConf } from '../discovery/resolv-conf.js';
import type { KubeFacts, ResolvConfRead, SweepReport, SweepRow, Vantage, VantageReport } from '../model.js';
import { podFor } from './kube-facts.js';
import { touched, type LinkChanges } from './link-watch.js';
import { checkConntrack, readConntrack, type ConntrackSample } from './conntrack.js';
import { sortFindings, type Finding } from './finding.js';
import { checkFirewall } from './firewall.js';
import { checkInterfaces, localAddresses, type InterfaceDump } from './interfaces.js';
import { isLoopback } from './ip.js';
import { MAX_INTERFACES, parseInterfaceDump, type NetInterface } from './netlink.js';
import { checkPath } from './path.js';
import { checkProtocol } from './protocol.js';
import { mapLimit } from './read.js';
import { checkResolvConf } from './resolv-conf.js';
import { checkRoutes, parseRouteFacts, readRoutes, routeInterfaces, type RouteTables } from './routes.js';
import { byVantage } from './rows.js';
import { findPeer, hostLinksFromDump, listHostLinks, readHostLink, type HostLink, type HostLinkIndex } from './sysfs-net.js';
import { errorMessage } from '../text/untrusted.js';

export { FINDING_AREAS, FINDING_CODES, NODE, SEVERITIES, type FindingArea, type Finding, type FindingCode, type Severity } from './finding.js';
export { FindingTracker, type FindingChanges } from './tracker.js';
export { findingCounts, findingEvent, findingJson, findingLogRecord, findingsJson, findingsText, summaryLine } from './format.js';
export type { DnsPolicy, KubeFacts, KubePod } from '../model.js';

/** What the last full diagnosis of one vantage found, kept between passes. */
export interface VantageMemo {
  /** What the vantage's diagnosis depends on besides the files it reads (see factsKey). */
  key: string;
  /** A probe from it failed in the sweep of that diagnosis. */
  failing: boolean;
  /** When it is due again while healthy and unchanged (ms). */
  dueAt: number;
  /** The findings of its own checks (resolv-conf, routes, interfaces, firewall) then. */
  findings: Finding[];
  /** Host ifindexes of its veths' host ends then: a change of one of them (link-watch.ts) makes it due. */
  hostLinks: number[];
}

/** What the daemon keeps between sweeps. */
export interface DiagnoseState {
  conntrack: ConntrackSample | null;
  /** vantage id → its last full diagnosis (only with healthyEveryMs). */
  vantages: Map<string, VantageMemo>;
}

export const createDiagnoseState = (): DiagnoseState => ({ conntrack: null, vantages: new Map() });

/**
 * Reads the interfaces of a vantage's namespace: a dump, or 'gone' when the
 * vantage no longer exists. The default opens the vantage race-safely and has
 * the addon dump its links and addresses from inside.
 */
export type InterfaceReader = (v: Vantage, procRoot: string) => Promise<InterfaceDump | 'gone'>;

export interface DiagnoseContext {
  /** Host interfaces that changed since the last pass (the daemon's HostLinkWatch): their vantages are diagnosed again. */
  linkChanges?: LinkChanges;
  /** Default /proc. */
  procRoot?: string;
  /** Where sysfs is mounted, for the host ends of veth pairs (tests). Default: one rtnetlink dump of the host namespace, /sys when it fails. */
  sysRoot?: string;
  /** diagnose.nodeLocalDns. */
  nodeLocalDns?: readonly string[];
  /** diagnose.conntrack.threshold. Default 0.9. */
  conntrackThreshold?: number;
  /** Kubernetes data, when known. */
  kube?: KubeFacts | undefined;
  /** Kept by the caller across sweeps (a daemon); absent in one-shot runs. Updated in place. */
  state?: DiagnoseState | undefined;
  /**
   * With `state`: a healthy vantage whose facts did not change is diagnosed again
   * after this long (its last findings stand in between). Absent or 0: every
   * vantage every pass (diagnose.healthyEvery).
   */
  healthyEveryMs?: number;
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
    healthyEveryMs: config.diagnose.healthyEvery,
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

const isVethEnd = (i: NetInterface): boolean => !i.loopback && i.link !== null && i.linkNetnsId !== null;
/** The host ifindexes of a vantage's veth peers. */
function hostLinkIndexes(peers: ReadonlyMap<number, HostLink> | undefined): number[] {
  const out: number[] = [];
  if (peers) for (const l of peers.values()) out.push(l.ifindex);
  return out;
}

/** Interfaces that are one end of a veth pair whose other end is in another namespace. */
const vethEnds = (dump: InterfaceDump | null): NetInterface[] => (dump?.ok ? dump.parsed.interfaces.filter(isVethEnd) : []);
/** A pod vantage with a veth: its host end is looked up. */
const needsHostPeers = (f: VantageFacts): boolean => !f.vantage.hostNetwork && vethEnds(f.dump).length > 0;

/** The host's links from one rtnetlink dump, or null when it cannot be had whole (then sysfs is read). */
async function hostLinksNetlink(): Promise<ReturnType<typeof hostLinksFromDump> | null> {
  try {
    let parsed = parseInterfaceDump(await dumpInterfaces('host'));
    if (parsed.interrupted) parsed = parseInterfaceDump(await dumpInterfaces('host'));
    if (parsed.interrupted || parsed.problemCount > 0 || parsed.interfaces.length >= MAX_INTERFACES) return null;
    return hostLinksFromDump(parsed);
  } catch {
    return null;
  }
}

/**
 * The host ends of the vantages' veths: from sysfs under `sysRoot` when one
 * is given (tests), else from one rtnetlink dump of the host namespace
 * (sysfs when that fails).
 */
async function hostPeers(facts: readonly VantageFacts[], sysRoot: string | undefined): Promise<Map<string, Map<number, HostLink>>> {
  const out = new Map<string, Map<number, HostLink>>();
  const wanted = facts.filter(needsHostPeers);
  if (wanted.length === 0) return out;
  const dumped = sysRoot === undefined ? await hostLinksNetlink() : null;
  const root = sysRoot ?? '/sys';
  const { links } = dumped ?? (await listHostLinks(root));
  const details = new Map<string, Promise<HostLink>>();
  const detail = (l: HostLinkIndex): Promise<HostLink> => {
    let p = details.get(l.name);
    if (!p) details.set(l.name, (p = dumped?.details.get(l.name) ? Promise.resolve(dumped.details.get(l.name)!) : readHostLink(root, l)));
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

// readResolvConf shares one frozen parse per text (discovery/resolv-conf.ts):
// its JSON is made once, not once per vantage and sweep.
const parsedJson = new WeakMap<object, string>();
function jsonOfParsed(parsed: ResolvConfRead['parsed']): string {
  if (!Object.isFrozen(parsed)) return JSON.stringify(parsed);
  let json = parsedJson.get(parsed);
  if (json === undefined) parsedJson.set(parsed, (json = JSON.stringify(parsed)));
  return json;
}

/** Everything a vantage's own checks depend on besides the files they read: a change means diagnosing it again. */
function factsKey(v: Vantage, read: ResolvConfRead | undefined, ctx: DiagnoseContext): string {
  return JSON.stringify([
    v.pid,
    v.startTime,
    // Findings name the pod (`where`, `pod`): Docker may tell its name later.
    v.podUid ?? null,
    v.podNamespace ?? null,
    v.podName ?? null,
    v.containerNames,
    v.resolvConfFile,
    read ? jsonOfParsed(read.parsed) : null,
    read?.error ? [read.error.code, read.error.fileType ?? null, read.error.size ?? null] : null,
    podFor(v, ctx.kube)?.dnsPolicy ?? null,
    ctx.kube?.dnsServiceIps ?? [],
    ctx.nodeLocalDns ?? [],
  ]);
}

/** A fraction in [0.5, 1) from the vantage id: where its first rotation falls. */
export function firstRotation(id: string): number {
  let h = 2166136261;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 16777619);
  return 0.5 + (h >>> 0) / 2 ** 33;
}

/** The vantages whose own facts are read and checked in this pass, and the findings that stand for the others. */
function selectVantages(
  probed: readonly Vantage[],
  report: SweepReport,
  rowsOf: ReadonlyMap<string, readonly SweepRow[]>,
  ctx: DiagnoseContext,
  now: number,
): { full: Vantage[]; kept: Vantage[]; keptFindings: Finding[]; keys: Map<string, string> } {
  const memos = ctx.state?.vantages;
  const every = ctx.healthyEveryMs ?? 0;
  const keys = new Map<string, string>();
  if (!memos || every <= 0) {
    memos?.clear();
    return { full: [...probed], kept: [], keptFindings: [], keys };
  }
  const swept = resolvConfReads(report.vantages);
  const full: Vantage[] = [];
  const kept: Vantage[] = [];
  const keptFindings: Finding[] = [];
  const ids = new Set<string>();
  for (const v of probed) {
    ids.add(v.id);
    const key = factsKey(v, swept.get(v.id), ctx);
    keys.set(v.id, key);
    const m = memos.get(v.id);
    const failing = rowsOf.get(v.id)?.some(isFailing) ?? false;
    if (!m || m.key !== key || m.failing || failing || now >= m.dueAt || touched(ctx.linkChanges, m.hostLinks)) {
      full.push(v);
    } else {
      kept.push(v);
      keptFindings.push(...m.findings);
    }
  }
  for (const id of memos.keys()) if (!ids.has(id)) memos.delete(id);
  return { full, kept, keptFindings, keys };
}

// Helpers of the per-sweep code below are module-level functions, not arrows
// inside it: see the note at the top of daemon/daemon.ts.
const isFailing = (r: SweepRow): boolean => !r.result.ok;
const answersOnLoopback = (r: SweepRow): boolean => r.result.ok && isLoopback(r.target.server);
const isProbed = (r: VantageReport): boolean => r.status === 'probed';
const vantageOf = (r: VantageReport): Vantage => r.vantage;
const vantageIdOf = (r: VantageReport): string => r.vantage.id;
const isFacts = (f: VantageFacts | null): f is VantageFacts => f !== null;

/** The sweep's read of each vantage's resolv.conf, by vantage id. */
function resolvConfReads(reports: readonly VantageReport[]): Map<string, ResolvConfRead | undefined> {
  const out = new Map<string, ResolvConfRead | undefined>();
  for (const r of reports) out.set(r.vantage.id, r.resolvConfRead);
  return out;
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
  const sysRoot = ctx.sysRoot;
  const now = (ctx.now ?? Date.now)();
  const reader = ctx.interfaces === false ? null : typeof ctx.interfaces === 'function' ? ctx.interfaces : readInterfacesNative;
  const probedReports = report.vantages.filter(isProbed);
  const probed = probedReports.map(vantageOf);
  const swept = resolvConfReads(probedReports);
  const rowsOf = byVantage(report.rows);
  const selected = selectVantages(probed, report, rowsOf, ctx, now);

  const [gathered, conntrackFacts] = await Promise.all([
    mapLimit(selected.full, ctx.concurrency ?? 16, (v) => gather(v, swept.get(v.id), { procRoot, reader })),
    readConntrack(procRoot),
  ]);
  const facts = gathered.filter(isFacts);
  const needHost = facts.some(needsHostPeers);
  const [peers, hostRouteIfaces] = await Promise.all([
    hostPeers(facts, sysRoot),
    needHost ? hostRouteInterfaces(procRoot) : Promise.resolve(new Set<string>()),
  ]);

  // Vantages gone since the sweep (exited, pid reused) say nothing any more,
  // neither alone nor in the comparisons.
  const present = new Set<string>();
  for (const f of facts) present.add(f.vantage.id);
  for (const v of selected.kept) present.add(v.id);
  const memos = ctx.state?.vantages;
  for (const v of selected.full) if (!present.has(v.id)) memos?.delete(v.id);
  const rows: SweepRow[] = [];
  for (const r of report.rows) if (present.has(r.vantage.id)) rows.push(r);
  const presentProbed: Vantage[] = [];
  for (const v of probed) if (present.has(v.id)) presentProbed.push(v);
  const findings: Finding[] = [...selected.keptFindings];
  for (const f of facts) {
    const v = f.vantage;
    const rows = rowsOf.get(v.id) ?? [];
    const servers = serversOf(f, rows);
    const own: Finding[] = [];
    own.push(...checkResolvConf(v, f.resolv, rows, { kube: ctx.kube, nodeLocalDns: ctx.nodeLocalDns ?? [] }));
    own.push(...checkRoutes(v, f.routes, servers, f.dump ? localAddresses(f.dump) : new Set()));
    if (f.dump) {
      own.push(
        ...checkInterfaces(v, {
          dump: f.dump,
          peers: peers.get(v.id) ?? new Map(),
          hostRouteIfaces,
          routeIfaces: routeInterfaces(f.routes, servers),
          loopbackServer: servers.some(isLoopback),
          loopbackAnswers: rows.some(answersOnLoopback),
          failing: rows.some(isFailing),
        }),
      );
    }
    own.push(...checkFirewall(v, rows));
    findings.push(...own);
    const key = selected.keys.get(v.id);
    if (memos && key !== undefined) {
      const every = ctx.healthyEveryMs!;
      const first = !memos.has(v.id);
      memos.set(v.id, {
        key,
        failing: rows.some(isFailing),
        dueAt: now + (first ? every * firstRotation(v.id) : every),
        findings: own,
        hostLinks: hostLinkIndexes(peers.get(v.id)),
      });
    }
  }
  findings.push(...checkProtocol(rows));
  findings.push(...checkPath(rows, { vantages: presentProbed, dnsServiceIps: ctx.kube?.dnsServiceIps ?? [] }));
  const conntrack = checkConntrack(conntrackFacts, {
    threshold: ctx.conntrackThreshold ?? 0.9,
    previous: ctx.state?.conntrack ?? undefined,
    tracking: ctx.state !== undefined,
    now,
  });
  findings.push(...conntrack.findings);
  if (ctx.state) ctx.state.conntrack = conntrack.sample;
  return sortFindings(findings, report.vantages.map(vantageIdOf));
}
