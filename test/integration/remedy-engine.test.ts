// The remedy engine end to end against the fake API server, through the real
// client and the target watches: which pod is evicted and when, the node-local
// fault that restarts nothing, raising an OOMKilled container's memory
// limit, two nodes and one Lease, cooldowns and the hourly cap, dry-run, and
// an API server that is down, refuses or is slow.
import t, { type Test } from 'tap';
import { DEPLOYMENT, EVENT, LEASE, NODE, POD, startFakeKube, type FakeKube } from '../support/fake-kube/index.js';
import { brief, nodeSide, until } from '../support/fake-kube/world.js';
import { CONDITION_TYPE } from '../../src/remedy/node-condition.js';
import { LAST_ACTION_ANNOTATION } from '../../src/remedy/lease.js';
import { PREVIOUS_LIMITS_ANNOTATION } from '../../src/remedy/raise-memory.js';
import { RemedyEngine } from '../../src/remedy/engine.js';

async function fake(t: Test, opts: Parameters<typeof startFakeKube>[0] = {}): Promise<FakeKube> {
  const kube = await startFakeKube({ podReadyDelayMs: 30, podTerminationMs: 30, ...opts });
  t.teardown(() => kube.close());
  return kube;
}

const writes = (kube: FakeKube) => kube.server.requests.filter((r) => ['POST', 'PUT', 'PATCH', 'DELETE'].includes(r.method));
const corednsUids = (kube: FakeKube) =>
  kube.store
    .list(POD, { namespace: 'kube-system' })
    .map((p) => p.metadata.uid)
    .sort();

t.test('one CoreDNS pod stops answering: after N sweeps exactly that pod is evicted, the others untouched', async (t) => {
  const kube = await fake(t, { seed: { replicas: 3, pdb: { minAvailable: 1 } } });
  const a = await nodeSide(t, kube);
  const [victim, ...others] = a.pods();
  const failing = (p: { uid: string }) => (p.uid === victim!.uid ? 'failed' : 'ok');
  for (let i = 1; i <= 2; i++) {
    const d = await a.engine.onSweep(a.summary(failing, 'ok'));
    t.same(d.map(brief), ['evict/skipped/below-threshold'], `sweep ${i}: below the threshold`);
  }
  t.equal(kube.server.requests.filter((r) => r.subresource === 'eviction').length, 0, 'nothing evicted before the third sweep');
  const third = await a.engine.onSweep(a.summary(failing, 'ok'));
  t.same(third.map(brief), ['evict/acted/threshold-reached']);
  t.match(third[0], {
    target: `pod kube-system/${victim!.name}`,
    pod: { uid: victim!.uid },
    message: /^evicted pod kube-system\/coredns-.*: it failed from the host in 3 consecutive sweeps \(timeout\) while another CoreDNS endpoint answered$/,
    details: { failedSweeps: 3, readyAfter: 2, method: 'eviction' },
  });
  const evictions = kube.server.requests.filter((r) => r.subresource === 'eviction');
  t.equal(evictions.length, 1);
  t.equal(evictions[0]!.name, victim!.name);
  t.match(evictions[0]!.body, { apiVersion: 'policy/v1', kind: 'Eviction', deleteOptions: { preconditions: { uid: victim!.uid } } });
  t.same(a.engine.status().acting, { action: 'evict', target: `pod kube-system/${victim!.name}`, since: third[0]!.at });

  await a.engine.idle();
  const after = corednsUids(kube);
  t.notOk(after.includes(victim!.uid), 'the failing pod is gone');
  t.ok(
    others.every((o) => after.includes(o.uid)),
    'the others were not touched',
  );
  t.equal(after.length, 3, 'a replacement runs');
  const lease = kube.store.mustGet(LEASE, 'kube-system', 'coredns-healthd-remedy');
  t.equal(lease.spec.holderIdentity, undefined, 'the Lease is released');
  t.match(JSON.parse(lease.metadata.annotations![LAST_ACTION_ANNOTATION]!), { action: 'evict', key: `pod:${victim!.uid}`, node: 'node-a' });
  t.ok(
    a.logs.some((l) => /a replacement for pod .* is Ready after/.test(String(l.msg))),
    'the wait is logged',
  );
  const events = kube.store.list(EVENT);
  t.same(events.map((e) => e.reason).sort(), ['EvictedUnhealthyCoreDNS', 'RemedyCompleted'], 'below-threshold is no Event; the eviction and its result are');
  for (const e of events) t.match(e, { reportingController: 'coredns-healthd', reportingInstance: 'node-a', eventTime: /\.\d{6}Z$/ });
  t.match(
    events.find((e) => e.reason === 'EvictedUnhealthyCoreDNS'),
    { type: 'Warning', action: 'Evict', regarding: { kind: 'Pod', name: victim!.name, uid: victim!.uid } },
  );
  t.match(
    events.find((e) => e.reason === 'RemedyCompleted'),
    { type: 'Normal', action: 'Evict', regarding: { kind: 'Pod', name: victim!.name, uid: victim!.uid } },
    'the result is on the evicted pod, beside the eviction',
  );
  t.equal(a.engine.status().actionsLastHour, 1);
  t.same(
    a.engine.status().cooldowns.map((c) => c.target),
    [`pod:${victim!.uid}`],
  );
});

