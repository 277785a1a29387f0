// Each remedy action and the Lease against the fake API server through the
// real client: the PodDisruptionBudget's 429, the Eviction API not served
// (delete only when allowed), a replaced pod, a Deployment changed under the
// patch, a missing memory limit, the Lease held, expired and raced, the node
// condition without RBAC, and the whole daemon side under the least-privilege
// RBAC of packaging/kubernetes/rbac.yaml.
import t, { type Test } from 'tap';
import { DEPLOYMENT, EVENT, LEASE, NODE, POD, startFakeKube, type FakeKube } from '../support/fake-kube/index.js';
import { grantsFromManifest, userOf } from '../support/fake-kube/rbac-file.js';
import { brief, nodeSide, until } from '../support/fake-kube/world.js';
import { KubeClient } from '../../src/kube/client.js';
import { resolveKubeConnection } from '../../src/kube/connection.js';
import { evictPod } from '../../src/remedy/evict.js';
import { RemedyLease } from '../../src/remedy/lease.js';
import { NodeConditionReporter } from '../../src/remedy/node-condition.js';
import { applyRaise, planRaise } from '../../src/remedy/raise-memory.js';
import { repoPath } from '../support/paths.js';

const RBAC = repoPath('packaging/kubernetes/rbac.yaml');

async function fake(t: Test, opts: Parameters<typeof startFakeKube>[0] = {}): Promise<FakeKube> {
  const kube = await startFakeKube({ podReadyDelayMs: 30, podTerminationMs: 30, ...opts });
  t.teardown(() => kube.close());
  return kube;
}

async function client(kube: FakeKube, user = 'tester'): Promise<KubeClient> {
  return new KubeClient(resolveKubeConnection({ kubeconfig: await kube.kubeconfig({ user }) }), { reportingInstance: 'node-a', requestTimeoutMs: 1000 });
}

