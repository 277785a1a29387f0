// A node's Kubernetes side against the fake API server, for remedy tests:
// the real client with the node's own credentials, the target watcher, and a
// RemedyEngine whose decisions and log lines are collected. Sweeps are
// summaries built from the watched CoreDNS pods (which pod answers from the
// host and which does not), as the daemon builds them from real probes.
import type { Test } from 'tap';
import { KubeClient } from '../../../src/kube/client.js';
import { resolveKubeConnection } from '../../../src/kube/connection.js';
import { KubeTargetWatcher } from '../../../src/kube/targets.js';
import type { PodInfo } from '../../../src/kube/types.js';
import { createLogger } from '../../../src/log.js';
import type { RemedyDecision } from '../../../src/remedy/decision.js';
import { RemedyEngine } from '../../../src/remedy/engine.js';
import type { RemedySettings } from '../../../src/remedy/settings.js';
import type { ProbeStatus, SweepSummary } from '../../../src/remedy/sweep-summary.js';
import type { FakeKube, KubeconfigOptions } from './index.js';

export const TEST_SETTINGS: RemedySettings = {
  mode: 'enforce',
  failedSweeps: 3,
  minReadyPods: 1,
  cooldownMs: 600_000,
  maxActionsPerHour: 10,
  readyTimeoutMs: 5_000,
  lease: { namespace: 'kube-system', name: 'coredns-healthd-remedy', durationMs: 15_000 },
  memory: { factor: 2, cap: '1Gi' },
  allowDelete: false,
  // One node acts alone here (a one-node cluster, allowed explicitly); quorum tests set their own.
  quorum: { namespace: 'coredns-healthd', minNodes: 1, fraction: 0.5, windowMs: 900_000, refreshMs: 300_000, maxFailingPods: 2 },
  conditionHeartbeatMs: 3_600_000,
  apiSettleMs: 30_000,
};

export interface NodeSide {
  node: string;
  client: KubeClient;
  watcher: KubeTargetWatcher;
  engine: RemedyEngine;
  decisions: RemedyDecision[];
  logs: Record<string, unknown>[];
  /** A sweep summary: each CoreDNS pod's host status by pod (default ok), and the Service's. */
  summary(status?: (pod: PodInfo, index: number) => ProbeStatus, service?: ProbeStatus): SweepSummary;
  /** The running (probeable) CoreDNS pods, by name. */
  pods(): PodInfo[];
}

export interface NodeSideOptions {
  node?: string;
  settings?: Partial<RemedySettings>;
  kubeconfig?: KubeconfigOptions;
  nodeCondition?: boolean;
  requestTimeoutMs?: number;
  /** The engine's wall clock (default the real one). */
  now?: () => number;
}

export async function nodeSide(t: Test, kube: FakeKube, o: NodeSideOptions = {}): Promise<NodeSide> {
  const node = o.node ?? 'node-a';
  const client = new KubeClient(resolveKubeConnection({ kubeconfig: await kube.kubeconfig({ user: `system:node-daemon:${node}`, ...o.kubeconfig }) }), {
    reportingInstance: node,
    requestTimeoutMs: o.requestTimeoutMs ?? 1000,
  });
  const logs: Record<string, unknown>[] = [];
  const logger = createLogger({ level: 'debug', stream: { write: (l: string) => logs.push(JSON.parse(l) as Record<string, unknown>) }, fields: { node } });
  const watcher = new KubeTargetWatcher({
    client,
    dnsService: { namespace: 'kube-system', name: 'kube-dns' },
    nodeName: node,
    logger,
    backoff: { initialMs: 20, maxMs: 200 },
  });
  watcher.start();
  t.teardown(() => watcher.stop());
  if (!(await watcher.whenSynced(5000))) throw new Error(`${node}: the target watches did not sync`);
  const decisions: RemedyDecision[] = [];
  const engine = new RemedyEngine({
    api: client,
    settings: { ...TEST_SETTINGS, ...o.settings },
    nodeName: node,
    targets: () => watcher.current(),
    logger,
    onDecision: (d) => decisions.push(d),
    pollMs: 20,
    ...(o.nodeCondition !== undefined ? { nodeCondition: o.nodeCondition } : {}),
    ...(o.now ? { now: o.now } : {}),
  });
  t.teardown(() => engine.stop());
  const pods = (): PodInfo[] => watcher.current().corednsPods.filter((p) => p.phase === 'Running' && !p.terminating && p.ips.length > 0);
  return {
    node,
    client,
    watcher,
    engine,
    decisions,
    logs,
    pods,
    summary: (status = () => 'ok', service) => ({
      at: new Date(),
      pods: pods().map((p, i) => {
        const s = status(p, i);
        return { namespace: p.namespace, name: p.name, uid: p.uid, status: s, reasons: s === 'ok' ? [] : ['timeout'] };
      }),
      ...(service ? { service: { status: service, reasons: service === 'ok' ? [] : ['timeout'] } } : {}),
    }),
  };
}

export async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export const brief = (d: RemedyDecision): string => `${d.action}/${d.result}/${d.reason}`;