t.test('every CoreDNS endpoint fails from this node: no eviction, a node finding, an Event and the node condition', async (t) => {
  const kube = await fake(t);
  const a = await nodeSide(t, kube);
  for (let i = 0; i < 4; i++) {
    const d = await a.engine.onSweep(a.summary(() => 'failed', 'failed'));
    t.same(d.map(brief), ['node-finding/reported/all-endpoints-failed', 'evict/skipped/node-local-fault', 'evict/skipped/node-local-fault'], `sweep ${i + 1}`);
  }
  await a.engine.idle();
  t.equal(kube.server.requests.filter((r) => r.subresource === 'eviction').length, 0, 'nothing evicted');
  t.equal(
    kube.server.requests.filter((r) => r.resource === 'leases' && (r.name ?? '') === 'coredns-healthd-remedy').length,
    0,
    'the remedy Lease is not even asked for (the node only publishes its verdicts)',
  );
  const events = kube.store.list(EVENT);
  const finding = events.filter((e) => e.reason === 'ClusterDNSUnreachableFromNode');
  t.equal(finding.length, 1, 'one Event for four identical findings');
  t.match(finding[0], {
    metadata: { namespace: 'default' },
    type: 'Warning',
    regarding: { kind: 'Node', name: 'node-a' },
    note: /every CoreDNS endpoint \(2 pods\) fails from node node-a/,
  });
  let cond = kube.store.mustGet(NODE, undefined, 'node-a').status.conditions.find((c: { type: string }) => c.type === CONDITION_TYPE);
  t.match(cond, { status: 'False', reason: 'AllEndpointsFailed' });
  t.ok(
    kube.store.mustGet(NODE, undefined, 'node-a').status.conditions.some((c: { type: string }) => c.type === 'Ready'),
    "the kubelet's conditions are kept (strategic merge by type)",
  );
  t.equal(kube.server.requests.filter((r) => r.subresource === 'status').length, 1, 'an unchanged condition is not rewritten every sweep');
  const falseSince = cond.lastTransitionTime;

  await new Promise((r) => setTimeout(r, 1100));
  await a.engine.onSweep(a.summary(() => 'ok', 'ok'));
  await a.engine.idle();
  cond = kube.store.mustGet(NODE, undefined, 'node-a').status.conditions.find((c: { type: string }) => c.type === CONDITION_TYPE);
  t.match(cond, { status: 'True', reason: 'ClusterDNSAnswers', message: 'the DNS Service and 2 of 2 CoreDNS pods answer from the host' });
  t.not(cond.lastTransitionTime, falseSince, 'the transition time moved with the status');
});

