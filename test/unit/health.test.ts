// The health state: hysteresis per check, first results, neutral results,
// dropping what a sweep no longer has, labels, group verdicts and /status.
import t from 'tap';
import { HealthModel, checkKey } from '../../src/health/model.js';
import { podOf, targetLabel } from '../../src/health/labels.js';
import { baseVantageLabel, vantageLabels } from '../../src/discovery/vantage.js';
import { evaluate, evaluateAll, GROUPS, type VerdictInput } from '../../src/health/verdict.js';
import { statusDocument } from '../../src/health/status.js';
import { HOST, POD_A, POD_B, QUERY, report, row, uniform, vantage } from '../support/daemon-fixtures.js';

const at = (s: number): Date => new Date(Date.UTC(2024, 4, 1, 12, 0, s));
const key = (v = HOST, transport: 'udp' | 'tcp' = 'udp', server = '10.96.0.10') =>
  checkKey(v, { server, port: 53 }, transport, 'kubernetes.default.svc.cluster.local A');

t.test('the first result decides the initial state', (t) => {
  const m = new HealthModel({ failureThreshold: 3, successThreshold: 2 });
  const u = m.update(
    uniform([HOST, POD_A], '10.96.0.10', (v) => (v === HOST ? 'ok' : 'timeout')),
    at(0),
  );
  t.equal(m.size, 4);
  t.equal(m.get(key(HOST))!.state, 'healthy');
  t.equal(m.get(key(POD_A))!.state, 'unhealthy', 'broken at start is reported after one sweep');
  t.same(
    u.transitions.map((x) => [x.check.vantageLabel, x.check.transport, x.from, x.to]),
    [
      ['host', 'udp', null, 'healthy'],
      ['host', 'tcp', null, 'healthy'],
      ['default/web-1', 'udp', null, 'unhealthy'],
      ['default/web-1', 'tcp', null, 'unhealthy'],
    ],
  );
  t.same(m.get(key(POD_A))!.since, at(0));
  t.end();
});

t.test('hysteresis: unhealthy after failureThreshold failures, healthy after successThreshold passes', (t) => {
  const m = new HealthModel({ failureThreshold: 3, successThreshold: 2 });
  const sweep = (reason: 'ok' | 'timeout', s: number) => m.update(report([HOST], [row(HOST, '10.96.0.10', 'udp', reason)]), at(s));
  sweep('ok', 0);
  t.same(sweep('timeout', 1).transitions, [], '1 failure: still healthy');
  t.same(sweep('timeout', 2).transitions, [], '2 failures: still healthy');
  t.equal(m.get(key())!.consecutiveFailures, 2);
  t.equal(m.get(key())!.since.getTime(), at(0).getTime(), 'since is when the state began');
  const third = sweep('timeout', 3);
  t.same(
    third.transitions.map((x) => [x.from, x.to]),
    [['healthy', 'unhealthy']],
    'third failure turns it unhealthy, once',
  );
  t.same(m.get(key())!.since, at(3));
  t.same(sweep('timeout', 4).transitions, [], 'no repeated transition');
  t.same(sweep('ok', 5).transitions, [], 'one pass is not enough');
  t.equal(m.get(key())!.state, 'unhealthy');
  t.same(m.get(key())!.lastSuccessAt, at(5));
  t.same(sweep('timeout', 6).transitions, [], 'a failure resets the pass streak');
  sweep('ok', 7);
  const back = sweep('ok', 8);
  t.same(
    back.transitions.map((x) => [x.from, x.to]),
    [['unhealthy', 'healthy']],
  );
  t.same(m.get(key())!.since, at(8));
  t.equal(m.get(key())!.last.reason, 'ok');
  t.end();
});

