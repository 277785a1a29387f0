import t from 'tap';
import dnsPacket from 'dns-packet';
import type { Answer, DecodedPacket } from 'dns-packet';
import { ArgumentError, errnoOf, ExchangeError, type ExchangeRequest } from '../../src/netns/binding.js';
import { checkProbeOptions, probe, reasonFromError, type ExchangeFn, type ProbeOptions } from '../../src/probe/probe.js';
import type { ProbeResult, Reason } from '../../src/model.js';
import { isReason } from '../../src/probe/reasons.js';

const NAME = 'kubernetes.default.svc.cluster.local';
const BASE: ProbeOptions = { netns: '/run/netns/x', server: '10.96.0.10', name: NAME, timeoutMs: 1000 };
const RCODE: Record<string, number> = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3 };

interface ReplyOpts {
  rcode?: string;
  tc?: boolean;
  ips?: string[];
  id?: number;
}

/** A reply to the decoded query (by default one A record for 10.96.0.1). */
function answer(query: DecodedPacket, o: ReplyOpts = {}): Buffer {
  const q = query.questions![0]!;
  const answers: Answer[] = (o.ips ?? ['10.96.0.1']).map((ip) => ({ type: ip.includes(':') ? 'AAAA' : 'A', name: q.name, ttl: 5, class: 'IN', data: ip }));
  return dnsPacket.encode({
    type: 'response',
    id: o.id ?? query.id!,
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE | (o.tc ? dnsPacket.TRUNCATED_RESPONSE : 0) | RCODE[o.rcode ?? 'NOERROR']!,
    questions: [q],
    answers,
  });
}

type Outcome = Buffer | Error | { reply: Buffer; rttNs: number };
type Handler = (query: DecodedPacket, req: ExchangeRequest) => Outcome;

/** A fake exchange: call i is answered by handlers[i] (the last one repeats). */
function fake(...handlers: Handler[]): { exchange: ExchangeFn; calls: ExchangeRequest[] } {
  const calls: ExchangeRequest[] = [];
  const exchange: ExchangeFn = async (req) => {
    calls.push(req);
    const h = handlers[Math.min(calls.length, handlers.length) - 1]!;
    const out = h(dnsPacket.decode(Buffer.from(req.payload)), req);
    if (out instanceof Error) throw out;
    return Buffer.isBuffer(out) ? { reply: out, rttNs: 2_000_000 } : out;
  };
  return { exchange, calls };
}

const xerr = (code: string, syscall = 'recv'): ExchangeError => new ExchangeError(errnoOf(code), syscall, '10.96.0.10:53/udp');

t.test('a good UDP probe', async (t) => {
  const { exchange, calls } = fake((q) => answer(q));
  const r = await probe({ ...BASE, port: 5353, requireAnswers: true, expectAnswers: ['10.96.0.1'] }, { exchange });
  t.same(r, { ok: true, reason: 'ok', rcode: 'NOERROR', answers: ['10.96.0.1'], rttSeconds: 0.002, transport: 'udp', truncated: false });
  t.equal(calls.length, 1);
  t.match(calls[0], { netns: '/run/netns/x', server: '10.96.0.10', port: 5353, transport: 'udp', timeoutMs: 1000 });
  const sent = dnsPacket.decode(Buffer.from(calls[0]!.payload));
  t.same(sent.questions, [{ name: NAME, type: 'A', class: 'IN' }]);
  t.equal(sent.flag_rd, true);
});

t.test('defaults: port 53, UDP, type A, NOERROR only', async (t) => {
  const spec = checkProbeOptions({ server: '10.96.0.10', name: NAME, timeoutMs: 500 });
  t.notOk('netns' in spec, 'a spec is run from any namespace');
  t.match(spec, { port: 53, transport: 'udp', timeoutMs: 500, validRcodes: ['NOERROR'], requireAnswers: true, expectMatch: 'contain' });
  t.same(spec.query, { name: NAME, type: 'A', class: 'IN' });
  t.notOk('expectAnswers' in spec);
});

