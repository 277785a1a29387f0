// Hostile containers for the trust tests (issue 10): real processes, each in its own network
// namespace and its own root, whose /etc/resolv.conf, interface names or Docker labels are
// built to hurt whoever reads them.
//
// A fake container is `nsenter --net=<test netns> -- unshare --mount -- chroot ROOT /bin/sleep 600`
// (every step execs, so the sleep keeps the spawned pid): ROOT is a directory of the test's own
// holding busybox-static, and the netns is one of a test topology's (test/support/netns.ts), so
// its eth0 reaches the topology's server namespace, where the DNS responders run:
//   SERVER:53    answers (mode answer)
//   SERVER:5353  mode hostile-question (a question name with control characters)
//   SERVER:5354  mode hostile-answer   (a CNAME to such a name)
// Nothing else is reachable from a container: a resolv.conf that names any other address points
// at DEAD, an unused address of the topology's subnet (or of the test dockerd's bridge).
//
// Discovery is confined to the test's processes with a procRoot of the test's own: a directory
// holding `thread-self` and one `<pid>` symlink per container (as test/integration/daemon.test.ts
// does), so neither `check` nor the daemon sees, reads or probes from any other namespace of
// this machine. One procRoot per kind lets a test say which kind breaks which assertion.
//
// The canary: a mode-600 file outside every ROOT, /tmp/chh-canary-<hex>/canary, whose content
// carries a random token. The symlink kinds point at its path; the same path also exists inside
// their ROOT with harmless content naming SERVER, which is what the container's own libc reads.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type Docker from 'dockerode';
import { alive, createTopology, randomPrefix, removeByPrefix, type NetnsNode, type TeardownHost, type Topology } from './netns.js';
import { host, parseCidr } from './ip-range.js';
import { spawnResponder } from './responder-process.js';
import { run, sleep, tryRun, which } from './run.js';
import { PARALLEL_DOCKERD, SHARED_DOCKERD, cleanupContainers, removeContainers, runContainer, type TestDockerd } from './dockerd.js';
import { REPO } from './paths.js';

export const PROJECT_ROOT = REPO;
export const BIN = path.join(PROJECT_ROOT, 'bin/coredns-healthd.js');

/** Bounds of the acceptance tests. */
export const RUN_BOUND_MS = 5_000; // a bound against hangs, not a benchmark
export const RSS_BOUND_KB = 150 * 1024;
/** A child past this is killed at once: it has failed, and the machine is shared. */
export const RSS_KILL_KB = 1024 * 1024;
/** No string of a JSON output may be longer (fields are capped at 256; a message holds a few). */
export const MAX_JSON_STRING = 1024;
/** No array of a JSON output may be longer (lists are capped at 16 items; results of ~15 vantages). */
export const MAX_JSON_ARRAY = 300;
/** Whole outputs: a check's stdout, a /status body. The 54 MB search line gave 172 MB. */
export const MAX_OUTPUT_BYTES = 2 * 1024 * 1024;

/** Raw control characters (C0 but tab and newline, DEL, C1) in human-facing text. */
// eslint-disable-next-line no-control-regex -- finding raw control characters is the point
export const CONTROL_RE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;
/** Bidi overrides and isolates, shown escaped by src/text/untrusted.ts. */
export const BIDI_RE = /[\u202a-\u202e\u2066-\u2069]/;
/** The marker of a forged line: after a raw newline it would start a line of the output. */
export const FORGED = 'FAKE-LINE';

// ---------------------------------------------------------------------------------------------
// The kinds

export type HostileKind =
  | 'abs-symlink'
  | 'rel-symlink'
  | 'devzero-symlink'
  | 'chardev'
  | 'fifo'
  | 'big-file'
  | 'directory'
  | 'socket'
  | 'esc-search'
  | 'long-search'
  | 'huge-search'
  | 'ifnames'
  | 'docker-label-escape'
  | 'docker-label-huge';

