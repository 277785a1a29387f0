import t from 'tap';
import fs from 'node:fs';
import {
  checkRoutes,
  describeRoute,
  lookupRoute,
  MAX_ROUTES,
  parseIpv4Routes,
  parseIpv6Routes,
  parseRouteFacts,
  routeInterfaces,
  type RoutesFacts,
} from '../../src/diagnose/routes.js';
import { parseIp } from '../../src/diagnose/ip.js';
import { vantage } from '../fixtures/diagnose/sweep-rows.js';
import { repoPath } from '../support/paths.js';

const FILES = repoPath('test/fixtures/diagnose/files') + '/';
const file = (name: string): string => fs.readFileSync(`${FILES}${name}`, 'utf8');
const facts = (v4: string | null, v6: string | null): RoutesFacts => ({
  v4: v4 === null ? { path: '/p/net/route', error: { code: 'ENOENT', message: 'cannot read /p/net/route: ENOENT' } } : { path: '/p/net/route', text: file(v4) },
  v6:
    v6 === null
      ? { path: '/p/net/ipv6_route', error: { code: 'ENOENT', message: 'cannot read /p/net/ipv6_route: ENOENT' } }
      : { path: '/p/net/ipv6_route', text: file(v6) },
});
const V = vantage({ pid: 2101 });

t.test('parses /proc/net/route (little-endian hex) as the kernel writes it', async (t) => {
  const { routes, problems } = parseIpv4Routes(file('route-pod-default'), 'LE');
  t.same(problems, []);
  t.same(routes.map(describeRoute), ['default via 10.244.1.1 dev eth0', '10.244.1.0/24 dev eth0']);
  t.equal(lookupRoute(routes, parseIp('10.96.0.10')!)?.gateway, '10.244.1.1', 'the default route covers the Service IP');
  t.equal(lookupRoute(routes, parseIp('10.244.1.9')!)?.prefixLength, 24, 'longest prefix wins');
  // The same bytes on a big-endian machine read the other way round.
  const be = parseIpv4Routes(file('route-pod-default'), 'BE');
  t.equal(describeRoute(be.routes[0]!), 'default via 1.1.244.10 dev eth0');
});

t.test('blackhole and unreachable routes (captured from a real namespace)', async (t) => {
  const { routes } = parseIpv4Routes(file('route-pod-blackhole'), 'LE');
  t.same(
    routes.map((r) => [describeRoute(r), r.kind]),
    [
      ['default via 10.244.1.1 dev eth0', 'unicast'],
      ['10.244.1.0/24 dev eth0', 'unicast'],
      ['blackhole 10.96.0.10/32', 'blackhole'],
      ['reject 10.96.0.11/32', 'reject'],
    ],
  );
  const tables = parseRouteFacts(facts('route-pod-blackhole', 'ipv6_route-pod'));
  const f = checkRoutes(V, tables, ['10.96.0.10', '10.96.0.11', '10.96.0.12']);
  t.same(
    f.map((x) => [x.code, x.evidence.server]),
    [
      ['routes/rejected', '10.96.0.10'],
      ['routes/rejected', '10.96.0.11'],
    ],
  );
  t.match(f[0]!.message, /blackhole 10\.96\.0\.10\/32.*silently dropped/);
  t.match(f[1]!.message, /reject 10\.96\.0\.11\/32/);
});

t.test('no default route: the servers outside the connected subnet have no route', async (t) => {
  const tables = parseRouteFacts(facts('route-pod-no-default', 'ipv6_route-null-only'));
  const f = checkRoutes(V, tables, ['10.96.0.10', '10.244.1.20', '127.0.0.53', 'fd00:96::10']);
  t.same(
    f.map((x) => [x.code, x.evidence.server]),
    [
      ['routes/no-route', '10.96.0.10'],
      ['routes/no-route', 'fd00:96::10'],
    ],
  );
  t.equal(f[0]!.severity, 'error');
  t.match(f[0]!.message, /No route to DNS server 10\.96\.0\.10: there is no default route/);
  t.same(f[0]!.evidence.routes, ['10.244.1.0/24 dev eth0']);
  t.equal(f[0]!.id, `${V.id}/routes/no-route/10.96.0.10`);
});

