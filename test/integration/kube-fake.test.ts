// The fake API server (test/support/fake-kube) against the real clients: kubectl
// (get, get -o yaml, patch, the eviction subresource, drain with a
// PodDisruptionBudget) and @kubernetes/client-node (token, client-certificate
// and exec-plugin kubeconfigs, 401/403, 409, 410, MicroTime validation).
// If kubectl accepts it, the fake speaks the protocol closely enough for the
// daemon's tests to mean something.
import t, { type Test } from 'tap';
import { CoordinationV1Api, CoreV1Api, KubeConfig, V1MicroTime } from '@kubernetes/client-node';
import { DEPLOYMENT, LEASE, PDB, POD, startFakeKube, type FakeKube } from '../support/fake-kube/index.js';
import { kubectlFor } from '../support/fake-kube/kubectl.js';
import { KubeClient } from '../../src/kube/client.js';
import { resolveKubeConnection } from '../../src/kube/connection.js';
import { KubeApiError } from '../../src/kube/errors.js';

async function fake(t: Test, opts: Parameters<typeof startFakeKube>[0] = {}): Promise<FakeKube> {
  const kube = await startFakeKube(opts);
  t.teardown(() => kube.close());
  return kube;
}

const corednsPods = (kube: FakeKube) => kube.store.list(POD, { namespace: 'kube-system' }).filter((p) => p.metadata.labels?.['k8s-app'] === 'kube-dns');

/** "kubectl exits 0", with its stderr when it did not. */
const exited = (r: { code: number | null; stderr: string }): string => `kubectl exits 0${r.code === 0 ? '' : `: ${r.stderr}`}`;

/** The error a promise rejects with (fails the test when it resolves). */
async function rejection(p: Promise<unknown>): Promise<KubeApiError> {
  const e = await p.then(
    () => new Error('expected a rejection'),
    (x: unknown) => x,
  );
  if (!(e instanceof KubeApiError)) throw e;
  return e;
}

