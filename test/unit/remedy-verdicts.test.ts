// Quorum across nodes, pure: each node's verdicts from its sweep, what a verdict Lease
// holds, which reports are fresh, and when the nodes' reports allow an eviction.
import t from 'tap';
import type { LeaseInfo } from '../../src/kube/types.js';
import type { PodProbeSummary, SweepSummary } from '../../src/remedy/sweep-summary.js';
import {
  VERDICT_ANNOTATION,
  evaluateQuorum,
  freshReports,
  readVerdictLease,
  sameVerdicts,
  verdictLeaseName,
  verdictsFromSummary,
  type NodeVerdicts,
  type QuorumSettings,
} from '../../src/remedy/verdicts.js';

const Q: QuorumSettings = { namespace: 'coredns-healthd', minNodes: 2, fraction: 0.5, windowMs: 900_000, refreshMs: 300_000, maxFailingPods: 2 };

const pod = (name: string, status: PodProbeSummary['status'], o: Partial<PodProbeSummary> = {}): PodProbeSummary => ({
  namespace: 'kube-system',
  name,
  uid: `uid-${name}`,
  status,
  reasons: status === 'ok' ? [] : ['timeout'],
  ...o,
});

const summary = (pods: PodProbeSummary[], at = '2026-01-01T00:00:00.000Z', service?: SweepSummary['service']): SweepSummary => ({
  at: new Date(at),
  pods,
  ...(service ? { service } : {}),
});

/** N nodes' reports on pod A: `failing` of them see it failing while another endpoint answers. */
function reports(n: number, failing: (i: number) => boolean, zone?: (i: number) => string): NodeVerdicts[] {
  return Array.from({ length: n }, (_, i) => ({
    v: 1 as const,
    node: `node-${String(i).padStart(4, '0')}`,
    ...(zone ? { zone: zone(i) } : {}),
    pods: {
      'uid-a': { state: failing(i) ? ('failing' as const) : ('answering' as const), since: 'x', otherAnswered: true },
      'uid-b': { state: 'answering' as const, since: 'x', otherAnswered: true },
    },
  }));
}

t.test("a node's verdicts: failing while another endpoint answered, answering, nothing for local failures; since kept", (t) => {
  const s1 = summary([pod('a', 'failed'), pod('b', 'ok'), pod('c', 'failed', { reasons: ['blocked-locally'], localOnly: true }), pod('d', 'partial')]);
  const v1 = verdictsFromSummary(s1, undefined, 'node-1', 'zone-x');
  t.same(v1, {
    v: 1,
    node: 'node-1',
    zone: 'zone-x',
    pods: {
      'uid-a': { state: 'failing', since: '2026-01-01T00:00:00.000Z', otherAnswered: true },
      'uid-b': { state: 'answering', since: '2026-01-01T00:00:00.000Z', otherAnswered: true },
      'uid-d': { state: 'answering', since: '2026-01-01T00:00:00.000Z', otherAnswered: true },
    },
  });
  const v2 = verdictsFromSummary(summary([pod('a', 'failed'), pod('b', 'ok'), pod('d', 'ok')], '2026-01-01T00:01:00.000Z'), v1, 'node-1', 'zone-x');
  t.equal(v2.pods['uid-a']!.since, '2026-01-01T00:00:00.000Z', 'still failing: since is kept');
  t.ok(sameVerdicts(v1, v2), 'the same states (d answered partly, then fully): nothing to write');
  const v3 = verdictsFromSummary(summary([pod('a', 'ok'), pod('b', 'ok'), pod('d', 'ok')], '2026-01-01T00:02:00.000Z'), v2, 'node-1', 'zone-x');
  t.equal(v3.pods['uid-a']!.since, '2026-01-01T00:02:00.000Z', 'a new state starts a new since');
  t.notOk(sameVerdicts(v2, v3));
  t.ok(sameVerdicts(v3, verdictsFromSummary(summary([pod('a', 'ok'), pod('b', 'ok'), pod('d', 'ok')], '2026-01-01T00:09:00.000Z'), v3, 'node-1', 'zone-x')));

  const alone = verdictsFromSummary(summary([pod('a', 'failed'), pod('b', 'failed')]), undefined, 'node-1', undefined);
  t.same(
    Object.values(alone.pods).map((p) => p.otherAnswered),
    [false, false],
    'every endpoint failing: nothing else answered (this node is the fault)',
  );
  const viaService = verdictsFromSummary(summary([pod('a', 'failed')], undefined, { status: 'ok', reasons: [] }), undefined, 'node-1', undefined);
  t.equal(viaService.pods['uid-a']!.otherAnswered, true, 'the Service answering counts as another endpoint');
  t.end();
});