t.test('evict: the PodDisruptionBudget says not now (429); a replaced pod is left alone', async (t) => {
  // Pods take 5 s to terminate here: long enough to be seen terminating.
  const kube = await fake(t, { seed: { replicas: 2, pdb: { minAvailable: 2 } }, podTerminationMs: 5000 });
  const api = await client(kube);
  const [pod, other] = (await api.listPods({ namespace: 'kube-system', labelSelector: 'k8s-app=kube-dns' })).items;
  const blocked = await evictPod(api, pod!, { allowDelete: false });
  t.match(blocked, {
    result: 'skipped',
    reason: 'pdb-blocked',
    message: /refused to evict pod .* now \(429: Cannot evict pod as it would violate the pod's disruption budget\.\)/,
  });
  t.ok(kube.store.get(POD, 'kube-system', pod!.name), 'still there');

  // The pod the decision was about has been replaced by another of the same name (a new UID).
  const replaced = { ...other!, uid: 'an-older-uid' };
  t.match(await evictPod(api, replaced, { allowDelete: true }), { result: 'skipped', reason: 'target-changed' });
  t.equal(kube.server.requests.filter((r) => r.subresource === 'eviction').length, 1, 'the stale pod was not even tried');
  kube.cluster.deletePod('kube-system', other!.name, 30);
  await until('terminating', () => !!kube.store.get(POD, 'kube-system', other!.name)?.metadata.deletionTimestamp);
  t.match(await evictPod(api, other!, { allowDelete: false }), { result: 'skipped', reason: 'target-changed', message: /already terminating/ });
});

t.test('evict: the Eviction API not served → a plain delete only when allowed', async (t) => {
  const kube = await fake(t, { seed: { replicas: 2 } });
  const api = await client(kube);
  const [pod] = (await api.listPods({ namespace: 'kube-system' })).items;
  kube.faults.add({ match: { subresource: 'eviction' }, status: 404 });
  t.match(await evictPod(api, pod!, { allowDelete: false }), { result: 'skipped', reason: 'eviction-unsupported' });
  t.equal(kube.server.requests.filter((r) => r.method === 'DELETE').length, 0);
  t.match(await evictPod(api, pod!, { allowDelete: true }), {
    result: 'acted',
    details: { method: 'delete' },
    message: /deleted pod .* \(the Eviction API is not served; remedy.evict.allowDelete is true\)/,
  });
  const del = kube.server.requests.find((r) => r.method === 'DELETE');
  t.match(del?.body, { preconditions: { uid: pod!.uid } }, 'the delete carries the UID precondition');
});

t.test('raise memory: missing limit, missing container, a Deployment changed under the patch', async (t) => {
  const kube = await fake(t, { seed: { resources: { requests: { memory: '70Mi' } } } });
  const api = await client(kube);
  const [pod] = (await api.listPods({ namespace: 'kube-system' })).items;
  const target = { deployment: { namespace: 'kube-system', name: 'coredns' }, container: 'coredns', pod: pod! };
  t.match(await planRaise(api, target, { factor: 2, cap: '1Gi' }), { ok: false, outcome: { reason: 'no-memory-limit' } });
  t.match(await planRaise(api, { ...target, container: 'nope' }, { factor: 2, cap: '1Gi' }), { ok: false, outcome: { reason: 'container-not-found' } });
  t.match(await planRaise(api, { ...target, deployment: { namespace: 'kube-system', name: 'gone' } }, { factor: 2, cap: '1Gi' }), {
    ok: false,
    outcome: { reason: 'no-deployment' },
  });
  t.match(await planRaise(api, { ...target, pod: { ...pod!, labels: {} } }, { factor: 2, cap: '1Gi' }), {
    ok: false,
    outcome: { reason: 'no-deployment', message: /does not select pod/ },
  });

  const d = kube.store.mustGet(DEPLOYMENT, 'kube-system', 'coredns');
  d.spec.template.spec.containers[0].resources.limits = { memory: '170Mi' };
  kube.store.update(DEPLOYMENT, d);
  const plan = await planRaise(api, target, { factor: 2, cap: '1Gi' });
  t.match(plan, { ok: true, from: '170Mi', to: '340Mi' });
  // Someone else changes the limit between the read and the patch: the test operation fails (422).
  const now = kube.store.mustGet(DEPLOYMENT, 'kube-system', 'coredns');
  now.spec.template.spec.containers[0].resources.limits.memory = '200Mi';
  kube.store.update(DEPLOYMENT, now);
  if (!plan.ok) throw new Error('unreachable');
  const r = await applyRaise(api, plan);
  t.match(r.outcome, { result: 'skipped', reason: 'conflict' });
  t.equal(kube.store.mustGet(DEPLOYMENT, 'kube-system', 'coredns').spec.template.spec.containers[0].resources.limits.memory, '200Mi', 'their change stands');
  t.equal(kube.server.requests.filter((x) => x.method === 'PATCH').at(-1)?.status, 422);
  // A 422 for another reason (the Deployment did not change) is an API error, not a conflict.
  const again = await planRaise(api, target, { factor: 2, cap: '1Gi' });
  if (!again.ok) throw new Error('unreachable');
  kube.faults.add({ match: { verb: 'patch', resource: 'deployments' }, status: 422, times: 1 });
  t.match((await applyRaise(api, again)).outcome, { result: 'skipped', reason: 'api-error', message: /HTTP 422/ });
  t.match((await applyRaise(api, again)).outcome, { result: 'acted', details: { from: '200Mi', to: '400Mi' } });
});

t.test('the Lease: held, expired and taken over, raced, released', async (t) => {
  const kube = await fake(t, { seed: false });
  kube.cluster.addNamespace('kube-system');
  const api = await client(kube);
  const settings = { namespace: 'kube-system', name: 'remedy', durationMs: 2000 };
  const a = new RemedyLease(api, { ...settings, holder: 'node-a' });
  const b = new RemedyLease(api, { ...settings, holder: 'node-b' });
  const first = await a.acquire();
  t.match(first, { ok: true, lease: { holderIdentity: 'node-a', leaseDurationSeconds: 2, leaseTransitions: 0 } });
  t.match(await b.acquire(), { ok: false, holder: 'node-a' });
  t.ok((await a.acquire()).ok, 'the holder may take it again');
  await a.renew({ action: 'evict', key: 'pod:x', node: 'node-a', at: new Date().toISOString() });
  t.match(kube.store.mustGet(LEASE, 'kube-system', 'remedy').spec.renewTime, /\.\d{6}Z$/);
  t.equal(await a.release(), true);
  const freed = kube.store.mustGet(LEASE, 'kube-system', 'remedy');
  t.equal(freed.spec.holderIdentity, undefined);
  t.ok(freed.metadata.annotations?.['coredns-healthd/last-action'], 'the last action stays on the Lease');
  const taken = await b.acquire();
  t.match(taken, { ok: true, lastAction: { key: 'pod:x', node: 'node-a' } }, 'a free Lease: the next node sees what was done last');
  // node-b stops renewing (it "crashed"): after the duration, node-a may take over.
  t.match(await a.acquire(), { ok: false, holder: 'node-b' });
  await new Promise((r) => setTimeout(r, 2100));
  t.match(await a.acquire(), { ok: true, lease: { holderIdentity: 'node-a', leaseTransitions: 1 } });
  await t.rejects(b.renew(), /the remedy Lease kube-system\/remedy is now held by node-a/, 'node-b finds out it lost the Lease');
  await t.rejects(b.renew(), /does not hold/, 'and no longer holds it');
  // A release that fails (500, timeout) is tried again: a Lease left held blocks every node.
  const f500 = kube.faults.add({ match: { resource: 'leases', verb: 'update' }, status: 500, times: 2 });
  t.equal(await a.release(), true, 'released on the third try');
  t.equal(f500.hits, 2);
  t.equal(kube.store.mustGet(LEASE, 'kube-system', 'remedy').spec.holderIdentity, undefined);
  t.ok((await a.acquire()).ok);
  const always = kube.faults.add({ match: { resource: 'leases', verb: 'update' }, status: 500, times: 3 });
  t.equal(await a.release(), false, 'three failures: given up (the Lease expires on its own)');
  t.equal(always.hits, 3);
  await new Promise((r) => setTimeout(r, 2100));

  // A race: both read the free Lease, both write; the API server lets one win. Two nodes, two
  // clients, each with its connection already open (a read that needed a new TLS connection on
  // a loaded machine could come after the winner's create, find the Lease held, and there would
  // be no race to lose); the creates are held 400 ms so that both reads are surely in first.
  const [apiC, apiD] = [await client(kube, 'node-c'), await client(kube, 'node-d')];
  await Promise.all([apiC.getLease({ namespace: 'kube-system', name: 'race' }), apiD.getLease({ namespace: 'kube-system', name: 'race' })]);
  const c = new RemedyLease(apiC, { ...settings, name: 'race', holder: 'node-c' });
  const d = new RemedyLease(apiD, { ...settings, name: 'race', holder: 'node-d' });
  kube.faults.add({ match: { resource: 'leases', verb: 'create' }, delayMs: 400, times: 2 });
  const results = await Promise.all([c.acquire(), d.acquire()]);
  t.same(results.map((r) => r.ok).sort(), [false, true], 'exactly one wins the create');
  const winner = results[0].ok ? 'node-c' : 'node-d';
  t.match(
    results.find((r) => !r.ok),
    { holder: winner },
  );
  const conflicts = kube.server.requests.filter(
    (r) => r.resource === 'leases' && r.status === 409 && (r.body as { metadata?: { name?: string } } | undefined)?.metadata?.name === 'race',
  );
  t.equal(conflicts.length, 1, 'the loser got 409');
});

t.test('the node condition is optional: a 403 turns it off, once', async (t) => {
  const kube = await fake(t);
  const api = await client(kube);
  const logs: string[] = [];
  const logger = { warn: (m: string) => logs.push(m) } as never;
  kube.faults.add({ match: { resource: 'nodes', subresource: 'status' }, status: 403 });
  const r = new NodeConditionReporter({ api, nodeName: 'node-a', logger });
  t.equal(await r.update({ status: 'True', reason: 'ClusterDNSAnswers', message: 'ok' }), 'disabled');
  t.equal(await r.update({ status: 'False', reason: 'AllEndpointsFailed', message: 'x' }), 'disabled');
  t.match(r.disabled, /RBAC does not allow patching nodes\/status/);
  t.equal(logs.length, 1);
  const missing = new NodeConditionReporter({ api, nodeName: 'no-such-node' });
  t.equal(await missing.update({ status: 'True', reason: 'ClusterDNSAnswers', message: 'ok' }), 'disabled');
  t.match(missing.disabled, /does not exist/);
  t.notOk(kube.store.mustGet(NODE, undefined, 'node-a').status.conditions.some((c: { type: string }) => c.type === 'ClusterDNSReachable'));
});

t.test('the node condition is written when its status or reason changes, not when only its message recounts', async (t) => {
  const kube = await fake(t);
  const api = await client(kube);
  let now = 1_000_000;
  const r = new NodeConditionReporter({ api, nodeName: 'node-a', heartbeatMs: 300_000, now: () => now });
  const patches = () => kube.server.requests.filter((q) => q.resource === 'nodes' && q.subresource === 'status' && q.verb === 'patch').length;
  t.equal(await r.update({ status: 'True', reason: 'ClusterDNSAnswers', message: '2 of 2 CoreDNS pods answer from the host' }), 'written');
  // One pod replacement: the count in the message moves three times.
  for (const m of ['1 of 2', '1 of 1', '2 of 2']) {
    now += 3_000;
    t.equal(await r.update({ status: 'True', reason: 'ClusterDNSAnswers', message: `${m} CoreDNS pods answer from the host` }), 'unchanged', m);
  }
  t.equal(patches(), 1, 'one PATCH for the whole replacement');
  now += 300_000;
  t.equal(await r.update({ status: 'True', reason: 'ClusterDNSAnswers', message: '2 of 2 CoreDNS pods answer from the host' }), 'written', 'the heartbeat');
  now += 1_000;
  t.equal(
    await r.update({ status: 'False', reason: 'AllEndpointsFailed', message: 'none of 2 CoreDNS pods answer from the host' }),
    'written',
    'a new status at once',
  );
  t.equal(patches(), 3);
  const cond = kube.store.mustGet(NODE, undefined, 'node-a').status.conditions.find((c: { type: string }) => c.type === 'ClusterDNSReachable');
  t.match(cond, { status: 'False', reason: 'AllEndpointsFailed' });

  // kubernetes.nodeConditionHeartbeat 0: only a change is written, however long it stays the same.
  let heartbeat = 0;
  const quiet = new NodeConditionReporter({ api, nodeName: 'node-a', heartbeatMs: () => heartbeat, now: () => now });
  const same = { status: 'False', reason: 'AllEndpointsFailed', message: 'none of 2 CoreDNS pods answer from the host' } as const;
  t.equal(await quiet.update(same), 'written', 'its first write');
  now += 86_400_000;
  t.equal(await quiet.update(same), 'unchanged', 'a day later, unchanged: no heartbeat');
  heartbeat = 3_600_000;
  t.equal(await quiet.update(same), 'written', 'the heartbeat read at each update (a configuration reload)');
});

t.test('the least-privilege RBAC of packaging/kubernetes/rbac.yaml is enough, and no more', async (t) => {
  const kube = await fake(t, { seed: { replicas: 3, resources: { limits: { cpu: '200m', memory: '170Mi' } } } });
  const subject = { kind: 'ServiceAccount' as const, name: 'coredns-healthd', namespace: 'kube-system' };
  const user = userOf(subject);
  const grants = await grantsFromManifest(RBAC, subject);
  t.ok(grants.length >= 3, 'a ClusterRole and Roles are bound to the ServiceAccount');
  kube.grant(user, grants);
  const a = await nodeSide(t, kube, { kubeconfig: { user }, settings: { cooldownMs: 0 } });
  t.ok(a.watcher.current().synced, 'the watches run under the RBAC (services by name, pods, pods on this node)');

  // Evict (Lease, pod get, eviction, Events, node condition).
  const victim = a.pods()[0]!;
  const failing = (p: { uid: string }) => (p.uid === victim.uid ? 'failed' : 'ok');
  for (let i = 0; i < 3; i++) await a.engine.onSweep(a.summary(failing, 'ok'));
  await a.engine.idle();
  t.same(a.decisions.filter((d) => d.result === 'acted').map(brief), ['evict/acted/threshold-reached']);
  await until('replacement', () => a.pods().length === 3 && !a.pods().some((p) => p.uid === victim.uid));

  // Raise memory (deployment get + patch by name).
  const oomPod = a.pods()[0]!;
  kube.cluster.setLastTermination('kube-system', oomPod.name, 'coredns', 'OOMKilled');
  await until('OOM seen', () => a.watcher.current().corednsPods.some((p) => p.containers.some((c) => c.lastTerminationReason === 'OOMKilled')));
  const d = await a.engine.onSweep(a.summary());
  await a.engine.idle();
  t.same(d.map(brief), ['raise-memory/acted/oom-killed']);
  // Node-local finding (an Event in "default").
  await a.engine.onSweep(a.summary(() => 'failed', 'failed'));
  await a.engine.idle();

  const denied = kube.server.requests.filter((r) => r.status === 403);
  t.same(
    denied.map((r) => `${r.verb} ${r.resource}/${r.subresource}`),
    [],
    'nothing the daemon did was refused',
  );
  t.ok(kube.store.list(EVENT).some((e) => e.metadata.namespace === 'default' && e.regarding.kind === 'Node'));
  t.ok(kube.store.list(EVENT).some((e) => e.metadata.namespace === 'kube-system' && e.reason === 'RaisedMemoryLimit'));
  t.ok(kube.store.mustGet(NODE, undefined, 'node-a').status.conditions.some((c: { type: string }) => c.type === 'ClusterDNSReachable'));

  // And no more: other objects are refused.
  const api = a.client;
  t.match(await api.getDeployment({ namespace: 'kube-system', name: 'other' }).catch((e: unknown) => e), { reason: 'forbidden' }, 'another Deployment');
  t.match(
    await api.patchDeployment({ namespace: 'default', name: 'coredns' }, []).catch((e: unknown) => e),
    { reason: 'forbidden' },
    'a Deployment of the same name elsewhere',
  );
  t.match(await api.getLease({ namespace: 'kube-system', name: 'kube-controller-manager' }).catch((e: unknown) => e), { reason: 'forbidden' }, 'another Lease');
  t.match(await api.deletePod(victim, victim.uid).catch((e: unknown) => e), { reason: 'forbidden' }, 'a plain delete is not granted by default');
  t.match(await api.listServices({ namespace: 'default' }).catch((e: unknown) => e), { reason: 'forbidden' }, 'listing every Service');

  // A grant taken away shows up as the decision's reason.
  kube.grant(
    user,
    grants.map((g) => ({ ...g, rules: g.rules.filter((r) => !r.resources?.includes('pods/eviction')) })),
  );
  const next = a.pods()[0]!;
  const failNext = (p: { uid: string }) => (p.uid === next.uid ? 'failed' : 'ok');
  let last: string[] = [];
  for (let i = 0; i < 3; i++) last = (await a.engine.onSweep(a.summary(failNext, 'ok'))).map(brief);
  t.same(last, ['evict/skipped/forbidden']);
});
