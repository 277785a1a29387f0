// Interfaces: does the namespace have a non-loopback interface that is up,
// has carrier and a usable address; and, where the host end of its veth pair
// is visible in /sys/class/net, is that end up and attached (a bridge port,
// or the target of a host route)? The namespace's own interfaces come from an
// rtnetlink dump made inside it by the addon (netlink.ts parses it).
import type { Vantage } from '../model.js';
import { plural, vantageFinding, type Finding } from './finding.js';
import type { NetInterface, ParsedInterfaces } from './netlink.js';
import type { HostLink } from './sysfs-net.js';
import { capList } from '../text/untrusted.js';

/** Interfaces listed in a finding's evidence. */
const MAX_LISTED_INTERFACES = 16;
/**
 * Per-interface findings (down, no carrier, ...) per namespace: its owner
 * decides how many interfaces it has, and thousands of broken ones must not
 * become thousands of findings. The first ones say what is wrong.
 */
const MAX_INTERFACE_FINDINGS = 16;

export type InterfaceDump = { ok: true; parsed: ParsedInterfaces } | { ok: false; error: string };

export interface InterfaceFacts {
  dump: InterfaceDump;
  /** Host ends of veth pairs, by the index of the namespace end. */
  peers: ReadonlyMap<number, HostLink>;
  /** Host interfaces that some host route goes out of. */
  hostRouteIfaces: ReadonlySet<string>;
  /** Interfaces the namespace's routes to its DNS servers go out of. */
  routeIfaces: ReadonlySet<string>;
  /** Some DNS server of the vantage is a loopback address. */
  loopbackServer: boolean;
  /** Some probe of a loopback DNS server (127.0.0.53, ::1, ...) from the vantage succeeded. */
  loopbackAnswers?: boolean;
  /** Some probe from the vantage failed. */
  failing: boolean;
}

/** Up, with carrier and a global (or site) address that is not tentative or failed. */
export function usable(i: NetInterface): boolean {
  return i.up && i.lowerUp && i.addresses.some((a) => !a.unusable && (a.scope === 'global' || a.scope === 'site'));
}

/** "eth0 (up, lowerlayerdown, no carrier, 10.0.0.2/24)" for evidence. */
export function describeInterface(i: NetInterface): string {
  const state = [i.up ? 'up' : 'down', i.lowerUp ? 'carrier' : 'no carrier', i.operstate];
  const addrs = i.addresses.map((a) => `${a.address}/${a.prefixLength}${a.unusable ? ' (tentative/dadfailed)' : ''}`);
  return `${i.name} (${[...state, ...addrs].join(', ')})`;
}

/** The namespace's own addresses (to skip them in the route check). */
export function localAddresses(dump: InterfaceDump): Set<string> {
  if (!dump.ok) return new Set();
  return new Set(dump.parsed.interfaces.flatMap((i) => i.addresses.map((a) => a.address)));
}