export const PROC_KINDS: readonly HostileKind[] = [
  'abs-symlink',
  'rel-symlink',
  'devzero-symlink',
  'chardev',
  'fifo',
  'big-file',
  'directory',
  'socket',
  'esc-search',
  'long-search',
  'huge-search',
  'ifnames',
];
export const DOCKER_KINDS: readonly HostileKind[] = ['docker-label-escape', 'docker-label-huge'];

export const KIND_DESCRIPTIONS: Record<HostileKind, string> = {
  'abs-symlink': 'resolv.conf -> absolute path of a mode-600 host canary (the same path in ROOT is harmless)',
  'rel-symlink': 'resolv.conf -> ../../../../../../<canary path>',
  'devzero-symlink': 'resolv.conf -> /dev/zero (ROOT/dev/zero is a char device too)',
  chardev: 'resolv.conf is a char device node (mknod c 1 5: zero)',
  fifo: 'resolv.conf is a FIFO nobody writes',
  'big-file': 'resolv.conf is a 10 MB regular file (a nameserver, then 10,000 junk lines)',
  directory: 'resolv.conf is a directory',
  socket: 'resolv.conf is a listening unix socket',
  'esc-search': 'search domains and lines full of ESC sequences, BEL, CR, DEL, C1, U+202E',
  'long-search': 'a 60 KB search line of 6,000 domains (the file stays under the 64 KiB read cap)',
  'huge-search': 'a 1 MB search line (over the 64 KiB cap: a finding, not a read)',
  ifnames: 'interfaces named with ESC sequences inside the netns; the nameserver routed out of one',
  'docker-label-escape': 'Docker label io.kubernetes.pod.name with an OSC title, BEL and a forged line',
  'docker-label-huge': 'Docker label io.kubernetes.pod.name of 100 KB',
};

/** The search line of esc-search (the file holds more: see writeEscSearch). */
export const ESC_DOMAINS = ['\x1b[2J\x1b[H.example', '\x1b]0;pwn\x07.example', 'a\x7fb.example', '\u009b31m.example', '\u202eevil.example', 'cr\rcr.example'];
/** Interface names of the ifnames kind (the kernel refuses '/', ':', whitespace; at most 15 bytes). */
export const ESC_IFNAMES = ['\x1b[2J', '\x1b]0;pwn\x07', '\u202eevil', 'x\x7fy', '\x1b[31mred'];
export const ESC_LABEL = `\x1b]0;pwn\x07evil\n${FORGED} ok`;

// ---------------------------------------------------------------------------------------------
// The world

export interface FakeContainer {
  kind: HostileKind;
  pid: number;
  /** The vantage id check and the daemon give it: netns:[inode]. */
  vantageId: string;
  /** Its ROOT (proc kinds) or null (Docker kinds). */
  root: string | null;
  /** Nameservers a container's own libc would read from its resolv.conf (what the probe should use). */
  expectNameservers: string[];
  docker?: { id: string; name: string };
}

export interface HostileWorld {
  dir: string;
  prefix: string;
  canary: { path: string; token: string };
  topo: Topology;
  server: NetnsNode;
  /** SERVER:53 (answers). */
  serverIp: string;
  /** An unused address in the topology's subnet: nobody answers there. */
  dead: string;
  /** Static targets: the hostile-question and hostile-answer responders. */
  hostileTargets: string[];
  /** The host vantage's resolv.conf (a test file naming SERVER; never the machine's). */
  hostResolvConf: string;
  containers: Map<HostileKind, FakeContainer>;
  /** Docker socket to give check/the daemon: the test dockerd's, or a path where none listens. */
  dockerSocket: string;
  /** A procRoot holding thread-self and the pids of these kinds only (built once per set). */
  procRootFor(kinds: readonly HostileKind[]): string;
}

export interface WorldOptions {
  /** Base of the random prefix of netns, links, containers and temp dirs (lowercase, short). */
  base: string;
  kinds: readonly HostileKind[];
  /** The test dockerd of the Docker kinds: the test file's lane's (default SHARED_DOCKERD). */
  dockerd?: TestDockerd;
}

const canaryToken = (): string => `CANARY${randomBytes(8).toString('hex')}`;

