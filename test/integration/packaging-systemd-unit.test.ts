// systemd/coredns-healthd.service: systemd-analyze verify and its exposure
// score, and the hardening checked against what the daemon really does:
//  - CapabilityBoundingSet: `check` and `run` work with exactly its
//    capabilities, and fail without either one (root-owned and non-root
//    container processes, in network namespaces of this test);
//  - SystemCallFilter, RestrictAddressFamilies, RestrictNamespaces: every
//    system call, socket family and namespace switch of `check` and of `run`
//    (strace) is allowed by the unit.
// Discovery runs in a private PID namespace (unshare --pid --mount-proc) that
// holds only this test's processes, so no other namespace on the machine is probed.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { requireRoot } from '../support/root.js';
import { createNetns, removeByPrefix, randomPrefix } from '../support/netns.js';
import { RESPONDER_SCRIPT } from '../support/responder-process.js';
import { tryRun, run, sleep, which } from '../support/run.js';
import { spawnService, type Service } from '../support/service.js';
import { REPO } from '../support/paths.js';
import { DAEMON_ENV } from '../../packaging/lib/stage.js';

const ROOT = REPO;
const UNIT = path.join(ROOT, 'systemd', 'coredns-healthd.service');
const BIN = path.join(ROOT, 'bin', 'coredns-healthd.js');
const EXPOSURE_LIMIT = 3.0;

