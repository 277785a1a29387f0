// The gate, pure: thresholds from the host vantage, node-local faults, the
// Ready floor, cooldowns, the hourly cap, one action at a time, OOMKilled
// containers, mode off.
import t from 'tap';
import { DECISION_REASON_DESCRIPTIONS, DECISION_REASONS, reasonForKubeError, type RemedyDecision } from '../../src/remedy/decision.js';
import { deploymentKey, initialGateState, markOomHandled, planSweep, podKey, recordAction, type GateInput, type GateState } from '../../src/remedy/gate.js';
import type { RemedySettings } from '../../src/remedy/settings.js';
import type { PodProbeSummary, ProbeStatus, SweepSummary } from '../../src/remedy/sweep-summary.js';
import type { ContainerInfo, KubeTargets, PodInfo } from '../../src/kube/types.js';
import { KUBE_ERROR_REASONS } from '../../src/kube/errors.js';

const SETTINGS: RemedySettings = {
  mode: 'enforce',
  failedSweeps: 3,
  minReadyPods: 1,
  cooldownMs: 600_000,
  maxActionsPerHour: 3,
  readyTimeoutMs: 300_000,
  lease: { namespace: 'kube-system', name: 'coredns-healthd-remedy', durationMs: 60_000 },
  memory: { factor: 2, cap: '1Gi' },
  allowDelete: false,
  // One node acts alone here (a one-node cluster, allowed explicitly); quorum tests set their own.
  quorum: { namespace: 'coredns-healthd', minNodes: 1, fraction: 0.5, windowMs: 900_000, refreshMs: 300_000, maxFailingPods: 2 },
  conditionHeartbeatMs: 3_600_000,
  apiSettleMs: 30_000,
};

function pod(name: string, o: Partial<PodInfo> & { containers?: ContainerInfo[] } = {}): PodInfo {
  return {
    namespace: 'kube-system',
    name,
    uid: `uid-${name}`,
    resourceVersion: '1',
    phase: 'Running',
    ready: true,
    terminating: false,
    ip: `10.0.0.${name.charCodeAt(0)}`,
    ips: [`10.0.0.${name.charCodeAt(0)}`],
    labels: { 'k8s-app': 'kube-dns' },
    containers: [{ name: 'coredns', ready: true, restartCount: 0, memoryLimit: '170Mi' }],
    ownerDeployment: { namespace: 'kube-system', name: 'coredns' },
    dnsPolicy: 'Default',
    hostNetwork: false,
    ...o,
  };
}

const targets = (pods: PodInfo[]): KubeTargets => ({ synced: true, corednsPods: pods, expectedAnswer: ['10.96.0.1'], podsByUid: new Map(), nodePods: [] });

/** A pod's status; 'failed-locally': failed with only local reasons (blocked-locally). */
type Status = ProbeStatus | 'failed-locally';

function sweep(statuses: Record<string, Status>): SweepSummary {
  const pods: PodProbeSummary[] = Object.entries(statuses).map(([name, status]) => ({
    namespace: 'kube-system',
    name,
    uid: `uid-${name}`,
    ...(status === 'failed-locally'
      ? { status: 'failed', reasons: ['blocked-locally'], localOnly: true }
      : { status, reasons: status === 'ok' ? [] : ['timeout'] }),
  }));
  return { at: new Date(0), pods };
}

/** Runs sweeps through the gate, carrying the state. */
function run(
  pods: PodInfo[],
  sweeps: Record<string, Status>[],
  o: Partial<Omit<GateInput, 'settings'>> & { state?: GateState; settings?: Partial<RemedySettings> } = {},
) {
  let state = o.state ?? initialGateState();
  const out: { decisions: RemedyDecision[]; candidate?: ReturnType<typeof planSweep>['candidate'] }[] = [];
  sweeps.forEach((s, i) => {
    const plan = planSweep(state, {
      now: o.now ?? 1_000_000 + i * 10_000,
      summary: sweep(s),
      targets: targets(pods),
      settings: { ...SETTINGS, ...o.settings },
      nodeName: 'node-a',
      busy: o.busy ?? false,
    });
    state = plan.state;
    out.push({ decisions: plan.decisions, ...(plan.candidate ? { candidate: plan.candidate } : {}) });
  });
  return { out, state };
}

const brief = (d: RemedyDecision) => `${d.action}/${d.result}/${d.reason} ${d.target}`;