/** Everything removed at teardown, failures included; the steps never throw. */
function safeTeardown(t: TeardownHost, what: string, fn: () => unknown): void {
  t.teardown(async () => {
    try {
      await fn();
    } catch (err) {
      process.stderr.write(`hostile-containers teardown (${what}): ${(err as Error).message}\n`);
    }
  });
}

function makeRoot(root: string): void {
  for (const d of ['bin', 'etc', 'dev', 'tmp', 'proc']) fs.mkdirSync(path.join(root, d), { recursive: true });
  fs.copyFileSync('/bin/busybox', path.join(root, 'bin/busybox'));
  fs.chmodSync(path.join(root, 'bin/busybox'), 0o755);
  for (const applet of ['sh', 'sleep', 'cat']) fs.symlinkSync('busybox', path.join(root, 'bin', applet));
}

async function startFakeContainer(node: NetnsNode, root: string, kids: ChildProcess[]): Promise<number> {
  const child = spawn(which('nsenter'), [`--net=${node.path}`, '--', which('unshare'), '--mount', '--', which('chroot'), root, '/bin/sleep', '600'], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  kids.push(child);
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const pid = child.pid!;
  const netnsIno = fs.statSync(node.path).ino;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`fake container in ${node.name} exited: ${stderr}`);
    try {
      const comm = fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      if (comm === 'sleep' && fs.readlinkSync(`/proc/${pid}/root`) === root && fs.statSync(`/proc/${pid}/ns/net`).ino === netnsIno) return pid;
    } catch {
      // not there yet
    }
    if (Date.now() > deadline) throw new Error(`fake container in ${node.name} did not start (${stderr})`);
    await sleep(10);
  }
}

// A test process killed from outside (tap's file timeout) runs no teardown. Each world records
// its owner here; the next world removes what a dead owner left (namespaces and the processes in
// them, links, Docker containers, directories).
const OWNERS_DIR = path.join(os.tmpdir(), 'chh-owners');

interface OwnerRecord {
  pid: number;
  prefix: string;
  dirs: string[];
}

