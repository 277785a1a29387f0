// A cluster in one process: N simulated nodes, each a real RemedyEngine (its own gate, state,
// verdict Lease, node condition and Events) with its own KubeClient, against one fake API
// server (test/support/fake-kube: real HTTPS, the real @kubernetes/client-node). One fake
// clock drives every engine, so an hour of sweeps passes in seconds; each node's probe results
// come from the scenario, per (node, pod, time). Node i sweeps at offset i × interval / N in
// each interval, one node at a time, as sweeps spread over a real cluster (the daemon's jitter),
// and its API calls (the background writes too) finish before the next node sweeps.
//
// What is shared, to keep 1,000 nodes in one process: one target watcher (a real list + watch
// against the fake, as every node's own would be) feeds every engine. So the requests counted
// are the remedy engines' own: the watches every node keeps anyway are not in the figures.
import { performance } from 'node:perf_hooks';
import { KubeClient } from '../../src/kube/client.js';
import { resolveKubeConnection } from '../../src/kube/connection.js';
import { KubeTargetWatcher } from '../../src/kube/targets.js';
import type { KubeApi, PodInfo } from '../../src/kube/types.js';
import { loadConfig } from '../../src/config/load.js';
import type { RemedyClock } from '../../src/remedy/clock.js';
import type { RemedyDecision } from '../../src/remedy/decision.js';
import { RemedyEngine } from '../../src/remedy/engine.js';
import { remedySettings, type RemedySettings } from '../../src/remedy/settings.js';
import { LOCAL_REASONS, type ProbeStatus, type SweepSummary } from '../../src/remedy/sweep-summary.js';
import { EVENT, NODE, POD, startFakeKube, type FakeKube, type KubeObject, type RequestRecord } from './fake-kube/index.js';

/** One fake clock for every engine: now() moves only when the simulation says so. */
export class FakeClock implements RemedyClock {
  #now: number;
  readonly #start: number;
  #sleepers: { at: number; wake: () => void }[] = [];

  constructor(start: number) {
    this.#now = start;
    this.#start = start;
  }

  readonly now = (): number => this.#now;
  readonly monotonic = (): number => this.#now - this.#start;
  readonly sleep = (ms: number, signal: AbortSignal): Promise<void> =>
    new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      const entry = { at: this.#now + ms, wake: () => done() };
      const done = (): void => {
        signal.removeEventListener('abort', done);
        this.#sleepers = this.#sleepers.filter((s) => s !== entry);
        resolve();
      };
      signal.addEventListener('abort', done, { once: true });
      this.#sleepers.push(entry);
    });

  /** Moves time to `t` and wakes every sleeper due by then (and lets them run until they wait again). */
  async advanceTo(t: number): Promise<void> {
    if (t < this.#now) throw new Error(`the clock does not go back (${t} < ${this.#now})`);
    this.#now = t;
    const due = this.#sleepers.filter((s) => s.at <= t);
    if (due.length === 0) return;
    for (const s of due) s.wake();
    for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
  }
}

export interface SimNode {
  name: string;
  index: number;
  zone: string;
}

export type SimProbe = ProbeStatus | { status: ProbeStatus; reasons: string[] };

export interface SimContext {
  kube: FakeKube;
  clock: FakeClock;
  nodes: readonly SimNode[];
  /** The CoreDNS pods at the start, by name (pod A is [0]). */
  initialPods: readonly PodInfo[];
  /** The zone of the node a pod runs on. */
  zoneOfPod(pod: PodInfo): string | undefined;
  /** Simulated ms since the start. */
  elapsed(): number;
}

export interface Scenario {
  name: string;
  /** The outcome the scenario must show (printed beside the figures). */
  expect: string;
  nodes?: number;
  /** Zones the nodes are spread over, round-robin. Default zone-a, zone-b, zone-c. */
  zones?: readonly string[];
  /** CoreDNS replicas; pod i starts on a node of zone i (mod zones). Default 3. */
  replicas?: number;
  /** A PodDisruptionBudget over CoreDNS. */
  pdb?: { minAvailable?: number | string; maxUnavailable?: number | string };
  durationMs: number;
  /** Over the shipped defaults (remedy.mode enforce). */
  settings?: Partial<RemedySettings>;
  /** What node `n` sees from its host when it probes `pod` at `t` ms since the start. */
  probe(n: SimNode, pod: PodInfo, t: number, sim: SimContext): SimProbe;
  /** Called before each interval's sweeps (faults, API outages, OOM kills). */
  beforeInterval?(t: number, sim: SimContext): Promise<void> | void;
}

