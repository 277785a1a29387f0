import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { createScanMemo, locateContainers, readNetnsId, scanProc } from '../../src/discovery/proc-scan.js';
import { parseProcStat } from '../../src/netns/proc-stat.js';
import { repoPath } from '../support/paths.js';

const FIXTURES = repoPath('test/fixtures/proc');
const HOST = 4026531840;
// The fixtures' container IDs are sha256 of a readable name (see the trees).
const cid = (name: string): string => crypto.createHash('sha256').update(name).digest('hex');
const scan = (scenario: string) => scanProc({ procRoot: path.join(FIXTURES, scenario), identify: 'link-text' });

t.test('parseProcStat: comm with spaces and parentheses, field 22', async (t) => {
  const line = '3020 (my app (v2) x) S 1 3020 3020 0 -1 4194560 1520 0 3 0 12 7 0 0 20 0 1 0 61050 742195200 2211 18446744073709551615\n';
  t.same(parseProcStat(line), { comm: 'my app (v2) x', state: 'S', startTime: 61050 });
  t.same(parseProcStat('7 ()) R 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 999 1'), { comm: ')', state: 'R', startTime: 999 });
  t.equal(parseProcStat(''), undefined);
  t.equal(parseProcStat('12 (short) S 1 2 3'), undefined, 'too few fields');
  t.equal(parseProcStat('12 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 abc'), undefined, 'start time not a number');
  const own = parseProcStat(fs.readFileSync('/proc/self/stat', 'utf8'));
  t.ok(own && own.startTime > 0, 'parses the real /proc/self/stat');
});

t.test('readNetnsId: link-text reads the fixture text; stat reads the real nsfs file', async (t) => {
  t.same(await readNetnsId(path.join(FIXTURES, 'docker-v1/5000/ns/net'), 'link-text'), { dev: 0, inode: 4026532700 });
  const st = fs.statSync('/proc/self/ns/net');
  t.same(await readNetnsId('/proc/self/ns/net'), { dev: st.dev, inode: st.ino });
  const link = fs.readlinkSync('/proc/self/ns/net');
  t.same(await readNetnsId('/proc/self/ns/net', 'link-text'), { dev: 0, inode: Number(/\d+/.exec(link)![0]) }, 'readlink on a real link');
  await t.rejects(readNetnsId(path.join(FIXTURES, 'unreadable-ns/8200/ns/net'), 'link-text'), { code: 'EINVAL' });
  await t.rejects(readNetnsId(path.join(FIXTURES, 'unreadable-ns/8000/ns/net'), 'link-text'), { code: 'ENOENT' });
});

t.test('containerd, cgroup v1, cgroupfs driver', async (t) => {
  const r = await scan('containerd-v1-cgroupfs');
  t.same(r.host, { dev: 0, inode: HOST });
  t.same(r.errors, []);
  t.equal(r.scanned, 7);
  t.same(r.vantages, [
    { dev: 0, inode: HOST, pid: 1, startTime: 2, comm: 'systemd', pidCount: 2, hostNetwork: true, containerIds: [] },
    {
      dev: 0,
      inode: 4026532301,
      // The app container, not pause (2101) and not the later exec'd shell (2190).
      pid: 2150,
      startTime: 40180,
      comm: 'coredns',
      pidCount: 3,
      hostNetwork: false,
      podUid: '3c1b2a90-5e7d-4f6a-9b8c-0d1e2f3a4b5c',
      containerIds: [cid('v1-podA-coredns'), cid('v1-podA-pause')].sort(),
    },
    {
      dev: 0,
      inode: 4026532402,
      pid: 2310,
      startTime: 50260,
      comm: 'nginx',
      pidCount: 2,
      hostNetwork: false,
      podUid: '5f3e9c2d1b0a49e8a7c6d5e4f3a2b1c0',
      containerIds: [cid('v1-podB-nginx'), cid('v1-podB-pause')].sort(),
    },
  ]);
});

t.test('containerd, cgroup v2, systemd driver', async (t) => {
  const r = await scan('containerd-v2-systemd');
  t.same(r.errors, []);
  t.equal(r.vantages.length, 2);
  const [host, pod] = r.vantages;
  t.equal(host!.hostNetwork, true);
  t.equal(host!.pidCount, 3);
  t.match(pod, {
    inode: 4026532511,
    pid: 3020,
    comm: 'my app (v2) x',
    startTime: 61050,
    podUid: '8d2f6a1e-4b3c-4e5d-9f60-7a8b9c0d1e2f',
    runtime: 'containerd',
    hostNetwork: false,
  });
  t.same(pod!.containerIds, [cid('v2-app'), cid('v2-pause')].sort());
});