t.test('thresholds of 1 flip at once; new thresholds apply to the next result', (t) => {
  const m = new HealthModel({ failureThreshold: 1, successThreshold: 1 });
  m.update(report([HOST], [row(HOST, '10.96.0.10', 'udp', 'ok')]), at(0));
  t.equal(m.update(report([HOST], [row(HOST, '10.96.0.10', 'udp', 'refused')]), at(1)).transitions.length, 1);
  t.equal(m.update(report([HOST], [row(HOST, '10.96.0.10', 'udp', 'ok')]), at(2)).transitions.length, 1);
  m.setThresholds({ failureThreshold: 2, successThreshold: 1 });
  t.equal(m.update(report([HOST], [row(HOST, '10.96.0.10', 'udp', 'refused')]), at(3)).transitions.length, 0);
  t.throws(() => m.setThresholds({ failureThreshold: 0, successThreshold: 1 }), /health.failureThreshold must be an integer of at least 1/);
  t.end();
});

t.test('cancelled and netns-gone results do not move the state', (t) => {
  const m = new HealthModel({ failureThreshold: 1, successThreshold: 1 });
  m.update(report([HOST], [row(HOST, '10.96.0.10', 'udp', 'ok')]), at(0));
  const u = m.update(report([HOST], [row(HOST, '10.96.0.10', 'udp', 'cancelled')]), at(1));
  t.same(u.transitions, []);
  t.same(u.removed, [], 'kept: the check was in the sweep');
  t.equal(m.get(key())!.state, 'healthy');
  t.equal(m.get(key())!.last.reason, 'ok', 'the last meaningful result stays');
  const fresh = m.update(report([HOST, POD_B], [row(HOST, '10.96.0.10', 'udp', 'ok'), row(POD_B, '10.96.0.10', 'udp', 'netns-gone')]), at(2));
  t.same(fresh.transitions, [], 'a new check whose first result is neutral is not created');
  t.equal(m.size, 1);
  t.end();
});

t.test('checks absent from a sweep are dropped; another pod in the same netns id starts afresh', (t) => {
  const m = new HealthModel({ failureThreshold: 3, successThreshold: 2 });
  m.update(uniform([HOST, POD_A, POD_B], '10.96.0.10', 'ok'), at(0));
  t.equal(m.size, 6);
  const u = m.update(uniform([HOST, POD_A], '10.96.0.10', 'ok', ['udp']), at(1));
  t.same(u.removed.map((c) => `${c.vantageLabel} ${c.transport}`).sort(), [
    'default/web-1 tcp',
    'host tcp',
    'netns:[4026532002] tcp',
    'netns:[4026532002] udp',
  ]);
  t.equal(m.size, 2);

  const reused = vantage(POD_A.inode, { podUid: 'uid-other' });
  m.update(report([HOST, reused], [row(HOST, '10.96.0.10', 'udp', 'ok'), row(reused, '10.96.0.10', 'udp', 'timeout')]), at(2));
  const c = m.get(key(reused))!;
  t.equal(c.state, 'unhealthy', 'no history carried over from the previous pod');
  t.equal(c.consecutiveFailures, 1);
  t.same(c.since, at(2));
  t.end();
});

t.test('checks() follows the order of labels as they change, and callers get their own array', (t) => {
  const m = new HealthModel({ failureThreshold: 1, successThreshold: 1 });
  const a = vantage(4026532101, { podNamespace: 'shop', podName: 'b-pod', podUid: 'uid-1' });
  const b = vantage(4026532102, { podNamespace: 'shop', podName: 'c-pod', podUid: 'uid-2' });
  const order = () => m.checks().map((c) => c.vantageLabel);
  m.update(uniform([HOST, a, b], '10.96.0.10', 'ok', ['udp']), at(0));
  t.same(order(), ['host', 'shop/b-pod', 'shop/c-pod']);
  const mine = m.checks();
  mine.reverse();
  t.same(order(), ['host', 'shop/b-pod', 'shop/c-pod'], 'reordering a returned array changes nothing');
  // a's pod name is learnt later (Docker): its label now sorts after b's.
  const renamed = { ...a, podName: 'd-pod' };
  m.update(uniform([HOST, renamed, b], '10.96.0.10', 'ok', ['udp']), at(1));
  t.same(order(), ['host', 'shop/c-pod', 'shop/d-pod']);
  m.update(uniform([HOST, renamed, b, vantage(4026532103, { podNamespace: 'shop', podName: 'a-pod', podUid: 'uid-3' })], '10.96.0.10', 'ok', ['udp']), at(2));
  t.same(order(), ['host', 'shop/a-pod', 'shop/c-pod', 'shop/d-pod'], 'a new check takes its place');
  m.update(uniform([HOST, b], '10.96.0.10', 'ok', ['udp']), at(3));
  t.same(order(), ['host', 'shop/c-pod'], 'checks gone are gone');
  t.end();
});

