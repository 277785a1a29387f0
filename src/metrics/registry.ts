// The daemon's Prometheus metrics: one prom-client Registry of its own (never
// the global one), built from definitions.ts. The daemon feeds it once per
// sweep; per-check series of checks that left the health state are removed,
// so the number of series follows the node, not its history.
import fs from 'node:fs';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { TRANSPORTS } from '../config/format-dns.js';
import type { PairClass, SweepReport, SweepRow, VantageSource } from '../model.js';
import { FINDING_AREAS, SEVERITIES } from '../diagnose/finding.js';
import type { FindingCount } from '../diagnose/format.js';
import { targetLabel } from '../health/labels.js';
import type { Check } from '../health/model.js';
import { GROUPS, type Group, type Verdict } from '../health/verdict.js';
import type { DecisionReason, DecisionResult, RemedyAction } from '../remedy/decision.js';
import { METRICS, PROBE_REASONS, REMEDY_ZERO_SERIES, RTT_BUCKETS, SWEEP_BUCKETS, type MetricDef } from './definitions.js';
import { MAX_FIELD, capString, escapeControl } from '../text/untrusted.js';

export interface EngineView {
  running: boolean;
  inFlight: number;
  queued: number;
  fatalErrno: number;
}

export interface MetricsOptions {
  version: string;
  /** The native engine's counters (binding.engineStats); null or a throw leaves those gauges out of the scrape. */
  engineStats?: () => EngineView | null;
  /** process_* metrics (CPU, memory, virtual memory, fds and their limit, start time). Default true. */
  processMetrics?: boolean;
}

type CheckLabels = Record<'vantage' | 'target' | 'transport' | 'query', string>;
type PathLabels = Record<'vantage' | 'target' | 'transport', string>;
type TargetLabels = Record<'target' | 'transport', string>;

const VANTAGE_SOURCES: readonly VantageSource[] = ['host', 'proc', 'docker', 'proc+docker'];
const VANTAGE_STATUSES = ['probed', 'gone', 'inaccessible'] as const;
const CLASSES: readonly PairClass[] = ['host', 'own', 'other'];

/** A row's class in the budget; a row probed without one (no plan) by what it is. */
const classOf = (r: SweepRow): PairClass => r.class ?? (r.vantage.hostNetwork ? 'host' : r.target.source === 'resolv.conf' ? 'own' : 'other');
function rowsOfClass(rows: readonly SweepRow[], cls: PairClass): number {
  let n = 0;
  for (const r of rows) if (classOf(r) === cls) n++;
  return n;
}

/**
 * A label value: the vantage label may carry a pod name from a Docker label
 * (see health/labels.ts), so it is capped and shown escaped like any text
 * people read. escapeControl is one-to-one, so distinct labels stay distinct.
 */
export const MAX_LABEL_VALUE = 2 * MAX_FIELD;
export const labelValue = (s: string): string => escapeControl(capString(s, MAX_LABEL_VALUE));

const pathKey = (l: PathLabels): string => `${l.vantage}\u0000${l.target}\u0000${l.transport}`;
const targetKey = (l: TargetLabels): string => `${l.target}\u0000${l.transport}`;

function countFds(): number | null {
  try {
    return fs.readdirSync('/proc/self/fd').length - 1; // minus the directory's own fd
  } catch {
    return null;
  }
}

/** The soft limit on open files from /proc/self/limits (what node_exporter's process_max_fds shows); null if unknown or unlimited. */
export function parseMaxFds(limits: string): number | null {
  const m = /^Max open files\s+(\d+|unlimited)\s/m.exec(limits);
  return m === null || m[1] === 'unlimited' ? null : Number(m[1]);
}

/** vsize (field 23 of /proc/self/stat, after the parenthesised comm) in bytes; null if unreadable. */
export function parseVsize(stat: string): number | null {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const v = Number(rest[20]); // fields from 3 (state) on: vsize is field 23
  return stat.includes(')') && Number.isSafeInteger(v) ? v : null;
}

function readProcSelf(name: string): string | null {
  try {
    // /proc/self files are the daemon's own, a few hundred bytes: no bound needed beyond the kernel's.
    return fs.readFileSync(`/proc/self/${name}`, 'utf8');
  } catch {
    return null;
  }
}

/** A check's per-check series: its labels (escaped once) and the gauge values last set (undefined: none). */
class CheckSeries {
  readonly vantageLabel: string;
  readonly targetLabel: string;
  readonly transport: string;
  readonly query: string;
  readonly labels: CheckLabels;
  healthy: number | undefined;
  success: number | undefined;
  /** The recordSweep call that last saw the check. */
  sweep = 0;