export interface SimAction {
  /** Simulated ms since the start. */
  at: number;
  node: string;
  action: string;
  target: string;
}

export interface SimResult {
  name: string;
  expect: string;
  nodes: number;
  simulatedMs: number;
  wallMs: number;
  /** Node sweeps run (nodes × intervals) and how many of them came back (onSweep resolved). */
  sweeps: number;
  sweepsDone: number;
  /** The longest one onSweep took in real time (ms). */
  slowestSweepMs: number;
  actions: SimAction[];
  evictions: number;
  deploymentPatches: number;
  /** The engines' API requests by verb (the shared target watcher's are not counted). */
  requests: Record<string, number>;
  /** Writes (create, update, patch) by resource. */
  writes: Record<string, number>;
  /** Every decision by "action/result/reason", over all nodes. */
  decisions: Record<string, number>;
  /** Events written, by reason. */
  events: Record<string, number>;
  /** The fewest Ready CoreDNS pods seen at the end of any interval. */
  minReady: number;
  /** The most engines completing an action (holding the remedy Lease for it) at once. */
  maxActing: number;
  /** Condition reasons on the nodes' ClusterDNSReachable at the end, by reason. */
  conditions: Record<string, number>;
  /** The engines' requests in each simulated interval. */
  requestsPerInterval: number[];
  /** The first interval's requests (every node's start: zone label, node condition, verdict Lease) by verb. */
  startRequests: Record<string, number>;
  /** Requests after the first interval, by verb, and their writes by resource. */
  laterRequests: Record<string, number>;
  laterWrites: Record<string, number>;
  settings: RemedySettings;
  intervalMs: number;
}

export interface SimOptions {
  /** Default: the configuration default (10 s). */
  intervalMs?: number;
  /** Progress lines (e.g. process.stderr.write). */
  progress?: (line: string) => void;
}

const COREDNS = { 'k8s-app': 'kube-dns' };

/** The API calls under way, over all nodes. */
interface InFlight {
  n: number;
}

/** `api` with every call counted in `flight` while it is under way. */
function counted(api: KubeClient, flight: InFlight): KubeApi {
  return new Proxy(api, {
    get(target, prop) {
      const v: unknown = Reflect.get(target, prop, target);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]): unknown => {
        const r: unknown = (v as (...a: unknown[]) => unknown).apply(target, args);
        if (r instanceof Promise) {
          flight.n++;
          // Only the count: the caller handles r itself.
          void r.finally(() => flight.n--).catch(() => undefined);
        }
        return r;
      };
    },
  });
}

/** Turns the event loop until no API call is under way: a node's sweep and its writes are done. */
async function quiesce(flight: InFlight): Promise<void> {
  do {
    for (let i = 0; i < 2; i++) await new Promise((r) => setImmediate(r));
  } while (flight.n > 0);
}
const count = (m: Record<string, number>, k: string, by = 1): void => {
  m[k] = (m[k] ?? 0) + by;
};
const isReady = (p: KubeObject): boolean =>
  ((p.status?.conditions ?? []) as { type: string; status: string }[]).some((c) => c.type === 'Ready' && c.status === 'True');

