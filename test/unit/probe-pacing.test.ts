// Pacing: a sweep's vantages start spread over probe.spread × interval, and
// at most probe.maxInFlightPerTarget attempts to one server:port are in
// flight at once. Time is faked (the wait function is recorded, not slept).
import t from 'tap';
import { ConfigError } from '../../src/config/errors.js';
import { loadConfig } from '../../src/config/load.js';
import { sweepOptions } from '../../src/config/options.js';
import { maxSweepMs } from '../../src/daemon/scheduler.js';
import type { Vantage } from '../../src/model.js';
import { InFlightLimit, MAX_CHUNK_MS, type Pace, paceOf, startOffsets, type Wait } from '../../src/probe/pacing.js';
import { runSweep, type ProbeFn, type SweepOptions } from '../../src/probe/sweep.js';
import { QUERY } from '../fixtures/diagnose/sweep-rows.js';
import { selfVantage } from '../support/self-vantage.js';
import { startResponder } from '../support/responder.js';
import { requireRoot } from '../support/root.js';
import { performance } from 'node:perf_hooks';

// This very process's namespace opens without root; each copy is one more vantage.
function vantages(n: number): Vantage[] {
  return Array.from({ length: n }, (_, i) =>
    selfVantage({ podNamespace: 'shop', podName: `paced-${i}`, resolvConfFile: { root: '/nonexistent', path: '/etc/resolv.conf' } }),
  );
}

const OPTS: SweepOptions = {
  procRoot: '/proc',
  transports: ['udp', 'tcp'],
  queries: [QUERY],
  timeoutMs: 1000,
  attempts: 1,
  dnsPort: 53,
  ownNameservers: false,
  targets: [
    { server: '10.0.0.1', port: 53, source: 'static' },
    { server: '10.0.0.2', port: 53, source: 'static' },
  ],
  spreadMs: 0,
  maxInFlightPerTarget: 64,
};

const ticks = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

/** A probe that stays in flight for a few event-loop turns and records, per server, how many were in flight at once. */
function countingProbe(): { probeFn: ProbeFn; peak: Map<string, number>; servers: string[]; paces: Array<Pace | undefined> } {
  const now = new Map<string, number>();
  const peak = new Map<string, number>();
  const servers: string[] = [];
  const paces: Array<Pace | undefined> = [];
  const probeFn: ProbeFn = async (spec, _netns, pace) => {
    servers.push(spec.server);
    paces.push(pace);
    now.set(spec.server, (now.get(spec.server) ?? 0) + 1);
    peak.set(spec.server, Math.max(peak.get(spec.server) ?? 0, now.get(spec.server)!));
    await ticks(3);
    now.set(spec.server, now.get(spec.server)! - 1);
    return { ok: true, reason: 'ok', rcode: 'NOERROR', answers: [], rttSeconds: 0.001, transport: spec.transport ?? 'udp', truncated: false };
  };
  return { probeFn, peak, servers, paces };
}

/** The distinct start offsets the probes were given, in ms after the earliest. */
function startsOf(paces: Array<Pace | undefined>): number[] {
  const at = paces.map((p) => p!.startAt);
  const first = Math.min(...at);
  return [...new Set(at.map((a) => Math.round(a - first)))].sort((a, b) => a - b);
}

t.test('startOffsets spreads the starts evenly over the window', (t) => {
  t.same(startOffsets(4, 1000), [0, 250, 500, 750]);
  t.same(startOffsets(3, 100), [0, 30, 60], 'rounded down to the 10 ms step');
  t.same(startOffsets(3, 100, 1), [0, 33, 66], 'a 1 ms step');
  t.same(new Set(startOffsets(1000, 500)).size, 50, '1,000 starts over 500 ms share 50 wake-ups');
  t.same(startOffsets(3, 0), [0, 0, 0], 'no window: all at once');
  t.same(startOffsets(0, 1000), []);
  t.end();
});

t.test('InFlightLimit: at most max holders per key, first come first served, keys apart', async (t) => {
  t.throws(() => new InFlightLimit(0), RangeError);
  const limit = new InFlightLimit(2);
  const a1 = await limit.acquire('a');
  const a2 = await limit.acquire('a');
  const b1 = await limit.acquire('b');
  t.equal(limit.inFlight('a'), 2);
  t.equal(limit.inFlight('b'), 1, 'another key has its own slots');
  const order: number[] = [];
  const w3 = limit.acquire('a').then((r) => (order.push(3), r));
  const w4 = limit.acquire('a').then((r) => (order.push(4), r));
  await ticks(2);
  t.same(order, [], 'both wait while a is full');
  t.equal(limit.tryAcquire('a'), null, 'tryAcquire: nothing while a is full');
  a1();
  a1(); // a second release of the same slot frees nothing more
  t.equal(limit.tryAcquire('a'), null, 'a freed slot goes to the first waiter: tryAcquire does not jump the queue');
  await ticks(2);
  t.same(order, [3], 'the first waiter got the freed slot, and only it');
  t.equal(limit.inFlight('a'), 2);
  a2();
  const r4 = await w4;
  t.same(order, [3, 4]);
  (await w3)();
  r4();
  b1();
  t.equal(limit.inFlight('a'), 0);
  t.equal(limit.inFlight('b'), 0);
  t.equal(limit.peak, 2);
  const now = limit.tryAcquire('a');
  t.type(now, 'function', 'tryAcquire takes a free slot at once');
  t.equal(limit.inFlight('a'), 1);
  now!();
  now!();
  t.equal(limit.inFlight('a'), 0, 'and its release, once');
});

