// The daemon's discovery cache: /proc every sweep, Docker only when the scan
// changed, the answer is old, or the socket moved; each part fails alone.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { parseCheckArgs, resolveCheckOptions } from '../../src/cli/check.js';
import { loadConfigResult } from '../../src/config/load.js';
import { discoveryOptions, sweepOptions } from '../../src/config/options.js';
import { DiscoveryCache, scanFingerprint, type DiscoverOptions, type DiscoveryDeps } from '../../src/discovery/discover.js';
import type { DockerDiscovery } from '../../src/discovery/docker.js';
import { scanProc, type ScanMemo, type ScanResult } from '../../src/discovery/proc-scan.js';
import type { ProcVantage } from '../../src/discovery/vantage.js';
import { vantage } from '../support/daemon-fixtures.js';
import { repoPath } from '../support/paths.js';

const HOST_NS = { dev: 4, inode: 4026531840 };

const proc = (inode: number, containerIds: string[] = [], over: Partial<ProcVantage> = {}): ProcVantage => ({
  dev: 4,
  inode,
  pid: inode - 4026530000,
  startTime: 100,
  comm: 'app',
  pidCount: 1,
  hostNetwork: inode === HOST_NS.inode,
  containerIds,
  ...over,
});

function fakes() {
  const state = {
    now: 0,
    scans: 0,
    dockerCalls: 0,
    procVantages: [proc(HOST_NS.inode), proc(4026532001, ['c1'])],
    docker: {
      available: true,
      containers: [
        {
          id: 'c1',
          name: '/k8s_app_web-1',
          pid: 2001,
          labels: { 'io.kubernetes.pod.name': 'web-1', 'io.kubernetes.pod.namespace': 'default' },
          networkMode: 'container:x',
        },
      ],
    } as DockerDiscovery,
    scanThrows: null as Error | null,
  };
  const deps: Partial<DiscoveryDeps> = {
    now: () => state.now,
    scanProc: async () => {
      state.scans++;
      if (state.scanThrows) throw state.scanThrows;
      return { vantages: state.procVantages, errors: [{ pid: 9, path: '/proc/9/ns/net', code: 'ENOENT' }], host: HOST_NS, scanned: 3 } satisfies ScanResult;
    },
    discoverDocker: async () => {
      state.dockerCalls++;
      return structuredClone(state.docker);
    },
    locateContainers: async (containers) => ({
      located: containers.map((c) => ({ ...c, dev: 4, inode: c.pid === 1 ? HOST_NS.inode : 4026530000 + c.pid, startTime: 100, comm: 'app' })),
      errors: [],
    }),
    hostVantage: (resolv) => ({ ...vantage(HOST_NS.inode, { hostNetwork: true }), resolvConfFile: { root: null, path: resolv } }),
    hostNetns: () => HOST_NS,
  };
  return { state, deps };
}

const OPTS: DiscoverOptions = {
  procRoot: '/proc',
  hostResolvConf: '/tmp/host-resolv.conf',
  host: true,
  containers: true,
  proc: true,
  docker: { enabled: true, socketPath: '/run/docker.sock', timeoutMs: 1000 },
};

t.test('steady node: /proc every sweep, Docker once; Docker data still merged from the cache', async (t) => {
  const { state, deps } = fakes();
  const cache = new DiscoveryCache(deps);
  const first = await cache.discover(OPTS);
  t.equal(first.dockerRefreshed, true);
  t.same(
    first.vantages.map((v) => [v.id, v.podNamespace, v.podName, v.source]),
    [
      ['netns:[4026531840]', undefined, undefined, 'host'],
      ['netns:[4026532001]', 'default', 'web-1', 'proc+docker'],
    ],
  );
  t.same(first.vantages[0]!.resolvConfFile, { root: null, path: '/tmp/host-resolv.conf' }, 'the configured host resolv.conf');
  t.equal(first.scanErrors.length, 1);
  t.equal(first.scanned, 3);
  for (let i = 0; i < 10; i++) {
    state.now += 10_000;
    const again = await cache.discover(OPTS);
    t.equal(again.dockerRefreshed, false);
    t.equal(again.vantages[1]!.podName, 'web-1', 'pod name from the cached answer');
  }
  t.equal(state.scans, 11);
  t.equal(state.dockerCalls, 1);
});