/** Runs one scenario on a fresh fake API server and returns its figures. */
export async function simulate(s: Scenario, o: SimOptions = {}): Promise<SimResult> {
  const wall = performance.now();
  const defaults = loadConfig({ file: false, env: {} });
  const intervalMs = o.intervalMs ?? defaults.interval;
  const settings: RemedySettings = { ...remedySettings(defaults), mode: 'enforce', ...s.settings };
  const zones = s.zones ?? ['zone-a', 'zone-b', 'zone-c'];
  const n = s.nodes ?? 1000;
  const replicas = s.replicas ?? 3;
  const nodes: SimNode[] = Array.from({ length: n }, (_, i) => ({ name: `node-${String(i).padStart(4, '0')}`, index: i, zone: zones[i % zones.length]! }));
  const nodeIps = Object.fromEntries(nodes.map((x) => [x.name, `10.${16 + Math.floor(x.index / 65536)}.${Math.floor(x.index / 256) % 256}.${x.index % 256}`]));
  const kube = await startFakeKube({
    podReadyDelayMs: 20,
    podTerminationMs: 20,
    seed: {
      nodes: nodeIps,
      replicas,
      // Pod i on the first node of zone i: a zone partition has a pod on each side.
      podNodes: Array.from({ length: replicas }, (_, i) => nodes[i % Math.min(zones.length, n)]!.name),
      ...(s.pdb ? { pdb: s.pdb } : {}),
    },
  });
  try {
    for (const x of nodes) {
      const node = kube.store.mustGet(NODE, undefined, x.name);
      kube.store.update(NODE, { ...node, metadata: { ...node.metadata, labels: { ...(node.metadata.labels ?? {}), 'topology.kubernetes.io/zone': x.zone } } });
    }
    const start = Math.ceil(Date.now() / 1000) * 1000;
    const clock = new FakeClock(start);
    // Every engine authenticates as itself (one token per node); the watcher as the simulation.
    const watcherClient = new KubeClient(resolveKubeConnection({ kubeconfig: await kube.kubeconfig({ user: 'simulation' }) }), {
      reportingInstance: 'simulation',
    });
    const watcher = new KubeTargetWatcher({
      client: watcherClient,
      dnsService: { namespace: 'kube-system', name: 'kube-dns' },
      nodeName: nodes[0]!.name,
      backoff: { initialMs: 20, maxMs: 200 },
    });
    watcher.start();
    if (!(await watcher.whenSynced(10_000))) throw new Error('the simulation: the target watches did not sync');
    const decisions: Record<string, number> = {};
    const actions: SimAction[] = [];
    const engines: RemedyEngine[] = [];
    const clients: KubeClient[] = [];
    const flight: InFlight = { n: 0 };
    for (const x of nodes) {
      // Tokens are cheap; a kubeconfig file per node is not needed: one user per node via one file each would be 1,000 files.
      const client = new KubeClient(
        resolveKubeConnection({ kubeconfig: await kube.kubeconfig({ user: `system:node-daemon:${x.name}`, fileName: `kubeconfig-${x.name}.yaml` }) }),
        { reportingInstance: x.name, requestTimeoutMs: 5000 },
      );
      clients.push(client);
      engines.push(
        new RemedyEngine({
          api: counted(client, flight),
          settings,
          nodeName: x.name,
          targets: () => watcher.current(),
          clock,
          onDecision: (d: RemedyDecision) => {
            count(decisions, `${d.action}/${d.result}/${d.reason}`);
            if (d.result === 'acted') actions.push({ at: clock.monotonic(), node: x.name, action: d.action, target: d.target });
          },
        }),
      );
    }
    const zoneOfNode = new Map(nodes.map((x) => [x.name, x.zone]));
    const ctx: SimContext = {
      kube,
      clock,
      nodes,
      initialPods: [...watcher.current().corednsPods].sort((a, b) => a.name.localeCompare(b.name)),
      zoneOfPod: (p) => (p.nodeName ? zoneOfNode.get(p.nodeName) : undefined),
      elapsed: () => clock.monotonic(),
    };
    const firstRequest = kube.server.requests.length;
    const running = (): PodInfo[] => watcher.current().corednsPods.filter((p) => p.phase === 'Running' && !p.terminating && p.ips.length > 0);
    const storeView = (): string =>
      kube.store
        .list(POD, { namespace: 'kube-system' })
        .filter((p) => p.metadata.labels?.['k8s-app'] === COREDNS['k8s-app'])
        .map((p) => `${p.metadata.uid}:${isReady(p)}:${!!p.metadata.deletionTimestamp}`)
        .sort()
        .join(',');
    const watchView = (): string =>
      watcher
        .current()
        .corednsPods.map((p) => `${p.uid}:${p.ready}:${p.terminating}`)
        .sort()
        .join(',');
    const summaryOf = (x: SimNode, t: number): SweepSummary => {
      const pods = running().map((p) => {
        const r = s.probe(x, p, t, ctx);
        const { status, reasons } = typeof r === 'string' ? { status: r, reasons: r === 'ok' ? [] : ['timeout'] } : r;
        const localOnly = status !== 'ok' && reasons.length > 0 && reasons.every((why) => LOCAL_REASONS.has(why));
        return { namespace: p.namespace, name: p.name, uid: p.uid, status, reasons, ...(localOnly ? { localOnly: true } : {}) };
      });
      // The Service answers from this node when any pod behind it does.
      const service = pods.some((p) => p.status !== 'failed') ? 'ok' : 'failed';
      return { at: new Date(clock.now()), pods, service: { status: service, reasons: service === 'ok' ? [] : ['timeout'] } };
    };

    const intervals = Math.ceil(s.durationMs / intervalMs);
    let afterStart = firstRequest;
    let sweeps = 0;
    let sweepsDone = 0;
    let slowest = 0;
    let minReady = Number.POSITIVE_INFINITY;
    let maxActing = 0;
    const acted = new Set<RemedyEngine>();
    const requestsPerInterval: number[] = [];
    for (let k = 0; k < intervals; k++) {
      const t0 = k * intervalMs;
      const before = kube.server.requests.length;
      await clock.advanceTo(start + t0);
      await s.beforeInterval?.(t0, ctx);
      for (const x of nodes) {
        const t = t0 + Math.floor((x.index * intervalMs) / n);
        await clock.advanceTo(start + t);
        sweeps++;
        const began = performance.now();
        const engine = engines[x.index]!;
        const out = await engine.onSweep(summaryOf(x, t));
        slowest = Math.max(slowest, performance.now() - began);
        if (out.some((d) => d.result === 'acted')) acted.add(engine);
        if (acted.size > 0) maxActing = Math.max(maxActing, [...acted].filter((e) => e.status().acting !== undefined).length);
        // The API answers well within the spacing of two nodes' sweeps (10 ms at 1,000 nodes).
        await quiesce(flight);
        sweepsDone++;
      }
      // Let the fake controllers (pod replacement, rollouts) finish and the watch catch up before the next interval.
      await kube.cluster.settle();
      for (let i = 0; i < 200 && watchView() !== storeView() && kube.server.listening; i++) await new Promise((r) => setTimeout(r, 10));
      minReady = Math.min(
        minReady,
        kube.store
          .list(POD, { namespace: 'kube-system' })
          .filter((p) => p.metadata.labels?.['k8s-app'] === 'kube-dns' && isReady(p) && !p.metadata.deletionTimestamp).length,
      );
      requestsPerInterval.push(kube.server.requests.slice(before).filter((r) => r.user !== 'simulation').length);
      if (k === 0) afterStart = kube.server.requests.length;
      if (o.progress && (k + 1) % 60 === 0)
        o.progress(`  ${s.name}: ${Math.round(((k + 1) * intervalMs) / 60_000)} simulated min, ${Math.round(performance.now() - wall)} ms\n`);
    }
    await clock.advanceTo(start + intervals * intervalMs);
    // Stop: background waits end at once (their sleeps are aborted), pending writes finish.
    await Promise.all(engines.map((e) => e.stop()));
    await watcher.stop();
    for (const c of [...clients, watcherClient]) c.close();

    const mine = (r: RequestRecord): boolean => r.user !== 'simulation';
    const reqs = kube.server.requests.slice(firstRequest).filter(mine);
    const tally = (list: readonly RequestRecord[]): { requests: Record<string, number>; writes: Record<string, number> } => {
      const requests: Record<string, number> = {};
      const writes: Record<string, number> = {};
      for (const r of list) {
        count(requests, r.verb);
        if (['create', 'update', 'patch'].includes(r.verb)) count(writes, `${r.resource}${r.subresource ? `/${r.subresource}` : ''}`);
      }
      return { requests, writes };
    };
    const { requests, writes } = tally(reqs);
    const later = tally(kube.server.requests.slice(afterStart).filter(mine));
    const events: Record<string, number> = {};
    for (const e of kube.store.list(EVENT)) count(events, String(e.reason));
    const conditions: Record<string, number> = {};
    for (const node of kube.store.list(NODE)) {
      const c = ((node.status?.conditions ?? []) as { type: string; reason?: string }[]).find((x) => x.type === 'ClusterDNSReachable');
      if (c) count(conditions, String(c.reason));
    }
    return {
      name: s.name,
      expect: s.expect,
      nodes: n,
      simulatedMs: intervals * intervalMs,
      wallMs: Math.round(performance.now() - wall),
      sweeps,
      sweepsDone,
      slowestSweepMs: Math.round(slowest),
      actions,
      evictions: reqs.filter((r) => r.subresource === 'eviction' && r.status < 300).length,
      deploymentPatches: reqs.filter((r) => r.resource === 'deployments' && r.verb === 'patch' && r.status < 300).length,
      requests,
      writes,
      decisions,
      events,
      minReady: minReady === Number.POSITIVE_INFINITY ? 0 : minReady,
      maxActing,
      conditions,
      requestsPerInterval,
      startRequests: tally(kube.server.requests.slice(firstRequest, afterStart).filter(mine)).requests,
      laterRequests: later.requests,
      laterWrites: later.writes,
      settings,
      intervalMs,
    };
  } finally {
    await kube.close();
  }
}
