// A finding: one reason, with its evidence, why DNS fails (or will fail) from
// a vantage point. Every finding carries a code from the one table below, so
// logs, metrics, the docs and Kubernetes Events speak the same fixed set; the
// set only grows by adding an entry here, with its description.
import { describeVantage } from '../discovery/vantage.js';
import { type Vantage } from '../model.js';
import { MAX_FIELD, boundJson, capString, type JsonBounds } from '../text/untrusted.js';

export const SEVERITIES = ['error', 'warning', 'info'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** The checks, one file each under src/diagnose/. Metric label values. */
export const FINDING_AREAS = ['resolv-conf', 'routes', 'interfaces', 'firewall', 'protocol', 'path', 'conntrack'] as const;
/** What a finding is about (its `check` field in JSON, Events and metrics): one file of this folder each. */
export type FindingArea = (typeof FINDING_AREAS)[number];

interface CodeInfo {
  readonly check: FindingArea;
  readonly description: string;
}

/** Every finding code: the check that emits it and what it means. */
export const FINDING_CODES = {
  'resolv-conf/unreadable': {
    check: 'resolv-conf',
    description:
      "The vantage's resolv.conf cannot be read (missing, off limits, a symlink loop, or not a regular file: a FIFO, device, socket or directory): its resolver configuration is unknown.",
  },
  'resolv-conf/too-large': {
    check: 'resolv-conf',
    description: "The vantage's resolv.conf is larger than 64 KiB: it is not read (a hostile or broken file), so its nameservers are not probed.",
  },
  'resolv-conf/malformed': {
    check: 'resolv-conf',
    description: 'Lines of resolv.conf that resolvers ignore or misread (bad addresses, unknown keywords, bad option values).',
  },
  'resolv-conf/no-nameserver': {
    check: 'resolv-conf',
    description: 'resolv.conf names no valid nameserver: glibc and musl then query 127.0.0.1, where nothing answers in a pod.',
  },
  'resolv-conf/ignored-nameservers': { check: 'resolv-conf', description: 'More than 3 nameservers: resolvers use only the first 3.' },
  'resolv-conf/not-cluster-dns': {
    check: 'resolv-conf',
    description: 'A pod with dnsPolicy ClusterFirst has a nameserver that is neither the cluster DNS Service IP nor a configured node-local DNS address.',
  },
  'resolv-conf/nameserver-fails': {
    check: 'resolv-conf',
    description:
      'The nameserver resolv.conf points at (not a known cluster or node-local DNS address) fails from this vantage while another DNS server answers from it: resolv.conf points at the wrong server, or the path to it is broken.',
  },
  'resolv-conf/search-too-many': {
    check: 'resolv-conf',
    description: 'More than 6 search domains: older glibc (before 2.26) and Kubernetes before 1.28 keep only the first 6.',
  },
  'resolv-conf/search-too-long': { check: 'resolv-conf', description: 'The search list is longer than 256 characters: older glibc and musl truncate it.' },
  'resolv-conf/options': {
    check: 'resolv-conf',
    description: 'The resolver options (ndots, timeout, attempts) of a vantage whose DNS fails, and how long a failing lookup takes with them.',
  },
  'routes/unreadable': { check: 'routes', description: 'The routing table of the vantage (/proc/<pid>/net/route or ipv6_route) cannot be read or parsed.' },
  'routes/no-route': {
    check: 'routes',
    description: 'No route (neither a default route nor a covering prefix) leads to a DNS server: sends fail with "network unreachable".',
  },
  'routes/rejected': { check: 'routes', description: 'The route to a DNS server is an unreachable, prohibit or blackhole route.' },
  'interfaces/unreadable': {
    check: 'interfaces',
    description: 'The interfaces of the vantage could not be read (rtnetlink dump inside its namespace failed or was malformed).',
  },
  'interfaces/no-interface': { check: 'interfaces', description: 'The namespace has no interface but loopback: it cannot reach any server outside itself.' },
  'interfaces/down': { check: 'interfaces', description: 'An interface is administratively down.' },
  'interfaces/no-carrier': { check: 'interfaces', description: 'An interface is up but has no carrier (for a veth: the other end is down or gone).' },
  'interfaces/no-address': { check: 'interfaces', description: 'An interface is up but has no usable address (none, or only tentative/failed ones).' },
  'interfaces/loopback-down': { check: 'interfaces', description: 'The loopback interface is down: a resolver on 127.0.0.0/8 or ::1 is unreachable.' },
  'interfaces/peer-down': { check: 'interfaces', description: "The host-side end of the namespace's veth pair is down." },
  'interfaces/peer-detached': {
    check: 'interfaces',
    description: "The host-side end of the veth pair is neither attached to a bridge nor the target of a host route: the pod's traffic goes nowhere.",
  },
  'firewall/blocked-locally': {
    check: 'firewall',
    description: 'A send failed with EPERM/EACCES: a firewall rule (nftables/iptables) in this network namespace drops DNS to that protocol and port.',
  },
  'protocol/udp-fails-tcp-answers': {
    check: 'protocol',
    description:
      "A server answers over TCP but not over UDP: a UDP-only fault (firewall, conntrack, a UDP listener gone) that CoreDNS's HTTP health check cannot see.",
  },
  'protocol/tcp-fails-udp-answers': {
    check: 'protocol',
    description: 'A server answers over UDP but not over TCP: truncated (large) answers cannot be fetched.',
  },
  'path/service-fails-pods-answer': {
    check: 'path',
    description: 'The DNS Service IP fails while the CoreDNS pod IPs answer: the Service path (kube-proxy rules, conntrack) is broken.',
  },
  'path/one-server-fails': {
    check: 'path',
    description: 'One DNS server (e.g. one CoreDNS pod) fails from every vantage while the others answer: that server is sick.',
  },
  'path/netns-isolated': {
    check: 'path',
    description: "Every probe from one network namespace fails while the host reaches the same servers: the fault is that pod's network, not DNS.",
  },
  'conntrack/unreadable': { check: 'conntrack', description: 'The conntrack counters under /proc could not be read or parsed.' },
  'conntrack/table-filling': { check: 'conntrack', description: 'nf_conntrack_count / nf_conntrack_max is above diagnose.conntrack.threshold.' },
  'conntrack/table-full': { check: 'conntrack', description: 'The conntrack table is full: the kernel drops packets of new flows, DNS included.' },
  'conntrack/insert-failed': {
    check: 'conntrack',
    description: 'conntrack insert_failed rose: parallel A and AAAA queries from one socket race and one is dropped (the 5-second DNS timeouts).',
  },
} as const satisfies Record<string, CodeInfo>;

export type FindingCode = keyof typeof FINDING_CODES;

export const isFindingCode = (v: unknown): v is FindingCode => typeof v === 'string' && Object.hasOwn(FINDING_CODES, v);

/** JSON-safe evidence values. */
export type EvidenceValue = string | number | boolean | null | readonly EvidenceValue[] | { readonly [key: string]: EvidenceValue };
export type Evidence = { readonly [key: string]: EvidenceValue };

/** The vantage field of findings about the whole node (conntrack, a server failing from every vantage). */
export const NODE = 'node';

export interface FindingPod {
  uid?: string;
  namespace?: string;
  name?: string;
}

export interface Finding {
  /** Stable identity across sweeps (vantage, code and subject): what the tracker keys on. */
  id: string;
  /** Vantage.id (`netns:[inode]`), or NODE. */
  vantage: string;
  /** Who lives in the vantage, for people: "host", "namespace/pod", "container x", "pid n"; "node". */
  where: string;
  check: FindingArea;
  code: FindingCode;
  severity: Severity;
  /** One or two sentences that say what is wrong and what it breaks. */
  message: string;
  /** The facts the message rests on. */
  evidence: Evidence;
  /** The pod behind the vantage, when known: Kubernetes Events go to it. */
  pod?: FindingPod;
}

function podOf(v: Vantage): FindingPod | undefined {
  if (v.hostNetwork || (!v.podUid && !v.podName)) return undefined;
  const pod: FindingPod = {};
  if (v.podUid) pod.uid = capString(v.podUid, MAX_FIELD);
  if (v.podNamespace) pod.namespace = capString(v.podNamespace, MAX_FIELD);
  if (v.podName) pod.name = capString(v.podName, MAX_FIELD);
  return pod;
}

export interface FindingInput {
  code: FindingCode;
  severity: Severity;
  message: string;
  evidence?: Evidence;
  /** What the finding is about within its vantage (a server, an interface, a file), when there can be several. */
  subject?: string;
}

// Bounds. Findings quote what containers and DNS servers control (search
// domains, interface names, pod names from Docker labels, details of
// replies): the checks pass capped values, and these caps hold whatever they
// pass. Values stay raw here (JSON escapes them); every text rendering
// escapes them (format.ts).
/** Characters of a finding's message. */
export const MAX_MESSAGE = 1024;
/** Evidence: strings, lists, keys and nesting. */
export const EVIDENCE_BOUNDS: Readonly<Required<JsonBounds>> = { maxString: 512, maxItems: 20, maxKeys: 32, maxDepth: 4 };

const boundEvidence = (e: Evidence | undefined): Evidence => (e === undefined ? {} : (boundJson(e, EVIDENCE_BOUNDS) as Evidence));

/** A finding about one vantage. */
export function vantageFinding(v: Vantage, input: FindingInput): Finding {
  const f: Finding = {
    id: findingId(v.id, input.code, input.subject),
    vantage: v.id,
    where: capString(describeVantage(v), MAX_FIELD),
    check: FINDING_CODES[input.code].check,
    code: input.code,
    severity: input.severity,
    message: capString(input.message, MAX_MESSAGE),
    evidence: boundEvidence(input.evidence),
  };
  const pod = podOf(v);
  if (pod) f.pod = pod;
  return f;
}

/** A finding about the whole node. */
export function nodeFinding(input: FindingInput): Finding {
  return {
    id: findingId(NODE, input.code, input.subject),
    vantage: NODE,
    where: NODE,
    check: FINDING_CODES[input.code].check,
    code: input.code,
    severity: input.severity,
    message: capString(input.message, MAX_MESSAGE),
    evidence: boundEvidence(input.evidence),
  };
}

export const findingId = (vantage: string, code: FindingCode, subject?: string): string =>
  subject === undefined || subject === '' ? `${vantage}/${code}` : `${vantage}/${code}/${capString(subject, MAX_FIELD)}`;

const SEVERITY_RANK: Readonly<Record<Severity, number>> = { error: 0, warning: 1, info: 2 };

/** Node findings first, then by vantage; within one, errors first, then by check order and id. */
export function sortFindings(findings: readonly Finding[], vantageOrder: readonly string[] = []): Finding[] {
  const order = new Map<string, number>();
  for (let i = 0; i < vantageOrder.length; i++) order.set(vantageOrder[i]!, i);
  const ranked: RankedFinding[] = [];
  for (const f of findings) ranked.push({ rank: f.vantage === NODE ? -1 : (order.get(f.vantage) ?? order.size), f });
  ranked.sort(compareFindings);
  const sorted: Finding[] = [];
  for (const r of ranked) sorted.push(r.f);
  return sorted;
}

interface RankedFinding {
  /** The vantage's place (-1: the node's findings). */
  rank: number;
  f: Finding;
}

function compareFindings({ rank: ra, f: a }: RankedFinding, { rank: rb, f: b }: RankedFinding): number {
  return (
    ra - rb ||
    a.vantage.localeCompare(b.vantage) ||
    SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] ||
    FINDING_AREAS.indexOf(a.check) - FINDING_AREAS.indexOf(b.check) ||
    a.id.localeCompare(b.id)
  );
}

/** "1 server" / "2 servers". */
export const plural = (n: number, word: string, many = `${word}s`): string => `${n} ${n === 1 ? word : many}`;