t.test('sameVerdicts: state, otherAnswered, the set of pods and the zone matter; since does not', (t) => {
  const base: NodeVerdicts = { v: 1, node: 'n', pods: { u: { state: 'failing', since: 'a', otherAnswered: true } } };
  t.ok(sameVerdicts(base, { ...base, pods: { u: { state: 'failing', since: 'b', otherAnswered: true } } }));
  t.notOk(sameVerdicts(base, { ...base, pods: { u: { state: 'failing', since: 'a', otherAnswered: false } } }));
  t.notOk(sameVerdicts(base, { ...base, pods: {} }));
  t.notOk(sameVerdicts(base, { ...base, zone: 'z' }));
  t.notOk(sameVerdicts(undefined, base));
  t.end();
});

t.test('verdict Leases: read defensively; only fresh reports count, the newest per node', (t) => {
  const lease = (node: string, renewTime: string | undefined, annotation: string | undefined): LeaseInfo => ({
    namespace: 'kube-system',
    name: verdictLeaseName(node),
    resourceVersion: '1',
    ...(renewTime ? { renewTime } : {}),
    annotations: annotation === undefined ? {} : { [VERDICT_ANNOTATION]: annotation },
  });
  const good = (node: string) => JSON.stringify({ v: 1, node, pods: { u: { state: 'failing', since: 's', otherAnswered: true }, bad: { state: 'sick' } } });
  t.same(
    readVerdictLease(lease('n1', '2026-01-01T00:00:00.000000Z', good('n1')))?.verdicts.pods,
    { u: { state: 'failing', since: 's', otherAnswered: true } },
    'malformed entries are dropped',
  );
  for (const [why, l] of [
    ['no annotation', lease('n1', '2026-01-01T00:00:00Z', undefined)],
    ['no renewTime', lease('n1', undefined, good('n1'))],
    ['not JSON', lease('n1', '2026-01-01T00:00:00Z', '{')],
    ['another version', lease('n1', '2026-01-01T00:00:00Z', JSON.stringify({ v: 2, node: 'n1', pods: {} }))],
    ['huge', lease('n1', '2026-01-01T00:00:00Z', `${'x'.repeat(300_000)}`)],
  ] as const) {
    t.equal(readVerdictLease(l), undefined, why);
  }
  const now = Date.parse('2026-01-01T00:20:00Z');
  const fresh = freshReports(
    [
      lease('n1', '2026-01-01T00:10:00Z', good('n1')),
      lease('n2', '2026-01-01T00:01:00Z', good('n2')), // 19 minutes old: a node that stopped reporting
      lease('n3', '2026-01-01T00:19:00Z', good('n3')),
      lease('n3-old', '2026-01-01T00:12:00Z', good('n3')),
    ],
    now,
    Q.windowMs,
  );
  t.same(fresh.map((r) => r.node).sort(), ['n1', 'n3']);
  t.end();
});

t.test('quorum: one node, or a minority, never evicts; a majority does', (t) => {
  const one = evaluateQuorum(
    'uid-a',
    reports(1000, (i) => i === 7),
    Q,
  );
  t.match(one, {
    ok: false,
    reason: 'no-quorum',
    message: /^1 of 1000 nodes that reported on it see it failing .*the path from node-0007 to the pod is the suspect/,
  });
  const flapping = evaluateQuorum(
    'uid-a',
    reports(1000, (i) => i % 20 === 0),
    Q,
  );
  t.match(flapping, { ok: false, reason: 'no-quorum', message: /^50 of 1000 nodes/ }, '5% of nodes');
  const minority = evaluateQuorum(
    'uid-a',
    reports(10, (i) => i < 4),
    Q,
  );
  t.match(minority, { ok: false, reason: 'no-quorum' }, '4 of 10 is below one half');
  const majority = evaluateQuorum(
    'uid-a',
    reports(10, (i) => i < 5),
    Q,
  );
  t.match(majority, { ok: true, message: /^5 of 10 nodes/ });
  t.same(majority.pod.failing.length, 5);
  const lonely = evaluateQuorum(
    'uid-a',
    reports(1, () => true),
    Q,
  );
  t.match(lonely, { ok: false, reason: 'no-quorum' }, 'one node alone is not a quorum (minNodes 2)');
  t.match(
    evaluateQuorum(
      'uid-a',
      reports(1, () => true),
      { ...Q, minNodes: 1 },
    ),
    { ok: true },
    'unless a one-node cluster allows it',
  );
  const alone: NodeVerdicts[] = reports(4, () => true).map((r) => ({ ...r, pods: { 'uid-a': { ...r.pods['uid-a']!, otherAnswered: false } } }));
  t.match(
    evaluateQuorum('uid-a', alone, Q),
    { ok: false, reason: 'no-quorum', pod: { failing: [], failingAlone: alone.map((r) => r.node) } },
    'nodes where nothing answers are not counted',
  );
  t.end();
});

