// Small pure checks on a DNS reply, in the spirit of blackbox_exporter's
// validRRs/validRcode. Nothing here throws on any input bytes: decoding
// returns a result, and every check returns { ok } or { ok: false, reason, detail }.
import net from 'node:net';
import dnsPacket from 'dns-packet';
import type { DecodedPacket } from 'dns-packet';
import { capList, capString, errorMessage } from '../text/untrusted.js';
import type { Question } from './query.js';
import { ExpectMatch, type Reason } from '../model.js';

// Bounds. A DNS server's reply is untrusted: whatever its bytes, a Verdict
// holds at most MAX_ANSWERS answers (then "…and N more"), each at most
// MAX_FIELD characters (a decoded name is at most 254), and a detail of at
// most MAX_DETAIL characters; decoding work is linear in the reply's size
// (see nameDecodingSteps).
/** Answers kept in a Verdict. */
export const MAX_ANSWERS = 16;
/** Characters of a Verdict's detail. */
export const MAX_DETAIL = 512;
/** Characters of a name from the reply quoted in a detail. */
const MAX_QUOTED = 128;
const quote = (s: unknown): string => capString(s, MAX_QUOTED);

export type Check = { ok: true } | { ok: false; reason: Reason; detail: string };
const PASS: Check = { ok: true };
const fail = (reason: Reason, detail: string): Check => ({ ok: false, reason, detail: capString(detail, MAX_DETAIL) });

/** The largest DNS message there is (TCP's 2-byte length). */
export const MAX_MESSAGE = 65_535;
const HEADER_BYTES = 12;

/** The fixed 12-byte header, readable even when the rest of the message is not. */
export interface ReplyHeader {
  id: number;
  qr: boolean;
  opcode: number;
  tc: boolean;
  rcode: number;
}

export function readHeader(buf: Uint8Array): ReplyHeader | null {
  if (buf.length < HEADER_BYTES) return null;
  const flags = (buf[2]! << 8) | buf[3]!;
  return {
    id: (buf[0]! << 8) | buf[1]!,
    qr: (flags & 0x8000) !== 0,
    opcode: (flags >> 11) & 0xf,
    tc: (flags & 0x0200) !== 0,
    rcode: flags & 0xf,
  };
}

// Types whose data dns-packet (5.x) decodes names in, and where those names
// start: at an offset into the data, or (SOA, RP) a second one right after
// the first; NAPTR's follows three character-strings.
const T = { NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, RP: 17, SRV: 33, NAPTR: 35, DNAME: 39, RRSIG: 46, NSEC: 47 } as const;
const NAME_AT: ReadonlyMap<number, number> = new Map([
  [T.NS, 0],
  [T.CNAME, 0],
  [T.PTR, 0],
  [T.DNAME, 0],
  [T.NSEC, 0],
  [T.SOA, 0],
  [T.RP, 0],
  [T.MX, 2],
  [T.SRV, 6],
  [T.RRSIG, 18],
]);

/**
 * What decoding the names of a reply costs dns-packet: the loop steps of its
 * name decoder (labels read plus compression pointers followed) over every
 * name it would decode, or a framing problem. dns-packet follows pointers to
 * earlier offsets with no limit of its own, so a reply made of pointer chains
 * (or of many pointers to a 127-label name) costs time quadratic in its size:
 * 0.8 s of the JS thread for a crafted 64 KiB TCP reply. This walk is linear:
 * steps[p], the cost of a name starting at p, comes from two passes.
 */
