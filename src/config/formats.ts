// The value formats of coredns-healthd's settings: what each accepts in the
// JSON file, how an environment variable or flag string becomes a value, how
// a value is checked (the error says what is wrong and what would be right),
// and the canonical form the daemon sees. Registered with convict by name.
import net from 'node:net';
import { QUERY_TYPES, normalizeName, type QueryType } from '../dns/query.js';
import { RCODES, normalizeIp, type ExpectMatch } from '../dns/validate.js';
import { MAX_TIMEOUT_MS } from '../netns/binding.js';
import type { Transport } from '../netns/binding.js';
import { LEVELS } from '../log.js';

export type JsonType = 'string' | 'number' | 'boolean' | 'array' | 'object' | 'null';

export interface Format<T> {
  readonly name: string;
  /** What a value looks like, for the documentation. */
  readonly doc: string;
  /** The JSON types the configuration file may use for this format. */
  readonly json: readonly JsonType[];
  /** Throws an Error whose message says what is wrong (the caller adds the key). */
  readonly validate: (value: unknown) => void;
  /** Environment/flag (and file) strings → value; returns the string unchanged when it cannot. */
  readonly coerce?: (text: string) => unknown;
  /** The canonical form of a valid value. */
  readonly normalize?: (value: T) => T;
  /** Phantom: the type of the value in the effective configuration. */
  readonly _type?: T;
}

export const jsonTypeOf = (v: unknown): JsonType => (v === null ? 'null' : Array.isArray(v) ? 'array' : (typeof v as JsonType));

const fail = (message: string): never => {
  throw new Error(message);
};

const show = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
};

const splitList = (text: string): string[] => (text.trim() === '' ? [] : text.split(',').map((s) => s.trim()));

const parseJsonOr = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};

// ---------------------------------------------------------------------------
// Scalars

const BOOLEAN_WORDS: Readonly<Record<string, boolean>> = { true: true, '1': true, yes: true, on: true, false: false, '0': false, no: false, off: false };

export const boolean: Format<boolean> = {
  name: 'boolean',
  doc: 'true or false (an environment variable may also say 1/0, yes/no, on/off)',
  json: ['boolean'],
  validate: (v) => {
    if (typeof v !== 'boolean') fail('must be true or false');
  },
  coerce: (text) => BOOLEAN_WORDS[text.trim().toLowerCase()] ?? text,
};

function integer(name: string, min: number, max: number, doc: string): Format<number> {
  return {
    name,
    doc,
    json: ['number'],
    validate: (v) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(`must be an integer from ${min} to ${max}`);
    },
    coerce: (text) => (/^\s*-?\d+\s*$/.test(text) ? Number(text) : text),
  };
}

/** A number in (min, max], or [min, max] when minInclusive. */
function decimal(name: string, min: number, max: number, minInclusive: boolean, doc: string): Format<number> {
  const range = `${minInclusive ? 'from' : 'greater than'} ${min}${minInclusive ? ' to' : ' and at most'} ${max}`;
  return {
    name,
    doc,
    json: ['number'],
    validate: (v) => {
      const ok = typeof v === 'number' && Number.isFinite(v) && (minInclusive ? v >= min : v > min) && v <= max;
      if (!ok) fail(`must be a number ${range}`);
    },
    coerce: (text) => (/^\s*-?\d+(\.\d+)?\s*$/.test(text) ? Number(text) : text),
  };
}

export const count = integer('count', 1, 1_000_000, 'an integer of at least 1');
export const countOrZero = integer('count-or-zero', 0, 1_000_000, 'an integer of at least 0');
export const attempts = integer('attempts', 1, 10, 'an integer from 1 to 10');
export const dnsPort = integer('dns-port', 1, 65_535, 'a port number from 1 to 65535');
export const ratio = decimal('ratio', 0, 1, false, 'a fraction greater than 0 and at most 1, e.g. 0.9');
export const factor = decimal('factor', 1, 100, false, 'a number greater than 1 and at most 100, e.g. 2');

function oneOf<const T extends string>(name: string, values: readonly T[]): Format<T> {
  return {
    name,
    doc: `one of ${values.map((v) => JSON.stringify(v)).join(', ')}`,
    json: ['string'],
    validate: (v) => {
      if (!(values as readonly unknown[]).includes(v)) fail(`must be one of ${values.map((x) => JSON.stringify(x)).join(', ')}`);
    },
  };
}