t.test("validation failures become results with the reply's rcode and answers", async (t) => {
  const cases: Array<[string, Handler, Partial<ProbeOptions>, Partial<ProbeResult>]> = [
    ['ID mismatch', (q) => answer(q, { id: (q.id! + 1) & 0xffff }), {}, { reason: 'bad-reply', rcode: null }],
    ['NXDOMAIN', (q) => answer(q, { rcode: 'NXDOMAIN', ips: [] }), {}, { reason: 'rcode', rcode: 'NXDOMAIN' }],
    ['SERVFAIL', (q) => answer(q, { rcode: 'SERVFAIL', ips: [] }), {}, { reason: 'rcode', rcode: 'SERVFAIL' }],
    [
      'NXDOMAIN allowed',
      (q) => answer(q, { rcode: 'NXDOMAIN', ips: [] }),
      { validRcodes: ['noerror', 'NXDOMAIN'], requireAnswers: false },
      { ok: true, reason: 'ok', rcode: 'NXDOMAIN' },
    ],
    ['no answer', (q) => answer(q, { ips: [] }), { requireAnswers: true }, { reason: 'no-answer', rcode: 'NOERROR' }],
    ['wrong answer', (q) => answer(q, { ips: ['10.96.0.2'] }), { expectAnswers: ['10.96.0.1'] }, { reason: 'wrong-answer', answers: ['10.96.0.2'] }],
    ['contains', (q) => answer(q, { ips: ['10.96.0.2', '10.96.0.1'] }), { expectAnswers: ['10.96.0.1'], expectMatch: 'contain' }, { ok: true }],
    ['IPv6 normalized', (q) => answer(q, { ips: ['fd00:0:0::a'] }), { type: 'AAAA', expectAnswers: ['FD00::000A'] }, { ok: true, answers: ['fd00::a'] }],
  ];
  for (const [what, handler, opts, want] of cases) {
    const { exchange } = fake(handler);
    const r = await probe({ ...BASE, ...opts }, { exchange });
    t.match(r, { ok: false, transport: 'udp', truncated: false, rttSeconds: 0.002, ...want }, what);
    if (!r.ok) t.type(r.detail, 'string', `${what}: detail says why`);
  }
});

t.test('TC over UDP → retried over TCP, same server and netns, within the remaining time', async (t) => {
  const handle = { fake: 'handle' } as unknown as ProbeOptions['netns'];
  const { exchange, calls } = fake(
    (q) => ({ reply: answer(q, { tc: true, ips: [] }), rttNs: 3_000_000 }),
    (q) => ({ reply: answer(q, { ips: ['10.96.0.1', '10.96.0.2'] }), rttNs: 5_000_000 }),
  );
  const clock = [100, 400];
  const r = await probe({ ...BASE, netns: handle, port: 1053, expectAnswers: ['10.96.0.1', '10.96.0.2'] }, { exchange, now: () => clock.shift()! });
  t.same(r, { ok: true, reason: 'ok', rcode: 'NOERROR', answers: ['10.96.0.1', '10.96.0.2'], rttSeconds: 0.008, transport: 'tcp', truncated: true });
  t.equal(calls.length, 2);
  t.match(calls[1], { server: '10.96.0.10', port: 1053, transport: 'tcp', timeoutMs: 700 });
  t.equal(calls[1]!.netns, handle, 'the very same netns handle');
  t.same(calls[1]!.payload, calls[0]!.payload, 'the same query (same ID)');
});

t.test('TCP retry gets at least 1 ms when the budget is spent', async (t) => {
  const { exchange, calls } = fake(
    (q) => answer(q, { tc: true }),
    (q) => answer(q),
  );
  const clock = [0, 5000];
  await probe(BASE, { exchange, now: () => clock.shift()! });
  t.equal(calls[1]!.timeoutMs, 1);
});