export function nameDecodingSteps(buf: Uint8Array): { ok: true; steps: number } | { ok: false; detail: string } {
  const n = buf.length;
  if (n < HEADER_BYTES) return { ok: false, detail: 'shorter than a DNS header' };
  // Backwards: from p, how many labels until a terminator, and the pointer (if any) that ends them.
  const labels = new Uint16Array(n);
  const pointer = new Int32Array(n).fill(-1);
  for (let p = n - 1; p >= 0; p--) {
    const b = buf[p]!;
    if ((b & 0xc0) === 0xc0) {
      if (p + 1 < n) pointer[p] = ((b & 0x3f) << 8) | buf[p + 1]!;
    } else if ((b & 0xc0) === 0 && b !== 0) {
      const next = p + 1 + b;
      labels[p] = next < n ? Math.min(labels[next]! + 1, 128) : 1; // dns-packet stops a name at 127 labels (254 bytes)
      if (next < n) pointer[p] = pointer[next]!;
    }
  }
  // Forwards: a pointer is followed only to an offset before where its segment started.
  const steps = new Float64Array(n);
  for (let p = 0; p < n; p++) {
    const q = pointer[p]!;
    steps[p] = labels[p]! + 1 + (q >= 0 && q < p ? steps[q]! : 0);
  }
  /** Bytes a name at p takes where it is written (labels, then a terminator or a pointer), or -1. */
  const nameBytes = (p: number): number => {
    let o = p;
    while (o < n) {
      const b = buf[o]!;
      if (b === 0) return o + 1 - p;
      if ((b & 0xc0) === 0xc0) return o + 2 <= n ? o + 2 - p : -1;
      if ((b & 0xc0) !== 0) return -1;
      o += 1 + b;
    }
    return -1;
  };
  const count = (at: number): number => (buf[at]! << 8) | buf[at + 1]!;
  let total = 0;
  let o = HEADER_BYTES;
  const qd = count(4);
  for (let i = 0; i < qd; i++) {
    const len = o < n ? nameBytes(o) : -1;
    if (len < 0 || o + len + 4 > n) return { ok: false, detail: `question ${i + 1} is cut short or malformed` };
    total += steps[o]!;
    o += len + 4;
  }
  const records = count(6) + count(8) + count(10);
  for (let i = 0; i < records; i++) {
    const len = o < n ? nameBytes(o) : -1;
    if (len < 0 || o + len + 10 > n) return { ok: false, detail: `record ${i + 1} is cut short or malformed` };
    total += steps[o]!;
    const type = count(o + len);
    const start = o + len + 10;
    const end = start + count(o + len + 8);
    if (end > n) return { ok: false, detail: `record ${i + 1} is cut short` };
    let at = NAME_AT.get(type);
    if (type === T.NAPTR) {
      // order, preference, then flags, services and regexp (character-strings), then the replacement.
      at = 4;
      for (let k = 0; k < 3 && start + at < n; k++) at += 1 + buf[start + at]!;
    }
    if (at !== undefined && start + at < n) {
      total += steps[start + at]!;
      if (type === T.SOA || type === T.RP) {
        const first = nameBytes(start + at);
        if (first > 0 && start + at + first < n) total += steps[start + at + first]!;
      }
    }
    o = end;
  }
  return { ok: true, steps: total };
}

/** The name-decoding steps a reply of this many bytes may take: twice its size and some (real replies take under one per byte). */
export const nameStepBudget = (bytes: number): number => 2 * bytes + 4096;

export type Decoded = { ok: true; packet: DecodedPacket } | { ok: false; reason: 'bad-reply'; detail: string; header: ReplyHeader | null };

/**
 * Decodes a reply. Fails (never throws) when it is larger than `maxBytes`,
 * malformed, cut short, or followed by trailing bytes. `header` is kept on
 * failure so a truncated UDP reply that cannot be decoded can still be
 * recognised by its ID and TC flag.
 */
export function decodeReply(buf: Uint8Array, maxBytes: number = MAX_MESSAGE): Decoded {
  if (!(buf instanceof Uint8Array)) return { ok: false, reason: 'bad-reply', detail: 'reply is not bytes', header: null };
  const header = readHeader(buf);
  const bad = (detail: string): Decoded => ({ ok: false, reason: 'bad-reply', detail, header });
  if (buf.length > maxBytes) return bad(`reply is ${buf.length} bytes, more than the ${maxBytes} allowed`);
  if (header === null) return bad(`reply is ${buf.length} bytes, shorter than a DNS header`);
  // Each question takes at least 5 bytes and each record 11. Checked first
  // because dns-packet allocates arrays of the claimed sizes (up to 4 × 65535).
  const count = (at: number): number => (buf[at]! << 8) | buf[at + 1]!;
  const records = count(6) + count(8) + count(10);
  if (HEADER_BYTES + count(4) * 5 + records * 11 > buf.length) {
    return bad(`malformed reply: ${count(4)} questions and ${records} records cannot fit in ${buf.length} bytes`);
  }
  const cost = nameDecodingSteps(buf);
  if (!cost.ok) return bad(`malformed reply: ${cost.detail}`);
  if (cost.steps > nameStepBudget(buf.length)) {
    return bad(
      `malformed reply: its compressed names take ${cost.steps} steps to decode, more than the ${nameStepBudget(buf.length)} allowed for ${buf.length} bytes`,
    );
  }
  const bytes = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  let packet: DecodedPacket;
  try {
    packet = dnsPacket.decode(bytes);
  } catch (err) {
    return bad(`malformed reply: ${capString(errorMessage(err), MAX_QUOTED)}`);
  }
  // dns-packet does not bound-check every record: a cut-short record "decodes"
  // but claims more bytes than there are.
  const used = dnsPacket.decode.bytes;
  if (used !== bytes.length) return bad(`malformed reply: ${used} bytes decoded of ${bytes.length}`);
  return { ok: true, packet };
}

