import t from 'tap';
import { checkFirewall } from '../../src/diagnose/firewall.js';
import { HOST, both, row, target, vantage } from '../fixtures/diagnose/sweep-rows.js';

const V = vantage({ pid: 2101 });

t.test('EPERM on send: a rule in this namespace drops DNS, by protocol and port', async (t) => {
  const svc = target('10.96.0.10', 'resolv.conf');
  const pod = target('10.244.0.5', 'coredns-pod');
  const rows = [...both(V, svc, 'blocked-locally', 'ok'), ...both(V, pod, 'blocked-locally', 'ok')];
  const f = checkFirewall(V, rows);
  t.same(
    f.map((x) => [x.code, x.severity, x.evidence.protocol, x.evidence.port]),
    [['firewall/blocked-locally', 'error', 'udp', 53]],
  );
  t.match(f[0]!.message, /A firewall rule in this network namespace drops DNS over UDP to port 53: send to 10\.244\.0\.5, 10\.96\.0\.10 failed with EPERM\./);
  t.same(f[0]!.evidence.servers, ['10.244.0.5', '10.96.0.10']);
  t.equal(f[0]!.evidence.syscall, 'send');
  t.equal(f[0]!.id, `${V.id}/firewall/blocked-locally/udp/53`);
});

t.test('TCP and UDP blocked on different ports are separate findings; a selective rule says so', async (t) => {
  const a = target('10.96.0.10', 'static');
  const b = target('10.96.0.11', 'static', undefined, 5353);
  const c = target('10.96.0.12', 'static');
  const rows = [row(V, a, 'tcp', 'blocked-locally'), row(V, b, 'udp', 'blocked-locally'), row(V, c, 'tcp', 'ok')];
  const f = checkFirewall(V, rows);
  t.same(
    f.map((x) => x.id.split('/').slice(-2).join('/')),
    ['tcp/53', 'udp/5353'],
  );
  t.match(f[0]!.message, /over TCP to port 53: connect to 10\.96\.0\.10 failed with EPERM \(other TCP traffic to port 53 from here got out/);
  t.match(f[1]!.message, /over UDP to port 5353/);
  const host = checkFirewall(HOST, [row(HOST, a, 'udp', 'blocked-locally')]);
  t.match(host[0]!.message, /in the host network namespace/);
  t.same(checkFirewall(V, [row(V, a, 'udp', 'timeout'), row(V, a, 'udp', 'ok')]), [], 'timeouts are not a local firewall');
});
