// One sweep: every target from every vantage, over every transport, or, with
// a probe budget (opts.budget), the pairs its plan chooses (./plan.ts). First
// every vantage's namespace is opened (race-safe, see netns/guard.ts) and its
// resolv.conf read, then the plan is made, then the vantages with something
// planned start evenly spaced over opts.spreadMs (0: all at once), with at
// most opts.maxInFlightPerTarget attempts to one server:port in flight at a
// time (./pacing.ts). A namespace is held until its probes are done, then
// closed: a cached fd would keep a deleted pod's namespace alive.
import type {
  PairClass,
  ProbeResult,
  Query,
  ResolvConfRead,
  SkippedPair,
  SweepReport,
  SweepRow,
  Target,
  TargetSource,
  Transport,
  Vantage,
  VantageReport,
} from '../model.js';
import { queryLabel } from './query-spec.js';
import type { NetnsHandle, NetnsRef } from '../netns/binding.js';
import { checkProbeOptions, failedProbe, probeSpec, type ProbeSpec } from './probe.js';
import { openVantage, type VantageOpener } from '../netns/guard.js';
import { readResolvConf } from '../discovery/resolv-conf.js';
import { vantageLabels } from '../discovery/vantage.js';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { chunkStart, InFlightLimit, type Pace, paceOf, SharedWaits, type Wait, startOffsets } from './pacing.js';
import { Rotation, type PlanVantage } from './plan.js';
import type { ResolvConfReuse } from './resolv-conf-reuse.js';

export interface SweepOptions {
  procRoot: string;
  transports: readonly Transport[];
  queries: readonly Query[];
  timeoutMs: number;
  /** Tries per probe; a later try runs only when the previous one failed. */
  attempts: number;
  /** Port for nameservers read from resolv.conf. */
  dnsPort: number;
  /** Probe each vantage's own resolv.conf nameservers. */
  ownNameservers: boolean;
  /** Probed from every vantage. */
  targets: readonly Target[];
  /** The vantages' starts are spread evenly over this many ms; 0 starts them all at once. */
  spreadMs: number;
  /** Attempts in flight to one server:port at most; more wait for one to end. */
  maxInFlightPerTarget: number;
  /** Opens vantages holding each process's /proc/<pid> across sweeps (the daemon's; netns/guard.ts). Without it each open is openVantage's. */
  opener?: VantageOpener;
  /** Reads of resolv.conf kept across sweeps (the daemon's; ./resolv-conf-reuse.ts). Without it every sweep reads every file. */
  resolvConfReuse?: ResolvConfReuse;
  /** Aborting it ends the sweep: vantages not started yet never start, and runSweep rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * The probe budget (the daemon's; `check` has none): at most queriesPerSweep queries, pods' TCP every
   * tcpEvery sweeps, rotating with `rotation` (kept across sweeps). Absent: every pair, every sweep.
   */
  budget?: { queriesPerSweep: number; tcpEvery: number; rotation: Rotation };
}

/** The plan's identity of a vantage: its namespace, and its pod (the same inode may come back as another pod). */
export const vantageKey = (v: Pick<Vantage, 'dev' | 'inode' | 'podUid'>): string => `${v.dev}:${v.inode}:${v.podUid ?? ''}`;

const defaultWait: Wait = async (ms, signal) => {
  if (signal?.aborted) throw signal.reason;
  if (ms <= 0) return;
  // Rejects with the signal's own reason, not timers' AbortError around it.
  await delay(ms, undefined, signal ? { signal } : {}).catch((err: unknown) => {
    throw signal?.aborted ? signal.reason : err;
  });
};

/** Runs one checked probe from a namespace, started at pace.startAt when given (probe.ts probeSpec; tests pass their own). */
export type ProbeFn = (spec: ProbeSpec, netns: NetnsRef, pace?: Pace) => Promise<ProbeResult>;

const targetKey = (t: Target): string => `${t.server}|${t.port}`;

