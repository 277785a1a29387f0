import t from 'tap';
import { checkResolvConf, MAX_SEARCH_CHARS } from '../../src/diagnose/resolv-conf.js';
import { parseResolvConf, readResolvConf } from '../../src/discovery/resolv-conf.js';
import type { KubeFacts, ResolvConfRead } from '../../src/model.js';
import { both, row, target, vantage } from '../fixtures/diagnose/sweep-rows.js';
import { repoPath } from '../support/paths.js';

const NODE_A = repoPath('test/fixtures/diagnose/node-a/proc');
const V = vantage({ pid: 2201, podUid: 'uid-wrong', podNamespace: 'shop', podName: 'cart-1' });
const read = (text: string): ResolvConfRead => ({ path: '/proc/2201/root/etc/resolv.conf', parsed: parseResolvConf(text) });
const KUBE: KubeFacts = {
  dnsServiceIps: ['10.96.0.10'],
  pods: [
    { uid: 'uid-wrong', namespace: 'shop', name: 'cart-1', dnsPolicy: 'ClusterFirst' },
    { namespace: 'shop', name: 'byname', dnsPolicy: 'ClusterFirst' },
    { uid: 'uid-default', namespace: 'shop', name: 'legacy', dnsPolicy: 'Default' },
  ],
};
const codes = (fs: { code: string }[]) => fs.map((f) => f.code);

t.test('a good ClusterFirst resolv.conf has no finding', async (t) => {
  const r = read('search shop.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n');
  t.same(checkResolvConf(V, r, [], { kube: KUBE, nodeLocalDns: [] }), []);
  const local = read('nameserver 169.254.20.10\n');
  t.same(checkResolvConf(V, local, [], { kube: KUBE, nodeLocalDns: ['169.254.20.10'] }), [], 'a node-local DNS address is fine');
});

t.test('ClusterFirst pod pointing at the wrong server (Kubernetes data known)', async (t) => {
  const wrong = read('nameserver 10.0.0.99\n');
  const f = checkResolvConf(V, wrong, [], { kube: KUBE, nodeLocalDns: ['169.254.20.10'] });
  t.same(
    f.map((x) => [x.code, x.severity]),
    [['resolv-conf/not-cluster-dns', 'error']],
  );
  t.match(
    f[0]!.message,
    /Pod shop\/cart-1 has dnsPolicy ClusterFirst, but .* names 10\.0\.0\.99, not the cluster DNS Service IP 10\.96\.0\.10 or node-local DNS 169\.254\.20\.10/,
  );
  t.same(f[0]!.evidence.unexpected, ['10.0.0.99']);
  const extra = checkResolvConf(V, read('nameserver 10.96.0.10\nnameserver 8.8.8.8\n'), [], { kube: KUBE, nodeLocalDns: [] });
  t.same(
    extra.map((x) => [x.code, x.severity]),
    [['resolv-conf/not-cluster-dns', 'warning']],
  );
  // By namespace/name when there is no UID; dnsPolicy Default is not checked; no Kubernetes, no check.
  const byName = vantage({ pid: 9, podNamespace: 'shop', podName: 'byname' });
  t.same(codes(checkResolvConf(byName, wrong, [], { kube: KUBE, nodeLocalDns: [] })), ['resolv-conf/not-cluster-dns']);
  t.same(checkResolvConf(vantage({ pid: 9, podUid: 'uid-default' }), wrong, [], { kube: KUBE, nodeLocalDns: [] }), []);
  t.same(checkResolvConf(V, wrong, [], { nodeLocalDns: [] }), []);
  t.same(checkResolvConf({ ...V, hostNetwork: true }, wrong, [], { kube: KUBE, nodeLocalDns: [] }), [], 'the host has no pod');
});