/** The unit's [Service] settings: key → every value, in order. */
function unitSettings(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      section = sec[1] as string;
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = `${section}.${line.slice(0, eq).trim()}`;
    out.set(key, [...(out.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return out;
}

const settings = unitSettings(fs.readFileSync(UNIT, 'utf8'));
const one = (key: string): string | undefined => settings.get(`Service.${key}`)?.at(-1);

t.test('the unit has the settings the issue asks for', async (t) => {
  t.equal(one('Type'), 'notify');
  t.match(one('WatchdogSec') ?? '', /^\d+s?$/, 'WatchdogSec is set');
  t.equal(one('Restart'), 'on-failure');
  t.equal(one('ExecStart'), '/usr/bin/coredns-healthd run');
  t.equal(one('ExecStartPre'), '/usr/bin/coredns-healthd config check');
  t.same(
    settings.get('Service.ExecReload'),
    ['/usr/bin/coredns-healthd config check', `/bin/sh -c 'kill -HUP "$1"' coredns-healthd-reload $MAINPID`],
    "reload checks the file, then sends SIGHUP with the shell's built-in kill (no procps needed)",
  );
  t.same(
    settings.get('Service.Environment'),
    Object.entries(DAEMON_ENV).map(([k, v]) => `${k}=${v}`),
    'the environment the bench runs the daemon with (packaging/lib/stage.ts DAEMON_ENV): MALLOC_ARENA_MAX=2',
  );
  t.equal(one('NoNewPrivileges'), 'yes');
  t.equal(one('ProtectSystem'), 'strict');
  t.equal(one('ProtectHome'), 'yes');
  t.equal(one('PrivateTmp'), 'yes');
  t.ok(one('RestrictAddressFamilies'), 'RestrictAddressFamilies');
  t.ok(settings.get('Service.SystemCallFilter')?.length, 'SystemCallFilter');
  t.equal(settings.get('Install.WantedBy')?.[0], 'multi-user.target');
});

/** A scratch root holding the systemd units of this machine, the unit, and stand-ins for the commands it runs. */
function verifyRoot(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chz-verify-'));
  const units = ['/usr/lib/systemd/system', '/lib/systemd/system'].find((d) => fs.existsSync(path.join(d, 'multi-user.target')));
  if (!units) throw new Error('no systemd units on this machine (multi-user.target); install the Debian package systemd');
  fs.mkdirSync(path.join(dir, 'usr', 'lib', 'systemd'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'usr', 'bin'), { recursive: true });
  fs.cpSync(units, path.join(dir, 'usr', 'lib', 'systemd', 'system'), { recursive: true, verbatimSymlinks: true });
  fs.symlinkSync('usr/bin', path.join(dir, 'bin'));
  fs.symlinkSync('usr/lib', path.join(dir, 'lib'));
  fs.copyFileSync(UNIT, path.join(dir, 'usr', 'lib', 'systemd', 'system', 'coredns-healthd.service'));
  for (const cmd of ['coredns-healthd', 'sh']) {
    fs.writeFileSync(path.join(dir, 'usr', 'bin', cmd), '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  }
  return dir;
}

t.test('systemd-analyze verify passes without a warning', async (t) => {
  const root = verifyRoot();
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  const r = await tryRun(which('systemd-analyze', 'systemd'), ['verify', `--root=${root}`, '--man=no', 'coredns-healthd.service'], { timeoutMs: 60_000 });
  t.equal(r.code, 0, `exit code (${r.stderr.trim()})`);
  t.equal(`${r.stdout}${r.stderr}`.trim(), '', 'no warning (unknown keys and bad values are only warnings to verify)');

  // The check is not vacuous: a misspelt key is reported.
  const unit = path.join(root, 'usr', 'lib', 'systemd', 'system', 'coredns-healthd.service');
  fs.writeFileSync(unit, fs.readFileSync(UNIT, 'utf8').replace('Restart=on-failure', 'Restart=on-failure\nRestartt=always'));
  const bad = await tryRun(which('systemd-analyze', 'systemd'), ['verify', `--root=${root}`, '--man=no', 'coredns-healthd.service'], { timeoutMs: 60_000 });
  t.match(bad.stderr, /Unknown key 'Restartt'/, 'a misspelt key is reported');
});

t.test('exposure score (systemd-analyze security --offline=yes)', async (t) => {
  const r = await tryRun(which('systemd-analyze', 'systemd'), ['security', '--offline=yes', '--no-pager', UNIT], { timeoutMs: 60_000 });
  const m = /Overall exposure level for coredns-healthd\.service: (\d+\.\d+) (\S+)/.exec(r.stdout);
  t.ok(m, `the overall exposure is printed (${r.stderr.trim()})`);
  if (!m) return;
  const score = Number(m[1]);
  t.comment(`exposure: ${score} ${m[2]}`);
  for (const line of r.stdout.split('\n').filter((l) => l.startsWith('✗'))) t.comment(line.replace(/\s{2,}/g, '  ').trim());
  t.ok(score <= EXPOSURE_LIMIT, `exposure ${score} is at most ${EXPOSURE_LIMIT}`);
});

// ---------------------------------------------------------------------------
// A private PID namespace: only this test's processes are in its /proc.

interface Sandbox {
  /** argv that runs cmd inside the sandbox (nsenter). */
  argv(cmd: string, args: readonly string[]): string[];
}

async function startSandbox(t: Test): Promise<Sandbox> {
  const holder: ChildProcess = spawn(
    which('unshare'),
    ['--pid', '--fork', '--mount-proc', '--propagation', 'private', '--kill-child', which('sleep'), 'infinity'],
    {
      stdio: 'ignore',
    },
  );
  t.teardown(() => {
    holder.kill('SIGKILL');
  });
  let inner = 0;
  for (let i = 0; i < 100 && !inner; i++) {
    try {
      inner = Number(fs.readFileSync(`/proc/${holder.pid}/task/${holder.pid}/children`, 'utf8').trim().split(/\s+/)[0]) || 0;
    } catch {
      // not yet
    }
    if (!inner) await sleep(20);
  }
  if (!inner) throw new Error('unshare --pid --fork did not start its child');
  const nsenter = which('nsenter');
  return { argv: (cmd, args) => [nsenter, `--target=${inner}`, '--pid', '--mount', '--', cmd, ...args] };
}

/**
 * Starts a DNS responder on 127.0.0.1:53 of a namespace, inside the sandbox, as root or as nobody
 * (the namespace lets unprivileged users bind port 53); resolves when READY. Its resolv.conf, as
 * `ip netns exec` mounts it from /etc/netns/<netns>/, names that responder: the daemon probes each
 * process's own nameservers, never this machine's.
 */
async function startResponder(sb: Sandbox, netns: string, user: 'root' | 'nobody'): Promise<Service> {
  await run(which('ip'), ['netns', 'exec', netns, which('sysctl'), '-q', '-w', 'net.ipv4.ip_unprivileged_port_start=53']);
  const node = [
    process.execPath,
    RESPONDER_SCRIPT,
    '--listen',
    '127.0.0.1',
    '--port',
    '53',
    '--name',
    'kubernetes.default.svc.cluster.local',
    '--address',
    '10.96.0.1',
  ];
  const asUser = user === 'root' ? node : [which('setpriv'), '--reuid=65534', '--regid=65534', '--clear-groups', ...node];
  const argv = sb.argv(which('ip'), ['netns', 'exec', netns, ...asUser]);
  let ready: () => void = () => undefined;
  const isReady = new Promise<void>((resolve) => (ready = resolve));
  const svc = spawnService(argv[0] as string, argv.slice(1), { onLine: (l) => l.startsWith('READY ') && ready() });
  const timeout = sleep(10_000).then(() => {
    throw new Error(`responder in ${netns} (${user}) not READY: ${svc.stderr()}`);
  });
  await Promise.race([isReady, timeout, svc.exited.then(() => Promise.reject(new Error(`responder in ${netns} exited: ${svc.stderr()}`)))]);
  return svc;
}

/** The capabilities in the unit's CapabilityBoundingSet, as setpriv names them ("sys_admin"). */
function boundingSet(): string[] {
  const value = one('CapabilityBoundingSet') ?? '';
  return value
    .split(/\s+/)
    .filter(Boolean)
    .map((c) => c.replace(/^CAP_/, '').toLowerCase());
}

interface CheckJson {
  summary: { vantages: number; vantagesProbed: number; probes: number; ok: number; failed: number };
  vantages: { pid: number | null; status: string; resolvConf?: { nameservers: string[] } }[];
  results: { ok: boolean; reason: string; detail: string | null }[];
}

function checkConfig(dir: string): string {
  const file = path.join(dir, 'config.json');
  fs.writeFileSync(
    file,
    JSON.stringify({
      probe: { timeout: '2s', attempts: 1, maxQueriesPerSecond: 100_000, transports: ['udp', 'tcp'] },
      kubernetes: { enabled: false },
      discovery: { docker: { enabled: false } },
    }),
  );
  return file;
}

const cleanEnv = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8' };

/** `check` in the sandbox under setpriv: exactly these capabilities, no new privileges; optionally under strace. */
function checkArgv(sb: Sandbox, caps: string[], config: string, strace?: string): string[] {
  const cli = [process.execPath, BIN, 'check', '--json', '--no-host', '--no-docker', '--config', config];
  const traced = strace ? [which('strace'), '-f', '-qq', '-o', strace, ...cli] : cli;
  const bounding = ['-all', ...caps.map((c) => `+${c}`)].join(',');
  return sb.argv(which('setpriv'), ['--no-new-privs', '--inh-caps=-all', `--bounding-set=${bounding}`, ...traced]);
}

async function runCheck(argv: string[]): Promise<{ code: number | null; json: CheckJson | null; stderr: string }> {
  const r = await tryRun('/usr/bin/env', ['-i', ...Object.entries(cleanEnv).map(([k, v]) => `${k}=${v}`), ...argv], { timeoutMs: 120_000 });
  let json: CheckJson | null = null;
  try {
    json = JSON.parse(r.stdout) as CheckJson;
  } catch {
    json = null;
  }
  return { code: r.code, json, stderr: r.stderr };
}

/** Depth-first search of a process tree by /proc/<pid>/task/<pid>/children, for a process whose argv matches. */
function findDescendant(pid: number, match: (cmdline: string[]) => boolean): number | null {
  let children: number[] = [];
  try {
    children = fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return null;
  }
  for (const child of children) {
    try {
      if (match(fs.readFileSync(`/proc/${child}/cmdline`, 'utf8').split('\0').filter(Boolean))) return child;
    } catch {
      // gone
    }
    const deeper = findDescendant(child, match);
    if (deeper) return deeper;
  }
  return null;
}

interface Trace {
  syscalls: Set<string>;
  families: Set<string>;
  /** setns/unshare/clone calls that name a namespace type other than net. */
  otherNamespaces: string[];
}

export function parseStrace(text: string): Trace {
  const syscalls = new Set<string>();
  const families = new Set<string>();
  const otherNamespaces: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\d+\s+([a-z0-9_]+)\((.*)$/.exec(line);
    if (!m) continue;
    const [, name, rest] = m as unknown as [string, string, string];
    syscalls.add(name);
    if (name === 'socket') {
      const fam = /^(AF_[A-Z0-9]+)/.exec(rest);
      if (fam) families.add(fam[1] as string);
    }
    if (/^(setns|unshare|clone|clone3)$/.test(name)) {
      const ns = rest.match(/CLONE_NEW[A-Z]+/g) ?? [];
      if (name === 'setns' && ns.length === 0 && !/^\d+, 0\)/.test(rest)) continue;
      if (name === 'setns' && /^\d+, 0\)/.test(rest)) otherNamespaces.push(line);
      for (const n of ns) if (n !== 'CLONE_NEWNET') otherNamespaces.push(line);
    }
  }
  return { syscalls, families, otherNamespaces };
}

/** Every system call a group (or a list of groups and names) stands for, per systemd-analyze. */
async function expandFilter(items: readonly string[], cache = new Map<string, Set<string>>()): Promise<Set<string>> {
  const out = new Set<string>();
  for (const item of items) {
    if (!item.startsWith('@')) {
      out.add(item);
      continue;
    }
    let set = cache.get(item);
    if (!set) {
      const text = (await run(which('systemd-analyze', 'systemd'), ['syscall-filter', '--no-pager', item])).stdout;
      const entries = text
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l && !l.startsWith('#') && l !== item);
      set = await expandFilter(entries, cache);
      cache.set(item, set);
    }
    for (const s of set) out.add(s);
  }
  return out;
}

/** The unit's system call allow list: the first SystemCallFilter= line allows, lines starting with ~ deny. */
async function allowedSyscalls(): Promise<Set<string>> {
  const lines = settings.get('Service.SystemCallFilter') ?? [];
  const allowed = new Set<string>();
  for (const line of lines.filter((l) => !l.startsWith('~'))) for (const s of await expandFilter(line.split(/\s+/))) allowed.add(s);
  for (const line of lines.filter((l) => l.startsWith('~'))) for (const s of await expandFilter(line.slice(1).trim().split(/\s+/))) allowed.delete(s);
  return allowed;
}

function assertTraceAllowed(t: Test, trace: Trace, allowed: Set<string>, what: string): void {
  t.ok(trace.syscalls.size > 20, `${what}: strace saw its system calls (${trace.syscalls.size})`);
  const denied = [...trace.syscalls].filter((s) => !allowed.has(s)).sort();
  t.same(denied, [], `${what}: every system call is in SystemCallFilter (${[...trace.syscalls].sort().join(' ')})`);
  const families = new Set((one('RestrictAddressFamilies') ?? '').split(/\s+/));
  t.same(
    [...trace.families].filter((f) => !families.has(f)),
    [],
    `${what}: socket families ${[...trace.families].join(' ')} are in RestrictAddressFamilies`,
  );
  t.same(trace.otherNamespaces, [], `${what}: only network namespaces are entered (RestrictNamespaces=${one('RestrictNamespaces')})`);
}

t.test("capabilities and system calls of check and run, in this test's namespaces", async (t) => {
  if (!requireRoot(t, 'creates network namespaces and a PID namespace, and drops capabilities with setpriv')) return;
  if (!fs.existsSync(path.join(ROOT, 'dist', 'src', 'cli', 'main.js'))) {
    t.fail('dist/src/cli/main.js is missing: run "npm run build" (npm test does it first)');
    return;
  }
  const prefix = randomPrefix('chz');
  t.teardown(() => removeByPrefix(prefix));
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chz-caps-'));
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const rootNs = `${prefix}-root`;
  const userNs = `${prefix}-user`;
  await createNetns(rootNs);
  await createNetns(userNs);
  const etcNetns = '/etc/netns';
  const hadEtcNetns = fs.existsSync(etcNetns);
  t.teardown(() => {
    for (const ns of [rootNs, userNs]) fs.rmSync(path.join(etcNetns, ns), { recursive: true, force: true });
    if (!hadEtcNetns) {
      try {
        fs.rmdirSync(etcNetns); // only when empty: other tests may use it meanwhile
      } catch {
        // not empty, or gone
      }
    }
  });
  for (const ns of [rootNs, userNs]) {
    fs.mkdirSync(path.join(etcNetns, ns), { recursive: true });
    fs.writeFileSync(path.join(etcNetns, ns, 'resolv.conf'), 'nameserver 127.0.0.1\n');
  }
  const sb = await startSandbox(t);
  const responders = [await startResponder(sb, rootNs, 'root'), await startResponder(sb, userNs, 'nobody')];
  t.teardown(() => Promise.all(responders.map((r) => r.stop())));
  const config = checkConfig(tmp);
  const caps = boundingSet();
  t.same([...caps].sort(), ['sys_admin', 'sys_ptrace'], 'CapabilityBoundingSet is CAP_SYS_ADMIN CAP_SYS_PTRACE');

  await t.test("with the unit's capabilities, both namespaces are found and probed (a root process and a non-root one)", async (t) => {
    const r = await runCheck(checkArgv(sb, caps, config));
    t.equal(r.code, 0, `exit 0 (${r.stderr.trim()})`);
    t.equal(r.json?.summary.vantages, 2, 'two vantages: the two namespaces of this test');
    t.equal(r.json?.summary.probes, 4, 'UDP and TCP from each');
    t.equal(r.json?.summary.ok, 4, 'every probe passed');
    t.same(
      r.json?.vantages.map((v) => v.resolvConf?.nameservers),
      [['127.0.0.1'], ['127.0.0.1']],
      "each namespace's resolv.conf is read through /proc/<pid>/root (no CAP_DAC_READ_SEARCH needed)",
    );
  });

  await t.test('without CAP_SYS_PTRACE, no container namespace can be opened', async (t) => {
    const r = await runCheck(
      checkArgv(
        sb,
        caps.filter((c) => c !== 'sys_ptrace'),
        config,
      ),
    );
    t.not(r.code, 0, 'check fails');
    t.notOk((r.json?.summary.ok ?? 0) > 0, 'no probe passed');
    t.comment(`${r.stderr.trim().split('\n')[0]}`);
  });

  await t.test('without CAP_SYS_ADMIN, setns is refused', async (t) => {
    const r = await runCheck(
      checkArgv(
        sb,
        caps.filter((c) => c !== 'sys_admin'),
        config,
      ),
    );
    t.equal(r.code, 1, 'check reports failed probes');
    t.equal(r.json?.summary.vantages, 2, 'the namespaces are found');
    t.equal(r.json?.summary.ok, 0, 'no probe passed');
    t.ok(
      r.json?.results.every((x) => /EPERM|setns|permission/i.test(`${x.reason} ${x.detail ?? ''}`)),
      'each failure names setns/EPERM',
    );
  });

  const allowed = await allowedSyscalls();
  t.ok(allowed.has('setns') && allowed.has('pkey_alloc'), 'the filter allows setns and pkey_alloc (V8)');

  await t.test('check: every system call, socket family and namespace switch is allowed by the unit', async (t) => {
    const out = path.join(tmp, 'check.strace');
    const r = await runCheck(checkArgv(sb, caps, config, out));
    t.equal(r.code, 0, `check passes under strace (${r.stderr.trim()})`);
    assertTraceAllowed(t, parseStrace(fs.readFileSync(out, 'utf8')), allowed, 'check');
  });

  await t.test("run: the daemon serves, sweeps and stops within the unit's limits", async (t) => {
    const port = 20_000 + Math.floor(Math.random() * 40_000);
    const daemonConfig = path.join(tmp, 'daemon.json');
    fs.writeFileSync(
      daemonConfig,
      JSON.stringify({
        interval: '1s',
        jitter: '0s',
        probe: { timeout: '1s', attempts: 1, maxQueriesPerSecond: 100_000, transports: ['udp', 'tcp'] },
        hostResolvConf: path.join(tmp, 'resolv.conf'),
        discovery: { host: false, docker: { enabled: false } },
        http: { listen: `127.0.0.1:${port}` },
        kubernetes: { enabled: false },
        remedy: { mode: 'off' },
      }),
    );
    fs.writeFileSync(path.join(tmp, 'resolv.conf'), 'nameserver 127.0.0.1\n');
    const out = path.join(tmp, 'run.strace');
    const bounding = ['-all', ...caps.map((c) => `+${c}`)].join(',');
    const argv = sb.argv(which('setpriv'), [
      '--no-new-privs',
      '--inh-caps=-all',
      `--bounding-set=${bounding}`,
      which('strace'),
      '-f',
      '-qq',
      '-o',
      out,
      process.execPath,
      BIN,
      'run',
      '--config',
      daemonConfig,
    ]);
    // systemd's side of sd_notify: an abstract datagram socket that prints what it receives.
    const notifyName = `chz-notify-${process.pid}-${port}`;
    const notifications: string[] = [];
    const listener = spawnService(
      which('python3', 'python3'),
      [
        '-u',
        '-c',
        'import socket,sys\ns=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)\ns.bind("\\0"+sys.argv[1])\nprint("LISTENING")\nwhile True: print(s.recv(4096).decode().replace("\\n"," | "))',
        notifyName,
      ],
      { onLine: (l) => notifications.push(l) },
    );
    t.teardown(() => listener.stop());
    for (let i = 0; i < 100 && !notifications.includes('LISTENING'); i++) await sleep(20);
    const env = { ...cleanEnv, NOTIFY_SOCKET: `@${notifyName}`, WATCHDOG_USEC: '2000000' };
    const daemon = spawn('/usr/bin/env', ['-i', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
    let logs = '';
    daemon.stdout.setEncoding('utf8').on('data', (c: string) => (logs += c));
    daemon.stderr.setEncoding('utf8').on('data', (c: string) => (logs += c));
    const exited = new Promise<number | null>((resolve) => daemon.once('exit', (code) => resolve(code)));
    t.teardown(() => {
      daemon.kill('SIGKILL');
    });
    let metrics = '';
    for (let i = 0; i < 60 && !/coredns_healthd_sweeps_total\{[^}]*\} [1-9]/.test(metrics); i++) {
      await sleep(500);
      metrics = await fetch(`http://127.0.0.1:${port}/metrics`).then(
        (r) => r.text(),
        () => '',
      );
    }
    if (!t.match(metrics, /coredns_healthd_sweeps_total\{[^}]*\} [1-9]/, 'sweeps completed and /metrics answers')) t.comment(logs.slice(-4000));
    const status = await fetch(`http://127.0.0.1:${port}/status`).then(
      (r) => r.status,
      () => 0,
    );
    t.ok(status > 0, '/status answers');
    // SIGTERM to the daemon itself (what systemd sends): its pid is the node process under our wrapper.
    const pid = findDescendant(daemon.pid as number, (cmdline) => cmdline[0] === process.execPath && cmdline.includes('run'));
    t.ok(pid, 'the daemon process is found under the wrapper');
    if (pid) {
      // ExecReload: SIGHUP reloads (and tells systemd RELOADING=1, then READY=1).
      process.kill(pid, 'SIGHUP');
      for (let i = 0; i < 100 && !notifications.some((n) => /RELOADING=1/.test(n)); i++) await sleep(50);
      t.ok(
        notifications.some((n) => /RELOADING=1/.test(n)),
        'SIGHUP: RELOADING=1 was sent',
      );
      process.kill(pid, 'SIGTERM');
    }
    const code = await Promise.race([exited, sleep(20_000).then(() => 'timeout' as const)]);
    t.equal(code, 0, 'exits 0 on SIGTERM');
    t.ok(
      notifications.some((n) => /(^| )READY=1( |$)/.test(n)),
      'Type=notify: READY=1 was sent',
    );
    t.ok(
      notifications.some((n) => /(^| )WATCHDOG=1( |$)/.test(n)),
      'WatchdogSec: WATCHDOG=1 was sent',
    );
    t.ok(
      notifications.some((n) => /(^| )STOPPING=1( |$)/.test(n)),
      'STOPPING=1 was sent on SIGTERM',
    );
    assertTraceAllowed(t, parseStrace(fs.readFileSync(out, 'utf8')), allowed, 'run');
  });
});
