// KubeTargetWatcher against the fake API server through the real client:
// the DNS Service (dual stack, port, selector) → CoreDNS pods → expected answer
// and this node's pods, kept current by list + watch; a dropped watch resumes
// from its resourceVersion without relisting; 410 Gone relists; the API
// server down, 403 and slow answers are retried with backoff, and the last
// known targets stay in use meanwhile.
import t, { type Test } from 'tap';
import { POD, SERVICE, startFakeKube, type FakeKube } from '../support/fake-kube/index.js';
import { KubeClient } from '../../src/kube/client.js';
import { resolveKubeConnection } from '../../src/kube/connection.js';
import { KubeTargetWatcher, kubeFacts, labelVantages, probeablePods, sweepTargets, withExpectedAnswer } from '../../src/kube/targets.js';
import type { KubeTargets } from '../../src/kube/types.js';
import { createLogger } from '../../src/log.js';
import type { Vantage } from '../../src/model.js';
import { checkQuery } from '../../src/probe/query-spec.js';

interface World {
  kube: FakeKube;
  watcher: KubeTargetWatcher;
  changes: KubeTargets[];
  logs: Record<string, unknown>[];
  lists: () => number;
}

async function world(t: Test, seed: Parameters<typeof startFakeKube>[0] = {}): Promise<World> {
  const kube = await startFakeKube(seed);
  t.teardown(() => kube.close());
  const client = new KubeClient(resolveKubeConnection({ kubeconfig: await kube.kubeconfig() }), { reportingInstance: 'node-a', requestTimeoutMs: 500 });
  const logs: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'debug', stream: { write: (l: string) => logs.push(JSON.parse(l) as Record<string, unknown>) } });
  const watcher = new KubeTargetWatcher({
    client,
    dnsService: { namespace: 'kube-system', name: 'kube-dns' },
    nodeName: 'node-a',
    logger,
    backoff: { initialMs: 20, maxMs: 200 },
  });
  const changes: KubeTargets[] = [];
  watcher.on('change', (x: KubeTargets) => changes.push(x));
  t.teardown(() => watcher.stop());
  watcher.start();
  t.ok(await watcher.whenSynced(5000), 'synced');
  await until('every watch open', () => kube.server.openWatches === 4);
  return { kube, watcher, changes, logs, lists: () => kube.server.requests.filter((r) => r.verb === 'list').length };
}

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const podNames = (x: KubeTargets): string[] => x.corednsPods.map((p) => p.name);

t.test("the first sync: Service, CoreDNS pods by its selector, expected answer, this node's pods", async (t) => {
  const w = await world(t, { seed: { podIps: ['10.244.1.5', '10.244.2.5'], podNodes: ['node-a', 'node-b'] } });
  const x = w.watcher.current();
  t.equal(x.synced, true);
  t.same(x.dnsService, { namespace: 'kube-system', name: 'kube-dns', ips: ['10.96.0.10'], port: 53, podPort: 53, selector: { 'k8s-app': 'kube-dns' } });
  t.equal(x.corednsPods.length, 2);
  t.same(x.corednsPods.map((p) => p.ips.join()).sort(), ['10.244.1.5', '10.244.2.5'], 'the seeded pod IPs');
  t.ok(x.corednsPods.every((p) => p.ready && p.phase === 'Running' && !p.terminating && p.ownerDeployment?.name === 'coredns'));
  t.same(x.corednsPods[0]!.containers, [{ name: 'coredns', ready: true, restartCount: 0, memoryLimit: '170Mi' }]);
  t.same(x.expectedAnswer, ['10.96.0.1']);
  const onA = w.kube.store.list(POD).filter((p) => p.spec.nodeName === 'node-a');
  t.same([...x.podsByUid.keys()].sort(), onA.map((p) => p.metadata.uid).sort(), 'only the pods of node-a name vantages');
  t.same(
    kubeFacts(x),
    { dnsServiceIps: ['10.96.0.10'], pods: onA.map((p) => ({ uid: p.metadata.uid, namespace: 'kube-system', name: p.metadata.name, dnsPolicy: 'Default' })) },
    'the diagnosis facts: CoreDNS runs with dnsPolicy Default',
  );

  t.same(
    sweepTargets(x)
      .map((s) => `${s.source} ${s.server}:${s.port} ${s.label}`)
      .sort(),
    [...x.corednsPods.map((p) => `coredns-pod ${p.ip}:53 kube-system/${p.name}`), 'dns-service 10.96.0.10:53 kube-system/kube-dns'].sort(),
  );
  const pod = onA[0]!;
  const v = { id: 'netns:[1]', podUid: pod.metadata.uid } as Vantage;
  t.match(labelVantages([v, { id: 'netns:[2]', podUid: 'other' } as Vantage], x.podsByUid), [
    { podNamespace: 'kube-system', podName: pod.metadata.name },
    { podName: undefined },
  ]);
  const q = withExpectedAnswer([checkQuery({ name: 'kubernetes.default.svc.cluster.local', requireAnswers: false })], x, 'cluster.local');
  t.same(q[0]!.expectAnswers, ['10.96.0.1']);

  // Reading the targets never calls the API: no relist per sweep.
  const requests = w.kube.server.requests.length;
  for (let i = 0; i < 100; i++) w.watcher.current();
  t.equal(w.kube.server.requests.length, requests);
  t.equal(w.lists(), 4, 'one list per watch: DNS Service, default/kubernetes, node pods, CoreDNS pods');
});