  constructor(c: Check) {
    this.vantageLabel = c.vantageLabel;
    this.targetLabel = c.targetLabel;
    this.transport = c.transport;
    this.query = c.query;
    this.labels = { vantage: labelValue(c.vantageLabel), target: labelValue(c.targetLabel), transport: c.transport, query: labelValue(c.query) };
  }

  /** Whether these series still carry `c`'s labels. */
  labelsOf(c: Check): boolean {
    return c.vantageLabel === this.vantageLabel && c.targetLabel === this.targetLabel && c.transport === this.transport && c.query === this.query;
  }
}

export class DaemonMetrics {
  readonly registry = new Registry();
  readonly #probeSuccess: Gauge<keyof CheckLabels>;
  readonly #checkHealthy: Gauge<keyof CheckLabels>;
  readonly #rtt: Histogram<keyof TargetLabels>;
  readonly #vantageRtt: Histogram<keyof PathLabels>;
  readonly #probes: Counter<'transport' | 'result' | 'reason'>;
  readonly #attempts: Counter<'transport'>;
  readonly #ignoredReplies: Counter<'transport'>;
  readonly #sweeps: Counter<'result'>;
  readonly #sweepDuration: Histogram<string>;
  readonly #lastSweep: Gauge<string>;
  readonly #vantages: Gauge<'source' | 'status'>;
  readonly #checks: Gauge<'state'>;
  readonly #discoveryErrors: Counter<'source'>;
  readonly #healthy: Gauge<'group'>;
  readonly #reloadOk: Gauge<string>;
  readonly #reloadAt: Gauge<string>;
  readonly #remedyDecisions: Counter<'action' | 'result' | 'reason'>;
  readonly #oomKills: Counter<string>;
  readonly #findings: Gauge<'check' | 'severity'>;
  readonly #queries: Counter<'class'>;
  readonly #budget: Gauge<string>;
  readonly #sweepPairs: Gauge<'class' | 'state'>;
  readonly #rotationSweeps: Gauge<'class'>;
  readonly #rotationSeconds: Gauge<'class'>;
  readonly #checksStale: Gauge<string>;
  readonly #oldestAge: Gauge<'class'>;
  /** check key → its per-check series: the labels they carry now and the values last set. */
  readonly #checkSeries = new Map<string, CheckSeries>();
  #recordSweeps = 0;
  readonly #pathSeries = new Map<string, PathLabels>();
  readonly #targetSeries = new Map<string, TargetLabels>();

