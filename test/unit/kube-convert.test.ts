// Kubernetes objects → project records (both the raw JSON of a watch and the
// client library's model objects with Dates), and API failures → reasons.
import t from 'tap';
import {
  dnsPortOf,
  timeString,
  toDeploymentInfo,
  toDnsServiceTarget,
  toLeaseInfo,
  toNodeConditions,
  toPodInfo,
  toServiceInfo,
} from '../../src/kube/convert.js';
import { KUBE_ERROR_DESCRIPTIONS, KUBE_ERROR_REASONS, KubeApiError, reasonForStatus, toKubeApiError } from '../../src/kube/errors.js';
import { selectorString, sweepTargets, withExpectedAnswer } from '../../src/kube/targets.js';
import type { KubeTargets } from '../../src/kube/types.js';
import { QUERY_DEFAULTS } from '../../src/probe/query-spec.js';

const rawPod = {
  metadata: {
    name: 'coredns-6d4b75cb6d-x7k2p',
    namespace: 'kube-system',
    uid: 'u-1',
    resourceVersion: '42',
    labels: { 'k8s-app': 'kube-dns', 'pod-template-hash': '6d4b75cb6d' },
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'coredns-6d4b75cb6d', uid: 'rs', controller: true }],
  },
  spec: {
    nodeName: 'node-a',
    containers: [
      { name: 'sidecar', resources: { limits: { memory: '20Mi' } } },
      { name: 'coredns', resources: { limits: { cpu: '200m', memory: '170Mi' } } },
    ],
  },
  status: {
    phase: 'Running',
    podIP: '10.244.1.5',
    podIPs: [{ ip: '10.244.1.5' }, { ip: 'fd00::5' }],
    conditions: [{ type: 'Ready', status: 'True' }],
    containerStatuses: [
      {
        name: 'coredns',
        ready: true,
        restartCount: 3,
        state: { running: {} },
        lastState: { terminated: { reason: 'OOMKilled', exitCode: 137, finishedAt: '2024-05-01T12:00:00Z' } },
      },
      { name: 'sidecar', ready: false, restartCount: 0, state: { waiting: { reason: 'CrashLoopBackOff' } }, lastState: {} },
    ],
  },
};

t.test('a pod: IPs (dual stack), readiness, containers by name, the last termination, the owning Deployment', (t) => {
  const p = toPodInfo(rawPod);
  t.same(p, {
    namespace: 'kube-system',
    name: 'coredns-6d4b75cb6d-x7k2p',
    uid: 'u-1',
    resourceVersion: '42',
    nodeName: 'node-a',
    phase: 'Running',
    ready: true,
    terminating: false,
    ip: '10.244.1.5',
    ips: ['10.244.1.5', 'fd00::5'],
    labels: { 'k8s-app': 'kube-dns', 'pod-template-hash': '6d4b75cb6d' },
    containers: [
      { name: 'sidecar', ready: false, restartCount: 0, memoryLimit: '20Mi' },
      { name: 'coredns', ready: true, restartCount: 3, lastTerminationReason: 'OOMKilled', lastTerminatedAt: '2024-05-01T12:00:00Z', memoryLimit: '170Mi' },
    ],
    ownerDeployment: { namespace: 'kube-system', name: 'coredns' },
    dnsPolicy: 'ClusterFirst',
    hostNetwork: false,
  });
  t.match(toPodInfo({ spec: { dnsPolicy: 'Default', hostNetwork: true } }), { dnsPolicy: 'Default', hostNetwork: true });
  // The client library's model objects carry Dates: the same record comes out.
  const model = structuredClone(rawPod) as typeof rawPod & { metadata: { deletionTimestamp?: Date } };
  (model.status.containerStatuses[0]!.lastState.terminated as { finishedAt: unknown }).finishedAt = new Date('2024-05-01T12:00:00Z');
  model.metadata.deletionTimestamp = new Date();
  const m = toPodInfo(model);
  t.equal(m.containers[1]!.lastTerminatedAt, '2024-05-01T12:00:00.000Z');
  t.equal(m.terminating, true);
  // A container terminated right now counts too; a bare ReplicaSet is no Deployment.
  const down = structuredClone(rawPod);
  (down.status.containerStatuses[1] as { state: unknown }).state = { terminated: { reason: 'Error', finishedAt: '2024-05-01T13:00:00Z' } };
  down.metadata.labels['pod-template-hash'] = 'other';
  const d = toPodInfo(down);
  t.equal(d.containers[0]!.lastTerminationReason, 'Error');
  t.equal(d.ownerDeployment, undefined);
  t.same(
    toPodInfo({}),
    {
      namespace: '',
      name: '',
      uid: '',
      resourceVersion: '',
      phase: 'Unknown',
      ready: false,
      terminating: false,
      ips: [],
      labels: {},
      containers: [],
      dnsPolicy: 'ClusterFirst',
      hostNetwork: false,
    },
    'an empty object does not throw',
  );
  t.equal(timeString(new Date(Number.NaN)), undefined);
  t.end();
});