t.test('TC retry outcomes', async (t) => {
  const tc: Handler = (q) => answer(q, { tc: true, ips: [] });
  const cases: Array<[string, Handler, Record<string, unknown>]> = [
    ['TCP times out', () => xerr('ETIMEDOUT'), { reason: 'truncated', detail: /UDP reply truncated; TCP retry failed \(timeout\)/ }],
    ['TCP refused', () => xerr('ECONNREFUSED', 'connect'), { reason: 'truncated', detail: /\(refused\)/ }],
    ['TCP blocked', () => xerr('EPERM', 'connect'), { reason: 'truncated' }],
    ['TCP reset', () => xerr('ECONNRESET'), { reason: 'truncated' }],
    ['netns gone meanwhile', () => xerr('ENOENT', 'open'), { reason: 'netns-gone' }],
    ['cancelled meanwhile', () => xerr('ECANCELED'), { reason: 'cancelled' }],
    ['TCP SERVFAIL', (q) => answer(q, { rcode: 'SERVFAIL', ips: [] }), { reason: 'rcode', rcode: 'SERVFAIL', rttSeconds: 0.004 }],
    ['TCP reply truncated too', (q) => answer(q, { tc: true }), { reason: 'truncated', rttSeconds: 0.004 }],
    ['TCP reply garbage', () => Buffer.from('not dns'), { reason: 'bad-reply' }],
  ];
  for (const [what, second, want] of cases) {
    const { exchange, calls } = fake(tc, second);
    const r = await probe(BASE, { exchange });
    t.equal(calls.length, 2, `${what}: retried`);
    t.match(r, { ok: false, transport: 'tcp', truncated: true, ...want }, what);
  }
});

t.test('an undecodable UDP reply that is ours and has TC is retried over TCP', async (t) => {
  const { exchange, calls } = fake(
    (q) => answer(q, { tc: true, ips: ['10.0.0.1', '10.0.0.2'] }).subarray(0, 40),
    (q) => answer(q),
  );
  const r = await probe(BASE, { exchange });
  t.equal(calls.length, 2);
  t.match(r, { ok: true, truncated: true, transport: 'tcp' });
});

t.test('TC on a TCP probe is not retried', async (t) => {
  const { exchange, calls } = fake((q) => answer(q, { tc: true }));
  const r = await probe({ ...BASE, transport: 'tcp' }, { exchange });
  t.equal(calls.length, 1);
  t.match(r, { ok: false, reason: 'truncated', transport: 'tcp', truncated: false, rcode: 'NOERROR' });
});

t.test('UDP replies larger than the advertised size are bad-reply; over TCP they are fine', async (t) => {
  const many = Array.from({ length: 20 }, (_, i) => `10.0.${i}.1`); // 1.1 KB: names are not compressed
  const big: Handler = (q) => answer(q, { ips: many });
  t.match(await probe(BASE, { exchange: fake(big).exchange }), { ok: false, reason: 'bad-reply', detail: /more than the 512 allowed/ });
  const sized = (q: DecodedPacket): Buffer => {
    const b = answer(q, { ips: many });
    t.ok(b.length > 512 && b.length <= 1232, `${b.length} bytes`);
    return b;
  };
  t.match(await probe({ ...BASE, edns: { udpPayloadSize: 1232 } }, { exchange: fake(sized).exchange }), { ok: true });
  // Answers kept in a result are capped (MAX_ANSWERS = 16, then a count).
  t.same((await probe({ ...BASE, transport: 'tcp' }, { exchange: fake(big).exchange })).answers, [...many.slice(0, 16), '…and 4 more']);
});

