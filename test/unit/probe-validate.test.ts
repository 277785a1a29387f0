import t from 'tap';
import dnsPacket from 'dns-packet';
import type { Answer, Packet } from 'dns-packet';
import type { Question } from '../../src/probe/query.js';
import {
  checkAnswersPresent,
  checkExpected,
  checkHeader,
  checkQuestion,
  checkRcode,
  decodeReply,
  decodeUsualReply,
  MAX_ANSWERS,
  MAX_DETAIL,
  nameDecodingSteps,
  normalizeIp,
  rcodeName,
  readHeader,
  sameName,
  validateReply,
  validateReplyFully,
  type Expectation,
} from '../../src/probe/validate.js';

const NAME = 'kubernetes.default.svc.cluster.local';
const Q: Question = { name: NAME, type: 'A', class: 'IN' };
const ID = 0x1234;
const RCODE: Record<string, number> = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 };

interface ReplyOpts {
  id?: number;
  rcode?: string;
  tc?: boolean;
  qr?: boolean;
  opcode?: number;
  questions?: Packet['questions'];
  answers?: Answer[];
  additionals?: Answer[];
}

const a = (data: string, name = NAME): Answer => ({ type: 'A', name, ttl: 5, class: 'IN', data });

/** A reply to Q (one A record for 10.96.0.1 unless told otherwise). */
function reply(o: ReplyOpts = {}): Buffer {
  const flags =
    dnsPacket.RECURSION_DESIRED |
    dnsPacket.RECURSION_AVAILABLE |
    (o.tc ? dnsPacket.TRUNCATED_RESPONSE : 0) |
    ((o.opcode ?? 0) << 11) |
    RCODE[o.rcode ?? 'NOERROR']!;
  return dnsPacket.encode({
    type: o.qr === false ? 'query' : 'response',
    id: o.id ?? ID,
    flags,
    questions: o.questions ?? [{ name: NAME, type: 'A', class: 'IN' }],
    answers: o.answers ?? [a('10.96.0.1')],
    additionals: o.additionals ?? [],
  });
}

const exp = (o: Partial<Expectation> = {}): Expectation => ({ id: ID, question: Q, validRcodes: ['NOERROR'], requireAnswers: false, ...o });
const decoded = (buf: Buffer) => {
  const d = decodeReply(buf);
  if (!d.ok) throw new Error(`test reply does not decode: ${d.detail}`);
  return d.packet;
};

t.test('a valid reply passes every check', async (t) => {
  const v = validateReply(reply(), exp({ requireAnswers: true, expectAnswers: ['10.96.0.1'] }));
  t.same(v, { ok: true, reason: 'ok', rcode: 'NOERROR', answers: ['10.96.0.1'], tc: false });
});

t.test('header: ID, QR and opcode', async (t) => {
  const idMismatch = validateReply(reply({ id: ID + 1 }), exp());
  t.match(idMismatch, { ok: false, reason: 'bad-reply', rcode: null, detail: /ID 4661 does not match query ID 4660/ });
  t.match(validateReply(reply({ qr: false }), exp()), { ok: false, reason: 'bad-reply', detail: /not a response/ });
  t.match(validateReply(reply({ opcode: 2 }), exp()), { ok: false, reason: 'bad-reply', detail: /opcode is 2/ });
  t.same(checkHeader(decoded(reply()), ID), { ok: true });
});

t.test('question must match: name case-insensitively, type, class, count', async (t) => {
  const upper = reply({ questions: [{ name: NAME.toUpperCase(), type: 'A', class: 'IN' }] });
  t.match(validateReply(upper, exp()), { ok: true }, 'case differs (0x20 randomisation) is fine');
  const cases: Array<[string, Packet['questions']]> = [
    ['other name', [{ name: 'kubernetes.default.svc.cluster.locak', type: 'A', class: 'IN' }]],
    ['other type', [{ name: NAME, type: 'AAAA', class: 'IN' }]],
    ['other class', [{ name: NAME, type: 'A', class: 'CH' }]],
    ['no question', []],
    [
      'two questions',
      [
        { name: NAME, type: 'A', class: 'IN' },
        { name: NAME, type: 'A', class: 'IN' },
      ],
    ],
  ];
  for (const [what, questions] of cases) {
    t.match(validateReply(reply({ questions }), exp()), { ok: false, reason: 'bad-reply', rcode: null, answers: [] }, what);
  }
  t.equal(checkQuestion(decoded(reply()), Q).ok, true);
  t.ok(sameName('A.b.', 'a.B'));
  t.notOk(sameName('a.b', 'a.c'));
  t.ok(sameName('.', '.'));
});

