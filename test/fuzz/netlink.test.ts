// Fuzzing the rtnetlink dump parser: valid nlmsghdr/rtattr framing with
// random lengths, types and payloads (link and address messages, nested
// IFLA_LINKINFO, names of any length), truncated dumps, and pure random
// bytes, in both byte orders. Never a throw, a result bounded by the caps, and
// problems that never quote the bytes.
import t from 'tap';
import fc from 'fast-check';
import {
  AF_INET,
  AF_INET6,
  IFA,
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
import { checkInterfaces } from '../../src/diagnose/interfaces.js';
import { vantage } from '../fixtures/diagnose/sweep-rows.js';
import { checkProperty, echoed, expect } from '../support/fuzz.js';

type Endian = 'LE' | 'BE';
const align = (n: number): number => (n + 3) & ~3;

function u16(v: number, e: Endian): Buffer {
  const b = Buffer.alloc(2);
  if (e === 'LE') b.writeUInt16LE(v & 0xffff);
  else b.writeUInt16BE(v & 0xffff);
  return b;
}
function u32(v: number, e: Endian): Buffer {
  const b = Buffer.alloc(4);
  if (e === 'LE') b.writeUInt32LE(v >>> 0);
  else b.writeUInt32BE(v >>> 0);
  return b;
}

/** An attribute: its length right (most of the time) or random; payload padded to 4 bytes. */
interface AttrSpec {
  type: number;
  payload: Uint8Array;
  badLen: number | null;
}
function attr(a: AttrSpec, e: Endian): Buffer {
  const len = a.badLen ?? 4 + a.payload.length;
  const body = Buffer.concat([u16(len, e), u16(a.type, e), Buffer.from(a.payload)]);
  return Buffer.concat([body, Buffer.alloc(align(body.length) - body.length)]);
}

const bytes = (max: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ maxLength: max });
const badLen = fc.option(fc.integer({ min: 0, max: 0xffff }), { freq: 8 });
const name = fc
  .oneof(
    fc.constantFrom('lo', 'eth0', 'veth1234', 'net1', 'a-very-long-interface-name-indeed'),
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.integer({ min: 16, max: 3000 }).map((n) => 'x'.repeat(n)),
  )
  .map((s) => new Uint8Array(Buffer.from(`${s}\0`)));

const plainAttr = (types: number[], payload: fc.Arbitrary<Uint8Array>): fc.Arbitrary<AttrSpec> =>
  fc.record({ type: fc.oneof(fc.constantFrom(...types), fc.integer({ min: 0, max: 0xffff })), payload, badLen });

function linkAttrs(e: Endian): fc.Arbitrary<Buffer[]> {
  const simple = plainAttr([IFLA.ADDRESS, IFLA.MTU, IFLA.LINK, IFLA.MASTER, IFLA.OPERSTATE, IFLA.CARRIER, IFLA.LINK_NETNSID], bytes(8));
  const ifname = fc.record({ type: fc.constant(IFLA.IFNAME), payload: name, badLen });
  const linkinfo = fc
    .tuple(
      fc.array(fc.record({ type: fc.constantFrom(1, 2, 3), payload: fc.oneof(name, bytes(20)), badLen }), { maxLength: 3 }),
      fc.constantFrom(0, 0x8000),
      badLen,
    )
    .map(([inner, nested, bl]) => ({ type: IFLA.LINKINFO | nested, payload: new Uint8Array(Buffer.concat(inner.map((a) => attr(a, e)))), badLen: bl }));
  return fc.array(fc.oneof(simple, ifname, linkinfo), { maxLength: 8 }).map((as) => as.map((a) => attr(a, e)));
}

function linkMsg(e: Endian): fc.Arbitrary<Buffer> {
  return fc.tuple(fc.integer({ min: -5, max: 40 }), fc.nat(), linkAttrs(e), fc.integer({ min: 0, max: 16 })).map(([index, flags, attrs, ifiLen]) => {
    const ifi = Buffer.concat([Buffer.alloc(4), u32(index, e), u32(flags, e), Buffer.alloc(4)]).subarray(0, ifiLen);
    return Buffer.concat([ifi, ...(ifiLen === 16 ? attrs : [])]);
  });
}

function addrMsg(e: Endian): fc.Arbitrary<Buffer> {
  const addrAttr = fc.record({
    type: fc.oneof(fc.constantFrom(IFA.ADDRESS, IFA.LOCAL, IFA.LABEL, IFA.FLAGS), fc.integer({ min: 0, max: 0xffff })),
    payload: fc.oneof(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.uint8Array({ minLength: 16, maxLength: 16 }), bytes(24), name),
    badLen,
  });
  return fc
    .tuple(
      fc.oneof(fc.constantFrom(AF_INET, AF_INET6), fc.integer({ min: 0, max: 255 })),
      fc.integer({ min: 0, max: 255 }),
      fc.integer({ min: 0, max: 255 }),
      fc.constantFrom(0, 200, 253, 254, 255, 7),
      fc.integer({ min: -2, max: 40 }),
      fc.array(addrAttr, { maxLength: 5 }),
      fc.integer({ min: 0, max: 8 }),
    )
    .map(([family, prefix, flags, scope, index, attrs, ifaLen]) => {
      const ifa = Buffer.concat([Buffer.from([family, prefix, flags, scope]), u32(index, e)]).subarray(0, ifaLen);
      return Buffer.concat([ifa, ...(ifaLen === 8 ? attrs.map((a) => attr(a, e)) : [])]);
    });
}

