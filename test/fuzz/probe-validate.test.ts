// Fuzzing DNS reply validation (a DNS server's reply is untrusted): valid
// headers with random sections, names with labels of any bytes and
// compression pointers anywhere (forward, to themselves, in chains and loops),
// wrong IDs and questions, cut-short and mutated replies, pure random bytes.
// A malformed reply is a failed validation (reason bad-reply), never an
// exception; a Verdict is bounded whatever the reply; nothing not ours passes.
import t from 'tap';
import fc from 'fast-check';
import dnsPacket from 'dns-packet';
import {
  MAX_ANSWERS,
  MAX_DETAIL,
  decodeReply,
  nameDecodingSteps,
  nameStepBudget,
  readHeader,
  validateReply,
  type Expectation,
} from '../../src/probe/validate.js';
import { REASONS } from '../../src/model.js';
import { MAX_FIELD } from '../../src/text/untrusted.js';
import { checkProperty, expect } from '../support/fuzz.js';

const ID = 0x4d2;
const NAME = 'kubernetes.default.svc.cluster.local';
const QTYPES = { A: 1, AAAA: 28 } as const;

const u16 = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n & 0xffff);
  return b;
};
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};

/** Our question name as labels. */
const ourName = (): Buffer => Buffer.concat([...NAME.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);

/** A wire name: labels of any bytes, ending in the root, a pointer anywhere, or nothing at all. */
const wireName = fc.oneof(
  { arbitrary: fc.constant(ourName()), weight: 4 },
  { arbitrary: fc.constant(Buffer.from([0xc0, 0x0c])), weight: 4 }, // a pointer to the question name
  {
    arbitrary: fc
      .tuple(
        fc.array(
          fc.oneof(
            fc.uint8Array({ minLength: 1, maxLength: 63 }),
            fc.constantFrom('a', 'cluster', '\x1b[2J', 'x'.repeat(63)).map((s) => Buffer.from(s)),
          ),
          { maxLength: 8 },
        ),
        fc.oneof(
          fc.constant(Buffer.from([0])),
          fc.integer({ min: 0, max: 0x3fff }).map((o) => u16(0xc000 | o)),
          fc.constant(Buffer.alloc(0)),
          fc.integer({ min: 0x40, max: 0xbf }).map((b) => Buffer.from([b])),
        ),
      )
      .map(([labels, end]) => Buffer.concat([...labels.map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), end])),
    weight: 3,
  },
);

const TYPES = [1, 2, 5, 6, 12, 15, 16, 17, 28, 33, 35, 39, 41, 43, 46, 47, 48, 50, 52, 99, 255, 65280];

/** RDATA of the type's shape (mostly) or random bytes. */
function rdata(type: number): fc.Arbitrary<Buffer> {
  const random = fc.uint8Array({ maxLength: 64 }).map((b) => Buffer.from(b));
  const shaped: Record<number, fc.Arbitrary<Buffer>> = {
    1: fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => Buffer.from(b)),
    28: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((b) => Buffer.from(b)),
    5: wireName,
    2: wireName,
    12: wireName,
    15: fc.tuple(fc.nat(0xffff), wireName).map(([p, n]) => Buffer.concat([u16(p), n])),
    33: fc.tuple(fc.nat(0xffff), fc.nat(0xffff), fc.nat(0xffff), wireName).map(([a, b, c, n]) => Buffer.concat([u16(a), u16(b), u16(c), n])),
    6: fc.tuple(wireName, wireName, fc.uint8Array({ minLength: 20, maxLength: 20 })).map(([m, r, rest]) => Buffer.concat([m, r, Buffer.from(rest)])),
    16: fc
      .array(fc.uint8Array({ maxLength: 40 }), { maxLength: 4 })
      .map((ss) => Buffer.concat(ss.map((s) => Buffer.concat([Buffer.from([s.length]), Buffer.from(s)])))),
  };
  return shaped[type] ? fc.oneof({ arbitrary: shaped[type], weight: 4 }, { arbitrary: random, weight: 1 }) : random;
}

