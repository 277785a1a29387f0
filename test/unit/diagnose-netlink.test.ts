// The rtnetlink dump parser, on dumps captured from real namespaces (the hex
// files were written by the addon's dumpInterfaces on an x86-64 kernel) and
// on hand-built and corrupted messages.
import t from 'tap';
import fs from 'node:fs';
import {
  AF_INET,
  AF_INET6,
  IFA,
  IFA_F,
  IFF,
  IFLA,
  IFNAMSIZ,
  MAX_ADDRESSES_PER_INTERFACE,
  MAX_INTERFACES,
  MAX_PROBLEMS,
  NLM_F_DUMP_INTR,
  parseInterfaceDump,
  RTM_NEWADDR,
  RTM_NEWLINK,
} from '../../src/diagnose/netlink.js';
import { repoPath } from '../support/paths.js';

const DIR = repoPath('test/fixtures/diagnose/netlink') + '/';
const dump = (name: string): Buffer => Buffer.from(fs.readFileSync(`${DIR}${name}.hex`, 'utf8').replace(/\s+/g, ''), 'hex');

// ---- a tiny message builder (little-endian, like the captures) ----
const align = (n: number): number => (n + 3) & ~3;
function attr(type: number, data: Buffer): Buffer {
  const b = Buffer.alloc(align(4 + data.length));
  b.writeUInt16LE(4 + data.length, 0);
  b.writeUInt16LE(type, 2);
  data.copy(b, 4);
  return b;
}
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const str = (s: string): Buffer => Buffer.from(`${s}\0`);
function msg(type: number, body: Buffer, flags = 0x2): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32LE(16 + body.length, 0);
  b.writeUInt16LE(type, 4);
  b.writeUInt16LE(flags, 6);
  return Buffer.concat([b, body, Buffer.alloc(align(body.length) - body.length)]);
}
function link(index: number, flags: number, attrs: Buffer[]): Buffer {
  const ifi = Buffer.alloc(16);
  ifi.writeInt32LE(index, 4);
  ifi.writeUInt32LE(flags, 8);
  return msg(RTM_NEWLINK, Buffer.concat([ifi, ...attrs]));
}
function addr(index: number, family: number, prefix: number, bytes: number[], opts: { scope?: number; flags?: number; extFlags?: number } = {}): Buffer {
  const ifa = Buffer.alloc(8);
  ifa[0] = family;
  ifa[1] = prefix;
  ifa[2] = opts.flags ?? 0;
  ifa[3] = opts.scope ?? 0;
  ifa.writeUInt32LE(index, 4);
  const attrs = [attr(family === AF_INET ? IFA.LOCAL : IFA.ADDRESS, Buffer.from(bytes))];
  if (opts.extFlags !== undefined) attrs.push(attr(IFA.FLAGS, u32(opts.extFlags)));
  return msg(RTM_NEWADDR, Buffer.concat([ifa, ...attrs]));
}

t.test('a healthy pod namespace (captured)', async (t) => {
  const p = parseInterfaceDump(dump('pod-ok'), 'LE');
  t.same(p.problems, []);
  t.equal(p.interrupted, false);
  t.same(
    p.interfaces.map((i) => [i.index, i.name, i.kind, i.up, i.lowerUp, i.loopback, i.operstate]),
    [
      [1, 'lo', null, true, true, true, 'unknown'],
      [2, 'eth0', 'veth', true, true, false, 'up'],
    ],
  );
  const eth0 = p.interfaces[1]!;
  t.equal(eth0.link, 5244, "IFLA_LINK: the host end's ifindex");
  t.equal(eth0.linkNetnsId, 0, 'the peer is in another namespace');
  t.equal(eth0.master, null);
  t.equal(eth0.mtu, 1500);
  const global = eth0.addresses.filter((a) => a.scope === 'global').map((a) => `${a.address}/${a.prefixLength}`);
  t.same(global, ['10.244.1.5/24', 'fd00:244:1::5/64']);
  t.same(
    p.interfaces[0]!.addresses.map((a) => [a.address, a.scope]),
    [
      ['127.0.0.1', 'host'],
      ['::1', 'host'],
    ],
  );
  t.equal(p.interfaces[0]!.link, null, 'loopback has no peer');
});