t.test('an own address is reached via the local table and is not a finding', async (t) => {
  const tables = parseRouteFacts(facts('route-empty', 'ipv6_route-null-only'));
  t.same(checkRoutes(V, tables, ['10.244.1.5'], new Set(['10.244.1.5'])), []);
  t.equal(checkRoutes(V, tables, ['10.244.1.6']).length, 1);
});

t.test('IPv6: the null entry is no route; reject routes are findings; no ipv6_route means IPv6 is off', async (t) => {
  const pod = parseIpv6Routes(file('ipv6_route-pod'));
  t.same(pod.problems, []);
  t.same(pod.routes.map(describeRoute), ['fd00:244:1::/64 dev eth0', 'default via fd00:244:1::1 dev eth0', '::1/128 dev lo', 'fd00:244:1::5/128 dev eth0']);
  t.equal(parseIpv6Routes(file('ipv6_route-null-only')).routes.length, 1, 'only ::1 remains');
  const reject = parseRouteFacts(facts('route-pod-default', 'ipv6_route-reject'));
  const f = checkRoutes(V, reject, ['fd00:96::10', 'fd00:96::11']);
  t.same(
    f.map((x) => [x.code, x.evidence.server]),
    [['routes/rejected', 'fd00:96::10']],
  );
  const off = parseRouteFacts(facts('route-pod-default', null));
  t.same(off.problems, [], 'a missing ipv6_route is not a read problem');
  const f6 = checkRoutes(V, off, ['fd00:96::10', '10.96.0.10']);
  t.same(
    f6.map((x) => x.code),
    ['routes/no-route'],
  );
  t.match(f6[0]!.message, /IPv6 is disabled in this namespace/);
});

t.test('malformed files: a finding about the file, good lines still used, never a throw', async (t) => {
  const mal = parseIpv4Routes(file('route-malformed'), 'LE');
  t.equal(mal.routes.length, 1);
  t.equal(mal.problems.length, 3);
  t.match(mal.problems[0], /^line 3: not a route/);
  t.match(mal.problems[1], /^line 4: not a route/, 'a non-contiguous mask is not a route');
  t.same(parseIpv4Routes(file('route-garbage')).problems, ['line 1: not the header of /proc/net/route']);
  t.same(parseIpv4Routes('x').problems, ['line 1: not the header of /proc/net/route']);
  const v6 = parseIpv6Routes(file('ipv6_route-malformed'));
  t.equal(v6.routes.length, 1);
  t.same(
    v6.problems.map((p) => p.slice(0, 7)),
    ['line 2:', 'line 3:'],
  );

  const tables = parseRouteFacts(facts('route-malformed', 'ipv6_route-malformed'));
  const f = checkRoutes(V, tables, ['10.96.0.10']);
  t.same(
    f.map((x) => x.code),
    ['routes/unreadable'],
    'the default route on the good line still covers the server',
  );
  t.match(f[0]!.message, /\/p\/net\/route: line 3: not a route/);
  t.match(f[0]!.message, /and 4 more problems/);

  const unreadable: RoutesFacts = {
    v4: { path: '/p/net/route', error: { code: 'EACCES', message: 'cannot read /p/net/route: EACCES' } },
    v6: { path: '/p/net/ipv6_route', error: { code: 'EIO', message: 'cannot read /p/net/ipv6_route: EIO' } },
  };
  const u = checkRoutes(V, parseRouteFacts(unreadable), ['10.96.0.10', 'fd00::10']);
  t.same(
    u.map((x) => x.code),
    ['routes/unreadable', 'routes/no-route'],
    'IPv4 servers are not judged without a table',
  );
  t.same(u[0]!.evidence.problems, ['cannot read /p/net/route: EACCES', 'cannot read /p/net/ipv6_route: EIO']);

  // Random bytes never throw.
  for (let i = 0; i < 200; i++) {
    const junk = Buffer.from(Array.from({ length: 300 }, () => Math.floor(Math.random() * 256))).toString('latin1');
    parseIpv4Routes(`Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n${junk}`);
    parseIpv6Routes(junk);
  }
});

