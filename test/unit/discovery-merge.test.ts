import crypto from 'node:crypto';
import path from 'node:path';
import t from 'tap';
import { locateContainers, scanProc } from '../../src/discovery/proc-scan.js';
import { readResolvConf } from '../../src/discovery/resolv-conf.js';
import { mergeVantages, type LocatedContainer, type ProcVantage } from '../../src/discovery/vantage.js';
import { repoPath } from '../support/paths.js';

const FIXTURES = repoPath('test/fixtures/proc');
const cid = (name: string): string => crypto.createHash('sha256').update(name).digest('hex');
const HOST = 4026531840;
const UID = 'c0ffee00-1111-4222-8333-444455556666';

const hostProc: ProcVantage = { dev: 4, inode: HOST, pid: 1, startTime: 2, comm: 'systemd', pidCount: 90, hostNetwork: true, containerIds: [] };
const podProc: ProcVantage = {
  dev: 4,
  inode: 4026532800,
  pid: 6010,
  startTime: 90100,
  comm: 'python3',
  pidCount: 2,
  hostNetwork: false,
  podUid: UID,
  containerIds: [cid('app'), cid('sandbox')].sort(),
  runtime: 'docker',
};

const podLabels = { 'io.kubernetes.pod.name': 'web-0', 'io.kubernetes.pod.namespace': 'shop', 'io.kubernetes.pod.uid': UID };
const docker = (over: Partial<LocatedContainer>): LocatedContainer => ({
  id: cid('x'),
  name: '/x',
  pid: 1,
  labels: {},
  dev: 4,
  inode: 1,
  startTime: 1,
  comm: 'x',
  ...over,
});
const sandbox = docker({
  id: cid('sandbox'),
  name: '/k8s_POD_web-0_shop_' + UID + '_0',
  pid: 6000,
  startTime: 90000,
  comm: 'pause',
  inode: 4026532800,
  labels: { ...podLabels, 'io.kubernetes.container.name': 'POD', 'io.kubernetes.docker.type': 'podsandbox' },
});
const app = docker({
  id: cid('app'),
  name: '/k8s_app_web-0_shop_' + UID + '_0',
  pid: 6010,
  startTime: 90100,
  comm: 'python3',
  inode: 4026532800,
  labels: { ...podLabels, 'io.kubernetes.container.name': 'app', 'io.kubernetes.docker.type': 'container' },
});

t.test('/proc only: the host and a pod, with default resolv.conf paths', async (t) => {
  const list = mergeVantages([podProc, hostProc], []);
  t.same(list, [
    {
      id: `netns:[${HOST}]`,
      dev: 4,
      inode: HOST,
      pid: 1,
      startTime: 2,
      comm: 'systemd',
      source: 'host',
      hostNetwork: true,
      containerIds: [],
      containerNames: [],
      resolvConfFile: { root: null, path: '/etc/resolv.conf' },
    },
    {
      id: 'netns:[4026532800]',
      dev: 4,
      inode: 4026532800,
      pid: 6010,
      startTime: 90100,
      comm: 'python3',
      source: 'proc',
      hostNetwork: false,
      podUid: UID,
      containerIds: podProc.containerIds,
      containerNames: [],
      runtime: 'docker',
      resolvConfFile: { root: '/proc/6010/root', path: '/etc/resolv.conf' },
    },
  ]);
});

t.test('both sources: Docker adds names and the pod name; /proc keeps its representative', async (t) => {
  const list = mergeVantages([hostProc, { ...podProc, pid: 6000, startTime: 90000, comm: 'pause' }], [sandbox, app], {
    procRoot: '/host/proc',
    hostResolvConf: '/tmp/host-resolv.conf',
  });
  t.equal(list.length, 2);
  t.same(list[0]!.resolvConfFile, { root: null, path: '/tmp/host-resolv.conf' });
  t.match(list[1], {
    source: 'proc+docker',
    pid: 6000,
    startTime: 90000,
    comm: 'pause',
    podUid: UID,
    podNamespace: 'shop',
    podName: 'web-0',
    runtime: 'docker',
    resolvConfFile: { root: '/host/proc/6000/root', path: '/etc/resolv.conf' },
  });
  t.same(list[1]!.containerIds, [cid('app'), cid('sandbox')].sort(), 'no duplicates');
  t.same(list[1]!.containerNames, ['POD', 'app']);
});

