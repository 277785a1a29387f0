// The daemon half of `npm run bench -- --daemon`: the real `coredns-healthd run`
// (discovery, sweep, health, metrics, diagnosis) in a child process over the
// bench's namespaces, measured from outside.
//
// Each namespace gets one process (`sleep`, started by `ip netns exec`, so its
// /etc/resolv.conf is /etc/netns/<ns>/resolv.conf naming the bench's dnsmasq),
// placed in a cgroup of its own shaped as the kubelet's cgroupfs driver makes
// them (<bench cgroup>/kubepods/besteffort/pod<uid>/<container id>, under the
// v1 pids hierarchy or the v2 root), so that discovery sees a pod and a
// container as on a node.
// The daemon scans a procRoot of the bench's own: symlinks to /proc/<pid> of
// those processes and to /proc/thread-self, so it never sees (or probes from)
// another namespace on this machine; its host vantage reads a resolv.conf file
// of the bench's own (never this machine's /etc/resolv.conf). Docker and
// Kubernetes are off. The child runs under the node flags of the packaged
// launcher (packaging/lib/stage.ts: --max-semi-space-size=2) and with the
// systemd unit's environment (DAEMON_ENV: MALLOC_ARENA_MAX=2).
//
// Figures:
//   wall per sweep  the daemon's own coredns_healthd_sweep_duration_seconds
//                   (sum / count over the measured sweeps)
//   CPU per sweep   utime + stime of the child (/proc/PID/stat) over the
//                   measured sweeps, divided by their number: everything the
//                   process does (diagnosis, discovery, metrics, GC, the
//                   addon's thread) counts
//   RSS             VmRSS sampled every second (first, last, max) and VmHWM
//   query rate      coredns_healthd_probe_queries_total over the measured sweeps,
//                   divided by their wall time (first to last scrape), beside
//                   the budget (probe.maxQueriesPerSecond); full rotation: the
//                   plan's K (/status sweep.plan.rotationSweeps) times the
//                   measured time per sweep
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { Topology } from '../test/support/netns.js';
import { get, samples } from '../test/support/http-probe.js';
import { spawnService, type Service } from '../test/support/service.js';
import { repoPath } from '../test/support/paths.js';
import { mapLimit, which } from '../test/support/run.js';

const CLK_TCK = 100; // USER_HZ on Linux x86_64 and arm64

export interface DaemonBenchOptions {
  topo: Topology;
  /** The DNS server every namespace's resolv.conf names. */
  server: string;
  name: string;
  answer: string;
  /** Sweeps measured (after the warm-up). */
  sweeps: number;
  warmupSweeps: number;
  intervalMs: number;
  timeoutMs: number;
  /** Node flags of the daemon's process. */
  nodeFlags: readonly string[];
  /** Added to the daemon's environment (the systemd unit's Environment=). */
  env: Readonly<Record<string, string>>;
  /** probe.spread, when given (a checkout from before it would reject the key); else the daemon's default. */
  spread?: number;
  /** probe.maxQueriesPerSecond, when given (a checkout from before it would reject the key); else the daemon's default. */
  maxQueriesPerSecond?: number;
  /** The coredns-healthd to run: a checkout whose bin/coredns-healthd.js and dist/ are built. Default this one. */
  root?: string;
  log: (s: string) => void;
}

export interface DaemonBenchResult {
  /** The checkout it ran (o.root), or null for this one. */
  root: string | null;
  vantages: number;
  sweeps: number;
  intervalMs: number;
  nodeFlags: readonly string[];
  env: Readonly<Record<string, string>>;
  /** probe.spread as given, or null for the daemon's default. */
  spread: number | null;
  meanWallMs: number;
  /** Mean: utime + stime over the measured sweeps / their number. */
  cpuPerSweepMs: number;
  /** Median and p95 of the CPU of each interval (one sweep) in the measured window (schedstat). */
  cpuMedianMs: number;
  cpuP95Ms: number;
  warmupSweeps: number;
  /** VmRSS after the warm-up, at the end, the largest sample; VmHWM at the end. */
  rssStartMiB: number;
  rssEndMiB: number;
  rssMaxMiB: number;
  peakRssMiB: number;
  rssSamples: number[];
  /** Vantages /status shows with a pod UID (from the cgroup). */
  podVantages: number;
  probes: number;
  failedProbes: number;
  diagnosis: { lastMs: number | null; skippedSweeps: number };
  /** DNS queries sent per second over the measured sweeps (null: the daemon does not count them). */
  queriesPerSecond: number | null;
  /** The budget in queries per second (from /status), null without one. */
  budgetQps: number | null;
  /** Every pair is probed at least every this many sweeps (null: unknown, or some never). */
  rotationSweeps: number | null;
  /** Seconds per sweep, measured (interval + jitter + any overrun). */
  secondsPerSweep: number;
}

