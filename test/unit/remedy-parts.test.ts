// The small pure parts of remedies: raising a memory limit (factor, cap,
// style), the host-vantage sweep summary, the node condition it implies, the
// Event a decision becomes, the settings read from the configuration, and the quorum retry.
import t from 'tap';
import { loadConfig } from '../../src/config/load.js';
import type { RemedyDecision } from '../../src/remedy/decision.js';
import { quorumRetryMs } from '../../src/remedy/engine.js';
import { eventFor, eventReason } from '../../src/remedy/events.js';
import { ACTIONS_ANNOTATION, LAST_ACTION_ANNOTATION, MAX_HISTORY, parseActions, parseLastAction, withAction } from '../../src/remedy/lease.js';
import { conditionFromSweep } from '../../src/remedy/node-condition.js';
import { formatBytes, raisedLimit } from '../../src/remedy/quantity.js';
import { nodeNameOf, remedySettings } from '../../src/remedy/settings.js';
import { summarizeSweep } from '../../src/remedy/sweep-summary.js';
import type { KubeTargets } from '../../src/kube/types.js';
import type { SweepReport, SweepRow } from '../../src/model.js';
import { QUERY_DEFAULTS } from '../../src/probe/query-spec.js';

t.test('raised memory limits: × factor, in the same style, never past the cap', (t) => {
  t.match(raisedLimit('170Mi', 2, '1Gi'), { ok: true, from: '170Mi', to: '340Mi', capped: false });
  t.match(raisedLimit('512Mi', 2, '1Gi'), { ok: true, to: '1Gi', capped: true }, 'exactly the cap');
  t.match(raisedLimit('700Mi', 2, '1Gi'), { ok: true, to: '1Gi', toBytes: 2 ** 30, capped: true }, 'capped');
  t.match(raisedLimit('700Mi', 2, '1000Mi'), { ok: true, to: '1000Mi', capped: true }, 'the cap as written');
  t.match(raisedLimit('1Gi', 2, '1Gi'), { ok: false, reason: 'at-cap' });
  t.match(raisedLimit('2Gi', 2, '1Gi'), { ok: false, reason: 'at-cap' }, 'above the cap already: never lowered');
  t.match(raisedLimit('100M', 1.5, '1G'), { ok: true, to: '150M' }, 'decimal stays decimal');
  t.match(raisedLimit('170Mi', 1.25, '1Gi'), { ok: true, to: '213Mi' }, '212.5Mi rounded up to a whole Mi');
  t.match(raisedLimit('1.5Gi', 2, '4Gi'), { ok: true, to: '3Gi' });
  t.match(raisedLimit('178257920', 2, '1Gi'), { ok: true, to: '356515840' }, 'plain bytes stay bytes');
  t.match(raisedLimit('lots', 2, '1Gi'), { ok: false, reason: 'unparsable' });
  t.equal(formatBytes(340 * 2 ** 20, 'binary'), '340Mi');
  t.equal(formatBytes(2 ** 30 + 1, 'binary'), String(2 ** 30 + 1));
  t.equal(formatBytes(3e9, 'decimal'), '3G');
  t.end();
});

const targets: KubeTargets = {
  synced: true,
  corednsPods: [
    {
      namespace: 'kube-system',
      name: 'a',
      uid: 'ua',
      resourceVersion: '1',
      phase: 'Running',
      ready: true,
      terminating: false,
      ip: '10.0.0.1',
      ips: ['10.0.0.1', 'fd00::1'],
      labels: {},
      containers: [],
      dnsPolicy: 'ClusterFirst',
      hostNetwork: false,
    },
    {
      namespace: 'kube-system',
      name: 'b',
      uid: 'ub',
      resourceVersion: '1',
      phase: 'Running',
      ready: true,
      terminating: false,
      ip: '10.0.0.2',
      ips: ['10.0.0.2'],
      labels: {},
      containers: [],
      dnsPolicy: 'ClusterFirst',
      hostNetwork: false,
    },
  ],
  expectedAnswer: [],
  podsByUid: new Map(),
  nodePods: [],
};

function row(host: boolean, source: string, server: string, ok: boolean, reason = 'timeout'): SweepRow {
  return {
    vantage: { hostNetwork: host } as SweepRow['vantage'],
    target: { server, port: 53, source } as SweepRow['target'],
    transport: 'udp',
    query: { ...QUERY_DEFAULTS, name: 'x', validRcodes: [] },
    attempts: 1,
    result: { ok, reason: ok ? null : reason } as unknown as SweepRow['result'],
  };
}