t.test('routeInterfaces names the interfaces the DNS routes use', async (t) => {
  const tables = parseRouteFacts(facts('route-pod-blackhole', 'ipv6_route-pod'));
  t.same([...routeInterfaces(tables, ['10.96.0.10', '10.244.1.9', 'fd00::1', 'bogus'])], ['eth0']);
});

t.test('an empty /proc/net/route is an empty table, not an unreadable one (issue 10)', async (t) => {
  // The kernel writes nothing at all, not even the header, for a namespace without a main table.
  for (const text of ['', '\n', `${file('route-pod-default').split('\n')[0]}\n`]) {
    t.same(parseIpv4Routes(text), { routes: [], problems: [], problemCount: 0 }, JSON.stringify(text.slice(0, 10)));
    const tables = parseRouteFacts({ v4: { path: '/p/net/route', text }, v6: { path: '/p/net/ipv6_route', error: { code: 'ENOENT', message: 'x' } } });
    t.same(tables.problems, []);
    const f = checkRoutes(V, tables, ['127.0.0.53', '10.96.0.10']);
    t.same(
      f.map((x) => [x.code, x.evidence.server]),
      [['routes/no-route', '10.96.0.10']],
      'no route to a remote server, nothing about the file; loopback needs none',
    );
  }
});

t.test('bounded: problems never quote the file, are capped and counted; routes and names capped', async (t) => {
  const header = file('route-pod-default').split('\n')[0]!;
  const secret = 'root:$6$c4n4ry$hash:20228:0:99999:7:::';
  const bad = parseIpv4Routes(`${header}\n${Array.from({ length: 40 }, () => `${secret}\t\x1b[2J`).join('\n')}\n`, 'LE');
  t.equal(bad.problems.length, 17);
  t.equal(bad.problemCount, 40);
  t.equal(bad.problems[0], 'line 2: not a route');
  t.equal(bad.problems[16], '…and 24 more');
  t.notOk(bad.problems.join('\n').includes('c4n4ry'), 'nothing of the line is quoted');
  const tables = parseRouteFacts({
    v4: { path: '/p/net/route', text: `${header}\n${Array.from({ length: 40 }, () => secret).join('\n')}` },
    v6: { path: '/p/net/ipv6_route', text: 'junk\n' },
  });
  t.equal(tables.problemCount, 41);
  t.match(checkRoutes(V, tables, [])[0]!.message, /line 2: not a route \(and 40 more problems\)/);

  const route = file('route-pod-default').split('\n')[1]!;
  const many = parseIpv4Routes(`${header}\n${`${route}\n`.repeat(MAX_ROUTES + 100)}`, 'LE');
  t.equal(many.routes.length, MAX_ROUTES);
  t.same(many.problems, [`more than ${MAX_ROUTES} routes: 100 not read`]);
  const long = route.replace(/^eth0/, 'x'.repeat(16));
  t.same(parseIpv4Routes(`${header}\n${long}\n`, 'LE').problems, ['line 2: not a route'], 'an interface name longer than IFNAMSIZ - 1 is no kernel route');
  t.equal(
    parseIpv4Routes(`${header}\n${route.replace(/^eth0/, 'e\x1bth')}\n`, 'LE').routes[0]!.iface,
    'e\x1bth',
    'a short name with a control character is kept (shown escaped)',
  );
  const v6 = parseIpv6Routes(`${'0'.repeat(32)} 00 ${'0'.repeat(32)} 00 ${'0'.repeat(32)} 00000400 00000001 00000000 00000001 ${'y'.repeat(16)}\n`);
  t.same(v6.problems, ['line 1: not an IPv6 route']);
});
