// IP addresses as numbers, for prefix matching in the route and interface
// checks. Pure; never throws on bad text (returns null).
import net from 'node:net';

export interface IpValue {
  family: 4 | 6;
  value: bigint;
}

const bitsOf = (family: 4 | 6): number => (family === 4 ? 32 : 128);

function parseIpv4(text: string): bigint | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  let v = 0n;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null;
    v = (v << 8n) | BigInt(Number(p));
  }
  return v;
}

function parseIpv6(text: string): bigint | null {
  let s = text;
  let tail: bigint[] = [];
  // An embedded IPv4 address in the last 32 bits (::ffff:10.0.0.1).
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.', lastColon)) {
    const v4 = parseIpv4(s.slice(lastColon + 1));
    if (v4 === null) return null;
    tail = [v4 >> 16n, v4 & 0xffffn];
    // Keep a trailing "::" (it stands for zero groups); drop a single ":".
    s = s.slice(0, lastColon + 1);
    if (!s.endsWith('::')) s = s.slice(0, -1);
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const groups = (h: string | undefined): string[] => (h === undefined || h === '' ? [] : h.split(':'));
  const head = groups(halves[0]);
  const rest = groups(halves[1]);
  const given = head.length + rest.length + tail.length;
  if (halves.length === 1 ? given !== 8 : given > 7) return null;
  const fill = halves.length === 2 ? 8 - given : 0;
  const all: bigint[] = [];
  for (const g of [...head, ...Array<string>(fill).fill('0'), ...rest]) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
    all.push(BigInt(`0x${g}`));
  }
  all.push(...tail);
  if (all.length !== 8) return null;
  return all.reduce((acc, g) => (acc << 16n) | g, 0n);
}

/** Parses an IPv4 or IPv6 address (no zone). Null when it is not one. */
export function parseIp(text: string): IpValue | null {
  if (typeof text !== 'string') return null;
  const family = net.isIP(text);
  if (family === 4) {
    const value = parseIpv4(text);
    return value === null ? null : { family: 4, value };
  }
  if (family === 6) {
    const value = parseIpv6(text);
    return value === null ? null : { family: 6, value };
  }
  return null;
}

export function formatIpv4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 0xffn)).join('.');
}

/** The RFC 5952 form: lower case, leading zeros dropped, the longest run of zero groups as "::". */
export function formatIpv6(value: bigint): string {
  const groups = Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(112 - 16 * i)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

export const formatIp = (ip: IpValue): string => (ip.family === 4 ? formatIpv4(ip.value) : formatIpv6(ip.value));

/** Canonical text of an address (e.g. "FD00:0::1" → "fd00::1"); the input itself when it is not an address. */
export function canonicalIp(text: string): string {
  const ip = parseIp(text);
  return ip ? formatIp(ip) : text;
}

/** Whether `ip` lies in prefix/len (both of one family). */
export function inPrefix(ip: IpValue, prefix: IpValue, length: number): boolean {
  if (ip.family !== prefix.family) return false;
  const bits = BigInt(bitsOf(ip.family));
  if (length <= 0) return true;
  const shift = bits - BigInt(length);
  return ip.value >> shift === prefix.value >> shift;
}

/** 127.0.0.0/8 and ::1 (and ::ffff:127.0.0.0/104). */
export function isLoopback(text: string): boolean {
  const ip = parseIp(text);
  if (!ip) return false;
  if (ip.family === 4) return ip.value >> 24n === 127n;
  return ip.value === 1n || ip.value >> 24n === 0xffff7fn;
}

/** A netmask's prefix length; null when the mask is not contiguous ones then zeros. */
export function maskLength(mask: bigint, family: 4 | 6): number | null {
  const bits = bitsOf(family);
  let len = 0;
  while (len < bits && ((mask >> BigInt(bits - 1 - len)) & 1n) === 1n) len++;
  const expect = len === 0 ? 0n : ((1n << BigInt(len)) - 1n) << BigInt(bits - len);
  return mask === expect ? len : null;
}
