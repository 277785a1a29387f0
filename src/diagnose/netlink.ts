// Parses the raw rtnetlink messages of a link + address dump (what the
// addon's dumpInterfaces() returns) into interfaces with their flags,
// addresses and veth peer. Pure and total: malformed bytes become problems,
// never exceptions. Netlink is in host byte order.
import os from 'node:os';
import { formatIpv4, formatIpv6 } from './ip.js';

// linux/netlink.h, linux/rtnetlink.h, linux/if_link.h, linux/if_addr.h, linux/if.h
export const NLMSG_HDRLEN = 16;
export const RTM_NEWLINK = 16;
export const RTM_NEWADDR = 20;
export const NLM_F_DUMP_INTR = 0x10;
const IFINFOMSG_LEN = 16;
const IFADDRMSG_LEN = 8;
const RTA_HDRLEN = 4;
const NLA_TYPE_MASK = 0x3fff; // without NLA_F_NESTED and NLA_F_NET_BYTEORDER

export const IFLA = { ADDRESS: 1, IFNAME: 3, MTU: 4, LINK: 5, MASTER: 10, OPERSTATE: 16, LINKINFO: 18, CARRIER: 33, LINK_NETNSID: 37 } as const;
export const IFLA_INFO_KIND = 1;
export const IFA = { ADDRESS: 1, LOCAL: 2, LABEL: 3, FLAGS: 8 } as const;
export const IFF = { UP: 0x1, LOOPBACK: 0x8, RUNNING: 0x40, LOWER_UP: 0x10000 } as const;
export const IFA_F = { NODAD: 0x02, OPTIMISTIC: 0x04, DADFAILED: 0x08, DEPRECATED: 0x20, TENTATIVE: 0x40 } as const;
export const AF_INET = 2;
export const AF_INET6 = 10;

/** RFC 2863 operational states (IF_OPER_*), by value. */
export const OPERSTATES = ['unknown', 'notpresent', 'down', 'lowerlayerdown', 'testing', 'dormant', 'up'] as const;
export type OperState = (typeof OPERSTATES)[number];

export type AddressScope = 'global' | 'site' | 'link' | 'host' | 'nowhere';

export interface InterfaceAddress {
  family: 4 | 6;
  address: string;
  prefixLength: number;
  scope: AddressScope;
  /** IFA_F_* flags (IFA_FLAGS when present, else the 8-bit ifa_flags). */
  flags: number;
  /** Not usable yet or never: tentative (DAD running) or DAD failed. */
  unusable: boolean;
}

export interface NetInterface {
  index: number;
  name: string;
  /** IFF_* flags. */
  flags: number;
  /** Administratively up (IFF_UP). */
  up: boolean;
  /** Carrier (IFF_LOWER_UP). */
  lowerUp: boolean;
  /** Operationally up (IFF_RUNNING). */
  running: boolean;
  loopback: boolean;
  operstate: OperState;
  /** IFLA_INFO_KIND: "veth", "bridge", "vxlan", ... */
  kind: string | null;
  /** IFLA_LINK: for a veth, the peer's ifindex (in the peer's namespace). */
  link: number | null;
  /** IFLA_LINK_NETNSID: the peer is in another namespace, by that id. */
  linkNetnsId: number | null;
  /** IFLA_MASTER: the bridge or bond this interface is a port of. */
  master: number | null;
  mtu: number | null;
  addresses: InterfaceAddress[];
}

export interface ParsedInterfaces {
  /** At most MAX_INTERFACES, ordered by index. */
  interfaces: NetInterface[];
  /** The dump changed while it was read (NLM_F_DUMP_INTR): it may be inconsistent; read again. */
  interrupted: boolean;
  /** What could not be parsed, naming the message (never quoting it): at most MAX_PROBLEMS, then one "…and N more". */
  problems: string[];
  /** How many problems there were in all. */
  problemCount: number;
}

// Bounds. A namespace's owner decides how many interfaces and addresses it
// has and what they are called (the dump itself is capped by the addon).
// Whatever the bytes, a parse keeps at most:
/** Interfaces (a big node's host namespace has a few hundred: one veth per pod). More is a problem. */
export const MAX_INTERFACES = 4096;
/** Addresses kept per interface (real ones have a handful); more is a problem. */
export const MAX_ADDRESSES_PER_INTERFACE = 32;
/** Addresses read from the dump in all, before they are matched to their interfaces. */
export const MAX_ADDRESSES = 8192;
/** Problems kept, then one "…and N more". */
export const MAX_PROBLEMS = 16;
/** linux/if.h: a name has at most IFNAMSIZ - 1 = 15 bytes; longer IFLA_IFNAME bytes are cut there. */
export const IFNAMSIZ = 16;
/** Bytes of IFLA_INFO_KIND kept ("macvlan", "vxlan", "wireguard", ...). */
const MAX_KIND = 32;

