// The domain, as plain data: what discovery finds (vantages and their
// resolv.conf), what a sweep asks (targets and queries) and what it learns
// (probe results, sweep reports), and what Kubernetes adds. Every layer speaks
// these types; this file imports nothing, so any file may import it.

export type Transport = 'udp' | 'tcp';

export type FileType = 'regular' | 'directory' | 'fifo' | 'socket' | 'char-device' | 'block-device' | 'symlink' | 'unknown';

/** Identity of a network namespace: st_dev and st_ino of its nsfs file. */
export interface NetnsId {
  dev: number;
  inode: number;
}

/**
 * Where a file is. `root` null: a path on the host, as root reads it (root's
 * own configuration: trusted). Otherwise `path` (absolute, e.g.
 * /etc/resolv.conf) is resolved inside `root` (e.g. /proc/<pid>/root), as the
 * container's own processes resolve it.
 */
export interface FileRef {
  readonly root: string | null;
  readonly path: string;
}

export type ContainerRuntime = 'containerd' | 'cri-o' | 'docker' | 'podman';

export type VantageSource = 'host' | 'proc' | 'docker' | 'proc+docker';

export interface Vantage extends NetnsId {
  /** `netns:[inode]`, as readlink on /proc/<pid>/ns/net shows it. */
  id: string;
  pid: number;
  startTime: number;
  /** Process name of pid (for display when there is no pod). */
  comm?: string;
  source: VantageSource;
  hostNetwork: boolean;
  podUid?: string;
  podNamespace?: string;
  podName?: string;
  containerIds: string[];
  containerNames: string[];
  runtime?: ContainerRuntime;
  /**
   * The resolv.conf its resolvers read. The host and hostNetwork: the
   * configured host resolv.conf (a host path). Others: /etc/resolv.conf
   * resolved inside <procRoot>/<pid>/root (see container-file.ts).
   */
  resolvConfFile: FileRef;
}

export interface Nameserver {
  /** The address without any scope id. */
  address: string;
  family: 4 | 6;
  /** IPv6 zone (`fe80::1%eth0` → `eth0`); such a server can only be probed with that interface. */
  scopeId?: string;
  line: number;
}

export interface ResolvOptions {
  /** Effective values (glibc defaults and caps applied). */
  ndots: number;
  timeout: number;
  attempts: number;
  /** Every other option, as written (`rotate`, `edns0`, `use-vc`, `single-request-reopen`, ...). */
  other: string[];
}

export interface ResolvConf {
  /** The nameservers resolvers use: the first MAXNS (3) valid ones. */
  nameservers: Nameserver[];
  /** Valid nameservers past the first three (glibc and musl ignore them): the first MAX_IGNORED_KEPT. */
  ignoredNameservers: Nameserver[];
  /** How many valid nameservers past the first three there are (ignoredNameservers may keep fewer). */
  ignoredCount: number;
  /**
   * The search list (the last `search` or `domain` line wins, as in glibc):
   * its first MAX_SEARCH_KEPT domains, each capped at MAX_DOMAIN_KEPT characters.
   */
  search: string[];
  /** How many domains the search list has (`search` may keep fewer). */
  searchCount: number;
  /** Characters of the whole search list written with single spaces, as resolvers store it. */
  searchLength: number;
  options: ResolvOptions;
  /**
   * Problems, each naming the line and the kind of problem, never the file's
   * text: at most MAX_LINE_WARNINGS "line N: ..." warnings, then one
   * "…and N more line problems" when there were more, then the file-level ones.
   */
  warnings: string[];
  /** How many line warnings there were in all (`warnings` keeps at most MAX_LINE_WARNINGS). */
  lineWarningCount: number;
}

export interface ResolvConfRead {
  /**
   * For display and findings only, never opened: /proc/<pid>/root/etc/resolv.conf, or the host
   * path. The file was read through `file`, resolved inside the container's root.
   */
  path: string;
  /** Where it was read (inside a container root, or on the host). */
  file?: FileRef;
  /** Frozen when read by readResolvConf: one parse is shared by every read of the same text. */
  parsed: ResolvConf;
  /**
   * Set when the file was not read; `parsed` is then empty. code: an errno
   * name, ENOTREG (not a regular file: `fileType` says what it is) or EFBIG
   * (larger than the cap: `size` is st_size).
   */
  error?: { code: string; message: string; fileType?: FileType; size?: number };
}

export const QUERY_TYPES = ['A', 'AAAA', 'CNAME', 'SRV', 'TXT', 'NS', 'SOA', 'PTR', 'MX'] as const;

export type QueryType = (typeof QUERY_TYPES)[number];

export type ExpectMatch = 'equal' | 'contain';

/** One DNS question that every vantage asks every target, and what makes its answer good. */
export interface Query {
  /** Absolute name, lower-case, no trailing dot. */
  readonly name: string;
  readonly type: QueryType;
  /** Rcode names that count as a pass, e.g. ['NOERROR']. */
  readonly validRcodes: readonly string[];
  /** A reply must carry at least one record of `type`. */
  readonly requireAnswers: boolean;
  /** Addresses the answer must hold (A/AAAA only); [] checks none. */
  readonly expectAnswers: readonly string[];
  /** 'contain': every expected address is answered; 'equal': exactly those. */
  readonly expectMatch: ExpectMatch;
}