t.test('a Service: ClusterIPs (dual stack, headless), DNS port, selector', (t) => {
  const s = toServiceInfo({
    metadata: { name: 'kube-dns', namespace: 'kube-system', uid: 's' },
    spec: {
      clusterIP: '10.96.0.10',
      clusterIPs: ['10.96.0.10', 'fd00::a'],
      selector: { 'k8s-app': 'kube-dns' },
      ports: [
        { name: 'metrics', port: 9153, protocol: 'TCP' },
        { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
        { name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 },
      ],
    },
  });
  t.same(toDnsServiceTarget(s), {
    namespace: 'kube-system',
    name: 'kube-dns',
    ips: ['10.96.0.10', 'fd00::a'],
    port: 53,
    podPort: 5353,
    selector: { 'k8s-app': 'kube-dns' },
  });
  t.same(toServiceInfo({ spec: { clusterIP: 'None', clusterIPs: ['None'] } }).clusterIPs, [], 'headless');
  t.same(toServiceInfo({ spec: { clusterIP: '10.0.0.1' } }).clusterIPs, ['10.0.0.1'], 'clusterIP alone (old API servers)');
  t.equal(toServiceInfo({ spec: {} }).selector, undefined);
  t.equal(
    dnsPortOf([
      { port: 1053, protocol: 'UDP' },
      { name: 'dns', port: 53, protocol: 'TCP' },
    ])?.port,
    1053,
    'a UDP port first',
  );
  t.equal(dnsPortOf([{ name: 'dns-tcp', port: 5353, protocol: 'TCP' }])?.port, 5353);
  t.equal(dnsPortOf([]), undefined);
  t.equal(toDnsServiceTarget(toServiceInfo({ spec: { clusterIP: '10.0.0.9' } })).port, 53, 'no ports: 53');
  t.end();
});

t.test('a Deployment, a Lease, node conditions', (t) => {
  const d = toDeploymentInfo({
    metadata: { name: 'coredns', namespace: 'kube-system', uid: 'd', resourceVersion: '9', generation: 4, annotations: { a: 'b' } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { 'k8s-app': 'kube-dns' } },
      template: { spec: { containers: [{ name: 'coredns', resources: { limits: { cpu: '200m', memory: '170Mi' }, requests: { memory: '70Mi' } } }] } },
    },
    status: { observedGeneration: 3, readyReplicas: 2, updatedReplicas: 1, availableReplicas: 2 },
  });
  t.same(d, {
    namespace: 'kube-system',
    name: 'coredns',
    uid: 'd',
    resourceVersion: '9',
    generation: 4,
    observedGeneration: 3,
    replicas: 2,
    readyReplicas: 2,
    updatedReplicas: 1,
    availableReplicas: 2,
    annotations: { a: 'b' },
    selector: { 'k8s-app': 'kube-dns' },
    containers: [{ name: 'coredns', limits: { cpu: '200m', memory: '170Mi' }, requests: { memory: '70Mi' } }],
  });
  t.same(
    toLeaseInfo({
      metadata: { name: 'l', namespace: 'kube-system', resourceVersion: '3' },
      spec: { holderIdentity: 'node-a', leaseDurationSeconds: 60, renewTime: new Date('2024-05-01T00:00:00Z'), leaseTransitions: 2 },
    }),
    {
      namespace: 'kube-system',
      name: 'l',
      resourceVersion: '3',
      annotations: {},
      holderIdentity: 'node-a',
      leaseDurationSeconds: 60,
      renewTime: '2024-05-01T00:00:00.000Z',
      leaseTransitions: 2,
    },
  );
  t.same(
    toNodeConditions({ status: { conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', lastTransitionTime: '2024-05-01T00:00:00Z' }] } }),
    [{ type: 'Ready', status: 'True', reason: 'KubeletReady', lastTransitionTime: '2024-05-01T00:00:00Z' }],
  );
  t.end();
});

t.test('API failures become KubeApiErrors with a reason', (t) => {
  t.equal(reasonForStatus(403), 'forbidden');
  t.equal(reasonForStatus(410), 'gone');
  t.equal(reasonForStatus(429), 'too-many-requests');
  t.equal(reasonForStatus(503), 'server-error');
  t.equal(reasonForStatus(422), 'invalid');
  t.equal(reasonForStatus(302), 'bad-response');
  const body = JSON.stringify({
    kind: 'Status',
    message: 'pods "x" is forbidden: User "u" cannot create resource "pods/eviction"',
    reason: 'Forbidden',
    code: 403,
  });
  const e = toKubeApiError(Object.assign(new Error('HTTP-Code: 403'), { code: 403, body }), 'evict pod kube-system/x');
  t.match(e, {
    reason: 'forbidden',
    status: 403,
    apiReason: 'Forbidden',
    message: 'evict pod kube-system/x: HTTP 403: pods "x" is forbidden: User "u" cannot create resource "pods/eviction"',
  });
  t.equal(
    toKubeApiError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED', name: 'FetchError', type: 'system' }), 'x').reason,
    'unreachable',
  );
  t.equal(toKubeApiError(Object.assign(new Error('self-signed certificate'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }), 'x').reason, 'tls');
  t.equal(toKubeApiError(new DOMException('The operation was aborted due to timeout', 'TimeoutError'), 'x').reason, 'timeout');
  t.equal(toKubeApiError(Object.assign(new Error('aborted'), { name: 'AbortError', type: 'aborted' }), 'x').reason, 'timeout');
  t.equal(toKubeApiError(new Error('weird'), 'x').reason, 'bad-response');
  t.equal(toKubeApiError({ code: 500, body: 'plain text failure' }, 'x').message, 'x: HTTP 500: plain text failure');
  const same = new KubeApiError('conflict', 'c');
  t.equal(toKubeApiError(same, 'x'), same, 'a KubeApiError passes through');
  t.same(Object.keys(KUBE_ERROR_DESCRIPTIONS).sort(), [...KUBE_ERROR_REASONS].sort(), 'every reason is described');
  t.end();
});

t.test('selectors, sweep targets and the expected answer', (t) => {
  t.equal(selectorString({ 'k8s-app': 'kube-dns', tier: 'control' }), 'k8s-app=kube-dns,tier=control');
  const targets: KubeTargets = {
    synced: true,
    dnsService: { namespace: 'kube-system', name: 'kube-dns', ips: ['10.96.0.10', 'fd00::a'], port: 53, podPort: 5353 },
    corednsPods: [
      {
        namespace: 'kube-system',
        name: 'a',
        uid: '1',
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
        uid: '2',
        resourceVersion: '1',
        phase: 'Pending',
        ready: false,
        terminating: false,
        ips: [],
        labels: {},
        containers: [],
        dnsPolicy: 'ClusterFirst',
        hostNetwork: false,
      },
      {
        namespace: 'kube-system',
        name: 'c',
        uid: '3',
        resourceVersion: '1',
        phase: 'Running',
        ready: true,
        terminating: true,
        ip: '10.0.0.3',
        ips: ['10.0.0.3'],
        labels: {},
        containers: [],
        dnsPolicy: 'ClusterFirst',
        hostNetwork: false,
      },
    ],
    expectedAnswer: ['10.96.0.1', 'fd00::1'],
    podsByUid: new Map(),
    nodePods: [],
  };
  t.same(
    sweepTargets(targets).map((x) => `${x.source} ${x.server}:${x.port} ${x.label}`),
    [
      'coredns-pod 10.0.0.1:5353 kube-system/a',
      'coredns-pod fd00::1:5353 kube-system/a',
      'dns-service 10.96.0.10:53 kube-system/kube-dns',
      'dns-service fd00::a:53 kube-system/kube-dns',
    ],
    'Running, not terminating pods with an IP (each family), then the Service IPs',
  );
  t.same(sweepTargets({ ...targets, dnsService: undefined } as unknown as KubeTargets), [], 'no Service, no Kubernetes targets');
  const qs = withExpectedAnswer(
    [
      { ...QUERY_DEFAULTS, name: 'kubernetes.default.svc.cluster.local.', type: 'A' },
      { ...QUERY_DEFAULTS, name: 'kubernetes.default.svc.cluster.local', type: 'AAAA' },
      { ...QUERY_DEFAULTS, name: 'kubernetes.default.svc.cluster.local', type: 'A', expectAnswers: ['1.2.3.4'] },
      { ...QUERY_DEFAULTS, name: 'example.org', type: 'A' },
    ],
    targets,
    'cluster.local',
  );
  t.same(
    qs.map((q) => q.expectAnswers),
    [['10.96.0.1'], ['fd00::1'], ['1.2.3.4'], []],
    'filled in by family, never over a configured answer',
  );
  t.equal(qs[0]!.expectMatch, 'contain');
  t.end();
});