t.test('CRI-O, cgroup v2, systemd driver: conmon stays a host process without a container', async (t) => {
  const r = await scan('crio-v2-systemd');
  t.same(r.errors, []);
  const [host, pod] = r.vantages;
  t.match(host, { hostNetwork: true, pid: 1, pidCount: 3 });
  t.same(host!.containerIds, [], 'conmon is not a container');
  t.equal(host!.podUid, undefined, 'the host vantage belongs to no pod');
  t.equal(host!.runtime, undefined, 'nor to a runtime');
  t.match(pod, { inode: 4026532600, pid: 4010, comm: 'server', runtime: 'cri-o', podUid: '0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d' });
  t.same(pod!.containerIds, [cid('crio-app'), cid('crio-pause')].sort());
});

t.test('plain Docker, cgroup v1', async (t) => {
  const r = await scan('docker-v1');
  t.same(
    r.vantages.map((v) => [v.inode, v.pid, v.pidCount, v.hostNetwork, v.runtime, v.podUid]),
    [
      [HOST, 1, 3, true, undefined, undefined],
      [4026532700, 5000, 2, false, 'docker', undefined],
      [4026532701, 5100, 1, false, 'docker', undefined],
    ],
  );
  t.same(r.vantages[0]!.containerIds, [cid('docker-hostnet')], 'a --network host container is seen in the host netns');
  t.same(r.vantages[1]!.containerIds, [cid('docker-web')]);
});

t.test('Docker as the Kubernetes runtime, cgroup v1, systemd driver', async (t) => {
  const r = await scan('dockershim-k8s');
  const pod = r.vantages[1]!;
  t.match(pod, { inode: 4026532800, pid: 6010, comm: 'python3', runtime: 'docker', podUid: 'c0ffee00-1111-4222-8333-444455556666' });
  t.same(pod.containerIds, [cid('shim-app'), cid('shim-sandbox')].sort());
});

t.test('a hostNetwork pod shares the host vantage, which stays a host process', async (t) => {
  const r = await scan('hostnetwork-pod');
  t.equal(r.vantages.length, 2);
  const [host, pod] = r.vantages;
  t.match(host, { inode: HOST, hostNetwork: true, pid: 1, comm: 'systemd', pidCount: 3 });
  t.equal(host!.podUid, undefined);
  t.equal(host!.runtime, undefined);
  t.same(host!.containerIds, [cid('hn-pause'), cid('hn-proxy')].sort());
  t.match(pod, { inode: 4026532900, hostNetwork: false, pid: 7110, podUid: '66666666-7777-4888-9999-aaaaaaaaaaaa' });
});

t.test('unreadable entries are counted and skipped, never fatal', async (t) => {
  const root = path.join(FIXTURES, 'unreadable-ns');
  const r = await scanProc({ procRoot: root, identify: 'link-text' });
  t.same(r.errors, [
    { pid: 8000, path: `${root}/8000/ns/net`, code: 'ENOENT' },
    { pid: 8100, path: `${root}/8100/stat`, code: 'ENOENT' },
    { pid: 8200, path: `${root}/8200/ns/net`, code: 'EINVAL' },
    { pid: 8300, path: `${root}/8300/cgroup`, code: 'ENOENT' },
  ]);
  t.equal(r.scanned, 5, 'only numeric entries');
  t.same(
    r.vantages.map((v) => [v.inode, v.pid]),
    [
      [HOST, 1],
      [4026533003, 8300],
    ],
    'a process without a cgroup file still has its netns',
  );
});

t.test('the host namespace can be given explicitly', async (t) => {
  const r = await scanProc({ procRoot: path.join(FIXTURES, 'docker-v1'), identify: 'link-text', hostNetns: { dev: 0, inode: 4026532700 } });
  t.same(
    r.vantages.map((v) => [v.inode, v.hostNetwork]),
    [
      [4026532700, true],
      [HOST, false],
      [4026532701, false],
    ],
  );
});

t.test('a missing procRoot or host namespace is a clear error', async (t) => {
  await t.rejects(scanProc({ procRoot: path.join(FIXTURES, 'no-such-tree'), identify: 'link-text', hostNetns: { dev: 0, inode: 1 } }), {
    message: /procRoot .*no-such-tree: cannot list processes \(ENOENT\)/,
  });
  await t.rejects(scanProc({ procRoot: path.join(FIXTURES, 'no-such-tree'), identify: 'link-text' }), {
    message: /cannot identify the host network namespace from .*no-such-tree\/thread-self\/ns\/net \(ENOENT\)/,
  });
});

