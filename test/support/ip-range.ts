// Pure IPv4/IPv6 prefix arithmetic for test topologies: parse, overlap, nth host address.
import { isIP } from 'node:net';

export interface Cidr {
  family: 4 | 6;
  /** The network address (host bits cleared). */
  base: bigint;
  prefixLength: number;
}

const BITS = { 4: 32, 6: 128 } as const;

export function parseIp(text: string): { family: 4 | 6; value: bigint } {
  const family = isIP(text);
  if (family === 4) {
    const value = text.split('.').reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
    return { family, value };
  }
  if (family === 6) {
    const [head = '', tail] = text.split('::');
    const groups = (part: string): string[] => (part ? part.split(':') : []);
    const expand = (list: string[]): number[] =>
      list.flatMap((g) => {
        if (!g.includes('.')) return [parseInt(g, 16)];
        const v4 = Number(parseIp(g).value);
        return [v4 >>> 16, v4 & 0xffff];
      });
    const left = expand(groups(head));
    const right = tail === undefined ? [] : expand(groups(tail));
    const all = [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
    return { family, value: all.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n) };
  }
  throw new Error(`not an IP address: ${JSON.stringify(text)}`);
}

/** "10.1.0.0/16" or "fd00::/64" (a bare address is a full-length prefix). Host bits are cleared. */
export function parseCidr(text: string, field = 'subnet'): Cidr {
  const [addr = '', len, extra] = text.split('/');
  let ip: { family: 4 | 6; value: bigint };
  try {
    ip = parseIp(addr);
  } catch {
    throw new Error(`${field}: not an IP prefix: ${JSON.stringify(text)}`);
  }
  const max = BITS[ip.family];
  const prefixLength = len === undefined ? max : Number(len);
  if (extra !== undefined || !Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > max || (len !== undefined && !/^\d+$/.test(len))) {
    throw new Error(`${field}: bad prefix length in ${JSON.stringify(text)}`);
  }
  const hostBits = BigInt(max - prefixLength);
  return { family: ip.family, base: (ip.value >> hostBits) << hostBits, prefixLength };
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  if (a.family !== b.family) return false;
  const shift = BigInt(BITS[a.family] - Math.min(a.prefixLength, b.prefixLength));
  return a.base >> shift === b.base >> shift;
}

/** True when `inner` lies entirely inside `outer`. */
export function contains(outer: Cidr, inner: Cidr): boolean {
  return outer.family === inner.family && inner.prefixLength >= outer.prefixLength && overlaps(outer, inner);
}

/** Number of addresses in the prefix. */
export function size(c: Cidr): bigint {
  return 1n << BigInt(BITS[c.family] - c.prefixLength);
}

export function formatIp(family: 4 | 6, value: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((value >> s) & 255n)).join('.');
  const groups = Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(112 - 16 * i)) & 0xffffn));
  // RFC 5952: compress the longest run (length ≥ 2, first on ties) of zero groups.
  let best = { at: -1, len: 1 };
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.len) best = { at: i, len: j - i };
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.at < 0) return hex.join(':');
  return `${hex.slice(0, best.at).join(':')}::${hex.slice(best.at + best.len).join(':')}`;
}

/** The address `offset` past the network address, e.g. host(10.1.0.0/16, 1) = 10.1.0.1. */
export function host(c: Cidr, offset: number): string {
  const n = BigInt(offset);
  if (n < 0n || n >= size(c)) throw new Error(`address offset ${offset} is outside the prefix /${c.prefixLength}`);
  return formatIp(c.family, c.base + n);
}

export function formatCidr(c: Cidr): string {
  return `${formatIp(c.family, c.base)}/${c.prefixLength}`;
}