t.test('exchange errors map to reasons (each errno)', async (t) => {
  const table: Array<[string, string, Reason]> = [
    ['ETIMEDOUT', 'recv', 'timeout'],
    ['ECONNREFUSED', 'recv', 'refused'],
    ['ECONNRESET', 'recv', 'reset'],
    ['EPIPE', 'send', 'reset'],
    ['EHOSTUNREACH', 'send', 'unreachable'],
    ['ENETUNREACH', 'connect', 'unreachable'],
    ['EADDRNOTAVAIL', 'connect', 'unreachable'],
    ['EAFNOSUPPORT', 'socket', 'unreachable'],
    ['EPERM', 'send', 'blocked-locally'],
    ['EACCES', 'connect', 'blocked-locally'],
    ['EPERM', 'setns', 'error'],
    ['EACCES', 'open', 'error'],
    ['ENOENT', 'open', 'netns-gone'],
    ['ESRCH', 'open', 'netns-gone'],
    ['EBADMSG', 'recv', 'bad-reply'],
    ['EMSGSIZE', 'recv', 'bad-reply'],
    ['ECANCELED', 'exchange', 'cancelled'],
    ['EMFILE', 'socket', 'error'],
    ['EBADF', 'setns', 'error'],
  ];
  for (const [code, syscall, reason] of table) {
    const err = xerr(code, syscall);
    t.equal(err.code, code, `${code} round-trips through ExchangeError`);
    t.equal(reasonFromError(err), reason, `reasonFromError ${code}/${syscall}`);
    const { exchange, calls } = fake(() => err);
    const r = await probe(BASE, { exchange });
    t.same(
      r,
      { ok: false, reason, rcode: null, answers: [], rttSeconds: null, transport: 'udp', truncated: false, detail: err.message },
      `probe ${code}/${syscall}`,
    );
    t.equal(calls.length, 1, `${code}: no retry`);
  }
  t.equal(reasonFromError(new ArgumentError('server', 'bad')), 'error');
  t.equal(reasonFromError(new Error('boom')), 'error');
  t.equal(reasonFromError(Object.assign(new Error('x'), { code: 'ENOENT' })), 'netns-gone', 'any error carrying an errno code');
  t.equal(reasonFromError({ code: 42 }), 'error');
  t.equal(reasonFromError(null), 'error');
  t.equal(reasonFromError('string'), 'error');
});

t.test('an ArgumentError or a throw from exchange is a result, not an exception', async (t) => {
  const arg = await probe(BASE, { exchange: fake(() => new ArgumentError('netns', '/x is not a network namespace')).exchange });
  t.match(arg, { ok: false, reason: 'error', detail: 'netns: /x is not a network namespace' });
  const sync = await probe(BASE, {
    exchange: () => {
      throw new Error('addon exploded');
    },
  });
  t.match(sync, { ok: false, reason: 'error', detail: 'addon exploded' });
  const clockThrows = await probe(BASE, {
    exchange: fake((q) => answer(q, { tc: true })).exchange,
    now: () => {
      throw new Error('no clock');
    },
  });
  t.match(clockThrows, { ok: false, reason: 'error' });
});

t.test('bad options are results naming the field; nothing is sent', async (t) => {
  const cases: Array<[Partial<ProbeOptions> | null, string]> = [
    [{ name: 'a..b' }, 'name'],
    [{ type: 'BOGUS' }, 'type'],
    [{ class: 'XX' }, 'class'],
    [{ server: 'coredns' }, 'server'],
    [{ server: 'fe80::1%eth0' }, 'server'],
    [{ port: 0 }, 'port'],
    [{ timeoutMs: 0 }, 'timeoutMs'],
    [{ transport: 'sctp' as never }, 'transport'],
    [{ validRcodes: [] }, 'validRcodes'],
    [{ validRcodes: ['NOERROR', 'OK'] }, 'validRcodes[1]'],
    [{ requireAnswers: 'yes' as never }, 'requireAnswers'],
    [{ expectAnswers: ['10.0.0.1', 'x'] }, 'expectAnswers[1]'],
    [{ expectAnswers: ['fd00::1'] }, 'expectAnswers[0]'],
    [{ type: 'AAAA', expectAnswers: ['10.0.0.1'] }, 'expectAnswers[0]'],
    [{ type: 'CNAME', expectAnswers: ['10.0.0.1'] }, 'expectAnswers'],
    [{ expectMatch: 'some' as never }, 'expectMatch'],
    [{ edns: { udpPayloadSize: 1 } }, 'edns.udpPayloadSize'],
    [null, 'probe'],
  ];
  for (const [opts, param] of cases) {
    const { exchange, calls } = fake((q) => answer(q));
    const full = (opts === null ? null : { ...BASE, ...opts }) as ProbeOptions;
    const r = await probe(full, { exchange });
    t.match(r, { ok: false, reason: 'error', rcode: null, rttSeconds: null, truncated: false }, param);
    t.ok(r.detail?.startsWith(`${param}: `), `${param}: ${r.detail}`);
    t.equal(calls.length, 0, `${param}: nothing sent`);
    t.throws(() => checkProbeOptions(full), { name: 'ArgumentError', param }, `checkProbeOptions names ${param}`);
  }
});