t.test('locateContainers places Docker containers by State.Pid', async (t) => {
  const root = path.join(FIXTURES, 'docker-v1');
  const r = await locateContainers(
    [
      { id: cid('docker-web'), name: '/web', pid: 5005, labels: {} },
      { id: cid('docker-gone'), name: '/gone', pid: 9999, labels: {} },
      { id: cid('docker-stopped'), name: '/stopped', pid: 0, labels: {} },
    ],
    { procRoot: root, identify: 'link-text' },
  );
  t.same(r.located, [{ id: cid('docker-web'), name: '/web', pid: 5005, labels: {}, dev: 0, inode: 4026532700, startTime: 80020, comm: 'nginx' }]);
  t.same(r.errors, [
    { pid: 9999, path: `${root}/9999/ns/net`, code: 'ENOENT' },
    { pid: 0, path: `${root}/0`, code: 'ESRCH' },
  ]);
});

t.test('the real /proc: this process is found in the host netns', async (t) => {
  const r = await scanProc();
  const st = fs.statSync('/proc/thread-self/ns/net');
  t.same(r.host, { dev: st.dev, inode: st.ino });
  const host = r.vantages.find((v) => v.hostNetwork);
  t.ok(host, 'a host vantage');
  t.equal(host!.inode, st.ino);
  t.equal(r.vantages[0], host, 'the host comes first');
  t.ok(r.scanned > 1);
  for (const e of r.errors) t.match(e.code, /^(EACCES|EPERM|ENOENT|ESRCH)$/, `error for pid ${e.pid} is a permission or exit race`);
});

t.test('with a memo: a PID seen before costs one identity read; stat and cgroup are read again only when they may have changed', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'chd-memo-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  fs.cpSync(path.join(FIXTURES, 'containerd-v1-cgroupfs'), root, { recursive: true });
  // A young process in the nginx pod's namespace that its runtime has not moved into a container cgroup yet.
  fs.mkdirSync(path.join(root, '2400/ns'), { recursive: true });
  fs.writeFileSync(path.join(root, '2400/ns/net'), 'net:[4026532402]\n');
  fs.writeFileSync(path.join(root, '2400/stat'), '2400 (runc:[2:INIT]) S 1 2400 2400 0 -1 4194560 1520 0 3 0 12 7 0 0 20 0 1 0 90000 742195200 2211\n');
  fs.writeFileSync(path.join(root, '2400/cgroup'), '0::/system.slice/containerd.service\n');
  fs.writeFileSync(path.join(root, 'uptime'), '905.00 1700.00\n'); // 90500 ticks: 2400 is 5 s old, the others minutes
  const memo = createScanMemo();
  const opts = { procRoot: root, identify: 'link-text' as const, memo };

  const first = await scanProc(opts);
  t.same(first, await scanProc({ procRoot: root, identify: 'link-text' }), 'the first scan is the scan without a memo');
  t.same(
    [...memo.members.keys()].sort((a, b) => a - b),
    [1, 812, 2101, 2150, 2190, 2300, 2310, 2400],
  );

  // Settled processes are not read again: their stat and cgroup may even be gone.
  fs.rmSync(path.join(root, '2150/stat'));
  fs.rmSync(path.join(root, '2150/cgroup'));
  fs.writeFileSync(path.join(root, '812/cgroup'), '0::/kubepods/pod3c1b2a90-5e7d-4f6a-9b8c-0d1e2f3a4b5c/aaaa\n');
  // The unsettled one is: the runtime has moved it.
  fs.writeFileSync(path.join(root, '2400/cgroup'), `0::/kubepods/pod5f3e9c2d1b0a49e8a7c6d5e4f3a2b1c0/${cid('late-container')}\n`);
  // A process that moved to another namespace is read again.
  fs.writeFileSync(path.join(root, '2310/ns/net'), 'net:[4026532999]\n');
  // One that exited is forgotten.
  fs.rmSync(path.join(root, '2190'), { recursive: true });

  const second = await scanProc(opts);
  t.same(second.errors, [], 'nothing read of 2150 but its namespace');
  const byInode = new Map(second.vantages.map((v) => [v.inode, v]));
  t.equal(byInode.get(4026532301)?.pid, 2150, 'the app container still represents its pod, from the memo');
  t.same(byInode.get(4026531840)?.containerIds, [], "812's cgroup was not read again (settled: minutes old)");
  t.ok(byInode.get(4026532402)?.containerIds.includes(cid('late-container')), 'the young process outside a container was read again');
  t.equal(byInode.get(4026532999)?.pid, 2310, 'the process that changed namespace was read again');
  t.equal(byInode.get(4026532999)?.comm, 'nginx');
  t.notOk(memo.members.has(2190), 'the exited PID left the memo');

  // Settled now (in a container cgroup): not read again even when its cgroup file changes.
  fs.writeFileSync(path.join(root, '2400/cgroup'), '0::/system.slice/other.service\n');
  const third = await scanProc(opts);
  t.ok(third.vantages.find((v) => v.inode === 4026532402)?.containerIds.includes(cid('late-container')));

  // Forgotten (the daemon does this for a vantage the probe found gone): read again.
  memo.members.delete(2150);
  const fourth = await scanProc(opts);
  t.same(
    fourth.errors.map((e) => [e.pid, path.basename(e.path), e.code]),
    [[2150, 'stat', 'ENOENT']],
    'a forgotten PID is read again',
  );
});

