// Builds one DNS query message with dns-packet. Arguments are checked here,
// so a bad name or type fails with an error naming the field before any byte
// is sent.
import { randomFillSync } from 'node:crypto';
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

/** Random 16-bit message IDs, from crypto, drawn from a pool refilled 4,096 at a time. */
const idPool = new Uint16Array(4096);
let idsLeft = 0;
export function randomId(): number {
  if (idsLeft === 0) {
    randomFillSync(idPool);
    idsLeft = idPool.length;
  }
  return idPool[--idsLeft]!;
}

interface Template {
  packet: Buffer;
  question: Question;
  maxUdpReply: number;
}

// Encoded queries by their options (ID 0): a probe's query is encoded once,
// then copied with its ID patched. Only primitive options are cached, keyed
// as given; the cache is emptied when it holds too many.
const templates = new Map<string, Template>();
const MAX_TEMPLATES = 1024;

function templateKey(opts: QueryOptions): string | null {
  const { name, type, class: klass, recursionDesired, edns } = opts;
  if (typeof name !== 'string' || typeof type !== 'string' || (klass !== undefined && typeof klass !== 'string')) return null;
  if (recursionDesired !== undefined && typeof recursionDesired !== 'boolean') return null;
  let size = '';
  if (edns !== undefined) {
    if (edns === null || typeof edns !== 'object' || typeof edns.udpPayloadSize !== 'number') return null;
    size = String(edns.udpPayloadSize);
  }
  return `${name}\0${type}\0${klass ?? ''}\0${String(recursionDesired)}\0${size}`;
}

function encodeTemplate(opts: QueryOptions): Template {
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
  const packet = dnsPacket.encode({
    type: 'query',
    id: 0,
    flags: opts.recursionDesired === false ? 0 : dnsPacket.RECURSION_DESIRED,
    questions: [{ name: question.name, type: question.type, class: question.class }],
    additionals:
      udpSize === null ? [] : [{ type: 'OPT', name: '.', udpPayloadSize: udpSize, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }],
  });
  return { packet, question, maxUdpReply: udpSize ?? 512 };
}

/** Checks query options (class, flags, EDNS) without building a message; throws ArgumentError naming the field. */
export function checkQueryOptions(opts: QueryOptions): void {
  template(opts);
}

function template(opts: QueryOptions): Template {
  const key = opts !== null && typeof opts === 'object' ? templateKey(opts) : null;
  const cached = key === null ? undefined : templates.get(key);
  if (cached) return cached;
  const t = encodeTemplate(opts);
  if (key !== null) {
    if (templates.size >= MAX_TEMPLATES) templates.clear();
    templates.set(key, t);
  }
  return t;
}

/** Encodes one query. Throws ArgumentError (naming the field) for bad options. */
export function buildQuery(opts: QueryOptions): BuiltQuery {
  const t = template(opts);
  const id = opts.id === undefined ? randomId() : checkId(opts.id);
  const packet = Buffer.from(t.packet);
  packet[0] = id >> 8;
  packet[1] = id & 0xff;
  return { id, packet, question: { ...t.question }, maxUdpReply: t.maxUdpReply };
}
