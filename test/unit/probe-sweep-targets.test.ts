// Which targets a vantage probes: its own nameservers, then configured and
// watched targets, one per server:port under the most specific source.
import t from 'tap';
import { targetsFor } from '../../src/probe/sweep.js';
import { type Target } from '../../src/model.js';

const own: Target[] = [
  { server: '10.96.0.10', port: 53, source: 'resolv.conf' },
  { server: '10.0.0.2', port: 53, source: 'resolv.conf' },
];

t.test('a pod nameserver that is the DNS Service IP is probed once, as the Service', async (t) => {
  const watched: Target[] = [
    { server: '10.244.1.5', port: 53, source: 'coredns-pod', label: 'kube-system/coredns-a' },
    { server: '10.96.0.10', port: 53, source: 'dns-service', label: 'kube-system/kube-dns' },
  ];
  const got = targetsFor(own, watched);
  t.same(
    got.map((x) => `${x.server}:${x.port}/${x.source}`),
    ['10.96.0.10:53/dns-service', '10.0.0.2:53/resolv.conf', '10.244.1.5:53/coredns-pod'],
  );
  t.equal(got[0]!.label, 'kube-system/kube-dns');
});

t.test('a static target does not take over a watched one, and other ports stay apart', async (t) => {
  const got = targetsFor(own, [
    { server: '10.96.0.10', port: 53, source: 'dns-service' },
    { server: '10.96.0.10', port: 53, source: 'static' },
    { server: '10.96.0.10', port: 5353, source: 'static' },
  ]);
  t.same(
    got.map((x) => `${x.server}:${x.port}/${x.source}`),
    ['10.96.0.10:53/dns-service', '10.0.0.2:53/resolv.conf', '10.96.0.10:5353/static'],
  );
});
