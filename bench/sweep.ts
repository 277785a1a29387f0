// npm run bench [-- --netns N] [--sweeps S] [--warmup W] [--soak K] [--blackholed B] [--timeout MS] [--json] [--skip-nsenter]
//                 [--spread MS] [--max-in-flight N] [--paced-sweeps P] [--skip-floor]
//                 [--daemon [--daemon-spread SHARE] [--daemon-qps Q] [--daemon-sweeps D] [--daemon-warmup W] [--daemon-interval MS] [--daemon-node-flags '...'] [--daemon-env 'K=V ...'] [--daemon-root DIR]]
//
// Builds N network namespaces on one bridge where dnsmasq answers, then
// times a full sweep (one A query from every namespace) with the addon, in
// this one long-lived process, and the way operators do it today:
// `nsenter --net=... dig ...` per namespace, serially and 8 at a time.
// Prints wall time, time per probe, CPU time and peak RSS of each, and the
// ratios. Then the same probes paced as the daemon paces them (src/probe/
// pacing.ts): namespaces started evenly over --spread ms (handed to the engine
// a chunk at a time, each with its own start time, see paceOf), at most
// --max-in-flight queries to the server at once; its wall time is the time a
// full rotation (every namespace probed once) takes. Removes everything it made, also on failure or Ctrl-C.
//
// The C floor (bench/floor.c, compiled here with `cc -O2` into a temporary
// directory; --skip-floor skips it): the same probes, burst and paced, from a
// C program that does only the engine's work (setns, socket, setns home and
// its check, send, epoll),
// over the same namespaces in the same run. The engine's figures are printed
// against it per sweep (wall, CPU, lost probes) with the ratio.
//
// --daemon: also runs the real daemon (`coredns-healthd run` in a child
// process, bench/daemon.ts) over the same namespaces, each given one process
// and a resolv.conf naming the same dnsmasq, and prints its wall, CPU and RSS
// per sweep next to the engine's, from the same run. --daemon-root DIR runs
// another checkout's daemon (built: its bin/ and dist/), to compare two
// versions under the same conditions.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync, spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { NetnsHandle, engineStats } from '../src/netns/binding.js';
import { checkProbeOptions, probeSpec } from '../src/probe/probe.js';
import { chunkStart, InFlightLimit, paceOf, START_STEP_MS, SharedWaits, startOffsets } from '../src/probe/pacing.js';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { createTopology, nft, type Topology } from '../test/support/netns.js';
import { startDnsmasq, type Dnsmasq } from '../test/support/dnsmasq.js';
import { which } from '../test/support/run.js';
import { benchDaemon, type DaemonBenchResult } from './daemon.js';
import { DAEMON_ENV, NODE_FLAGS } from '../packaging/lib/stage.js';

const NAME = 'kubernetes.default.svc.cluster.local';
const ANSWER = '10.96.0.1';

const { values: args } = parseArgs({
  options: {
    netns: { type: 'string', default: '250' },
    sweeps: { type: 'string', default: '50' },
    soak: { type: 'string', default: '1000' },
    blackholed: { type: 'string', default: '50' },
    timeout: { type: 'string', default: '1000' },
    parallel: { type: 'string', default: '8' },
    json: { type: 'boolean', default: false },
    'skip-nsenter': { type: 'boolean', default: false },
    'skip-floor': { type: 'boolean', default: false },
    spread: { type: 'string', default: '500' },
    'max-in-flight': { type: 'string', default: '64' },
    'paced-sweeps': { type: 'string', default: '5' },
    warmup: { type: 'string', default: '20' },
    'daemon-spread': { type: 'string' },
    'daemon-qps': { type: 'string' },
    daemon: { type: 'boolean', default: false },
    'daemon-sweeps': { type: 'string', default: '30' },
    'daemon-warmup': { type: 'string', default: '30' },
    'daemon-interval': { type: 'string', default: '1000' },
    'daemon-node-flags': { type: 'string', default: NODE_FLAGS.join(' ') },
    'daemon-env': {
      type: 'string',
      default: Object.entries(DAEMON_ENV)
        .map(([k, v]) => `${k}=${v}`)
        .join(' '),
    },
    'daemon-root': { type: 'string' },
  },
});