/** The cgroup tree the bench's pod processes go in: v1's pids hierarchy, else the v2 root. */
function cgroupRoot(prefix: string): string | null {
  for (const base of ['/sys/fs/cgroup/pids', '/sys/fs/cgroup']) {
    if (fs.existsSync(path.join(base, 'cgroup.procs'))) return path.join(base, `${prefix}-bench`);
  }
  return null;
}

/** Moves a process into <root>/kubepods/besteffort/pod<uid>/<id>, named from the namespace. */
function placeInPodCgroup(root: string, name: string, pid: number): void {
  const hex = createHash('sha256').update(name).digest('hex');
  const uid = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
  const dir = path.join(root, 'kubepods', 'besteffort', `pod${uid}`, hex);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'cgroup.procs'), `${pid}\n`);
}

/** Removes a cgroup tree (empty by now), deepest first. */
function removeCgroupTree(dir: string): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory()) removeCgroupTree(path.join(dir, e.name));
  try {
    fs.rmdirSync(dir);
  } catch {
    // still busy: left for removeByPrefix-style cleanup by hand
  }
}

/** CPU time of every thread of a process so far, in ns (/proc/PID/task/TID/schedstat: exact, not in clock ticks). */
export function processCpuNs(pid: number): number {
  let ns = 0;
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(fs.readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended between the listing and the read
    }
  }
  return ns;
}

/** utime + stime of a process, in seconds. */
export function processCpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** VmRSS and VmHWM of a process, in MiB. */
export function processRss(pid: number): { rss: number; hwm: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kib('VmRSS') / 1024, hwm: kib('VmHWM') / 1024 };
}

interface Scrape {
  at: number;
  queries: number | null;
  sweeps: number;
  durationSum: number;
  durationCount: number;
  probes: number;
  failed: number;
}

