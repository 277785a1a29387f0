// The daemon with Kubernetes, end to end: the fake API server (HTTPS, a
// token kubeconfig) holds a kube-dns Service and CoreDNS pods whose pod IPs
// and ClusterIP are addresses of network namespaces this test creates, each
// with a real DNS responder; an in-process Daemon probes them for real from
// the host vantage and its remedy engine acts through the API.
//
// Topology (this test's prefix): a bridge and 8 namespaces.
//   n0      the DNS Service's ClusterIP
//   n1..n3  the three CoreDNS pods the fake starts with
//   n4..n6  the pod IPs the fake gives replacement pods (an eviction, a rollout)
//   n7      the host vantage's nameserver (its resolv.conf; an upstream server)
// Discovery reads a procRoot of the test's own holding /proc/thread-self only:
// the daemon probes from the host vantage and from no other namespace of
// this machine, and only addresses inside these namespaces.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { runDaemon } from '../../src/cli/run.js';
import { ConfigHolder } from '../../src/config/reloader.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { createLogger } from '../../src/log.js';
import { Notifier } from '../../src/daemon/notify.js';
import { PREVIOUS_LIMITS_ANNOTATION } from '../../src/remedy/raise-memory.js';
import { DEPLOYMENT, EVENT, NODE, POD, startFakeKube, type FakeKube, type KubeObject } from '../support/fake-kube/index.js';
import { createTopology, randomPrefix, type NetnsNode, type Topology } from '../support/netns.js';
import { spawnResponder, type SpawnedResponder } from '../support/responder-process.js';
import { requireRoot } from '../support/root.js';
import { get, samples, waitFor } from '../support/http-probe.js';
import { run } from '../support/run.js';

const WHY = 'creates network namespaces and a bridge, and probes DNS responders inside them';
const KUBERNETES_IP = '10.96.0.1'; // default/kubernetes: the expected answer (never probed)
const NODE_NAME = 'node-a';
const NS = 'kube-system';

const decisions = (action: string, result: string, reason: string) =>
  `coredns_healthd_remedy_decisions_total{action="${action}",result="${result}",reason="${reason}"}`;

interface Status {
  kubernetes: { enabled: boolean; node?: string; connection: { source: string; detail?: string }; watches?: { synced: boolean; watches: unknown[] } };
  remedy: {
    active: boolean;
    mode: string;
    reason?: string;
    recentDecisions: { action: string; result: string; reason: string; target: string; message: string }[];
  };
  checks: { target: string; targetSource: string; state: string; last: { reason: string } }[];
}

let topo: Topology | undefined;

interface Scenario {
  kube: FakeKube;
  daemon: Daemon;
  port: number;
  service: NetnsNode;
  /** The host vantage's nameserver. */
  upstream: NetnsNode;
  /** The initial CoreDNS pods, in order, with their namespaces and responders. */
  pods: { name: string; uid: string; node: NetnsNode; dns: SpawnedResponder }[];
  /** Namespaces the replacement pods get, in order. */
  spares: NetnsNode[];
  serviceDns: SpawnedResponder;
  /** Another node's daemon on this host, against the same API server. */
  startDaemon(nodeName: string): Promise<{ daemon: Daemon; port: number; lines: string[] }>;
  /**
   * A responder started during a subtest. It stops after the daemons do: tap's teardowns run last
   * registered first, and one registered by the subtest (after the daemon's) would stop it while the
   * daemon still sweeps; the daemon then rightly evicts the silent pods, and the fake's replacement
   * pods find no spare address (a failure seen once under load).
   */
  respond(node: NetnsNode, addresses: string[]): Promise<SpawnedResponder>;
  metrics(): Promise<Map<string, number>>;
  status(): Promise<Status>;
  logs(): Record<string, unknown>[];
  sweepsAfter(n: number): Promise<void>;
}

interface ScenarioOptions {
  mode?: 'off' | 'dry-run' | 'enforce';
  /** Start responders on this many spare addresses (for replacement pods). */
  spares?: number;
  resources?: { limits?: Record<string, string>; requests?: Record<string, string> };
  remedy?: Record<string, unknown>;
}