export type TargetSource = 'resolv.conf' | 'static' | 'coredns-pod' | 'dns-service';

export interface Target {
  server: string;
  port: number;
  source: TargetSource;
  /** What the target is, when known (e.g. kube-system/coredns-abc12). */
  label?: string;
}

export const REASONS = [
  'ok',
  'timeout',
  'refused',
  'reset',
  'unreachable',
  'blocked-locally',
  'netns-gone',
  'bad-reply',
  'rcode',
  'no-answer',
  'wrong-answer',
  'truncated',
  'cancelled',
  'error',
] as const;

export type Reason = (typeof REASONS)[number];

export interface ProbeResult {
  ok: boolean;
  reason: Reason;
  /** Rcode name of the final reply, or null when none could be decoded. */
  rcode: string | null;
  /** A/AAAA/CNAME (and DNAME/NS/PTR) data of the final reply's answer section. */
  answers: string[];
  rttSeconds: number | null;
  /** The transport of the final attempt. */
  transport: Transport;
  /** The UDP reply was truncated and the probe went on over TCP. */
  truncated: boolean;
  detail?: string;
  /** UDP datagrams from the server that were not this query's reply (wrong ID or question, empty), dropped while waiting. */
  ignoredReplies?: number;
}

/** The budget's classes of (vantage, target, transport) pairs: the host vantage's, a pod's own nameservers, a pod's other targets. */
export type PairClass = 'host' | 'own' | 'other';

export interface SweepRow {
  vantage: Vantage;
  target: Target;
  transport: Transport;
  query: Query;
  attempts: number;
  result: ProbeResult;
  /** The pair's class in the probe budget (absent: not planned, e.g. `check`). */
  class?: PairClass;
  /** Not probed this sweep: the last result of an earlier one, carried over for the diagnosis (the budget skipped the pair). */
  carried?: true;
}

/** A (vantage, target, transport) pair the sweep knew but did not probe (the budget's rotation). */
export interface SkippedPair {
  vantage: Vantage;
  target: Target;
  transport: Transport;
  class: PairClass;
}

/** One class of pairs in a sweep's plan. */
export interface PlanGroup {
  pairs: number;
  planned: number;
  /** Pairs it is guaranteed each sweep; null: no limit. */
  slots: number | null;
  /** Each pair is probed at least every this many sweeps; null: never (the budget leaves it no slot). */
  rotationSweeps: number | null;
}

/** What the probe budget decided for one sweep. */
export interface SweepPlanReport {
  /** The rotation's sweep number (1 first). */
  sweep: number;
  /** Queries the sweep may send; null: no budget. */
  budget: number | null;
  /** Queries reserved by the planned pairs (attempts × queries each) and for TCP retries (retryReserve). */
  reserved: number;
  /** Queries kept for TCP retries of truncated UDP replies: as many as the sweep before sent. */
  retryReserve: number;
  /** DNS queries actually sent (attempts, and TCP retries of truncated UDP replies). */
  queries: number;
  planned: number;
  skipped: SkippedPair[];
  groups: Record<PairClass, PlanGroup>;
  rotationSweeps: number | null;
}

export type VantageStatus = 'probed' | 'gone' | 'inaccessible';

export interface VantageReport {
  vantage: Vantage;
  /** Its `vantage` label in metrics, health checks and /status: unique within the sweep (discovery/vantage.ts vantageLabels). */
  label: string;
  status: VantageStatus;
  /** Why a vantage was not probed, or notes about its resolv.conf. */
  detail?: string;
  resolvConf?: { path: string; nameservers: string[]; error?: string; warnings: string[] };
  /**
   * The resolv.conf this sweep read for the vantage (when it probes own
   * nameservers): the diagnosis uses it instead of reading the file again, so
   * a container file is read once per sweep.
   */
  resolvConfRead?: ResolvConfRead;
}

export interface SweepReport {
  startedAt: Date;
  durationSeconds: number;
  vantages: VantageReport[];
  rows: SweepRow[];
  /** The probe budget's plan (absent when the sweep had none). */
  plan?: SweepPlanReport;
}

export const DNS_POLICIES = ['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None'] as const;

export type DnsPolicy = (typeof DNS_POLICIES)[number];

export interface KubePod {
  uid?: string;
  namespace: string;
  name: string;
  dnsPolicy: DnsPolicy;
}

export interface KubeFacts {
  /** ClusterIPs of the cluster DNS Service (kube-system/kube-dns). */
  dnsServiceIps: readonly string[];
  /** Pods on this node. */
  pods: readonly KubePod[];
}

export interface EventWrite {
  /** Namespace of the Event: the regarding object's, or "default" for a Node. */
  namespace: string;
  regarding: { apiVersion: string; kind: string; name: string; namespace?: string; uid?: string };
  type: 'Normal' | 'Warning';
  /** CamelCase, machine-readable (e.g. "Evicted", "WouldEvict"). */
  reason: string;
  /** What was done or decided (e.g. "Evict", "RaiseMemoryLimit", "Skip"). */
  action: string;
  /** Human-readable; at most 1 kB. */
  note: string;
}