/** Removes the leftovers of worlds whose test process is gone. */
export async function reapLeftovers(): Promise<string[]> {
  let files: string[] = [];
  try {
    files = fs.readdirSync(OWNERS_DIR).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  const reaped: string[] = [];
  for (const f of files) {
    const file = path.join(OWNERS_DIR, f);
    let rec: OwnerRecord;
    try {
      rec = JSON.parse(fs.readFileSync(file, 'utf8')) as OwnerRecord;
    } catch {
      continue;
    }
    if (alive(rec.pid)) continue;
    await removeByPrefix(rec.prefix);
    for (const d of [SHARED_DOCKERD, PARALLEL_DOCKERD]) if (await d.answers()) await removeContainers(d.client(), rec.prefix);
    for (const d of rec.dirs) fs.rmSync(d, { recursive: true, force: true });
    fs.rmSync(file, { force: true });
    reaped.push(rec.prefix);
  }
  return reaped;
}

/** Builds the kinds asked for. Registers every cleanup with t first, so a failure half way is cleaned. */
export async function buildHostileWorld(t: TeardownHost, opts: WorldOptions): Promise<HostileWorld> {
  await reapLeftovers();
  const prefix = randomPrefix(opts.base);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-`));
  // The canary lives outside every ROOT and outside dir (a ROOT holds the same path with other content).
  const canaryDir = fs.mkdtempSync(path.join(os.tmpdir(), 'chh-canary-'));
  fs.mkdirSync(OWNERS_DIR, { recursive: true });
  const ownerFile = path.join(OWNERS_DIR, `${prefix}.json`);
  fs.writeFileSync(ownerFile, JSON.stringify({ pid: process.pid, prefix, dirs: [dir, canaryDir] } satisfies OwnerRecord));
  safeTeardown(t, 'owner record', () => fs.rmSync(ownerFile, { force: true }));
  safeTeardown(t, 'temp dir', () => fs.rmSync(dir, { recursive: true, force: true }));
  safeTeardown(t, 'canary', () => fs.rmSync(canaryDir, { recursive: true, force: true }));
  fs.chmodSync(canaryDir, 0o700);
  const token = canaryToken();
  const canaryPath = path.join(canaryDir, 'canary');
  fs.writeFileSync(
    canaryPath,
    [`root:$6$${token}$hash:20228:0:99999:7:::`, `search ${token.toLowerCase()}.invalid`, `# ${token}`, `options ndots:${token}`, ''].join('\n'),
    { mode: 0o600 },
  );

  const procKinds = opts.kinds.filter((k) => PROC_KINDS.includes(k));
  const dockerKinds = opts.kinds.filter((k) => DOCKER_KINDS.includes(k));
  // Its cleanup throws on leftovers; a teardown that throws makes tap drop the ones after it.
  const topo = await createTopology({ count: procKinds.length + 1, prefix, ipv6: false });
  safeTeardown(t, 'topology', () => topo.cleanup());
  const server = topo.namespaces[0]!;
  const dead = host(parseCidr(topo.subnet4), 250);
  const kids: ChildProcess[] = [];
  safeTeardown(t, 'fake containers', async () => {
    for (const k of kids) if (k.exitCode === null && k.signalCode === null) k.kill('SIGKILL');
    await Promise.all(kids.map((k) => (k.exitCode !== null || k.signalCode !== null ? Promise.resolve() : new Promise((r) => k.once('exit', r)))));
  });
  const sockets: net.Server[] = [];
  safeTeardown(t, 'unix sockets', () => Promise.all(sockets.map((s) => new Promise((r) => s.close(r)))));

  await spawnResponder({ netns: server.name, listen: server.ipv4, port: 53, t });
  await spawnResponder({ netns: server.name, listen: server.ipv4, port: 5353, mode: 'hostile-question', t });
  await spawnResponder({ netns: server.name, listen: server.ipv4, port: 5354, mode: 'hostile-answer', t });

  const hostResolvConf = path.join(dir, 'host-resolv.conf');
  fs.writeFileSync(hostResolvConf, `nameserver ${server.ipv4}\n`);
  const harmless = `nameserver ${server.ipv4}\nsearch inroot.example\n`;
  const containers = new Map<HostileKind, FakeContainer>();

  for (const [i, kind] of procKinds.entries()) {
    const node = topo.namespaces[i + 1]!;
    const root = path.join(dir, 'roots', kind);
    makeRoot(root);
    const resolv = path.join(root, 'etc/resolv.conf');
    let expect: string[] = [];
    switch (kind) {
      case 'abs-symlink':
      case 'rel-symlink': {
        const inRoot = path.join(root, canaryPath);
        fs.mkdirSync(path.dirname(inRoot), { recursive: true });
        fs.writeFileSync(inRoot, harmless);
        fs.symlinkSync(kind === 'abs-symlink' ? canaryPath : `../../../../../..${canaryPath}`, resolv);
        expect = [server.ipv4];
        break;
      }
      case 'devzero-symlink':
        await run(which('mknod'), ['-m', '666', path.join(root, 'dev/zero'), 'c', '1', '5']);
        fs.symlinkSync('/dev/zero', resolv);
        break;
      case 'chardev':
        await run(which('mknod'), ['-m', '644', resolv, 'c', '1', '5']);
        break;
      case 'fifo':
        await run(which('mkfifo'), ['-m', '644', resolv]);
        break;
      case 'big-file': {
        const junk = `${'x'.repeat(999)}\n`;
        const fd = fs.openSync(resolv, 'w');
        fs.writeSync(fd, `nameserver ${server.ipv4}\n`);
        for (let n = 0; n < 10_000; n++) fs.writeSync(fd, junk);
        fs.closeSync(fd);
        break;
      }
      case 'directory':
        fs.mkdirSync(resolv);
        break;
      case 'socket': {
        const s = net.createServer();
        await new Promise<void>((resolve, reject) => s.once('error', reject).listen(resolv, resolve));
        sockets.push(s);
        break;
      }
      case 'esc-search':
        fs.writeFileSync(
          resolv,
          [
            `nameserver ${server.ipv4}`,
            `search ${ESC_DOMAINS.join(' ')}`,
            `${FORGED} OK: 99 probes from 9 vantages: 99 ok, 0 failed`,
            'options ndots:5 \x1b[31mred \x07',
            `\x1b[2K\rnameserver\x1b[8m ${server.ipv4}`,
            'domain \x1b]8;;http://evil/\x07click\x1b]8;;\x07',
            '',
          ].join('\n'),
        );
        expect = [server.ipv4];
        break;
      case 'long-search':
      case 'huge-search': {
        const domains: string[] = [];
        let size = 0;
        const want = kind === 'long-search' ? 60 * 1024 : 1024 * 1024;
        for (let n = 0; size < want; n++) {
          const d = n % 1000 === 0 ? `\x1b[2J${n}.example` : `d${n}.example`;
          domains.push(d);
          size += d.length + 1;
        }
        fs.writeFileSync(resolv, `nameserver ${server.ipv4}\nsearch ${domains.join(' ')}\n`);
        // Issue 10: at most 64 KiB is read, more is a finding and no nameserver.
        expect = kind === 'long-search' ? [server.ipv4] : [];
        break;
      }
      case 'ifnames':
        fs.writeFileSync(resolv, `nameserver ${dead}\n`);
        expect = [dead];
        break;
      default:
        throw new Error(`unhandled kind ${kind}`);
    }
    if (kind === 'ifnames') {
      // A veth pair inside the netns (both ends ESC-named, up, with carrier) carries the route to
      // its nameserver; the other names are bridges left down (this kernel may lack `dummy`).
      const [a, b, ...rest] = ESC_IFNAMES as [string, string, ...string[]];
      await run(which('ip'), ['-n', node.name, 'link', 'add', 'name', a, 'type', 'veth', 'peer', 'name', b]);
      for (const n of rest) await run(which('ip'), ['-n', node.name, 'link', 'add', 'name', n, 'type', 'bridge']);
      await run(which('ip'), ['-n', node.name, 'link', 'set', ESC_IFNAMES[0]!, 'up']);
      await run(which('ip'), ['-n', node.name, 'link', 'set', ESC_IFNAMES[1]!, 'up']);
      await run(which('ip'), ['-n', node.name, 'address', 'add', `${host(parseCidr(topo.subnet4), 251)}/32`, 'dev', ESC_IFNAMES[0]!]);
      await run(which('ip'), ['-n', node.name, 'route', 'add', `${dead}/32`, 'dev', ESC_IFNAMES[0]!]);
    }
    const pid = await startFakeContainer(node, root, kids);
    containers.set(kind, { kind, pid, root, vantageId: `netns:[${fs.statSync(node.path).ino}]`, expectNameservers: expect });
  }

  let dockerSocket = path.join(dir, 'no-docker.sock');
  if (dockerKinds.length > 0) {
    const dockerd = opts.dockerd ?? SHARED_DOCKERD;
    const docker: Docker = await dockerd.ensure();
    await cleanupContainers(t, docker, prefix);
    dockerSocket = dockerd.socket;
    const dockerDead = dockerd.bridgeAddr.replace(/\.\d+$/, '.250');
    for (const kind of dockerKinds) {
      const podName = kind === 'docker-label-escape' ? ESC_LABEL : `${'\x1b[1m'}${'A'.repeat(100 * 1024)}`;
      const c = await runContainer(docker, {
        name: `${prefix}-${kind}`,
        cmd: ['sleep', '600'],
        dns: [dockerDead],
        labels: {
          'io.kubernetes.pod.name': podName,
          'io.kubernetes.pod.namespace': kind === 'docker-label-escape' ? 'ns\x1b[2J' : 'N'.repeat(100 * 1024),
          'io.kubernetes.pod.uid': `00000000-0000-0000-0000-00000000000${DOCKER_KINDS.indexOf(kind)}`,
          'io.kubernetes.container.name': kind === 'docker-label-escape' ? `c\x1b[2J\n${FORGED}` : 'C'.repeat(100 * 1024),
        },
      });
      const ino = fs.statSync(`/proc/${c.pid}/ns/net`).ino;
      containers.set(kind, { kind, pid: c.pid, root: null, vantageId: `netns:[${ino}]`, expectNameservers: [dockerDead], docker: { id: c.id, name: c.name } });
    }
  }

  const procRoots = new Map<string, string>();
  const procRootFor = (kinds: readonly HostileKind[]): string => {
    const key = [...kinds].sort().join(',');
    const existing = procRoots.get(key);
    if (existing) return existing;
    const p = path.join(dir, `proc-${procRoots.size}`);
    fs.mkdirSync(p);
    fs.symlinkSync('/proc/thread-self', path.join(p, 'thread-self'));
    for (const k of kinds) {
      const c = containers.get(k);
      if (!c) throw new Error(`kind ${k} was not built`);
      fs.symlinkSync(`/proc/${c.pid}`, path.join(p, String(c.pid)));
    }
    procRoots.set(key, p);
    return p;
  };

  return {
    dir,
    prefix,
    canary: { path: canaryPath, token },
    topo,
    server,
    serverIp: server.ipv4,
    dead,
    hostileTargets: [`${server.ipv4}:5353`, `${server.ipv4}:5354`],
    hostResolvConf,
    containers,
    dockerSocket,
    procRootFor,
  };
}