t.test('the sweep summary: host rows only, grouped by pod over both families, and the Service', (t) => {
  const report: SweepReport = {
    startedAt: new Date('2024-05-01T00:00:00Z'),
    durationSeconds: 1,
    vantages: [],
    rows: [
      row(true, 'coredns-pod', '10.0.0.1', true),
      row(true, 'coredns-pod', 'fd00::1', false, 'refused'),
      row(true, 'coredns-pod', '10.0.0.2', false),
      row(true, 'coredns-pod', '10.0.0.2', false, 'servfail'),
      row(false, 'coredns-pod', '10.0.0.1', false),
      row(true, 'coredns-pod', '10.9.9.9', false),
      row(true, 'dns-service', '10.96.0.10', true),
      row(true, 'resolv.conf', '10.96.0.10', false),
    ],
  };
  const s = summarizeSweep(report, targets);
  t.same(s, {
    at: report.startedAt,
    pods: [
      { namespace: 'kube-system', name: 'a', uid: 'ua', status: 'partial', reasons: ['refused'] },
      { namespace: 'kube-system', name: 'b', uid: 'ub', status: 'failed', reasons: ['servfail', 'timeout'] },
    ],
    service: { status: 'ok', reasons: [] },
  });
  t.same(conditionFromSweep(s), { status: 'True', reason: 'ClusterDNSAnswers', message: 'the DNS Service and 1 of 2 CoreDNS pods answer from the host' });
  t.same(summarizeSweep({ ...report, rows: [] }, targets), { at: report.startedAt, pods: [] });

  // Failures for local reasons only (this node's firewall, no route) are marked: never evidence.
  const local = summarizeSweep(
    {
      ...report,
      rows: [
        row(true, 'coredns-pod', '10.0.0.1', false, 'blocked-locally'),
        row(true, 'coredns-pod', 'fd00::1', false, 'unreachable'),
        row(true, 'coredns-pod', '10.0.0.2', false, 'blocked-locally'),
        row(true, 'coredns-pod', '10.0.0.2', false, 'timeout'),
      ],
    },
    targets,
  );
  t.same(local.pods, [
    { namespace: 'kube-system', name: 'a', uid: 'ua', status: 'failed', reasons: ['blocked-locally', 'unreachable'], localOnly: true },
    { namespace: 'kube-system', name: 'b', uid: 'ub', status: 'failed', reasons: ['blocked-locally', 'timeout'] },
  ]);
  t.end();
});

t.test('the node condition a sweep implies', (t) => {
  const pod = (status: 'ok' | 'failed') => ({ namespace: 'ns', name: status, uid: status, status, reasons: status === 'ok' ? [] : ['timeout'] });
  t.match(conditionFromSweep({ at: new Date(), pods: [pod('failed')], service: { status: 'failed', reasons: ['timeout'] } }), {
    status: 'False',
    reason: 'AllEndpointsFailed',
    message: /\(timeout\)/,
  });
  t.match(conditionFromSweep({ at: new Date(), pods: [pod('ok')], service: { status: 'failed', reasons: ['refused'] } }), {
    status: 'False',
    reason: 'ServiceFailed',
    message: /1 of 1 CoreDNS pods do/,
  });
  t.match(conditionFromSweep({ at: new Date(), pods: [pod('ok'), pod('failed')] }), { status: 'True', message: '1 of 2 CoreDNS pods answer from the host' });
  t.match(conditionFromSweep({ at: new Date(), pods: [pod('failed')] }), { status: 'False', reason: 'AllEndpointsFailed' });
  t.equal(conditionFromSweep({ at: new Date(), pods: [] }), undefined, 'nothing probed, nothing to say');
  t.end();
});

t.test('a decision as an Event', (t) => {
  const base: RemedyDecision = {
    action: 'evict',
    result: 'acted',
    reason: 'threshold-reached',
    target: 'pod kube-system/a',
    message: 'evicted pod kube-system/a',
    at: '2024-05-01T00:00:00Z',
    pod: { namespace: 'kube-system', name: 'a', uid: 'u' },
  };
  t.same(eventFor(base), {
    type: 'Warning',
    reason: 'EvictedUnhealthyCoreDNS',
    action: 'Evict',
    note: 'evicted pod kube-system/a [acted: threshold-reached]',
    namespace: 'kube-system',
    regarding: { apiVersion: 'v1', kind: 'Pod', namespace: 'kube-system', name: 'a', uid: 'u' },
  });
  t.equal(eventReason({ ...base, result: 'would-act' }), 'WouldEvict');
  t.equal(eventReason({ ...base, result: 'skipped' }), 'EvictSkipped');
  const dep = { ...base, action: 'raise-memory' as const, pod: undefined, deployment: { namespace: 'kube-system', name: 'coredns' } };
  t.match(eventFor(dep), {
    reason: 'RaisedMemoryLimit',
    action: 'RaiseMemoryLimit',
    regarding: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'coredns' },
  });
  t.equal(eventReason({ ...dep, result: 'would-act' }), 'WouldRaiseMemoryLimit');
  const node = { ...base, action: 'node-finding' as const, result: 'reported' as const, pod: undefined, node: 'node-a' };
  t.match(eventFor(node), { type: 'Warning', reason: 'ClusterDNSUnreachableFromNode', namespace: 'default', regarding: { kind: 'Node', name: 'node-a' } });
  t.equal(eventFor({ ...base, pod: undefined }), undefined, 'nothing to be about');
  t.end();
});

