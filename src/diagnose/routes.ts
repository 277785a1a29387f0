// Routes: does a route (a default route or a covering prefix) lead from the
// vantage's namespace to each DNS server it uses? Read from
// /proc/<pid>/net/route (IPv4, the main table) and /proc/<pid>/net/ipv6_route
// (IPv6, every table), which show the namespace of <pid>.
import os from 'node:os';
import type { Vantage } from '../model.js';
import { plural, vantageFinding, type Finding } from './finding.js';
import { formatIp, formatIpv4, formatIpv6, inPrefix, isLoopback, maskLength, parseIp, type IpValue } from './ip.js';
import { TABLE_FILE_MAX } from '../netns/bounded-read.js';
import { readText, truncatedProblem, type TextRead } from './read.js';

// linux/route.h
export const RTF_UP = 0x0001;
export const RTF_GATEWAY = 0x0002;
export const RTF_REJECT = 0x0200;

export type RouteKind = 'unicast' | 'reject' | 'blackhole';

export interface Route {
  family: 4 | 6;
  /** The device; null for a route without one (an IPv4 blackhole route shows "*"). */
  iface: string | null;
  destination: IpValue;
  prefixLength: number;
  gateway: string | null;
  flags: number;
  metric: number;
  kind: RouteKind;
}

export interface ParsedRoutes {
  /** At most MAX_ROUTES routes, in file order. */
  routes: Route[];
  /** Lines that could not be parsed, each naming the line (never quoting it): at most MAX_PROBLEMS, then one "…and N more". */
  problems: string[];
  /** How many problems there were in all. */
  problemCount: number;
}

// Bounds. The owner of a namespace decides how many routes it has and what
// its interfaces are called. readRoutes reads each file up to 1 MiB (8,192
// lines of /proc/net/route); whatever the text, a parse keeps at most
// MAX_ROUTES routes and MAX_PROBLEMS problems (counting the rest), an
// interface name longer than the kernel allows (IFNAMSIZ - 1 = 15
// characters) is no route the kernel wrote, and problems never quote the file.
/** Routes kept per file; more is a problem (the table is then incomplete). */
export const MAX_ROUTES = 8192;
/** Problems kept per file, then one "…and N more". */
export const MAX_PROBLEMS = 16;
/** linux/if.h: IFNAMSIZ, with the terminating NUL. */
const IFNAMSIZ = 16;

/** Each line of a text (split on \n) with its 1-based number, without an array of them all. */
function* eachLine(text: string): Generator<[string, number]> {
  let start = 0;
  for (let n = 1; start <= text.length; n++) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    yield [text.slice(start, end), n];
    start = end + 1;
  }
}

/** Collects routes and problems within the caps. */
class Collector {
  readonly out: ParsedRoutes = { routes: [], problems: [], problemCount: 0 };
  private dropped = 0;
  problem(p: string): void {
    this.out.problemCount++;
    if (this.out.problems.length < MAX_PROBLEMS) this.out.problems.push(p);
  }
  route(r: Route): void {
    if (this.out.routes.length < MAX_ROUTES) this.out.routes.push(r);
    else this.dropped++;
  }
  done(): ParsedRoutes {
    if (this.dropped > 0) this.problem(`more than ${MAX_ROUTES} routes: ${this.dropped} not read`);
    const more = this.out.problemCount - this.out.problems.length;
    if (more > 0) this.out.problems.push(`…and ${more} more`);
    return this.out;
  }
}

const validIface = (s: string): boolean => s.length > 0 && s.length < IFNAMSIZ;
const IPV4_HEADER = /^Iface\s+Destination\s+Gateway\s+Flags\s+RefCnt\s+Use\s+Metric\s+Mask/;

/**
 * Parses /proc/net/route. Addresses are written as the hex of the raw
 * network-order bytes read as a host-order integer, so the byte order of
 * the machine decides how to read them back. An empty file is an empty table:
 * the kernel writes nothing at all (not even the header) for a namespace
 * without a main table, e.g. one with only loopback.
 */
