// `coredns-healthd run`: the wiring. One sweep = discover (config/options.ts
// maps the configuration, the same way `check` does), probe, update health and
// metrics, hand the report to the diagnosis and to Kubernetes. When sweeps run
// is the scheduler's job (./scheduler.ts); what is logged about them,
// ./sweep-log.ts; /status, ./status.ts. Each sweep reads the current
// configuration, so a reload applies from the next sweep on.
//
// systemd: READY=1 after the first completed sweep; WATCHDOG=1 after every
// sweep and while the loop is alive (./scheduler.ts); STATUS= with the
// /healthz reason; RELOADING=1 ... READY=1 around SIGHUP; STOPPING=1 first
// thing on shutdown.
//
// Diagnosis: after each sweep, once health and sd_notify are done, in the
// background with at most one in flight (src/diagnose/runner.ts).
//
// Kubernetes (src/daemon/kubernetes.ts, KubeRuntime): the watched CoreDNS pods
// and DNS Service are added to every sweep's targets, the expected answer
// of kubernetes.default.svc.<clusterDomain> to its queries, pod names to its
// vantages; each report goes to the remedy engine in the background (never
// awaited: the API server never slows probing). Without a kubeconfig it is
// inert and /status says so.
//
// Hot path: no closure is created per sweep or per probe (`rows.filter((r) =>
// ...)`, `.map`, `.sort` comparators, callbacks written inside a per-sweep
// function). Each such arrow is a new function object every call; V8 optimizes
// it once it is hot, but the optimized code is held only weakly and is dropped
// at each mark-compact GC (the unit runs with --heap-growing-percent=20, about
// one every 5 s), so TurboFan compiled the same sites again and again: about 7
// compiles a second (8-13 % of the CPU per sweep at 250 vantages). Per-sweep
// code uses module-level named functions, or plain loops when the callback
// would capture locals. `npm run bench -- --daemon` with --log-code shows what
// still compiles (README, Benchmark).
//
// Shutdown: cancel every in-flight probe (the native engine answers them
// 'cancelled' at once), wait a little for the sweep to unwind, close the HTTP
// server. Bounded: well under systemd's TimeoutStopSec.
import { canWatchLinks, cancelAll as nativeCancelAll, engineStats as nativeEngineStats } from '../netns/binding.js';
import type { ConfigHolder, ReloadResult } from '../config/reloader.js';
import { SETTINGS, type Config } from '../config/schema.js';
import { DaemonDiagnosis, type FindingChangeHook } from '../diagnose/runner.js';
import { findingEvent, type DiagnoseContext, type Finding, type KubeFacts } from '../diagnose/index.js';
import { DiscoveryCache, type Discovery, type DiscoverOptions } from '../discovery/discover.js';
import { HealthModel } from '../health/model.js';
import { RECENT_SWEEPS, type SweepInfo } from '../health/status.js';
import { evaluate, evaluateAll, type Group, type Verdict, type VerdictInput } from '../health/verdict.js';
import { createHandler } from '../http/routes.js';
import { connectionLimit } from '../http/limits.js';
import { HttpServer, type BoundAddress } from '../http/server.js';
import { describeWebConfig, PLAIN_WEB_CONFIG, type WebConfig } from '../http/web-config.js';
import type { Logger } from '../log.js';
import { DaemonMetrics, type EngineView } from '../metrics/registry.js';
import type { Query, SweepPlanReport, SweepReport, Vantage, VantageReport } from '../model.js';
import { Notifier } from './notify.js';
import { SweepScheduler, maxSweepMs } from './scheduler.js';
import { SweepLog } from './sweep-log.js';
import { RecentDecisions, daemonStatus, statusLine } from './status.js';
import type { RemedyDecision } from '../remedy/decision.js';
import { KubeRuntime, type KubeRuntimeOptions } from './kubernetes.js';
import { budgetOptions, discoveryOptions, sweepOptions } from '../config/options.js';
import { errorMessage } from '../text/untrusted.js';
import { runSweep, type SweepOptions } from '../probe/sweep.js';
import { ResolvConfReuse, rereadEvery } from '../probe/resolv-conf-reuse.js';
import { VantageOpener } from '../netns/guard.js';
import { HostLinkWatch } from '../diagnose/link-watch.js';
import { Rotation } from '../probe/plan.js';

/** How long shutdown waits for the cancelled sweep to unwind before closing anyway. */
export const STOP_WAIT_MS = 2_000;
/** How long shutdown waits for Kubernetes (releasing the Lease, pending Events). */
export const KUBE_STOP_WAIT_MS = 5_000;