t.test('several queries and targets are separate checks; a duplicate row counts once', (t) => {
  const m = new HealthModel({ failureThreshold: 1, successThreshold: 1 });
  const aaaa = { ...QUERY, type: 'AAAA' as const };
  const rows = [
    row(HOST, '10.96.0.10', 'udp', 'ok'),
    row(HOST, '10.96.0.10', 'udp', 'ok', aaaa),
    row(HOST, '10.96.0.11', 'udp', 'timeout'),
    row(HOST, '10.96.0.11', 'udp', 'ok'),
  ];
  m.update(report([HOST], rows), at(0));
  t.same(
    m.checks().map((c) => `${c.targetLabel} ${c.query} ${c.state}`),
    [
      '10.96.0.10:53 kubernetes.default.svc.cluster.local A healthy',
      '10.96.0.10:53 kubernetes.default.svc.cluster.local AAAA healthy',
      '10.96.0.11:53 kubernetes.default.svc.cluster.local A unhealthy',
    ],
  );
  t.end();
});

t.test('labels: host, namespace/pod, netns id; collisions get the netns id; IPv6 targets in brackets', (t) => {
  t.equal(baseVantageLabel(HOST), 'host');
  t.equal(baseVantageLabel(POD_A), 'default/web-1');
  t.equal(baseVantageLabel(POD_B), 'netns:[4026532002]');
  const twin = vantage(4026532003, { podNamespace: 'default', podName: 'web-1' });
  t.same([...vantageLabels([HOST, POD_A, twin]).values()], ['host', 'default/web-1', 'default/web-1 netns:[4026532003]']);
  t.equal(podOf(POD_A), 'default/web-1');
  t.equal(podOf(POD_B), 'uid-b');
  t.equal(podOf(HOST), undefined);
  t.equal(targetLabel({ server: 'fd00::10', port: 53 }), '[fd00::10]:53');
  t.equal(targetLabel({ server: '10.0.0.1', port: 5353 }), '10.0.0.1:5353');
  t.end();
});

t.test('verdicts: override, starting, stale, unhealthy, empty groups', (t) => {
  const m = new HealthModel({ failureThreshold: 1, successThreshold: 1 });
  m.update(
    uniform([HOST, POD_A], '10.96.0.10', (v, tr) => (v === POD_A && tr === 'udp' ? 'timeout' : 'ok')),
    at(0),
  );
  const input = (over: Partial<VerdictInput> = {}): VerdictInput => ({
    checks: m.checks(),
    lastSweepAt: at(0),
    now: at(5),
    staleAfterMs: 60_000,
    override: 'none',
    ...over,
  });

  const all = evaluateAll(input());
  t.same(
    Object.fromEntries(GROUPS.map((g) => [g, all[g].status])),
    { all: 503, host: 200, pods: 503, udp: 503, tcp: 200 },
    'the pod UDP failure fails all, pods and udp only',
  );
  t.match(all.all.reason, /^unhealthy: 1 of 4 checks failing: default\/web-1 -> 10\.96\.0\.10:53 udp kubernetes\.default\.svc\.cluster\.local A: timeout/);
  t.equal(all.host.reason, 'ok: 2 host checks healthy');
  t.equal(all.pods.unhealthy, 1);
  t.equal(all.pods.checks, 2);

  t.equal(evaluate('all', input({ lastSweepAt: null })).reason, 'starting: no sweep has completed yet');
  const stale = evaluate('host', input({ now: at(61) }));
  t.equal(stale.status, 503);
  t.match(stale.reason, /^stale: the last sweep completed 61s ago, more than health\.staleAfter \(60s\)/);
  t.equal(evaluate('host', input({ now: at(60) })).status, 200, 'exactly staleAfter is not stale yet');

  const forcedUp = evaluate('pods', input({ override: 'healthy', lastSweepAt: null }));
  t.equal(forcedUp.status, 200, 'override healthy wins even before the first sweep');
  t.match(forcedUp.reason, /maintenance override/);
  t.equal(evaluate('host', input({ override: 'unhealthy' })).status, 503);

  t.equal(evaluate('pods', input({ checks: m.checks().filter((c) => c.vantage.hostNetwork) })).reason, 'ok: no pods checks');
  const none = evaluate('all', input({ checks: [] }));
  t.equal(none.status, 503, 'probing nothing at all is not healthy');
  t.match(none.reason, /probed nothing/);
  t.end();
});