t.test('a pod that fails N consecutive sweeps while another answers becomes the candidate', (t) => {
  const pods = [pod('a'), pod('b')];
  const { out, state } = run(pods, [
    { a: 'failed', b: 'ok' },
    { a: 'failed', b: 'ok' },
    { a: 'failed', b: 'partial' },
  ]);
  t.same(out[0]!.decisions.map(brief), ['evict/skipped/below-threshold pod kube-system/a']);
  t.match(out[1]!.decisions[0], { details: { failedSweeps: 2, threshold: 3 }, message: /failed from the host \(timeout\) in 2 consecutive sweeps; 3 needed/ });
  t.equal(out[1]!.candidate, undefined);
  t.match(out[2]!.candidate, { action: 'evict', pod: { name: 'a' }, failedSweeps: 3, readyAfter: 1 });
  t.same(out[2]!.decisions, [], 'the candidate itself is decided by the engine');
  t.equal(state.failed.get('uid-a'), 3);
  t.equal(state.failed.get('uid-b'), 0);
  t.end();
});

t.test('a pod not probed this sweep (the probe budget) keeps its count: neither reset nor a failure', (t) => {
  const pods = [pod('a'), pod('b')];
  const { out, state } = run(pods, [{ a: 'failed', b: 'ok' }, { b: 'ok' }, { a: 'failed', b: 'ok' }, { b: 'ok' }, { a: 'failed', b: 'ok' }]);
  t.equal(out[1]!.decisions.length, 0, 'nothing decided about a pod with no result');
  t.equal(out[2]!.candidate, undefined, 'two failures, not three: the skipped sweep did not count');
  t.match(out[4]!.candidate, { action: 'evict', pod: { name: 'a' }, failedSweeps: 3 }, 'the third failure, two skipped sweeps between');
  t.equal(state.failed.get('uid-a'), 3);
  const gone = run([pod('b')], [{ b: 'ok' }], { state });
  t.equal(gone.state.failed.has('uid-a'), false, 'a pod that left the targets is forgotten');
  t.end();
});

t.test("a failure for local reasons only (this node's firewall, no route) is never evidence against the pod", (t) => {
  const pods = [pod('a'), pod('b')];
  const { out, state } = run(pods, [
    { a: 'failed-locally', b: 'ok' },
    { a: 'failed-locally', b: 'ok' },
    { a: 'failed-locally', b: 'ok' },
    { a: 'failed-locally', b: 'ok' },
  ]);
  for (const o of out) {
    t.equal(o.candidate, undefined, 'no candidate');
    t.same(o.decisions.map(brief), ['evict/skipped/local-failure pod kube-system/a']);
  }
  t.match(out[0]!.decisions[0], { message: /only for local reasons \(blocked-locally\)/, details: { reasons: 'blocked-locally' } });
  t.equal(state.failed.get('uid-a'), 0, 'the count never grows');
  // Local failures between real ones start the count again.
  const mixed = run(pods, [
    { a: 'failed', b: 'ok' },
    { a: 'failed', b: 'ok' },
    { a: 'failed-locally', b: 'ok' },
    { a: 'failed', b: 'ok' },
  ]);
  t.equal(mixed.state.failed.get('uid-a'), 1);
  t.equal(mixed.out[3]!.candidate, undefined);
  t.end();
});

t.test('a sweep in which the pod answers, partly or fully, starts the count again', (t) => {
  const { out, state } = run(
    [pod('a'), pod('b')],
    [
      { a: 'failed', b: 'ok' },
      { a: 'failed', b: 'ok' },
      { a: 'partial', b: 'ok' },
      { a: 'failed', b: 'ok' },
    ],
  );
  t.equal(out[3]!.candidate, undefined);
  t.equal(state.failed.get('uid-a'), 1);
  t.end();
});