t.test('rcode against the allowed set', async (t) => {
  t.match(validateReply(reply({ rcode: 'NXDOMAIN', answers: [] }), exp()), {
    ok: false,
    reason: 'rcode',
    rcode: 'NXDOMAIN',
    detail: /NXDOMAIN is not one of NOERROR/,
  });
  t.match(validateReply(reply({ rcode: 'SERVFAIL', answers: [] }), exp()), { ok: false, reason: 'rcode', rcode: 'SERVFAIL' });
  t.match(
    validateReply(reply({ rcode: 'REFUSED', answers: [] }), exp()),
    { ok: false, reason: 'rcode', rcode: 'REFUSED' },
    'the REFUSED rcode is not a refused connection',
  );
  t.match(validateReply(reply({ rcode: 'NXDOMAIN', answers: [] }), exp({ validRcodes: ['NOERROR', 'NXDOMAIN'] })), { ok: true, rcode: 'NXDOMAIN' });
  t.equal(checkRcode(decoded(reply({ rcode: 'SERVFAIL' })), ['SERVFAIL']).ok, true);
  // EDNS: the OPT record holds the upper 8 bits; 1 << 4 | 0 is BADVERS (16).
  const opt: Answer = { type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 1, ednsVersion: 0, flags: 0, flag_do: false, options: [] };
  t.match(validateReply(reply({ additionals: [opt] }), exp()), { ok: false, reason: 'rcode', rcode: 'BADVERS' });
  t.equal(rcodeName(0), 'NOERROR');
  t.equal(rcodeName(12), 'RCODE12');
});

t.test('answers present', async (t) => {
  t.match(validateReply(reply({ answers: [] }), exp()), { ok: true, answers: [] }, 'NODATA is fine unless answers are required');
  t.match(validateReply(reply({ answers: [] }), exp({ requireAnswers: true })), { ok: false, reason: 'no-answer', rcode: 'NOERROR' });
  const cnameOnly = reply({ answers: [{ type: 'CNAME', name: NAME, ttl: 5, class: 'IN', data: 'other.example' }] });
  t.match(
    validateReply(cnameOnly, exp({ requireAnswers: true })),
    { ok: false, reason: 'no-answer', answers: ['other.example'] },
    'a lone CNAME does not answer an A query',
  );
  const chained = reply({ answers: [{ type: 'CNAME', name: NAME, ttl: 5, class: 'IN', data: 'other.example' }, a('10.0.0.9', 'other.example')] });
  t.match(validateReply(chained, exp({ requireAnswers: true })), { ok: true, answers: ['other.example', '10.0.0.9'] });
  t.equal(checkAnswersPresent(decoded(reply()), Q).ok, true);
  t.equal(checkAnswersPresent(decoded(reply()), { ...Q, type: 'AAAA' }).ok, false);
});

