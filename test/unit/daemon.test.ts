// The daemon in-process with stand-in discovery and sweeps (no network, no
// root): health URLs over time, hysteresis, staleness, override, reload,
// sd_notify, the watchdog's liveness rule, logs, and a bounded stop.
import http from 'node:http';
import t, { type Test } from 'tap';
import { ConfigError } from '../../src/config/errors.js';
import { loadConfigResult, type LoadResult } from '../../src/config/load.js';
import { ConfigHolder } from '../../src/config/reloader.js';
import { changedKeys, configTargets, Daemon, discoveryOptions, maxSweepMs, sweepOptions, type DaemonDeps } from '../../src/daemon.js';
import type { Reason } from '../../src/dns/reasons.js';
import { createLogger } from '../../src/log.js';
import type { Vantage } from '../../src/netns/vantage.js';
import { Notifier } from '../../src/notify.js';
import type { SweepOptions, SweepReport } from '../../src/sweep.js';
import { HOST, POD_A, POD_B, report, row } from './daemon-fixtures.js';

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

/** Stand-in sweeps: a reason per vantage, an optional gate that holds a sweep, cancellation like the engine's. */
class Sweeper {
  reasons = new Map<string, Reason>();
  vantages: Vantage[] = [HOST, POD_A];
  calls = 0;
  cancels = 0;
  /** While set, sweeps wait for it. */
  gate: { promise: Promise<void>; release: () => void } | null = null;
  /** A held sweep ignores cancelAll (a stuck sweep). */
  deaf = false;
  #cancelled = false;
  lastOptions: SweepOptions | null = null;

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

  sweep = async (vantages: Vantage[], opts: SweepOptions): Promise<SweepReport> => {
    this.calls++;
    this.lastOptions = opts;
    this.#cancelled = false;
    if (this.gate) await this.gate.promise;
    const rows = vantages.flatMap((v) => opts.transports.map((tr) => row(v, '10.96.0.10', tr, this.#cancelled ? 'cancelled' : (this.reasons.get(v.id) ?? 'ok'))));
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

async function start(t: Test, opts: { flags?: Record<string, string>; env?: Record<string, string>; deps?: DaemonDeps; holdFirst?: boolean } = {}): Promise<Harness> {
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
  t.notOk(h.sent.some((m) => m.includes('READY=1')), 'not ready yet, a reload does not announce it either');
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
  t.notOk(h.sent.some((m) => m.includes('WATCHDOG=1')), 'no WATCHDOG=1 without WATCHDOG_USEC');
  const info = h.logs().filter((r) => r.level === 'info').map((r) => r.msg);
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
  t.match(warns[0], { level: 'warn', vantage: 'default/web-1', pod: 'default/web-1', target: '10.96.0.10:53', reason: 'timeout', previous: 'healthy', state: 'unhealthy', consecutiveFailures: 2 });

  const status = JSON.parse((await get(h.port, '/status')).body);
  const failing = status.checks.filter((c: { state: string }) => c.state === 'unhealthy');
  t.same(failing.map((c: { vantage: string; transport: string }) => `${c.vantage} ${c.transport}`).sort(), ['default/web-1 tcp', 'default/web-1 udp']);
  t.equal(failing[0].last.reason, 'timeout');

  const metrics = (await get(h.port, '/metrics')).body;
  t.match(metrics, /coredns_healthd_check_healthy\{vantage="default\/web-1",target="10\.96\.0\.10:53",transport="udp",query="kubernetes\.default\.svc\.cluster\.local A"\} 0/);
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
  t.match(h.logs().find((l) => l.msg === 'configuration reloaded'), { changed: ['health.override'] });

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
  h.setConfig(configWith({ interval: '50ms', 'probe.timeout': '700ms', 'probe.transports': 'udp', targets: '10.0.0.9:5353,10.0.0.8', dnsPort: '5300', 'http.listen': '127.0.0.1:0', 'log.level': 'debug' }));
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
  t.ok(h.logs().some((l) => l.level === 'debug' && l.msg === 'sweep done'), 'the new log level applies at once');
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
  t.match(h.sent.find((m) => m.startsWith('STATUS=sweep failed')), /cannot list processes/);
  t.match(h.logs().find((l) => l.msg === 'sweep failed'), { level: 'error', err: { message: /cannot list processes/ } });
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
  t.equal(maxSweepMs(h.daemon.config), 5_000 + 2 * 2 * 2_000 + 30_000, 'the default deadline: Docker + attempts × 2 timeouts + 30 s');
});

t.test('stop: STOPPING=1, in-flight probes cancelled, HTTP closed, done resolves; a deaf sweep does not hold it', async (t) => {
  const h = await start(t);
  await sweepsDone(h, 1);
  h.sweeper.hold();
  await waitFor('a sweep in flight', () => h.sweeper.gate !== null && h.sweeper.calls > h.daemon.sweeps);
  const n = h.daemon.sweeps;
  await h.daemon.stop('SIGTERM');
  t.ok(h.sweeper.cancels >= 1, 'cancelAll was called');
  t.equal(h.daemon.sweeps, n, 'the cancelled sweep is not recorded');
  t.match(h.sent.at(-1), /^STOPPING=1\nSTATUS=stopping \(SIGTERM\)$/);
  await t.rejects(get(h.port, '/healthz'), /ECONNREFUSED/);
  await h.daemon.done;
  const calls = h.sweeper.calls;
  await new Promise((r) => setTimeout(r, 300));
  t.equal(h.sweeper.calls, calls, 'no sweep after stop');
  t.same(h.logs().slice(-2).map((l) => l.msg), ['stopping', 'stopped']);

  const deaf = await start(t);
  await sweepsDone(deaf, 1);
  deaf.sweeper.deaf = true;
  deaf.sweeper.hold();
  await waitFor('a deaf sweep in flight', () => deaf.sweeper.calls > deaf.daemon.sweeps);
  const t0 = Date.now();
  await deaf.daemon.stop('SIGINT');
  const took = Date.now() - t0;
  t.ok(took < 5_000, `stop returned in ${took} ms although the sweep never ended`);
  t.ok(deaf.sweeper.cancels > 1, 'cancelAll repeated while waiting');
});

t.test('helpers: options from the configuration, changed keys', (t) => {
  const c = configWith({ targets: '10.0.0.1,[fd00::1]:5353', dnsPort: '5300', 'discovery.containers': 'false', 'discovery.docker.socketPath': '/x.sock' }).config;
  t.same(configTargets(c), [
    { server: '10.0.0.1', port: 5300, source: 'static' },
    { server: 'fd00::1', port: 5353, source: 'static' },
  ]);
  t.match(sweepOptions(c), { dnsPort: 53, ownNameservers: true, attempts: 2, timeoutMs: 2000, transports: ['udp', 'tcp'] });
  t.match(discoveryOptions(c), { containers: false, host: true, proc: true, docker: { enabled: false, socketPath: '/x.sock', timeoutMs: 5000 } });
  t.same(changedKeys(c, c), []);
  t.same(changedKeys(c, configWith({ interval: '200ms', 'health.override': 'healthy' }).config).sort(), ['discovery.containers', 'discovery.docker.socketPath', 'dnsPort', 'health.override', 'interval', 'targets']);
  t.end();
});