t.test('every endpoint failing from the host is a node finding: no restart, counts start again', (t) => {
  const pods = [pod('a'), pod('b')];
  const { out, state } = run(pods, [
    { a: 'failed', b: 'ok' },
    { a: 'failed', b: 'ok' },
    { a: 'failed', b: 'failed' },
    { a: 'failed', b: 'ok' },
  ]);
  t.same(out[2]!.decisions.map(brief), [
    'node-finding/reported/all-endpoints-failed node node-a',
    'evict/skipped/node-local-fault pod kube-system/a',
    'evict/skipped/node-local-fault pod kube-system/b',
  ]);
  t.match(out[2]!.decisions[0]!.message, /every CoreDNS endpoint \(2 pods\) fails from node node-a \(timeout\): the fault is local to this node/);
  t.equal(out[2]!.candidate, undefined);
  t.equal(out[3]!.candidate, undefined, 'the node-local sweep does not count towards the threshold');
  t.equal(state.failed.get('uid-a'), 1);
  // A single CoreDNS pod: "another endpoint answers" can never hold.
  const single = run([pod('a')], [{ a: 'failed' }, { a: 'failed' }, { a: 'failed' }, { a: 'failed' }]);
  t.ok(single.out.every((o) => !o.candidate && o.decisions[0]!.reason === 'all-endpoints-failed'));
  t.end();
});

t.test('never below minReadyPods', (t) => {
  const three = Array.from({ length: 3 }, () => ({ a: 'failed' as const, b: 'ok' as const }));
  // b is not Ready: evicting a (Ready) would leave 0 Ready pods.
  const { out } = run([pod('a'), pod('b', { ready: false })], three);
  t.match(out[2]!.decisions, [{ reason: 'min-ready-pods', details: { readyAfter: 0, minReadyPods: 1 } }]);
  t.equal(out[2]!.candidate, undefined);
  // An unready failing pod does not count itself: evicting it leaves b.
  const ok = run([pod('a', { ready: false }), pod('b')], three);
  t.match(ok.out[2]!.candidate, { pod: { name: 'a' }, readyAfter: 1 });
  const strict = run(
    [pod('a'), pod('b'), pod('c')],
    Array.from({ length: 3 }, () => ({ a: 'failed' as const, b: 'ok' as const, c: 'ok' as const })),
    { settings: { minReadyPods: 3 } },
  );
  t.match(strict.out[2]!.decisions[0], { reason: 'min-ready-pods', message: /2 Ready CoreDNS pods would be left, at least 3 required/ });
  t.end();
});

t.test('cooldown per pod and Deployment, the hourly cap, busy', (t) => {
  const pods = [pod('a'), pod('b')];
  const failing = Array.from({ length: 3 }, () => ({ a: 'failed' as const, b: 'ok' as const }));
  const cooled = run(pods, failing, { state: recordAction(initialGateState(), [podKey('uid-a')], 1_000_000) });
  t.match(cooled.out[2]!.decisions[0], { reason: 'cooldown', message: /acted on pod uid-a .* ago; cooldown 10m/ });
  const after = run(pods, failing, { state: recordAction(initialGateState(), [podKey('uid-a')], 1_000_000 - 600_000) });
  t.ok(after.out[2]!.candidate, 'the cooldown is over');
  let capped = initialGateState();
  for (let i = 0; i < 3; i++) capped = recordAction(capped, [podKey(`old-${i}`)], 1_000_000 - i * 1000);
  const cap = run(pods, failing, { state: capped });
  t.match(cap.out[2]!.decisions[0], { reason: 'hourly-cap', message: /3 actions by this node in the last hour; at most 3/ });
  const hourLater = run(pods, failing, { state: capped, now: 1_000_000 + 3_600_000 });
  t.ok(hourLater.out[2]!.candidate, 'actions older than an hour do not count');
  t.equal(hourLater.state.actions.length, 0, 'and are forgotten');
  const busy = run(pods, failing, { busy: true });
  t.match(busy.out[2]!.decisions[0], { reason: 'action-in-progress' });
  t.end();
});

t.test('one action per sweep: the pod failing longest; other candidates wait', (t) => {
  const pods = [pod('a'), pod('b'), pod('c')];
  const { out } = run(pods, [
    { a: 'ok', b: 'failed', c: 'ok' },
    { a: 'failed', b: 'failed', c: 'ok' },
    { a: 'failed', b: 'failed', c: 'ok' },
    { a: 'failed', b: 'failed', c: 'ok' },
  ]);
  t.match(out[3]!.candidate, { pod: { name: 'b' }, failedSweeps: 4 });
  t.same(out[3]!.decisions.map(brief), ['evict/skipped/one-at-a-time pod kube-system/a']);
  t.end();
});

