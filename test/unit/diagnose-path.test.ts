import t from 'tap';
import { checkPath, targetRoles } from '../../src/diagnose/path.js';
import { HOST, both, row, target, vantage } from '../fixtures/diagnose/sweep-rows.js';

const A = vantage({ pid: 2101, podNamespace: 'shop', podName: 'a' });
const B = vantage({ pid: 2201, podNamespace: 'shop', podName: 'b' });
const SVC = target('10.96.0.10', 'dns-service', 'kube-system/kube-dns');
const SVC_AS_NS = target('10.96.0.10', 'resolv.conf');
const P1 = target('10.244.0.5', 'coredns-pod', 'kube-system/coredns-1');
const P2 = target('10.244.0.6', 'coredns-pod', 'kube-system/coredns-2');
const codes = (fs: { code: string; vantage: string }[]) => fs.map((f) => [f.code, f.vantage]);

t.test('target roles: the strongest source anywhere, and the Kubernetes Service IPs', async (t) => {
  const roles = targetRoles([row(A, SVC_AS_NS, 'udp', 'ok'), row(HOST, SVC, 'udp', 'ok'), row(A, target('10.0.0.1', 'resolv.conf'), 'udp', 'ok')]);
  t.same(
    [...roles.values()].map((r) => [r.key, r.role, r.target.label ?? null]),
    [
      ['10.96.0.10:53', 'dns-service', 'kube-system/kube-dns'],
      ['10.0.0.1:53', 'resolv.conf', null],
    ],
  );
  const byKube = targetRoles([row(A, SVC_AS_NS, 'udp', 'ok')], ['10.96.0.10']);
  t.equal(byKube.get('10.96.0.10:53')?.role, 'dns-service');
});

t.test('the Service fails while the pods answer: from every vantage a node finding, else per vantage', async (t) => {
  const rows = [HOST, A, B].flatMap((v) => [
    ...both(v, v === HOST ? SVC : SVC_AS_NS, 'timeout', 'timeout'),
    ...both(v, P1, 'ok', 'ok'),
    ...both(v, P2, 'ok', 'ok'),
  ]);
  const f = checkPath(rows, { vantages: [HOST, A, B] });
  t.same(codes(f), [['path/service-fails-pods-answer', 'node']]);
  // An isolated vantage (where nothing answers) does not break "every vantage".
  const C = vantage({ pid: 2301 });
  const withIsolated = [...rows, ...both(C, SVC_AS_NS, 'timeout', 'timeout'), ...both(C, P1, 'timeout', 'timeout'), ...both(C, P2, 'timeout', 'timeout')];
  t.same(
    codes(checkPath(withIsolated, { vantages: [HOST, A, B, C] })).filter(([c]) => c === 'path/service-fails-pods-answer'),
    [['path/service-fails-pods-answer', 'node']],
  );
  t.match(
    f[0]!.message,
    /The DNS Service 10\.96\.0\.10:53 \(kube-system\/kube-dns\) fails over UDP and TCP from every vantage \(3; timeout ×6\) while the CoreDNS pods 10\.244\.0\.5:53 \(kube-system\/coredns-1\), 10\.244\.0\.6:53 \(kube-system\/coredns-2\) answer/,
  );

  const one = [...both(HOST, SVC, 'ok', 'ok'), ...both(HOST, P1, 'ok', 'ok'), ...both(A, SVC_AS_NS, 'timeout', 'ok'), ...both(A, P1, 'ok', 'ok')];
  const g = checkPath(one, { vantages: [HOST, A] });
  t.same(codes(g), [['path/service-fails-pods-answer', A.id]]);
  t.match(g[0]!.message, /fails over UDP from this vantage \(timeout\)/);
  t.same(g[0]!.evidence.transports, ['udp']);
});

t.test('one CoreDNS pod fails from every vantage while the other answers', async (t) => {
  const rows = [HOST, A, B].flatMap((v) => [...both(v, P1, 'ok', 'ok'), ...both(v, P2, 'timeout', 'refused')]);
  const f = checkPath(rows, { vantages: [HOST, A, B] });
  t.same(codes(f), [['path/one-server-fails', 'node']]);
  t.match(
    f[0]!.message,
    /CoreDNS pod 10\.244\.0\.6:53 \(kube-system\/coredns-2\) fails from every vantage \(3 vantages; refused ×3, timeout ×3\) while 10\.244\.0\.5:53 \(kube-system\/coredns-1\) answers: that pod is sick/,
  );
  t.equal(f[0]!.id, 'node/path/one-server-fails/10.244.0.6:53');
  // From one vantage it answers: not "every vantage".
  const partly = [...rows.filter((r) => !(r.vantage === B && r.target === P2)), ...both(B, P2, 'ok', 'ok')];
  t.same(checkPath(partly, { vantages: [HOST, A, B] }), []);
  // Static servers are compared among themselves.
  const s1 = target('10.1.0.1');
  const s2 = target('10.1.0.2');
  const stat = checkPath([...both(A, s1, 'ok', 'ok'), ...both(A, s2, 'timeout', 'timeout')], { vantages: [A] });
  t.match(stat[0]!.message, /^DNS server 10\.1\.0\.2:53 fails from every vantage \(1 vantage; timeout ×2\) while 10\.1\.0\.1:53 answers: that server is down/);
  // All of them failing is no single sick server.
  t.same(checkPath([...both(A, P1, 'timeout', 'timeout'), ...both(A, P2, 'timeout', 'timeout')], { vantages: [A] }), []);
});

t.test('everything fails from one namespace while the host answers', async (t) => {
  const rows = [...both(HOST, SVC, 'ok', 'ok'), ...both(A, SVC_AS_NS, 'timeout', 'timeout'), ...both(B, SVC_AS_NS, 'ok', 'ok')];
  const f = checkPath(rows, { vantages: [HOST, A, B] });
  t.same(codes(f), [['path/netns-isolated', A.id]]);
  t.match(
    f[0]!.message,
    /Every probe from this network namespace fails \(timeout ×2\) while the host reaches 10\.96\.0\.10:53: the fault is in this pod's network/,
  );
  // Every pod namespace failing while the host answers: the node's pod network.
  const all = [...both(HOST, SVC, 'ok', 'ok'), ...both(A, SVC_AS_NS, 'timeout', 'timeout'), ...both(B, SVC_AS_NS, 'unreachable', 'timeout')];
  const g = checkPath(all, { vantages: [HOST, A, B] });
  t.same(codes(g), [['path/netns-isolated', 'node']]);
  t.match(g[0]!.message, /pod network of this node is broken/);
  // Without the host, or without a server in common with it, nothing is said.
  t.same(
    checkPath(
      rows.filter((r) => r.vantage !== HOST),
      { vantages: [A, B] },
    ),
    [],
  );
  const noCommon = [...both(HOST, target('192.0.2.53'), 'ok', 'ok'), ...both(A, SVC_AS_NS, 'timeout', 'timeout')];
  t.same(checkPath(noCommon, { vantages: [HOST, A] }), []);
});