// ---------------------------------------------------------------------------------------------
// The code under test: dist/ (what bin/coredns-healthd.js runs), rebuilt first when stale.
// The TypeScript loader would put ~200 MB and ~4 s of compiler into every run, so neither the
// RSS nor the 5 s bound would measure the daemon.

function newestMtime(dir: string, ext: string): Map<string, number> {
  const out = new Map<string, number>();
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith(ext)) out.set(path.relative(dir, p).slice(0, -ext.length), fs.statSync(p).mtimeMs);
    }
  };
  walk(dir);
  return out;
}

/** src files (relative, without .ts) newer than their dist/src .js, and the src mtime of each. */
function staleDist(): Map<string, number> {
  const src = newestMtime(path.join(PROJECT_ROOT, 'src'), '.ts');
  let dist = new Map<string, number>();
  try {
    dist = newestMtime(path.join(PROJECT_ROOT, 'dist/src'), '.js');
  } catch {
    // no dist yet
  }
  return new Map([...src].filter(([rel, m]) => !rel.endsWith('.d') && (dist.get(rel) ?? 0) < m));
}

/**
 * Makes dist/ at least as new as src/ (npm test's pretest does this already); returns the bin path.
 * A source file edited while tsc ran (the tree is shared) is left for the next run.
 */