t.test('partition: the failing nodes in one zone while the rest see it answer; or many pods failing at once', (t) => {
  const zone = (i: number) => (i < 6 ? 'zone-b' : 'zone-a');
  const partition = evaluateQuorum(
    'uid-a',
    reports(10, (i) => i < 6, zone),
    Q,
  );
  t.match(partition, { ok: false, reason: 'partition', zone: 'zone-b', message: /: 6 of the 6 in zone zone-b, while the 4 nodes outside it see it answer/ });
  // A zone that is a minority of the cluster: 3 of 10 nodes, all of zone-b, see it failing.
  const minority = evaluateQuorum(
    'uid-a',
    reports(
      10,
      (i) => i < 3,
      (i) => (i < 3 ? 'zone-b' : i < 6 ? 'zone-c' : 'zone-a'),
    ),
    Q,
  );
  t.match(
    minority,
    { ok: false, reason: 'partition', zone: 'zone-b', message: /^3 of 10 nodes .*: 3 of the 3 in zone zone-b, while the 7 nodes outside/ },
    'a minority zone is a partition too, not no-quorum',
  );
  const fewInZone = evaluateQuorum(
    'uid-a',
    reports(
      10,
      (i) => i < 2,
      (i) => (i < 6 ? 'zone-b' : 'zone-a'),
    ),
    Q,
  );
  t.match(fewInZone, { ok: false, reason: 'no-quorum' }, '2 of the 6 nodes of zone-b: below the share, so their own paths, not the zone');
  const single = evaluateQuorum(
    'uid-a',
    reports(
      10,
      (i) => i === 0,
      (i) => (i === 0 ? 'zone-b' : 'zone-a'),
    ),
    Q,
  );
  t.match(single, { ok: false, reason: 'no-quorum' }, 'a zone of one failing node: fewer than remedy.quorum.minNodes, so no-quorum');
  const everywhere = evaluateQuorum(
    'uid-a',
    reports(10, (i) => i < 6 || i === 9, zone),
    Q,
  );
  t.match(everywhere, { ok: true }, 'failing from both zones: the pod');
  const oneZone = evaluateQuorum(
    'uid-a',
    reports(
      10,
      () => true,
      () => 'zone-a',
    ),
    Q,
  );
  t.match(oneZone, { ok: true }, 'a one-zone cluster: no node outside the zone to compare with');
  const many: NodeVerdicts[] = reports(10, (i) => i < 8).map((r) => ({
    ...r,
    pods: {
      ...r.pods,
      'uid-b': { state: r.pods['uid-a']!.state, since: 'x', otherAnswered: true },
      'uid-c': { state: r.pods['uid-a']!.state, since: 'x', otherAnswered: true },
    },
  }));
  t.match(evaluateQuorum('uid-a', many, Q), {
    ok: false,
    reason: 'partition',
    message: /3 CoreDNS pods fail by quorum at once \(more than remedy.quorum.maxFailingPods = 2\)/,
  });
  t.match(evaluateQuorum('uid-a', many, { ...Q, maxFailingPods: 3 }), { ok: true });
  t.end();
});

t.test('verdict Lease names fit Kubernetes', (t) => {
  t.equal(verdictLeaseName('node-a'), 'coredns-healthd-verdict-node-a');
  const long = verdictLeaseName('n'.repeat(253));
  t.ok(long.length <= 253 && /^coredns-healthd-verdict-[0-9a-f]{40}$/.test(long), long);
  t.not(verdictLeaseName('m'.repeat(253)), long, 'distinct nodes, distinct names');
  t.end();
});