t.test('faulty namespaces (captured): peer down, interface down, no address, loopback only, loopback down', async (t) => {
  const eth0 = (name: string) => parseInterfaceDump(dump(name), 'LE').interfaces.find((i) => i.name === 'eth0');
  const peerDown = eth0('pod-peer-down')!;
  t.same([peerDown.up, peerDown.lowerUp, peerDown.operstate, peerDown.link], [true, false, 'down', 5245]);
  const down = eth0('pod-eth0-down')!;
  t.same([down.up, down.lowerUp], [false, false]);
  const noAddr = eth0('pod-no-address')!;
  t.same([noAddr.up, noAddr.lowerUp], [true, true]);
  t.same(
    noAddr.addresses.filter((a) => a.scope === 'global'),
    [],
  );
  t.same(
    parseInterfaceDump(dump('pod-lo-only'), 'LE').interfaces.map((i) => i.name),
    ['lo'],
  );
  const lo = parseInterfaceDump(dump('pod-lo-down'), 'LE').interfaces.find((i) => i.loopback)!;
  t.equal(lo.up, false);
});

t.test('built messages: flags, IFA_FLAGS, nested kind, tentative addresses, other families', async (t) => {
  const linkinfo = attr(IFLA.LINKINFO | 0x8000, attr(1, str('veth')));
  const buf = Buffer.concat([
    link(3, IFF.UP | IFF.LOWER_UP | IFF.RUNNING, [attr(IFLA.IFNAME, str('net1')), linkinfo, attr(IFLA.MASTER, u32(9)), attr(IFLA.OPERSTATE, Buffer.from([6]))]),
    addr(3, AF_INET, 16, [192, 168, 7, 1]),
    addr(3, AF_INET6, 64, [0xfd, 0, ...Array<number>(13).fill(0), 7], { flags: IFA_F.TENTATIVE }),
    addr(3, AF_INET6, 64, [0xfd, 1, ...Array<number>(13).fill(0), 7], { flags: 0, extFlags: IFA_F.DADFAILED | 0x100 }),
    addr(3, 17 /* AF_PACKET */, 0, [1, 2, 3, 4]),
  ]);
  const p = parseInterfaceDump(buf, 'LE');
  t.same(p.problems, []);
  const i = p.interfaces[0]!;
  t.same([i.name, i.kind, i.master, i.operstate, i.running, i.link], ['net1', 'veth', 9, 'up', true, null]);
  t.same(
    i.addresses.map((a) => [a.address, a.unusable]),
    [
      ['192.168.7.1', false],
      ['fd00::7', true],
      ['fd01::7', true],
    ],
  );
});

