// The daemon in-process with stand-in discovery and sweeps (no network, no
// root): health URLs over time, hysteresis, staleness, override, reload,
// sd_notify, the watchdog's liveness rule, logs, a bounded stop, and the
// diagnosis (stand-in findings) in /status, the gauge, the log and the hook.
import http from 'node:http';
import t, { type Test } from 'tap';
import { ConfigError } from '../../src/config/errors.js';
import { loadConfigResult, type LoadResult } from '../../src/config/load.js';
import { ConfigHolder } from '../../src/config/reloader.js';
import { configTargets, discoveryOptions, sweepOptions } from '../../src/config/options.js';
import { changedKeys, Daemon, STOP_WAIT_MS, type DaemonDeps } from '../../src/daemon/daemon.js';
import { maxSweepMs } from '../../src/daemon/scheduler.js';
import { CLEAR_AFTER, MAX_FINDING_LOGS } from '../../src/diagnose/runner.js';
import type { DiagnoseContext, Finding, KubeFacts } from '../../src/diagnose/index.js';
import { nodeFinding, vantageFinding } from '../../src/diagnose/finding.js';
import type { FindingChange } from '../../src/diagnose/format.js';
import type { Reason, SweepReport, Vantage } from '../../src/model.js';
import { createLogger } from '../../src/log.js';
import { Notifier } from '../../src/daemon/notify.js';
import type { SweepOptions } from '../../src/probe/sweep.js';
import { HOST, POD_A, POD_B, report, row } from '../support/daemon-fixtures.js';

const BASE = {
  interval: '100ms',
  jitter: '0',
  'health.staleAfter': '5s',
  'health.failureThreshold': '2',
  'health.successThreshold': '1',
  'http.listen': '127.0.0.1:0',
  'kubernetes.enabled': 'false',
  'discovery.docker.enabled': 'false',
};

const configWith = (flags: Record<string, string> = {}): LoadResult => loadConfigResult({ file: false, env: {}, flags: { ...BASE, ...flags } });

function get(port: number, path: string, host = '127.0.0.1'): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host, port, path, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      })
      .on('error', reject);
  });
}

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** hold() makes the next sweep (or diagnosis) wait at the gate until release(). */
class Gated {
  gate: { promise: Promise<void>; release: () => void } | null = null;

  hold(): void {
    let release!: () => void;
    const promise = new Promise<void>((r) => (release = r));
    this.gate = { promise, release };
  }

  release(): void {
    const g = this.gate;
    this.gate = null;
    g?.release();
  }
}

/** Stand-in sweeps: a reason per vantage, an optional gate that holds a sweep, cancellation like the engine's. */
class Sweeper extends Gated {
  reasons = new Map<string, Reason>();
  vantages: Vantage[] = [HOST, POD_A];
  calls = 0;
  cancels = 0;
  /** While set, sweeps wait for it. */
  /** A held sweep ignores cancelAll (a stuck sweep). */
  deaf = false;
  #cancelled = false;
  lastOptions: SweepOptions | null = null;