/** How the daemon builds its KubeRuntime (tests: no $KUBECONFIG, short timeouts). */
export type DaemonKubeOptions = Pick<KubeRuntimeOptions, 'env' | 'inClusterRoot' | 'requestTimeoutMs' | 'backoff' | 'pollMs'>;

export interface DaemonDeps {
  discover?: (opts: DiscoverOptions) => Promise<Discovery>;
  /**
   * The discovery cache: its discover() is used when `discover` is not given,
   * and its forget() hears of the PIDs of vantages a sweep found gone. Default
   * a new one (none when `discover` is given).
   */
  discoveryCache?: Pick<DiscoveryCache, 'discover' | 'forget'>;
  sweep?: (vantages: Vantage[], opts: SweepOptions) => Promise<SweepReport>;
  cancelAll?: () => void;
  engineStats?: () => EngineView | null;
  now?: () => Date;
  random?: () => number;
  /** Default maxSweepMs(). */
  maxSweepMs?: (c: Config) => number;
  /** How long stop() waits for a sweep or diagnosis in flight; default STOP_WAIT_MS. */
  stopWaitMs?: number;
  /** Default diagnoseSweep. */
  diagnose?: (report: SweepReport, ctx: DiagnoseContext) => Promise<Finding[]>;
  /** Kubernetes data for the diagnosis (DNS Service IPs, each pod's dnsPolicy); read once per diagnosis. */
  kubeFacts?: () => KubeFacts | undefined;
  /**
   * Called once per finding when it appears and once when it clears (after
   * the log line); e.g. to write a Kubernetes Event: findingEvent(f, change).
   * Not awaited; a throw or rejection is logged.
   */
  onFindingChange?: FindingChangeHook;
  /** Host interface changes as a diagnosis trigger; null: none. Default: the addon's watch, when it has one. */
  linkWatch?: HostLinkWatch | null;
}

export interface DaemonOptions {
  holder: ConfigHolder;
  log: Logger;
  version: string;
  /** Default: from $NOTIFY_SOCKET / $WATCHDOG_USEC. */
  notifier?: Notifier;
  deps?: DaemonDeps;
  /** Options of the Kubernetes runtime built from the configuration. */
  kube?: DaemonKubeOptions;
  /**
   * The web configuration (TLS, basic auth) of the holder's current configuration:
   * webConfigLoader(...).current, whose load the holder uses. Required when
   * http.webConfigFile is set; default plain HTTP.
   */
  web?: () => WebConfig;
}

/** Setting keys whose value differs between two configurations. */
export function changedKeys(a: Config, b: Config): string[] {
  const get = (c: Config, key: string): unknown => key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], c);
  return SETTINGS.map((s) => s.key).filter((k) => JSON.stringify(get(a, k)) !== JSON.stringify(get(b, k)));
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());

/** PIDs of the vantages the probe's guard refused this sweep. */
function unprobedPids(report: SweepReport): number[] {
  const pids: number[] = [];
  for (const r of report.vantages) if (r.status !== 'probed') pids.push(r.vantage.pid);
  return pids;
}

function failedRows(report: SweepReport): number {
  let n = 0;
  for (const r of report.rows) if (!r.result.ok) n++;
  return n;
}

export class Daemon {
  readonly metrics: DaemonMetrics;
  readonly health: HealthModel;
  readonly notifier: Notifier;
  readonly #holder: ConfigHolder;
  readonly #log: Logger;
  readonly #version: string;
  readonly #http: HttpServer;
  readonly #web: () => WebConfig;
  readonly #discover: (opts: DiscoverOptions) => Promise<Discovery>;
  readonly #cache: Pick<DiscoveryCache, 'discover' | 'forget'> | null;
  readonly #sweep: (vantages: Vantage[], opts: SweepOptions) => Promise<SweepReport>;
  readonly #cancelAll: () => void;
  readonly #stopWaitMs: number;
  readonly #now: () => Date;
  readonly #startedAt: Date;
  readonly #diagnosis: DaemonDiagnosis;
  readonly #kube: KubeRuntime;
  readonly #scheduler: SweepScheduler;
  readonly #sweepLog: SweepLog;
  readonly #decisions = new RecentDecisions();
  /** Aborted by stop(): a paced sweep's vantages that have not started yet never start. */
  readonly #abort = new AbortController();
  /** resolv.conf reads kept across sweeps (src/probe/resolv-conf-reuse.ts); made again when the interval changes. */
  #resolvConfReuse: ResolvConfReuse | null = null;
  readonly #linkWatch: HostLinkWatch | null;
  /** Holds each probed process's /proc/<pid> across sweeps (netns/guard.ts); a new one when discovery.procRoot changes. */
  #opener: { procRoot: string; opener: VantageOpener } | null = null;
  #lastSweep: SweepInfo | null = null;
  #recentSweeps: SweepInfo[] = [];
  #lastVantages: VantageReport[] = [];
  /** The probe budget's memory of when each pair was last probed: kept across sweeps (and reloads). */
  readonly #rotation = new Rotation();
  #lastPlan: SweepPlanReport | null = null;
  #rotationWarned = false;
  /** The last sweep's queries (with Kubernetes' expected answer). */
  #queries: readonly Query[] = [];
  #sweeps = 0;
  #ready = false;
  #stopping = false;
  #stopped: Promise<void> | null = null;
  #resolveDone!: () => void;
  readonly done: Promise<void>;