t.test('Docker is asked again when the scan changes, the answer ages, or the socket moves', async (t) => {
  const { state, deps } = fakes();
  const cache = new DiscoveryCache(deps, { maxAgeMs: 60_000, errorRetryMs: 5_000 });
  await cache.discover(OPTS);
  state.procVantages = [...state.procVantages, proc(4026532002, ['c2'])];
  t.equal((await cache.discover(OPTS)).dockerRefreshed, true, 'a new namespace');
  state.procVantages = [proc(HOST_NS.inode), proc(4026532001, ['c1b']), proc(4026532002, ['c2'])];
  t.equal((await cache.discover(OPTS)).dockerRefreshed, true, 'a restarted container in the same namespace');
  t.equal((await cache.discover(OPTS)).dockerRefreshed, false);
  state.now += 60_000;
  t.equal((await cache.discover(OPTS)).dockerRefreshed, true, 'too old');
  t.equal((await cache.discover({ ...OPTS, docker: { ...OPTS.docker, socketPath: '/other.sock' } })).dockerRefreshed, true, 'another socket');
  t.equal(state.dockerCalls, 5);

  state.docker = { available: false, containers: [], error: { code: 'timeout', message: 'slow' } };
  cache.invalidate();
  const failed = await cache.discover(OPTS);
  t.equal(failed.docker!.error!.code, 'timeout');
  t.same(
    failed.vantages.map((v) => v.source),
    ['host', 'proc', 'proc'],
    'Docker down: /proc alone',
  );
  state.now += 4_000;
  t.equal((await cache.discover(OPTS)).dockerRefreshed, false);
  state.now += 1_000;
  t.equal((await cache.discover(OPTS)).dockerRefreshed, true, 'a failure is retried sooner');

  state.docker = { available: false, containers: [], error: { code: 'no-socket', message: 'no Docker API' } };
  cache.invalidate();
  await cache.discover(OPTS);
  state.now += 5_000;
  t.equal((await cache.discover(OPTS)).dockerRefreshed, false, 'no socket is a normal state: the normal age applies');
});

t.test('host only, containers excluded, Docker off, /proc off', async (t) => {
  const { state, deps } = fakes();
  const cache = new DiscoveryCache(deps);
  const hostOnly = await cache.discover({ ...OPTS, containers: false });
  t.same(
    hostOnly.vantages.map((v) => v.id),
    ['netns:[4026531840]'],
  );
  t.equal(state.scans, 0, 'no scan at all');
  t.equal(hostOnly.docker, null);

  const noHost = await cache.discover({ ...OPTS, host: false });
  t.same(
    noHost.vantages.map((v) => v.id),
    ['netns:[4026532001]'],
  );

  const noDocker = await cache.discover({ ...OPTS, docker: { ...OPTS.docker, enabled: false } });
  t.equal(noDocker.docker, null);
  t.equal(noDocker.vantages[1]!.podName, undefined);

  // Docker alone: asked every sweep; a container in the host netns belongs to the host vantage.
  state.docker.containers.push({ id: 'h1', name: 'hostnet', pid: 1, labels: {}, networkMode: 'host' });
  const calls = state.dockerCalls;
  const dockerOnly = await cache.discover({ ...OPTS, proc: false });
  await cache.discover({ ...OPTS, proc: false });
  t.equal(state.dockerCalls, calls + 2);
  t.same(
    dockerOnly.vantages.map((v) => [v.id, v.hostNetwork, v.source]),
    [
      ['netns:[4026531840]', true, 'host'],
      ['netns:[4026532001]', false, 'docker'],
    ],
  );
});