export async function ensureBuilt(): Promise<string> {
  if (staleDist().size > 0) {
    const started = Date.now();
    // Type errors of work in progress elsewhere do not stop tsc from emitting.
    await tryRun(process.execPath, [path.join(PROJECT_ROOT, 'node_modules/typescript/bin/tsc'), '-p', path.join(PROJECT_ROOT, 'tsconfig.json')], {
      timeoutMs: 300_000,
    });
    const still = [...staleDist()].filter(([, m]) => m < started).map(([rel]) => rel);
    if (still.length > 0) throw new Error(`dist/ is older than src/ after tsc: ${still.slice(0, 5).join(', ')}`);
  }
  return BIN;
}

/**
 * The environment of a child: this one's without COREDNS_HEALTHD_*, NOTIFY_SOCKET, WATCHDOG_*, and
 * without tap's: its NODE_OPTIONS imports @tapjs/processinfo into every node child, which costs
 * ~250 MB and seconds (the daemon as systemd starts it has none of that). spawnMeasured also
 * goes through `env -i`, since processinfo's patched spawn adds NODE_OPTIONS back.
 */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const drop = /^(COREDNS_HEALTHD_|NOTIFY_|WATCHDOG_|TAP|_TAPJS_|TS_NODE_|NODE_OPTIONS$)/;
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !drop.test(k)));
  return { ...env, ...extra };
}