/** A response (QR), to a standard query (opcode 0), with our ID. */
export function checkHeader(packet: DecodedPacket, id: number): Check {
  if (!packet.flag_qr) return fail('bad-reply', 'reply is not a response (QR=0)');
  const opcode = ((packet.flags ?? 0) >> 11) & 0xf;
  if (opcode !== 0) return fail('bad-reply', `reply opcode is ${opcode}, not QUERY`);
  if (packet.id !== id) return fail('bad-reply', `reply ID ${packet.id} does not match query ID ${id}`);
  return PASS;
}

const lowerAscii = (s: string): string => s.replace(/[A-Z]/g, (c) => c.toLowerCase());
const bareName = (s: string): string => (s !== '.' && s.endsWith('.') ? s.slice(0, -1) : s);
// The usual reply echoes the question as sent (lower-case, from normalizeName): equal strings skip the folding.
export const sameName = (a: string, b: string): boolean => a === b || lowerAscii(bareName(a)) === lowerAscii(bareName(b));

/** Exactly one question, equal to ours (name case-insensitively, type, class). */
export function checkQuestion(packet: DecodedPacket, q: Question): Check {
  const qs = packet.questions ?? [];
  if (qs.length !== 1) return fail('bad-reply', `reply has ${qs.length} questions, expected 1`);
  const got = qs[0]!;
  const gotClass = got.class ?? 'IN';
  if (!sameName(got.name, q.name) || got.type !== q.type || gotClass !== q.class) {
    return fail('bad-reply', `reply question ${quote(got.name)} ${quote(gotClass)} ${quote(got.type)} does not match ${q.name} ${q.class} ${q.type}`);
  }
  return PASS;
}

/** IANA names; EDNS extends the 4 header bits with 8 more from the OPT record. */
const RCODE_NAMES: Readonly<Record<number, string>> = {
  0: 'NOERROR',
  1: 'FORMERR',
  2: 'SERVFAIL',
  3: 'NXDOMAIN',
  4: 'NOTIMP',
  5: 'REFUSED',
  6: 'YXDOMAIN',
  7: 'YXRRSET',
  8: 'NXRRSET',
  9: 'NOTAUTH',
  10: 'NOTZONE',
  16: 'BADVERS',
};
export const RCODES: readonly string[] = Object.values(RCODE_NAMES);

export function rcodeName(code: number): string {
  return RCODE_NAMES[code] ?? `RCODE${code}`;
}

export function rcodeOf(packet: DecodedPacket): number {
  const opt = (packet.additionals ?? []).find((a) => a.type === 'OPT');
  const high = opt && 'extendedRcode' in opt ? opt.extendedRcode : 0;
  return (high << 4) | ((packet.flags ?? 0) & 0xf);
}

export function checkRcode(packet: DecodedPacket, allowed: readonly string[]): Check {
  const name = rcodeName(rcodeOf(packet));
  return allowed.includes(name) ? PASS : fail('rcode', `rcode ${name} is not one of ${allowed.join(', ')}`);
}

export function checkNotTruncated(packet: DecodedPacket): Check {
  return packet.flag_tc ? fail('truncated', 'reply has the TC (truncated) flag set') : PASS;
}

/** Canonical text of an IP address (IPv6 lower-case and compressed), or null if it is not one. */
export function normalizeIp(ip: string): string | null {
  if (net.isIPv4(ip)) return ip;
  if (!net.isIPv6(ip) || ip.includes('%')) return null;
  return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
}

/** The answer section's A, AAAA, CNAME, DNAME, NS and PTR data as text (addresses normalized). */
export function answersOf(packet: DecodedPacket): string[] {
  const out: string[] = [];
  for (const a of packet.answers ?? []) {
    if (a.type === 'A' || a.type === 'AAAA') out.push(normalizeIp(a.data) ?? a.data);
    else if (a.type === 'CNAME' || a.type === 'DNAME' || a.type === 'NS' || a.type === 'PTR') out.push(a.data);
  }
  return out;
}

/** The distinct addresses (A and AAAA) in the answer section, normalized. */
export function addressesOf(packet: DecodedPacket): string[] {
  const out = new Set<string>();
  for (const a of packet.answers ?? []) {
    if (a.type === 'A' || a.type === 'AAAA') out.add(normalizeIp(a.data) ?? a.data);
  }
  return [...out];
}

