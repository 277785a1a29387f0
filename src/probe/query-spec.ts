// The one check of a query: a config `queries[]` item and the question fields
// of a probe's options go through checkQuery, get the same defaults and the
// same errors, and come out as the canonical Query the sweep asks.
//
// Defaults (QUERY_DEFAULTS): type A, rcode NOERROR, answers required, no
// expected addresses, and `expectMatch: 'contain'` when there are: every
// expected address must be answered, extra ones are fine (a Service with more
// endpoints than the operator listed is not a failure; `equal` asks for exactly
// the listed set).
import net from 'node:net';
import { ArgumentError } from '../netns/binding.js';
import { QUERY_TYPES, type ExpectMatch, type Query, type QueryType } from '../model.js';
import { normalizeName } from './query.js';
import { RCODES, normalizeIp } from './validate.js';

export const QUERY_DEFAULTS: Omit<Query, 'name'> = Object.freeze({
  type: 'A',
  validRcodes: Object.freeze(['NOERROR']),
  requireAnswers: true,
  expectAnswers: Object.freeze([]),
  expectMatch: 'contain',
});

/** The keys a query object may have. */
export const QUERY_KEYS: readonly string[] = ['name', ...Object.keys(QUERY_DEFAULTS)];
export const EXPECT_MATCHES: readonly ExpectMatch[] = ['contain', 'equal'];
export const DOMAIN_RULE = 'dot-separated labels of 1-63 letters, digits, "-" or "_"';

/** A query as a caller may write it: only `name` is required; `type` in any case. */
export type QueryInput = { readonly name: string; readonly type?: string } & Partial<Omit<Query, 'name' | 'type'>>;

/** How a query names itself in logs, reports and metric labels. */
export const queryLabel = (q: Pick<Query, 'name' | 'type'>): string => `${q.name} ${q.type}`;

const show = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
};

const familyOf = (ip: string): 4 | 6 | 0 => (ip.includes('%') ? 0 : (net.isIP(ip) as 4 | 6 | 0));

/**
 * Checks one query and returns its canonical form (name lower-case without the
 * trailing dot, type and rcodes upper-case, addresses normalized, defaults
 * filled in). Throws ArgumentError whose `param` names the field
 * (`validRcodes[1]`; '' for the object itself) and whose `detail` says what
 * would be right. Unknown keys are errors.
 */
const at = (param: string, message: string): never => {
  throw new ArgumentError(param, message);
};

export function checkQuery(raw: unknown): Query {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return at('', `must be an object such as {"name": "kubernetes.default.svc.cluster.local", "type": "A"}, got ${show(raw)}`);
  }
  for (const key of Object.keys(raw)) {
    if (!QUERY_KEYS.includes(key)) at(key, `unknown key (a query has: ${QUERY_KEYS.join(', ')})`);
  }
  const q: Record<string, unknown> = { ...QUERY_DEFAULTS };
  for (const [key, value] of Object.entries(raw)) if (value !== undefined) q[key] = value;
  if (q.name === undefined) at('name', 'is required');
  let name = '';
  try {
    name = normalizeName(q.name);
  } catch {
    at('name', `must be a domain name (${DOMAIN_RULE}), got ${show(q.name)}`);
  }
  const type = typeof q.type === 'string' ? q.type.toUpperCase() : q.type;
  if (!(QUERY_TYPES as readonly unknown[]).includes(type)) at('type', `must be one of ${QUERY_TYPES.join(', ')}, got ${show(q.type)}`);
  if (!Array.isArray(q.validRcodes) || q.validRcodes.length === 0) at('validRcodes', `must be a non-empty array of rcode names (${RCODES.join(', ')})`);
  const validRcodes: string[] = [];
  for (const [j, r] of (q.validRcodes as unknown[]).entries()) {
    const rcode = typeof r === 'string' ? r.toUpperCase() : r;
    if (!RCODES.includes(rcode as string)) at(`validRcodes[${j}]`, `must be one of ${RCODES.join(', ')}, got ${show(r)}`);
    validRcodes.push(rcode as string);
  }
  if (typeof q.requireAnswers !== 'boolean') at('requireAnswers', 'must be true or false');
  if (!Array.isArray(q.expectAnswers)) at('expectAnswers', 'must be an array of IP addresses');
  const family = type === 'A' ? 4 : type === 'AAAA' ? 6 : 0;
  if (family === 0 && (q.expectAnswers as unknown[]).length > 0) at('expectAnswers', 'applies to A and AAAA queries only');
  const expectAnswers: string[] = [];
  for (const [j, ip] of (q.expectAnswers as unknown[]).entries()) {
    if (typeof ip !== 'string' || familyOf(ip) === 0) at(`expectAnswers[${j}]`, `not an IP address: ${show(ip)}`);
    if (familyOf(ip as string) !== family) at(`expectAnswers[${j}]`, `${show(ip)} cannot be the answer to a type ${type as string} query`);
    expectAnswers.push(normalizeIp(ip as string)!);
  }
  if (!EXPECT_MATCHES.includes(q.expectMatch as ExpectMatch)) at('expectMatch', `must be "contain" or "equal", got ${show(q.expectMatch)}`);
  return {
    name,
    type: type as QueryType,
    validRcodes,
    requireAnswers: q.requireAnswers as boolean,
    expectAnswers,
    expectMatch: q.expectMatch as ExpectMatch,
  };
}
