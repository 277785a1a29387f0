// Builds one DNS query message with dns-packet. Arguments are checked here,
// so a bad name or type fails with an error naming the field before any byte
// is sent.
import { randomInt } from 'node:crypto';
import dnsPacket from 'dns-packet';
import { ArgumentError } from '../netns/binding.js';
import { QUERY_TYPES, QueryType } from '../model.js';

/** IN for everything; CH for server identity queries (id.server, version.bind). */
export const QUERY_CLASSES = ['IN', 'CH'] as const;
export type QueryClass = (typeof QUERY_CLASSES)[number];

export const MIN_EDNS_UDP_SIZE = 512;
export const MAX_EDNS_UDP_SIZE = 65_535;

export interface QueryOptions {
  name: string;
  type: string;
  class?: string;
  /** RD flag; default true (pods ask their resolver to recurse). */
  recursionDesired?: boolean;
  /** Adds an EDNS0 OPT record advertising this UDP payload size. */
  edns?: { udpPayloadSize: number };
  /** Message ID; default a random 16-bit value from crypto. */
  id?: number;
}

/** The question as it is on the wire, for matching the reply against. */
export interface Question {
  name: string;
  type: QueryType;
  class: QueryClass;
}

export interface BuiltQuery {
  id: number;
  packet: Buffer;
  question: Question;
  /** The largest UDP reply the server may send: the EDNS size, or 512 without EDNS. */
  maxUdpReply: number;
}

const LABEL = /^[A-Za-z0-9_-]{1,63}$/;

/** Lower-case, no trailing dot; '.' for the root. Throws ArgumentError naming `param`. */
export function normalizeName(name: unknown, param = 'name'): string {
  if (typeof name !== 'string' || name === '') {
    throw new ArgumentError(param, `expected a domain name, got ${JSON.stringify(name)}`);
  }
  if (name === '.') return '.';
  const bare = name.endsWith('.') ? name.slice(0, -1) : name;
  const labels = bare.split('.');
  for (const label of labels) {
    if (!LABEL.test(label)) {
      throw new ArgumentError(param, `invalid label ${JSON.stringify(label)} in ${JSON.stringify(name)} (labels are 1-63 of A-Z a-z 0-9 _ -)`);
    }
  }
  // Wire length: one length byte per label plus the labels plus the root byte.
  if (bare.length + 2 > 255) throw new ArgumentError(param, `name is longer than 253 characters: ${name.length}`);
  return bare.toLowerCase();
}

function oneOf<T extends string>(value: unknown, allowed: readonly T[], param: string): T {
  const upper = typeof value === 'string' ? value.toUpperCase() : value;
  if (!(allowed as readonly unknown[]).includes(upper)) {
    throw new ArgumentError(param, `expected one of ${allowed.join(', ')}, got ${JSON.stringify(value)}`);
  }
  return upper as T;
}

export const normalizeType = (type: unknown, param = 'type'): QueryType => oneOf(type, QUERY_TYPES, param);
export const normalizeClass = (klass: unknown, param = 'class'): QueryClass => oneOf(klass, QUERY_CLASSES, param);

function checkId(id: unknown): number {
  if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id > 0xffff) {
    throw new ArgumentError('id', `expected an integer from 0 to 65535, got ${JSON.stringify(id)}`);
  }
  return id;
}

function checkUdpSize(size: unknown): number {
  if (typeof size !== 'number' || !Number.isInteger(size) || size < MIN_EDNS_UDP_SIZE || size > MAX_EDNS_UDP_SIZE) {
    throw new ArgumentError('edns.udpPayloadSize', `expected an integer from ${MIN_EDNS_UDP_SIZE} to ${MAX_EDNS_UDP_SIZE}, got ${JSON.stringify(size)}`);
  }
  return size;
}

// A sweep sends the same few questions thousands of times: each is encoded
// once (ID 0) and copied with its ID written in. Bounded: at most
// MAX_TEMPLATES questions are kept (they come from the configuration and the
// watched Services), then the cache starts over.
const MAX_TEMPLATES = 256;
const templates = new Map<string, Buffer>();

function encodeQuery(question: Question, recursionDesired: boolean, udpSize: number | null): Buffer {
  const key = `${question.name} ${question.type} ${question.class} ${recursionDesired ? 1 : 0} ${udpSize ?? ''}`;
  let t = templates.get(key);
  if (!t) {
    t = dnsPacket.encode({
      type: 'query',
      id: 0,
      flags: recursionDesired ? dnsPacket.RECURSION_DESIRED : 0,
      questions: [{ name: question.name, type: question.type, class: question.class }],
      additionals:
        udpSize === null ? [] : [{ type: 'OPT', name: '.', udpPayloadSize: udpSize, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }],
    });
    if (templates.size >= MAX_TEMPLATES) templates.clear();
    templates.set(key, t);
  }
  return t;
}

/** Encodes one query. Throws ArgumentError (naming the field) for bad options. */
export function buildQuery(opts: QueryOptions): BuiltQuery {
  if (opts === null || typeof opts !== 'object') throw new ArgumentError('query', 'expected an object');
  const question: Question = {
    name: normalizeName(opts.name),
    type: normalizeType(opts.type),
    class: normalizeClass(opts.class ?? 'IN'),
  };
  if (opts.recursionDesired !== undefined && typeof opts.recursionDesired !== 'boolean') {
    throw new ArgumentError('recursionDesired', `expected a boolean, got ${JSON.stringify(opts.recursionDesired)}`);
  }
  if (opts.edns !== undefined && (opts.edns === null || typeof opts.edns !== 'object')) {
    throw new ArgumentError('edns', 'expected an object like { udpPayloadSize: 1232 }');
  }
  const udpSize = opts.edns ? checkUdpSize(opts.edns.udpPayloadSize) : null;
  const id = opts.id === undefined ? randomInt(0, 0x10000) : checkId(opts.id);
  const template = encodeQuery(question, opts.recursionDesired !== false, udpSize);
  const packet = Buffer.allocUnsafe(template.length);
  template.copy(packet);
  packet.writeUInt16BE(id, 0);
  return { id, packet, question, maxUdpReply: udpSize ?? 512 };
}