t.test('the nameserver fails while another server answers from the same vantage (no Kubernetes data needed)', async (t) => {
  const ns = target('10.0.0.99', 'resolv.conf');
  const good = target('10.96.0.10', 'static');
  const rows = [...both(V, ns, 'timeout', 'timeout'), ...both(V, good, 'ok', 'ok')];
  const f = checkResolvConf(V, read('nameserver 10.0.0.99\n'), rows, { nodeLocalDns: [] });
  t.same(codes(f), ['resolv-conf/nameserver-fails', 'resolv-conf/options']);
  t.match(f[0]!.message, /Nameserver 10\.0\.0\.99 .* fails from this vantage \(timeout ×2\) while 10\.96\.0\.10:53 answers/);
  t.equal(f[0]!.id, `${V.id}/resolv-conf/nameserver-fails/10.0.0.99`);
  // The cluster DNS Service or node-local DNS failing is the path check's, not a wrong resolv.conf.
  const svcRows = [...both(V, target('10.96.0.10', 'resolv.conf'), 'timeout', 'timeout'), ...both(V, target('10.244.0.5', 'coredns-pod'), 'ok', 'ok')];
  t.same(codes(checkResolvConf(V, read('nameserver 10.96.0.10\n'), svcRows, { kube: KUBE, nodeLocalDns: [] })), ['resolv-conf/options']);
  t.same(codes(checkResolvConf(V, read('nameserver 10.96.0.10\n'), svcRows, { nodeLocalDns: ['10.96.0.10'] })), ['resolv-conf/options']);
  t.same(
    codes(checkResolvConf(V, read('nameserver 10.96.0.10\n'), svcRows, { nodeLocalDns: [] })),
    ['resolv-conf/nameserver-fails', 'resolv-conf/options'],
    'unknown without Kubernetes data',
  );
  // Everything failing is not this finding (that is the path check's).
  const allFail = [...both(V, ns, 'timeout', 'timeout'), ...both(V, good, 'timeout', 'timeout')];
  t.same(codes(checkResolvConf(V, read('nameserver 10.0.0.99\n'), allFail, { nodeLocalDns: [] })), ['resolv-conf/options']);
});

t.test('search list limits: too many domains, too many characters', async (t) => {
  const many = read(`search ${Array.from({ length: 8 }, (_, i) => `d${i}.example`).join(' ')}\nnameserver 10.96.0.10\n`);
  const f = checkResolvConf(V, many, [], { nodeLocalDns: [] });
  t.same(codes(f), ['resolv-conf/search-too-many']);
  t.same(f[0]!.evidence.dropped, ['d6.example', 'd7.example']);
  const long = read(`search ${Array.from({ length: 5 }, (_, i) => `${String(i).repeat(60)}.example`).join(' ')}\nnameserver 10.96.0.10\n`);
  const g = checkResolvConf(V, long, [], { nodeLocalDns: [] });
  t.same(codes(g), ['resolv-conf/search-too-long']);
  t.ok((g[0]!.evidence.characters as number) >= MAX_SEARCH_CHARS);
  t.same(
    checkResolvConf(V, read(`search ${Array.from({ length: 6 }, (_, i) => `d${i}.x`).join(' ')}\nnameserver 10.96.0.10\n`), [], { nodeLocalDns: [] }),
    [],
    'six is fine',
  );
});

t.test('options are reported for a failing vantage, with the worst-case lookup time', async (t) => {
  const r = read('search a.local b.local\nnameserver 10.96.0.10\nnameserver 10.96.0.11\noptions ndots:5 timeout:3 attempts:4 single-request-reopen\n');
  const rows = [row(V, target('10.96.0.10', 'resolv.conf'), 'udp', 'timeout')];
  const f = checkResolvConf(V, r, rows, { nodeLocalDns: [] });
  t.same(
    f.map((x) => [x.code, x.severity]),
    [['resolv-conf/options', 'info']],
  );
  t.match(
    f[0]!.message,
    /ndots 5, timeout 3 s, attempts 4, 2 nameservers: a lookup whose servers do not answer takes up to 24 s; a name with fewer than 5 dots is tried with each of the 2 search domains first/,
  );
  t.same(f[0]!.evidence.options, { ndots: 5, timeout: 3, attempts: 4, other: ['single-request-reopen'] });
  t.same(checkResolvConf(V, r, [row(V, target('10.96.0.10', 'resolv.conf'), 'udp', 'ok')], { nodeLocalDns: [] }), [], 'not for a passing vantage');
});