  constructor(options: MetricsOptions) {
    const r = [this.registry];
    const opts = (d: MetricDef) => ({ name: d.name, help: d.help, labelNames: [...d.labels], registers: r });
    this.#probeSuccess = new Gauge(opts(METRICS.probeSuccess));
    this.#checkHealthy = new Gauge(opts(METRICS.checkHealthy));
    this.#rtt = new Histogram({ ...opts(METRICS.probeRtt), buckets: RTT_BUCKETS });
    this.#vantageRtt = new Histogram({ ...opts(METRICS.vantageProbeRtt), buckets: RTT_BUCKETS });
    this.#probes = new Counter(opts(METRICS.probes));
    this.#attempts = new Counter(opts(METRICS.probeAttempts));
    this.#ignoredReplies = new Counter(opts(METRICS.ignoredReplies));
    this.#sweeps = new Counter(opts(METRICS.sweeps));
    this.#sweepDuration = new Histogram({ ...opts(METRICS.sweepDuration), buckets: SWEEP_BUCKETS });
    this.#lastSweep = new Gauge(opts(METRICS.lastSweep));
    this.#vantages = new Gauge(opts(METRICS.vantages));
    this.#checks = new Gauge(opts(METRICS.checks));
    this.#discoveryErrors = new Counter(opts(METRICS.discoveryErrors));
    this.#healthy = new Gauge(opts(METRICS.healthy));
    this.#reloadOk = new Gauge(opts(METRICS.configReloadSuccessful));
    this.#reloadAt = new Gauge(opts(METRICS.configReloadTimestamp));
    this.#remedyDecisions = new Counter(opts(METRICS.remedyDecisions));
    this.#oomKills = new Counter(opts(METRICS.oomKills));
    this.#findings = new Gauge(opts(METRICS.findings));
    this.#queries = new Counter(opts(METRICS.probeQueries));
    this.#budget = new Gauge(opts(METRICS.budget));
    this.#sweepPairs = new Gauge(opts(METRICS.sweepPairs));
    this.#rotationSweeps = new Gauge(opts(METRICS.rotationSweeps));
    this.#rotationSeconds = new Gauge(opts(METRICS.rotationSeconds));
    this.#checksStale = new Gauge(opts(METRICS.checksStale));
    this.#oldestAge = new Gauge(opts(METRICS.oldestResultAge));
    new Gauge({ ...opts(METRICS.buildInfo) }).set({ version: options.version, nodejs_version: process.version }, 1);

    // Zero series, so rate() and absent() work from the first scrape.
    for (const transport of TRANSPORTS) {
      this.#attempts.inc({ transport }, 0);
      this.#ignoredReplies.inc({ transport }, 0);
      for (const reason of PROBE_REASONS) this.#probes.inc({ transport, result: reason === 'ok' ? 'success' : 'failure', reason }, 0);
    }
    for (const result of ['success', 'error']) this.#sweeps.inc({ result }, 0);
    for (const source of ['proc', 'docker']) this.#discoveryErrors.inc({ source }, 0);
    for (const state of ['healthy', 'unhealthy']) this.#checks.set({ state }, 0);
    this.#oomKills.inc(0);
    for (const labels of REMEDY_ZERO_SERIES) this.#remedyDecisions.inc({ ...labels }, 0);
    for (const check of FINDING_AREAS) for (const severity of SEVERITIES) this.#findings.set({ check, severity }, 0);
    for (const cls of CLASSES) {
      this.#queries.inc({ class: cls }, 0);
      this.#oldestAge.set({ class: cls }, 0);
      for (const state of ['planned', 'skipped']) this.#sweepPairs.set({ class: cls, state }, 0);
    }
    this.#checksStale.set(0);

    if (options.engineStats) this.#engineGauges(options.engineStats);
    if (options.processMetrics ?? true) this.#processMetrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The text exposition format. */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  /**
   * One completed sweep: probe counters and RTTs from its rows, gauges from the health state after it.
   * Per-vantage detail (probe_success, vantage_probe_rtt_seconds) only when `perVantageDetail`
   * (metrics.perVantageDetail); turned off, its series are removed. `sweepPeriodSeconds` (interval + jitter)
   * turns the rotation from sweeps into seconds.
   */
  #removeCheckSeries(series: CheckSeries): void {
    if (series.healthy !== undefined) this.#checkHealthy.remove(series.labels);
    if (series.success !== undefined) this.#probeSuccess.remove(series.labels);
  }