t.test('malformed dumps give problems, never a throw', async (t) => {
  const good = link(1, IFF.UP | IFF.LOOPBACK, [attr(IFLA.IFNAME, str('lo'))]);
  const cases: Array<[string, Buffer, RegExp]> = [
    ['a header longer than the dump', Buffer.concat([good, good.subarray(0, 20)]), /overruns|trailing/],
    [
      'an attribute overrunning its message',
      (() => {
        const b = Buffer.from(link(2, 0, [attr(IFLA.IFNAME, str('eth0'))]));
        b.writeUInt16LE(200, 32); // the IFNAME attribute claims 200 bytes
        return b;
      })(),
      /attributes overrun/,
    ],
    ['an RTM_NEWLINK shorter than ifinfomsg', msg(RTM_NEWLINK, Buffer.alloc(8)), /shorter than ifinfomsg/],
    ['an address without an address', msg(RTM_NEWADDR, Buffer.from([AF_INET, 24, 0, 0, 1, 0, 0, 0])), /has no address/],
    ['an address of an unknown interface', addr(42, AF_INET, 24, [10, 0, 0, 1]), /interface 42, which the link dump did not list/],
    ['a link without a name', link(5, 0, []), /no IFLA_IFNAME/],
    ['a prefix too long', addr(1, AF_INET, 40, [10, 0, 0, 1]), /prefix length 40/],
    ['a length field below the header size', Buffer.concat([good, Buffer.from([4, 0, 0, 0, 16, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])]), /length 4/],
  ];
  for (const [what, buf, problem] of cases) {
    const p = parseInterfaceDump(Buffer.concat([good, buf]), 'LE');
    t.match(p.problems.join('\n'), problem, what);
    t.equal(p.interfaces[0]?.name, 'lo', `${what}: what could be parsed is kept`);
  }
  const intr = parseInterfaceDump(msg(RTM_NEWLINK, link(1, 0, [attr(IFLA.IFNAME, str('lo'))]).subarray(16), 0x2 | NLM_F_DUMP_INTR), 'LE');
  t.equal(intr.interrupted, true);
  t.same(parseInterfaceDump(Buffer.alloc(0)).interfaces, []);
  for (let i = 0; i < 300; i++) {
    const junk = Buffer.from(Array.from({ length: 64 + (i % 200) }, () => Math.floor(Math.random() * 256)));
    t.doesNotThrow(() => parseInterfaceDump(Buffer.concat([good, junk]), 'LE'));
  }
  // Corrupt a real dump byte by byte around its headers: never a throw.
  const real = dump('pod-ok');
  for (let off = 0; off < 400; off += 3) {
    const b = Buffer.from(real);
    b[off] = b[off]! ^ 0xff;
    t.doesNotThrow(() => parseInterfaceDump(b, 'LE'), `byte ${off}`);
  }
});

t.test('bounded: interface and address caps, names cut at IFNAMSIZ - 1, problems capped and counted', async (t) => {
  const links = Array.from({ length: MAX_INTERFACES + 10 }, (_, i) => link(i + 1, IFF.UP, [attr(IFLA.IFNAME, str(`d${i}`))]));
  const p = parseInterfaceDump(Buffer.concat(links), 'LE');
  t.equal(p.interfaces.length, MAX_INTERFACES);
  t.same(p.problems, [`more than ${MAX_INTERFACES} interfaces: 10 not read`]);

  const addrs = Array.from({ length: MAX_ADDRESSES_PER_INTERFACE + 5 }, (_, i) => addr(1, AF_INET, 24, [10, 0, i >> 8, i & 255]));
  const a = parseInterfaceDump(Buffer.concat([link(1, IFF.UP, [attr(IFLA.IFNAME, str('eth0'))]), ...addrs]), 'LE');
  t.equal(a.interfaces[0]!.addresses.length, MAX_ADDRESSES_PER_INTERFACE);
  t.same(a.problems, [`interface 1 has more than ${MAX_ADDRESSES_PER_INTERFACE} addresses: 5 not read`]);

  const long = parseInterfaceDump(link(1, 0, [attr(IFLA.IFNAME, str('x'.repeat(5000))), attr(IFLA.LINKINFO, attr(1, str('k'.repeat(500))))]), 'LE');
  t.equal(long.interfaces[0]!.name, 'x'.repeat(IFNAMSIZ - 1));
  t.equal(long.interfaces[0]!.kind, 'k'.repeat(32));

  const orphans = Array.from({ length: 40 }, (_, i) => addr(100 + i, AF_INET, 24, [10, 1, 0, i]));
  const o = parseInterfaceDump(Buffer.concat(orphans), 'LE');
  t.equal(o.problemCount, 40);
  t.equal(o.problems.length, MAX_PROBLEMS + 1);
  t.equal(o.problems[MAX_PROBLEMS], '…and 24 more');
  t.same(
    parseInterfaceDump(new Uint8Array(link(1, IFF.UP, [attr(IFLA.IFNAME, str('lo'))])), 'LE').interfaces.map((i) => i.name),
    ['lo'],
    'a Uint8Array is read too',
  );
});
