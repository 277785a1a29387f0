// The one schema of coredns-healthd's configuration: every setting's format,
// default, documentation and environment variable. The example file in
// packaging/, the documentation, the loader and the `Config` type all come
// from here.
//
// Environment variables are derived from the key, one rule for all:
// COREDNS_HEALTHD_ + the key with dots and camelCase turned into underscores,
// upper-cased (discovery.docker.socketPath → COREDNS_HEALTHD_DISCOVERY_DOCKER_SOCKET_PATH).
//
// Durations: the file, the environment and flags take a number of
// milliseconds or a string with a unit ("500ms", "10s", "5m", "1h30m");
// the effective configuration holds milliseconds (numbers), the unit
// setTimeout and the probe engine use.
import type { Format } from './format.js';
import { F, FORMATS } from './formats.js';

/** One setting; T is the type of its value in the effective configuration. */
export interface Setting<T = unknown> {
  readonly format: string;
  /** The default as written in a configuration file (e.g. "10s"). */
  readonly default: unknown;
  readonly doc: string;
  readonly _type?: T;
}

const setting = <T>(format: Format<T>, def: unknown, doc: string): Setting<T> => ({ format: format.name, default: def, doc });

const DEFINITION = {
  interval: setting(
    F.duration,
    '10s',
    'Time between the starts of two sweeps; a sweep that runs longer delays the next, they never overlap. ' +
      'Durations are a number of milliseconds or a string with a unit (ms, s, m, h) such as "10s"; the effective configuration holds milliseconds.',
  ),
  jitter: setting(
    F.durationOrZero,
    '1s',
    'A random delay of up to this much is added to each interval, so the daemons of many nodes do not probe CoreDNS in lockstep. Less than interval.',
  ),
  probe: {
    timeout: setting(F.probeTimeout, '2s', 'Deadline of one DNS exchange (one attempt) over UDP or TCP, at most 120s.'),
    attempts: setting(F.attempts, 2, 'Attempts per probe; the next attempt starts when the previous one failed. The probe fails when every attempt did.'),
    transports: setting(
      F.transports,
      ['udp', 'tcp'],
      'Transports every target is probed over. Probing both tells a UDP-only fault (firewall, conntrack) from a dead server.',
    ),
    spread: setting(
      F.share,
      0.5,
      "Share of interval over which a sweep's vantages start, evenly spaced, instead of all at once: with interval 10s and 0.5, " +
        '1,000 vantages start 5 ms apart over 5 s, so a node never sends its DNS servers a sweep in one burst. 0 starts them all at once. ' +
        'The check command always starts them at once (probe.maxInFlightPerTarget still applies).',
    ),
    maxInFlightPerTarget: setting(
      F.count,
      64,
      'Probe attempts in flight at once from this node to one DNS server (address and port), all vantages together; one more waits until one ends. ' +
        'A server that answers nothing holds each slot for a timeout, so it lengthens the sweep instead of receiving more queries.',
    ),
    maxQueriesPerSecond: setting(
      F.queryRate,
      10,
      'DNS queries per second this node sends to all its DNS servers together, at most (averaged over a sweep: interval x this many per sweep, every attempt counted). ' +
        'The host vantage probes all its targets over every transport every sweep; what is left goes to the pods, 4 parts to their own nameservers, 1 to the other targets ' +
        '(each CoreDNS pod IP), each group in rotation, least recently probed first, so every (vantage, target, transport) is probed at least every K sweeps (/status: sweep.plan). ' +
        'When everything fits, everything is probed every sweep. The default keeps 1,000 nodes at 10,000 queries per second at most. The check command is not budgeted.',
    ),
    tcpEvery: setting(
      F.everySweeps,
      3,
      'Pods (not the host) probe over TCP every this many sweeps; UDP every sweep. 1: TCP every sweep too. Only with "tcp" in probe.transports.',
    ),
  },
  queries: setting(
    F.queries,
    [{ name: 'kubernetes.default.svc.cluster.local', type: 'A', validRcodes: ['NOERROR'], requireAnswers: true, expectAnswers: [], expectMatch: 'contain' }],
    'The DNS questions asked of every target from every vantage, and what makes an answer good: the rcodes that pass, whether answers must be present, ' +
      'and addresses the answer must contain ("contain") or be exactly ("equal"). Names are absolute.',
  ),
  targets: setting(
    F.serverList,
    [],
    'Static DNS servers every vantage probes, besides its own resolv.conf nameservers and, with Kubernetes, the CoreDNS pods and Service: "IP", "IP:PORT" or "[IPv6]:PORT".',
  ),
  dnsPort: setting(
    F.dnsPort,
    53,
    "Port of the targets given without one (the original Go tool's -port / udpPort). resolv.conf nameservers always use port 53, as the libc resolver does.",
  ),
  hostResolvConf: setting(F.path, '/etc/resolv.conf', 'The resolv.conf whose nameservers the host vantage probes.'),
  discovery: {
    procRoot: setting(F.path, '/proc', "Root of the proc filesystem: network namespaces are found, and containers' resolv.conf read, under it."),
    host: setting(F.boolean, true, "Probe from the host network namespace (the daemon's own)."),
    containers: setting(F.boolean, true, 'Probe from every container network namespace found; false probes from the host only.'),
    proc: {
      enabled: setting(F.boolean, true, 'Find container network namespaces by scanning procRoot (works with containerd, CRI-O and Docker).'),
    },
    docker: {
      enabled: setting(
        F.boolean,
        true,
        'Also ask the Docker Engine API for containers, their PIDs and Kubernetes labels. No socket is a normal state, logged once.',
      ),
      socketPath: setting(F.path, '/var/run/docker.sock', 'The Docker Engine API socket.'),
    },
  },
  health: {
    failureThreshold: setting(F.count, 3, 'Consecutive failed probes after which a (vantage, target, transport) turns unhealthy.'),
    successThreshold: setting(F.count, 2, 'Consecutive passed probes after which an unhealthy (vantage, target, transport) turns healthy again.'),
    staleAfter: setting(
      F.duration,
      '60s',
      '/healthz answers 503 when the last completed sweep is older than this (as exechealthz --latency did). Greater than interval + jitter.',
    ),
    override: setting(
      F.healthOverride,
      'none',
      'Maintenance override of every health URL: "healthy" or "unhealthy" forces the answer, "none" reports the real state.',
    ),
  },
  http: {
    listen: setting(F.listenAddress, '0.0.0.0:9890', 'Address of the HTTP server for /metrics, /healthz and /status.'),
    maxConnections: setting(
      F.count,
      256,
      'HTTP connections open at once; one more is closed as soon as it is accepted. Lowered (and logged at warn) when the file descriptor limit ' +
        '(soft RLIMIT_NOFILE, systemd LimitNOFILE=) minus a reserve for probing is smaller: the reserve counts two fds per probe in flight and one per vantage, ' +
        'for 111 vantages, plus 512 for the rest of the daemon; never below 16. Clients must send their request headers within 10s and the whole request within 30s; ' +
        'idle keep-alive connections are closed after 5s; request bodies are not read.',
    ),
    webConfigFile: setting(
      F.optionalPath,
      '',
      "A web configuration file in the format of Prometheus' exporter-toolkit (YAML, node_exporter's --web.config.file): " +
        'TLS (tls_server_config), basic authentication with bcrypt hashes (basic_auth_users) and response headers (http_server_config.headers). ' +
        'Read at start and on every reload (certificates rotate without a restart); a bad file keeps the last good one. "" serves plain HTTP without authentication.',
    ),
  },
  metrics: {
    perVantageDetail: setting(
      F.boolean,
      false,
      'Also export per-vantage probe results: coredns_healthd_probe_success (one series per check) and coredns_healthd_vantage_probe_rtt_seconds ' +
        '(a histogram per vantage, target and transport: 15 series each). Off by default: at 110 pods that is ~20,000 more series per node. ' +
        'coredns_healthd_check_healthy (per check) and coredns_healthd_probe_rtt_seconds (by target and transport) are always exported.',
    ),
  },
  log: {
    level: setting(F.logLevel, 'info', 'The least severe level written to stdout (JSON lines).'),
  },
  kubernetes: {
    enabled: setting(
      F.boolean,
      true,
      'Use the Kubernetes API, when credentials are found, to find the CoreDNS targets and to act on them; false never contacts an API server. ' +
        'Without credentials probing goes on and remedies are off.',
    ),
    kubeconfig: setting(
      F.optionalPath,
      '',
      'Path of the kubeconfig file (the original Go tool\'s -path); "" uses $KUBECONFIG, then the in-cluster configuration.',
    ),
    dnsService: setting(F.objectRef, 'kube-system/kube-dns', 'The cluster DNS Service as namespace/name; its selector finds the CoreDNS pods.'),
    clusterDomain: setting(
      F.dnsName,
      'cluster.local',
      'The cluster domain; kubernetes.default.svc.<clusterDomain> must answer the default/kubernetes Service IP.',
    ),
    nodeName: setting(F.nodeName, '', 'This node\'s name in Kubernetes; "" uses the host name.'),
    nodeCondition: setting(F.boolean, true, "Keep a ClusterDNSReachable condition on this node's status, when RBAC allows it."),
    nodeConditionHeartbeat: setting(
      F.durationOrZero,
      '1h',
      'Rewrite an unchanged ClusterDNSReachable condition this often (its lastHeartbeatTime; a message that only recounts pods waits for it). ' +
        'It is written at once when its status or reason changes. 0: only then. Liveness is on the verdict Lease, renewed every remedy.quorum.refresh.',
    ),
  },
  remedy: {
    mode: setting(
      F.remedyMode,
      'dry-run',
      '"off": decide nothing; "dry-run": decide, and report what would be done without changing anything; "enforce": act.',
    ),
    failedSweeps: setting(
      F.count,
      3,
      'Consecutive sweeps in which a CoreDNS pod failed from the host vantage, while another endpoint answered, before it may be restarted.',
    ),
    minReadyPods: setting(F.countOrZero, 1, 'Never evict a CoreDNS pod when that would leave fewer Ready CoreDNS pods than this.'),
    cooldown: setting(F.durationOrZero, '10m', 'Least time between two actions on the same pod or Deployment, by any node.'),
    maxActionsPerHour: setting(
      F.count,
      3,
      'At most this many actions in any hour in the whole cluster (counted from the history every node records on the remedy Lease).',
    ),
    readyTimeout: setting(F.duration, '5m', 'How long to wait for the replacement pod to be Ready before releasing the Lease anyway.'),
    lease: {
      namespace: setting(F.k8sNamespace, 'kube-system', 'Namespace of the coordination.k8s.io Lease that lets one node act at a time in the whole cluster.'),
      name: setting(F.k8sName, 'coredns-healthd-remedy', 'Name of that Lease.'),
      duration: setting(F.duration, '60s', 'Lease duration; the holder renews it while it acts, so the Lease of a crashed holder expires after this long.'),
    },
    memory: {
      factor: setting(F.factor, 2, "After an OOMKilled, the CoreDNS container's memory limit is multiplied by this."),
      cap: setting(F.quantity, '1Gi', 'The memory limit is never raised above this.'),
    },
    quorum: {
      namespace: setting(
        F.k8sNamespace,
        'coredns-healthd',
        'Namespace of the nodes\' verdict Leases ("coredns-healthd-verdict-<node>"): a namespace of their own, so that RBAC can allow them without allowing kube-system\'s Leases (packaging/kubernetes/rbac.yaml creates it).',
      ),
      minNodes: setting(
        F.count,
        2,
        'A CoreDNS pod is evicted only when at least this many nodes see it failing while another CoreDNS endpoint answers from them ' +
          '(each node publishes its verdicts in a Lease in remedy.quorum.namespace). 1 allows a one-node cluster to act alone.',
      ),
      fraction: setting(F.ratio, 0.5, 'And at least this share of the nodes that reported on the pod within remedy.quorum.window see it failing.'),
      window: setting(F.duration, '15m', 'Reports older than this do not count (a node that stopped reporting). Longer than remedy.quorum.refresh.'),
      refresh: setting(
        F.duration,
        '5m',
        'A node rewrites its verdicts this often when nothing changed, so that its report stays fresh; otherwise only when a verdict changes.',
      ),
      maxFailingPods: setting(
        F.count,
        2,
        'More CoreDNS pods failing by quorum at once than this is reported as a network partition or a cluster-wide fault, and nothing is evicted.',
      ),
    },
    evict: {
      allowDelete: setting(
        F.boolean,
        false,
        'Restart a pod with a plain delete (which ignores PodDisruptionBudgets) where the policy/v1 Eviction API is not served.',
      ),
    },
  },
  diagnose: {
    nodeLocalDns: setting(
      F.ipList,
      [],
      'Addresses of a node-local DNS cache (e.g. "169.254.20.10") that ClusterFirst pods may use instead of the DNS Service IP.',
    ),
    healthyEvery: setting(
      F.durationOrZero,
      '5m',
      'How often the daemon diagnoses a vantage whose probes pass and whose process, resolv.conf and Kubernetes facts did not change (its last findings stand in between). ' +
        'A vantage that fails, failed at its last diagnosis, is new or changed is diagnosed after every sweep. 0 diagnoses every vantage after every sweep.',
    ),
    conntrack: {
      threshold: setting(F.ratio, 0.9, 'Report a finding when nf_conntrack_count / nf_conntrack_max is above this fraction.'),
    },
  },
};