t.test('the last action recorded on the Lease', (t) => {
  const lease = (text?: string) => ({
    namespace: 'n',
    name: 'l',
    resourceVersion: '1',
    annotations: (text === undefined ? {} : { [LAST_ACTION_ANNOTATION]: text }) as Record<string, string>,
  });
  t.same(parseLastAction(lease(JSON.stringify({ action: 'evict', key: 'pod:u', node: 'node-a', at: '2024-05-01T00:00:00Z' }))), {
    action: 'evict',
    key: 'pod:u',
    node: 'node-a',
    at: '2024-05-01T00:00:00Z',
  });
  t.equal(parseLastAction(lease('{not json')), undefined);
  t.equal(parseLastAction(lease(JSON.stringify({ key: 1 }))), undefined);
  t.equal(parseLastAction(lease()), undefined);
  t.equal(parseLastAction(undefined), undefined);

  // The history of the whole cluster's actions: read defensively, the last action of an older
  // writer folded in, pruned to a day and MAX_HISTORY entries when an action is added.
  const a = (node: string, at: string, key = 'pod:u') => ({ action: 'evict', key, node, at });
  const withHistory = (history: unknown, last?: unknown) => ({
    namespace: 'n',
    name: 'l',
    resourceVersion: '1',
    annotations: {
      [ACTIONS_ANNOTATION]: typeof history === 'string' ? history : JSON.stringify(history),
      ...(last === undefined ? {} : { [LAST_ACTION_ANNOTATION]: JSON.stringify(last) }),
    } as Record<string, string>,
  });
  t.same(parseActions(withHistory([a('n2', '2024-05-01T01:00:00Z'), { key: 5 }, a('n1', '2024-05-01T00:00:00Z')])), [
    a('n1', '2024-05-01T00:00:00Z'),
    a('n2', '2024-05-01T01:00:00Z'),
  ]);
  t.same(parseActions(withHistory('{', a('n3', '2024-05-01T02:00:00Z'))), [a('n3', '2024-05-01T02:00:00Z')], 'an older writer: its last action');
  t.same(parseActions(withHistory([a('n3', '2024-05-01T02:00:00Z')], a('n3', '2024-05-01T02:00:00Z'))).length, 1, 'not counted twice');
  const now = Date.parse('2024-05-02T00:30:00Z');
  const many = Array.from({ length: 100 }, (_, i) => a(`n${i}`, new Date(now - (100 - i) * 60_000).toISOString()));
  const kept = withAction([a('old', '2024-04-30T00:00:00Z'), ...many], a('me', new Date(now).toISOString()), now);
  t.equal(kept.length, MAX_HISTORY);
  t.equal(kept.at(-1)!.node, 'me');
  t.notOk(
    kept.some((x) => x.node === 'old'),
    'older than a day: dropped',
  );
  t.end();
});

t.test('settings from the configuration', (t) => {
  const c = loadConfig({ env: {}, file: false });
  const s = remedySettings(c);
  t.same(s, {
    mode: 'dry-run',
    failedSweeps: 3,
    minReadyPods: 1,
    cooldownMs: 600_000,
    maxActionsPerHour: 3,
    readyTimeoutMs: 300_000,
    lease: { namespace: 'kube-system', name: 'coredns-healthd-remedy', durationMs: 60_000 },
    memory: { factor: 2, cap: '1Gi' },
    allowDelete: false,
    quorum: { namespace: 'coredns-healthd', minNodes: 2, fraction: 0.5, windowMs: 900_000, refreshMs: 300_000, maxFailingPods: 2 },
    conditionHeartbeatMs: 3_600_000,
    apiSettleMs: 22_000,
  });
  t.equal(
    nodeNameOf(c, () => 'Worker-1'),
    'worker-1',
    'the host name, as the kubelet names the node',
  );
  t.end();
});

t.test('a failed quorum is asked again after 30 s, then twice as long each time, at most every 5 minutes', (t) => {
  t.same(
    [1, 2, 3, 4, 5, 6, 20].map((n) => quorumRetryMs(n) / 1000),
    [30, 60, 120, 240, 300, 300, 300],
  );
  t.end();
});