t.test('OOMKilled: 170Mi → 340Mi with the CPU limit kept, found by name; then up to the cap and never past it', async (t) => {
  const kube = await fake(t, {
    seed: {
      resources: { limits: { cpu: '200m', memory: '170Mi' }, requests: { cpu: '100m', memory: '70Mi' } },
      containersFirst: [{ name: 'sidecar', resources: { limits: { memory: '64Mi' } } }],
    },
  });
  const a = await nodeSide(t, kube, { settings: { cooldownMs: 0 } });
  const oom = async () => {
    const pod = a.pods()[0]!;
    kube.cluster.setLastTermination('kube-system', pod.name, 'coredns', 'OOMKilled');
    await until('the OOMKilled status', () =>
      a.watcher.current().corednsPods.some((p) => p.uid === pod.uid && p.containers.some((c) => c.lastTerminationReason === 'OOMKilled')),
    );
    const d = await a.engine.onSweep(a.summary());
    await a.engine.idle();
    // The next OOM happens in a pod of the current template, once the watch shows the rollout done.
    const limit = containers()[1].resources.limits.memory;
    await until('the rollout in the watch', () => {
      const all = a.watcher.current().corednsPods;
      return all.length === 2 && all.every((p) => !p.terminating && p.ready && p.containers.find((c) => c.name === 'coredns')?.memoryLimit === limit);
    });
    return d;
  };
  const containers = () => kube.store.mustGet(DEPLOYMENT, 'kube-system', 'coredns').spec.template.spec.containers;

  const first = await oom();
  t.same(first.map(brief), ['raise-memory/acted/oom-killed']);
  t.match(first[0], { target: 'deployment kube-system/coredns', details: { container: 'coredns', from: '170Mi', to: '340Mi', capped: false } });
  t.same(containers()[0].resources, { limits: { memory: '64Mi' } }, 'the sidecar (listed first) is untouched');
  t.same(containers()[1].resources, { limits: { cpu: '200m', memory: '340Mi' }, requests: { cpu: '100m', memory: '70Mi' } }, 'only limits.memory changed');
  const d = kube.store.mustGet(DEPLOYMENT, 'kube-system', 'coredns');
  t.same(JSON.parse(d.metadata.annotations![PREVIOUS_LIMITS_ANNOTATION]!), { coredns: '170Mi' });
  t.equal(d.metadata.generation, 2);
  const patch = kube.server.requests.find((r) => r.method === 'PATCH' && r.resource === 'deployments');
  t.equal(patch?.contentType, 'application/json-patch+json');
  t.match(patch?.body, [
    { op: 'test', path: '/spec/template/spec/containers/1/name', value: 'coredns' },
    { op: 'test', value: '170Mi' },
    { op: 'replace', value: '340Mi' },
  ]);
  t.ok(
    a.pods().every((p) => p.containers.find((c) => c.name === 'coredns')?.memoryLimit === '340Mi'),
    'the rollout replaced the pods',
  );
  t.ok(a.logs.some((l) => /the rollout of deployment kube-system\/coredns is Ready/.test(String(l.msg))));

  t.match((await oom())[0], { details: { from: '340Mi', to: '680Mi' } });
  t.match((await oom())[0], { details: { from: '680Mi', to: '1Gi', capped: true }, message: /to 1Gi \(the cap\)/ });
  const last = await oom();
  t.same(last.map(brief), ['raise-memory/skipped/at-cap']);
  t.equal(containers()[1].resources.limits.memory, '1Gi', 'the cap is never exceeded');
  t.equal(containers()[1].resources.limits.cpu, '200m');
  t.same(JSON.parse(kube.store.mustGet(DEPLOYMENT, 'kube-system', 'coredns').metadata.annotations![PREVIOUS_LIMITS_ANNOTATION]!), { coredns: '680Mi' });
  t.same((await a.engine.onSweep(a.summary())).map(brief), [], 'the same termination is not decided on twice');
});

t.test('two nodes see the same failure: exactly one acts (the Lease)', async (t) => {
  const kube = await fake(t, { seed: { replicas: 3 } });
  const a = await nodeSide(t, kube, { node: 'node-a' });
  const b = await nodeSide(t, kube, { node: 'node-b' });
  const victim = a.pods()[0]!;
  const failing = (p: { uid: string }) => (p.uid === victim.uid ? 'failed' : 'ok');
  for (let i = 0; i < 2; i++) await Promise.all([a.engine.onSweep(a.summary(failing)), b.engine.onSweep(b.summary(failing))]);
  const [da, db] = await Promise.all([a.engine.onSweep(a.summary(failing)), b.engine.onSweep(b.summary(failing))]);
  const results = [...da, ...db].map(brief).sort();
  t.same(results, ['evict/acted/threshold-reached', 'evict/skipped/lease-held'], 'one acted, the other found the Lease held');
  const loser = [...da, ...db].find((d) => d.reason === 'lease-held')!;
  const winner = [...da, ...db].find((d) => d.result === 'acted')!;
  t.match(loser.message, /node node-[ab] holds the remedy Lease kube-system\/coredns-healthd-remedy/);
  t.not(loser.details?.holder, undefined);
  t.equal(kube.server.requests.filter((r) => r.subresource === 'eviction').length, 1, 'one eviction in the cluster');
  await Promise.all([a.engine.idle(), b.engine.idle()]);
  t.equal(kube.store.mustGet(LEASE, 'kube-system', 'coredns-healthd-remedy').spec.holderIdentity, undefined);
  // The evicted pod is gone for both: nobody acts again.
  await until('both watches see the replacement', () => [a, b].every((s) => s.pods().length === 3 && !s.pods().some((p) => p.uid === victim.uid)));
  const next = await Promise.all([a.engine.onSweep(a.summary(failing)), b.engine.onSweep(b.summary(failing))]);
  t.same(next.flat(), []);
  t.ok(winner.pod?.uid === victim.uid);
});