export function checkInterfaces(v: Vantage, facts: InterfaceFacts): Finding[] {
  const findings: Finding[] = [];
  if (!facts.dump.ok) {
    findings.push(
      vantageFinding(v, {
        code: 'interfaces/unreadable',
        severity: 'warning',
        message: `The interfaces of this namespace could not be read: ${facts.dump.error}.`,
        evidence: { error: facts.dump.error },
      }),
    );
    return findings;
  }
  const { interfaces, problems, interrupted } = facts.dump.parsed;
  if (problems.length > 0 || interrupted) {
    const all = [...(interrupted ? ['the dump was interrupted by a concurrent change'] : []), ...problems];
    // problems is capped (see netlink.ts); problemCount counts them all (hand-built dumps may lack it).
    const count = (interrupted ? 1 : 0) + Math.max(facts.dump.parsed.problemCount ?? 0, problems.length);
    findings.push(
      vantageFinding(v, {
        code: 'interfaces/unreadable',
        severity: 'warning',
        message: `The interface dump of this namespace is incomplete: ${all[0]}${count > 1 ? ` (and ${plural(count - 1, 'more problem')})` : ''}.`,
        evidence: { problems: all.slice(0, 20) },
      }),
    );
  }
  // Evidence lists the first interfaces only: a namespace can have thousands.
  const all = capList(interfaces.map(describeInterface), MAX_LISTED_INTERFACES);
  const lo = interfaces.find((i) => i.loopback);
  if (lo && !lo.up) {
    findings.push(
      vantageFinding(v, {
        code: 'interfaces/loopback-down',
        severity: facts.loopbackServer ? 'error' : 'warning',
        subject: lo.name,
        message: `The loopback interface ${lo.name} is down${facts.loopbackServer ? ': the loopback nameserver in resolv.conf is unreachable' : ''}.`,
        evidence: { interface: lo.name, interfaces: all },
      }),
    );
  }
  const others = interfaces.filter((i) => !i.loopback);
  if (others.length === 0) {
    // A resolver on loopback that answers (a local stub or cache such as
    // 127.0.0.53) makes a loopback-only namespace a working setup: only
    // servers outside it are out of reach, which is worth knowing, not an error.
    const answers = facts.loopbackAnswers === true;
    findings.push(
      vantageFinding(v, {
        code: 'interfaces/no-interface',
        severity: answers ? 'info' : 'error',
        message: answers
          ? 'This namespace has no interface but loopback; its loopback nameserver answers, but no DNS server outside the namespace (such as the cluster DNS) can be reached from it.'
          : 'This namespace has no interface but loopback: it cannot reach any DNS server outside itself.',
        evidence: { interfaces: all, loopbackAnswers: answers },
      }),
    );
    return findings;
  }
  const anyUsable = others.some(usable);
  const before = findings.length;
  for (const i of others) {
    if (findings.length - before >= MAX_INTERFACE_FINDINGS) break;
    const peer = facts.peers.get(i.index);
    const relevant = !anyUsable || facts.routeIfaces.has(i.name);
    const evidence = { interface: i.name, index: i.index, kind: i.kind, operstate: i.operstate, interfaces: all, ...(peer ? { hostPeer: peer.name } : {}) };
    if (relevant && !i.up) {
      findings.push(
        vantageFinding(v, {
          code: 'interfaces/down',
          severity: 'error',
          subject: i.name,
          message: `Interface ${i.name} is administratively down: ${anyUsable ? 'the route to DNS goes through it' : 'it is the only way out of this namespace'}, and nothing leaves through it.`,
          evidence,
        }),
      );
    } else if (relevant && !i.lowerUp) {
      if (peer && !peer.up) {
        findings.push(
          vantageFinding(v, {
            code: 'interfaces/peer-down',
            severity: 'error',
            subject: i.name,
            message: `Interface ${i.name} has no carrier because its host-side veth peer ${peer.name} is down.`,
            evidence: { ...evidence, hostPeerOperstate: peer.operstate, hostPeerFlags: peer.flags === null ? null : `0x${peer.flags.toString(16)}` },
          }),
        );
      } else {
        findings.push(
          vantageFinding(v, {
            code: 'interfaces/no-carrier',
            severity: 'error',
            subject: i.name,
            message: `Interface ${i.name} is up but has no carrier${i.kind === 'veth' ? ' (the other end of the veth pair is down or gone)' : ''}: nothing gets through it.`,
            evidence,
          }),
        );
      }
    } else if (relevant && !usable(i)) {
      findings.push(
        vantageFinding(v, {
          code: 'interfaces/no-address',
          severity: 'error',
          subject: i.name,
          message: `Interface ${i.name} is up but has no usable address${i.addresses.some((a) => a.unusable) ? ' (only tentative or DAD-failed ones)' : ''}: the kernel has no source address for queries.`,
          evidence,
        }),
      );
    }
    // A detached host end is normal for CNIs that forward with eBPF, so it is
    // only worth saying when DNS from this namespace actually fails.
    if (peer && peer.up && facts.failing && peer.master === null && !facts.hostRouteIfaces.has(peer.name) && usable(i)) {
      findings.push(
        vantageFinding(v, {
          code: 'interfaces/peer-detached',
          severity: 'warning',
          subject: i.name,
          message: `The host end ${peer.name} of ${i.name} is neither a bridge port nor the target of a host route: traffic from this pod may go nowhere (unless the CNI forwards it with eBPF).`,
          evidence: { ...evidence, hostPeerOperstate: peer.operstate },
        }),
      );
    }
  }
  return findings;
}