// When one server:port is both a vantage's nameserver and a configured or
// watched target, the more specific role names it: a pod's resolv.conf lists
// the DNS Service IP, and the remedy engine and the path checks must see those
// probes as Service probes.
const SOURCE_RANK: Readonly<Record<TargetSource, number>> = { 'resolv.conf': 0, static: 1, 'coredns-pod': 2, 'dns-service': 3 };

/** Own nameservers first, then configured targets; one entry per server:port, under its most specific source. */
export function targetsFor(own: readonly Target[], configured: readonly Target[]): Target[] {
  const seen = new Map<string, Target>();
  for (const t of [...own, ...configured]) {
    const prev = seen.get(targetKey(t));
    if (!prev || SOURCE_RANK[t.source] > SOURCE_RANK[prev.source]) seen.set(targetKey(t), t);
  }
  return [...seen.values()];
}

/**
 * The checked probe of (server:port, transport, query): checked once per sweep
 * and shared by every vantage that probes it, or the result every probe of it
 * gets when the check fails.
 */
function specFor(run: SweepRun, target: Target, transport: Transport, queryIndex: number): ProbeSpec | ProbeResult {
  const queries = run.opts.queries;
  const key = targetKey(target);
  let specs = run.specs.get(key);
  if (!specs) {
    specs = [];
    run.specs.set(key, specs);
  }
  const slot = (transport === 'tcp' ? queries.length : 0) + queryIndex;
  let spec = specs[slot];
  if (spec === undefined) {
    try {
      spec = checkProbeOptions({ server: target.server, port: target.port, transport, timeoutMs: run.opts.timeoutMs, ...queries[queryIndex]! });
    } catch (err) {
      spec = failedProbe(err, transport);
    }
    specs[slot] = spec;
  }
  return spec;
}

interface OpenVantage {
  v: Vantage;
  handle: NetnsHandle;
  targets: { target: Target; own: boolean }[];
}

/** Opens a vantage and reads its resolv.conf; the handle stays open (the caller closes it). */
const addressOf = (n: { address: string }): string => n.address;

/** What a vantage's resolv.conf read gives a sweep: the report of it and the targets to probe. */
interface Derived {
  /** The configured targets and port it was made with (targetsSignature). */
  signature: string;
  resolvConf: NonNullable<VantageReport['resolvConf']>;
  targets: OpenVantage['targets'];
}

// Kept with the read itself: a read the daemon reuses across sweeps
// (ResolvConfReuse) gives the same report and targets, made once, as long as
// the configured targets and port stay the same (both frozen: every sweep's
// report shares them).
const derivedOfRead = new WeakMap<ResolvConfRead, Derived>();

const targetsSignature = (opts: SweepOptions): string => {
  let sig = String(opts.dnsPort);
  for (const t of opts.targets) sig += `,${t.server}|${t.port}|${t.source}`;
  return sig;
};

function derivedOf(rc: ResolvConfRead, opts: SweepOptions, signature: string): Derived {
  const cached = derivedOfRead.get(rc);
  if (cached?.signature === signature) return cached;
  const own: Target[] = [];
  const notes = [...rc.parsed.warnings];
  for (const ns of rc.parsed.nameservers) {
    if (ns.scopeId) notes.push(`nameserver ${ns.address}%${ns.scopeId} has a scope id and is not probed`);
    else own.push(Object.freeze({ server: ns.address, port: opts.dnsPort, source: 'resolv.conf' as const }));
  }
  const resolvConf = Object.freeze({
    path: rc.path,
    nameservers: Object.freeze(rc.parsed.nameservers.map(addressOf)) as string[],
    warnings: Object.freeze(notes) as string[],
    ...(rc.error ? { error: rc.error.message } : {}),
  });
  const ownKeys = new Set(own.map(targetKey));
  const targets: OpenVantage['targets'] = [];
  for (const target of targetsFor(own, opts.targets)) targets.push(Object.freeze({ target, own: ownKeys.has(targetKey(target)) }));
  const derived: Derived = { signature, resolvConf, targets: Object.freeze(targets) as OpenVantage['targets'] };
  derivedOfRead.set(rc, derived);
  return derived;
}