export const REMEDY_MODES = ['off', 'dry-run', 'enforce'] as const;
export const HEALTH_OVERRIDES = ['none', 'healthy', 'unhealthy'] as const;
export const logLevel = oneOf('log-level', LEVELS);
export const remedyMode = oneOf('remedy-mode', REMEDY_MODES);
export const healthOverride = oneOf('health-override', HEALTH_OVERRIDES);

function pathFormat(name: string, allowEmpty: boolean, doc: string): Format<string> {
  return {
    name,
    doc,
    json: ['string'],
    validate: (v) => {
      if (typeof v !== 'string' || (!allowEmpty && v === '')) fail(allowEmpty ? 'must be a file path or ""' : 'must be a non-empty file path');
      if ((v as string).includes('\0')) fail('must not contain a NUL character');
    },
  };
}

export const path = pathFormat('path', false, 'a file or directory path');
export const optionalPath = pathFormat('path-or-empty', true, 'a file path, or "" for none');

// ---------------------------------------------------------------------------
// Durations: a number of milliseconds, or a string with units

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/y;
/** setTimeout's limit: longer delays fire at once. */
export const MAX_DURATION_MS = 2_147_483_647;

/**
 * Milliseconds from a number (already milliseconds) or a string: "250" (ms),
 * "500ms", "10s", "5m", "1h", "1m30s". Null when it is not a duration.
 */
export function parseDuration(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value !== 'string') return null;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  if (text === '') return null;
  let total = 0;
  DURATION_PART.lastIndex = 0;
  while (DURATION_PART.lastIndex < text.length) {
    const m = DURATION_PART.exec(text);
    if (!m) return null;
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
  }
  return total;
}

const DURATION_EXAMPLES = 'a number of milliseconds or a string such as "500ms", "10s", "5m" or "1h30m"';

function durationFormat(name: string, allowZero: boolean, max: number, maxText: string): Format<number> {
  const lower = allowZero ? 'zero or more' : 'greater than zero';
  return {
    name,
    doc: `a duration, ${lower}, at most ${maxText}: ${DURATION_EXAMPLES}`,
    json: ['number', 'string'],
    validate: (v) => {
      const negative = typeof v === 'string' && /^\s*-/.test(v) && parseDuration(v.replace(/^\s*-/, '')) !== null;
      if (typeof v !== 'number' && !negative) fail(`must be a duration: ${DURATION_EXAMPLES}`);
      const ms = v as number;
      if (negative || !Number.isFinite(ms) || (allowZero ? ms < 0 : ms <= 0)) fail(`must be a duration ${lower} (${DURATION_EXAMPLES})`);
      if (ms > max) fail(`must be at most ${maxText} (${max} ms)`);
    },
    coerce: (text) => parseDuration(text) ?? text,
  };
}

export const duration = durationFormat('duration', false, MAX_DURATION_MS, '24 days');
export const durationOrZero = durationFormat('duration-or-zero', true, MAX_DURATION_MS, '24 days');
export const probeTimeout = durationFormat('probe-timeout', false, MAX_TIMEOUT_MS, `${MAX_TIMEOUT_MS / 1000}s`);

// ---------------------------------------------------------------------------
// Addresses

export interface HostPort {
  address: string;
  port: number;
  family: 4 | 6;
}

function ipFamily(address: string): 4 | 6 | 0 {
  if (address.includes('%')) return 0; // zone ids name a host interface: meaningless in another netns
  return net.isIP(address) as 4 | 6 | 0;
}

function parsePort(text: string, min: number): number | null {
  if (!/^\d{1,5}$/.test(text)) return null;
  const port = Number(text);
  return port >= min && port <= 65_535 ? port : null;
}