t.test('pods come and go; a dual-stack IP change and a selector change follow', async (t) => {
  const w = await world(t);
  const [first] = w.watcher.current().corednsPods;
  // Not Ready, then terminating (eviction), then replaced.
  w.kube.cluster.setPodReady('kube-system', first!.name, false);
  await until('not ready', () => w.watcher.current().corednsPods.find((p) => p.uid === first!.uid)?.ready === false);
  w.kube.cluster.evict('kube-system', first!.name, {
    apiVersion: 'policy/v1',
    kind: 'Eviction',
    metadata: { name: first!.name, namespace: 'kube-system' },
  } as never);
  await until('terminating', () => w.watcher.current().corednsPods.find((p) => p.uid === first!.uid)?.terminating === true);
  t.notOk(
    probeablePods(w.watcher.current()).some((p) => p.uid === first!.uid),
    'a terminating pod is not probed',
  );
  await until('replaced', () => {
    const pods = w.watcher.current().corednsPods;
    return pods.length === 2 && !pods.some((p) => p.uid === first!.uid) && pods.every((p) => p.ready);
  });
  t.pass('the replacement is in the targets and the evicted pod is gone');

  // A pod the selector does not match is not a CoreDNS pod.
  w.kube.store.create(POD, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'kube-system', labels: { app: 'web' } } as never,
    spec: { containers: [{ name: 'web' }] },
    status: { phase: 'Running', podIP: '10.244.9.9' },
  });
  await new Promise((r) => setTimeout(r, 100));
  t.notOk(podNames(w.watcher.current()).includes('web'));

  // The Service's IPs change (dual stack).
  const svc = w.kube.store.mustGet(SERVICE, 'kube-system', 'kube-dns');
  svc.spec.clusterIPs = ['10.96.0.10', 'fd00:10:96::a'];
  svc.spec.ipFamilies = ['IPv4', 'IPv6'];
  w.kube.store.update(SERVICE, svc);
  await until('dual stack', () => w.watcher.current().dnsService?.ips.length === 2);
  t.same(w.watcher.current().dnsService?.ips, ['10.96.0.10', 'fd00:10:96::a']);
  t.same(
    sweepTargets(w.watcher.current())
      .filter((s) => s.source === 'dns-service')
      .map((s) => s.server),
    ['10.96.0.10', 'fd00:10:96::a'],
  );

  // The selector changes: the pod watch follows it.
  const latest = w.kube.store.mustGet(SERVICE, 'kube-system', 'kube-dns');
  latest.spec.selector = { app: 'web' };
  w.kube.store.update(SERVICE, latest);
  await until('new selector', () => podNames(w.watcher.current()).join() === 'web');
  await until('a watch by the new selector', () => w.kube.server.requests.some((r) => r.verb === 'watch' && r.query.labelSelector === 'app=web'));
  t.pass('watching pods by the new selector');
  t.ok(w.changes.length >= 5, 'every change was announced');
});