  recordSweep(report: SweepReport, checks: readonly Check[], completedAt: Date, perVantageDetail = false, sweepPeriodSeconds = 0): void {
    const labels = new Map<string, string>();
    for (const r of report.vantages) labels.set(r.vantage.id, r.label);
    // Counted first, then one inc per series: prom-client hashes the labels of every call.
    const probes = new Map<string, { transport: string; result: string; reason: string; n: number }>();
    const attempts = new Map<string, { attempts: number; ignored: number }>();
    const queries = new Map<string, number>();
    for (const row of report.rows) {
      const { transport } = row;
      const result = row.result.ok ? 'success' : 'failure';
      const key = `${transport} ${result} ${row.result.reason}`;
      const p = probes.get(key);
      if (p) p.n++;
      else probes.set(key, { transport, result, reason: row.result.reason, n: 1 });
      let a = attempts.get(transport);
      if (!a) attempts.set(transport, (a = { attempts: 0, ignored: 0 }));
      a.attempts += row.attempts;
      a.ignored += row.result.ignoredReplies ?? 0;
      const cls = classOf(row);
      queries.set(cls, (queries.get(cls) ?? 0) + row.attempts + (row.result.truncated ? 1 : 0));
    }
    for (const { transport, result, reason, n } of probes.values()) this.#probes.inc({ transport, result, reason }, n);
    for (const [cls, n] of queries) this.#queries.inc({ class: cls }, n);
    for (const [transport, a] of attempts) {
      this.#attempts.inc({ transport }, a.attempts);
      if (a.ignored > 0) this.#ignoredReplies.inc({ transport }, a.ignored);
    }

    // Per-check series: a check's labels are escaped once and a gauge is set
    // only when its value changed (prom-client hashes the labels of every
    // set and remove: two per check per sweep otherwise, for nothing).
    // Removals first (checks gone, labels changed), then values: a label set
    // that moved to another check keeps that check's value. After any removal
    // every value is set again (two checks may escape to the same labels).
    const sweep = ++this.#recordSweeps;
    for (const c of checks) {
      const series = this.#checkSeries.get(c.key);
      if (series?.labelsOf(c)) series.sweep = sweep;
    }
    let removed = false;
    for (const [key, series] of this.#checkSeries) {
      if (series.sweep === sweep) continue;
      this.#removeCheckSeries(series);
      this.#checkSeries.delete(key);
      removed = true;
    }
    const pathSeries = new Map<string, PathLabels>();
    const targetSeries = new Map<string, TargetLabels>();
    const counts = { healthy: 0, unhealthy: 0 };
    for (const c of checks) {
      let series = this.#checkSeries.get(c.key);
      if (!series) {
        series = new CheckSeries(c);
        series.sweep = sweep;
        this.#checkSeries.set(c.key, series);
      }
      const l = series.labels;
      const tl: TargetLabels = { target: l.target, transport: l.transport };
      targetSeries.set(targetKey(tl), tl);
      if (perVantageDetail) {
        const p: PathLabels = { vantage: l.vantage, target: l.target, transport: l.transport };
        pathSeries.set(pathKey(p), p);
      }
      counts[c.state]++;
      const healthy = c.state === 'healthy' ? 1 : 0;
      if (removed || series.healthy !== healthy) {
        this.#checkHealthy.set(l, healthy);
        series.healthy = healthy;
      }
      const success = perVantageDetail ? (c.last.ok ? 1 : 0) : undefined;
      if (series.success !== success) {
        if (success === undefined) this.#probeSuccess.remove(l);
        else this.#probeSuccess.set(l, success);
        series.success = success;
      } else if (removed && success !== undefined) {
        this.#probeSuccess.set(l, success);
      }
    }
    for (const [key, old] of this.#pathSeries) if (!pathSeries.has(key)) this.#vantageRtt.remove(old);
    for (const [key, old] of this.#targetSeries) if (!targetSeries.has(key)) this.#rtt.remove(old);
    this.#pathSeries.clear();
    for (const [k, v] of pathSeries) this.#pathSeries.set(k, v);
    this.#targetSeries.clear();
    for (const [k, v] of targetSeries) this.#targetSeries.set(k, v);

    for (const row of report.rows) {
      if (row.result.rttSeconds === null) continue;
      const tl: TargetLabels = { target: labelValue(targetLabel(row.target)), transport: row.transport };
      if (targetSeries.has(targetKey(tl))) this.#rtt.observe(tl, row.result.rttSeconds);
      if (!perVantageDetail) continue;
      const p: PathLabels = { vantage: labelValue(labels.get(row.vantage.id) ?? row.vantage.id), ...tl };
      if (pathSeries.has(pathKey(p))) this.#vantageRtt.observe(p, row.result.rttSeconds);
    }

    const vantageCounts = new Map<string, number>();
    for (const v of report.vantages) {
      const key = `${v.vantage.source} ${v.status}`;
      vantageCounts.set(key, (vantageCounts.get(key) ?? 0) + 1);
    }
    for (const source of VANTAGE_SOURCES) {
      for (const status of VANTAGE_STATUSES) this.#vantages.set({ source, status }, vantageCounts.get(`${source} ${status}`) ?? 0);
    }
    this.#checks.set({ state: 'healthy' }, counts.healthy);
    this.#checks.set({ state: 'unhealthy' }, counts.unhealthy);
    this.#sweeps.inc({ result: 'success' });
    this.#sweepDuration.observe(report.durationSeconds);
    this.#lastSweep.set(completedAt.getTime() / 1000);
    this.#recordPlan(report, sweepPeriodSeconds);
    this.setFreshness(checks, completedAt);
  }

  /** The probe budget's plan of the last sweep (none: every pair planned, rotation 1). */
  #recordPlan(report: SweepReport, periodSeconds: number): void {
    const plan = report.plan;
    for (const cls of CLASSES) {
      const planned = plan ? plan.groups[cls].planned : rowsOfClass(report.rows, cls);
      const pairs = plan ? plan.groups[cls].pairs : planned;
      this.#sweepPairs.set({ class: cls, state: 'planned' }, planned);
      this.#sweepPairs.set({ class: cls, state: 'skipped' }, pairs - planned);
      const k = plan ? plan.groups[cls].rotationSweeps : 1;
      this.#rotationSweeps.set({ class: cls }, k ?? Infinity);
      this.#rotationSeconds.set({ class: cls }, k === null ? Infinity : k * periodSeconds);
    }
    if (plan?.budget != null) this.#budget.set(plan.budget);
    else this.#budget.reset();
  }

  /** How fresh the checks are at `now`: the oldest last result per class, and the stale checks. */
  setFreshness(checks: readonly Check[], now: Date): void {
    const oldest: Record<PairClass, number> = { host: 0, own: 0, other: 0 };
    let stale = 0;
    for (const c of checks) {
      const cls: PairClass = c.class ?? (c.vantage.hostNetwork ? 'host' : c.target.source === 'resolv.conf' ? 'own' : 'other');
      oldest[cls] = Math.max(oldest[cls], (now.getTime() - c.last.at.getTime()) / 1000);
      if (c.stale) stale++;
    }
    for (const cls of CLASSES) this.#oldestAge.set({ class: cls }, oldest[cls]);
    this.#checksStale.set(stale);
  }

  /** A sweep that could not run at all. */
  recordSweepError(durationSeconds: number): void {
    this.#sweeps.inc({ result: 'error' });
    this.#sweepDuration.observe(durationSeconds);
  }

  discoveryErrors(source: 'proc' | 'docker', n: number): void {
    if (n > 0) this.#discoveryErrors.inc({ source }, n);
  }

  setHealth(verdicts: Readonly<Record<Group, Verdict>>): void {
    for (const group of GROUPS) this.#healthy.set({ group }, verdicts[group].healthy ? 1 : 0);
  }

  /** The outcome of the last configuration load, and when one last succeeded. */
  setConfigReload(ok: boolean, lastSuccess: Date): void {
    this.#reloadOk.set(ok ? 1 : 0);
    this.#reloadAt.set(lastSuccess.getTime() / 1000);
  }

  /** One remedy decision (KubeRuntime onDecision). */
  remedyDecision(action: RemedyAction, result: DecisionResult, reason: DecisionReason): void {
    this.#remedyDecisions.inc({ action, result, reason });
  }

  /** The active diagnosis findings (findingCounts: every check × severity, zeros included). */
  setFindings(counts: readonly FindingCount[]): void {
    for (const c of counts) this.#findings.set({ check: c.check, severity: c.severity }, c.count);
  }

  /** For the Kubernetes watcher: CoreDNS containers seen OOMKilled. */
  oomKills(n = 1): void {
    this.#oomKills.inc(n);
  }

  #engineGauges(stats: () => EngineView | null): void {
    const read = (): EngineView | null => {
      try {
        return stats();
      } catch {
        return null;
      }
    };
    const r = [this.registry];
    const gauge = (d: MetricDef, value: (s: EngineView) => number): void => {
      new Gauge({
        name: d.name,
        help: d.help,
        registers: r,
        collect() {
          const s = read();
          if (s === null) this.reset();
          else this.set(value(s));
        },
      });
    };
    gauge(METRICS.nativeInFlight, (s) => s.inFlight);
    gauge(METRICS.nativeQueued, (s) => s.queued);
    gauge(METRICS.nativeUp, (s) => (s.running && s.fatalErrno === 0 ? 1 : 0));
  }