type ConfigOf<S> = S extends Setting<infer T> ? T : { readonly [K in keyof S]: ConfigOf<S[K]> };

/** The effective configuration: plain data, deeply frozen, durations in milliseconds. */
export type Config = ConfigOf<typeof DEFINITION>;

export const ENV_PREFIX = 'COREDNS_HEALTHD_';

/** 'discovery.docker.socketPath' → 'COREDNS_HEALTHD_DISCOVERY_DOCKER_SOCKET_PATH' */
export const envName = (key: string): string =>
  ENV_PREFIX +
  key
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .replace(/\./g, '_')
    .toUpperCase();

export const isSetting = (node: unknown): node is Setting => typeof node === 'object' && node !== null && 'format' in node && 'default' in node;

/** A schema section: keys to settings or further sections. */
export type Section = { readonly [key: string]: Setting | Section };

export interface SettingInfo {
  readonly key: string;
  readonly format: Format<unknown>;
  readonly default: unknown;
  readonly doc: string;
  readonly env: string;
}

function flatten(section: Section, prefix: string, out: SettingInfo[]): SettingInfo[] {
  for (const [name, node] of Object.entries(section)) {
    const key = prefix + name;
    if (!isSetting(node)) {
      flatten(node, `${key}.`, out);
      continue;
    }
    const format = FORMATS.get(node.format);
    if (!format) throw new Error(`schema: ${key} uses the unknown format ${node.format}`);
    out.push(Object.freeze({ key, format, default: node.default, doc: node.doc, env: envName(key) }));
  }
  return out;
}