t.test('OOMKilled: one raise-memory candidate per Deployment container, chosen before an eviction', (t) => {
  const oom: ContainerInfo = {
    name: 'coredns',
    ready: true,
    restartCount: 1,
    lastTerminationReason: 'OOMKilled',
    lastTerminatedAt: '2024-05-01T12:00:00Z',
    memoryLimit: '170Mi',
  };
  const pods = [pod('a', { containers: [oom] }), pod('b', { containers: [{ ...oom, lastTerminatedAt: '2024-05-01T12:01:00Z' }] }), pod('c')];
  const { out } = run(pods, [
    { a: 'ok', b: 'ok', c: 'failed' },
    { a: 'ok', b: 'ok', c: 'failed' },
    { a: 'ok', b: 'ok', c: 'failed' },
  ]);
  const first = out[0]!.candidate;
  t.match(first, { action: 'raise-memory', deployment: { namespace: 'kube-system', name: 'coredns' }, container: { name: 'coredns' } });
  t.same(first?.action === 'raise-memory' ? first.oomKeys : [], ['uid-a/coredns/2024-05-01T12:00:00Z', 'uid-b/coredns/2024-05-01T12:01:00Z']);
  t.same(out[2]!.decisions.map(brief), ['evict/skipped/one-at-a-time pod kube-system/c'], 'the eviction waits its turn');
  // Handled terminations are not looked at again; a later one is.
  const handled = markOomHandled(initialGateState(), first?.action === 'raise-memory' ? first.oomKeys : []);
  const again = run(pods, [{ a: 'ok', b: 'ok', c: 'ok' }], { state: handled });
  t.equal(again.out[0]!.candidate, undefined);
  const later = run([pod('a', { containers: [{ ...oom, lastTerminatedAt: '2024-05-01T13:00:00Z' }] }), pod('b')], [{ a: 'ok', b: 'ok' }], { state: handled });
  t.match(later.out[0]!.candidate, { action: 'raise-memory' });
  t.same([...later.state.oomHandled], [], 'terminations no longer on any pod are forgotten');
  // Cooldown on the Deployment.
  const cooled = run(pods, [{ a: 'ok', b: 'ok', c: 'ok' }], {
    state: recordAction(initialGateState(), [deploymentKey({ namespace: 'kube-system', name: 'coredns' })], 1_000_000),
  });
  t.match(cooled.out[0]!.decisions, [{ action: 'raise-memory', result: 'skipped', reason: 'cooldown', target: 'deployment kube-system/coredns' }]);
  // Not owned by a Deployment: said once.
  const bare = run(
    [pod('x', { containers: [oom], ownerDeployment: undefined }), pod('y')],
    [
      { x: 'ok', y: 'ok' },
      { x: 'ok', y: 'ok' },
    ],
  );
  t.same(
    bare.out.map((o) => o.decisions.map(brief)),
    [['raise-memory/skipped/no-deployment pod kube-system/x'], []],
  );
  // Terminating pods are not evidence.
  t.equal(run([pod('a', { containers: [oom], terminating: true }), pod('b')], [{ b: 'ok' }]).out[0]!.candidate, undefined);
  t.end();
});

t.test('mode off decides nothing; pods not in the targets are ignored', (t) => {
  const pods = [pod('a'), pod('b')];
  const off = run(
    pods,
    [
      { a: 'failed', b: 'failed' },
      { a: 'failed', b: 'ok' },
    ],
    { settings: { mode: 'off' } },
  );
  t.same(off.out, [{ decisions: [] }, { decisions: [] }]);
  const unknown = run([pod('b')], [{ a: 'failed', b: 'ok' }]);
  t.same(unknown.out[0]!.decisions, []);
  t.equal(unknown.state.failed.has('uid-a'), false);
  t.end();
});

t.test('every decision reason is described; API failures map to reasons', (t) => {
  t.same(Object.keys(DECISION_REASON_DESCRIPTIONS).sort(), [...DECISION_REASONS].sort());
  for (const r of KUBE_ERROR_REASONS) t.ok(DECISION_REASONS.includes(reasonForKubeError(r)), r);
  t.equal(reasonForKubeError('forbidden'), 'forbidden');
  t.equal(reasonForKubeError('unreachable'), 'api-unreachable');
  t.equal(reasonForKubeError('server-error'), 'api-error');
  t.equal(reasonForKubeError('timeout'), 'api-timeout');
  t.end();
});