function positive(name: string, text: string, min = 1): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) {
    process.stderr.write(`bench: --${name}: expected an integer of at least ${min}, got ${JSON.stringify(text)}\n`);
    process.exit(2);
  }
  return n;
}

const N = positive('netns', args.netns);
const SWEEPS = positive('sweeps', args.sweeps);
const WARMUP = positive('warmup', args.warmup);
const SOAK = positive('soak', args.soak, 0);
const BLACKHOLED = Math.min(positive('blackholed', args.blackholed, 0), N);
const TIMEOUT_MS = positive('timeout', args.timeout);
const PARALLEL = positive('parallel', args.parallel);
const SPREAD_MS = positive('spread', args.spread, 0);
const MAX_IN_FLIGHT = positive('max-in-flight', args['max-in-flight']);
const PACED_SWEEPS = positive('paced-sweeps', args['paced-sweeps'], 0);
let DAEMON_SPREAD: number | undefined;
if (args['daemon-spread'] !== undefined) {
  DAEMON_SPREAD = Number(args['daemon-spread']);
  if (!(DAEMON_SPREAD >= 0 && DAEMON_SPREAD <= 1)) {
    process.stderr.write(`bench: --daemon-spread: expected a fraction from 0 to 1, got ${JSON.stringify(args['daemon-spread'])}\n`);
    process.exit(2);
  }
}
let DAEMON_QPS: number | undefined;
if (args['daemon-qps'] !== undefined) {
  DAEMON_QPS = Number(args['daemon-qps']);
  if (!(DAEMON_QPS > 0 && DAEMON_QPS <= 100_000)) {
    process.stderr.write(`bench: --daemon-qps: expected queries per second, greater than 0 and at most 100000, got ${JSON.stringify(args['daemon-qps'])}\n`);
    process.exit(2);
  }
}
const DAEMON_SWEEPS = positive('daemon-sweeps', args['daemon-sweeps']);
const DAEMON_WARMUP = positive('daemon-warmup', args['daemon-warmup']);
const DAEMON_INTERVAL_MS = positive('daemon-interval', args['daemon-interval'], 100);
/** Default: the packaged launcher's node flags (packaging/lib/stage.ts), those the systemd unit runs the daemon with. */
const DAEMON_NODE_FLAGS = args['daemon-node-flags'].split(/\s+/).filter((f) => f !== '');
/** Default: the systemd unit's Environment= (packaging/lib/stage.ts DAEMON_ENV); `--daemon-env=` runs without. */
const DAEMON_ENV_SET: Record<string, string> = {};
for (const kv of args['daemon-env'].split(/\s+/).filter((f) => f !== '')) {
  const eq = kv.indexOf('=');
  if (eq < 1) {
    process.stderr.write(`bench: --daemon-env: expected NAME=VALUE items, got ${JSON.stringify(kv)}\n`);
    process.exit(2);
  }
  DAEMON_ENV_SET[kv.slice(0, eq)] = kv.slice(eq + 1);
}

const CLK_TCK = 100; // USER_HZ on Linux x86_64 and arm64
const log = (s: string) => {
  if (!args.json) process.stderr.write(`${s}\n`);
};

/** CPU seconds used by reaped children (fields 16 and 17 of /proc/self/stat). */
function childrenCpuSeconds(): number {
  const stat = fs.readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) / CLK_TCK;
}

const selfCpuSeconds = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

interface SweepOutcome {
  wallSeconds: number;
  cpuSeconds: number;
  ok: number;
  failed: Record<string, number>;
}