/** The schema tree (sections and settings), as convict and the file checks walk it. */
export const SCHEMA: Section = DEFINITION;

/** Every setting, in schema order. */
export const SETTINGS: readonly SettingInfo[] = Object.freeze(flatten(SCHEMA, '', []));
export const SETTINGS_BY_KEY: ReadonlyMap<string, SettingInfo> = new Map(SETTINGS.map((s) => [s.key, s]));

/** The schema in convict's own form: each setting with its format name, default, doc and env. */
export function convictSchema(section: Section = SCHEMA, prefix = ''): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, node] of Object.entries(section)) {
    const key = prefix + name;
    out[name] = isSetting(node)
      ? { format: node.format, default: structuredClone(node.default), doc: node.doc, env: envName(key) }
      : convictSchema(node, `${key}.`);
  }
  return out;
}

export interface SettingDescription {
  key: string;
  /** As written in the file. */
  default: unknown;
  env: string;
  doc: string;
  format: string;
  formatDoc: string;
}

/** Every setting with its default, environment variable, documentation and format: for the man page and docs. */
export function describeConfig(): SettingDescription[] {
  return SETTINGS.map((s) => ({
    key: s.key,
    default: structuredClone(s.default),
    env: s.env,
    doc: s.doc,
    format: s.format.name,
    formatDoc: s.format.doc,
  }));
}