  /** Throws a KubeConfigError when a configured (or $KUBECONFIG) kubeconfig cannot be used. */
  constructor(options: DaemonOptions) {
    this.#holder = options.holder;
    this.#log = options.log;
    this.#version = options.version;
    if (!options.web && this.#holder.current.http.webConfigFile !== '') {
      throw new Error('Daemon: http.webConfigFile is set but no web configuration was given (options.web)');
    }
    this.#web = options.web ?? (() => PLAIN_WEB_CONFIG);
    this.notifier = options.notifier ?? new Notifier({ log: options.log });
    const deps = options.deps ?? {};
    const cache = deps.discoveryCache ?? (deps.discover ? null : new DiscoveryCache());
    this.#cache = cache;
    this.#discover = deps.discover ?? ((o) => cache!.discover(o));
    this.#sweep = deps.sweep ?? ((v, o) => runSweep(v, o));
    this.#cancelAll = deps.cancelAll ?? nativeCancelAll;
    this.#stopWaitMs = deps.stopWaitMs ?? STOP_WAIT_MS;
    this.#now = deps.now ?? (() => new Date());
    this.#startedAt = this.#now();
    this.health = new HealthModel(this.#holder.current.health);
    this.metrics = new DaemonMetrics({ version: this.#version, engineStats: deps.engineStats ?? nativeEngineStats });
    this.metrics.setConfigReload(this.#holder.lastReload.ok, this.#holder.lastSuccess);
    this.#sweepLog = new SweepLog(this.#log, this.metrics);
    const every = this.notifier.watchdogIntervalMs;
    this.#scheduler = new SweepScheduler({
      sweep: () => this.#sweepOnce(),
      config: () => this.config,
      random: deps.random ?? Math.random,
      maxSweepMs: deps.maxSweepMs ?? maxSweepMs,
      watchdog: every === null ? null : { intervalMs: every, ping: () => this.notifier.watchdog() },
    });
    const kube = new KubeRuntime({
      ...options.kube,
      config: this.#holder.current,
      logger: this.#log,
      onDecision: (d) => this.#decided(d),
      onOomKill: () => this.metrics.oomKills(),
    });
    this.#kube = kube;
    const linkWatch =
      deps.linkWatch === undefined
        ? canWatchLinks()
          ? new HostLinkWatch({ onError: (message) => this.#log.debug('interface watch failed; every vantage counts as changed', { message }) })
          : null
        : deps.linkWatch;
    this.#linkWatch = linkWatch;
    this.#diagnosis = new DaemonDiagnosis({
      ...(linkWatch ? { linkWatch } : {}),
      log: this.#log,
      metrics: this.metrics,
      ...(deps.diagnose ? { diagnose: deps.diagnose } : {}),
      kubeFacts: deps.kubeFacts ?? (() => kube.kubeFacts()),
      onFindingChange:
        deps.onFindingChange ??
        ((f, change) => {
          const ev = findingEvent(f, change);
          if (ev) kube.event(ev);
        }),
    });
    this.#http = new HttpServer(
      createHandler(
        {
          metrics: async () => {
            this.metrics.setHealth(evaluateAll(this.#verdictInput()));
            this.metrics.setFreshness(this.health.checks(), this.#now());
            return { contentType: this.metrics.contentType, body: await this.metrics.scrape() };
          },
          health: (group) => this.verdict(group),
          status: () => this.status(),
        },
        this.#log,
      ),
      { log: this.#log, web: this.#web() },
    );
    this.done = new Promise((resolve) => (this.#resolveDone = resolve));
  }

  get config(): Config {
    return this.#holder.current;
  }

  get bound(): BoundAddress | null {
    return this.#http.bound;
  }

  /** The Kubernetes side (inert without a kubeconfig). */
  get kube(): KubeRuntime {
    return this.#kube;
  }

  /** Sweeps completed. */
  get sweeps(): number {
    return this.#sweeps;
  }

  /** Binds the HTTP server (throws when it cannot), then starts sweeping. */
  async start(): Promise<BoundAddress> {
    const c = this.config;
    this.#applyConnectionLimit(c);
    const bound = await this.#http.listen(c.http.listen);
    this.#log.info('http listening', {
      listen: c.http.listen,
      address: bound.address,
      port: bound.port,
      maxConnections: this.#http.maxConnections,
      ...this.#webFields(this.#http.web),
    });
    this.#log.info('started', {
      version: this.#version,
      configFile: this.#holder.file,
      interval: c.interval,
      transports: c.probe.transports,
      targets: c.targets,
      systemd: this.notifier.enabled,
      watchdogUsec: this.notifier.watchdogUsec,
      // Without Kubernetes, why (and nothing else is logged about it); with it, the runtime logs its own start.
      ...(this.#kube.connected ? {} : { kubernetes: this.#kube.connection.detail ?? 'not used' }),
    });
    if (this.#kube.connected) this.#kube.start();
    this.#linkWatch?.start();
    this.#scheduler.start();
    return bound;
  }

  verdict(group: Group): Verdict {
    return evaluate(group, this.#verdictInput());
  }

  /** Active diagnosis findings, as last seen. */
  findings(): Finding[] {
    return this.#diagnosis.active();
  }

  status(): Record<string, unknown> {
    const now = this.#now();
    const input = this.#verdictInput(now);
    return daemonStatus({
      ...input,
      version: this.#version,
      startedAt: this.#startedAt,
      sweeps: this.#sweeps,
      lastSweep: this.#lastSweep,
      recentSweeps: this.#recentSweeps,
      intervalMs: this.config.interval,
      sweepRunning: this.#scheduler.sweepRunning,
      vantages: this.#lastVantages,
      verdicts: evaluateAll(input),
      discovery: { docker: this.#sweepLog.dockerNote, scanErrors: this.#sweepLog.scanErrors },
      config: { file: this.#holder.file, lastReloadAt: this.#holder.lastReload.at, lastReloadOk: this.#holder.lastReload.ok },
      diagnosis: this.#diagnosis.statusFields(),
      kube: this.#kube.status(),
      decisions: this.#decisions.list,
      plan: this.#lastPlan,
      rotationSweeps: (cls) => this.health.rotationSweeps(cls),
    });
  }

  /** SIGHUP: re-reads the configuration; a bad one keeps the last good one. Never throws. */
  reload(): ReloadResult {
    this.notifier.reloading('reloading the configuration');
    const previous = this.config;
    const result = this.#holder.reload();
    this.metrics.setConfigReload(this.#holder.lastReload.ok, this.#holder.lastSuccess);
    if (!result.ok) {
      this.#log.error('configuration reload failed; keeping the last good configuration', {
        file: this.#holder.file,
        problems: result.error.problems.map((p) => ({ ...p })),
      });
    } else {
      const next = this.config;
      const changed = changedKeys(previous, next);
      this.#log.info(changed.length ? 'configuration reloaded' : 'configuration reloaded, unchanged', { file: this.#holder.file, changed });
      if (next.log.level !== previous.log.level) this.#log.setLevel(next.log.level);
      this.#kube.reload(next);
      this.#applyConnectionLimit(next);
      // Not awaited: reload answers at once; #reconfigureHttp logs its own outcome and never rejects.
      // The web configuration was read again with the configuration (certificates rotate on reload).
      const web = this.#web();
      if (next.http.listen !== previous.http.listen || web !== this.#http.web) void this.#reconfigureHttp(next.http.listen, web);
      if (next.interval !== previous.interval || next.jitter !== previous.jitter) this.#scheduler.reschedule();
    }
    // READY=1 ends the reload; before the first sweep it would announce a daemon that has not probed yet.
    if (this.#ready) this.notifier.ready(this.#statusLine());
    else this.notifier.status('configuration reloaded; waiting for the first sweep');
    return result;
  }

  /** Stops sweeping, cancels in-flight probes, closes the HTTP server. Idempotent. */
  stop(reason = 'stop'): Promise<void> {
    this.#stopped ??= this.#stop(reason);
    return this.#stopped;
  }

  #openerFor(procRoot: string): VantageOpener {
    if (this.#opener?.procRoot !== procRoot) {
      this.#opener?.opener.close();
      this.#opener = { procRoot, opener: new VantageOpener(procRoot) };
    }
    return this.#opener.opener;
  }

  async #stop(reason: string): Promise<void> {
    this.#stopping = true;
    this.notifier.stopping(`stopping (${reason})`);
    this.#log.info('stopping', { reason });
    this.#scheduler.stop();
    this.#abort.abort(new Error('the daemon is stopping'));
    // A diagnosis in flight says nothing any more: its results are dropped; it shares the sweep's grace.
    this.#diagnosis.stop();
    const diagnosing = this.#diagnosis.running ?? Promise.resolve();
    const running = this.#scheduler.running;
    if (running) {
      // Probes submitted while we cancel (a vantage that was still reading its resolv.conf) are caught by the repeats.
      this.#cancelAll();
      const repeat = setInterval(() => this.#cancelAll(), 100);
      await Promise.race([Promise.all([running, diagnosing]), sleep(this.#stopWaitMs)]);
      clearInterval(repeat);
    } else {
      await Promise.race([diagnosing, sleep(this.#stopWaitMs)]);
    }
    this.#opener?.opener.close();
    await this.#stopKube();
    await this.#http.close();
    this.#log.info('stopped', { reason, sweeps: this.#sweeps });
    this.#resolveDone();
  }

  /** Stops the watches and the remedy engine (releasing the Lease); bounded, never throws. */
  async #stopKube(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), KUBE_STOP_WAIT_MS);
      timer.unref();
    });
    const stopped = this.#kube.stop().then(
      () => false,
      (err: unknown) => {
        this.#log.error('stopping the Kubernetes side failed', { err });
        return false;
      },
    );
    if (await Promise.race([stopped, timedOut]))
      this.#log.warn('Kubernetes did not stop in time (Lease release, Events); stopping anyway', { waitedMs: KUBE_STOP_WAIT_MS });
    clearTimeout(timer);
  }

  /** A remedy decision (already logged by the runtime): counted, and the latest kept for /status. */
  #decided(d: RemedyDecision): void {
    this.metrics.remedyDecision(d.action, d.result, d.reason);
    this.#decisions.add(d);
  }

  #verdictInput(now = this.#now()): VerdictInput {
    const c = this.config;
    return {
      checks: this.health.checks(),
      lastSweepAt: this.#lastSweep?.completedAt ?? null,
      now,
      staleAfterMs: c.health.staleAfter,
      override: c.health.override,
    };
  }

  #statusLine(): string {
    return statusLine(this.verdict('all').reason, this.#lastVantages.length, this.#sweeps);
  }

  async #sweepOnce(): Promise<void> {
    const c = this.config;
    const t0 = process.hrtime.bigint();
    this.health.setThresholds(c.health);
    let report: SweepReport;
    try {
      const found = await this.#discover(discoveryOptions(c));
      this.#sweepLog.discovery(found);
      if (this.#stopping) return;
      const opts = sweepOptions(c);
      opts.targets = [...opts.targets, ...this.#kube.sweepTargets()];
      opts.queries = this.#kube.queries(opts.queries);
      opts.signal = this.#abort.signal;
      const every = rereadEvery(c.interval);
      if (this.#resolvConfReuse?.every !== every) this.#resolvConfReuse = new ResolvConfReuse(every);
      opts.resolvConfReuse = this.#resolvConfReuse;
      opts.opener = this.#openerFor(opts.procRoot);
      opts.budget = { ...budgetOptions(c), rotation: this.#rotation };
      this.#queries = opts.queries;
      report = await this.#sweep(this.#kube.labelVantages(found.vantages), opts);
    } catch (err) {
      if (this.#stopping) return;
      const durationSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
      this.metrics.recordSweepError(durationSeconds);
      this.#log.error('sweep failed', { err });
      this.notifier.watchdog(`sweep failed: ${errorMessage(err)}`);
      return;
    }
    if (this.#stopping) return; // cancelled results say nothing about DNS
    // A vantage the probe's guard refused (its process exited, or its PID is another process now): read it again next time.
    this.#cache?.forget(unprobedPids(report));
    const completedAt = this.#now();
    const update = this.health.update(report, completedAt);
    // In the background: a slow or absent API server never delays probing (onSweep never throws).
    this.#kube.onSweep(report).catch((err: unknown) => this.#log.error('the remedy engine failed on a sweep', { err }));
    const checks = this.health.checks();
    this.metrics.recordSweep(report, checks, completedAt, this.config.metrics.perVantageDetail, (c.interval + c.jitter) / 1000);
    this.#lastPlan = report.plan ?? null;
    this.#logPlan(report);
    this.#sweeps++;
    this.#lastSweep = { number: this.#sweeps, startedAt: report.startedAt, completedAt, durationSeconds: report.durationSeconds };
    this.#recentSweeps = [...this.#recentSweeps.slice(1 - RECENT_SWEEPS), this.#lastSweep];
    this.#lastVantages = report.vantages;
    this.#sweepLog.transitions(update.transitions);
    this.#sweepLog.vantages(report.vantages);
    const verdicts = evaluateAll(this.#verdictInput(completedAt));
    this.metrics.setHealth(verdicts);
    const status = this.#statusLine();
    this.#log.debug('sweep done', {
      sweep: this.#sweeps,
      durationSeconds: report.durationSeconds,
      vantages: report.vantages.length,
      probes: report.rows.length,
      failed: failedRows(report),
      checks: checks.length,
      removed: update.removed.length,
    });
    if (!this.#ready) {
      this.#ready = true;
      this.#log.info('first sweep completed', {
        durationSeconds: report.durationSeconds,
        vantages: report.vantages.length,
        checks: checks.length,
        healthz: verdicts.all.reason,
      });
      this.notifier.ready(status);
      this.notifier.watchdog();
    } else {
      this.notifier.watchdog(status);
    }
    // The pairs the budget skipped this sweep take part with their last results.
    this.#diagnosis.submit(this.health.withCarriedRows(report, this.#queries), c, this.#sweeps);
  }

  /** Warns once when the budget leaves some pairs no slot at all (and once when that ends). */
  #logPlan(report: SweepReport): void {
    const plan = report.plan;
    if (!plan) return;
    const starved = plan.rotationSweeps === null;
    if (starved === this.#rotationWarned) return;
    this.#rotationWarned = starved;
    const groups = Object.fromEntries(Object.entries(plan.groups).map(([k, g]) => [k, { pairs: g.pairs, slots: g.slots }]));
    if (starved)
      this.#log.warn("probe budget too small: the host vantage's probes take it all, some pods' pairs are never probed; raise probe.maxQueriesPerSecond", {
        budgetQueries: plan.budget,
        groups,
      });
    else this.#log.info('probe budget covers every pair again', { budgetQueries: plan.budget, rotationSweeps: plan.rotationSweeps });
  }

  /** http.maxConnections, lowered when the fd limit would leave too little for probing (src/http/limits.ts). */
  #applyConnectionLimit(c: Config): void {
    const limit = connectionLimit(c);
    this.#http.maxConnections = limit.effective;
    if (!limit.lowered) return;
    this.#log.warn('http.maxConnections lowered to keep file descriptors for probing', {
      configured: limit.configured,
      effective: limit.effective,
      fdLimit: limit.fdLimit,
      reserve: limit.reserve,
      ...(limit.insufficient ? { hint: `the file descriptor limit is below what probing may need on a full node (${limit.reserve}); raise LimitNOFILE=` } : {}),
    });
  }

  /** Log fields of a web configuration; its warnings are logged on their own. */
  #webFields(web: WebConfig): Record<string, unknown> {
    for (const warning of web.warnings) this.#log.warn('web configuration', { file: web.file, warning });
    return web.file === null ? { tls: false } : { webConfigFile: web.file, ...describeWebConfig(web) };
  }

  async #reconfigureHttp(listen: string, web: WebConfig): Promise<void> {
    try {
      const { bound, action } = await this.#http.reconfigure(listen, web);
      if (action === 'updated') this.#log.info('http web configuration applied', { listen, ...this.#webFields(web) });
      else this.#log.info('http listening', { listen, address: bound.address, port: bound.port, ...this.#webFields(web) });
    } catch (err) {
      const still = this.#http.bound;
      this.#log.error('cannot move the HTTP server; it stays where it was', { listen, stillListening: still ? `${still.address}:${still.port}` : null, err });
    }
  }
}