async function scrape(port: number): Promise<Scrape> {
  const res = await get(port, '/metrics');
  if (res.status !== 200) throw new Error(`GET /metrics: ${res.status}`);
  const m = samples(res.body);
  let probes = 0;
  let failed = 0;
  let queries: number | null = null;
  for (const [k, v] of m) {
    if (k.startsWith('coredns_healthd_probe_queries_total{')) queries = (queries ?? 0) + v;
    if (!k.startsWith('coredns_healthd_probes_total{')) continue;
    probes += v;
    if (!k.includes('result="success"')) failed += v;
  }
  return {
    at: Date.now(),
    queries,
    sweeps: m.get('coredns_healthd_sweeps_total{result="success"}') ?? 0,
    durationSum: m.get('coredns_healthd_sweep_duration_seconds_sum') ?? 0,
    durationCount: m.get('coredns_healthd_sweep_duration_seconds_count') ?? 0,
    probes,
    failed,
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const round = (x: number, digits = 1) => Number(x.toFixed(digits));

/**
 * Waits until the daemon has completed `count` sweeps. Scrapes cost the daemon
 * CPU too: it sleeps through most of the expected time first, then polls.
 */
async function waitForSweeps(port: number, count: number, from: number, intervalMs: number, timeoutMs: number, child: ChildProcess): Promise<Scrape> {
  const deadline = Date.now() + timeoutMs;
  await sleep(Math.max(0, count - from - 2) * intervalMs);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the daemon exited (${child.exitCode ?? child.signalCode})`);
    const s = await scrape(port).catch(() => null);
    if (s && s.sweeps >= count) return s;
    if (Date.now() > deadline) throw new Error(`timed out waiting for sweep ${count} (at ${s?.sweeps ?? 'none'})`);
    await sleep(200);
  }
}

/**
 * Runs the daemon over the topology's namespaces and measures it. Cleans up the
 * processes, files and the daemon it made, also on failure.
 */
export async function benchDaemon(o: DaemonBenchOptions): Promise<DaemonBenchResult> {
  const { topo } = o;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${topo.prefix}-daemon-`));
  const etcDirs = topo.namespaces.map((n) => path.join('/etc/netns', n.name));
  const pods: Service[] = [];
  const cgroups = cgroupRoot(topo.prefix);
  let child: ChildProcess | undefined;
  try {
    for (const etc of etcDirs) {
      fs.mkdirSync(etc, { recursive: true });
      fs.writeFileSync(path.join(etc, 'resolv.conf'), `nameserver ${o.server}\noptions ndots:5\n`);
    }
    o.log(`  starting one process in each of ${topo.namespaces.length} namespaces ...`);
    const sleepBin = which('sleep');
    await mapLimit(topo.namespaces, 16, async (n) => {
      const s = spawnService(sleepBin, ['86400'], { netns: n.name });
      pods.push(s);
      // ip netns exec execs the command: the pid is sleep's once it is in the namespace with its resolv.conf.
      const ino = fs.statSync(n.path).ino;
      for (let i = 0; ; i++) {
        try {
          if (fs.statSync(`/proc/${s.pid}/ns/net`).ino === ino && fs.readFileSync(`/proc/${s.pid}/root/etc/resolv.conf`, 'utf8').includes(o.server)) break;
        } catch {
          // not there yet
        }
        if (i > 400) throw new Error(`the process in ${n.name} did not start: ${s.stderr()}`);
        await sleep(25);
      }
      if (cgroups) placeInPodCgroup(cgroups, n.name, s.pid);
    });
    if (!cgroups) o.log("  no writable cgroup tree: the processes stay in the bench's cgroup (discovery sees no pod)");
    const procRoot = path.join(dir, 'proc');
    fs.mkdirSync(procRoot);
    fs.symlinkSync('/proc/thread-self', path.join(procRoot, 'thread-self'));
    for (const p of pods) fs.symlinkSync(`/proc/${p.pid}`, path.join(procRoot, String(p.pid)));
    const hostResolvConf = path.join(dir, 'host-resolv.conf');
    fs.writeFileSync(hostResolvConf, `nameserver ${o.server}\n`);
    const configFile = path.join(dir, 'coredns-healthd.json');
    fs.writeFileSync(
      configFile,
      JSON.stringify(
        {
          interval: `${o.intervalMs}ms`,
          jitter: 0,
          probe: {
            timeout: `${o.timeoutMs}ms`,
            attempts: 1,
            transports: ['udp'],
            ...(o.spread === undefined ? {} : { spread: o.spread }),
            ...(o.maxQueriesPerSecond === undefined ? {} : { maxQueriesPerSecond: o.maxQueriesPerSecond }),
          },
          queries: [{ name: o.name, type: 'A', expectAnswers: [o.answer] }],
          hostResolvConf,
          discovery: { procRoot, docker: { enabled: false } },
          http: { listen: '127.0.0.1:0' },
          log: { level: 'info' },
          kubernetes: { enabled: false },
        },
        null,
        2,
      ),
    );

    o.log(`  starting the daemon (node ${o.nodeFlags.join(' ')}) ...`);
    const bin = o.root === undefined ? repoPath('bin/coredns-healthd.js') : path.join(o.root, 'bin/coredns-healthd.js');
    child = spawn(process.execPath, [...o.nodeFlags, bin, 'run', '--config', configFile], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...o.env },
    });
    const pid = child.pid!;
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr = (stderr + c).slice(-8192)));
    const port = await new Promise<number>((resolve, reject) => {
      const lines = createInterface({ input: child!.stdout! });
      const timer = setTimeout(() => reject(new Error(`the daemon did not listen within 30 s: ${stderr}`)), 30_000);
      lines.on('line', (line) => {
        try {
          const rec = JSON.parse(line) as { msg?: string; port?: number };
          if (rec.msg === 'http listening' && typeof rec.port === 'number') {
            clearTimeout(timer);
            resolve(rec.port);
          }
        } catch {
          // not a log line
        }
      });
      child!.once('exit', (code) => reject(new Error(`the daemon exited (${code}): ${stderr}`)));
    });
    const rssSamples: number[] = [];
    const sampler = setInterval(() => {
      try {
        rssSamples.push(round(processRss(pid).rss));
      } catch {
        // exited
      }
    }, 1000);
    try {
      const slack = o.intervalMs + o.timeoutMs + 30_000;
      const a = await waitForSweeps(port, o.warmupSweeps, 0, o.intervalMs, o.warmupSweeps * (o.intervalMs + o.timeoutMs) + 60_000, child);
      const cpu0 = processCpuSeconds(pid);
      const rssStart = processRss(pid).rss;
      // CPU per interval (one sweep each), for the median and p95 beside the mean.
      const perInterval: number[] = [];
      let lastNs = processCpuNs(pid);
      const cpuSampler = setInterval(() => {
        try {
          const now = processCpuNs(pid);
          perInterval.push((now - lastNs) / 1e6);
          lastNs = now;
        } catch {
          // exited
        }
      }, o.intervalMs);
      o.log(`  warm-up done (${a.sweeps} sweeps); measuring ${o.sweeps} sweeps at a ${o.intervalMs} ms interval ...`);
      const b = await waitForSweeps(port, a.sweeps + o.sweeps, a.sweeps, o.intervalMs, o.sweeps * (o.intervalMs + o.timeoutMs) + slack, child).finally(() =>
        clearInterval(cpuSampler),
      );
      const cpu1 = processCpuSeconds(pid);
      const sorted = [...perInterval].sort((x, y) => x - y);
      const pick = (q: number) => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);
      const rss = processRss(pid);
      const statusText = (await get(port, '/status')).body;
      const podVantages = (statusText.match(/"podUid":/g) ?? []).length;
      const status = JSON.parse(statusText) as {
        diagnosis?: { skippedSweeps?: number; last?: { durationSeconds?: number } | null };
        sweep?: { plan?: { budgetQueries?: number | null; rotationSweeps?: number | null } };
      };
      const n = b.sweeps - a.sweeps;
      const wallSeconds = (b.at - a.at) / 1000;
      const plan = status.sweep?.plan;
      const vantagesSeen = topo.namespaces.length + 1;
      return {
        root: o.root ?? null,
        vantages: vantagesSeen,
        sweeps: n,
        intervalMs: o.intervalMs,
        spread: o.spread ?? null,
        nodeFlags: o.nodeFlags,
        env: o.env,
        meanWallMs: round(((b.durationSum - a.durationSum) / Math.max(1, b.durationCount - a.durationCount)) * 1000, 2),
        cpuPerSweepMs: round(((cpu1 - cpu0) / Math.max(1, n)) * 1000, 1),
        cpuMedianMs: round(pick(0.5), 1),
        cpuP95Ms: round(pick(0.95), 1),
        warmupSweeps: o.warmupSweeps,
        rssStartMiB: round(rssStart),
        rssEndMiB: round(rss.rss),
        rssMaxMiB: Math.max(...rssSamples, round(rss.rss)),
        peakRssMiB: round(rss.hwm),
        rssSamples,
        podVantages,
        probes: b.probes - a.probes,
        failedProbes: b.failed - a.failed,
        diagnosis: {
          lastMs: status.diagnosis?.last?.durationSeconds === undefined ? null : round(status.diagnosis.last.durationSeconds * 1000, 1),
          skippedSweeps: status.diagnosis?.skippedSweeps ?? 0,
        },
        queriesPerSecond: a.queries === null || b.queries === null ? null : round((b.queries - a.queries) / wallSeconds, 2),
        budgetQps: plan?.budgetQueries == null ? null : round(plan.budgetQueries / (o.intervalMs / 1000), 2),
        rotationSweeps: plan?.rotationSweeps ?? null,
        secondsPerSweep: round(wallSeconds / Math.max(1, n), 3),
      };
    } finally {
      clearInterval(sampler);
    }
  } finally {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child!.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await Promise.all(pods.map((p) => p.stop()));
    if (cgroups) removeCgroupTree(cgroups);
    for (const etc of etcDirs) fs.rmSync(etc, { recursive: true, force: true });
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