t.test('cooldown (also across nodes, via the Lease) and the hourly cap hold', async (t) => {
  const kube = await fake(t, { seed: { replicas: 4 } });
  const a = await nodeSide(t, kube, { settings: { maxActionsPerHour: 1 } });
  const [p1, p2] = a.pods();
  const fail = (uid: string) => (p: { uid: string }) => (p.uid === uid ? 'failed' : 'ok');
  for (let i = 0; i < 3; i++) await a.engine.onSweep(a.summary(fail(p1!.uid)));
  t.equal(a.decisions.filter((d) => d.result === 'acted').length, 1);
  await a.engine.idle();
  let last: string[] = [];
  for (let i = 0; i < 4; i++) last = (await a.engine.onSweep(a.summary(fail(p2!.uid)))).map(brief);
  t.same(last, ['evict/skipped/hourly-cap'], 'one action per hour on this node');
  t.match(a.decisions.at(-1)?.message, /1 actions by this node in the last hour; at most 1/);
  t.equal(kube.server.requests.filter((r) => r.subresource === 'eviction').length, 1);

  // Node B's watch lags: it still sees p1 failing after node A evicted it. The Lease says A just acted on it.
  const b = await nodeSide(t, kube, { node: 'node-b' });
  const stale = { ...a.watcher.current(), corednsPods: [...a.watcher.current().corednsPods, { ...p1!, ready: true }] };
  const lagging = new RemedyEngine({
    api: b.client,
    settings: { ...a.engine.settings, maxActionsPerHour: 10 },
    nodeName: 'node-b',
    targets: () => stale,
    pollMs: 20,
    nodeCondition: false,
    events: false,
  });
  t.teardown(() => lagging.stop());
  const summary = {
    at: new Date(),
    pods: stale.corednsPods.map((p) => ({
      namespace: p.namespace,
      name: p.name,
      uid: p.uid,
      status: p.uid === p1!.uid ? ('failed' as const) : ('ok' as const),
      reasons: [],
    })),
  };
  let d: string[] = [];
  for (let i = 0; i < 3; i++) d = (await lagging.onSweep(summary)).map(brief);
  t.same(d, ['evict/skipped/cooldown'], 'another node acted on this pod within the cooldown');
  t.equal(kube.server.requests.filter((r) => r.subresource === 'eviction').length, 1);
});

t.test('dry-run changes nothing and says what it would do', async (t) => {
  const kube = await fake(t);
  const a = await nodeSide(t, kube, { settings: { mode: 'dry-run' } });
  const victim = a.pods()[0]!;
  kube.cluster.setLastTermination('kube-system', a.pods()[1]!.name, 'coredns', 'OOMKilled');
  await until('OOM seen', () => a.watcher.current().corednsPods.some((p) => p.containers.some((c) => c.lastTerminationReason === 'OOMKilled')));
  const before = writes(kube).length;
  const failing = (p: { uid: string }) => (p.uid === victim.uid ? 'failed' : 'ok');
  const all = [];
  for (let i = 0; i < 4; i++) all.push(...(await a.engine.onSweep(a.summary(failing, 'ok'))));
  await a.engine.idle();
  t.same(
    all.filter((d) => d.result === 'would-act').map((d) => d.message),
    [
      'would raise the memory limit of container coredns in deployment kube-system/coredns from 170Mi to 340Mi (dry-run): it was OOMKilled in pod kube-system/' +
        a.pods()[1]!.name,
      `would evict pod kube-system/${victim.name} (dry-run): it failed from the host in 3 consecutive sweeps (timeout) while another CoreDNS endpoint answered`,
    ],
  );
  t.match(
    all.at(-1),
    {
      action: 'evict',
      result: 'skipped',
      reason: 'cooldown',
      message: /^not evicting pod kube-system\/coredns-\S+: dry-run: said \d+s ago what it would do \(nothing was done\); says it again after 10m/,
    },
    'the same "would" is not repeated every sweep, and the message does not claim an action',
  );
  t.notOk(
    all.some((d) => /acted on/.test(d.message)),
    'no decision says it acted',
  );
  t.equal(a.engine.status().actionsLastHour, 0, 'dry-run decisions are not actions: the hourly cap is untouched');
  t.same(a.engine.status().cooldowns, [], 'and no cooldown runs');
  const changed = writes(kube)
    .slice(before)
    .filter((r) => !(r.resource === 'events' || (r.resource === 'nodes' && r.subresource === 'status')))
    .filter(
      (r) =>
        !(
          r.resource === 'leases' &&
          String(r.name ?? (r.body as { metadata?: { name?: string } } | undefined)?.metadata?.name).startsWith('coredns-healthd-verdict-')
        ),
    );
  t.same(changed, [], "no eviction, no patch, no remedy Lease: only Events, the node condition and this node's verdicts were written");
  t.equal(kube.store.mustGet(DEPLOYMENT, 'kube-system', 'coredns').spec.template.spec.containers[0].resources.limits.memory, '170Mi');
  t.ok(kube.store.list(EVENT).some((e) => e.reason === 'WouldEvict' && e.type === 'Normal'));
  t.ok(kube.store.list(EVENT).some((e) => e.reason === 'WouldRaiseMemoryLimit'));
});