t.test('with a memo, identified by stat (the default): the known PIDs are re-checked in one native call', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'chd-memo-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  fs.cpSync(path.join(FIXTURES, 'containerd-v1-cgroupfs'), root, { recursive: true });
  fs.writeFileSync(path.join(root, 'uptime'), '905.00 1700.00\n');
  // By stat, a namespace is the (dev, inode) of <pid>/ns/net: here each file is one.
  const inodeOf = (pid: number) => fs.statSync(path.join(root, `${pid}/ns/net`)).ino;
  const memo = createScanMemo();
  const opts = { procRoot: root, memo };
  const first = await scanProc(opts);
  t.same(first, await scanProc({ procRoot: root }), 'the first scan is the scan without a memo');

  // Settled processes are not read again: their stat and cgroup may even be gone.
  fs.rmSync(path.join(root, '2150/stat'));
  fs.rmSync(path.join(root, '2150/cgroup'));
  // One moved to another namespace (a new file: a new inode): read again.
  const before = inodeOf(2310);
  fs.writeFileSync(path.join(root, '2310/ns/next'), 'moved\n'); // made while the old one exists: another inode
  fs.renameSync(path.join(root, '2310/ns/next'), path.join(root, '2310/ns/net'));
  t.not(inodeOf(2310), before);
  // One whose namespace cannot be stat'ed any more: an error naming the file, and it is left out.
  fs.rmSync(path.join(root, '2101/ns/net'));
  const second = await scanProc(opts);
  t.same(
    second.errors.map((e) => [e.pid, path.relative(root, e.path), e.code]),
    [[2101, '2101/ns/net', 'ENOENT']],
  );
  const byPid = new Map(second.vantages.map((v) => [v.pid, v]));
  t.equal(byPid.get(2150)?.inode, inodeOf(2150), '2150 still represents its pod, from the memo');
  t.equal(byPid.get(2310)?.inode, inodeOf(2310), 'the process that changed namespace was read again');
  t.equal(byPid.get(2310)?.comm, 'nginx');
  t.notOk(memo.members.has(2101), 'a PID that failed its re-check left the memo');
  t.ok(memo.members.has(2150));
});

t.test('with a memo and no uptime: a process outside any container is read every scan', async (t) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'chd-memo-'));
  t.teardown(() => fs.rmSync(root, { recursive: true, force: true }));
  fs.cpSync(path.join(FIXTURES, 'containerd-v1-cgroupfs'), root, { recursive: true });
  fs.writeFileSync(path.join(root, '2310/cgroup'), '0::/user.slice\n');
  const memo = createScanMemo();
  await scanProc({ procRoot: root, identify: 'link-text', memo });
  t.equal(memo.members.get(2310)?.settled, false);
  t.equal(memo.members.get(2150)?.settled, true);
  t.equal(memo.members.get(812)?.settled, false, 'a host process too: its age is unknown');
  fs.rmSync(path.join(root, '2310/cgroup'));
  fs.rmSync(path.join(root, '812/cgroup'));
  const again = await scanProc({ procRoot: root, identify: 'link-text', memo });
  t.same(
    again.errors.map((e) => [e.pid, path.basename(e.path)]),
    [
      [812, 'cgroup'],
      [2310, 'cgroup'],
    ],
  );
});
