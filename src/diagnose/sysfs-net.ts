// The host's interfaces as /sys/class/net shows them (sysfs shows the network
// namespace of whoever mounted it: the host's, for a daemon on the host).
// Used to find the host end of a pod's veth pair: the host link whose
// ifindex is the pod interface's IFLA_LINK and whose iflink is the pod
// interface's index.
import path from 'node:path';
import { readDir, readLinkOrNull, readText, mapLimit } from './read.js';
import type { ParsedInterfaces } from './netlink.js';

export interface HostLinkIndex {
  name: string;
  ifindex: number;
  /** For a veth: the peer's ifindex (in the peer's namespace); else its own index. */
  iflink: number;
}

export interface HostLink extends HostLinkIndex {
  /** IFF_* flags. */
  flags: number | null;
  up: boolean;
  /** "up", "down", "lowerlayerdown", ... */
  operstate: string | null;
  /** The bridge (or bond) it is a port of. */
  master: string | null;
}

export interface HostLinkList {
  links: HostLinkIndex[];
  /** Unreadable entries or the unreadable directory, each naming the path. */
  problems: string[];
}

/** A decimal integer file ("5084\n"); null when it is not one. */
export function parseSysInt(text: string): number | null {
  const t = text.trim();
  return /^\d+$/.test(t) ? Number(t) : null;
}

/** A hex flags file ("0x1003\n"); null when it is not one. */
export function parseSysHex(text: string): number | null {
  const t = text.trim();
  return /^0x[0-9a-fA-F]+$/.test(t) ? Number.parseInt(t.slice(2), 16) : null;
}

export const classNetDir = (sysRoot: string): string => `${sysRoot}/class/net`;

/** Every interface's name, ifindex and iflink. */
export async function listHostLinks(sysRoot: string): Promise<HostLinkList> {
  const dir = classNetDir(sysRoot);
  const listing = await readDir(dir);
  if (listing.error) return { links: [], problems: [listing.error.message] };
  const problems: string[] = [];
  const entries = await mapLimit(listing.names, 64, async (name) => {
    const [ifindex, iflink] = await Promise.all([readText(`${dir}/${name}/ifindex`), readText(`${dir}/${name}/iflink`)]);
    // An interface deleted while we read is simply gone.
    if (ifindex.error?.code === 'ENOENT') return null;
    const index = ifindex.error ? null : parseSysInt(ifindex.text);
    const link = iflink.error ? index : parseSysInt(iflink.text);
    if (index === null || link === null) {
      problems.push(`${dir}/${name}: ifindex or iflink unreadable or not a number`);
      return null;
    }
    return { name, ifindex: index, iflink: link };
  });
  return { links: entries.filter((e): e is HostLinkIndex => e !== null), problems };
}

/** flags, operstate and master of one host interface. */
export async function readHostLink(sysRoot: string, link: HostLinkIndex): Promise<HostLink> {
  const dir = `${classNetDir(sysRoot)}/${link.name}`;
  const [flags, operstate, master] = await Promise.all([readText(`${dir}/flags`), readText(`${dir}/operstate`), readLinkOrNull(`${dir}/master`)]);
  const f = flags.error ? null : parseSysHex(flags.text);
  return {
    ...link,
    flags: f,
    up: f !== null && (f & 0x1) !== 0,
    operstate: operstate.error ? null : operstate.text.trim() || null,
    master: master === null ? null : path.basename(master),
  };
}

/** The host end of a veth whose namespace end has index `index` and IFLA_LINK `peerIndex`. */
export function findPeer(links: readonly HostLinkIndex[], index: number, peerIndex: number): HostLinkIndex | undefined {
  return links.find((l) => l.ifindex === peerIndex && l.iflink === index && l.ifindex !== l.iflink);
}

/**
 * The same facts from one rtnetlink dump of the host namespace (what sysfs
 * shows, without two reads per link and three per peer: at 255 links one
 * dump is ~12 ms against 70-140 ms of sysfs reads). iflink is IFLA_LINK (the
 * link's own index without one), master the name of the IFLA_MASTER link.
 */
export function hostLinksFromDump(parsed: ParsedInterfaces): { links: HostLinkIndex[]; details: Map<string, HostLink> } {
  const names = new Map(parsed.interfaces.map((i) => [i.index, i.name]));
  const links: HostLinkIndex[] = [];
  const details = new Map<string, HostLink>();
  for (const i of parsed.interfaces) {
    const index: HostLinkIndex = { name: i.name, ifindex: i.index, iflink: i.link ?? i.index };
    links.push(index);
    details.set(i.name, {
      ...index,
      flags: i.flags,
      up: (i.flags & 0x1) !== 0,
      operstate: i.operstate,
      master: i.master === null ? null : (names.get(i.master) ?? null),
    });
  }
  return { links, details };
}