// Seeded, so a failure reproduces: mulberry32.
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = s;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

function wellFormed(r: ProbeResult): boolean {
  return (
    typeof r.ok === 'boolean' &&
    isReason(r.reason) &&
    r.ok === (r.reason === 'ok') &&
    (r.rcode === null || typeof r.rcode === 'string') &&
    Array.isArray(r.answers) &&
    (r.rttSeconds === null || r.rttSeconds >= 0) &&
    (r.transport === 'udp' || r.transport === 'tcp') &&
    typeof r.truncated === 'boolean'
  );
}

const STRICT: Partial<ProbeOptions> = { requireAnswers: true, expectAnswers: ['10.96.0.1'] };
const SEED = 0x5eed2;

/** Probes once; the UDP reply is `mangle` of a valid one (a TCP retry gets a valid reply). */
async function probeWith(mangle: (valid: Buffer) => Buffer, opts: Partial<ProbeOptions> = STRICT): Promise<{ r: ProbeResult; sent: Buffer[] }> {
  const sent: Buffer[] = [];
  const { exchange } = fake(
    (q) => {
      const b = mangle(answer(q));
      sent.push(b);
      return b;
    },
    (q) => answer(q),
  );
  let r: ProbeResult;
  try {
    r = await probe({ ...BASE, ...opts }, { exchange });
  } catch (err) {
    throw new Error(`probe threw: ${(err as Error).message}`);
  }
  return { r, sent };
}

t.test('thousands of random replies: all fail, none throws', async (t) => {
  const rnd = prng(SEED);
  const bad: string[] = [];
  for (let i = 0; i < 3000; i++) {
    const len = Math.floor(rnd() * 600);
    const bytes = Buffer.from(Array.from({ length: len }, () => Math.floor(rnd() * 256)));
    let id = -1;
    const { r } = await probeWith((valid) => {
      id = valid.readUInt16BE(0);
      return bytes;
    });
    // The query ID is random (not from SEED): about once in 100 runs one of the 3000 carries it
    // with TC set. It is then ours and truncated, and the TCP retry's valid reply is the answer.
    const oursWithTc = len >= 4 && bytes.readUInt16BE(0) === id && (bytes[2]! & 0x02) !== 0;
    const retried = oursWithTc && r.truncated && r.transport === 'tcp';
    if (!wellFormed(r) || ((r.ok || r.truncated) && !retried)) bad.push(`#${i} ${bytes.toString('hex')}: ${JSON.stringify(r)}`);
  }
  t.same(bad.slice(0, 5), [], `seed ${SEED}: 3000 random replies failed cleanly`);
});

t.test('every truncation of valid replies fails with bad-reply', async (t) => {
  const bad: string[] = [];
  let count = 0;
  for (const ips of [['10.96.0.1'], ['10.96.0.1', '10.96.0.2', '10.96.0.3']]) {
    let fullLength = Infinity;
    for (let len = 0; len < fullLength; len++) {
      const { r } = await probeWith((valid) => {
        const full = answer(dnsPacket.decode(valid), { ips });
        fullLength = full.length;
        return full.subarray(0, len);
      }, {});
      count++;
      if (!wellFormed(r) || r.reason !== 'bad-reply') bad.push(`${ips.length} ips, ${len} bytes: ${JSON.stringify(r)}`);
    }
  }
  t.ok(count > 100, `${count} truncations`);
  t.same(bad, []);
});