async function addonSweep(topo: Topology): Promise<SweepOutcome> {
  const cpu0 = selfCpuSeconds();
  const t0 = process.hrtime.bigint();
  // Open per sweep (a cached fd would keep a deleted pod's netns alive).
  const handles = topo.namespaces.map((n) => NetnsHandle.open(n.path));
  // Checked once per sweep and run from every namespace, as runSweep does (src/probe/sweep.ts).
  const spec = checkProbeOptions({ server: topo.bridge.ipv4, name: NAME, timeoutMs: TIMEOUT_MS, expectAnswers: [ANSWER] });
  const results = await Promise.all(handles.map((h) => probeSpec(spec, h)));
  for (const h of handles) h.close();
  const wallSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const failed: Record<string, number> = {};
  for (const r of results) if (!r.ok) failed[r.reason] = (failed[r.reason] ?? 0) + 1;
  return { wallSeconds, cpuSeconds: selfCpuSeconds() - cpu0, ok: results.filter((r) => r.ok).length, failed };
}

/**
 * The same probes, paced as the daemon paces them (src/probe/sweep.ts): starts spread over SPREAD_MS, handed to
 * the engine a chunk at a time with their own start times (pacing.ts paceOf), at most MAX_IN_FLIGHT to the server at once.
 */
async function pacedSweep(topo: Topology): Promise<SweepOutcome> {
  const cpu0 = selfCpuSeconds();
  const t0 = process.hrtime.bigint();
  const limit = new InFlightLimit(MAX_IN_FLIGHT);
  const offsets = startOffsets(topo.namespaces.length, SPREAD_MS);
  const { chunkMs, holdMs } = paceOf(SPREAD_MS, topo.namespaces.length, MAX_IN_FLIGHT);
  // One timer per chunk, as runSweep does.
  const starts = new SharedWaits((ms) => delay(ms));
  const start0 = performance.now();
  const spec = checkProbeOptions({ server: topo.bridge.ipv4, name: NAME, timeoutMs: TIMEOUT_MS, expectAnswers: [ANSWER] });
  const results = await Promise.all(
    topo.namespaces.map(async (n, i) => {
      const offset = offsets[i]!;
      if (SPREAD_MS > 0) await starts.at(chunkStart(offset, chunkMs));
      const h = NetnsHandle.open(n.path);
      const release = limit.tryAcquire(topo.bridge.ipv4) ?? (await limit.acquire(topo.bridge.ipv4));
      try {
        return await probeSpec(spec, h, SPREAD_MS > 0 ? { startAt: start0 + offset, holdMs } : undefined);
      } finally {
        release();
        h.close();
      }
    }),
  );
  const wallSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const failed: Record<string, number> = {};
  for (const r of results) if (!r.ok) failed[r.reason] = (failed[r.reason] ?? 0) + 1;
  return { wallSeconds, cpuSeconds: selfCpuSeconds() - cpu0, ok: results.filter((r) => r.ok).length, failed };
}

function digOnce(nsPath: string, server: string): Promise<boolean> {
  return new Promise((resolve) => {
    const child = spawn(
      which('nsenter'),
      [`--net=${nsPath}`, which('dig'), `@${server}`, '+tries=1', `+time=${Math.max(1, Math.ceil(TIMEOUT_MS / 1000))}`, '+short', NAME, 'A'],
      { stdio: ['ignore', 'pipe', 'ignore'] },
    );
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('close', (code) => resolve(code === 0 && out.trim() === ANSWER));
  });
}

async function nsenterSweep(topo: Topology, parallel: number): Promise<SweepOutcome> {
  const cpu0 = childrenCpuSeconds();
  const t0 = process.hrtime.bigint();
  let next = 0;
  let ok = 0;
  const worker = async () => {
    while (next < topo.namespaces.length) {
      const n = topo.namespaces[next++]!;
      if (await digOnce(n.path, topo.bridge.ipv4)) ok++;
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  const wallSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const failedCount = topo.namespaces.length - ok;
  return { wallSeconds, cpuSeconds: childrenCpuSeconds() - cpu0, ok, failed: failedCount ? { failed: failedCount } : {} };
}

interface FloorRun {
  sweeps: number;
  medianWallMs: number;
  medianCpuMs: number;
  p95CpuMs: number;
  lostProbes: number;
}

/** Compiles bench/floor.c with cc -O2 into a fresh temporary directory; returns the binary and the directory. */
function buildFloor(): { bin: string; dir: string } {
  const here = path.dirname(fileURLToPath(import.meta.url));
  // dist/bench/sweep.js -> bench/floor.c at the package root; also works when run from bench/ itself.
  const source = [path.resolve(here, '../../bench/floor.c'), path.resolve(here, 'floor.c')].find((f) => fs.existsSync(f));
  if (!source) throw new Error('bench/floor.c not found');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'healthd-floor-'));
  const bin = path.join(dir, 'floor');
  execFileSync(which('cc'), ['-O2', '-o', bin, source], { stdio: ['ignore', 'ignore', 'inherit'] });
  return { bin, dir };
}