async function prepareVantage(v: Vantage, label: string, opts: SweepOptions, signature: string): Promise<{ report: VantageReport; open?: OpenVantage }> {
  const opened = opts.opener ? opts.opener.open(v) : openVantage(v, opts.procRoot);
  if (!opened.ok) return { report: { vantage: v, label, status: opened.reason, detail: opened.detail } };
  const handle = opened.handle;
  try {
    const report: VantageReport = { vantage: v, label, status: 'probed' };
    if (opts.ownNameservers) {
      const reuse = opts.resolvConfReuse;
      let rc = reuse?.get(v);
      if (!rc) {
        rc = await readResolvConf(v.resolvConfFile);
        reuse?.set(v, rc);
      }
      report.resolvConfRead = rc;
      const derived = derivedOf(rc, opts, signature);
      report.resolvConf = derived.resolvConf;
      return { report, open: { v, handle, targets: derived.targets } };
    }
    const targets: OpenVantage['targets'] = [];
    for (const target of targetsFor([], opts.targets)) targets.push({ target, own: false });
    return { report, open: { v, handle, targets } };
  } catch (err) {
    handle.close();
    throw err;
  }
}

interface Work {
  target: Target;
  transport: Transport;
  class: PairClass;
}

/** What a vantage's probes share within one sweep. */
interface SweepRun {
  opts: SweepOptions;
  probeFn: ProbeFn;
  rows: SweepRow[];
  limit: InFlightLimit;
  /** specFor's: per server|port, its checked probes by transport and query. */
  specs: Map<string, Array<ProbeSpec | ProbeResult>>;
}

/**
 * One row: the probe of (vantage, target, transport, query), tried up to opts.attempts times while it fails,
 * each attempt holding one of the target's in-flight slots.
 */
async function probeRow(run: SweepRun, o: OpenVantage, w: Work, queryIndex: number, pace: Pace | undefined): Promise<void> {
  const opts = run.opts;
  const spec = specFor(run, w.target, w.transport, queryIndex);
  let result: ProbeResult | undefined;
  let attempts = 0;
  if (!('query' in spec)) {
    // Options that cannot be probed (a bad server address) fail every attempt alike.
    result = spec;
    attempts = 1;
  } else {
    const key = targetKey(w.target);
    let ignored = 0;
    while (attempts < opts.attempts) {
      attempts++;
      const release = run.limit.tryAcquire(key) ?? (await run.limit.acquire(key));
      try {
        if (opts.signal?.aborted) throw opts.signal.reason;
        // A later attempt passes the same pace: its start is past, only the hold applies.
        result = await run.probeFn(spec, o.handle, pace);
      } finally {
        release();
      }
      ignored += result.ignoredReplies ?? 0;
      // Retrying cannot help a vantage that is gone or a cancelled sweep.
      if (result.ok || result.reason === 'netns-gone' || result.reason === 'cancelled') break;
    }
    if (ignored > 0) result = { ...result!, ignoredReplies: ignored };
  }
  // A failing vantage's resolv.conf is read again next sweep: it may be why.
  if (!result!.ok) opts.resolvConfReuse?.drop(o.v.id);
  run.rows.push({ vantage: o.v, target: w.target, transport: w.transport, query: opts.queries[queryIndex]!, attempts, result: result!, class: w.class });
}

async function probeVantage(run: SweepRun, o: OpenVantage, work: readonly Work[], pace: Pace | undefined): Promise<void> {
  const probes: Promise<void>[] = [];
  for (const w of work) for (let q = 0; q < run.opts.queries.length; q++) probes.push(probeRow(run, o, w, q, pace));
  await Promise.all(probes);
}

interface RankedWork {
  rank: number;
  work: Work;
}

const byRank = (a: RankedWork, b: RankedWork): number => a.rank - b.rank;