export function parseIpv4Routes(text: string, endianness: 'LE' | 'BE' = os.endianness()): ParsedRoutes {
  const c = new Collector();
  if (typeof text !== 'string' || text.trim() === '') return c.done();
  const addr = (hex: string): bigint | null => {
    if (!/^[0-9A-Fa-f]{8}$/.test(hex)) return null;
    const n = BigInt(`0x${hex}`);
    if (endianness === 'BE') return n;
    return ((n & 0xffn) << 24n) | (((n >> 8n) & 0xffn) << 16n) | (((n >> 16n) & 0xffn) << 8n) | (n >> 24n);
  };
  for (const [raw, lineNo] of eachLine(text)) {
    if (lineNo === 1) {
      if (!IPV4_HEADER.test(raw.slice(0, 200))) {
        c.problem('line 1: not the header of /proc/net/route');
        return c.done();
      }
      continue;
    }
    const line = raw.trim();
    if (line === '') continue;
    const f = line.split(/\s+/, 12);
    const dst = addr(f[1] ?? '');
    const gw = addr(f[2] ?? '');
    const mask = addr(f[7] ?? '');
    const len = mask === null ? null : maskLength(mask, 4);
    if (f.length < 8 || dst === null || gw === null || len === null || !/^[0-9A-Fa-f]{1,8}$/.test(f[3]!) || !/^\d{1,10}$/.test(f[6]!) || !validIface(f[0]!)) {
      c.problem(`line ${lineNo}: not a route`);
      continue;
    }
    const flags = Number.parseInt(f[3]!, 16);
    const iface = f[0] === '*' ? null : f[0]!;
    const kind: RouteKind = flags & RTF_REJECT ? 'reject' : iface === null && !(flags & RTF_GATEWAY) ? 'blackhole' : 'unicast';
    c.route({
      family: 4,
      iface,
      destination: { family: 4, value: dst },
      prefixLength: len,
      gateway: flags & RTF_GATEWAY ? formatIpv4(gw) : null,
      flags,
      metric: Number(f[6]),
      kind,
    });
  }
  return c.done();
}

const METRIC_NULL_ENTRY = 0xffffffff;

/**
 * Parses /proc/net/ipv6_route: destination, prefix length, source, source
 * prefix length, next hop, metric, refcnt, use, flags, device. The kernel's
 * "null entry" of each table (::/0, reject, metric 0xffffffff, dev lo) is not
 * a configured route and is left out.
 */
export function parseIpv6Routes(text: string): ParsedRoutes {
  const c = new Collector();
  if (typeof text !== 'string') return c.done();
  for (const [raw, lineNo] of eachLine(text)) {
    const line = raw.trim();
    if (line === '') continue;
    const f = line.split(/\s+/, 11);
    const ok =
      f.length === 10 &&
      /^[0-9a-fA-F]{32}$/.test(f[0]!) &&
      /^[0-9a-fA-F]{2}$/.test(f[1]!) &&
      /^[0-9a-fA-F]{32}$/.test(f[4]!) &&
      /^[0-9a-fA-F]{8}$/.test(f[5]!) &&
      /^[0-9a-fA-F]{8}$/.test(f[8]!) &&
      validIface(f[9]!);
    const len = ok ? Number.parseInt(f[1]!, 16) : -1;
    if (!ok || len > 128) {
      c.problem(`line ${lineNo}: not an IPv6 route`);
      continue;
    }
    const flags = Number.parseInt(f[8]!, 16);
    const metric = Number.parseInt(f[5]!, 16);
    const dst = BigInt(`0x${f[0]}`);
    const iface = f[9]!;
    if (flags & RTF_REJECT && metric === METRIC_NULL_ENTRY && len === 0 && iface === 'lo') continue;
    const hop = BigInt(`0x${f[4]}`);
    c.route({
      family: 6,
      iface,
      destination: { family: 6, value: dst },
      prefixLength: len,
      gateway: flags & RTF_GATEWAY ? formatIpv6(hop) : null,
      flags,
      metric,
      kind: flags & RTF_REJECT ? 'reject' : 'unicast',
    });
  }
  return c.done();
}

/**
 * The route the kernel would pick from these (longest prefix, then lowest
 * metric), ignoring unicast routes that are not up. IPv6 reject routes never
 * carry RTF_UP, yet they match.
 */
export function lookupRoute(routes: readonly Route[], address: IpValue): Route | undefined {
  let best: Route | undefined;
  for (const r of routes) {
    if (r.family !== address.family || (!(r.flags & RTF_UP) && r.kind === 'unicast')) continue;
    if (!inPrefix(address, r.destination, r.prefixLength)) continue;
    if (!best || r.prefixLength > best.prefixLength || (r.prefixLength === best.prefixLength && r.metric < best.metric)) best = r;
  }
  return best;
}

/** "default via 10.0.0.1 dev eth0", "10.0.0.0/24 dev eth0", "blackhole 10.96.0.10/32". */
export function describeRoute(r: Route): string {
  const dst = r.prefixLength === 0 ? 'default' : `${formatIp(r.destination)}/${r.prefixLength}`;
  if (r.kind === 'blackhole') return `blackhole ${dst}`;
  if (r.kind === 'reject') return `reject ${dst}${r.iface && r.iface !== 'lo' ? ` dev ${r.iface}` : ''}`;
  return `${dst}${r.gateway ? ` via ${r.gateway}` : ''}${r.iface ? ` dev ${r.iface}` : ''}`;
}

export interface RoutesFacts {
  v4: TextRead;
  v6: TextRead;
}

/**
 * <dir>/route and <dir>/ipv6_route, where dir is <procRoot>/<pid>/net; at
 * most 1 MiB each (a namespace's owner decides how many routes it has).
 */
export async function readRoutes(netDir: string): Promise<RoutesFacts> {
  const [v4, v6] = await Promise.all([readText(`${netDir}/route`, TABLE_FILE_MAX), readText(`${netDir}/ipv6_route`, TABLE_FILE_MAX)]);
  return { v4, v6 };
}

