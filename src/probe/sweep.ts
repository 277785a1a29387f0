// One sweep: every target from every vantage, over every transport. The
// vantages start evenly spaced over opts.spreadMs (0: all at once), and at most
// opts.maxInFlightPerTarget attempts to one server:port are in flight at a time
// (./pacing.ts). Each vantage's namespace is opened once (race-safe, see
// netns/guard.ts), held until its probes are done, then closed: a cached fd
// would keep a deleted pod's namespace alive.
import { type ProbeResult, type Query, SweepReport, SweepRow, Target, TargetSource, type Transport, type Vantage, VantageReport } from '../model.js';
import { queryLabel } from './query-spec.js';
import type { NetnsHandle } from '../netns/binding.js';
import { probe } from './probe.js';
import { openVantage } from '../netns/guard.js';
import { readResolvConf } from '../discovery/resolv-conf.js';
import { vantageLabels } from '../discovery/vantage.js';
import { setTimeout as delay } from 'node:timers/promises';
import { InFlightLimit, type Wait, sharedWaits, startOffsets } from './pacing.js';

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
  /** Aborting it ends the sweep: vantages not started yet never start, and runSweep rejects with the signal's reason. */
  signal?: AbortSignal;
}

const defaultWait: Wait = async (ms, signal) => {
  if (signal?.aborted) throw signal.reason;
  if (ms <= 0) return;
  // Rejects with the signal's own reason, not timers' AbortError around it.
  await delay(ms, undefined, signal ? { signal } : {}).catch((err: unknown) => {
    throw signal?.aborted ? signal.reason : err;
  });
};

export type ProbeFn = typeof probe;

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

async function probeWithAttempts(
  probeFn: ProbeFn,
  netns: NetnsHandle,
  target: Target,
  transport: Transport,
  query: Query,
  opts: SweepOptions,
  limit: InFlightLimit,
): Promise<{ result: ProbeResult; attempts: number }> {
  let result: ProbeResult | undefined;
  let n = 0;
  let ignored = 0;
  while (n < opts.attempts) {
    n++;
    const release = await limit.acquire(targetKey(target));
    try {
      if (opts.signal?.aborted) throw opts.signal.reason;
      result = await probeFn({
        netns,
        server: target.server,
        port: target.port,
        transport,
        timeoutMs: opts.timeoutMs,
        ...query,
      });
    } finally {
      release();
    }
    ignored += result.ignoredReplies ?? 0;
    // Retrying cannot help a vantage that is gone or a cancelled sweep.
    if (result.ok || result.reason === 'netns-gone' || result.reason === 'cancelled') break;
  }
  if (ignored > 0) result = { ...result!, ignoredReplies: ignored };
  return { result: result!, attempts: n };
}

async function sweepVantage(v: Vantage, label: string, opts: SweepOptions, probeFn: ProbeFn, rows: SweepRow[], limit: InFlightLimit): Promise<VantageReport> {
  const opened = openVantage(v, opts.procRoot);
  if (!opened.ok) return { vantage: v, label, status: opened.reason, detail: opened.detail };
  const handle = opened.handle;
  try {
    const report: VantageReport = { vantage: v, label, status: 'probed' };
    const own: Target[] = [];
    if (opts.ownNameservers) {
      const rc = await readResolvConf(v.resolvConfFile);
      report.resolvConfRead = rc;
      const notes = [...rc.parsed.warnings];
      for (const ns of rc.parsed.nameservers) {
        if (ns.scopeId) notes.push(`nameserver ${ns.address}%${ns.scopeId} has a scope id and is not probed`);
        else own.push({ server: ns.address, port: opts.dnsPort, source: 'resolv.conf' });
      }
      report.resolvConf = {
        path: rc.path,
        nameservers: rc.parsed.nameservers.map((n) => n.address),
        warnings: notes,
        ...(rc.error ? { error: rc.error.message } : {}),
      };
    }
    const targets = targetsFor(own, opts.targets);
    await Promise.all(
      targets.flatMap((target) =>
        opts.transports.flatMap((transport) =>
          opts.queries.map(async (query) => {
            const { result, attempts } = await probeWithAttempts(probeFn, handle, target, transport, query, opts, limit);
            rows.push({ vantage: v, target, transport, query, attempts, result });
          }),
        ),
      ),
    );
    return report;
  } finally {
    handle.close();
  }
}

/**
 * Probes every target from every vantage, paced (see SweepOptions). Never throws for a probe or vantage
 * failure; rejects only when opts.signal is aborted.
 */
export async function runSweep(vantages: Vantage[], opts: SweepOptions, probeFn: ProbeFn = probe, wait: Wait = defaultWait): Promise<SweepReport> {
  const startedAt = new Date();
  const t0 = process.hrtime.bigint();
  const rows: SweepRow[] = [];
  const labels = vantageLabels(vantages);
  const limit = new InFlightLimit(opts.maxInFlightPerTarget);
  const offsets = startOffsets(vantages.length, opts.spreadMs);
  const startAt = sharedWaits(wait, opts.signal);
  const reports = await Promise.all(
    vantages.map(async (v, i) => {
      await startAt(offsets[i]!);
      if (opts.signal?.aborted) throw opts.signal.reason;
      return sweepVantage(v, labels.get(v.id)!, opts, probeFn, rows, limit);
    }),
  );
  const order = new Map(vantages.map((v, i) => [v.id, i]));
  rows.sort(
    (a, b) =>
      order.get(a.vantage.id)! - order.get(b.vantage.id)! ||
      a.target.server.localeCompare(b.target.server) ||
      a.target.port - b.target.port ||
      a.transport.localeCompare(b.transport) ||
      queryLabel(a.query).localeCompare(queryLabel(b.query)),
  );
  return { startedAt, durationSeconds: Number(process.hrtime.bigint() - t0) / 1e9, vantages: reports, rows };
}