/**
 * Rules between settings, checked after each setting is valid on its own.
 * `keys[0]` is the setting the message is about; the others are involved.
 */
export interface Relation {
  readonly keys: readonly string[];
  /** A message (without the key), or null when the rule holds. */
  readonly check: (c: Config) => string | null;
}

export const RELATIONS: readonly Relation[] = [
  {
    keys: ['jitter', 'interval'],
    check: (c) => (c.jitter < c.interval ? null : `must be less than interval (${c.interval} ms), got ${c.jitter} ms`),
  },
  {
    keys: ['health.staleAfter', 'interval', 'jitter'],
    check: (c) =>
      c.health.staleAfter > c.interval + c.jitter
        ? null
        : `must be greater than interval + jitter (${c.interval + c.jitter} ms), or /healthz would turn stale between two sweeps; got ${c.health.staleAfter} ms`,
  },
  {
    keys: ['discovery.containers', 'discovery.proc.enabled', 'discovery.docker.enabled'],
    check: (c) =>
      !c.discovery.containers || c.discovery.proc.enabled || c.discovery.docker.enabled
        ? null
        : 'is true but discovery.proc.enabled and discovery.docker.enabled are both false: nothing would find the containers',
  },
  {
    keys: ['discovery.host', 'discovery.containers'],
    check: (c) =>
      c.discovery.host || c.discovery.containers ? null : 'and discovery.containers are both false: there would be no vantage point to probe from',
  },
];