/** "IP", "IP:PORT", "[IPv6]:PORT" or a bare IPv6 address. Throws an Error saying what is wrong. */
function parseAddressPort(text: string, defaultPort: number | null, minPort: number): HostPort {
  const what = defaultPort === null ? 'IP:PORT or [IPv6]:PORT' : 'IP, IP:PORT or [IPv6]:PORT';
  let host: string;
  let portText: string | null = null;
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(text);
  if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2] ?? null;
    if (ipFamily(host) !== 6) fail(`${JSON.stringify(text)}: ${JSON.stringify(host)} in brackets is not an IPv6 address (expected ${what})`);
  } else if (ipFamily(text) === 6) {
    host = text;
  } else {
    const colon = text.lastIndexOf(':');
    host = colon === -1 ? text : text.slice(0, colon);
    portText = colon === -1 ? null : text.slice(colon + 1);
    if (ipFamily(host) !== 4) fail(`${JSON.stringify(text)} is not ${what} (host names are not accepted)`);
  }
  if (portText === null) {
    if (defaultPort === null) fail(`${JSON.stringify(text)} has no port (expected ${what})`);
    return { address: host, port: defaultPort!, family: ipFamily(host) as 4 | 6 };
  }
  const port = parsePort(portText, minPort);
  if (port === null) fail(`${JSON.stringify(text)}: port must be a number from ${minPort} to 65535`);
  return { address: host, port: port!, family: ipFamily(host) as 4 | 6 };
}

/** A DNS server target: "10.96.0.10", "10.96.0.10:53", "[fd00::10]:53" or "fd00::10". */
export const parseServerTarget = (text: string, defaultPort: number): HostPort => parseAddressPort(text.trim(), defaultPort, 1);

/** An HTTP listen address: "0.0.0.0:9890", "127.0.0.1:0" (any free port) or "[::]:9890". */
export const parseListenAddress = (text: string): HostPort => parseAddressPort(text.trim(), null, 0);

function arrayOf(v: unknown, what: string, check: (item: unknown, i: number) => void): void {
  if (!Array.isArray(v)) fail(`must be an array of ${what}`);
  (v as unknown[]).forEach(check);
}

export const listenAddress: Format<string> = {
  name: 'listen-address',
  doc: 'an IP address and port: "0.0.0.0:9890", "[::]:9890", "127.0.0.1:0" (port 0: any free port)',
  json: ['string'],
  validate: (v) => {
    if (typeof v !== 'string') fail('must be a string such as "0.0.0.0:9890"');
    parseListenAddress(v as string);
  },
};

export const serverList: Format<readonly string[]> = {
  name: 'server-list',
  doc: 'an array of DNS servers: "IP", "IP:PORT" or "[IPv6]:PORT" (a comma-separated list in the environment)',
  json: ['array'],
  validate: (v) =>
    arrayOf(v, 'server addresses such as "10.96.0.10" or "10.96.0.10:53"', (item, i) => {
      if (typeof item !== 'string') fail(`[${i}]: must be a string such as "10.96.0.10:53", got ${show(item)}`);
      try {
        parseServerTarget(item as string, 53);
      } catch (err) {
        fail(`[${i}]: ${(err as Error).message}`);
      }
    }),
  coerce: splitList,
  normalize: (v) => v.map((s) => s.trim()),
};

export const ipList: Format<readonly string[]> = {
  name: 'ip-list',
  doc: 'an array of IPv4 or IPv6 addresses (a comma-separated list in the environment)',
  json: ['array'],
  validate: (v) =>
    arrayOf(v, 'IP addresses', (item, i) => {
      if (typeof item !== 'string' || ipFamily(item) === 0) fail(`[${i}]: not an IPv4 or IPv6 address: ${show(item)}`);
    }),
  coerce: splitList,
  normalize: (v) => v.map((ip) => normalizeIp(ip) ?? ip),
};

// ---------------------------------------------------------------------------
// Kubernetes names and quantities

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const isSubdomain = (s: string): boolean => s.length <= 253 && s.split('.').every((l) => DNS1123_LABEL.test(l));
const LABEL_RULE = 'lower-case letters, digits and "-", at most 63 characters';

export const k8sNamespace: Format<string> = {
  name: 'k8s-namespace',
  doc: `a Kubernetes namespace name (${LABEL_RULE})`,
  json: ['string'],
  validate: (v) => {
    if (typeof v !== 'string' || !DNS1123_LABEL.test(v)) fail(`must be a Kubernetes namespace name (${LABEL_RULE})`);
  },
};

function k8sNameFormat(name: string, allowEmpty: boolean, doc: string): Format<string> {
  return {
    name,
    doc,
    json: ['string'],
    validate: (v) => {
      if (allowEmpty && v === '') return;
      if (typeof v !== 'string' || !isSubdomain(v)) fail(`must be a Kubernetes object name (dot-separated labels of ${LABEL_RULE})`);
    },
  };
}

export const k8sName = k8sNameFormat('k8s-name', false, 'a Kubernetes object name, e.g. "coredns-healthd-remedy"');
export const nodeName = k8sNameFormat('node-name', true, 'a Kubernetes node name, or "" for this machine\'s host name');