t.test('an unreadable procRoot throws (the sweep fails and is counted); the fingerprint is order-free', async (t) => {
  const { state, deps } = fakes();
  state.scanThrows = new Error('procRoot /nope: cannot list processes (ENOENT)');
  await t.rejects(new DiscoveryCache(deps).discover(OPTS), /cannot list processes/);
  const a = { vantages: [proc(1, ['x']), proc(2)], errors: [], host: HOST_NS, scanned: 2 };
  const b = { ...a, vantages: [proc(2), proc(1, ['x'])] };
  t.equal(scanFingerprint(a), scanFingerprint(b));
  t.not(scanFingerprint(a), scanFingerprint({ ...a, vantages: [proc(1, ['y']), proc(2)] }));
});

t.test('check, netns and run share one configuration mapping: discovery.proc.enabled=false means no /proc scan for check too', async (t) => {
  const dir = t.testdir({ 'c.json': JSON.stringify({ discovery: { proc: { enabled: false }, docker: { socketPath: '/run/test-docker.sock' } } }) });
  const file = path.join(dir, 'c.json');
  const args = parseCheckArgs(['--config', file, '--host-resolv-conf', '/tmp/host-resolv.conf']);
  if (args === 'help') throw new Error('unexpected help');
  const checkOpts = resolveCheckOptions(args, {});
  const { config } = loadConfigResult({ file, env: {}, flags: { hostResolvConf: '/tmp/host-resolv.conf' } });
  const runOpts = discoveryOptions(config);
  t.equal(runOpts.proc, false);
  t.same(
    {
      procRoot: checkOpts.procRoot,
      hostResolvConf: checkOpts.hostResolvConf,
      host: checkOpts.host,
      containers: checkOpts.containers,
      proc: checkOpts.proc,
      docker: checkOpts.docker,
    },
    runOpts,
    'check discovers exactly as the daemon does',
  );
  const sweep = sweepOptions(config);
  for (const key of ['procRoot', 'timeoutMs', 'attempts', 'dnsPort', 'targets'] as const) {
    t.same(checkOpts[key], sweep[key], `check sweeps with the daemon's ${key}`);
  }
  const { state, deps } = fakes();
  const found = await new DiscoveryCache(deps).discover(checkOpts);
  t.equal(state.scans, 0, '/proc is not scanned');
  t.equal(state.dockerCalls, 1, 'containers come from Docker alone');
  t.same(
    found.vantages.map((v) => [v.hostNetwork, v.podName ?? null]),
    [
      [true, null],
      [false, 'web-1'],
    ],
  );
});

t.test('the /proc scan keeps what each PID resolved to across sweeps; forget() makes it read a PID again', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'chd-cache-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  fs.cpSync(repoPath('test/fixtures/proc/containerd-v1-cgroupfs'), root, { recursive: true });
  const seen: Array<ScanMemo | undefined> = [];
  const cache = new DiscoveryCache({
    scanProc: (o) => {
      seen.push(o.memo);
      return scanProc({ ...o, identify: 'link-text' });
    },
    hostVantage: (resolv) => ({ ...vantage(4026531840, { hostNetwork: true }), resolvConfFile: { root: null, path: resolv } }),
  });
  const opts: DiscoverOptions = { ...OPTS, procRoot: root, docker: { ...OPTS.docker, enabled: false } };
  const first = await cache.discover(opts);
  fs.rmSync(path.join(root, '2150/stat'));
  const second = await cache.discover(opts);
  t.same(second.vantages, first.vantages, 'a known PID is not read again');
  t.same(second.scanErrors, []);
  t.ok(seen[0] && seen[0] === seen[1], 'one memo across sweeps');
  cache.forget([2150]);
  const third = await cache.discover(opts);
  t.same(
    third.scanErrors.map((e) => e.pid),
    [2150],
    'forgotten: read again',
  );
  t.equal(third.vantages.find((v) => v.inode === 4026532301)?.pid, 2190, 'and the next best process represents its namespace');
  await cache.discover({ ...opts, procRoot: `${root}/` });
  t.not(seen[3], seen[2], 'another procRoot (a reload) starts a new memo');
});
