// Quorum across nodes, end to end: three remedy engines as three nodes, each with its own
// client, against one fake API server (real HTTP, the real @kubernetes/client-node). Each
// publishes its verdicts in its own Lease; a pod is evicted only when enough of them agree.
import t, { type Test } from 'tap';
import { EVENT, LEASE, NODE, POD, startFakeKube, type FakeKube } from '../support/fake-kube/index.js';
import { brief, nodeSide, until, type NodeSide } from '../support/fake-kube/world.js';
import { VERDICT_ANNOTATION, verdictLeaseName, type NodeVerdicts } from '../../src/remedy/verdicts.js';
import type { PodInfo } from '../../src/kube/types.js';
import type { RemedySettings } from '../../src/remedy/settings.js';

const QUORUM = { namespace: 'coredns-healthd', minNodes: 2, fraction: 0.5, windowMs: 900_000, refreshMs: 300_000, maxFailingPods: 2 };

async function cluster(
  t: Test,
  nodes = ['node-a', 'node-b', 'node-c'],
  settings: Partial<RemedySettings> = {},
): Promise<{ kube: FakeKube; sides: NodeSide[] }> {
  const kube = await startFakeKube({ podReadyDelayMs: 30, podTerminationMs: 30, seed: { replicas: 3 } });
  t.teardown(() => kube.close());
  const sides: NodeSide[] = [];
  for (const node of nodes) sides.push(await nodeSide(t, kube, { node, nodeCondition: false, settings: { quorum: QUORUM, cooldownMs: 0, ...settings } }));
  return { kube, sides };
}

const verdictsOf = (kube: FakeKube, node: string): NodeVerdicts | undefined => {
  const l = kube.store.list(LEASE, { namespace: 'coredns-healthd' }).find((x) => x.metadata.name === verdictLeaseName(node));
  const raw = l?.metadata.annotations?.[VERDICT_ANNOTATION];
  return raw === undefined ? undefined : (JSON.parse(raw) as NodeVerdicts);
};
const evictions = (kube: FakeKube) => kube.server.requests.filter((r) => r.subresource === 'eviction');
const leaseWrites = (kube: FakeKube) =>
  kube.server.requests.filter(
    (r) =>
      r.resource === 'leases' &&
      ['POST', 'PUT'].includes(r.method) &&
      String(r.name ?? (r.body as { metadata?: { name?: string } } | undefined)?.metadata?.name ?? '').startsWith('coredns-healthd-verdict-'),
  );

/** One sweep on every node; `failing(node, pod)` says which pods fail from which node. */
async function sweepAll(sides: NodeSide[], failing: (node: string, pod: PodInfo) => boolean) {
  const out = [];
  for (const s of sides) out.push(...(await s.engine.onSweep(s.summary((p) => (failing(s.node, p) ? 'failed' : 'ok'), 'ok'))));
  for (const s of sides) await s.engine.idle();
  return out;
}

t.test('one node that cannot reach a pod never evicts it; it reports its own path instead', async (t) => {
  const { kube, sides } = await cluster(t);
  const victim = sides[0]!.pods()[0]!;
  for (let i = 0; i < 5; i++) await sweepAll(sides, (node, p) => node === 'node-a' && p.uid === victim.uid);
  t.equal(evictions(kube).length, 0, 'no eviction');
  t.equal(
    kube.server.requests.filter((r) => r.verb === 'list' && r.resource === 'leases').length,
    1,
    'the verdicts were read once in 5 sweeps: a failed quorum is asked again only after 30 s',
  );
  t.match(
    kube.server.requests.find((r) => r.verb === 'list' && r.resource === 'leases')?.query,
    { resourceVersion: '0', labelSelector: 'app.kubernetes.io/name=coredns-healthd,coredns-healthd/role=verdict' },
    "from the API server's cache (resourceVersion 0), by label",
  );
  const remedyLeaseWrites = kube.server.requests.filter(
    (r) =>
      r.resource === 'leases' &&
      ['create', 'update'].includes(r.verb) &&
      (r.name ?? (r.body as { metadata?: { name?: string } } | undefined)?.metadata?.name) === 'coredns-healthd-remedy',
  );
  t.same(
    remedyLeaseWrites.map((r) => r.verb),
    ['create', 'update'],
    'and the remedy Lease taken (created) and released once',
  );
  const a = sides[0]!;
  t.match(
    a.decisions.filter((d) => d.reason === 'no-quorum').map((d) => d.message),
    [
      /^not evicting pod kube-system\/coredns-\S+: 1 of 3 nodes that reported on it see it failing while another CoreDNS endpoint answers; needed: at least 2 and 50% \(remedy.quorum\): the path from node-a to the pod is the suspect/,
    ],
  );
  t.match(verdictsOf(kube, 'node-a')?.pods[victim.uid], { state: 'failing', otherAnswered: true }, "node-a's Lease says what it sees");
  t.match(verdictsOf(kube, 'node-b')?.pods[victim.uid], { state: 'answering' });
  const ev = kube.store.list(EVENT).find((e) => e.reason === 'CoreDNSPathSuspect');
  t.match(ev, { type: 'Warning', regarding: { kind: 'Node', name: 'node-a' }, note: /check the path between this node and the pod/ });
  t.match(a.engine.status().quorum.evaluations, [{ uid: victim.uid, result: 'no-quorum', failing: ['node-a'], answering: ['node-b', 'node-c'] }]);
});