t.test('missing, empty and malformed files: findings about the file, never a throw', async (t) => {
  const absent = await readResolvConf({ root: `${NODE_A}/2401/root`, path: '/etc/resolv.conf' });
  const f = checkResolvConf(V, absent, [], { kube: KUBE, nodeLocalDns: [] });
  t.same(
    f.map((x) => [x.code, x.severity]),
    [['resolv-conf/unreadable', 'error']],
  );
  t.match(f[0]!.message, /does not exist: the resolver of this container has no nameserver/);
  const denied: ResolvConfRead = { path: '/x', parsed: parseResolvConf(''), error: { code: 'EACCES', message: 'cannot read resolv.conf /x: EACCES (denied)' } };
  t.match(checkResolvConf(V, denied, [], { nodeLocalDns: [] })[0]!.message, /EACCES/);

  t.same(codes(checkResolvConf(V, read(''), [], { nodeLocalDns: [] })), ['resolv-conf/no-nameserver']);
  const bad = checkResolvConf(V, await readResolvConf({ root: `${NODE_A}/2201/root`, path: '/etc/resolv.conf' }), [], { kube: KUBE, nodeLocalDns: [] });
  t.same(codes(bad), ['resolv-conf/malformed', 'resolv-conf/not-cluster-dns', 'resolv-conf/search-too-many']);
  t.match(bad[0]!.message, /line 3: nameserver is not a valid IPv4 or IPv6 address \(and 1 more problem\)/);
  t.same(bad[0]!.evidence.problems, ['line 3: nameserver is not a valid IPv4 or IPv6 address', 'line 4: unknown keyword']);
  const four = checkResolvConf(V, read('nameserver 10.0.0.1\nnameserver 10.0.0.2\nnameserver 10.0.0.3\nnameserver 10.0.0.4\n'), [], { nodeLocalDns: [] });
  t.same(codes(four), ['resolv-conf/ignored-nameservers']);
  t.same(four[0]!.evidence.ignored, ['10.0.0.4']);
  for (let i = 0; i < 200; i++) {
    const junk = Buffer.from(Array.from({ length: 200 }, () => Math.floor(Math.random() * 256))).toString('latin1');
    t.doesNotThrow(() => checkResolvConf(V, read(`nameserver ${junk}\nsearch ${junk}\noptions ${junk}\n${junk}`), [], { kube: KUBE, nodeLocalDns: [] }));
  }
});

t.test('a hostile search line: findings keep the right counts with bounded evidence (issue 10)', async (t) => {
  const domains = Array.from({ length: 100_000 }, (_, i) => `d${i}.example`);
  const r = read(`search ${domains.join(' ')}\nnameserver 10.96.0.10\n${'bogus\n'.repeat(500)}`);
  const f = checkResolvConf(V, r, [row(V, target('10.96.0.10', 'resolv.conf'), 'udp', 'timeout')], { nodeLocalDns: [] });
  t.same(codes(f), ['resolv-conf/malformed', 'resolv-conf/search-too-many', 'resolv-conf/search-too-long', 'resolv-conf/options']);
  const [malformed, many, long, options] = f as [(typeof f)[0], (typeof f)[0], (typeof f)[0], (typeof f)[0]];
  t.match(malformed.message, /line 1: 100000 search domains; resolvers may truncate the list \(and 500 more problems\)/);
  t.match(many.message, /has 100000 search domains: .* so short names under d6\.example, .* and \d+ more are not found/);
  t.equal(many.evidence.count, 100_000);
  t.equal(many.evidence.droppedCount, 100_000 - 6);
  t.equal(long.evidence.characters, domains.join(' ').length);
  t.match(options.message, /each of the 100000 search domains first/);
  t.ok(JSON.stringify(f).length < 64 * 1024, `findings are ${JSON.stringify(f).length} characters`);

  const ignored = checkResolvConf(V, read(Array.from({ length: 50 }, (_, i) => `nameserver 10.0.1.${i}`).join('\n')), [], { nodeLocalDns: [] });
  t.same(codes(ignored), ['resolv-conf/ignored-nameservers']);
  t.match(ignored[0]!.message, /names 50 nameservers; resolvers use only the first 3 and ignore 10\.0\.1\.3, .*10\.0\.1\.18 and 31 more\./);
});