t.test('a dropped watch resumes from its resourceVersion: no relist, nothing missed', async (t) => {
  const w = await world(t);
  const lists = w.lists();
  const [pod] = w.watcher.current().corednsPods;
  // Hold the re-watch back a little, drop every watch, change a pod meanwhile.
  w.kube.faults.add({ match: { verb: 'watch' }, delayMs: 150, times: 4 });
  t.equal(w.kube.server.dropWatches(), 4);
  w.kube.cluster.setPodReady('kube-system', pod!.name, false);
  await until('the change made while disconnected', () => w.watcher.current().corednsPods.find((p) => p.uid === pod!.uid)?.ready === false);
  await until('watching again', () => w.kube.server.openWatches === 4);
  t.equal(w.lists(), lists, 'no relist');
  const resumed = w.kube.server.requests.filter((r) => r.verb === 'watch').slice(-4);
  t.ok(
    resumed.every((r) => Number(r.query.resourceVersion) > 0),
    'every watch resumed from a resourceVersion',
  );
});

t.test('410 Gone: the watch relists and still sees every change', async (t) => {
  const w = await world(t);
  const lists = w.lists();
  const [pod] = w.watcher.current().corednsPods;
  w.kube.faults.add({ match: { verb: 'watch' }, delayMs: 150, times: 4 });
  w.kube.server.dropWatches();
  w.kube.cluster.setPodReady('kube-system', pod!.name, false);
  w.kube.store.compact();
  await until('relisted', () => w.lists() === lists + 4);
  await until('the change', () => w.watcher.current().corednsPods.find((p) => p.uid === pod!.uid)?.ready === false);
  t.ok(
    w.watcher.status().watches.every((s) => s.relists === 1),
    'each watch relisted once',
  );
  await until('watching again', () => w.kube.server.openWatches === 4);
});

t.test('API server down, 403 and slow answers: retried with backoff, the last targets kept', async (t) => {
  const w = await world(t);
  const before = w.watcher.current();
  await w.kube.down();
  await new Promise((r) => setTimeout(r, 300));
  t.same(podNames(w.watcher.current()), podNames(before), 'the last known targets stay while the API server is down');
  const failing = w.watcher.status().watches;
  t.ok(
    failing.some((s) => s.failures > 0 && s.lastError?.reason === 'unreachable'),
    'the failure is visible in the status',
  );
  t.ok(
    w.logs.some((l) => l.msg === 'kubernetes watch failed; retrying' && l.reason === 'unreachable'),
    'logged as unreachable',
  );
  await w.kube.up();
  w.kube.cluster.setPodReady('kube-system', before.corednsPods[0]!.name, false);
  await until('recovered', () => w.watcher.current().corednsPods[0]?.ready === false, 5000);
  await until('healthy again', () => w.kube.server.openWatches === 4);

  // 403 on the watch, then slow lists after a relist is forced: both retried.
  w.kube.faults.add({ match: { verb: 'watch', resource: 'pods' }, status: 403, times: 3 });
  w.kube.faults.add({ match: { verb: 'list' }, delayMs: 800, times: 2 });
  w.kube.store.compact();
  w.kube.server.dropWatches();
  // Recovered as the watcher sees it: the server's count of open watches can include one the client
  // has already dropped (it is between retries then), so the client's own status is what is awaited.
  await until(
    'recovered after 403 and timeouts',
    () => w.kube.server.openWatches === 4 && w.watcher.status().watches.every((s) => s.synced && s.watching),
    10_000,
  );
  t.ok(
    w.logs.some((l) => l.reason === 'forbidden'),
    '403 logged',
  );
  t.ok(
    w.logs.some((l) => l.reason === 'timeout'),
    'slow list logged as a timeout',
  );
  t.ok(w.watcher.status().watches.every((s) => s.synced && s.watching));
});
