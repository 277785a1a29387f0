// Small pure checks on a DNS reply, in the spirit of blackbox_exporter's
// validRRs/validRcode. Nothing here throws on any input bytes: decoding
// returns a result, and every check returns { ok } or { ok: false, reason, detail }.
import net from 'node:net';
import dnsPacket from 'dns-packet';
import type { DecodedPacket } from 'dns-packet';
import type { Question } from './query.js';
import type { Reason } from './reasons.js';

export type Check = { ok: true } | { ok: false; reason: Reason; detail: string };
const PASS: Check = { ok: true };
const fail = (reason: Reason, detail: string): Check => ({ ok: false, reason, detail });

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

export type Decoded =
  | { ok: true; packet: DecodedPacket }
  | { ok: false; reason: 'bad-reply'; detail: string; header: ReplyHeader | null };

/**
 * Decodes a reply. Fails (never throws) when it is larger than `maxBytes`,
 * malformed, cut short, or followed by trailing bytes. `header` is kept on
 * failure so a truncated UDP reply that cannot be decoded can still be
 * recognised by its ID and TC flag.
 */
export function decodeReply(buf: Uint8Array, maxBytes: number = MAX_MESSAGE): Decoded {
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
  const bytes = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  let packet: DecodedPacket;
  try {
    packet = dnsPacket.decode(bytes);
  } catch (err) {
    return bad(`malformed reply: ${err instanceof Error ? err.message : String(err)}`);
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
export const sameName = (a: string, b: string): boolean => lowerAscii(bareName(a)) === lowerAscii(bareName(b));

/** Exactly one question, equal to ours (name case-insensitively, type, class). */
export function checkQuestion(packet: DecodedPacket, q: Question): Check {
  const qs = packet.questions ?? [];
  if (qs.length !== 1) return fail('bad-reply', `reply has ${qs.length} questions, expected 1`);
  const got = qs[0]!;
  const gotClass = got.class ?? 'IN';
  if (!sameName(got.name, q.name) || got.type !== q.type || gotClass !== q.class) {
    return fail('bad-reply', `reply question ${got.name} ${gotClass} ${got.type} does not match ${q.name} ${q.class} ${q.type}`);
  }
  return PASS;
}

/** IANA names; EDNS extends the 4 header bits with 8 more from the OPT record. */
const RCODE_NAMES: Readonly<Record<number, string>> = {
  0: 'NOERROR', 1: 'FORMERR', 2: 'SERVFAIL', 3: 'NXDOMAIN', 4: 'NOTIMP', 5: 'REFUSED',
  6: 'YXDOMAIN', 7: 'YXRRSET', 8: 'NXRRSET', 9: 'NOTAUTH', 10: 'NOTZONE', 16: 'BADVERS',
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
  const hit = (packet.answers ?? []).some((a) => a.type === q.type);
  return hit ? PASS : fail('no-answer', `no ${q.type} record in the answer section`);
}

export type ExpectMatch = 'equal' | 'contain';

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
  const parts = [missing.length ? `missing ${missing.join(', ')}` : '', extra.length ? `unexpected ${extra.join(', ')}` : ''];
  return fail('wrong-answer', `answers [${got.join(', ')}]: ${parts.filter(Boolean).join('; ')}`);
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
  answers: string[];
  /** The reply had TC set: over UDP, a retry over TCP is due. */
  tc: boolean;
}

/**
 * Every check, in order: decode, header, question, TC, rcode, answers
 * present, expected addresses. The first failure decides the reason.
 */
export function validateReply(reply: Uint8Array, exp: Expectation): Verdict {
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
  const rcode = rcodeName(rcodeOf(p));
  const answers = answersOf(p);
  const expected = exp.expectAnswers;
  const checks: Array<() => Check> = [
    () => checkNotTruncated(p),
    () => checkRcode(p, exp.validRcodes),
    () => (exp.requireAnswers || expected !== undefined ? checkAnswersPresent(p, exp.question) : PASS),
    () => (expected !== undefined ? checkExpected(p, expected, exp.expectMatch ?? 'equal') : PASS),
  ];
  for (const run of checks) {
    const c = run();
    if (!c.ok) return { ok: false, reason: c.reason, detail: c.detail, rcode, answers, tc: p.flag_tc };
  }
  return { ok: true, reason: 'ok', rcode, answers, tc: false };
}
