// Formats of addresses: a server to probe (IP with an optional port), a listen address, lists of IPs.
import net from 'node:net';
import { normalizeIp } from '../probe/validate.js';
import { type Format, arrayOf, fail, show, splitList } from './format.js';

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
  const what = defaultPort === null ? 'IP:PORT, [IPv6]:PORT or :PORT' : 'IP, IP:PORT or [IPv6]:PORT';
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

/** Where an HTTP server listens: one address, or (address null) every address of the host. */
export interface ListenAddress {
  /** null for ":PORT": IPv6 and IPv4 (dual-stack) when the host has IPv6, else every IPv4 address. */
  address: string | null;
  port: number;
  family: 4 | 6 | null;
}

/**
 * An HTTP listen address: "0.0.0.0:9890", "127.0.0.1:0" (any free port), "[::]:9890", or
 * ":9890" (every address, as Go's and node_exporter's --web.listen-address read it).
 */
export function parseListenAddress(text: string): ListenAddress {
  const trimmed = text.trim();
  const any = /^:([^:]*)$/.exec(trimmed);
  if (!any) return parseAddressPort(trimmed, null, 0);
  const port = parsePort(any[1]!, 0);
  if (port === null) fail(`${JSON.stringify(text)}: port must be a number from 0 to 65535`);
  return { address: null, port: port!, family: null };
}

export const listenAddress: Format<string> = {
  name: 'listen-address',
  doc: 'an IP address and port: "0.0.0.0:9890", "[::]:9890", "127.0.0.1:0" (port 0: any free port), or ":9890" (every address: IPv6 and IPv4 when the host has IPv6)',
  json: ['string'],
  validate: (v) => {
    if (typeof v !== 'string') fail('must be a string such as "0.0.0.0:9890" or ":9890"');
    parseListenAddress(v as string);
  },
  normalize: (v) => v.trim(),
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