const record = fc
  .tuple(wireName, fc.oneof(fc.constantFrom(...TYPES), fc.nat(0xffff)), fc.oneof(fc.constant(1), fc.nat(0xffff)), fc.nat())
  .chain(([owner, type, klass, ttl]) =>
    fc
      .tuple(rdata(type), fc.option(fc.nat(0xffff), { freq: 10 }))
      .map(([data, badLen]) => Buffer.concat([owner, u16(type), u16(klass), u32(ttl), u16(badLen ?? data.length), data])),
  );

const question = fc.oneof(
  { arbitrary: fc.constant(Buffer.concat([ourName(), u16(QTYPES.A), u16(1)])), weight: 5 },
  {
    arbitrary: fc
      .tuple(wireName, fc.oneof(fc.constantFrom(1, 28, 33), fc.nat(0xffff)), fc.oneof(fc.constant(1), fc.nat(0xffff)))
      .map(([n, ty, c]) => Buffer.concat([n, u16(ty), u16(c)])),
    weight: 2,
  },
);

/** A header (our ID and a response, mostly) and sections; counts right (mostly) or random. */
const structured = fc
  .tuple(
    fc.oneof({ arbitrary: fc.constant(ID), weight: 4 }, { arbitrary: fc.nat(0xffff), weight: 1 }),
    fc.record({
      qr: fc.oneof({ arbitrary: fc.constant(true), weight: 4 }, { arbitrary: fc.boolean(), weight: 1 }),
      opcode: fc.oneof(fc.constant(0), fc.nat(15)),
      tc: fc.boolean(),
      rcode: fc.oneof(fc.constant(0), fc.nat(15)),
    }),
    fc.array(question, { maxLength: 3 }),
    fc.array(record, { maxLength: 12 }),
    fc.nat(12),
    fc.option(fc.tuple(fc.nat(0xffff), fc.nat(0xffff), fc.nat(0xffff), fc.nat(0xffff)), { freq: 8 }),
  )
  .map(([id, f, qs, rs, split, counts]) => {
    const an = Math.min(split, rs.length);
    const flags = (f.qr ? 0x8000 : 0) | (f.opcode << 11) | (f.tc ? 0x0200 : 0) | 0x0100 | 0x0080 | f.rcode;
    const [qd, anc, ns, ar] = counts ?? [qs.length, an, rs.length - an, 0];
    return Buffer.concat([u16(id), u16(flags), u16(qd), u16(anc), u16(ns), u16(ar), ...qs, ...rs]);
  });

/** A good reply from dns-packet, then bytes flipped and cut. */
const mutated = fc
  .tuple(fc.array(fc.ipV4(), { maxLength: 20 }), fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 6 }), fc.option(fc.nat(), { freq: 3 }))
  .map(([ips, flips, cut]) => {
    const b = dnsPacket.encode({
      type: 'response',
      id: ID,
      flags: dnsPacket.RECURSION_AVAILABLE,
      questions: [{ name: NAME, type: 'A', class: 'IN' }],
      answers: ips.map((ip) => ({ type: 'A' as const, name: NAME, ttl: 5, class: 'IN' as const, data: ip })),
    });
    for (const [at, v] of flips) b[at % b.length] = v;
    return cut === null ? b : b.subarray(0, cut % (b.length + 1));
  });