  sweep = async (vantages: Vantage[], opts: SweepOptions): Promise<SweepReport> => {
    this.calls++;
    this.lastOptions = opts;
    this.#cancelled = false;
    if (this.gate) await this.gate.promise;
    const rows = vantages.flatMap((v) =>
      opts.transports.map((tr) => row(v, '10.96.0.10', tr, this.#cancelled ? 'cancelled' : (this.reasons.get(v.id) ?? 'ok'))),
    );
    return report(vantages, rows);
  };

  discover = async () => ({ vantages: this.vantages, docker: null, dockerRefreshed: false, scanErrors: [], scanned: 0 });

  cancelAll = (): void => {
    this.cancels++;
    if (this.deaf) return;
    this.#cancelled = true;
    this.release();
  };
}

interface Harness {
  daemon: Daemon;
  sweeper: Sweeper;
  holder: ConfigHolder;
  sent: string[];
  logs: () => Array<Record<string, unknown>>;
  port: number;
  setConfig(next: LoadResult | Error): void;
  skewMs: { value: number };
}

async function start(
  t: Test,
  opts: { flags?: Record<string, string>; env?: Record<string, string>; deps?: DaemonDeps; holdFirst?: boolean } = {},
): Promise<Harness> {
  const sweeper = new Sweeper();
  if (opts.holdFirst) sweeper.hold();
  let next: LoadResult | Error = configWith(opts.flags);
  const holder = new ConfigHolder({
    load: () => {
      if (next instanceof Error) throw next;
      return next;
    },
  });
  const lines: string[] = [];
  const log = createLogger({ level: holder.current.log.level, stream: { write: (s: string) => lines.push(s) } });
  const sent: string[] = [];
  const notifier = new Notifier({
    env: { NOTIFY_SOCKET: '@test', ...opts.env },
    send: (_s, m) => {
      sent.push(m);
      return null;
    },
  });
  const skewMs = { value: 0 };
  const daemon = new Daemon({
    holder,
    log,
    version: '0.0.0-test',
    notifier,
    deps: {
      discover: sweeper.discover,
      sweep: sweeper.sweep,
      cancelAll: sweeper.cancelAll,
      engineStats: () => ({ running: true, inFlight: 0, queued: 0, fatalErrno: 0 }),
      now: () => new Date(Date.now() + skewMs.value),
      diagnose: async () => [],
      ...opts.deps,
    },
  });
  t.teardown(() => {
    sweeper.release();
    return daemon.stop('test over');
  });
  const bound = await daemon.start();
  return {
    daemon,
    sweeper,
    holder,
    sent,
    logs: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
    port: bound.port,
    setConfig: (c) => (next = c),
    skewMs,
  };
}

const sweepsDone = (h: Harness, n: number) => waitFor(`${n} sweeps`, () => h.daemon.sweeps >= n);

t.test('503 before the first sweep, 200 after; READY=1 once, after the first sweep', async (t) => {
  const h = await start(t, { holdFirst: true });
  await waitFor('the first sweep to start', () => h.sweeper.calls === 1);
  const before = await get(h.port, '/healthz');
  t.same(before, { status: 503, body: 'starting: no sweep has completed yet\n' });
  t.equal((await get(h.port, '/healthz/host')).status, 503);
  h.daemon.reload();
  t.notOk(
    h.sent.some((m) => m.includes('READY=1')),
    'not ready yet, a reload does not announce it either',
  );
  t.equal(h.sent.at(-1), 'STATUS=configuration reloaded; waiting for the first sweep');
  const status = JSON.parse((await get(h.port, '/status')).body);
  t.equal(status.sweep.running, true);
  t.equal(status.sweep.last, null);

  h.sweeper.release();
  await sweepsDone(h, 3);
  t.same(await get(h.port, '/healthz'), { status: 200, body: 'ok: 4 checks healthy\n' });
  t.same(await get(h.port, '/healthz/pods'), { status: 200, body: 'ok: 2 pods checks healthy\n' });
  const ready = h.sent.filter((m) => m.split('\n').includes('READY=1'));
  t.equal(ready.length, 1);
  t.match(ready[0], /^READY=1\nSTATUS=ok: 4 checks healthy \(2 vantages, 1 sweeps\)$/);
  t.ok(h.sent.filter((m) => m.startsWith('STATUS=')).length >= 1, 'later sweeps update STATUS (no watchdog configured)');
  t.notOk(
    h.sent.some((m) => m.includes('WATCHDOG=1')),
    'no WATCHDOG=1 without WATCHDOG_USEC',
  );
  const info = h
    .logs()
    .filter((r) => r.level === 'info')
    .map((r) => r.msg);
  t.same(info, ['http listening', 'started', 'configuration reloaded, unchanged', 'first sweep completed'], 'no info line per sweep or probe');
  t.same(h.logs()[0], { ...h.logs()[0], msg: 'http listening', address: '127.0.0.1', port: h.port });
});

t.test('failures past failureThreshold: 503 for the failing groups only, one warn per check', async (t) => {
  const h = await start(t);
  await sweepsDone(h, 1);
  const n = h.daemon.sweeps;
  h.sweeper.reasons.set(POD_A.id, 'timeout');
  await sweepsDone(h, n + 1);
  t.equal((await get(h.port, '/healthz')).status, 200, 'one failure is under the threshold of 2');
  await sweepsDone(h, n + 3);
  const all = await get(h.port, '/healthz');
  t.equal(all.status, 503);
  t.match(all.body, /^unhealthy: 2 of 4 checks failing: default\/web-1 -> 10\.96\.0\.10:53 (udp|tcp) kubernetes\.default\.svc\.cluster\.local A: timeout/);
  t.equal((await get(h.port, '/healthz/pods')).status, 503);
  t.equal((await get(h.port, '/healthz/host')).status, 200);
  t.equal((await get(h.port, '/healthz/udp')).status, 503);
  const warns = h.logs().filter((r) => r.msg === 'check unhealthy');
  t.equal(warns.length, 2, 'one line per check, not per sweep');
  t.match(warns[0], {
    level: 'warn',
    vantage: 'default/web-1',
    pod: 'default/web-1',
    target: '10.96.0.10:53',
    reason: 'timeout',
    previous: 'healthy',
    state: 'unhealthy',
    consecutiveFailures: 2,
  });

  const status = JSON.parse((await get(h.port, '/status')).body);
  const failing = status.checks.filter((c: { state: string }) => c.state === 'unhealthy');
  t.same(failing.map((c: { vantage: string; transport: string }) => `${c.vantage} ${c.transport}`).sort(), ['default/web-1 tcp', 'default/web-1 udp']);
  t.equal(failing[0].last.reason, 'timeout');

  const metrics = (await get(h.port, '/metrics')).body;
  t.match(
    metrics,
    /coredns_healthd_check_healthy\{vantage="default\/web-1",target="10\.96\.0\.10:53",transport="udp",query="kubernetes\.default\.svc\.cluster\.local A"\} 0/,
  );
  t.match(metrics, /coredns_healthd_healthy\{group="host"\} 1/);
  t.match(metrics, /coredns_healthd_healthy\{group="pods"\} 0/);

  h.sweeper.reasons.delete(POD_A.id);
  await waitFor('recovery', async () => (await get(h.port, '/healthz')).status === 200);
  t.equal(h.logs().filter((r) => r.msg === 'check healthy again').length, 2);
});

t.test('a vantage that disappears leaves /status and /metrics', async (t) => {
  const h = await start(t);
  h.sweeper.vantages = [HOST, POD_A, POD_B];
  await waitFor('POD_B probed', async () => (await get(h.port, '/metrics')).body.includes('netns:[4026532002]'));
  h.sweeper.vantages = [HOST, POD_A];
  const n = h.daemon.sweeps;
  await sweepsDone(h, n + 1);
  t.notMatch((await get(h.port, '/metrics')).body, /4026532002/);
  const status = JSON.parse((await get(h.port, '/status')).body);
  t.notOk(JSON.stringify(status).includes('4026532002'));
  t.equal(h.daemon.health.size, 4);
});

t.test('stale: the last sweep is older than health.staleAfter', async (t) => {
  const h = await start(t);
  await sweepsDone(h, 1);
  h.sweeper.hold(); // the loop stalls in its next sweep
  await waitFor('a held sweep', () => h.sweeper.gate !== null && h.sweeper.calls > h.daemon.sweeps);
  h.skewMs.value = 6_000;
  const r = await get(h.port, '/healthz');
  t.equal(r.status, 503);
  t.match(r.body, /^stale: the last sweep completed \d+(\.\d)?s ago, more than health\.staleAfter \(5s\)/);
  t.equal((await get(h.port, '/healthz/tcp')).status, 503, 'every group');
  t.match((await get(h.port, '/metrics')).body, /coredns_healthd_healthy\{group="all"\} 0/);
  h.skewMs.value = 0;
  t.equal((await get(h.port, '/healthz')).status, 200);
});

t.test('SIGHUP reload: override applies at once; a bad file keeps the last good config; RELOADING/READY', async (t) => {
  const h = await start(t);
  await sweepsDone(h, 1);
  const sentBefore = h.sent.length;
  h.setConfig(configWith({ 'health.override': 'unhealthy' }));
  const r1 = h.daemon.reload();
  t.same([r1.ok, r1.changed], [true, true]);
  t.same((await get(h.port, '/healthz')).body, 'unhealthy: maintenance override (health.override is "unhealthy")\n');
  t.equal((await get(h.port, '/healthz/host')).status, 503);
  const around = h.sent.slice(sentBefore);
  t.match(around[0], /^RELOADING=1\nMONOTONIC_USEC=\d+\nSTATUS=reloading the configuration$/);
  t.match(around[1], /^READY=1\nSTATUS=unhealthy: maintenance override/);
  t.match(
    h.logs().find((l) => l.msg === 'configuration reloaded'),
    { changed: ['health.override'] },
  );

  const good = h.holder.lastSuccess;
  h.setConfig(new ConfigError([{ source: '/etc/coredns-healthd.json', key: 'interval', message: 'must be a duration' }]));
  const r2 = h.daemon.reload();
  t.equal(r2.ok, false);
  t.equal(h.daemon.config.health.override, 'unhealthy', 'the last good configuration stays');
  t.equal((await get(h.port, '/healthz')).status, 503);
  const failed = h.logs().find((l) => l.msg === 'configuration reload failed; keeping the last good configuration');
  t.match(failed, { level: 'error', problems: [{ source: '/etc/coredns-healthd.json', key: 'interval', message: 'must be a duration' }] });
  const metrics = (await get(h.port, '/metrics')).body;
  t.match(metrics, /^coredns_healthd_config_last_reload_successful 0$/m);
  t.match(metrics, new RegExp(`^coredns_healthd_config_last_reload_success_timestamp_seconds ${good.getTime() / 1000}$`, 'm'));

  h.setConfig(configWith({ 'health.override': 'healthy' }));
  h.sweeper.reasons.set(HOST.id, 'refused');
  h.daemon.reload();
  const n = h.daemon.sweeps;
  await sweepsDone(h, n + 3);
  t.equal((await get(h.port, '/healthz')).status, 200, 'forced healthy while checks fail');
  t.equal(JSON.parse((await get(h.port, '/status')).body).health.host.reason, 'ok: maintenance override (health.override is "healthy")');
  t.match((await get(h.port, '/metrics')).body, /^coredns_healthd_config_last_reload_successful 1$/m);
});

t.test('reload: sweep settings apply from the next sweep; a new interval moves the pending sweep; a new listen address rebinds', async (t) => {
  const h = await start(t, { flags: { interval: '1h', 'health.staleAfter': '2h' } });
  await sweepsDone(h, 1);
  await new Promise((r) => setTimeout(r, 200));
  t.equal(h.daemon.sweeps, 1, 'the next sweep is an hour away');
  h.setConfig(
    configWith({
      interval: '50ms',
      'probe.timeout': '700ms',
      'probe.transports': 'udp',
      targets: '10.0.0.9:5353,10.0.0.8',
      dnsPort: '5300',
      'http.listen': '127.0.0.1:0',
      'log.level': 'debug',
    }),
  );
  h.daemon.reload();
  await sweepsDone(h, 3);
  t.same(h.sweeper.lastOptions, {
    ...h.sweeper.lastOptions,
    timeoutMs: 700,
    transports: ['udp'],
    dnsPort: 53,
    targets: [
      { server: '10.0.0.9', port: 5353, source: 'static' },
      { server: '10.0.0.8', port: 5300, source: 'static' },
    ],
  });
  t.ok(
    h.logs().some((l) => l.level === 'debug' && l.msg === 'sweep done'),
    'the new log level applies at once',
  );
  h.setConfig(configWith({ interval: '50ms', 'http.listen': '127.0.0.2:0' }));
  h.daemon.reload();
  await waitFor('the rebind', () => h.daemon.bound?.address === '127.0.0.2');
  t.equal((await get(h.daemon.bound!.port, '/healthz', '127.0.0.2')).status, 200, 'answers on the new address');
  const listening = h.logs().filter((l) => l.msg === 'http listening');
  t.equal(listening.length, 2);
  t.match(listening[1], { address: '127.0.0.2', port: h.daemon.bound!.port });
  await t.rejects(get(h.port, '/healthz'), /ECONNREFUSED/, 'the old address is closed');
});

t.test('a sweep that fails (procRoot unreadable) is counted and logged; no READY before a sweep completes', async (t) => {
  let fail = true;
  const h = await start(t, {
    deps: {
      discover: async () => {
        if (fail) throw new Error('procRoot /nope: cannot list processes (ENOENT)');
        return { vantages: [HOST], docker: null, dockerRefreshed: false, scanErrors: [], scanned: 0 };
      },
    },
  });
  await waitFor('failed sweeps', async () => /coredns_healthd_sweeps_total\{result="error"\} [2-9]/.test((await get(h.port, '/metrics')).body));
  t.equal((await get(h.port, '/healthz')).status, 503);
  t.notOk(h.sent.some((m) => m.includes('READY=1')));
  t.match(
    h.sent.find((m) => m.startsWith('STATUS=sweep failed')),
    /cannot list processes/,
  );
  t.match(
    h.logs().find((l) => l.msg === 'sweep failed'),
    { level: 'error', err: { message: /cannot list processes/ } },
  );
  fail = false;
  await waitFor('READY', () => h.sent.some((m) => m.includes('READY=1')));
  t.equal((await get(h.port, '/healthz')).status, 200);
});

t.test('watchdog: WATCHDOG=1 after each sweep and on a timer, but not while a sweep is stuck', async (t) => {
  const h = await start(t, { flags: { interval: '1h', 'health.staleAfter': '2h' }, env: { WATCHDOG_USEC: '100000' }, deps: { maxSweepMs: () => 300 } });
  await sweepsDone(h, 1);
  const count = () => h.sent.filter((m) => m.split('\n').includes('WATCHDOG=1')).length;
  const idle = count();
  await new Promise((r) => setTimeout(r, 400));
  t.ok(count() >= idle + 3, `pings on the timer between sweeps (${count() - idle} in 400 ms at 50 ms)`);

  h.sweeper.hold();
  h.sweeper.deaf = true;
  h.setConfig(configWith({ interval: '50ms', 'health.staleAfter': '2h' }));
  h.daemon.reload();
  await waitFor('the stuck sweep', () => h.sweeper.calls === 2);
  await new Promise((r) => setTimeout(r, 400)); // past the 300 ms deadline
  const stuck = count();
  await new Promise((r) => setTimeout(r, 400));
  t.equal(count(), stuck, 'no pings from a sweep loop that is stuck');
  h.sweeper.deaf = false;
  h.sweeper.release();
  await waitFor('pings again', () => count() > stuck);
  t.equal(
    maxSweepMs(h.daemon.config),
    5_000 + h.daemon.config.interval / 2 + 2 * 2 * 2_000 + 30_000,
    'the default deadline: Docker + the spread (half the interval) + attempts × 2 timeouts + 30 s',
  );
});

t.test('stop: STOPPING=1, in-flight probes cancelled, HTTP closed, done resolves; a deaf sweep does not hold it', async (t) => {
  const h = await start(t);
  await sweepsDone(h, 1);
  h.sweeper.hold();
  await waitFor('a sweep in flight', () => h.sweeper.gate !== null && h.sweeper.calls > h.daemon.sweeps);
  const n = h.daemon.sweeps;
  t.equal(h.sweeper.lastOptions?.signal?.aborted, false, 'the sweep got the stop signal, not aborted yet');
  await h.daemon.stop('SIGTERM');
  t.ok(h.sweeper.cancels >= 1, 'cancelAll was called');
  t.equal(h.sweeper.lastOptions?.signal?.aborted, true, "stop aborts the paced sweep's signal: vantages not started never start");
  t.equal(h.daemon.sweeps, n, 'the cancelled sweep is not recorded');
  t.match(h.sent.at(-1), /^STOPPING=1\nSTATUS=stopping \(SIGTERM\)$/);
  await t.rejects(get(h.port, '/healthz'), /ECONNREFUSED/);
  await h.daemon.done;
  const calls = h.sweeper.calls;
  await new Promise((r) => setTimeout(r, 300));
  t.equal(h.sweeper.calls, calls, 'no sweep after stop');
  t.same(
    h
      .logs()
      .slice(-2)
      .map((l) => l.msg),
    ['stopping', 'stopped'],
  );

  // stop() waits STOP_WAIT_MS (2 s) for a sweep in flight; 300 ms here, three times cancelAll's repeat.
  const deaf = await start(t, { deps: { stopWaitMs: 300 } });
  await sweepsDone(deaf, 1);
  deaf.sweeper.deaf = true;
  deaf.sweeper.hold();
  await waitFor('a deaf sweep in flight', () => deaf.sweeper.calls > deaf.daemon.sweeps);
  const t0 = Date.now();
  await deaf.daemon.stop('SIGINT');
  const took = Date.now() - t0;
  t.ok(took < 5_000, `stop returned in ${took} ms although the sweep never ended`);
  t.equal(STOP_WAIT_MS, 2_000, 'the daemon waits 2 s for a sweep in flight');
  t.ok(deaf.sweeper.cancels > 1, 'cancelAll repeated while waiting');
});

t.test('helpers: options from the configuration, changed keys', (t) => {
  const c = configWith({
    targets: '10.0.0.1,[fd00::1]:5353',
    dnsPort: '5300',
    'discovery.containers': 'false',
    'discovery.docker.socketPath': '/x.sock',
  }).config;
  t.same(configTargets(c), [
    { server: '10.0.0.1', port: 5300, source: 'static' },
    { server: 'fd00::1', port: 5353, source: 'static' },
  ]);
  t.match(sweepOptions(c), { dnsPort: 53, ownNameservers: true, attempts: 2, timeoutMs: 2000, transports: ['udp', 'tcp'] });
  t.match(discoveryOptions(c), { containers: false, host: true, proc: true, docker: { enabled: false, socketPath: '/x.sock', timeoutMs: 5000 } });
  t.same(changedKeys(c, c), []);
  t.same(changedKeys(c, configWith({ interval: '200ms', 'health.override': 'healthy' }).config).sort(), [
    'discovery.containers',
    'discovery.docker.socketPath',
    'dnsPort',
    'health.override',
    'interval',
    'targets',
  ]);
  t.end();
});

// --- diagnosis ---

const BLOCKED = vantageFinding(POD_A, {
  code: 'firewall/blocked-locally',
  severity: 'error',
  message: 'A rule drops UDP to 10.96.0.10:53.',
  evidence: { protocol: 'udp', port: 53 },
  subject: 'udp/53',
});
const FILLING = nodeFinding({
  code: 'conntrack/table-filling',
  severity: 'warning',
  message: 'The conntrack table is 95% full.',
  evidence: { count: 95, max: 100 },
});

/** Stand-in diagnosis: returns `findings`, may be held or made to fail; counts concurrency. */
class Diagnoser extends Gated {
  findings: Finding[] = [];
  fail: Error | null = null;
  calls = 0;
  done = 0;
  inFlight = 0;
  maxInFlight = 0;
  contexts: DiagnoseContext[] = [];

  diagnose = async (_report: SweepReport, ctx: DiagnoseContext): Promise<Finding[]> => {
    this.calls++;
    this.contexts.push(ctx);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      if (this.gate) await this.gate.promise;
      if (this.fail) throw this.fail;
      return [...this.findings];
    } finally {
      this.inFlight--;
      this.done++;
    }
  };
}

/** Waits until `n` more diagnoses than now have completed and been applied. */
async function diagnosesDone(h: Harness, d: Diagnoser, n: number): Promise<void> {
  const target = d.done + n;
  await waitFor(`${n} more diagnoses`, () => d.done >= target && !(h.daemon.status().diagnosis as { running: boolean }).running);
}

const findingLogs = (h: Harness) => h.logs().filter((r) => r.finding !== undefined);
const gauge = (metrics: string, check: string, severity: string): number | undefined => {
  const m = new RegExp(`^coredns_healthd_findings\\{check="${check}",severity="${severity}"\\} (\\S+)$`, 'm').exec(metrics);
  return m ? Number(m[1]) : undefined;
};

t.test('findings: in /status and the gauge; logged once when they appear and once when they clear; the hook sees both', async (t) => {
  const d = new Diagnoser();
  const hook: Array<[string, FindingChange]> = [];
  const kube: KubeFacts = { dnsServiceIps: ['10.96.0.10'], pods: [] };
  const h = await start(t, { deps: { diagnose: d.diagnose, kubeFacts: () => kube, onFindingChange: (f, change) => void hook.push([f.id, change]) } });
  await diagnosesDone(h, d, 1);
  let status = h.daemon.status();
  t.same(status.findings, [], 'no findings yet');
  t.match(status.diagnosis, { running: false, skippedSweeps: 0, last: { sweep: Number, completedAt: String, durationSeconds: Number, error: null } });
  let metrics = (await get(h.port, '/metrics')).body;
  t.equal(gauge(metrics, 'firewall', 'error'), 0, 'zero series from the start');
  t.equal(gauge(metrics, 'conntrack', 'info'), 0);

  const ctx = d.contexts[0]!;
  t.equal(ctx.procRoot, h.daemon.config.discovery.procRoot, 'the context comes from the configuration');
  t.equal(ctx.conntrackThreshold, 0.9);
  t.equal(ctx.kube, kube, 'Kubernetes data from the kubeFacts hook');
  t.ok(ctx.state && d.contexts.every((c) => c.state === ctx.state), 'one diagnose state kept across sweeps');

  d.findings = [BLOCKED, FILLING];
  await waitFor('the findings in /status', async () => JSON.parse((await get(h.port, '/status')).body).findings.length === 2);
  status = JSON.parse((await get(h.port, '/status')).body);
  t.same(
    status.findings,
    [
      {
        id: BLOCKED.id,
        vantage: POD_A.id,
        where: 'default/web-1',
        check: 'firewall',
        code: 'firewall/blocked-locally',
        severity: 'error',
        message: BLOCKED.message,
        evidence: { protocol: 'udp', port: 53 },
        pod: { uid: 'uid-a', namespace: 'default', name: 'web-1' },
      },
      {
        id: FILLING.id,
        vantage: 'node',
        where: 'node',
        check: 'conntrack',
        code: 'conntrack/table-filling',
        severity: 'warning',
        message: FILLING.message,
        evidence: { count: 95, max: 100 },
        pod: null,
      },
    ],
    '/status carries each finding as check --json prints it',
  );
  metrics = (await get(h.port, '/metrics')).body;
  t.equal(gauge(metrics, 'firewall', 'error'), 1);
  t.equal(gauge(metrics, 'conntrack', 'warning'), 1);
  t.equal(gauge(metrics, 'routes', 'error'), 0);

  await diagnosesDone(h, d, 3);
  let logs = findingLogs(h);
  t.same(
    logs.map((r) => [r.findingId, r.finding, r.level]),
    [
      [BLOCKED.id, 'appeared', 'error'],
      [FILLING.id, 'appeared', 'warn'],
    ],
    'one line per finding, not per sweep',
  );
  t.match(logs[0], {
    msg: `finding: ${BLOCKED.message}`,
    vantage: POD_A.id,
    where: 'default/web-1',
    check: 'firewall',
    code: 'firewall/blocked-locally',
    severity: 'error',
    evidence: { protocol: 'udp', port: 53 },
    pod: { name: 'web-1' },
  });

  d.findings = [FILLING];
  await diagnosesDone(h, d, 1);
  if (CLEAR_AFTER > 1) t.equal(JSON.parse((await get(h.port, '/status')).body).findings.length, 2, `still active until absent from ${CLEAR_AFTER} diagnoses`);
  await waitFor('the cleared line', () => findingLogs(h).length === 3);
  await diagnosesDone(h, d, 3);
  logs = findingLogs(h);
  t.same(
    logs.map((r) => [r.findingId, r.finding]),
    [
      [BLOCKED.id, 'appeared'],
      [FILLING.id, 'appeared'],
      [BLOCKED.id, 'cleared'],
    ],
  );
  t.match(logs[2], { level: 'info', msg: `finding cleared: firewall/blocked-locally (default/web-1)` });
  t.same(
    JSON.parse((await get(h.port, '/status')).body).findings.map((f: { id: string }) => f.id),
    [FILLING.id],
  );
  metrics = (await get(h.port, '/metrics')).body;
  t.equal(gauge(metrics, 'firewall', 'error'), 0, 'the series goes back to 0');
  t.equal(gauge(metrics, 'conntrack', 'warning'), 1);
  t.same(
    hook,
    [
      [BLOCKED.id, 'appeared'],
      [FILLING.id, 'appeared'],
      [BLOCKED.id, 'cleared'],
    ],
    'the hook is called once per appearance and clearing',
  );
  t.same(
    h.daemon.findings().map((f) => f.id),
    [FILLING.id],
  );
});

t.test('a slow diagnosis delays neither health nor READY nor the next sweeps; one runs at a time; stop drops its results', async (t) => {
  const d = new Diagnoser();
  d.hold();
  d.findings = [BLOCKED];
  const h = await start(t, { deps: { diagnose: d.diagnose } });
  await sweepsDone(h, 4);
  t.ok(
    h.sent.some((m) => m.split('\n').includes('READY=1')),
    'READY=1 while the first diagnosis still runs',
  );
  t.equal((await get(h.port, '/healthz')).status, 200);
  t.equal(d.calls, 1, 'no second diagnosis while the first runs');
  const status = h.daemon.status();
  t.match(status.diagnosis, { running: true, last: null });
  t.ok((status.diagnosis as { skippedSweeps: number }).skippedSweeps >= 3, 'the sweeps meanwhile were skipped');
  t.same(status.findings, []);

  d.release();
  await waitFor('later diagnoses', () => d.calls >= 3);
  t.equal(d.maxInFlight, 1, 'never two at once');
  t.equal(findingLogs(h).length, 1, 'logged once');

  d.findings = [BLOCKED, FILLING];
  d.hold();
  await waitFor('a held diagnosis', () => d.inFlight === 1);
  const stopping = h.daemon.stop('SIGTERM');
  await new Promise((r) => setTimeout(r, 50));
  d.release();
  await stopping;
  t.same(
    findingLogs(h).map((r) => r.findingId),
    [BLOCKED.id],
    'the result that came in during stop is dropped',
  );
  t.same(
    h
      .logs()
      .slice(-2)
      .map((l) => l.msg),
    ['stopping', 'stopped'],
  );
  t.same(
    h.daemon.findings().map((f) => f.id),
    [BLOCKED.id],
  );
});

t.test('a diagnosis that throws is logged and keeps the findings; a failing hook is logged; logs are capped per diagnosis', async (t) => {
  const d = new Diagnoser();
  d.findings = [BLOCKED];
  let calls = 0;
  const h = await start(t, {
    deps: {
      diagnose: d.diagnose,
      onFindingChange: async (f) => {
        calls++;
        if (f.id === BLOCKED.id) throw new Error('events: forbidden');
      },
    },
  });
  await waitFor('the hook failure', () => h.logs().some((l) => l.msg === 'finding hook failed'));
  t.match(
    h.logs().find((l) => l.msg === 'finding hook failed'),
    { level: 'warn', findingId: BLOCKED.id, finding: 'appeared', err: { message: 'events: forbidden' } },
  );

  d.fail = new Error('cannot read /proc/net/route');
  await waitFor('the failure logged', () => h.logs().some((l) => l.msg === 'diagnosis failed; findings stay as they were'));
  t.match(
    h.logs().find((l) => l.msg === 'diagnosis failed; findings stay as they were'),
    { level: 'error', sweep: Number, err: { message: 'cannot read /proc/net/route' } },
  );
  await diagnosesDone(h, d, 3);
  const status = JSON.parse((await get(h.port, '/status')).body);
  t.same(
    status.findings.map((f: { id: string }) => f.id),
    [BLOCKED.id],
    'failed diagnoses neither add nor clear findings',
  );
  t.equal(status.diagnosis.last.error, 'cannot read /proc/net/route');
  t.equal((await get(h.port, '/healthz')).status, 200, 'health is untouched');
  t.equal(findingLogs(h).filter((l) => l.finding === 'cleared').length, 0);

  d.fail = null;
  const many = Array.from({ length: MAX_FINDING_LOGS + 7 }, (_, i) =>
    vantageFinding(POD_A, { code: 'routes/no-route', severity: 'error', message: `No route to 10.0.${i}.1.`, subject: `10.0.${i}.1` }),
  );
  d.findings = [BLOCKED, ...many];
  await waitFor('the summary line', () => h.logs().some((l) => l.msg === 'more findings appeared in this diagnosis (see /status)'));
  t.equal(findingLogs(h).filter((l) => l.code === 'routes/no-route').length, MAX_FINDING_LOGS);
  t.match(
    h.logs().find((l) => l.msg === 'more findings appeared in this diagnosis (see /status)'),
    { level: 'warn', more: 7 },
  );
  t.equal(gauge((await get(h.port, '/metrics')).body, 'routes', 'error'), MAX_FINDING_LOGS + 7, 'the gauge counts them all');
  t.equal(calls, 1 + MAX_FINDING_LOGS + 7, 'the hook sees them all');
});

t.test('the PIDs of vantages a sweep found gone are forgotten by the discovery cache (read again next sweep)', async (t) => {
  const forgotten: number[][] = [];
  const gone: Vantage = { ...POD_A, id: 'netns:[4026532999]', inode: 4026532999, pid: 4242 };
  const h = await start(t, {
    deps: {
      discoveryCache: {
        discover: () => Promise.reject(new Error('not used: deps.discover is given')),
        forget: (pids) => void forgotten.push([...pids]),
      },
      sweep: async (vantages, opts) => {
        const r = report(
          vantages,
          vantages.filter((v) => v.id !== gone.id).flatMap((v) => opts.transports.map((tr) => row(v, '10.96.0.10', tr, 'ok'))),
        );
        return {
          ...r,
          vantages: r.vantages.map((v) => (v.vantage.id === gone.id ? { ...v, status: 'gone' as const, detail: 'pid 4242 now has start time 2' } : v)),
        };
      },
    },
  });
  h.sweeper.vantages = [HOST, POD_A, gone];
  const before = h.daemon.sweeps;
  await sweepsDone(h, before + 2);
  t.ok(forgotten.length >= 2, 'after every sweep');
  t.same(forgotten.at(-1), [4242], 'only the gone vantage, by its PID');
});