export interface RouteTables {
  v4: ParsedRoutes | null;
  /** null when the namespace has no IPv6 (no ipv6_route file). */
  v6: ParsedRoutes | null;
  /** Read errors and parse problems, each naming its file (each file's list capped, see ParsedRoutes). */
  problems: string[];
  /** How many problems there were in all. */
  problemCount: number;
}

export function parseRouteFacts(facts: RoutesFacts): RouteTables {
  const problems: string[] = [];
  let problemCount = 0;
  let v4: ParsedRoutes | null = null;
  let v6: ParsedRoutes | null = null;
  if (facts.v4.error) {
    problems.push(facts.v4.error.message);
    problemCount++;
  } else {
    v4 = parseIpv4Routes(facts.v4.text);
    problems.push(...v4.problems.map((p) => `${facts.v4.path}: ${p}`));
    problemCount += v4.problemCount;
    if (facts.v4.truncated) {
      problems.push(truncatedProblem(facts.v4.path, TABLE_FILE_MAX));
      problemCount++;
    }
  }
  if (facts.v6.error) {
    // No ipv6_route: IPv6 is disabled in this namespace (or on the node).
    if (facts.v6.error.code !== 'ENOENT') {
      problems.push(facts.v6.error.message);
      problemCount++;
    }
  } else {
    v6 = parseIpv6Routes(facts.v6.text);
    problems.push(...v6.problems.map((p) => `${facts.v6.path}: ${p}`));
    problemCount += v6.problemCount;
    if (facts.v6.truncated) {
      problems.push(truncatedProblem(facts.v6.path, TABLE_FILE_MAX));
      problemCount++;
    }
  }
  return { v4, v6, problems, problemCount };
}

/** Interfaces the routes to the given servers go out of (for the interfaces check). */
export function routeInterfaces(tables: RouteTables, servers: readonly string[]): Set<string> {
  const out = new Set<string>();
  for (const s of servers) {
    const ip = parseIp(s);
    const table = ip?.family === 4 ? tables.v4 : tables.v6;
    const r = ip && table ? lookupRoute(table.routes, ip) : undefined;
    if (r?.iface && r.kind === 'unicast') out.add(r.iface);
  }
  return out;
}

const MAX_LISTED_ROUTES = 16;

/**
 * The routes check for one vantage: a finding for each DNS server without a
 * usable route, and one for unreadable or malformed route files. Loopback
 * servers and the namespace's own addresses are reached through the local
 * table (not shown in /proc/net/route) and are not checked.
 */
export function checkRoutes(v: Vantage, tables: RouteTables, servers: readonly string[], localAddresses: ReadonlySet<string> = new Set()): Finding[] {
  const findings: Finding[] = [];
  if (tables.problems.length > 0) {
    // Hand-built tables (tests) may lack the count.
    const count = Math.max(tables.problemCount ?? 0, tables.problems.length);
    findings.push(
      vantageFinding(v, {
        code: 'routes/unreadable',
        severity: 'warning',
        message: `The routing table of this namespace could not be fully read: ${tables.problems[0]}${count > 1 ? ` (and ${plural(count - 1, 'more problem')})` : ''}.`,
        evidence: { problems: tables.problems.slice(0, 20) },
      }),
    );
  }
  for (const server of [...new Set(servers)]) {
    const ip = parseIp(server);
    if (!ip || isLoopback(server) || localAddresses.has(formatIp(ip))) continue;
    const table = ip.family === 4 ? tables.v4 : tables.v6;
    if (ip.family === 4 && table === null) continue; // unreadable: reported above
    const routes = table?.routes ?? [];
    const listed = routes.slice(0, MAX_LISTED_ROUTES).map(describeRoute);
    const route = lookupRoute(routes, ip);
    if (!route) {
      const why =
        ip.family === 6 && table === null
          ? 'IPv6 is disabled in this namespace'
          : routes.some((r) => r.prefixLength === 0)
            ? 'no usable route covers it'
            : 'there is no default route and no route covering it';
      findings.push(
        vantageFinding(v, {
          code: 'routes/no-route',
          severity: 'error',
          subject: server,
          message: `No route to DNS server ${server}: ${why}, so queries to it fail with "network unreachable".`,
          evidence: { server, family: ip.family, routes: listed, routeCount: routes.length },
        }),
      );
    } else if (route.kind !== 'unicast') {
      findings.push(
        vantageFinding(v, {
          code: 'routes/rejected',
          severity: 'error',
          subject: server,
          message:
            route.kind === 'blackhole'
              ? `The route to DNS server ${server} is "${describeRoute(route)}": queries to it are silently dropped.`
              : `The route to DNS server ${server} is "${describeRoute(route)}" (an unreachable, prohibit or blackhole route): queries to it never leave the namespace.`,
          evidence: { server, family: ip.family, route: describeRoute(route), routes: listed },
        }),
      );
    }
  }
  return findings;
}