/** Pointer chains: every name a pointer to the one before (quadratic work for a naive decoder). */
const chains = fc.tuple(fc.integer({ min: 1, max: 3000 }), fc.boolean()).map(([n, asRecords]) => {
  const parts: Buffer[] = [];
  let o = 12;
  let prev = 12;
  parts.push(Buffer.concat([Buffer.from([0]), u16(1), u16(1)]));
  o += 5;
  for (let i = 0; i < n; i++) {
    const item = asRecords
      ? Buffer.concat([u16(0xc000 | prev), u16(1), u16(1), u32(5), u16(4), Buffer.from([10, 0, 0, 1])])
      : Buffer.concat([u16(0xc000 | prev), u16(1), u16(1)]);
    parts.push(item);
    if (o < 0x3fff) prev = o;
    o += item.length;
  }
  return Buffer.concat([u16(ID), u16(0x8180), u16(asRecords ? 1 : n + 1), u16(asRecords ? n : 0), u16(0), u16(0), ...parts]);
});

const reply = fc.oneof(
  { arbitrary: structured, weight: 8 },
  { arbitrary: mutated, weight: 4 },
  { arbitrary: fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b)), weight: 2 },
  { arbitrary: chains, weight: 1 },
  { arbitrary: fc.tuple(structured, fc.nat()).map(([b, cut]) => b.subarray(0, cut % (b.length + 1))), weight: 2 },
);

const expectation = fc.record({
  requireAnswers: fc.boolean(),
  expect: fc.option(fc.array(fc.ipV4(), { minLength: 1, maxLength: 3 }), { freq: 3 }),
  match: fc.constantFrom<'equal' | 'contain'>('equal', 'contain'),
  maxBytes: fc.option(fc.integer({ min: 0, max: 70_000 }), { freq: 3 }),
});

const REASON_SET = new Set<string>(REASONS);

t.test('validateReply: never throws; a bounded verdict; nothing not ours passes', async (t) => {
  checkProperty(t, 'validateReply', fc.tuple(reply, expectation), ([buf, e]) => {
    const exp: Expectation = {
      id: ID,
      question: { name: NAME, type: 'A', class: 'IN' },
      validRcodes: ['NOERROR'],
      requireAnswers: e.requireAnswers,
      expectMatch: e.match,
    };
    if (e.expect) exp.expectAnswers = e.expect;
    if (e.maxBytes !== null) exp.maxBytes = e.maxBytes;
    const v = validateReply(buf, exp);
    expect(REASON_SET.has(v.reason), `reason ${v.reason}`);
    expect(v.ok === (v.reason === 'ok'), 'ok iff reason ok');
    expect(v.detail === undefined || v.detail.length <= MAX_DETAIL + 32, `detail of ${v.detail?.length} characters`);
    expect(v.answers.length <= MAX_ANSWERS + 1 && v.answers.every((a) => a.length <= MAX_FIELD + 32), 'answers capped');
    expect(v.rcode === null || v.rcode.length <= 12, 'rcode name');
    expect(JSON.stringify(v).length <= 6 * (MAX_DETAIL + (MAX_ANSWERS + 1) * (MAX_FIELD + 40)) + 200, 'verdict bounded');
    const h = readHeader(buf);
    if (h === null || h.id !== ID || !h.qr || h.opcode !== 0) expect(!v.ok, 'a reply that is not ours never passes');
    const d = decodeReply(buf, exp.maxBytes);
    if (!d.ok) expect(!v.ok && v.reason === 'bad-reply', 'a malformed reply is a bad-reply verdict');
    if (v.ok) {
      expect(d.ok && d.packet.questions?.length === 1 && d.packet.id === ID, 'a passing reply decodes, with our ID and one question');
      expect(v.tc === false, 'a passing reply is not truncated');
    }
  });
});

t.test('nameDecodingSteps: never throws; long pointer chains are refused before dns-packet walks them', async (t) => {
  checkProperty(t, 'nameDecodingSteps', reply, (buf) => {
    const s = nameDecodingSteps(buf);
    expect(s.ok ? Number.isFinite(s.steps) && s.steps >= 0 : s.detail.length <= 80, 'a count or a short problem');
    const d = decodeReply(buf);
    if (d.ok) expect(s.ok && s.steps <= nameStepBudget(buf.length), 'a decoded reply was within the budget');
  });
});