t.test('expected addresses: equal and contain, IPv6 normalized', async (t) => {
  const two = reply({ answers: [a('10.0.0.1'), a('10.0.0.2')] });
  t.match(validateReply(two, exp({ expectAnswers: ['10.0.0.2', '10.0.0.1'] })), { ok: true }, 'order does not matter');
  t.match(validateReply(two, exp({ expectAnswers: ['10.0.0.1'] })), { ok: false, reason: 'wrong-answer', detail: /unexpected 10\.0\.0\.2/ });
  t.match(validateReply(two, exp({ expectAnswers: ['10.0.0.1'], expectMatch: 'contain' })), { ok: true });
  t.match(validateReply(two, exp({ expectAnswers: ['10.0.0.3'], expectMatch: 'contain' })), {
    ok: false,
    reason: 'wrong-answer',
    detail: /missing 10\.0\.0\.3/,
  });
  t.match(
    validateReply(reply({ answers: [] }), exp({ expectAnswers: ['10.0.0.1'] })),
    { ok: false, reason: 'no-answer' },
    'expected answers imply answers are required',
  );

  const q6: Question = { ...Q, type: 'AAAA' };
  const v6 = dnsPacket.encode({
    type: 'response',
    id: ID,
    questions: [{ name: NAME, type: 'AAAA', class: 'IN' }],
    answers: [{ type: 'AAAA', name: NAME, ttl: 5, class: 'IN', data: '2001:DB8:0:0:0:0:0:A' }],
  });
  const expected = normalizeIp('2001:0db8::000a')!;
  t.match(validateReply(v6, exp({ question: q6, expectAnswers: [expected] })), { ok: true, answers: ['2001:db8::a'] });
  t.equal(checkExpected(decoded(v6), ['2001:db8::b'], 'equal').ok, false);
});

t.test('normalizeIp', async (t) => {
  t.equal(normalizeIp('10.0.0.1'), '10.0.0.1');
  t.equal(normalizeIp('2001:DB8:0000::1'), '2001:db8::1');
  t.equal(normalizeIp('::FFFF:10.0.0.1'), normalizeIp('::ffff:a00:1'));
  for (const bad of ['010.0.0.1', '10.0.0', 'fe80::1%eth0', 'example', '', '1.2.3.4.5']) t.equal(normalizeIp(bad), null, bad);
});

t.test('TC flag', async (t) => {
  t.match(validateReply(reply({ tc: true }), exp()), { ok: false, reason: 'truncated', tc: true, rcode: 'NOERROR' });
  // A truncated reply cut mid-record: undecodable, but still ours and marked TC.
  const full = reply({ tc: true, answers: [a('10.0.0.1'), a('10.0.0.2')] });
  const cut = validateReply(full.subarray(0, full.length - 3), exp());
  t.match(cut, { ok: false, reason: 'bad-reply', tc: true });
  const cutOther = validateReply(reply({ tc: true, id: ID + 1 }).subarray(0, 20), exp());
  t.match(cutOther, { ok: false, reason: 'bad-reply', tc: false }, 'not ours: no retry');
});

t.test('size: oversized, trailing bytes, short header', async (t) => {
  const r = reply();
  t.match(validateReply(r, exp({ maxBytes: r.length - 1 })), { ok: false, reason: 'bad-reply', detail: /more than the/ });
  t.match(validateReply(r, exp({ maxBytes: r.length })), { ok: true });
  t.match(validateReply(Buffer.alloc(70_000), exp()), { ok: false, reason: 'bad-reply', detail: /more than the 65535/ });
  t.match(validateReply(Buffer.concat([r, Buffer.from([0])]), exp()), { ok: false, reason: 'bad-reply', detail: /decoded of/ });
  t.match(validateReply(Buffer.alloc(0), exp()), { ok: false, reason: 'bad-reply', detail: /shorter than a DNS header/ });
  t.equal(readHeader(Buffer.alloc(11)), null);
  t.same(readHeader(reply({ tc: true, rcode: 'SERVFAIL' })), { id: ID, qr: true, opcode: 0, tc: true, rcode: 2 });
});