/** Runs the C floor over the namespaces: `sweeps` sweeps after one warm-up, starts spread over spreadMs (0: a burst). */
function runFloor(bin: string, topo: Topology, sweeps: number, spreadMs: number, maxInFlight: number): Promise<FloorRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [topo.bridge.ipv4, NAME, String(TIMEOUT_MS), String(sweeps), String(spreadMs), String(START_STEP_MS), String(maxInFlight)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) {
        reject(new Error(`floor exited with ${code}`));
        return;
      }
      const rows = out
        .trim()
        .split('\n')
        .map((l) => l.split(' ').map(Number));
      const walls = rows.map((r) => r[0]! / 1e9);
      const cpus = rows.map((r) => r[1]! / 1e9);
      resolve({
        sweeps: rows.length,
        medianWallMs: ms(quantile(walls, 0.5)),
        medianCpuMs: ms(quantile(cpus, 0.5)),
        p95CpuMs: ms(quantile(cpus, 0.95)),
        lostProbes: rows.reduce((a, r) => a + r[3]!, 0),
      });
    });
    child.stdin.end(`${topo.namespaces.map((n) => n.path).join('\n')}\n`);
  });
}

let floorBin: { bin: string; dir: string } | undefined;

const fdCount = () => fs.readdirSync('/proc/self/fd').length;
const peakRssMiB = () => process.resourceUsage().maxRSS / 1024;
const ms = (s: number) => Number((s * 1000).toFixed(2));

