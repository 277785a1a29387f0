// Fuzzing the /proc/<pid>/net/route and ipv6_route parsers (a namespace's
// owner decides its routes and interface names): never a throw, a result
// bounded by the caps, problems that never quote the file, and the route
// check on any parse never throwing either. (The route cap itself, 8,192,
// is exercised in diagnose-routes.test.ts: repeating lines that often here
// would only make the run long.)
import t from 'tap';
import fc from 'fast-check';
import { checkRoutes, MAX_PROBLEMS, MAX_ROUTES, parseIpv4Routes, parseIpv6Routes, parseRouteFacts, type ParsedRoutes } from '../../src/diagnose/routes.js';
import { vantage } from '../fixtures/diagnose/sweep-rows.js';
import { checkProperty, echoed, expect, hostileText, hostileToken, hugeToken, randomText, word } from '../support/fuzz.js';

const HEADER = 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT';
const hex = (digits: number): fc.Arbitrary<string> =>
  fc.string({ unit: fc.constantFrom(...'0123456789ABCDEFabcdef'.split('')), minLength: digits, maxLength: digits });
const iface = fc.oneof(
  { arbitrary: fc.constantFrom('eth0', 'lo', '*', 'veth1234abcd', 'net1'), weight: 4 },
  { arbitrary: hostileToken, weight: 2 },
  { arbitrary: word, weight: 1 },
);
const field = (good: fc.Arbitrary<string>): fc.Arbitrary<string> =>
  fc.oneof({ arbitrary: good, weight: 8 }, { arbitrary: hostileToken, weight: 1 }, { arbitrary: hex(7), weight: 1 });
const mask = fc.oneof(
  fc.integer({ min: 0, max: 32 }).map((n) => (n === 0 ? 0 : (0xffffffff << (32 - n)) >>> 0).toString(16).toUpperCase().padStart(8, '0')),
  hex(8),
);

const v4Line = fc
  .tuple(
    iface,
    field(hex(8)),
    field(hex(8)),
    field(hex(4)),
    field(fc.constant('0')),
    field(fc.constant('0')),
    field(fc.nat().map(String)),
    field(mask),
    fc.constantFrom('\t', ' ', '   '),
    fc.integer({ min: 1, max: 12 }),
  )
  .map(([i, d, g, f, r, u, m, k, sep, keep]) => [i, d, g, f, r, u, m, k, '0', '0', '0'].slice(0, keep).join(sep));
const v6Line = fc
  .tuple(
    field(hex(32)),
    field(hex(2)),
    field(hex(32)),
    field(hex(2)),
    field(hex(32)),
    field(hex(8)),
    field(hex(8)),
    field(hex(8)),
    field(hex(8)),
    iface,
    fc.integer({ min: 1, max: 11 }),
  )
  .map(([d, l, s, sl, h, m, r, u, f, i, keep]) => [d, l, s, sl, h, m, r, u, f, i, 'x'].slice(0, keep).join(' '));

const withHuge = (ls: fc.Arbitrary<string[]>): fc.Arbitrary<string> =>
  fc.tuple(ls, fc.option(fc.tuple(fc.nat(), hugeToken(70_000)), { freq: 20 })).map(([l, huge]) => {
    if (huge && l.length > 0) l[huge[0] % l.length] += huge[1];
    return l.join('\n');
  });

const v4Text = fc.oneof(
  {
    arbitrary: withHuge(fc.array(fc.oneof({ arbitrary: v4Line, weight: 6 }, { arbitrary: hostileText, weight: 1 }), { maxLength: 40 })).map(
      (body) => `${HEADER}\n${body}`,
    ),
    weight: 8,
  },
  { arbitrary: randomText, weight: 2 },
  { arbitrary: fc.constantFrom('', '\n', ' \n\t', HEADER, `${HEADER}\n`), weight: 1 },
  { arbitrary: fc.tuple(v4Line, fc.integer({ min: 1, max: 300 })).map(([l, n]) => `${HEADER}\n${`${l}\n`.repeat(n)}`), weight: 1 },
);
const v6Text = fc.oneof(
  { arbitrary: withHuge(fc.array(fc.oneof({ arbitrary: v6Line, weight: 6 }, { arbitrary: hostileText, weight: 1 }), { maxLength: 40 })), weight: 8 },
  { arbitrary: randomText, weight: 2 },
  { arbitrary: fc.tuple(v6Line, fc.integer({ min: 1, max: 300 })).map(([l, n]) => `${l}\n`.repeat(n)), weight: 1 },
);

function checkBounded(p: ParsedRoutes): void {
  expect(p.routes.length <= MAX_ROUTES, `${p.routes.length} routes`);
  expect(p.problems.length <= MAX_PROBLEMS + 1 && p.problemCount >= Math.min(p.problems.length, MAX_PROBLEMS), 'problems capped and counted');
  expect(
    p.problems.every((x) => x.length <= 120),
    'problems are short',
  );
  for (const r of p.routes) {
    expect(r.iface === null || (r.iface.length >= 1 && r.iface.length <= 15), `interface name of ${r.iface?.length} characters`);
    expect(r.prefixLength >= 0 && r.prefixLength <= (r.family === 4 ? 32 : 128), 'prefix length');
    expect(Number.isFinite(r.metric) && r.metric >= 0 && r.metric <= 0xffffffff * 10, 'metric');
  }
}

const V = vantage({ pid: 9 });
const SERVERS = ['10.96.0.10', '127.0.0.53', 'fd00::10', '169.254.20.10'];

t.test('parseIpv4Routes: never throws, bounded, no echo; the route check on it never throws', async (t) => {
  checkProperty(t, 'parseIpv4Routes', fc.tuple(v4Text, fc.constantFrom<'LE' | 'BE'>('LE', 'BE')), ([text, end]) => {
    const p = parseIpv4Routes(text, end);
    checkBounded(p);
    const quoted = echoed(p.problems, text);
    expect(quoted === null, `a problem quotes the file: ${JSON.stringify(quoted)}`);
    const tables = parseRouteFacts({ v4: { path: '/p/net/route', text }, v6: { path: '/p/net/ipv6_route', error: { code: 'ENOENT', message: 'x' } } });
    const findings = checkRoutes(V, tables, SERVERS);
    expect(JSON.stringify(findings).length <= 16_384, 'findings bounded');
  });
});

t.test('parseIpv6Routes: never throws, bounded, no echo', async (t) => {
  checkProperty(t, 'parseIpv6Routes', v6Text, (text) => {
    const p = parseIpv6Routes(text);
    checkBounded(p);
    const quoted = echoed(p.problems, text);
    expect(quoted === null, `a problem quotes the file: ${JSON.stringify(quoted)}`);
  });
});