t.test('a namespace only Docker knows: represented by the app, not the pause container', async (t) => {
  const onlyDocker = [sandbox, app].map((c) => ({ ...c, inode: 4026533333 }));
  const list = mergeVantages([hostProc], onlyDocker);
  t.equal(list.length, 2);
  t.match(list[1], {
    id: 'netns:[4026533333]',
    source: 'docker',
    hostNetwork: false,
    pid: 6010,
    startTime: 90100,
    comm: 'python3',
    podName: 'web-0',
    podNamespace: 'shop',
    podUid: UID,
    runtime: 'docker',
    resolvConfFile: { root: '/proc/6010/root', path: '/etc/resolv.conf' },
  });
  // Whatever order Docker lists them in.
  t.equal(mergeVantages([hostProc], [...onlyDocker].reverse())[1]!.pid, 6010);
});

t.test('plain Docker: the container name without its slash; --network host joins the host vantage', async (t) => {
  const web = docker({ id: cid('web'), name: '/web', pid: 5000, startTime: 80000, inode: 4026532700 });
  const hostnet = docker({ id: cid('hostnet'), name: '/exporter', pid: 5200, inode: HOST, labels: podLabels });
  const list = mergeVantages([hostProc], [web, hostnet]);
  t.match(list[0], { source: 'host', hostNetwork: true, pid: 1, containerNames: ['exporter'], containerIds: [cid('hostnet')] });
  t.equal(list[0]!.podName, undefined, 'the host vantage belongs to no pod');
  t.equal(list[0]!.podUid, undefined);
  t.match(list[1], { source: 'docker', pid: 5000, containerNames: ['web'], runtime: 'docker' });
  t.equal(list[1]!.podName, undefined);
});

t.test('merge keys on (dev, inode), sorts host first then by inode, and leaves its inputs alone', async (t) => {
  const a: ProcVantage = { ...podProc, inode: 30, containerIds: [] };
  const b: ProcVantage = { ...podProc, inode: 20, dev: 9, containerIds: [] };
  const c = docker({ inode: 20, dev: 4, pid: 77 });
  const before = JSON.stringify([a, b, c]);
  const list = mergeVantages([a, b, hostProc], [c]);
  t.same(
    list.map((v) => [v.inode, v.dev, v.source]),
    [
      [HOST, 4, 'host'],
      [20, 4, 'docker'],
      [20, 9, 'proc'],
      [30, 4, 'proc'],
    ],
  );
  t.equal(JSON.stringify([a, b, c]), before);
});

t.test('the whole path on a fixture tree: scan, locate, merge, read the container resolv.conf', async (t) => {
  const procRoot = path.join(FIXTURES, 'dockershim-k8s');
  const scanned = await scanProc({ procRoot, identify: 'link-text' });
  const containers = [
    { id: cid('shim-sandbox'), name: sandbox.name, pid: 6000, labels: sandbox.labels },
    { id: cid('shim-app'), name: app.name, pid: 6010, labels: app.labels },
  ];
  const { located, errors } = await locateContainers(containers, { procRoot, identify: 'link-text' });
  t.same(errors, []);
  const list = mergeVantages(scanned.vantages, located, { procRoot, hostResolvConf: '/nonexistent/host-resolv.conf' });
  t.equal(list.length, 2);
  const pod = list[1]!;
  t.match(pod, { source: 'proc+docker', pid: 6010, podName: 'web-0', podNamespace: 'shop', podUid: UID, inode: 4026532800 });
  t.same(pod.containerIds, [cid('shim-app'), cid('shim-sandbox')].sort(), 'the same IDs from cgroup and Docker');
  t.same(pod.containerNames, ['POD', 'app']);
  const conf = await readResolvConf(pod.resolvConfFile);
  t.equal(conf.error, undefined);
  t.same(
    conf.parsed.nameservers.map((n) => n.address),
    ['10.96.0.10'],
  );
  const hostConf = await readResolvConf(list[0]!.resolvConfFile);
  t.equal(hostConf.error?.code, 'ENOENT', 'the host reads the configured file, not the machine one');
});