class Problems {
  readonly kept: string[] = [];
  count = 0;
  add(p: string): void {
    this.count++;
    if (this.kept.length < MAX_PROBLEMS) this.kept.push(p);
  }
  list(): string[] {
    const more = this.count - this.kept.length;
    return more > 0 ? [...this.kept, `…and ${more} more`] : this.kept;
  }
}

const SCOPES: Readonly<Record<number, AddressScope>> = { 0: 'global', 200: 'site', 253: 'link', 254: 'host', 255: 'nowhere' };

interface Attr {
  type: number;
  start: number;
  end: number;
}

class Reader {
  constructor(
    readonly buf: Buffer,
    readonly le: boolean,
  ) {}
  u16(o: number): number {
    return this.le ? this.buf.readUInt16LE(o) : this.buf.readUInt16BE(o);
  }
  u32(o: number): number {
    return this.le ? this.buf.readUInt32LE(o) : this.buf.readUInt32BE(o);
  }
  i32(o: number): number {
    return this.le ? this.buf.readInt32LE(o) : this.buf.readInt32BE(o);
  }
  /** Attributes between start and end; null when they overrun. */
  attrs(start: number, end: number): Attr[] | null {
    const out: Attr[] = [];
    let o = start;
    while (o + RTA_HDRLEN <= end) {
      const len = this.u16(o);
      if (len < RTA_HDRLEN || o + len > end) return null;
      out.push({ type: this.u16(o + 2) & NLA_TYPE_MASK, start: o + RTA_HDRLEN, end: o + len });
      o += (len + 3) & ~3;
    }
    return out;
  }
  u32Attr(a: Attr): number | null {
    return a.end - a.start >= 4 ? this.u32(a.start) : null;
  }
  i32Attr(a: Attr): number | null {
    return a.end - a.start >= 4 ? this.i32(a.start) : null;
  }
  /** A NUL-terminated string attribute, at most maxBytes of it (a cut UTF-8 sequence becomes U+FFFD). */
  stringAttr(a: Attr, maxBytes: number): string {
    const raw = this.buf.subarray(a.start, Math.min(a.end, a.start + maxBytes));
    const nul = raw.indexOf(0);
    return raw.subarray(0, nul < 0 ? raw.length : nul).toString('utf8');
  }
}

function parseLink(r: Reader, body: number, end: number, msgNo: number, problems: Problems): NetInterface | null {
  if (end - body < IFINFOMSG_LEN) {
    problems.add(`message ${msgNo}: RTM_NEWLINK shorter than ifinfomsg`);
    return null;
  }
  const index = r.i32(body + 4);
  const flags = r.u32(body + 8);
  const attrs = r.attrs(body + IFINFOMSG_LEN, end);
  if (!attrs) {
    problems.add(`message ${msgNo}: RTM_NEWLINK attributes overrun the message`);
    return null;
  }
  const iface: NetInterface = {
    index,
    name: '',
    flags,
    up: (flags & IFF.UP) !== 0,
    lowerUp: (flags & IFF.LOWER_UP) !== 0,
    running: (flags & IFF.RUNNING) !== 0,
    loopback: (flags & IFF.LOOPBACK) !== 0,
    operstate: 'unknown',
    kind: null,
    link: null,
    linkNetnsId: null,
    master: null,
    mtu: null,
    addresses: [],
  };
  for (const a of attrs) {
    switch (a.type) {
      case IFLA.IFNAME:
        iface.name = r.stringAttr(a, IFNAMSIZ - 1);
        break;
      case IFLA.MTU:
        iface.mtu = r.u32Attr(a);
        break;
      case IFLA.LINK:
        iface.link = r.i32Attr(a);
        break;
      case IFLA.MASTER:
        iface.master = r.u32Attr(a);
        break;
      case IFLA.LINK_NETNSID:
        iface.linkNetnsId = r.i32Attr(a);
        break;
      case IFLA.OPERSTATE:
        if (a.end > a.start) iface.operstate = OPERSTATES[r.buf[a.start]!] ?? 'unknown';
        break;
      case IFLA.LINKINFO: {
        const kind = r.attrs(a.start, a.end)?.find((x) => x.type === IFLA_INFO_KIND);
        if (kind) iface.kind = r.stringAttr(kind, MAX_KIND);
        break;
      }
    }
  }
  if (iface.name === '') {
    problems.add(`message ${msgNo}: interface ${index} has no IFLA_IFNAME`);
    iface.name = `if${index}`;
  }
  // A link whose peer is its own index says nothing about a peer.
  if (iface.link === index && iface.linkNetnsId === null) iface.link = null;
  return iface;
}

interface ParsedAddr extends InterfaceAddress {
  index: number;
}