async function scenario(t: Test, o: ScenarioOptions = {}): Promise<Scenario> {
  const [service, ...pool] = topo!.namespaces as [NetnsNode, ...NetnsNode[]];
  const upstream = pool.pop()!;
  const initial = pool.slice(0, 3);
  const spares = pool.slice(3, 3 + (o.spares ?? 0));
  const answer = (n: NetnsNode) => spawnResponder({ netns: n.name, listen: n.ipv4, port: 53, addresses: [KUBERNETES_IP], t });
  const [serviceDns, ...podDns] = await Promise.all([answer(service), ...initial.map(answer), ...spares.map(answer), answer(upstream)]);

  let nextSpare = 0;
  const kube = await startFakeKube({
    podReadyDelayMs: 100,
    podTerminationMs: 100,
    podIp: () => {
      const spare = spares[nextSpare++];
      if (!spare) throw new Error('the test ran out of spare pod addresses');
      return spare.ipv4;
    },
    seed: {
      replicas: 3,
      podIps: initial.map((n) => n.ipv4),
      podNodes: [NODE_NAME, 'node-b', 'node-b'],
      dnsClusterIPs: [service.ipv4],
      kubernetesClusterIPs: [KUBERNETES_IP],
      ...(o.resources ? { resources: o.resources } : {}),
    },
  });
  t.teardown(() => kube.close());
  const seeded = kube.store.list(POD, { namespace: NS });
  const pods = initial.map((node, i) => {
    const p = seeded.find((x) => x.status?.podIP === node.ipv4)!;
    return { name: p.metadata.name, uid: p.metadata.uid, node, dns: podDns[i]! };
  });

  // Registered before any daemon's stop, so it runs after all of them.
  const late: SpawnedResponder[] = [];
  t.teardown(() => Promise.all(late.map((r) => r.stop())));
  const respond = async (node: NetnsNode, addresses: string[]): Promise<SpawnedResponder> => {
    const r = await spawnResponder({ netns: node.name, listen: node.ipv4, port: 53, addresses });
    late.push(r);
    return r;
  };

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chk5-daemon-kube-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const procRoot = path.join(dir, 'proc');
  fs.mkdirSync(procRoot);
  fs.symlinkSync('/proc/thread-self', path.join(procRoot, 'thread-self'));
  const hostResolvConf = path.join(dir, 'host-resolv.conf');
  fs.writeFileSync(hostResolvConf, `nameserver ${upstream.ipv4}\n`);
  /** A daemon of a node (its own configuration file, kubeconfig identity and logs), started. */
  const startDaemon = async (nodeName: string): Promise<{ daemon: Daemon; port: number; lines: string[] }> => {
    const configFile = path.join(dir, `coredns-healthd-${nodeName}.json`);
    fs.writeFileSync(
      configFile,
      JSON.stringify({
        interval: '300ms',
        jitter: '0ms',
        probe: { timeout: '300ms', attempts: 1, maxQueriesPerSecond: 100_000, transports: ['udp'] },
        queries: [{ name: 'kubernetes.default.svc.cluster.local', type: 'A' }],
        hostResolvConf,
        discovery: { procRoot, docker: { enabled: false } },
        health: { failureThreshold: 2, successThreshold: 1, staleAfter: '5s' },
        http: { listen: '127.0.0.1:0' },
        log: { level: 'debug' },
        kubernetes: { kubeconfig: await kube.kubeconfig({ user: `system:serviceaccount:kube-system:coredns-healthd-${nodeName}` }), nodeName },
        // One daemon, one node: it may act alone (remedy.quorum.minNodes 1); quorum across nodes is remedy-quorum.test.ts.
        remedy: {
          mode: o.mode ?? 'enforce',
          failedSweeps: 2,
          readyTimeout: '5s',
          cooldown: '10m',
          lease: { duration: '5s' },
          quorum: { minNodes: 1 },
          ...o.remedy,
        },
      }),
    );
    const lines: string[] = [];
    const daemon = new Daemon({
      holder: new ConfigHolder({ file: configFile, env: {} }),
      log: createLogger({ level: 'debug', stream: { write: (l: string) => lines.push(l) } }),
      version: 'test',
      notifier: new Notifier({ env: {} }),
      kube: { env: {}, requestTimeoutMs: 3000, backoff: { initialMs: 50, maxMs: 300 }, pollMs: 50 },
    });
    t.teardown(() => daemon.stop('test over'));
    const { port } = await daemon.start();
    return { daemon, port, lines };
  };
  const { daemon, port, lines } = await startDaemon(NODE_NAME);
  const s: Scenario = {
    kube,
    daemon,
    port,
    service,
    upstream,
    pods,
    spares,
    serviceDns,
    startDaemon,
    respond,
    metrics: async () => samples((await get(port, '/metrics')).body),
    status: async () => JSON.parse((await get(port, '/status')).body) as Status,
    logs: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
    sweepsAfter: async (n) => {
      const target = daemon.sweeps + n;
      await waitFor(`${n} more sweeps`, () => daemon.sweeps >= target);
    },
  };
  // Synced, and every CoreDNS endpoint probed and healthy from the host.
  await waitFor('the watches to sync and the first healthy sweep with the CoreDNS targets', async () => {
    const st = await s.status();
    return (
      st.kubernetes.watches?.synced === true &&
      st.checks.filter((c) => c.targetSource === 'coredns-pod' && c.state === 'healthy').length === 3 &&
      (await get(port, '/healthz')).status === 200
    );
  });
  return s;
}