/** At least one answer record of the queried type (a lone CNAME does not answer an A query). */
export function checkAnswersPresent(packet: DecodedPacket, q: Question): Check {
  let hit = false;
  for (const a of packet.answers ?? []) if (a.type === q.type) hit = true;
  return hit ? PASS : fail('no-answer', `no ${q.type} record in the answer section`);
}

/**
 * `equal`: the answer addresses are exactly the expected set; `contain`:
 * every expected address is among them. `expected` must be normalized.
 */
export function checkExpected(packet: DecodedPacket, expected: readonly string[], match: ExpectMatch): Check {
  const got = addressesOf(packet);
  const gotSet = new Set(got);
  const missing = expected.filter((ip) => !gotSet.has(ip));
  const extra = match === 'equal' ? got.filter((ip) => !expected.includes(ip)) : [];
  if (missing.length === 0 && extra.length === 0) return PASS;
  const list = (xs: readonly string[]): string => capList(xs, 8, MAX_QUOTED).join(', ');
  const parts = [missing.length ? `missing ${list(missing)}` : '', extra.length ? `unexpected ${list(extra)}` : ''];
  return fail('wrong-answer', `answers [${list(got)}]: ${parts.filter(Boolean).join('; ')}`);
}

export interface Expectation {
  id: number;
  question: Question;
  /** Allowed rcode names, e.g. ['NOERROR']. */
  validRcodes: readonly string[];
  requireAnswers: boolean;
  /** Normalized addresses; implies requireAnswers. */
  expectAnswers?: readonly string[];
  expectMatch?: ExpectMatch;
  /** Largest acceptable reply (UDP: the advertised size). Default 65535. */
  maxBytes?: number;
}

export interface Verdict {
  ok: boolean;
  reason: Reason;
  detail?: string;
  /** Rcode name, or null when the reply could not be decoded. */
  rcode: string | null;
  /** answersOf the reply, capped: at most MAX_ANSWERS, then "…and N more". */
  answers: string[];
  /** The reply had TC set: over UDP, a retry over TCP is due. */
  tc: boolean;
}

// The question as it is on the wire, by question: a reply's question is compared with it byte
// for byte (ASCII case aside). Bounded like query.ts's templates.
const questionWire = new Map<string, Buffer>();
function wireOf(q: Question): Buffer | null {
  const key = `${q.name}\0${q.type}\0${q.class}`;
  const cached = questionWire.get(key);
  if (cached !== undefined) return cached;
  let w: Buffer;
  try {
    w = dnsPacket.encode({ type: 'query', id: 0, questions: [{ name: q.name, type: q.type, class: q.class }] }).subarray(HEADER_BYTES);
  } catch {
    return null;
  }
  // Names compare ignoring ASCII case: the reply's bytes are folded, so the question's are too.
  for (let i = 0; i < w.length - 4; i++) if (w[i]! >= 0x41 && w[i]! <= 0x5a) w[i] = w[i]! + 0x20;
  if (questionWire.size >= 1024) questionWire.clear();
  questionWire.set(key, w);
  return w;
}

const TYPE_A = 1;
const TYPE_AAAA = 28;
const CLASS_IN = 1;

/**
 * The probe path's decoder: the usual reply, read without dns-packet. It
 * returns a packet only when the reply is exactly of the shape it knows
 * (QR, opcode QUERY, our ID, TC clear, our question alone, no authority or
 * additional records, answers that are A or AAAA records in class IN whose
 * owner is the question's name or a pointer to it, nothing after them), and
 * everything it does not know it leaves to decodeReply (null): for those
 * replies the two give the same verdict, which the tests check on mutated
 * replies.
 */