async function until(what: string, check: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

t.test('kubectl get pods -A and get deploy -o yaml', async (t) => {
  const kube = await fake(t);
  const kubectl = await kubectlFor(await kube.kubeconfig());
  t.teardown(() => kubectl.cleanup());

  const pods = await kubectl(['get', 'pods', '-A']);
  t.equal(pods.code, 0, exited(pods));
  const lines = pods.stdout.trim().split('\n');
  t.match(lines[0], /^NAMESPACE\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE/);
  const rows = lines.slice(1).map((l) => l.split(/\s+/));
  t.equal(rows.length, 2, 'two CoreDNS pods');
  for (const r of rows) {
    t.equal(r[0], 'kube-system');
    t.match(r[1], /^coredns-[0-9a-z]+-[0-9a-f]{5}$/);
    t.equal(r[2], '1/1');
    t.equal(r[3], 'Running');
  }

  const yaml = await kubectl(['get', 'deploy', '-n', 'kube-system', 'coredns', '-o', 'yaml']);
  t.equal(yaml.code, 0, exited(yaml));
  t.match(yaml.stdout, /^apiVersion: apps\/v1\nkind: Deployment\n/);
  t.match(yaml.stdout, /generation: 1\n/);
  t.match(yaml.stdout, /limits:\n\s+memory: 170Mi\n\s+requests:\n\s+cpu: 100m\n\s+memory: 70Mi/);

  const missing = await kubectl(['get', 'deploy', '-n', 'kube-system', 'nope']);
  t.not(missing.code, 0);
  t.match(missing.stderr, /deployments.apps "nope" not found/);
});

t.test('kubectl patch: strategic merge by container name, generation bumped, pods rolled', async (t) => {
  const kube = await fake(t, { seed: { resources: { limits: { cpu: '200m', memory: '170Mi' }, requests: { cpu: '100m', memory: '70Mi' } } } });
  const kubectl = await kubectlFor(await kube.kubeconfig());
  t.teardown(() => kubectl.cleanup());
  const before = new Set(corednsPods(kube).map((p) => p.metadata.uid));

  const out = await kubectl([
    'patch',
    'deploy',
    '-n',
    'kube-system',
    'coredns',
    '-p',
    '{"spec":{"template":{"spec":{"containers":[{"name":"coredns","resources":{"limits":{"memory":"340Mi"}}}]}}}}',
  ]);
  t.equal(out.code, 0, exited(out));
  t.match(out.stdout, /deployment.apps\/coredns patched/);
  const patch = kube.server.requests.find((r) => r.method === 'PATCH');
  t.equal(patch?.contentType, 'application/strategic-merge-patch+json');

  await until('the rollout', () => {
    const pods = corednsPods(kube);
    return pods.length === 2 && pods.every((p) => !before.has(p.metadata.uid) && p.status?.phase === 'Running');
  });
  await kube.cluster.settle();
  const d = kube.store.mustGet(DEPLOYMENT, 'kube-system', 'coredns');
  t.equal(d.metadata.generation, 2, 'a spec change bumps the generation');
  t.equal(d.status.observedGeneration, 2);
  t.equal(d.status.updatedReplicas, 2);
  t.same(
    d.spec.template.spec.containers[0].resources,
    { limits: { cpu: '200m', memory: '340Mi' }, requests: { cpu: '100m', memory: '70Mi' } },
    'the merge kept every other limit and request',
  );
  for (const p of corednsPods(kube)) t.equal(p.spec.containers[0].resources.limits.memory, '340Mi', 'new pods run the new template');

  const again = await kubectl(['get', 'deploy', '-n', 'kube-system']);
  t.match(again.stdout, /coredns\s+2\/2\s+2\s+2\s/);

  // A metadata-only change does not bump the generation.
  const label = await kubectl(['label', 'deploy', '-n', 'kube-system', 'coredns', 'team=dns']);
  t.equal(label.code, 0, exited(label));
  t.equal(kube.store.mustGet(DEPLOYMENT, 'kube-system', 'coredns').metadata.generation, 2);
});

t.test('the eviction subresource (kubectl create --raw) replaces the pod', async (t) => {
  const kube = await fake(t);
  const kubectl = await kubectlFor(await kube.kubeconfig());
  t.teardown(() => kubectl.cleanup());
  const victim = corednsPods(kube)[0]!;
  const body = JSON.stringify({ apiVersion: 'policy/v1', kind: 'Eviction', metadata: { name: victim.metadata.name, namespace: 'kube-system' } });
  const out = await kubectl(['create', '--raw', `/api/v1/namespaces/kube-system/pods/${victim.metadata.name}/eviction`, '-f', '-'], { input: body });
  t.equal(out.code, 0, exited(out));
  t.match(JSON.parse(out.stdout), { kind: 'Status', status: 'Success', code: 201 });
  await until('the replacement', () => {
    const pods = corednsPods(kube);
    return pods.length === 2 && !pods.some((p) => p.metadata.uid === victim.metadata.uid) && pods.every((p) => p.status?.phase === 'Running');
  });
  t.pass('the evicted pod is gone and a replacement runs');
});

t.test('kubectl drain: the PodDisruptionBudget answers 429 until a replacement is Ready', async (t) => {
  const kube = await fake(t, { seed: { pdb: { minAvailable: 1 }, podNodes: ['node-a', 'node-a'] } });
  const kubectl = await kubectlFor(await kube.kubeconfig());
  t.teardown(() => kubectl.cleanup());
  const pdb = kube.store.mustGet(PDB, 'kube-system', 'coredns-pdb');
  t.match(pdb.status, { currentHealthy: 2, desiredHealthy: 1, disruptionsAllowed: 1, expectedPods: 2 });

  const out = await kubectl(['drain', 'node-a', '--ignore-daemonsets', '--pod-selector=k8s-app=kube-dns', '--timeout=40s'], { timeoutMs: 60_000 });
  t.equal(out.code, 0, exited(out));
  t.match(out.stdout, /node\/node-a cordoned/);
  t.match(out.stdout, /node\/node-a drained/);
  t.match(out.stderr + out.stdout, /Cannot evict pod as it would violate the pod's disruption budget/);
  const evictions = kube.server.requests.filter((r) => r.subresource === 'eviction');
  t.same(
    evictions
      .map((r) => r.status)
      .filter((s, i, a) => a.indexOf(s) === i)
      .sort(),
    [201, 429],
    'one eviction was refused (429) and retried',
  );
  t.equal(evictions.filter((r) => r.status === 201).length, 2);
  const pods = corednsPods(kube);
  t.equal(pods.length, 2);
  t.ok(
    pods.every((p) => p.spec.nodeName === 'node-b'),
    'the replacements run on the other node',
  );
  t.equal(kube.store.mustGet('/nodes', undefined, 'node-a').spec.unschedulable, true);
});

t.test('auth: token, client certificate and exec plugin kubeconfigs; 401 without valid credentials', async (t) => {
  const kube = await fake(t, { seed: { replicas: 1 } });
  for (const auth of ['token', 'cert', 'exec'] as const) {
    const client = new KubeClient(resolveKubeConnection({ kubeconfig: await kube.kubeconfig({ auth, user: `user-${auth}` }) }), {
      reportingInstance: 'node-a',
    });
    const pods = await client.listPods({ namespace: 'kube-system' });
    t.equal(pods.items.length, 1, `${auth}: listed`);
    t.equal(kube.server.requests.at(-1)?.user, `user-${auth}`, `${auth}: authenticated as the kubeconfig's user`);
  }

  // A certificate from another CA is not a credential.
  const other = await kube.pki.otherCa();
  const rogue = await kube.pki.client('mallory', [], other);
  const path = await kube.kubeconfig({ auth: 'cert', user: 'mallory' });
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  kc.users[0] = { ...kc.users[0]!, certFile: rogue.certFile, keyFile: rogue.keyFile };
  const core = kc.makeApiClient(CoreV1Api);
  await t.rejects(core.listNamespacedPod({ namespace: 'kube-system' }), { code: 401 });

  // A kubeconfig trusting the wrong CA fails the TLS handshake.
  const wrongCa = new KubeClient(resolveKubeConnection({ kubeconfig: await kube.kubeconfig({ caCert: other.cert }) }), { reportingInstance: 'node-a' });
  const err = await wrongCa.listPods({ namespace: 'kube-system' }).catch((e: unknown) => e);
  t.type(err, KubeApiError);
  t.equal((err as KubeApiError).reason, 'tls', (err as Error).message);
});

t.test('the typed calls reuse one kept-alive TLS connection (the library would open one per request)', async (t) => {
  const kube = await fake(t, { seed: { replicas: 1 } });
  for (const auth of ['token', 'cert'] as const) {
    const client = new KubeClient(resolveKubeConnection({ kubeconfig: await kube.kubeconfig({ auth, user: `reuse-${auth}` }) }), {
      reportingInstance: 'node-a',
    });
    const before = kube.server.connections;
    for (let i = 0; i < 20; i++) await client.getLease({ namespace: 'kube-system', name: 'absent' });
    t.equal(kube.server.connections - before, 1, `${auth}: 20 requests, one connection`);
    t.equal(kube.server.requests.at(-1)?.user, `reuse-${auth}`, `${auth}: still authenticated as the kubeconfig's user`);
    client.close();
    await client.getLease({ namespace: 'kube-system', name: 'absent' });
    t.equal(kube.server.connections - before, 2, `${auth}: after close(), a new connection`);
    client.close();
  }
});

t.test('wire semantics: 409 on create and on a stale update, 422 for a bad MicroTime, 410 for a compacted watch', async (t) => {
  const kube = await fake(t, { seed: { replicas: 1 } });
  const kc = new KubeConfig();
  kc.loadFromFile(await kube.kubeconfig());
  const coord = kc.makeApiClient(CoordinationV1Api);
  const body = (holder: string) => ({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name: 'l', namespace: 'kube-system' },
    spec: { holderIdentity: holder, leaseDurationSeconds: 10, renewTime: new V1MicroTime(Date.now()) },
  });
  const created = await coord.createNamespacedLease({ namespace: 'kube-system', body: body('a') });
  t.match(created.metadata?.resourceVersion, /^\d+$/);
  t.match(
    kube.store.mustGet(LEASE, 'kube-system', 'l').spec.renewTime,
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/,
    'MicroTime has six fractional digits on the wire',
  );
  await t.rejects(coord.createNamespacedLease({ namespace: 'kube-system', body: body('b') }), { code: 409 }, 'AlreadyExists');
  const updated = await coord.replaceNamespacedLease({
    name: 'l',
    namespace: 'kube-system',
    body: { ...body('b'), metadata: { ...body('b').metadata, resourceVersion: created.metadata!.resourceVersion! } },
  });
  t.not(updated.metadata?.resourceVersion, created.metadata?.resourceVersion);
  await t.rejects(
    coord.replaceNamespacedLease({
      name: 'l',
      namespace: 'kube-system',
      body: { ...body('c'), metadata: { ...body('c').metadata, resourceVersion: created.metadata!.resourceVersion! } },
    }),
    { code: 409 },
    'a stale resourceVersion is a conflict',
  );
  t.equal(kube.store.mustGet(LEASE, 'kube-system', 'l').spec.holderIdentity, 'b');
  // A plain Date serialises with milliseconds only: the real API server refuses it, and so does the fake.
  await t.rejects(
    coord.createNamespacedLease({
      namespace: 'kube-system',
      body: { ...body('x'), metadata: { name: 'm', namespace: 'kube-system' }, spec: { renewTime: new Date() } },
    }),
    { code: 422 },
  );

  // Watch from a resourceVersion older than the compacted history: one ERROR event with 410.
  const client = new KubeClient(resolveKubeConnection({ kubeconfig: await kube.kubeconfig() }), { reportingInstance: 'node-a' });
  const list = await client.listPods({ namespace: 'kube-system' });
  kube.cluster.setPodReady('kube-system', list.items[0]!.name, false);
  kube.store.compact();
  const events: { type: string; code?: unknown }[] = [];
  const stream = client.watch({
    path: '/api/v1/namespaces/kube-system/pods',
    query: { resourceVersion: list.resourceVersion },
    onEvent: (type, o) => events.push({ type, code: (o as { code?: unknown }).code }),
    maxDurationMs: 5000,
  });
  t.equal(await stream.done, null, 'the server ends the stream');
  t.same(events, [{ type: 'ERROR', code: 410 }]);
});

t.test('faults: injected status, delay and a reset connection', async (t) => {
  const kube = await fake(t, { seed: { replicas: 1 } });
  const client = new KubeClient(resolveKubeConnection({ kubeconfig: await kube.kubeconfig() }), { reportingInstance: 'node-a', requestTimeoutMs: 300 });
  const f403 = kube.faults.add({ match: { verb: 'list', resource: 'pods' }, status: 403, times: 1 });
  t.match(await rejection(client.listPods({ namespace: 'kube-system' })), { reason: 'forbidden', status: 403 });
  t.equal(f403.hits, 1);
  t.equal((await client.listPods({ namespace: 'kube-system' })).items.length, 1, 'times: 1 is used up');
  kube.faults.add({ match: { verb: 'list' }, status: 500, times: 1 });
  t.match(await rejection(client.listPods({ namespace: 'kube-system' })), { reason: 'server-error', status: 500 });
  kube.faults.add({ match: { verb: 'list' }, delayMs: 1000, times: 1 });
  t.match(await rejection(client.listPods({ namespace: 'kube-system' })), { reason: 'timeout' }, 'a slow answer times out');
  kube.faults.add({ match: { verb: 'list' }, reset: true, times: 1 });
  t.match(await rejection(client.listPods({ namespace: 'kube-system' })), { reason: 'unreachable' }, 'connection reset');
  await kube.down();
  t.match(await rejection(client.listPods({ namespace: 'kube-system' })), { reason: 'unreachable' }, 'connection refused');
  await kube.up();
  t.equal((await client.listPods({ namespace: 'kube-system' })).items.length, 1, 'back up on the same port');
});