function parseAddr(r: Reader, body: number, end: number, msgNo: number, problems: Problems): ParsedAddr | null {
  if (end - body < IFADDRMSG_LEN) {
    problems.add(`message ${msgNo}: RTM_NEWADDR shorter than ifaddrmsg`);
    return null;
  }
  const familyCode = r.buf[body]!;
  const prefixLength = r.buf[body + 1]!;
  let flags = r.buf[body + 2]!;
  const scope = SCOPES[r.buf[body + 3]!] ?? 'nowhere';
  const index = r.u32(body + 4);
  if (familyCode !== AF_INET && familyCode !== AF_INET6) return null; // other families: not ours
  const family = familyCode === AF_INET ? 4 : 6;
  const attrs = r.attrs(body + IFADDRMSG_LEN, end);
  if (!attrs) {
    problems.add(`message ${msgNo}: RTM_NEWADDR attributes overrun the message`);
    return null;
  }
  const want = family === 4 ? 4 : 16;
  let local: Buffer | null = null;
  let address: Buffer | null = null;
  for (const a of attrs) {
    if (a.type === IFA.LOCAL && a.end - a.start === want) local = r.buf.subarray(a.start, a.end);
    else if (a.type === IFA.ADDRESS && a.end - a.start === want) address = r.buf.subarray(a.start, a.end);
    else if (a.type === IFA.FLAGS) flags = r.u32Attr(a) ?? flags;
  }
  // IPv4: IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer on point-to-point links).
  const bytes = local ?? address;
  if (!bytes) {
    problems.add(`message ${msgNo}: RTM_NEWADDR for interface ${index} has no address`);
    return null;
  }
  const value = [...bytes].reduce((acc, b) => (acc << 8n) | BigInt(b), 0n);
  if (prefixLength > want * 8) {
    problems.add(`message ${msgNo}: prefix length ${prefixLength} is too long for IPv${family}`);
    return null;
  }
  return {
    index,
    family,
    address: family === 4 ? formatIpv4(value) : formatIpv6(value),
    prefixLength,
    scope,
    flags,
    unusable: (flags & (IFA_F.TENTATIVE | IFA_F.DADFAILED)) !== 0,
  };
}

/**
 * Parses a dump; interfaces are ordered by index. Never throws, whatever the
 * bytes; the result is bounded (see MAX_* above).
 */
export function parseInterfaceDump(bytes: Uint8Array, endianness: 'LE' | 'BE' = os.endianness()): ParsedInterfaces {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const r = new Reader(buf, endianness === 'LE');
  const problems = new Problems();
  let interrupted = false;
  const byIndex = new Map<number, NetInterface>();
  const addrs: ParsedAddr[] = [];
  let droppedLinks = 0;
  let droppedAddrs = 0;
  let o = 0;
  let msgNo = 0;
  let overrun = false;
  while (o + NLMSG_HDRLEN <= buf.length) {
    msgNo++;
    const len = r.u32(o);
    const type = r.u16(o + 4);
    const flags = r.u16(o + 6);
    if (len < NLMSG_HDRLEN || o + len > buf.length) {
      problems.add(`message ${msgNo}: length ${len} at byte ${o} overruns the ${buf.length}-byte dump`);
      overrun = true;
      break;
    }
    if (flags & NLM_F_DUMP_INTR) interrupted = true;
    if (type === RTM_NEWLINK) {
      const iface = parseLink(r, o + NLMSG_HDRLEN, o + len, msgNo, problems);
      if (iface && (byIndex.size < MAX_INTERFACES || byIndex.has(iface.index))) byIndex.set(iface.index, iface);
      else if (iface) droppedLinks++;
    } else if (type === RTM_NEWADDR) {
      const a = parseAddr(r, o + NLMSG_HDRLEN, o + len, msgNo, problems);
      if (a && addrs.length < MAX_ADDRESSES) addrs.push(a);
      else if (a) droppedAddrs++;
    }
    o += (len + 3) & ~3;
  }
  if (o < buf.length && !overrun) problems.add(`${buf.length - o} trailing bytes after the last message`);
  if (droppedLinks > 0) problems.add(`more than ${MAX_INTERFACES} interfaces: ${droppedLinks} not read`);
  if (droppedAddrs > 0) problems.add(`more than ${MAX_ADDRESSES} addresses: ${droppedAddrs} not read`);
  const full = new Map<number, number>(); // interface index → addresses dropped past MAX_ADDRESSES_PER_INTERFACE
  for (const a of addrs) {
    const iface = byIndex.get(a.index);
    if (!iface) {
      problems.add(`address ${a.address} belongs to interface ${a.index}, which the link dump did not list`);
      continue;
    }
    if (iface.addresses.length >= MAX_ADDRESSES_PER_INTERFACE) {
      full.set(a.index, (full.get(a.index) ?? 0) + 1);
      continue;
    }
    const { index: _index, ...addr } = a;
    iface.addresses.push(addr);
  }
  for (const [index, n] of full) problems.add(`interface ${index} has more than ${MAX_ADDRESSES_PER_INTERFACE} addresses: ${n} not read`);
  return {
    interfaces: [...byIndex.values()].sort((a, b) => a.index - b.index),
    interrupted,
    problems: problems.list(),
    problemCount: problems.count,
  };
}
