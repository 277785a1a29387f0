// Fuzzing the resolv.conf parser (a container's file: hostile input) and the
// diagnosis built on it: never a throw, a result bounded by the parser's caps
// whatever the input, and warnings that never quote the file.
import t from 'tap';
import fc from 'fast-check';
import {
  MAX_DOMAIN_KEPT,
  MAX_IGNORED_KEPT,
  MAX_LINE_WARNINGS,
  MAX_OPTION_KEPT,
  MAX_OPTIONS_KEPT,
  MAX_SEARCH_KEPT,
  MAXNS,
  parseResolvConf,
} from '../../src/discovery/resolv-conf.js';
import { type ResolvConf } from '../../src/model.js';
import { checkResolvConf } from '../../src/diagnose/resolv-conf.js';
import { vantage } from '../fixtures/diagnose/sweep-rows.js';
import { checkProperty, echoed, expect, hostileChar, hostileText, hostileToken, hugeToken, randomText, word } from '../support/fuzz.js';

const KEYWORDS = ['nameserver', 'search', 'domain', 'options', 'sortlist', 'lookup', 'family', '#', ';', 'nameserver:', 'NAMESERVER'];
const OPTION_KEYS = ['ndots', 'timeout', 'attempts', 'rotate', 'edns0', 'use-vc', 'single-request-reopen', 'trust-ad'];

const address = fc.oneof(
  fc.ipV4(),
  fc.ipV6(),
  fc.tuple(fc.ipV6(), fc.oneof(word, hostileText, fc.constant(''))).map(([a, s]) => `${a}%${s}`),
  fc.tuple(fc.ipV4(), word).map(([a, s]) => `${a}%${s}`),
  fc.constantFrom('10.0.0.300', '::ffff:1.2.3.4', '127.0.0.53', 'fe80::1%eth0', '1.2.3', '::', '0x7f.1'),
);
const option = fc.oneof(
  fc
    .tuple(fc.constantFrom(...OPTION_KEYS), fc.oneof(fc.nat().map(String), fc.constant('99999999999999999999999'), fc.constant('-1'), hostileToken))
    .map(([k, v]) => `${k}:${v}`),
  fc.constantFrom(...OPTION_KEYS),
  hostileToken,
);
const domain = fc.oneof({ arbitrary: fc.domain(), weight: 4 }, { arbitrary: hostileToken, weight: 2 });
const blank = fc.constantFrom(' ', '\t', '  ', ' \t', '\r', '\f', '\v', '\u00a0');

/** One line: a keyword (real, odd or hostile) with arguments of its kind or of any kind. */
const line = fc
  .tuple(
    fc.oneof({ arbitrary: fc.constantFrom(...KEYWORDS), weight: 5 }, { arbitrary: hostileToken, weight: 1 }),
    fc.array(fc.oneof(address, option, domain, hostileToken), { maxLength: 6 }),
    blank,
    fc.boolean(),
  )
  .map(([kw, args, sep, indent]) => `${indent ? sep : ''}${[kw, ...args].join(sep)}`);

/** Many lines of one kind: the caps on nameservers, warnings and the search list. */
const manyLines = fc.oneof(
  fc.integer({ min: 1, max: 3000 }).map((n) => Array.from({ length: n }, (_, i) => `nameserver 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`).join('\n')),
  fc.tuple(fc.integer({ min: 1, max: 3000 }), fc.constantFrom('bogus', 'nameserver x', 'options ndots:x', 'search')).map(([n, l]) => `${l}\n`.repeat(n)),
  fc.tuple(fc.integer({ min: 1, max: 5000 }), word).map(([n, d]) => `search ${`${d}.example `.repeat(n)}\nnameserver 10.96.0.10\n`),
  fc.tuple(fc.integer({ min: 1, max: 3000 }), option).map(([n, o]) => `options ${`${o} `.repeat(n)}`),
);

/** Lines, with now and then one huge token in one of them. */
const lines = fc
  .tuple(fc.array(line, { maxLength: 30 }), fc.constantFrom('\n', '\r\n'), fc.option(fc.tuple(fc.nat(), hugeToken(70_000)), { freq: 20 }))
  .map(([ls, nl, huge]) => {
    if (huge && ls.length > 0) ls[huge[0] % ls.length] += ` ${huge[1]}`;
    return ls.join(nl);
  });