const podsNow = (kube: FakeKube): KubeObject[] => kube.store.list(POD, { namespace: NS });
const events = (kube: FakeKube, reason: string): KubeObject[] => kube.store.list(EVENT).filter((e) => e.reason === reason);
const evictions = (kube: FakeKube) => kube.server.requests.filter((r) => r.subresource === 'eviction');

t.test('end to end through the daemon, real probes in real network namespaces', async (t) => {
  if (!requireRoot(t, WHY)) return;
  topo = await createTopology({ count: 8, prefix: randomPrefix('chk5'), ipv6: false, t });

  await t.test('the daemon probes the watched CoreDNS pods and Service, with the expected answer from the API', async (t) => {
    const s = await scenario(t, { mode: 'off' });
    const st = await s.status();
    t.match(st.kubernetes, { enabled: true, node: NODE_NAME, connection: { source: 'kubeconfig' }, watches: { synced: true } });
    t.match(st.remedy, { active: true, mode: 'off', recentDecisions: [] });
    const targets = st.checks.map((c) => `${c.targetSource} ${c.target} ${c.state}`).sort();
    t.same(
      targets,
      [
        ...s.pods.map((p) => `coredns-pod ${p.node.ipv4}:53 healthy`),
        `dns-service ${s.service.ipv4}:53 healthy`,
        `resolv.conf ${s.upstream.ipv4}:53 healthy`,
      ].sort(),
      'the three pods, the ClusterIP and the host nameserver',
    );
    // A wrong answer fails: the expected answer came from default/kubernetes.
    await s.pods[0]!.dns.stop();
    s.pods[0]!.dns = await s.respond(s.pods[0]!.node, ['10.96.0.99']);
    await waitFor('the wrong answer to be seen', async () =>
      (await s.status()).checks.some((c) => c.target === `${s.pods[0]!.node.ipv4}:53` && c.last.reason === 'wrong-answer'),
    );
    t.pass('a pod answering another address than the default/kubernetes ClusterIP fails with wrong-answer');
    await s.sweepsAfter(3);
    t.equal(evictions(s.kube).length, 0, 'remedy.mode off: no action');
    t.same((await s.status()).remedy.recentDecisions, [], 'and no decision');
  });

  await t.test('(a) one CoreDNS pod stops answering: after failedSweeps sweeps exactly that pod is evicted', async (t) => {
    const s = await scenario(t, { spares: 1 });
    const [keep1, victim, keep2] = s.pods as [Scenario['pods'][0], Scenario['pods'][0], Scenario['pods'][0]];
    await victim.dns.stop();
    await waitFor('the eviction', () => evictions(s.kube).length > 0);
    t.same(
      evictions(s.kube).map((r) => `${r.name} ${r.status}`),
      [`${victim.name} 201`],
      'one eviction, of the pod that stopped answering',
    );
    await waitFor('the replacement pod to be probed and healthy', async () => {
      const st = await s.status();
      return st.checks.some((c) => c.target === `${s.spares[0]!.ipv4}:53` && c.state === 'healthy') && (await get(s.port, '/healthz')).status === 200;
    });
    const uids = podsNow(s.kube).map((p) => p.metadata.uid);
    t.notOk(uids.includes(victim.uid), 'the victim is gone');
    t.ok(uids.includes(keep1.uid) && uids.includes(keep2.uid), 'the others are untouched');
    t.equal(uids.length, 3);
    t.equal(podsNow(s.kube).filter((p) => p.status?.podIP === s.spares[0]!.ipv4).length, 1, 'the replacement has the spare address');
    await s.sweepsAfter(3);
    t.equal(evictions(s.kube).length, 1, 'nothing else is evicted afterwards');

    const m = await s.metrics();
    t.equal(m.get(decisions('evict', 'acted', 'threshold-reached')), 1);
    t.ok((m.get(decisions('evict', 'skipped', 'below-threshold')) ?? 0) >= 1, 'the first failed sweep was below the threshold');
    const st = await s.status();
    t.match(
      st.remedy.recentDecisions.filter((d) => d.result === 'acted'),
      [{ action: 'evict', reason: 'threshold-reached', target: `pod ${NS}/${victim.name}`, message: /failed from the host in 2 consecutive sweeps/ }],
    );
    t.equal(st.remedy.recentDecisions.filter((d) => d.result === 'acted').length, 1, '/status shows the one eviction');
    t.match(events(s.kube, 'EvictedUnhealthyCoreDNS'), [
      { regarding: { kind: 'Pod', name: victim.name }, reportingController: String, reportingInstance: NODE_NAME },
    ]);
    t.match(
      s.logs().find((l) => l.reason === 'threshold-reached'),
      { level: 'warn', component: 'kubernetes', action: 'evict', result: 'acted', target: `pod ${NS}/${victim.name}` },
    );
  });

  await t.test('(b) every CoreDNS endpoint fails from this node: no eviction, a node Event, ClusterDNSReachable=False', async (t) => {
    const s = await scenario(t);
    await Promise.all([s.serviceDns.stop(), ...s.pods.map((p) => p.dns.stop())]);
    await waitFor('the node finding', () => events(s.kube, 'ClusterDNSUnreachableFromNode').length > 0);
    const condition = () =>
      (s.kube.store.get(NODE, undefined, NODE_NAME)!.status.conditions as { type: string; status: string; reason: string }[]).find(
        (c) => c.type === 'ClusterDNSReachable',
      );
    await waitFor('the node condition', () => condition()?.status === 'False');
    t.match(condition(), { status: 'False', reason: 'AllEndpointsFailed' });
    t.match(events(s.kube, 'ClusterDNSUnreachableFromNode')[0], { type: 'Warning', regarding: { kind: 'Node', name: NODE_NAME } });
    await s.sweepsAfter(4);
    t.equal(evictions(s.kube).length, 0, 'nothing evicted');
    t.same(
      podsNow(s.kube)
        .map((p) => p.metadata.uid)
        .sort(),
      s.pods.map((p) => p.uid).sort(),
      'every pod is still there',
    );
    const m = await s.metrics();
    t.ok((m.get(decisions('node-finding', 'reported', 'all-endpoints-failed')) ?? 0) >= 1);
    t.equal(m.get(decisions('evict', 'acted', 'threshold-reached')), 0);
    const healthz = await get(s.port, '/healthz');
    t.equal(healthz.status, 503, 'and /healthz says so from the probes');
    const recent = (await s.status()).remedy.recentDecisions;
    t.ok(
      recent.some((d) => d.action === 'node-finding' && d.result === 'reported' && d.reason === 'all-endpoints-failed'),
      '/status shows the node finding',
    );
    t.notOk(
      recent.some((d) => d.result === 'acted'),
      'and no action',
    );

    // DNS answers again: the condition turns True. All at once as the daemon sees it: its sweeps
    // (every 300 ms) would otherwise see the responders start one by one (seconds apart on a busy
    // machine) and rightly count a late pod as failing while others answer, and evict it after two
    // sweeps. So this test's bridge to every namespace is down while they start, then up again.
    await run('ip', ['link', 'set', topo!.bridge.name, 'down']);
    const again = await Promise.all([s.service, ...s.pods.map((p) => p.node)].map((n) => s.respond(n, [KUBERNETES_IP])));
    await run('ip', ['link', 'set', topo!.bridge.name, 'up']);
    t.equal(again.length, 4);
    await waitFor('the node condition to turn True', () => condition()?.status === 'True');
    t.equal(evictions(s.kube).length, 0);
  });

  await t.test('(c) OOMKilled: the Deployment memory limit 170Mi -> 340Mi, the CPU limit and requests kept', async (t) => {
    const resources = { limits: { cpu: '500m', memory: '170Mi' }, requests: { cpu: '100m', memory: '70Mi' } };
    const s = await scenario(t, { spares: 3, resources });
    s.kube.cluster.setLastTermination(NS, s.pods[2]!.name, 'coredns', 'OOMKilled');
    const container = () =>
      (s.kube.store.get(DEPLOYMENT, NS, 'coredns')!.spec.template.spec.containers as { name: string; resources: unknown }[]).find((c) => c.name === 'coredns')!;
    await waitFor('the raised limit', () => (container().resources as { limits: { memory: string } }).limits.memory !== '170Mi');
    t.same(container().resources, { limits: { cpu: '500m', memory: '340Mi' }, requests: { cpu: '100m', memory: '70Mi' } });
    const dep = s.kube.store.get(DEPLOYMENT, NS, 'coredns')!;
    t.match(dep.metadata.annotations?.[PREVIOUS_LIMITS_ANNOTATION], /170Mi/, 'the previous limit is recorded in an annotation');
    // The rollout replaces every pod; the daemon follows the new pods and finds them healthy.
    await waitFor(
      'the rollout and the new pods probed healthy',
      async () => {
        const st = await s.status();
        return (
          s.spares.every((n) => st.checks.some((c) => c.target === `${n.ipv4}:53` && c.state === 'healthy')) && (await get(s.port, '/healthz')).status === 200
        );
      },
      30_000,
    );
    const m = await s.metrics();
    t.equal(m.get(decisions('raise-memory', 'acted', 'oom-killed')), 1);
    t.equal(m.get('coredns_healthd_coredns_oom_kills_total'), 1);
    t.match(events(s.kube, 'RaisedMemoryLimit'), [{ regarding: { kind: 'Deployment', name: 'coredns' } }]);
    t.equal(evictions(s.kube).length, 0);
    await s.sweepsAfter(3);
    t.equal(s.kube.store.get(DEPLOYMENT, NS, 'coredns')!.spec.template.spec.containers[0].resources.limits.memory, '340Mi', 'raised once');
  });

  await t.test('(d) API server down, 403, dropped watches: probing goes on, remedies are skipped with the reason', async (t) => {
    const s = await scenario(t, { spares: 1 });
    const victim = s.pods[1]!;
    const sweepsOf = (m: Map<string, number>) => m.get('coredns_healthd_sweeps_total{result="success"}') ?? 0;

    // Down: the victim stops answering while the API server is gone.
    await s.kube.down();
    await victim.dns.stop();
    await waitFor('a skipped eviction (API unreachable)', async () => ((await s.metrics()).get(decisions('evict', 'skipped', 'api-unreachable')) ?? 0) > 0);
    const before = sweepsOf(await s.metrics());
    await s.sweepsAfter(2);
    t.ok(sweepsOf(await s.metrics()) >= before + 2, 'sweeps go on while the API server is down');
    const down = await get(s.port, '/healthz');
    t.equal(down.status, 503);
    t.match(down.body, new RegExp(`${victim.node.ipv4.replace(/\./g, '\\.')}:53 udp .*: refused`), '/healthz answers from the probes');
    t.match((await s.status()).remedy.recentDecisions.at(-1), {
      action: 'evict',
      result: 'skipped',
      reason: 'api-unreachable',
      message: /Lease|verdicts cannot be read|no action: the API server failed/,
    });
    t.equal(evictions(s.kube).length, 0);

    // Back, but RBAC refuses the eviction (403), and every watch is dropped after a moment.
    const forbidden = s.kube.faults.add({
      match: { subresource: 'eviction' },
      status: 403,
      message: 'pods "x" is forbidden: User cannot create resource "pods/eviction"',
    });
    const dropped = s.kube.faults.add({ match: { verb: 'watch' }, dropWatchAfterMs: 200 });
    await s.kube.up();
    await waitFor('a skipped eviction (forbidden)', async () => ((await s.metrics()).get(decisions('evict', 'skipped', 'forbidden')) ?? 0) > 0);
    t.ok(forbidden.hits > 0, 'the eviction was tried');
    await waitFor('dropped watches', () => dropped.hits >= 3);
    const mid = sweepsOf(await s.metrics());
    await s.sweepsAfter(2);
    t.ok(sweepsOf(await s.metrics()) >= mid + 2, 'sweeps go on while watches are dropped');
    const afterDrops = await s.status();
    t.match(afterDrops, { kubernetes: { watches: { synced: true } } }, 'the targets stay known');
    t.ok(
      (afterDrops.kubernetes.watches!.watches as { watches: number }[]).some((w) => w.watches >= 3),
      '/status shows the watches being reopened',
    );
    t.ok(
      (await s.status()).remedy.recentDecisions.some((d) => d.reason === 'forbidden'),
      '/status shows the 403',
    );
    t.equal(podsNow(s.kube).filter((p) => p.metadata.uid === victim.uid).length, 1, 'the victim is still there');

    // Faults gone: the eviction goes through.
    forbidden.remove();
    dropped.remove();
    await waitFor('the eviction', () => evictions(s.kube).some((r) => r.status === 201));
    t.same(
      evictions(s.kube)
        .filter((r) => r.status === 201)
        .map((r) => r.name),
      [victim.name],
    );
  });

  await t.test('two daemons ("two nodes") see the same failure: exactly one evicts (the Lease)', async (t) => {
    const s = await scenario(t, { spares: 1 });
    const other = await s.startDaemon('node-b');
    await waitFor('the second daemon to probe the CoreDNS pods', async () => {
      const st = JSON.parse((await get(other.port, '/status')).body) as Status;
      return st.kubernetes.watches?.synced === true && st.checks.filter((c) => c.targetSource === 'coredns-pod' && c.state === 'healthy').length === 3;
    });
    const victim = s.pods[2]!;
    // The eviction takes a while, so both nodes reach the threshold while the first one holds the Lease.
    const slow = s.kube.faults.add({ match: { subresource: 'eviction' }, delayMs: 1500 });
    await victim.dns.stop();
    await waitFor('the eviction', () => evictions(s.kube).some((r) => r.status === 201));
    t.equal(slow.hits, 1);
    await waitFor('the replacement to be probed healthy by both', async () => {
      const both = await Promise.all([s.port, other.port].map(async (p) => JSON.parse((await get(p, '/status')).body) as Status));
      return both.every((st) => st.checks.some((c) => c.target === `${s.spares[0]!.ipv4}:53` && c.state === 'healthy'));
    });
    await s.sweepsAfter(3);
    t.same(
      evictions(s.kube).map((r) => `${r.name} ${r.status}`),
      [`${victim.name} 201`],
      'one eviction in the cluster',
    );
    const acted = await Promise.all(
      [s.port, other.port].map(async (p) => samples((await get(p, '/metrics')).body).get(decisions('evict', 'acted', 'threshold-reached')) ?? 0),
    );
    t.same([...acted].sort(), [0, 1], 'one daemon acted, the other did not');
    const others = await Promise.all([s.port, other.port].map(async (p) => (JSON.parse((await get(p, '/status')).body) as Status).remedy.recentDecisions));
    const loser = others[acted.indexOf(0)]!;
    t.ok(
      loser.some((d) => d.reason === 'lease-held'),
      `the other reached the threshold and found the Lease held: ${loser.map((d) => d.reason).join(', ')}`,
    );
    t.ok(
      loser.every((d) => d.result === 'skipped' && ['lease-held', 'cooldown', 'target-changed'].includes(d.reason)),
      'and did nothing else',
    );
    t.match(
      loser.find((d) => d.reason === 'lease-held'),
      { message: new RegExp(`^node ${[NODE_NAME, 'node-b'][acted.indexOf(1)]} holds the remedy Lease kube-system/coredns-healthd-remedy`) },
    );
  });

  await t.test('(e) dry-run: decides, says what it would do, changes nothing', async (t) => {
    const s = await scenario(t, { mode: 'dry-run' });
    const victim = s.pods[0]!;
    await victim.dns.stop();
    await waitFor('the would-evict decision', async () => ((await s.metrics()).get(decisions('evict', 'would-act', 'threshold-reached')) ?? 0) > 0);
    await s.sweepsAfter(3);
    t.equal(evictions(s.kube).length, 0, 'no eviction');
    t.equal(
      s.kube.server.requests.filter(
        (r) =>
          !['get', 'list', 'watch'].includes(r.verb) &&
          r.resource !== 'events' &&
          !(r.resource === 'nodes' && r.subresource === 'status') &&
          !(r.resource === 'leases' && r.namespace === 'coredns-healthd'),
      ).length,
      0,
      "nothing but Events, the node condition and this node's verdicts written",
    );
    t.same(
      podsNow(s.kube)
        .map((p) => p.metadata.uid)
        .sort(),
      s.pods.map((p) => p.uid).sort(),
    );
    const st = await s.status();
    t.match(st.remedy, { active: true, mode: 'dry-run' });
    const would = st.remedy.recentDecisions.filter((d) => d.result === 'would-act');
    t.same(
      st.remedy.recentDecisions.filter((d) => d.result !== 'would-act').map((d) => `${d.result}/${d.reason}`),
      st.remedy.recentDecisions.slice(1).map(() => 'skipped/cooldown'),
      'after it, the cooldown holds the dry-run too',
    );
    t.equal(would.length, 1);
    t.match(would[0], {
      action: 'evict',
      result: 'would-act',
      reason: 'threshold-reached',
      message: new RegExp(`^would evict pod ${NS}/${victim.name} \\(dry-run\\)`),
    });
    t.match(events(s.kube, 'WouldEvict'), [{ type: 'Normal', regarding: { kind: 'Pod', name: victim.name }, note: /^would evict pod/ }]);
    t.equal((await s.metrics()).get(decisions('evict', 'acted', 'threshold-reached')), 0);
  });
});

