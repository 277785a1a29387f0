import t from 'tap';
import { checkProtocol } from '../../src/diagnose/protocol.js';
import { HOST, both, row, target, vantage } from '../fixtures/diagnose/sweep-rows.js';

const A = vantage({ pid: 2101, podNamespace: 'shop', podName: 'a' });
const B = vantage({ pid: 2201, podNamespace: 'shop', podName: 'b' });
const S = target('10.244.0.5', 'coredns-pod', 'kube-system/coredns-1');

t.test('a server answering TCP only, from every vantage: one node finding', async (t) => {
  const rows = [...both(HOST, S, 'refused', 'ok'), ...both(A, S, 'refused', 'ok'), ...both(B, S, 'refused', 'ok')];
  const f = checkProtocol(rows);
  t.same(
    f.map((x) => [x.code, x.vantage, x.severity]),
    [['protocol/udp-fails-tcp-answers', 'node', 'error']],
  );
  t.match(
    f[0]!.message,
    /10\.244\.0\.5:53 \(kube-system\/coredns-1\) answers over TCP but not over UDP from every vantage \(3; UDP: refused ×3\).*HTTP health check/,
  );
  t.equal(f[0]!.id, 'node/protocol/udp-fails-tcp-answers/10.244.0.5:53');
});

t.test('UDP failing from one vantage only: a finding on that vantage', async (t) => {
  const rows = [...both(HOST, S, 'ok', 'ok'), ...both(A, S, 'timeout', 'ok'), ...both(B, S, 'ok', 'ok')];
  const f = checkProtocol(rows);
  t.same(
    f.map((x) => [x.code, x.vantage]),
    [['protocol/udp-fails-tcp-answers', A.id]],
  );
  t.match(f[0]!.message, /from this vantage \(UDP: timeout\), unlike from 2 other vantages: UDP is dropped on this path/);
  t.same(f[0]!.pod, { namespace: 'shop', name: 'a' });
});

t.test('TCP failing while UDP answers; one vantage alone is never "every vantage"', async (t) => {
  const f = checkProtocol([...both(A, S, 'ok', 'timeout')]);
  t.same(
    f.map((x) => [x.code, x.vantage, x.severity]),
    [['protocol/tcp-fails-udp-answers', A.id, 'warning']],
  );
  t.match(f[0]!.message, /truncated/);
});

t.test('nothing to compare: both fail, both pass, one transport only, mixed results', async (t) => {
  t.same(checkProtocol([...both(A, S, 'timeout', 'timeout'), ...both(B, S, 'ok', 'ok')]), []);
  t.same(checkProtocol([row(A, S, 'udp', 'timeout')]), []);
  const mixed = [...both(A, S, 'timeout', 'ok'), row(A, S, 'udp', 'ok')];
  t.same(checkProtocol(mixed), [], 'UDP that sometimes works is not "UDP fails"');
});