  #processMetrics(): void {
    const r = [this.registry];
    let lastCpu = 0;
    new Counter({
      name: METRICS.processCpu.name,
      help: METRICS.processCpu.help,
      registers: r,
      collect() {
        const u = process.cpuUsage();
        const total = (u.user + u.system) / 1e6;
        if (total > lastCpu) this.inc(total - lastCpu);
        lastCpu = Math.max(lastCpu, total);
      },
    });
    new Gauge({
      name: METRICS.processRss.name,
      help: METRICS.processRss.help,
      registers: r,
      collect() {
        this.set(process.memoryUsage.rss());
      },
    });
    // Read at scrape time; a value that cannot be read leaves the gauge out of the scrape.
    const optional = (d: MetricDef, read: () => number | null): void => {
      new Gauge({
        name: d.name,
        help: d.help,
        registers: r,
        collect() {
          const n = read();
          if (n === null) this.reset();
          else this.set(n);
        },
      });
    };
    optional(METRICS.processFds, countFds);
    optional(METRICS.processMaxFds, () => {
      const limits = readProcSelf('limits');
      return limits === null ? null : parseMaxFds(limits);
    });
    optional(METRICS.processVirtualMemory, () => {
      const stat = readProcSelf('stat');
      return stat === null ? null : parseVsize(stat);
    });
    new Gauge({ name: METRICS.processStart.name, help: METRICS.processStart.help, registers: r }).set(Math.round(Date.now() / 1000 - process.uptime()));
  }
}