t.test('two of three nodes see the pod failing: exactly one eviction, by one node', async (t) => {
  const { kube, sides } = await cluster(t);
  const victim = sides[0]!.pods()[0]!;
  for (let i = 0; i < 4; i++) await sweepAll(sides, (node, p) => node !== 'node-c' && p.uid === victim.uid);
  await until('the eviction', () => evictions(kube).length > 0);
  for (const s of sides) await s.engine.idle();
  t.equal(evictions(kube).length, 1, 'one eviction in the cluster');
  t.equal(evictions(kube)[0]!.name, victim.name);
  const acted = sides.flatMap((s) => s.decisions.filter((d) => d.result === 'acted').map((d) => `${s.engine.settings.mode} ${brief(d)}`));
  t.same(acted, ['enforce evict/acted/threshold-reached'], 'by one node');
  t.notOk(
    kube.store.list(POD, { namespace: 'kube-system' }).some((p) => p.metadata.uid === victim.uid && !p.metadata.deletionTimestamp),
    'the sick pod is gone',
  );
});

t.test('zero verdict writes per sweep in steady state; a change writes once', async (t) => {
  const { kube, sides } = await cluster(t);
  await sweepAll(sides, () => false);
  const first = leaseWrites(kube).length;
  t.equal(first, 3, 'each node wrote its Lease once');
  for (let i = 0; i < 10; i++) await sweepAll(sides, () => false);
  t.equal(leaseWrites(kube).length, first, '10 more sweeps with nothing changed: no write');
  const victim = sides[0]!.pods()[1]!;
  await sweepAll(sides, (node, p) => node === 'node-b' && p.uid === victim.uid);
  t.equal(leaseWrites(kube).length, first + 1, "node-b's verdict changed: one write");
  t.same(
    sides.map((s) => s.engine.status().quorum.verdictWrites),
    [1, 2, 1],
  );
});

t.test('the hourly budget holds for the whole cluster: the history on the remedy Lease', async (t) => {
  const { kube, sides } = await cluster(t, ['node-a', 'node-b', 'node-c'], { maxActionsPerHour: 1 });
  const [x, y] = sides[0]!.pods();
  // Both pods fail from every node (two pods: within remedy.quorum.maxFailingPods).
  for (let i = 0; i < 6; i++) await sweepAll(sides, (_node, p) => p.uid === x!.uid || p.uid === y!.uid);
  await until('an eviction', () => evictions(kube).length > 0);
  for (let i = 0; i < 4; i++) await sweepAll(sides, (_node, p) => p.uid === y!.uid || p.uid === x!.uid);
  t.equal(evictions(kube).length, 1, 'one action in the hour, whichever node tries next');
  const capped = sides.flatMap((s) => s.decisions.filter((d) => d.reason === 'hourly-cap' && /cluster-wide/.test(d.message)));
  t.ok(capped.length > 0, 'the other nodes were capped by the cluster-wide count');
  t.match(capped[0]!.message, /^1 actions in the cluster in the last hour \(by node-\w\); at most 1 \(remedy\.maxActionsPerHour, cluster-wide\)$/);
  const lease = kube.store.mustGet(LEASE, 'kube-system', 'coredns-healthd-remedy');
  const history = JSON.parse(lease.metadata.annotations!['coredns-healthd/actions']!) as { node: string; key: string }[];
  t.equal(history.length, 1, 'the Lease holds the history');
});

t.test('a zone partition: the nodes of one zone fail a pod the rest reach; nothing is evicted, the partition is reported', async (t) => {
  const nodes = ['node-a', 'node-b', 'node-c', 'node-d'];
  const zone = (n: string) => (n === 'node-a' || n === 'node-b' ? 'zone-b' : 'zone-a');
  const kube = await startFakeKube({ podReadyDelayMs: 30, podTerminationMs: 30, seed: { replicas: 3 } });
  t.teardown(() => kube.close());
  for (const [i, n] of nodes.entries()) {
    const node = kube.store.get(NODE, undefined, n) ?? kube.cluster.addNode(n, `10.0.0.${10 + i}`);
    const labels = { ...(node.metadata.labels ?? {}), 'topology.kubernetes.io/zone': zone(n) };
    kube.store.update(NODE, { ...node, metadata: { ...node.metadata, labels } });
  }
  const sides: NodeSide[] = [];
  for (const node of nodes) sides.push(await nodeSide(t, kube, { node, settings: { quorum: QUORUM, cooldownMs: 0 } }));
  const victim = sides[0]!.pods()[0]!;
  for (let i = 0; i < 4; i++) await sweepAll(sides, (node, p) => zone(node) === 'zone-b' && p.uid === victim.uid);
  t.equal(evictions(kube).length, 0, 'no eviction');
  const partition = sides.flatMap((s) => s.decisions.filter((d) => d.reason === 'partition'));
  t.ok(partition.length > 0, 'reported as a partition');
  t.match(partition[0]!.message, /2 of 4 nodes .*: 2 of the 2 in zone zone-b, while the 2 nodes outside it see it answer: a network partition of zone zone-b/);
  t.ok(
    kube.store.list(EVENT).some((e) => e.reason === 'NetworkPartitionSuspected' && e.regarding.kind === 'Node'),
    'an Event on the node',
  );
  const decided = sides.find((s) => s.decisions.some((d) => d.reason === 'partition'))!;
  await sweepAll(sides, (node, p) => zone(node) === 'zone-b' && p.uid === victim.uid);
  await until('the node condition', () =>
    (kube.store.mustGet(NODE, undefined, decided.node).status.conditions as { type: string; reason: string }[]).some(
      (c) => c.type === 'ClusterDNSReachable' && c.reason === 'NetworkPartitionSuspected',
    ),
  );
  t.pass(`the node condition of ${decided.node} says NetworkPartitionSuspected`);
});