// ---------------------------------------------------------------------------------------------
// Measured child processes

/** Reads VmHWM (peak RSS, KiB) of a live process; null once it is gone. */
export function vmHwmKb(pid: number): number | null {
  try {
    const m = /^VmHWM:\s+(\d+) kB$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** Output kept in memory, at most `cap` bytes; `bytes` counts everything. */
export class CappedOutput {
  private chunks: Buffer[] = [];
  private kept = 0;
  bytes = 0;
  constructor(private readonly cap = 64 * 1024 * 1024) {}
  push(b: Buffer): void {
    this.bytes += b.length;
    if (this.kept >= this.cap) return;
    const take = b.subarray(0, this.cap - this.kept);
    this.chunks.push(take);
    this.kept += take.length;
  }
  get truncated(): boolean {
    return this.bytes > this.kept;
  }
  text(): string {
    return Buffer.concat(this.chunks).toString('utf8');
  }
}

export interface MeasuredExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  ms: number;
  /** Killed because it ran past timeoutMs. */
  timedOut: boolean;
  /** Killed because its RSS passed RSS_KILL_KB. */
  rssKilled: boolean;
  peakRssKb: number;
  stdout: CappedOutput;
  stderr: CappedOutput;
}

export interface MeasuredChild {
  pid: number;
  child: ChildProcess;
  stdout: CappedOutput;
  stderr: CappedOutput;
  /** Highest VmHWM seen so far. */
  peakRssKb(): number;
  exited: Promise<MeasuredExit>;
  /** SIGKILL unless gone; resolves on exit. */
  kill(): Promise<MeasuredExit>;
}

/**
 * Spawns a child, polls its VmHWM every `pollMs` (the last value read before it exits is its peak,
 * give or take the last poll interval), kills it past timeoutMs or RSS_KILL_KB.
 */
export function spawnMeasured(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; pollMs?: number; onLine?: (line: string) => void } = {},
): MeasuredChild {
  const t0 = performance.now();
  // Through `env -i`: tap's @tapjs/processinfo patches spawn and puts its NODE_OPTIONS back into
  // whatever env a child is given; env(1) execs, so the pid stays the command's.
  const env = Object.entries(opts.env ?? cleanEnv()).flatMap(([k, v]) => (v === undefined || k.includes('=') ? [] : [`${k}=${v}`]));
  const child = spawn(which('env'), ['-i', ...env, cmd, ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: PROJECT_ROOT });
  const pid = child.pid!;
  const stdout = new CappedOutput();
  const stderr = new CappedOutput();
  let partial = '';
  child.stdout.on('data', (b: Buffer) => {
    stdout.push(b);
    if (opts.onLine && partial.length < 1024 * 1024) {
      const lines = (partial + b.toString('utf8')).split('\n');
      partial = lines.pop()!;
      for (const l of lines) opts.onLine(l);
    }
  });
  child.stderr.on('data', (b: Buffer) => stderr.push(b));
  let peak = 0;
  let timedOut = false;
  let rssKilled = false;
  const poll = (): void => {
    const v = vmHwmKb(pid);
    if (v !== null && v > peak) peak = v;
    if (peak > RSS_KILL_KB && child.exitCode === null && child.signalCode === null) {
      rssKilled = true;
      child.kill('SIGKILL');
    }
  };
  poll();
  const poller = setInterval(poll, opts.pollMs ?? 10);
  const timer =
    opts.timeoutMs === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true;
          child.kill('SIGKILL');
        }, opts.timeoutMs);
  const exited = new Promise<MeasuredExit>((resolve) => {
    child.once('exit', (code, signal) => {
      const ms = performance.now() - t0;
      clearInterval(poller);
      clearTimeout(timer);
      // Let the pipes drain.
      const done = (): void => resolve({ code, signal, ms, timedOut, rssKilled, peakRssKb: peak, stdout, stderr });
      let open = 2;
      const one = (): void => {
        if (--open === 0) done();
      };
      if (child.stdout.readableEnded) one();
      else child.stdout.once('close', one);
      if (child.stderr.readableEnded) one();
      else child.stderr.once('close', one);
    });
  });
  const kill = (): Promise<MeasuredExit> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    return exited;
  };
  return { pid, child, stdout, stderr, peakRssKb: () => peak, exited, kill };
}