t.test('paceOf: chunks as long as the busiest target allows, results held half a chunk', (t) => {
  // 250 vantages over 500 ms, 64 slots: 0.5 starts/ms, 32 slots take 64 ms of starts -> 60 ms chunks.
  t.same(paceOf(500, 250, 64), { chunkMs: 60, holdMs: 30 });
  // A node's default: 220 probes to one server over 5 s: capped at MAX_CHUNK_MS.
  t.same(paceOf(5000, 220, 64), { chunkMs: MAX_CHUNK_MS, holdMs: MAX_CHUNK_MS / 2 });
  // 2,000 over 500 ms: even one 10 ms step holds 40 starts > 32: every step, results at once.
  t.same(paceOf(500, 2000, 64), { chunkMs: 10, holdMs: 1 });
  t.same(paceOf(500, 2000, 64, 5), { chunkMs: 5, holdMs: 2 }, 'the step is a parameter: a 5 ms step holds 20 starts');
  t.same(paceOf(0, 250, 64), { chunkMs: 10, holdMs: 1 }, 'unpaced');
  t.same(paceOf(500, 0, 64), { chunkMs: 10, holdMs: 1 }, 'nothing to start');
  t.end();
});

t.test('a sweep starts its vantages spread over spreadMs, and caps the attempts in flight per server', async (t) => {
  const waits: number[] = [];
  const wait: Wait = async (ms) => {
    waits.push(ms);
  };
  const { probeFn, peak, servers, paces } = countingProbe();
  const report = await runSweep(vantages(6), { ...OPTS, spreadMs: 600, maxInFlightPerTarget: 3 }, probeFn, wait);
  t.same(startsOf(paces), [0, 100, 200, 300, 400, 500], 'vantage i starts i × 600/6 ms in (the engine starts it then)');
  // Each target gets 6 vantages x 2 transports = 12 first attempts over the 600 ms.
  const { chunkMs, holdMs } = paceOf(600, 12, 3);
  t.same(
    waits,
    [...new Set([0, 100, 200, 300, 400, 500].map((o) => Math.floor(o / chunkMs) * chunkMs))],
    `JavaScript wakes once per ${chunkMs} ms chunk that holds a start`,
  );
  t.ok(
    paces.every((p) => p!.holdMs === holdMs),
    'every probe may be held half a chunk',
  );
  t.equal(report.rows.length, 6 * 2 * 2, 'every vantage × target × transport was probed');
  t.ok(
    report.rows.every((r) => r.result.ok),
    'all passed',
  );
  t.equal(servers.length, 24);
  t.equal(peak.get('10.0.0.1'), 3, 'the cap was reached for 10.0.0.1 and never passed');
  t.equal(peak.get('10.0.0.2'), 3, 'and for 10.0.0.2');

  const unpaced = countingProbe();
  waits.length = 0;
  await runSweep(vantages(6), { ...OPTS, maxInFlightPerTarget: 64 }, unpaced.probeFn, wait);
  t.equal(unpaced.peak.get('10.0.0.1'), 12, 'without a binding cap every probe to a server is in flight at once');
  t.same(waits, [], 'unpaced: no wait');
  t.ok(
    unpaced.paces.every((p) => p === undefined),
    'and no start time or hold: the exchange defaults',
  );
});

t.test('vantages whose starts fall in one chunk share one wait and keep their own start times', async (t) => {
  const waits: number[] = [];
  const wait: Wait = async (ms) => {
    waits.push(ms);
  };
  const { probeFn, paces } = countingProbe();
  const report = await runSweep(vantages(6), { ...OPTS, spreadMs: 20, maxInFlightPerTarget: 64 }, probeFn, wait);
  t.same(waits, [0], 'offsets 0, 0, 0, 10, 10, 10: one wait, not six');
  t.same(startsOf(paces), [0, 10], 'the engine starts them at 0 and 10 ms');
  t.equal(report.rows.length, 6 * 2 * 2, 'every vantage still probed');
});