/** A vantage's planned work in its targets' order (resolv.conf order), then the transports', as without a budget. */
function inTargetOrder(work: readonly Work[], o: OpenVantage, transports: readonly Transport[]): readonly Work[] {
  if (work.length < 2) return work;
  const targetIndex = new Map<string, number>();
  for (let j = 0; j < o.targets.length; j++) targetIndex.set(targetKey(o.targets[j]!.target), j);
  const ranked: RankedWork[] = [];
  for (const w of work) ranked.push({ rank: targetIndex.get(targetKey(w.target))! * transports.length + transports.indexOf(w.transport), work: w });
  ranked.sort(byRank);
  const sorted: Work[] = [];
  for (const r of ranked) sorted.push(r.work);
  return sorted;
}

/** How a sweep's starts are paced (see pacing.ts paceOf): null when they are not (spread 0). */
interface Pacing {
  starts: SharedWaits;
  /** performance.now() when `starts` was made: offsets count from it. */
  t0: number;
  chunkMs: number;
  holdMs: number;
}

/**
 * One vantage's part of a sweep: waits for the chunk its start falls in, probes its planned work (the engine
 * starts it at its own offset), and closes its namespace.
 */
async function sweepVantage(run: SweepRun, o: OpenVantage, work: readonly Work[], pacing: Pacing | null, offset: number): Promise<void> {
  try {
    let pace: Pace | undefined;
    if (pacing) {
      await pacing.starts.at(chunkStart(offset, pacing.chunkMs));
      pace = { startAt: pacing.t0 + offset, holdMs: pacing.holdMs };
    }
    if (run.opts.signal?.aborted) throw run.opts.signal.reason;
    await probeVantage(run, o, inTargetOrder(work, o, run.opts.transports), pace);
  } finally {
    o.handle.close();
  }
}

interface RankedRow {
  rank: number;
  row: SweepRow;
}

/** Rows by their vantage's place in the sweep, then target, transport and query. */
function compareRows(a: RankedRow, b: RankedRow): number {
  return (
    a.rank - b.rank ||
    a.row.target.server.localeCompare(b.row.target.server) ||
    a.row.target.port - b.row.target.port ||
    a.row.transport.localeCompare(b.row.transport) ||
    queryLabel(a.row.query).localeCompare(queryLabel(b.row.query))
  );
}

function sortRows(rows: SweepRow[], vantages: readonly Vantage[]): void {
  const order = new Map<string, number>();
  for (let i = 0; i < vantages.length; i++) order.set(vantages[i]!.id, i);
  const ranked: RankedRow[] = [];
  for (const row of rows) ranked.push({ rank: order.get(row.vantage.id)!, row });
  ranked.sort(compareRows);
  for (let i = 0; i < ranked.length; i++) rows[i] = ranked[i]!.row;
}

const addRowQueries = (n: number, r: SweepRow): number => n + rowQueries(r);
const addTruncated = (n: number, r: SweepRow): number => n + (r.result.truncated ? 1 : 0);
const idOf = (v: Vantage): string => v.id;
const reportOf = (p: { report: VantageReport }): VantageReport => p.report;
const planVantageOf = (o: OpenVantage): PlanVantage => ({ key: vantageKey(o.v), host: o.v.hostNetwork, targets: o.targets });

/** The most probes (first attempts) the sweep sends to any one server:port. */
function busiestTarget(probing: readonly OpenVantage[], work: ReadonlyMap<string, readonly Work[]>, queries: number): number {
  const counts = new Map<string, number>();
  let most = 0;
  for (const o of probing) {
    for (const w of work.get(vantageKey(o.v))!) {
      const key = targetKey(w.target);
      const n = (counts.get(key) ?? 0) + queries;
      counts.set(key, n);
      if (n > most) most = n;
    }
  }
  return most;
}

/** Queries a row sent: its attempts, and the TCP retry of a truncated UDP reply. */
export const rowQueries = (r: SweepRow): number => r.attempts + (r.result.truncated ? 1 : 0);

/**
 * Probes the planned pairs (every pair without opts.budget), paced (see SweepOptions). Never throws for a
 * probe or vantage failure; rejects only when opts.signal is aborted.
 */