t.test('oversized replies fail with bad-reply', async (t) => {
  const rnd = prng(SEED + 1);
  const bad: string[] = [];
  for (let i = 0; i < 500; i++) {
    const extra = 1 + Math.floor(rnd() * 2000);
    const pad = Buffer.from(Array.from({ length: extra }, () => Math.floor(rnd() * 256)));
    // Trailing bytes after a valid reply, and (once it passes 512) too big for UDP without EDNS.
    const { r } = await probeWith((v) => Buffer.concat([v, pad]));
    if (!wellFormed(r) || r.reason !== 'bad-reply') bad.push(`#${i} +${extra}: ${JSON.stringify(r)}`);
  }
  const huge = await probeWith(() => Buffer.alloc(70_000), { transport: 'tcp' });
  t.match(huge.r, { ok: false, reason: 'bad-reply', detail: /65535/ });
  t.same(bad.slice(0, 5), [], `seed ${SEED + 1}: 500 oversized replies`);
});

t.test('thousands of mutated replies: none throws, and ok only when the reply really is right', async (t) => {
  const rnd = prng(SEED + 2);
  const bad: string[] = [];
  let failed = 0;
  for (let i = 0; i < 3000; i++) {
    let queryId = -1;
    const { r, sent } = await probeWith((valid) => {
      queryId = valid.readUInt16BE(0);
      const m = Buffer.from(valid);
      const flips = 1 + Math.floor(rnd() * 4);
      for (let k = 0; k < flips; k++) m[Math.floor(rnd() * m.length)] = Math.floor(rnd() * 256);
      return m;
    });
    if (!wellFormed(r)) bad.push(`#${i} malformed result ${JSON.stringify(r)}`);
    if (!r.ok) {
      failed++;
      continue;
    }
    if (r.truncated) continue; // the answer came from the (valid) TCP retry
    // Independently re-check what the probe accepted.
    const p = dnsPacket.decode(sent[0]!);
    const q = p.questions?.[0];
    const addrs = (p.answers ?? []).flatMap((a) => (a.type === 'A' ? [a.data] : []));
    const right =
      p.flag_qr &&
      p.id === queryId &&
      !p.flag_tc &&
      ((p.flags ?? 0) & 0xf) === 0 &&
      q?.name.toLowerCase() === NAME &&
      q.type === 'A' &&
      q.class === 'IN' &&
      addrs.length > 0 &&
      addrs.every((ip) => ip === '10.96.0.1');
    if (!right) bad.push(`#${i} accepted ${sent[0]!.toString('hex')}`);
  }
  t.ok(failed > 1000, `${failed} of 3000 mutations failed validation`);
  t.same(bad.slice(0, 5), [], `seed ${SEED + 2}`);
});

t.test('datagrams the engine dropped as not the reply are counted on the result', async (t) => {
  const ok = await probe(BASE, { exchange: fake((q) => ({ reply: answer(q), rttNs: 1_000_000, ignored: 7 })).exchange });
  t.equal(ok.ok, true);
  t.equal(ok.ignoredReplies, 7);
  const timedOut = xerr('ETIMEDOUT');
  timedOut.ignored = 20_000;
  const failed = await probe(BASE, { exchange: fake(() => timedOut).exchange });
  t.equal(failed.reason, 'timeout');
  t.equal(failed.ignoredReplies, 20_000, 'a flood that ended in a timeout is still counted');
  const clean = await probe(BASE, { exchange: fake((q) => answer(q)).exchange });
  t.notOk('ignoredReplies' in clean, 'absent when nothing was dropped');
});