t.test("a real paced sweep: the engine sends each probe at its own start, not at its chunk's", async (t) => {
  if (!requireRoot(t, "the engine enters each vantage's namespace (here this process's own) with setns(2), which needs CAP_SYS_ADMIN")) return;
  const arrivals: number[] = [];
  const server = await startResponder({ onQuery: () => arrivals.push(performance.now()) });
  t.teardown(() => server.close());
  const spreadMs = 90;
  const offsets = startOffsets(10, spreadMs);
  t.same(offsets, [0, 0, 10, 20, 30, 40, 50, 60, 70, 80]);
  t.equal(paceOf(spreadMs, 10, 64).chunkMs, MAX_CHUNK_MS, 'one chunk: JavaScript hands all ten to the engine at once');
  const before = performance.now();
  const report = await runSweep(vantages(10), {
    ...OPTS,
    transports: ['udp'],
    targets: [{ server: '127.0.0.1', port: server.port, source: 'static' }],
    spreadMs,
  });
  t.equal(report.rows.length, 10);
  t.ok(
    report.rows.every((r) => r.result.ok),
    'every probe passed',
  );
  arrivals.sort((a, b) => a - b);
  t.equal(arrivals.length, 10);
  // The server sees a query no sooner than its start (1 ms: the delay is rounded to whole ms).
  for (let i = 0; i < 10; i++) {
    t.ok(arrivals[i]! - before >= offsets[i]! - 1, `query ${i + 1} arrived ${(arrivals[i]! - before).toFixed(1)} ms in, its start ${offsets[i]} ms`);
  }
});

t.test('a retry takes a slot of its own: attempts never pass the cap either', async (t) => {
  const now = { n: 0, peak: 0 };
  let calls = 0;
  const failing: ProbeFn = async (spec) => {
    calls++;
    now.n++;
    now.peak = Math.max(now.peak, now.n);
    await ticks(2);
    now.n--;
    return { ok: false, reason: 'timeout', rcode: null, rttSeconds: null, transport: spec.transport ?? 'udp', truncated: false, answers: [] };
  };
  const report = await runSweep(
    vantages(5),
    { ...OPTS, transports: ['udp'], targets: [OPTS.targets[0]!], attempts: 3, maxInFlightPerTarget: 2 },
    failing,
    async () => undefined,
  );
  t.equal(calls, 15, '5 probes × 3 attempts');
  t.equal(now.peak, 2);
  t.ok(report.rows.every((r) => r.attempts === 3 && r.result.reason === 'timeout'));
});

t.test('an aborted sweep starts no more vantages and rejects', async (t) => {
  const ctl = new AbortController();
  const reason = new Error('stopping');
  // The later vantages wait for their turn until the stop arrives.
  const wait: Wait = (ms, signal) =>
    ms === 0 ? Promise.resolve() : new Promise((_, reject) => signal!.addEventListener('abort', () => reject(signal!.reason as Error)));
  const { probeFn, servers } = countingProbe();
  const sweep = runSweep(vantages(4), { ...OPTS, spreadMs: 4000, signal: ctl.signal }, probeFn, wait);
  await ticks(20);
  t.equal(servers.length, 4, 'the first vantage probed');
  ctl.abort(reason);
  await t.rejects(sweep, reason);
  await ticks(10);
  t.equal(servers.length, 4, "only the first vantage's 2 targets × 2 transports were probed");

  // The real wait: an already aborted signal ends the sweep before any probe.
  const done = new AbortController();
  done.abort(reason);
  const real = countingProbe();
  await t.rejects(runSweep(vantages(2), { ...OPTS, spreadMs: 60_000, signal: done.signal }, real.probeFn), reason);
  t.equal(real.servers.length, 0);
  // Unpaced (no wait at all): the same.
  await t.rejects(runSweep(vantages(2), { ...OPTS, spreadMs: 0, signal: done.signal }, real.probeFn), reason);
  t.equal(real.servers.length, 0, 'an aborted unpaced sweep probes nothing either');
});

t.test('configuration: probe.spread and probe.maxInFlightPerTarget', (t) => {
  const c = loadConfig({ file: false, env: {} });
  t.equal(c.probe.spread, 0.5, 'documented default');
  t.equal(c.probe.maxInFlightPerTarget, 64, 'documented default');
  t.match(sweepOptions(c), { spreadMs: 5000, maxInFlightPerTarget: 64 }, 'half of the 10s interval');
  const burst = loadConfig({ file: false, env: {}, flags: { 'probe.spread': 0, interval: '2s', jitter: 0 } });
  t.equal(sweepOptions(burst).spreadMs, 0);
  t.equal(maxSweepMs(c) - maxSweepMs(loadConfig({ file: false, env: {}, flags: { 'probe.spread': 0 } })), 5000, 'the watchdog allows for the spread');
  for (const [flags, message] of [
    [{ 'probe.spread': 1.5 }, 'probe.spread: must be a number from 0 to 1'],
    [{ 'probe.spread': -0.1 }, 'probe.spread: must be a number from 0 to 1'],
    [{ 'probe.maxInFlightPerTarget': 0 }, 'probe.maxInFlightPerTarget: must be an integer from 1'],
  ] as const) {
    try {
      loadConfig({ file: false, env: {}, flags });
      t.fail(`accepted ${JSON.stringify(flags)}`);
    } catch (err) {
      t.type(err, ConfigError);
      t.match((err as Error).message, message);
    }
  }
  const env = loadConfig({ file: false, env: { COREDNS_HEALTHD_PROBE_MAX_IN_FLIGHT_PER_TARGET: '8', COREDNS_HEALTHD_PROBE_SPREAD: '0.25' } });
  t.equal(env.probe.maxInFlightPerTarget, 8);
  t.equal(env.probe.spread, 0.25);
  t.end();
});