/** "kube-system/kube-dns" → { namespace, name }, or null. */
export function parseObjectRef(text: string): { namespace: string; name: string } | null {
  const parts = text.split('/');
  if (parts.length !== 2 || !DNS1123_LABEL.test(parts[0]!) || !isSubdomain(parts[1]!)) return null;
  return { namespace: parts[0]!, name: parts[1]! };
}

export const objectRef: Format<string> = {
  name: 'object-ref',
  doc: 'a Kubernetes object as "namespace/name", e.g. "kube-system/kube-dns"',
  json: ['string'],
  validate: (v) => {
    if (typeof v !== 'string' || parseObjectRef(v) === null) fail('must be "namespace/name" of Kubernetes names, e.g. "kube-system/kube-dns"');
  },
};

const QUANTITY = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$/;
const QUANTITY_SCALE: Readonly<Record<string, number>> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** A Kubernetes memory quantity ("170Mi", "1Gi", "500M", "1048576") in bytes, or null. */
export function parseQuantity(text: string): number | null {
  const m = QUANTITY.exec(text);
  return m ? Number(m[1]) * QUANTITY_SCALE[m[2] ?? '']! : null;
}

export const quantity: Format<string> = {
  name: 'quantity',
  doc: 'a Kubernetes memory quantity such as "170Mi", "1Gi" or "500M"',
  json: ['string'],
  validate: (v) => {
    const bytes = typeof v === 'string' ? parseQuantity(v) : null;
    if (bytes === null || bytes <= 0) fail('must be a Kubernetes quantity greater than zero, such as "170Mi" or "1Gi"');
  },
};

// ---------------------------------------------------------------------------
// DNS

const isDomainName = (v: unknown): boolean => {
  try {
    normalizeName(v);
    return true;
  } catch {
    return false;
  }
};

const DOMAIN_RULE = 'dot-separated labels of 1-63 letters, digits, "-" or "_"';

export const dnsName: Format<string> = {
  name: 'dns-name',
  doc: 'a domain name such as "cluster.local"',
  json: ['string'],
  validate: (v) => {
    if (v === '.' || !isDomainName(v)) fail(`must be a domain name such as "cluster.local" (${DOMAIN_RULE})`);
  },
  normalize: (v) => normalizeName(v),
};

export const TRANSPORTS: readonly Transport[] = ['udp', 'tcp'];

export const transports: Format<readonly Transport[]> = {
  name: 'transports',
  doc: '["udp"], ["tcp"] or ["udp", "tcp"] ("udp,tcp" in the environment)',
  json: ['array'],
  validate: (v) => {
    arrayOf(v, '"udp" and/or "tcp"', (item, i) => {
      if (!TRANSPORTS.includes(item as Transport)) fail(`[${i}]: must be "udp" or "tcp", got ${show(item)}`);
    });
    const list = v as unknown[];
    if (list.length === 0) fail('must list at least one of "udp", "tcp"');
    if (new Set(list).size !== list.length) fail('lists a transport twice');
  },
  coerce: (text) => splitList(text.toLowerCase()),
  normalize: (v) => TRANSPORTS.filter((t) => v.includes(t)),
};

/** One DNS question that every vantage asks every target, and what makes its answer good. */
export interface Query {
  /** Absolute name, lower-case, no trailing dot. */
  readonly name: string;
  readonly type: QueryType;
  /** Rcode names that count as a pass, e.g. ['NOERROR']. */
  readonly validRcodes: readonly string[];
  /** A reply must carry at least one record of `type`. */
  readonly requireAnswers: boolean;
  /** Addresses the answer must hold (A/AAAA only); [] checks none. */
  readonly expectAnswers: readonly string[];
  /** 'contain': every expected address is answered; 'equal': exactly those. */
  readonly expectMatch: ExpectMatch;
}

export const QUERY_DEFAULTS: Omit<Query, 'name'> = Object.freeze({
  type: 'A',
  validRcodes: Object.freeze(['NOERROR']),
  requireAnswers: true,
  expectAnswers: Object.freeze([]),
  expectMatch: 'contain',
});
const QUERY_KEYS = ['name', ...Object.keys(QUERY_DEFAULTS)];
const EXPECT_MATCHES: readonly ExpectMatch[] = ['contain', 'equal'];