export function decodeUsualReply(buf: Uint8Array, exp: Expectation): DecodedPacket | null {
  const n = buf.length;
  if (n < HEADER_BYTES || n > (exp.maxBytes ?? MAX_MESSAGE)) return null;
  const flags = (buf[2]! << 8) | buf[3]!;
  // QR set, opcode 0, TC clear.
  if ((flags & 0xfa00) !== 0x8000) return null;
  if (((buf[0]! << 8) | buf[1]!) !== exp.id) return null;
  if (buf[4] !== 0 || buf[5] !== 1 || buf[8] !== 0 || buf[9] !== 0 || buf[10] !== 0 || buf[11] !== 0) return null;
  const wire = wireOf(exp.question);
  if (wire === null || n < HEADER_BYTES + wire.length) return null;
  const nameEnd = HEADER_BYTES + wire.length - 4;
  for (let i = HEADER_BYTES; i < nameEnd; i++) {
    let b = buf[i]!;
    if (b >= 0x41 && b <= 0x5a) b += 0x20;
    if (b !== wire[i - HEADER_BYTES]) return null;
  }
  for (let i = nameEnd; i < HEADER_BYTES + wire.length; i++) if (buf[i] !== wire[i - HEADER_BYTES]) return null;
  let o = HEADER_BYTES + wire.length;
  const count = (buf[6]! << 8) | buf[7]!;
  const answers: Array<{ type: 'A' | 'AAAA'; data: string }> = [];
  const nameBytes = wire.length - 4;
  for (let k = 0; k < count; k++) {
    // The owner: a pointer to the question's name, or that name again.
    if (o + 2 <= n && buf[o] === 0xc0 && buf[o + 1] === HEADER_BYTES) {
      o += 2;
    } else {
      if (o + nameBytes > n) return null;
      for (let i = 0; i < nameBytes; i++) {
        let b = buf[o + i]!;
        if (b >= 0x41 && b <= 0x5a) b += 0x20;
        if (b !== wire[i]) return null;
      }
      o += nameBytes;
    }
    if (o + 10 > n) return null;
    const type = (buf[o]! << 8) | buf[o + 1]!;
    const klass = (buf[o + 2]! << 8) | buf[o + 3]!;
    const len = (buf[o + 8]! << 8) | buf[o + 9]!;
    const at = o + 10;
    if (klass !== CLASS_IN || at + len > n) return null;
    if (type === TYPE_A && len === 4) {
      answers.push({ type: 'A', data: `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}` });
    } else if (type === TYPE_AAAA && len === 16) {
      const groups: string[] = [];
      for (let g = 0; g < 16; g += 2) groups.push(((buf[at + g]! << 8) | buf[at + g + 1]!).toString(16));
      answers.push({ type: 'AAAA', data: normalizeIp(groups.join(':'))! });
    } else {
      return null;
    }
    o = at + len;
  }
  if (o !== n) return null;
  return {
    id: exp.id,
    type: 'response',
    flags: flags & 0x7fff,
    flag_qr: true,
    flag_tc: false,
    questions: [{ name: exp.question.name, type: exp.question.type, class: exp.question.class }],
    answers,
    authorities: [],
    additionals: [],
  } as unknown as DecodedPacket;
}

/**
 * Every check, in order: decode, header, question, TC, rcode, answers
 * present, expected addresses. The first failure decides the reason.
 * The usual reply is read by decodeUsualReply, any other by decodeReply.
 */
export function validateReply(reply: Uint8Array, exp: Expectation): Verdict {
  const usual = reply instanceof Uint8Array ? decodeUsualReply(reply, exp) : null;
  return usual ? verdictOf(usual, exp) : validateReplyFully(reply, exp);
}

/** validateReply with dns-packet's full decode for every reply (for tests: decodeUsualReply must agree with it). */
export function validateReplyFully(reply: Uint8Array, exp: Expectation): Verdict {
  const decoded = decodeReply(reply, exp.maxBytes);
  if (!decoded.ok) {
    const h = decoded.header;
    // An undecodable reply that is still recognisably ours and truncated.
    const tc = h !== null && h.qr && h.id === exp.id && h.tc;
    return { ok: false, reason: 'bad-reply', detail: decoded.detail, rcode: null, answers: [], tc };
  }
  const p = decoded.packet;
  // Not (recognisably) the reply to our query: nothing in it can be trusted.
  for (const c of [checkHeader(p, exp.id), checkQuestion(p, exp.question)]) {
    if (!c.ok) return { ok: false, reason: c.reason, detail: c.detail, rcode: null, answers: [], tc: false };
  }
  return verdictOf(p, exp);
}

function verdictOf(p: DecodedPacket, exp: Expectation): Verdict {
  const rcode = rcodeName(rcodeOf(p));
  const answers = capList(answersOf(p), MAX_ANSWERS);
  const c = replyChecks(p, exp);
  if (!c.ok) return { ok: false, reason: c.reason, detail: c.detail, rcode, answers, tc: p.flag_tc };
  return { ok: true, reason: 'ok', rcode, answers, tc: false };
}

/** The checks of a reply to our query, in order (TC, rcode, answers present, expected addresses): the first failure. */
function replyChecks(p: DecodedPacket, exp: Expectation): Check {
  const expected = exp.expectAnswers;
  let c = checkNotTruncated(p);
  if (!c.ok) return c;
  c = checkRcode(p, exp.validRcodes);
  if (!c.ok) return c;
  if (exp.requireAnswers || expected !== undefined) {
    c = checkAnswersPresent(p, exp.question);
    if (!c.ok) return c;
  }
  return expected !== undefined ? checkExpected(p, expected, exp.expectMatch ?? 'equal') : PASS;
}
