// The interfaces check on captured namespace dumps, with the host ends of
// the veth pairs read from the node-a sysfs fixture.
import t from 'tap';
import fs from 'node:fs';
import { checkInterfaces, localAddresses, usable, type InterfaceFacts } from '../../src/diagnose/interfaces.js';
import { parseInterfaceDump } from '../../src/diagnose/netlink.js';
import { findPeer, listHostLinks, parseSysHex, parseSysInt, readHostLink, type HostLink } from '../../src/diagnose/sysfs-net.js';
import { vantage } from '../fixtures/diagnose/sweep-rows.js';
import { repoPath } from '../support/paths.js';

const NETLINK = repoPath('test/fixtures/diagnose/netlink') + '/';
const SYS = repoPath('test/fixtures/diagnose/node-a/sys');
const parsed = (name: string) => parseInterfaceDump(Buffer.from(fs.readFileSync(`${NETLINK}${name}.hex`, 'utf8').replace(/\s+/g, ''), 'hex'), 'LE');
const V = vantage({ pid: 2101, podNamespace: 'default', podName: 'web-1', podUid: 'u-1' });

function facts(name: string, over: Partial<InterfaceFacts> = {}): InterfaceFacts {
  return {
    dump: { ok: true, parsed: parsed(name) },
    peers: new Map(),
    hostRouteIfaces: new Set(),
    routeIfaces: new Set(['eth0']),
    loopbackServer: false,
    failing: true,
    ...over,
  };
}

async function peerOf(linkIndex: number): Promise<HostLink | undefined> {
  const { links, problems } = await listHostLinks(SYS);
  if (problems.length) throw new Error(problems.join('; '));
  const l = findPeer(links, 2, linkIndex);
  return l && readHostLink(SYS, l);
}

t.test('sysfs: parsing, listing and the veth peer match', async (t) => {
  t.equal(parseSysInt('5244\n'), 5244);
  t.equal(parseSysInt('x'), null);
  t.equal(parseSysHex('0x1003\n'), 0x1003);
  t.equal(parseSysHex('1003'), null);
  const { links } = await listHostLinks(SYS);
  t.same(
    links.map((l) => l.name),
    ['cni0', 'eth0', 'lo', 'vethpeer2', 'vethweb1', 'vetheth3'].sort(),
  );
  const web = await peerOf(5244);
  t.same(web, { name: 'vethweb1', ifindex: 5244, iflink: 2, flags: 0x1003, up: true, operstate: 'up', master: 'cni0' });
  const down = await peerOf(5245);
  t.equal(down?.up, false);
  t.equal(await peerOf(9999), undefined, 'a peer not visible on the host');
  t.equal(findPeer(links, 4, 4), undefined, 'a device whose iflink is itself is no veth end');
  const missing = await listHostLinks('/nonexistent-sys');
  t.match(missing.problems[0], /cannot list \/nonexistent-sys\/class\/net: ENOENT/);
});

t.test('a healthy namespace has no finding', async (t) => {
  const peers = new Map([[2, (await peerOf(5244))!]]);
  t.same(checkInterfaces(V, facts('pod-ok', { peers })), []);
  t.ok(usable(parsed('pod-ok').interfaces[1]!));
  t.same([...localAddresses({ ok: true, parsed: parsed('pod-ok') })].filter((a) => !a.startsWith('fe80')).sort(), [
    '10.244.1.5',
    '127.0.0.1',
    '::1',
    'fd00:244:1::5',
  ]);
});

t.test('interface down, no carrier, peer down, no address, loopback only, loopback down', async (t) => {
  const down = checkInterfaces(V, facts('pod-eth0-down'));
  t.same(
    down.map((f) => [f.code, f.severity, f.evidence.interface]),
    [['interfaces/down', 'error', 'eth0']],
  );
  t.match(down[0]!.message, /eth0 is administratively down/);
  t.same(down[0]!.pod, { uid: 'u-1', namespace: 'default', name: 'web-1' });

  const noCarrier = checkInterfaces(V, facts('pod-peer-down'));
  t.same(
    noCarrier.map((f) => f.code),
    ['interfaces/no-carrier'],
    'without the host side: no carrier',
  );
  const peers = new Map([[2, (await peerOf(5245))!]]);
  const peerDown = checkInterfaces(V, facts('pod-peer-down', { peers }));
  t.same(
    peerDown.map((f) => f.code),
    ['interfaces/peer-down'],
    'with it: the host end is down',
  );
  t.match(peerDown[0]!.message, /host-side veth peer vethpeer2 is down/);

  t.same(
    checkInterfaces(V, facts('pod-no-address')).map((f) => f.code),
    ['interfaces/no-address'],
  );
  t.same(
    checkInterfaces(V, facts('pod-lo-only')).map((f) => [f.code, f.severity]),
    [['interfaces/no-interface', 'error']],
  );
  // Issue 10: a loopback-only namespace whose loopback resolver (127.0.0.53) answers works: not an error.
  const stub = checkInterfaces(V, facts('pod-lo-only', { loopbackServer: true, loopbackAnswers: true }));
  t.same(
    stub.map((f) => [f.code, f.severity]),
    [['interfaces/no-interface', 'info']],
  );
  t.match(stub[0]!.message, /its loopback nameserver answers/);
  t.same(
    checkInterfaces(V, facts('pod-lo-only', { loopbackServer: true, loopbackAnswers: false })).map((f) => f.severity),
    ['error'],
    'one that does not answer is still an error',
  );
  const lo = checkInterfaces(V, facts('pod-lo-down'));
  t.same(
    lo.map((f) => [f.code, f.severity]),
    [['interfaces/loopback-down', 'warning']],
  );
  t.same(
    checkInterfaces(V, facts('pod-lo-down', { loopbackServer: true })).map((f) => f.severity),
    ['error'],
  );
});