const isPlainObject = (v: unknown): v is Record<string, unknown> => jsonTypeOf(v) === 'object';

/** Checks one query object and returns its canonical form. Errors start with "[i].field: ". */
function checkQuery(raw: unknown, i: number): Query {
  const at = (field: string, message: string): never => fail(`[${i}]${field ? `.${field}` : ''}: ${message}`);
  if (!isPlainObject(raw)) return at('', `must be an object such as {"name": "kubernetes.default.svc.cluster.local", "type": "A"}, got ${show(raw)}`);
  for (const key of Object.keys(raw)) {
    if (!QUERY_KEYS.includes(key)) at(key, `unknown key (a query has: ${QUERY_KEYS.join(', ')})`);
  }
  const q: Record<string, unknown> = { ...QUERY_DEFAULTS, ...raw };
  if (q.name === undefined) at('name', 'is required');
  if (!isDomainName(q.name)) at('name', `must be a domain name (${DOMAIN_RULE}), got ${show(q.name)}`);
  const type = typeof q.type === 'string' ? q.type.toUpperCase() : q.type;
  if (!(QUERY_TYPES as readonly unknown[]).includes(type)) at('type', `must be one of ${QUERY_TYPES.join(', ')}, got ${show(q.type)}`);
  if (!Array.isArray(q.validRcodes) || q.validRcodes.length === 0) at('validRcodes', `must be a non-empty array of rcode names (${RCODES.join(', ')})`);
  const validRcodes = (q.validRcodes as unknown[]).map((r, j) => {
    const name = typeof r === 'string' ? r.toUpperCase() : r;
    if (!RCODES.includes(name as string)) at(`validRcodes[${j}]`, `must be one of ${RCODES.join(', ')}, got ${show(r)}`);
    return name as string;
  });
  if (typeof q.requireAnswers !== 'boolean') at('requireAnswers', 'must be true or false');
  if (!Array.isArray(q.expectAnswers)) at('expectAnswers', 'must be an array of IP addresses');
  const family = type === 'A' ? 4 : type === 'AAAA' ? 6 : 0;
  if (family === 0 && (q.expectAnswers as unknown[]).length > 0) at('expectAnswers', 'applies to A and AAAA queries only');
  const expectAnswers = (q.expectAnswers as unknown[]).map((ip, j) => {
    if (typeof ip !== 'string' || ipFamily(ip) === 0) at(`expectAnswers[${j}]`, `not an IP address: ${show(ip)}`);
    if (ipFamily(ip as string) !== family) at(`expectAnswers[${j}]`, `${show(ip)} cannot be the answer to a type ${type as string} query`);
    return normalizeIp(ip as string)!;
  });
  if (!EXPECT_MATCHES.includes(q.expectMatch as ExpectMatch)) at('expectMatch', `must be "contain" or "equal", got ${show(q.expectMatch)}`);
  return {
    name: normalizeName(q.name),
    type: type as QueryType,
    validRcodes,
    requireAnswers: q.requireAnswers as boolean,
    expectAnswers,
    expectMatch: q.expectMatch as ExpectMatch,
  };
}

export const queries: Format<readonly Query[]> = {
  name: 'queries',
  doc:
    'an array of queries {"name", "type", "validRcodes", "requireAnswers", "expectAnswers", "expectMatch"}; ' +
    `only "name" is required, the others default to ${JSON.stringify(QUERY_DEFAULTS)} (JSON text in the environment)`,
  json: ['array'],
  validate: (v) => {
    arrayOf(v, 'query objects', checkQuery);
    if ((v as unknown[]).length === 0) fail('must list at least one query');
  },
  coerce: parseJsonOr,
  normalize: (v) => v.map(checkQuery),
};

// ---------------------------------------------------------------------------

/** Every format, by name. */
export const FORMATS: ReadonlyMap<string, Format<unknown>> = new Map(
  [
    boolean,
    count,
    countOrZero,
    attempts,
    dnsPort,
    ratio,
    factor,
    logLevel,
    remedyMode,
    healthOverride,
    path,
    optionalPath,
    duration,
    durationOrZero,
    probeTimeout,
    listenAddress,
    serverList,
    ipList,
    k8sNamespace,
    k8sName,
    nodeName,
    objectRef,
    quantity,
    dnsName,
    transports,
    queries,
  ].map((f) => [f.name, f as Format<unknown>]),
);
