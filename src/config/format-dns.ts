// Formats of DNS settings: domain names, transports and the queries every vantage asks.
import { normalizeName } from '../probe/query.js';
import { type Query, type Transport } from '../model.js';
import { checkQuery, DOMAIN_RULE, QUERY_DEFAULTS } from '../probe/query-spec.js';
import { ArgumentError } from '../netns/binding.js';
import { type Format, arrayOf, fail, parseJsonOr, show, splitList } from './format.js';

const isDomainName = (v: unknown): boolean => {
  try {
    normalizeName(v);
    return true;
  } catch {
    return false;
  }
};

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

/** A config query: the shared check (probe/query-spec.ts), its errors prefixed with "[i].field: ". */
function configQuery(raw: unknown, i: number): Query {
  try {
    return checkQuery(raw);
  } catch (err) {
    if (!(err instanceof ArgumentError)) throw err;
    return fail(`[${i}]${err.param ? `.${err.param}` : ''}: ${err.detail}`);
  }
}

export const queries: Format<readonly Query[]> = {
  name: 'queries',
  doc:
    'an array of queries {"name", "type", "validRcodes", "requireAnswers", "expectAnswers", "expectMatch"}; ' +
    `only "name" is required, the others default to ${JSON.stringify(QUERY_DEFAULTS)} (JSON text in the environment)`,
  json: ['array'],
  validate: (v) => {
    arrayOf(v, 'query objects', configQuery);
    if ((v as unknown[]).length === 0) fail('must list at least one query');
  },
  coerce: parseJsonOr,
  normalize: (v) => v.map(configQuery),
};