const text = fc.oneof(
  { arbitrary: lines, weight: 10 },
  { arbitrary: randomText, weight: 3 },
  { arbitrary: manyLines, weight: 1 },
  { arbitrary: fc.tuple(fc.constantFrom('search ', 'nameserver ', 'options ', 'domain ', ''), hugeToken(70_000)).map(([k, v]) => k + v), weight: 1 },
  { arbitrary: fc.array(hostileChar, { maxLength: 50 }).map((cs) => cs.join('')), weight: 1 },
);

// Worst case per field, in JSON characters (a control character is escaped as \u00XX: 6 each).
const jsonMax = (chars: number): number => 6 * chars + 2;
const CAPPED = 32; // "…(+N chars)" added by capString
const BOUND =
  MAXNS * 300 +
  MAX_IGNORED_KEPT * 300 +
  MAX_SEARCH_KEPT * jsonMax(MAX_DOMAIN_KEPT + CAPPED) +
  (MAX_OPTIONS_KEPT + 1) * jsonMax(MAX_OPTION_KEPT + CAPPED) +
  (MAX_LINE_WARNINGS + 3) * 200 +
  1000;

function checkBounded(r: ResolvConf): void {
  expect(r.nameservers.length <= MAXNS, 'nameservers capped');
  expect(r.ignoredNameservers.length <= MAX_IGNORED_KEPT && r.ignoredCount >= r.ignoredNameservers.length, 'ignored capped and counted');
  expect(r.search.length <= MAX_SEARCH_KEPT && r.searchCount >= r.search.length, 'search capped and counted');
  expect(
    r.search.every((d) => d.length <= MAX_DOMAIN_KEPT + CAPPED),
    'search domains capped',
  );
  expect(r.options.other.length <= MAX_OPTIONS_KEPT + 1 && r.options.other.every((o) => o.length <= MAX_OPTION_KEPT + CAPPED), 'options capped');
  expect(r.warnings.length <= MAX_LINE_WARNINGS + 3, `at most ${MAX_LINE_WARNINGS + 3} warnings, got ${r.warnings.length}`);
  expect(
    r.warnings.filter((w) => w.startsWith('line ')).length <= MAX_LINE_WARNINGS && r.lineWarningCount >= r.warnings.filter((w) => w.startsWith('line ')).length,
    'line warnings capped and counted',
  );
  expect(
    r.warnings.every((w) => w.length <= 200),
    'warnings are short',
  );
  for (const ns of [...r.nameservers, ...r.ignoredNameservers]) expect(ns.address.length <= 64 && (ns.scopeId ?? '').length < 16, 'addresses are short');
  for (const k of ['ndots', 'timeout', 'attempts'] as const) expect(Number.isInteger(r.options[k]) && r.options[k] >= 0 && r.options[k] <= 30, `${k} in range`);
  const json = JSON.stringify(r).length;
  expect(json <= BOUND, `JSON of the result is ${json} characters, more than ${BOUND}`);
}

t.test('parseResolvConf: never throws, bounded, no echo', async (t) => {
  checkProperty(t, 'parseResolvConf', text, (input) => {
    const r = parseResolvConf(input);
    checkBounded(r);
    const quoted = echoed(r.warnings, input);
    expect(quoted === null, `a warning quotes the file: ${JSON.stringify(quoted)}`);
    // searchLength describes the whole list the way the old code measured it (join with one space).
    if (r.searchCount <= MAX_SEARCH_KEPT && r.search.every((d) => !d.includes('…(+'))) expect(r.searchLength === r.search.join(' ').length, 'searchLength');
  });
});

t.test('the diagnosis on any parse: never throws, evidence bounded', async (t) => {
  const v = vantage({ pid: 77, podUid: 'u', podNamespace: 'ns', podName: 'p' });
  const kube = { dnsServiceIps: ['10.96.0.10'], pods: [{ uid: 'u', namespace: 'ns', name: 'p', dnsPolicy: 'ClusterFirst' as const }] };
  checkProperty(
    t,
    'checkResolvConf',
    text,
    (input) => {
      const findings = checkResolvConf(v, { path: '/proc/77/root/etc/resolv.conf', parsed: parseResolvConf(input) }, [], { kube, nodeLocalDns: [] });
      const json = JSON.stringify(findings).length;
      expect(json <= 8 * BOUND, `findings are ${json} characters`);
      for (const f of findings) expect(f.message.length <= 4096, `${f.code}: message of ${f.message.length} characters`);
    },
    // The diagnosis does more per case; 10,000 cases of it as well.
  );
});