t.test('API server down, 403, 500, slow or a dropped watch: skipped with that reason, never an exception', async (t) => {
  const kube = await fake(t, { seed: { replicas: 3 } });
  // The engine's clock, moved past settings.apiSettleMs (30 s here) after each API failure (the Lease times are
  // checked against it too, so it starts at the real time). Requests time out after 1 s: with 300 ms, a 403
  // answered late on a loaded machine (load average 10) became api-timeout.
  const API_SETTLE_MS = 30_000;
  let now = Date.now();
  const a = await nodeSide(t, kube, { requestTimeoutMs: 1000, nodeCondition: false, now: () => now });
  const victim = a.pods()[0]!;
  const failing = (p: { uid: string }) => (p.uid === victim.uid ? 'failed' : 'ok');
  for (let i = 0; i < 2; i++) await a.engine.onSweep(a.summary(failing));
  const sweep = async () => (await a.engine.onSweep(a.summary(failing))).map((d) => `${brief(d)}`);
  const leaseReads = () => kube.server.requests.filter((r) => r.resource === 'leases' && r.verb === 'get').length;

  const f403 = kube.faults.add({ match: { verb: 'create', subresource: 'eviction' }, status: 403, times: 1 });
  t.same(await sweep(), ['evict/skipped/forbidden']);
  t.equal(f403.hits, 1);
  t.match(a.decisions.at(-1)?.message, /cannot evict pod .*: HTTP 403/);
  t.equal(kube.store.mustGet(LEASE, 'kube-system', 'coredns-healthd-remedy').spec.holderIdentity, undefined, 'the Lease is released after a refusal');

  kube.faults.add({ match: { resource: 'leases', verb: 'get' }, status: 500, times: 1 });
  t.same(await sweep(), ['evict/skipped/api-error']);
  // A refusal (403) is not an outage; a 500 is: for apiSettleMs no Lease attempt at all.
  const reads = leaseReads();
  now += API_SETTLE_MS - 1000;
  t.same(await sweep(), ['evict/skipped/api-error'], 'within API_SETTLE_MS of the failure: skipped without asking');
  t.match(a.decisions.at(-1)?.message, /^no action: the API server failed 29s ago \(.*\); actions wait until 30s after the last failure/);
  t.equal(leaseReads(), reads, 'and the Lease was not read');
  now += 1000;
  kube.faults.add({ match: { resource: 'leases', verb: 'get' }, delayMs: 3000, times: 1 });
  const slow = sweep();
  t.same(await a.engine.onSweep(a.summary(failing)), [], 'a sweep arriving while the previous one is being decided is not counted');
  t.same(await slow, ['evict/skipped/api-timeout']);
  now += API_SETTLE_MS;

  kube.server.dropWatches();
  await kube.down();
  const started = Date.now();
  t.same(await sweep(), ['evict/skipped/api-unreachable']);
  t.ok(Date.now() - started < 3000, 'an unreachable API server does not hold the sweep up');
  t.equal(a.pods().length, 3, 'the last known targets are kept while the API server is down');
  await kube.up();
  await until('the watches are back', () => kube.server.openWatches === 4);
  t.same(await sweep(), ['evict/skipped/api-unreachable'], 'back, but the last failure was just now: the verdicts are published again first');
  now += API_SETTLE_MS;
  t.same(await sweep(), ['evict/acted/threshold-reached'], 'and remedies work again once it is back');
  await a.engine.idle();
  const notes = kube.store.list(EVENT).map((e) => String(e.note));
  t.notOk(
    notes.some((n) => /\[skipped: api-(unreachable|timeout)\]$/.test(n)),
    'an unreachable or silent API server is no Event (a thousand nodes would write one each once it is back)',
  );
  t.ok(
    notes.some((n) => /\[skipped: forbidden\]$/.test(n)),
    'a refusal is',
  );
});