/**
 * Wall time of `coredns-healthd version` now: the cost of starting node and loading the code,
 * which on a shared, loaded machine alone can take seconds. A run's hang bound is RUN_BOUND_MS
 * on top of it (capped), so the bound measures the run's own work, not the machine's load.
 */
export async function startupMs(bin: string): Promise<number> {
  const r = await spawnMeasured(process.execPath, [bin, 'version'], { timeoutMs: 30_000 }).exited;
  if (r.code !== 0) throw new Error(`${bin} version exited ${r.code ?? r.signal}: ${r.stderr.text().slice(0, 500)}`);
  return Math.min(r.ms, 15_000);
}

// ---------------------------------------------------------------------------------------------
// Looking at outputs

/** A short, escaped excerpt of `text` around `at`, for assertion messages. */
export function excerpt(text: string, at: number, width = 60): string {
  return JSON.stringify(text.slice(Math.max(0, at - width), at + width));
}

/** Where the canary token (any case) appears in text, or -1. */
export function canaryAt(text: string, token: string): number {
  return text.toLowerCase().indexOf(token.toLowerCase());
}

/** The first raw control character (CONTROL_RE) in text: its index, or -1. */
export function controlAt(text: string): number {
  const m = CONTROL_RE.exec(text);
  return m ? m.index : -1;
}

/** Lines of text that start (after blanks) with the forged-line marker. */
export function forgedLines(text: string): string[] {
  return text.split(/\r?\n|\r/).filter((l) => l.trimStart().startsWith(FORGED));
}

export interface JsonBounds {
  longStrings: { path: string; length: number; head: string }[];
  longArrays: { path: string; length: number }[];
}

/** Strings longer than MAX_JSON_STRING and arrays longer than MAX_JSON_ARRAY in a parsed document. */
export function jsonBounds(doc: unknown): JsonBounds {
  const out: JsonBounds = { longStrings: [], longArrays: [] };
  const walk = (v: unknown, p: string): void => {
    if (typeof v === 'string') {
      if (v.length > MAX_JSON_STRING) out.longStrings.push({ path: p, length: v.length, head: JSON.stringify(v.slice(0, 40)) });
    } else if (Array.isArray(v)) {
      if (v.length > MAX_JSON_ARRAY) out.longArrays.push({ path: p, length: v.length });
      v.slice(0, 1000).forEach((x, i) => walk(x, `${p}[${i}]`));
    } else if (v !== null && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k.length > MAX_JSON_STRING) out.longStrings.push({ path: `${p}.<key>`, length: k.length, head: JSON.stringify(k.slice(0, 40)) });
        walk(x, `${p}.${k.slice(0, 40)}`);
      }
    }
  };
  walk(doc, '$');
  return out;
}

export function describeBounds(b: JsonBounds): string {
  const s = b.longStrings.slice(0, 3).map((x) => `${x.path} (${x.length} chars: ${x.head}…)`);
  const a = b.longArrays.slice(0, 3).map((x) => `${x.path} (${x.length} items)`);
  return [...s, ...a].join('; ') + (b.longStrings.length + b.longArrays.length > 6 ? ' …' : '');
}

// ---------------------------------------------------------------------------------------------
// HTTP with a hard deadline (the helpers in http-probe.ts wait forever on a stuck server)

export function httpGet(
  port: number,
  urlPath: string,
  timeoutMs = 5000,
  maxBytes = 64 * 1024 * 1024,
): Promise<{ status: number; body: string; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false }, (res) => {
      const out = new CappedOutput(maxBytes);
      res.on('data', (b: Buffer) => out.push(b));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode!, body: out.text(), bytes: out.bytes });
      });
      res.on('error', reject);
    });
    const timer = setTimeout(() => req.destroy(new Error(`GET ${urlPath}: no complete answer in ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