t.test('an interface problem off the DNS path is not a finding while another interface works', async (t) => {
  const ok = parsed('pod-ok');
  const bad = parsed('pod-eth0-down').interfaces[1]!;
  const two = { ...ok, interfaces: [...ok.interfaces, { ...bad, index: 3, name: 'net1' }] };
  t.same(checkInterfaces(V, facts('pod-ok', { dump: { ok: true, parsed: two } })), []);
  const onPath = checkInterfaces(V, facts('pod-ok', { dump: { ok: true, parsed: two }, routeIfaces: new Set(['net1']) }));
  t.same(
    onPath.map((f) => [f.code, f.evidence.interface]),
    [['interfaces/down', 'net1']],
  );
});

t.test('a detached host end is reported only when DNS fails and no host route uses it', async (t) => {
  const detached: HostLink = { name: 'cali123', ifindex: 5244, iflink: 2, flags: 0x1003, up: true, operstate: 'up', master: null };
  const peers = new Map([[2, detached]]);
  t.same(
    checkInterfaces(V, facts('pod-ok', { peers })).map((f) => [f.code, f.severity]),
    [['interfaces/peer-detached', 'warning']],
  );
  t.same(checkInterfaces(V, facts('pod-ok', { peers, failing: false })), []);
  t.same(checkInterfaces(V, facts('pod-ok', { peers, hostRouteIfaces: new Set(['cali123']) })), [], 'routed CNIs (Calico) point a host route at it');
});

t.test('an unreadable or incomplete dump is a finding about the dump', async (t) => {
  const f = checkInterfaces(V, { ...facts('pod-ok'), dump: { ok: false, error: 'setns: EPERM (interfaces of /proc/2101/ns/net)' } });
  t.same(
    f.map((x) => [x.code, x.severity]),
    [['interfaces/unreadable', 'warning']],
  );
  t.match(f[0]!.message, /setns: EPERM/);
  const p = parsed('pod-ok');
  const partial = checkInterfaces(V, facts('pod-ok', { dump: { ok: true, parsed: { ...p, interrupted: true, problems: ['message 3: x'] } } }));
  t.same(
    partial.map((x) => x.code),
    ['interfaces/unreadable'],
  );
  t.same(partial[0]!.evidence.problems, ['the dump was interrupted by a concurrent change', 'message 3: x']);
});

t.test('bounded: thousands of broken interfaces give a few findings with short evidence', async (t) => {
  const base = parsed('pod-eth0-down');
  const down = base.interfaces[1]!;
  const many = { ...base, interfaces: [base.interfaces[0]!, ...Array.from({ length: 3000 }, (_, i) => ({ ...down, index: 10 + i, name: `d${i}` }))] };
  const f = checkInterfaces(V, facts('pod-ok', { dump: { ok: true, parsed: many }, routeIfaces: new Set() }));
  t.equal(f.length, 16, 'at most 16 per-interface findings');
  t.ok(f.every((x) => x.code === 'interfaces/down'));
  t.same((f[0]!.evidence.interfaces as string[]).slice(-1), ['…and 2985 more'], 'evidence lists 16 interfaces, then a count');
  t.ok(JSON.stringify(f).length < 64 * 1024, `${JSON.stringify(f).length} characters`);
  const counted = checkInterfaces(
    V,
    facts('pod-ok', { dump: { ok: true, parsed: { ...parsed('pod-ok'), problems: ['message 1: x', '…and 40 more'], problemCount: 41 } } }),
  );
  t.match(counted[0]!.message, /message 1: x \(and 40 more problems\)/, 'the count covers the problems beyond the cap');
});