export async function runSweep(vantages: Vantage[], opts: SweepOptions, probeFn: ProbeFn = probeSpec, wait: Wait = defaultWait): Promise<SweepReport> {
  const startedAt = new Date();
  const t0 = process.hrtime.bigint();
  const run: SweepRun = { opts, probeFn, rows: [], limit: new InFlightLimit(opts.maxInFlightPerTarget), specs: new Map() };
  const rows = run.rows;
  const labels = vantageLabels(vantages);
  opts.resolvConfReuse?.beginSweep();
  opts.resolvConfReuse?.keepOnly(new Set(vantages.map(idOf)));
  opts.opener?.retain(vantages);
  const preparing: Promise<{ report: VantageReport; open?: OpenVantage }>[] = [];
  const signature = targetsSignature(opts);
  for (const v of vantages) preparing.push(prepareVantage(v, labels.get(v.id)!, opts, signature));
  const prepared = await Promise.all(preparing);
  const open: OpenVantage[] = [];
  for (const p of prepared) if (p.open) open.push(p.open);
  try {
    if (opts.signal?.aborted) throw opts.signal.reason;
    const budget = opts.budget;
    const rotation = budget?.rotation ?? new Rotation();
    const plan = rotation.plan(open.map(planVantageOf), {
      transports: opts.transports,
      budget: budget ? budget.queriesPerSweep : Infinity,
      costPerPair: opts.attempts * opts.queries.length,
      tcpEvery: budget ? budget.tcpEvery : 1,
    });
    const work = new Map<string, Work[]>();
    for (const p of plan.planned) {
      const list = work.get(p.vantageKey);
      const w = { target: p.target, transport: p.transport, class: p.class };
      if (list) list.push(w);
      else work.set(p.vantageKey, [w]);
    }
    // Vantages with nothing planned are done: their namespaces close now.
    const probing: OpenVantage[] = [];
    for (const o of open) {
      if (work.has(vantageKey(o.v))) probing.push(o);
      else o.handle.close();
    }
    const offsets = startOffsets(probing.length, opts.spreadMs);
    // Vantages of one chunk share one timer: they resume together and their probes reach the engine in one
    // batch, each with its own start time.
    let pacing: Pacing | null = null;
    if (opts.spreadMs > 0) {
      const { chunkMs, holdMs } = paceOf(opts.spreadMs, busiestTarget(probing, work, opts.queries.length), opts.maxInFlightPerTarget);
      pacing = { starts: new SharedWaits(wait, opts.signal), t0: performance.now(), chunkMs, holdMs };
    }
    const sweeping: Promise<void>[] = [];
    for (let i = 0; i < probing.length; i++) {
      const o = probing[i]!;
      sweeping.push(sweepVantage(run, o, work.get(vantageKey(o.v))!, pacing, offsets[i]!));
    }
    await Promise.all(sweeping);
    sortRows(rows, vantages);
    rotation.noteRetries(rows.reduce(addTruncated, 0));
    const report: SweepReport = { startedAt, durationSeconds: Number(process.hrtime.bigint() - t0) / 1e9, vantages: prepared.map(reportOf), rows };
    if (budget) {
      const byKey = new Map<string, OpenVantage>();
      for (const o of open) byKey.set(vantageKey(o.v), o);
      const skipped: SkippedPair[] = [];
      for (const p of plan.skipped) skipped.push({ vantage: byKey.get(p.vantageKey)!.v, target: p.target, transport: p.transport, class: p.class });
      report.plan = {
        sweep: plan.sweep,
        budget: plan.budget,
        reserved: plan.reserved,
        retryReserve: plan.retryReserve,
        queries: rows.reduce(addRowQueries, 0),
        planned: plan.planned.length,
        skipped,
        groups: plan.groups,
        rotationSweeps: plan.rotationSweeps,
      };
    }
    return report;
  } catch (err) {
    for (const o of open) o.handle.close();
    throw err;
  }
}