t.test('a long list of failures names three and counts the rest', (t) => {
  const m = new HealthModel({ failureThreshold: 1, successThreshold: 1 });
  const pods = Array.from({ length: 5 }, (_, i) => vantage(4026533000 + i));
  m.update(uniform(pods, '10.96.0.10', 'timeout', ['udp']), at(0));
  const v = evaluate('all', { checks: m.checks(), lastSweepAt: at(0), now: at(0), staleAfterMs: 60_000, override: 'none' });
  t.match(v.reason, /^unhealthy: 5 of 5 checks failing: .*; and 2 more$/);
  t.equal(v.reason.split(' -> ').length - 1, 3);
  t.notMatch(v.reason, /\n/);
  t.end();
});

/* eslint-disable @typescript-eslint/no-explicit-any -- the /status document parsed back from JSON, checked field by field */
t.test('/status: every vantage and check with reason, RTT and since', (t) => {
  const m = new HealthModel({ failureThreshold: 1, successThreshold: 1 });
  const rep = uniform([HOST, POD_A], '10.96.0.10', (v, tr) => (v === POD_A && tr === 'tcp' ? 'refused' : 'ok'));
  rep.vantages.push({ vantage: POD_B, label: baseVantageLabel(POD_B), status: 'inaccessible', detail: 'EACCES' });
  m.update(rep, at(0));
  const checks = m.checks();
  const input = { checks, lastSweepAt: at(0), now: at(3), staleAfterMs: 60_000, override: 'none' as const };
  const doc = statusDocument({
    ...input,
    version: '1.2.3',
    startedAt: at(-10),
    sweeps: 1,
    lastSweep: { number: 1, startedAt: at(-1), completedAt: at(0), durationSeconds: 0.05 },
    sweepRunning: false,
    vantages: rep.vantages,
    verdicts: evaluateAll(input),
    discovery: { docker: 'off', scanErrors: 0 },
    config: { file: null, lastReloadAt: at(-10), lastReloadOk: true },
  }) as Record<string, any>;
  const json = JSON.parse(JSON.stringify(doc));
  t.equal(json.sweep.last.ageSeconds, 3);
  t.equal(json.health.pods.status, 503);
  t.same(
    json.vantages.map((v: any) => [v.label, v.status, v.checks, v.unhealthy]),
    [
      ['host', 'probed', 2, 0],
      ['default/web-1', 'probed', 2, 1],
      ['netns:[4026532002]', 'inaccessible', 0, 0],
    ],
  );
  t.equal(json.vantages[2].detail, 'EACCES');
  const bad = json.checks.find((c: any) => c.state === 'unhealthy');
  t.match(bad, {
    vantage: 'default/web-1',
    pod: 'default/web-1',
    target: '10.96.0.10:53',
    targetSource: 'resolv.conf',
    transport: 'tcp',
    query: 'kubernetes.default.svc.cluster.local A',
    since: at(0).toISOString(),
    lastSuccessAt: null,
    last: { ok: false, reason: 'refused', rttSeconds: null, detail: 'refused detail' },
  });
  const good = json.checks.find((c: any) => c.vantage === 'host' && c.transport === 'udp');
  t.equal(good.last.rttSeconds, 0.002);
  t.same(good.last.answers, ['10.96.0.1']);
  t.end();
});
/* eslint-enable @typescript-eslint/no-explicit-any */