async function main() {
  if (process.getuid?.() !== 0) {
    process.stderr.write('bench: needs root (creates network namespaces, a bridge and nftables rules)\n');
    process.exit(2);
  }
  let topo: Topology | undefined;
  let dns: Dnsmasq | undefined;
  const cleanup = async () => {
    if (floorBin) fs.rmSync(floorBin.dir, { recursive: true, force: true });
    await dns?.stop().catch(() => undefined);
    await topo?.cleanup().catch((e) => process.stderr.write(`bench: cleanup: ${(e as Error).message}\n`));
  };
  const onSignal = () => {
    // A signal handler cannot wait; cleanup() catches its own errors, then the process exits.
    void cleanup().then(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    log(`building ${N} network namespaces on one bridge ...`);
    const tb = process.hrtime.bigint();
    // Permanent neighbour entries: the kernel's one ARP table for all namespaces holds 1024 dynamic
    // entries by default, and 1,000 namespaces need 2,000 (see test/support/netns.ts staticNeighbors).
    topo = await createTopology({ count: N, ipv6: false, staticNeighbors: true });
    dns = await startDnsmasq({ listen: topo.bridge.ipv4, port: 53, records: { [NAME]: [ANSWER] } });
    log(`  built in ${(Number(process.hrtime.bigint() - tb) / 1e9).toFixed(2)} s; dnsmasq on ${topo.bridge.ipv4}`);

    // Addon: warm-up (the JIT compiles the probe path over the first thousands of probes, as in a daemon
    // that has run a while), then timed sweeps.
    for (let i = 0; i < WARMUP; i++) await addonSweep(topo);
    const sweeps: SweepOutcome[] = [];
    for (let i = 0; i < SWEEPS; i++) sweeps.push(await addonSweep(topo));
    const walls = sweeps.map((s) => s.wallSeconds);
    const cpus = sweeps.map((s) => s.cpuSeconds);
    const failedProbes = sweeps.reduce((a, s) => a + (N - s.ok), 0);
    log(`addon: ${SWEEPS} sweeps, median ${ms(quantile(walls, 0.5))} ms`);

    let floorBurst: FloorRun | null = null;
    let floorPaced: FloorRun | null = null;
    if (!args['skip-floor']) {
      floorBin = buildFloor();
      floorBurst = await runFloor(floorBin.bin, topo, SWEEPS, 0, 0);
      log(`C floor: ${SWEEPS} burst sweeps, median ${floorBurst.medianWallMs} ms, cpu ${floorBurst.medianCpuMs} ms`);
    }

    // Soak: memory and fds stay flat across many sweeps.
    let soak: Record<string, number> | null = null;
    if (SOAK > 0) {
      const warm = Math.min(100, SOAK);
      for (let i = 0; i < warm; i++) await addonSweep(topo);
      const rss0 = process.memoryUsage().rss;
      const fds0 = fdCount();
      let soakFailed = 0;
      for (let i = warm; i < SOAK; i++) soakFailed += N - (await addonSweep(topo)).ok;
      soak = {
        sweeps: SOAK,
        rssAfterWarmupMiB: Number((rss0 / 2 ** 20).toFixed(1)),
        rssEndMiB: Number((process.memoryUsage().rss / 2 ** 20).toFixed(1)),
        fdsAfterWarmup: fds0,
        fdsEnd: fdCount(),
        failedProbes: soakFailed,
      };
      log(`soak: ${SOAK} sweeps, rss ${soak.rssAfterWarmupMiB} → ${soak.rssEndMiB} MiB, fds ${fds0} → ${soak.fdsEnd}`);
    }

    // Blackholed namespaces: replies to them are dropped.
    let blackholed: Record<string, number> | null = null;
    if (BLACKHOLED > 0) {
      const table = `${topo.prefix.replace(/-/g, '_')}_bh`;
      await Promise.all(
        topo.namespaces
          .slice(0, BLACKHOLED)
          .map((n) =>
            nft(
              n.name,
              `table inet ${table} {\n chain input {\n  type filter hook input priority 0; policy accept;\n  ip saddr ${topo!.bridge.ipv4} drop\n }\n}\n`,
            ),
          ),
      );
      const runs: SweepOutcome[] = [];
      for (let i = 0; i < 3; i++) runs.push(await addonSweep(topo));
      await Promise.all(topo.namespaces.slice(0, BLACKHOLED).map((n) => nft(n.name, `delete table inet ${table}\n`)));
      const w = quantile(
        runs.map((r) => r.wallSeconds),
        0.5,
      );
      blackholed = { count: BLACKHOLED, timeoutMs: TIMEOUT_MS, medianWallMs: ms(w), ok: runs[0]!.ok, timeouts: runs[0]!.failed.timeout ?? 0 };
      log(`blackholed: ${BLACKHOLED} of ${N} silent, sweep ${blackholed.medianWallMs} ms with a ${TIMEOUT_MS} ms timeout`);
    }

    let paced: Record<string, unknown> | null = null;
    if (PACED_SWEEPS > 0) {
      const runs: SweepOutcome[] = [];
      for (let i = 0; i < PACED_SWEEPS; i++) runs.push(await pacedSweep(topo));
      const failedTotal = runs.reduce((a, r) => a + (N - r.ok), 0);
      const reasons: Record<string, number> = {};
      for (const r of runs) for (const [k, v] of Object.entries(r.failed)) reasons[k] = (reasons[k] ?? 0) + v;
      paced = {
        sweeps: PACED_SWEEPS,
        spreadMs: SPREAD_MS,
        maxInFlight: MAX_IN_FLIGHT,
        medianRotationMs: ms(
          quantile(
            runs.map((r) => r.wallSeconds),
            0.5,
          ),
        ),
        maxRotationMs: ms(Math.max(...runs.map((r) => r.wallSeconds))),
        medianCpuMs: ms(
          quantile(
            runs.map((r) => r.cpuSeconds),
            0.5,
          ),
        ),
        failedProbes: failedTotal,
        failedReasons: reasons,
      };
      log(`paced: ${PACED_SWEEPS} sweeps over ${SPREAD_MS} ms, ${failedTotal} failed`);
      if (floorBin) {
        floorPaced = await runFloor(floorBin.bin, topo, PACED_SWEEPS, SPREAD_MS, MAX_IN_FLIGHT);
        log(`C floor: ${PACED_SWEEPS} paced sweeps, median cpu ${floorPaced.medianCpuMs} ms`);
      }
    }

    const addon = {
      sweeps: SWEEPS,
      medianWallMs: ms(quantile(walls, 0.5)),
      p95WallMs: ms(quantile(walls, 0.95)),
      medianPerProbeUs: Number(((quantile(walls, 0.5) / N) * 1e6).toFixed(1)),
      medianCpuMs: ms(quantile(cpus, 0.5)),
      p95CpuMs: ms(quantile(cpus, 0.95)),
      failedProbes,
      peakRssMiB: Number(peakRssMiB().toFixed(1)),
      engine: engineStats(),
    };

    let daemon: DaemonBenchResult | null = null;
    if (args.daemon) {
      log(`the daemon (coredns-healthd run) over the same ${N} namespaces ...`);
      daemon = await benchDaemon({
        topo,
        server: topo.bridge.ipv4,
        name: NAME,
        answer: ANSWER,
        sweeps: DAEMON_SWEEPS,
        warmupSweeps: DAEMON_WARMUP,
        intervalMs: DAEMON_INTERVAL_MS,
        timeoutMs: TIMEOUT_MS,
        nodeFlags: DAEMON_NODE_FLAGS,
        env: DAEMON_ENV_SET,
        ...(DAEMON_SPREAD === undefined ? {} : { spread: DAEMON_SPREAD }),
        ...(DAEMON_QPS === undefined ? {} : { maxQueriesPerSecond: DAEMON_QPS }),
        ...(args['daemon-root'] === undefined ? {} : { root: args['daemon-root'] }),
        log,
      });
    }

    let nsenter: { speedupVsParallel: number; cpuRatioVsParallel: number; [key: string]: unknown } | null = null;
    if (!args['skip-nsenter']) {
      log(`nsenter + dig, serial, ${N} namespaces ...`);
      const serial = await nsenterSweep(topo, 1);
      log(`nsenter + dig, ${PARALLEL} in parallel ...`);
      const par = await nsenterSweep(topo, PARALLEL);
      const shape = (o: SweepOutcome) => ({
        wallMs: ms(o.wallSeconds),
        perProbeUs: Number(((o.wallSeconds / N) * 1e6).toFixed(1)),
        cpuMs: ms(o.cpuSeconds),
        ok: o.ok,
      });
      nsenter = {
        serial: shape(serial),
        parallel: { ...shape(par), workers: PARALLEL },
        speedupVsParallel: Number((par.wallSeconds / quantile(walls, 0.5)).toFixed(1)),
        cpuRatioVsParallel: Number((par.cpuSeconds / Math.max(quantile(cpus, 0.5), 1e-6)).toFixed(1)),
      };
    }

    const ratio2 = (a: number, b: number) => (b > 0 ? Number((a / b).toFixed(2)) : null);
    const vsFloor = (engine: { wallMs: number; cpuMs: number; lost: number }, f: FloorRun | null) =>
      f && {
        engine,
        floor: { wallMs: f.medianWallMs, cpuMs: f.medianCpuMs, lost: f.lostProbes, sweeps: f.sweeps },
        wallRatio: ratio2(engine.wallMs, f.medianWallMs),
        cpuRatio: ratio2(engine.cpuMs, f.medianCpuMs),
      };
    const floor = floorBurst
      ? {
          burst: vsFloor({ wallMs: addon.medianWallMs, cpuMs: addon.medianCpuMs, lost: failedProbes }, floorBurst),
          paced: paced
            ? vsFloor({ wallMs: paced.medianRotationMs as number, cpuMs: paced.medianCpuMs as number, lost: paced.failedProbes as number }, floorPaced)
            : null,
        }
      : null;

    const report = {
      machine: { cpus: os.availableParallelism(), kernel: os.release(), node: process.version },
      netns: N,
      timeoutMs: TIMEOUT_MS,
      addon,
      soak,
      blackholed,
      paced,
      floor,
      daemon,
      nsenterDig: nsenter,
    };
    if (args.json) {
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    } else {
      const lines = [
        `coredns-healthd sweep benchmark: ${N} network namespaces, ${os.availableParallelism()} CPUs, Node ${process.version}`,
        '',
        `addon (one process, after ${WARMUP} warm-up sweeps, ${SWEEPS} sweeps)`,
        `  wall      median ${addon.medianWallMs} ms   p95 ${addon.p95WallMs} ms   (${addon.medianPerProbeUs} µs per probe)`,
        `  cpu       median ${addon.medianCpuMs} ms   p95 ${addon.p95CpuMs} ms`,
        `  peak rss  ${addon.peakRssMiB} MiB      failed probes ${failedProbes} of ${N * SWEEPS}`,
      ];
      if (soak)
        lines.push(
          `  soak      ${soak.sweeps} sweeps: rss ${soak.rssAfterWarmupMiB} → ${soak.rssEndMiB} MiB, fds ${soak.fdsAfterWarmup} → ${soak.fdsEnd}, failed ${soak.failedProbes}`,
        );
      if (blackholed)
        lines.push(`  blackhole ${blackholed.count} silent namespaces: sweep ${blackholed.medianWallMs} ms with a ${blackholed.timeoutMs} ms timeout`);
      if (paced)
        lines.push(
          '',
          `addon, paced (${N} namespaces started evenly over ${SPREAD_MS} ms, at most ${MAX_IN_FLIGHT} queries in flight to the server, ${PACED_SWEEPS} sweeps)`,
          `  full rotation  median ${paced.medianRotationMs as number} ms   max ${paced.maxRotationMs as number} ms   cpu median ${paced.medianCpuMs as number} ms`,
          `  failed probes  ${paced.failedProbes as number} of ${N * PACED_SWEEPS}${Object.keys(paced.failedReasons as object).length ? ` ${JSON.stringify(paced.failedReasons)}` : ''}`,
        );
      if (floor) {
        const row = (label: string, v: ReturnType<typeof vsFloor>, sweeps: number) =>
          v
            ? [
                `  ${label.padEnd(6)} wall ${String(v.engine.wallMs).padStart(8)} vs ${String(v.floor.wallMs).padStart(8)} ms (${v.wallRatio?.toFixed(2)}x)   cpu ${String(v.engine.cpuMs).padStart(7)} vs ${String(v.floor.cpuMs).padStart(7)} ms (${v.cpuRatio?.toFixed(2)}x)   lost ${v.engine.lost} vs ${v.floor.lost} of ${N * sweeps}`,
              ]
            : [];
        lines.push(
          '',
          `engine vs C floor (bench/floor.c, cc -O2: per probe open + setns + socket + setns home + stat + send, then epoll; nothing else; median per sweep, same namespaces, same run)`,
          ...row('burst', floor.burst, SWEEPS),
          ...row('paced', floor.paced, PACED_SWEEPS),
        );
      }
      if (daemon) {
        const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(1)}x` : '-');
        lines.push(
          '',
          `the daemon (coredns-healthd run${daemon.root === null ? '' : ` from ${daemon.root}`}, node ${daemon.nodeFlags.join(' ') || '(no flags)'}, env ${
            Object.entries(daemon.env)
              .map(([k, v]) => `${k}=${v}`)
              .join(' ') || '(none added)'
          }; ${daemon.vantages} vantages, UDP, interval ${daemon.intervalMs} ms, probe.spread ${daemon.spread ?? 'default'}, ${daemon.sweeps} sweeps after ${daemon.warmupSweeps})`,
          `                  engine (above)      daemon`,
          `  wall / sweep    ${String(addon.medianWallMs).padEnd(8)} ms median   ${daemon.meanWallMs} ms mean (coredns_healthd_sweep_duration_seconds; probe.spread included)   ${ratio(daemon.meanWallMs, addon.medianWallMs)}`,
          // Medians against medians (CPU per interval of the daemon, from each thread's schedstat); the mean beside.
          `  cpu / sweep     ${String(addon.medianCpuMs).padEnd(8)} ms median   ${daemon.cpuMedianMs} ms median (mean ${daemon.cpuPerSweepMs}, p95 ${daemon.cpuP95Ms})   ${ratio(daemon.cpuMedianMs, addon.medianCpuMs)} ${
            daemon.spread === 0 ? '(like for like: both in one burst)' : '(the daemon paced, the engine in one burst: the like is the next row)'
          }`,
          // The daemon paces its sweep (probe.spread, default half the interval): the engine paced the same way is its like.
          ...(paced
            ? [
                `  cpu, paced      ${String(paced.medianCpuMs).padEnd(8)} ms median   ${daemon.cpuMedianMs} ms median   ${ratio(daemon.cpuMedianMs, paced.medianCpuMs as number)} (mean ${ratio(daemon.cpuPerSweepMs, paced.medianCpuMs as number)}; engine paced over ${SPREAD_MS} ms above; the daemon over probe.spread × interval = ${
                  (daemon.spread ?? 0.5) * daemon.intervalMs
                } ms${daemon.spread === 0 ? '' : ': like for like'})`,
              ]
            : []),
          `  rss             ${String(addon.peakRssMiB).padEnd(8)} MiB peak   ${daemon.rssStartMiB} → ${daemon.rssEndMiB} MiB (max sampled ${daemon.rssMaxMiB}, peak ${daemon.peakRssMiB})`,
          `  vantages        ${daemon.vantages} (${daemon.podVantages} with a pod from their cgroup)`,
          `  probes          ${daemon.probes} in the measured sweeps, ${daemon.failedProbes} failed; last diagnosis ${daemon.diagnosis.lastMs ?? '-'} ms, ${daemon.diagnosis.skippedSweeps} sweeps not diagnosed`,
          `  rss over time   ${daemon.rssSamples.join(' ')} MiB (one a second)`,
          `  query rate      ${daemon.queriesPerSecond ?? '-'} q/s sent (coredns_healthd_probe_queries_total), budget ${daemon.budgetQps === null ? 'none' : `${daemon.budgetQps} q/s (probe.maxQueriesPerSecond${DAEMON_QPS === undefined ? ', default' : ''})`}`,
          `  full rotation   ${daemon.rotationSweeps === null ? '-' : `${daemon.rotationSweeps} sweep${daemon.rotationSweeps === 1 ? '' : 's'} (K), ${(daemon.rotationSweeps * daemon.secondsPerSweep).toFixed(1)} s at ${daemon.secondsPerSweep} s a sweep`}`,
        );
      }
      if (nsenter) {
        const s = nsenter.serial as Record<string, number>;
        const p = nsenter.parallel as Record<string, number>;
        lines.push(
          '',
          'nsenter --net=... dig (one fork+exec per namespace)',
          `  serial        wall ${s.wallMs} ms   cpu ${s.cpuMs} ms   ok ${s.ok}/${N}`,
          `  ${PARALLEL} parallel    wall ${p.wallMs} ms   cpu ${p.cpuMs} ms   ok ${p.ok}/${N}`,
          '',
          `addon vs nsenter+dig (${PARALLEL} parallel): ${nsenter.speedupVsParallel}x faster, ${nsenter.cpuRatioVsParallel}x less CPU`,
        );
      }
      process.stdout.write(`${lines.join('\n')}\n`);
    }
  } finally {
    await cleanup();
  }
}

main().catch((err) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