/** One nlmsghdr + body: the length right (mostly) or random, any type and flags. */
function message(e: Endian): fc.Arbitrary<Buffer> {
  return fc
    .tuple(
      fc.oneof(
        { arbitrary: fc.constant(RTM_NEWLINK), weight: 4 },
        { arbitrary: fc.constant(RTM_NEWADDR), weight: 4 },
        { arbitrary: fc.integer({ min: 0, max: 0xffff }), weight: 1 },
      ),
      fc.oneof(
        { arbitrary: fc.constant(2), weight: 4 },
        { arbitrary: fc.constant(2 | NLM_F_DUMP_INTR), weight: 1 },
        { arbitrary: fc.integer({ min: 0, max: 0xffff }), weight: 1 },
      ),
      fc.option(fc.oneof(fc.integer({ min: 0, max: 64 }), fc.nat()), { freq: 10 }),
    )
    .chain(([type, flags, len]) =>
      (type === RTM_NEWADDR ? addrMsg(e) : type === RTM_NEWLINK ? linkMsg(e) : bytes(40)).map((body) => {
        const hdr = Buffer.concat([u32(len ?? 16 + body.length, e), u16(type, e), u16(flags, e), u32(1, e), u32(0, e)]);
        const m = Buffer.concat([hdr, body]);
        return Buffer.concat([m, Buffer.alloc(align(m.length) - m.length)]);
      }),
    );
}

const dump: fc.Arbitrary<[Buffer, Endian]> = fc.constantFrom<Endian>('LE', 'BE').chain((e) =>
  fc.oneof(
    {
      arbitrary: fc.tuple(fc.array(message(e), { maxLength: 24 }), fc.option(fc.nat(), { freq: 5 })).map(([ms, cut]): [Buffer, Endian] => {
        const b = Buffer.concat(ms);
        return [cut === null || b.length === 0 ? b : b.subarray(0, cut % b.length), e]; // now and then truncated anywhere
      }),
      weight: 8,
    },
    { arbitrary: bytes(2048).map((b): [Buffer, Endian] => [Buffer.from(b), e]), weight: 2 },
    // Many small link messages (the cap itself, 4,096, is tested in diagnose-netlink.test.ts).
    { arbitrary: fc.integer({ min: 1, max: 300 }).map((n): [Buffer, Endian] => [many(n, e), e]), weight: 1 },
  ),
);

function many(n: number, e: Endian): Buffer {
  const out: Buffer[] = [];
  for (let i = 1; i <= n; i++) {
    const nm = attr({ type: IFLA.IFNAME, payload: Buffer.from(`d${i}\0`), badLen: null }, e);
    const body = Buffer.concat([Buffer.alloc(4), u32(i, e), u32(1, e), Buffer.alloc(4), nm]);
    out.push(Buffer.concat([u32(16 + body.length, e), u16(RTM_NEWLINK, e), u16(2, e), u32(1, e), u32(0, e), body]));
  }
  return Buffer.concat(out);
}

const V = vantage({ pid: 5 });

t.test('parseInterfaceDump: never throws, bounded, no echo; the interfaces check on it never throws', async (t) => {
  checkProperty(t, 'parseInterfaceDump', dump, ([buf, e]) => {
    const p = parseInterfaceDump(buf, e);
    expect(p.interfaces.length <= MAX_INTERFACES, `${p.interfaces.length} interfaces`);
    expect(p.problems.length <= MAX_PROBLEMS + 1 && p.problemCount >= Math.min(p.problems.length, MAX_PROBLEMS), 'problems capped and counted');
    expect(
      p.problems.every((x) => x.length <= 160),
      'problems are short',
    );
    for (const i of p.interfaces) {
      expect(Buffer.byteLength(i.name) <= 3 * (IFNAMSIZ - 1) && i.name.length <= IFNAMSIZ - 1, `name of ${i.name.length} characters`);
      expect(i.kind === null || i.kind.length <= 32, 'kind capped');
      expect(i.addresses.length <= MAX_ADDRESSES_PER_INTERFACE, 'addresses per interface capped');
      for (const a of i.addresses) expect(a.prefixLength <= (a.family === 4 ? 32 : 128), 'prefix length');
    }
    const quoted = echoed(p.problems, buf.toString('latin1'), 24);
    expect(quoted === null, `a problem quotes the dump: ${JSON.stringify(quoted)}`);
    const findings = checkInterfaces(V, {
      dump: { ok: true, parsed: p },
      peers: new Map(),
      hostRouteIfaces: new Set(),
      routeIfaces: new Set(['eth0']),
      loopbackServer: true,
      failing: true,
    });
    expect(JSON.stringify(findings).length <= 64 * 1024, `findings of ${JSON.stringify(findings).length} characters`);
  });
});