t.test('every cut of a reply with many record types is bad-reply, never a throw', async (t) => {
  const rich = dnsPacket.encode({
    type: 'response',
    id: ID,
    flags: dnsPacket.RECURSION_AVAILABLE,
    questions: [{ name: NAME, type: 'A', class: 'IN' }],
    answers: [
      { type: 'CNAME', name: NAME, ttl: 5, class: 'IN', data: 'alias.cluster.local' },
      a('10.0.0.1', 'alias.cluster.local'),
      { type: 'AAAA', name: 'alias.cluster.local', ttl: 5, class: 'IN', data: 'fd00::1' },
      { type: 'TXT', name: NAME, ttl: 5, class: 'IN', data: ['hello', 'world'] },
      { type: 'SRV', name: NAME, ttl: 5, class: 'IN', data: { port: 53, target: 'dns.cluster.local', priority: 0, weight: 1 } },
    ],
    authorities: [
      { type: 'SOA', name: 'cluster.local', ttl: 5, class: 'IN', data: { mname: 'ns.dns.cluster.local', rname: 'hostmaster.cluster.local', serial: 1 } },
    ],
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }],
  });
  t.match(validateReply(rich, exp({ requireAnswers: true })), { ok: true, answers: ['alias.cluster.local', '10.0.0.1', 'fd00::1'] });
  const wrong: string[] = [];
  for (let len = 0; len < rich.length; len++) {
    const v = validateReply(rich.subarray(0, len), exp({ requireAnswers: true }));
    if (v.ok || v.reason !== 'bad-reply') wrong.push(`${len}: ${v.reason}`);
  }
  t.same(wrong, [], `all ${rich.length} cuts are bad-reply`);
});

t.test('bounded (issue 10): pointer chains refused before decoding, answers and details capped', async (t) => {
  const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 255]);
  const qname = Buffer.concat([...NAME.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)])), Buffer.from([0])]);
  // A compressed reply as real servers write it: owner names point at the
  // question (offset 12), the CNAME target "alias" + a pointer to "cluster.local".
  const clusterAt = 12 + qname.indexOf(Buffer.from('\x07cluster'));
  const cnameData = Buffer.concat([Buffer.from('\x05alias'), u16(0xc000 | clusterAt)]);
  const compressed = Buffer.concat([
    u16(ID),
    u16(0x8180),
    u16(1),
    u16(2),
    u16(0),
    u16(0),
    qname,
    u16(1),
    u16(1),
    u16(0xc00c),
    u16(5),
    u16(1),
    Buffer.from([0, 0, 0, 5]),
    u16(cnameData.length),
    cnameData,
    u16(0xc000 | (12 + qname.length + 4 + 12)),
    u16(1),
    u16(1),
    Buffer.from([0, 0, 0, 5]),
    u16(4),
    Buffer.from([10, 0, 0, 7]),
  ]);
  t.match(validateReply(compressed, exp({ requireAnswers: true })), { ok: true, answers: ['alias.cluster.local', '10.0.0.7'] });
  const steps = nameDecodingSteps(compressed);
  t.ok(steps.ok && steps.steps < 40, `a real reply's names take few steps (${steps.ok ? steps.steps : steps.detail})`);

  // Every question a pointer to the one before: 0.8 s of dns-packet for 64 KiB before; now refused up front.
  const parts: Buffer[] = [Buffer.from([0, 0, 1, 0, 1])];
  let prev = 12;
  for (let o = 17; o + 6 <= 65_535; o += 6) {
    parts.push(Buffer.concat([u16(0xc000 | prev), u16(1), u16(1)]));
    if (o < 0x3fff) prev = o;
  }
  const chain = Buffer.concat([u16(ID), u16(0x8180), u16(parts.length), u16(0), u16(0), u16(0), ...parts]);
  const v = validateReply(chain, exp());
  t.match(v, { ok: false, reason: 'bad-reply', detail: /compressed names take \d+ steps to decode, more than the \d+ allowed/ });
  t.same(nameDecodingSteps(Buffer.from([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0])), { ok: false, detail: 'question 1 is cut short or malformed' });

  const many = reply({ answers: Array.from({ length: 100 }, (_, i) => a(`10.1.0.${i}`)) });
  const capped = validateReply(many, exp({ requireAnswers: true }));
  t.equal(capped.answers.length, MAX_ANSWERS + 1);
  t.equal(capped.answers[MAX_ANSWERS], '…and 84 more');
  const wrong = validateReply(many, exp({ expectAnswers: ['10.9.9.9'] }));
  t.ok(wrong.detail!.length <= MAX_DETAIL + 32, `a wrong-answer detail of ${wrong.detail!.length} characters`);
  t.match(wrong.detail, /…and 92 more/);

  const hostile = `${'\x1b[2J'.repeat(10)}.${'x'.repeat(60)}.${'y'.repeat(60)}.${'z'.repeat(60)}`;
  const q = validateReply(reply({ questions: [{ name: hostile, type: 'A', class: 'IN' }] }), exp());
  t.match(q, { ok: false, reason: 'bad-reply', detail: /^reply question .*…\(\+\d+ chars\) IN A does not match/ });
  t.ok(q.detail!.length <= MAX_DETAIL);
});