t.test('without a kubeconfig: probing only, /status says remedies are off and why', async (t) => {
  const dir = t.testdir({ 'host-resolv.conf': 'nameserver 127.0.0.1\n' });
  const config = path.join(dir, 'c.json');
  fs.writeFileSync(
    config,
    JSON.stringify({
      http: { listen: '127.0.0.1:0' },
      hostResolvConf: path.join(dir, 'host-resolv.conf'),
      discovery: { procRoot: dir, docker: { enabled: false } },
    }),
  );
  const daemon = new Daemon({
    holder: new ConfigHolder({ file: config, env: {} }),
    log: createLogger({ level: 'error', stream: { write: () => undefined } }),
    version: 'test',
    notifier: new Notifier({ env: {} }),
    kube: { env: {}, inClusterRoot: dir },
  });
  t.equal(daemon.kube.connected, false);
  const st = daemon.status() as unknown as Status;
  t.match(st.kubernetes, { enabled: true, connection: { source: 'none' } });
  t.match(st.remedy, {
    active: false,
    mode: 'off',
    reason: /no kubernetes.kubeconfig, no \$KUBECONFIG and no in-cluster service account/,
    recentDecisions: [],
  });
  await daemon.stop('test over');
});

t.test('an unusable kubeconfig fails the construction with a KubeConfigError naming the file', async (t) => {
  const dir = t.testdir({ kubeconfig: 'clusters: [' });
  const config = path.join(dir, 'c.json');
  fs.writeFileSync(config, JSON.stringify({ kubernetes: { kubeconfig: path.join(dir, 'kubeconfig') } }));
  t.throws(
    () =>
      new Daemon({
        holder: new ConfigHolder({ file: config, env: {} }),
        log: createLogger({ level: 'error', stream: { write: () => undefined } }),
        version: 'test',
        notifier: new Notifier({ env: {} }),
      }),
    {
      name: 'KubeConfigError',
      message: new RegExp(`^kubeconfig ${path.join(dir, 'kubeconfig').replace(/[/.]/g, '\\$&')}: `),
    },
  );
  // `coredns-healthd run` exits 2 with that message.
  const stderr: string[] = [];
  const code = await runDaemon(
    ['--config', config],
    { stdout: () => undefined, stderr: (x) => stderr.push(x) },
    { version: 'test', log: createLogger({ level: 'error', stream: { write: () => undefined } }) },
  );
  t.equal(code, 2);
  t.match(stderr.join(''), new RegExp(`^coredns-healthd: kubeconfig ${path.join(dir, 'kubeconfig').replace(/[/.]/g, '\\$&')}: `));
});