t.test("the probe path decoder (decodeUsualReply) gives the full decoder's verdict on every reply, mutated ones too", async (t) => {
  const aaaa = (data: string): Answer => ({ type: 'AAAA', name: NAME, ttl: 5, class: 'IN', data });
  const exps = [
    exp(),
    exp({ requireAnswers: true, expectAnswers: ['10.96.0.1'] }),
    exp({ requireAnswers: true, expectAnswers: ['10.96.0.1'], expectMatch: 'equal' }),
    exp({ validRcodes: ['NOERROR', 'NXDOMAIN'], maxBytes: 80 }),
  ];
  const aaaaQ: Question = { name: NAME, type: 'AAAA', class: 'IN' };
  // As dnsmasq and CoreDNS write it: the answer's owner a pointer to the question's name.
  const plain = reply({ answers: [] });
  plain.writeUInt16BE(2, 6);
  const rr = (ip: number[]) => Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, ...ip]);
  const compressed = Buffer.concat([plain, rr([10, 96, 0, 1]), rr([10, 96, 0, 3])]);
  const bases: Array<[Buffer, Expectation[]]> = [
    [compressed, exps],
    [reply(), exps],
    [reply({ answers: [a('10.96.0.1'), a('10.96.0.2'), a('10.96.0.1')] }), exps],
    [reply({ answers: [] }), exps],
    [reply({ rcode: 'NXDOMAIN', answers: [] }), exps],
    [reply({ questions: [{ name: NAME.toUpperCase(), type: 'A', class: 'IN' }] }), exps],
    [
      reply({ questions: [{ name: NAME, type: 'AAAA', class: 'IN' }], answers: [aaaa('fd00:96::1'), aaaa('::ffff:10.96.0.1'), aaaa('2001:db8:0:0:1:0:0:1')] }),
      [exp({ question: aaaaQ }), exp({ question: aaaaQ, requireAnswers: true, expectAnswers: ['fd00:96::1'] })],
    ],
  ];
  // The usual replies take the fast path (else this test would compare the full decoder with itself).
  t.same(validateReply(compressed, exps[1]!).answers, ['10.96.0.1', '10.96.0.3'], 'the compressed reply reads');
  for (const [i, what] of [
    [0, 'a compressed reply'],
    [1, 'an uncompressed one'],
    [6, 'an AAAA reply'],
  ] as const) {
    t.ok(decodeUsualReply(bases[i]![0], bases[i]![1][0]!), `${what} is read by decodeUsualReply`);
  }
  let seed = 12345;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % n;
  };
  let fast = 0;
  let compared = 0;
  for (const [base, es] of bases) {
    for (let k = 0; k < 1500; k++) {
      const buf = Buffer.from(base);
      let m: Buffer = buf;
      const what = k === 0 ? -1 : rand(4);
      if (what === -1) m = buf;
      else if (what === 0) m = buf.subarray(0, rand(buf.length + 1));
      else if (what === 1) m = Buffer.concat([buf, Buffer.from([rand(256)])]);
      else for (let f = 0; f <= rand(3); f++) buf[rand(buf.length)] = rand(256);
      for (const e of es) {
        compared++;
        if (decodeUsualReply(m, e)) fast++;
        const got = validateReply(m, e);
        const want = validateReplyFully(m, e);
        if (JSON.stringify(got) !== JSON.stringify(want)) {
          t.same(got, want, `mutated reply ${m.toString('hex')}`);
          return;
        }
      }
    }
  }
  t.pass(`${compared} verdicts equal, ${fast} of them from the fast path`);
  t.ok(fast > 100 && fast < compared, 'both paths were exercised');
});
