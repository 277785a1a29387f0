// Every metric coredns-healthd exports: name, type, help and labels, in one
// table that the registry builds from and the documentation is written from
// (a test checks the two agree with a live scrape).
//
// Label values are bounded:
//   vantage    "host", "<namespace>/<pod>" or "netns:[<inode>]" (see
//              src/health/labels.ts): one per network namespace on the node;
//              series of a vantage that disappears are removed.
//   target     "ip:port" of a DNS server a vantage probes (its resolv.conf
//              nameservers, the configured targets).
//   transport  udp | tcp.   query  "name TYPE" from the configuration.
//   reason     the fixed set in src/probe/reasons.ts.
//   check, severity  the fixed sets in src/diagnose/finding.ts (FINDING_AREAS, SEVERITIES).
//   class      host | own | other: the probe budget's classes of pairs (src/probe/plan.ts).
//   state (sweep_pairs)  planned | skipped.
//   action, result, reason (remedy decisions)  the fixed sets in src/remedy/decision.ts.
import { REASONS } from '../model.js';
import type { DecisionReason, DecisionResult, RemedyAction } from '../remedy/decision.js';

export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface MetricDef {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  readonly labels: readonly string[];
  readonly buckets?: readonly number[];
}

const def = (name: string, type: MetricType, help: string, labels: readonly string[] = [], buckets?: readonly number[]): MetricDef =>
  Object.freeze({ name, type, help, labels: Object.freeze([...labels]), ...(buckets ? { buckets: Object.freeze([...buckets]) } : {}) });

export const PREFIX = 'coredns_healthd_';

/** RTT of a DNS exchange: sub-millisecond on a node, up to the probe timeout. */
export const RTT_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
/** A sweep lasts about one probe timeout at worst (all probes run at once). */
export const SWEEP_BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];

export const CHECK_LABELS = ['vantage', 'target', 'transport', 'query'] as const;
export const PATH_LABELS = ['vantage', 'target', 'transport'] as const;
export const TARGET_LABELS = ['target', 'transport'] as const;

/**
 * Series of coredns_healthd_remedy_decisions_total present (at 0) from the
 * start, so increase() sees the first action: each action as taken, and as
 * a dry-run would take it.
 */
export const REMEDY_ZERO_SERIES = [
  { action: 'evict', result: 'acted', reason: 'threshold-reached' },
  { action: 'evict', result: 'would-act', reason: 'threshold-reached' },
  { action: 'raise-memory', result: 'acted', reason: 'oom-killed' },
  { action: 'raise-memory', result: 'would-act', reason: 'oom-killed' },
  { action: 'node-finding', result: 'reported', reason: 'all-endpoints-failed' },
  // Quorum across nodes: a node whose path to a pod is broken, a partition.
  { action: 'evict', result: 'skipped', reason: 'no-quorum' },
  { action: 'evict', result: 'skipped', reason: 'partition' },
] as const satisfies ReadonlyArray<{ action: RemedyAction; result: DecisionResult; reason: DecisionReason }>;

export const METRICS = {
  probeSuccess: def(
    `${PREFIX}probe_success`,
    'gauge',
    'Whether the last probe of this check passed (1) or failed (0), before hysteresis. Only with metrics.perVantageDetail.',
    CHECK_LABELS,
  ),
  checkHealthy: def(
    `${PREFIX}check_healthy`,
    'gauge',
    'Health of this check after hysteresis (health.failureThreshold / health.successThreshold): 1 healthy, 0 unhealthy.',
    CHECK_LABELS,
  ),
  probeRtt: def(
    `${PREFIX}probe_rtt_seconds`,
    'histogram',
    'Round-trip time of the DNS exchange of each probe that got a reply, in seconds, by target and transport (every vantage together).',
    TARGET_LABELS,
    RTT_BUCKETS,
  ),
  vantageProbeRtt: def(
    `${PREFIX}vantage_probe_rtt_seconds`,
    'histogram',
    'Round-trip time of the DNS exchange of each probe that got a reply, in seconds, per vantage, target and transport. Only with metrics.perVantageDetail.',
    PATH_LABELS,
    RTT_BUCKETS,
  ),
  probes: def(
    `${PREFIX}probes_total`,
    'counter',
    'Probes completed, by transport, result (success or failure) and reason (ok, timeout, refused, ...; see the documentation).',
    ['transport', 'result', 'reason'],
  ),
  probeAttempts: def(`${PREFIX}probe_attempts_total`, 'counter', 'DNS queries sent (a probe tries up to probe.attempts times), by transport.', ['transport']),
  ignoredReplies: def(
    `${PREFIX}ignored_replies_total`,
    'counter',
    'UDP datagrams from a probed server that were not the reply to the query (wrong ID or question, or empty), dropped while the probe waited for its reply, by transport. A steady rate means spoofed or misrouted replies.',
    ['transport'],
  ),
  probeQueries: def(
    `${PREFIX}probe_queries_total`,
    'counter',
    "DNS queries sent to the cluster's DNS servers (every attempt, and the TCP retry of a truncated UDP reply), by class of pair (host: the host vantage; own: a pod's own nameservers; other: a pod's other targets). Bounded by probe.maxQueriesPerSecond.",
    ['class'],
  ),
  budget: def(`${PREFIX}probe_budget_queries`, 'gauge', 'Queries a sweep may send: probe.maxQueriesPerSecond times interval.'),
  sweepPairs: def(
    `${PREFIX}sweep_pairs`,
    'gauge',
    '(vantage, target, transport) pairs in the last sweep, by class (host, own, other) and state (planned: probed; skipped: left for a later sweep by the probe budget, or TCP not due).',
    ['class', 'state'],
  ),
  rotationSweeps: def(
    `${PREFIX}rotation_sweeps`,
    'gauge',
    'Every pair of the class is probed at least every this many sweeps under the probe budget (K; +Inf when the budget leaves the class no slot).',
    ['class'],
  ),
  rotationSeconds: def(
    `${PREFIX}rotation_seconds`,
    'gauge',
    'The same in seconds, at most: K times (interval + jitter), while sweeps keep to their interval.',
    ['class'],
  ),
  checksStale: def(
    `${PREFIX}checks_stale`,
    'gauge',
    'Checks whose last result is more than twice their rotation old (the rotation is stuck; /healthz answers 503).',
  ),
  oldestResultAge: def(
    `${PREFIX}oldest_result_age_seconds`,
    'gauge',
    'Age of the oldest last result among the checks of the class (host, own, other), at scrape time: how fresh the health state is.',
    ['class'],
  ),
  sweeps: def(`${PREFIX}sweeps_total`, 'counter', 'Sweeps completed, by result: success, or error (the sweep could not run, e.g. procRoot unreadable).', [
    'result',
  ]),
  sweepDuration: def(
    `${PREFIX}sweep_duration_seconds`,
    'histogram',
    'Wall time of a sweep: discovery and every probe, the vantages started spread over probe.spread times interval.',
    [],
    SWEEP_BUCKETS,
  ),
  lastSweep: def(`${PREFIX}last_sweep_timestamp_seconds`, 'gauge', 'When the last sweep completed, in seconds since the epoch.'),
  vantages: def(
    `${PREFIX}vantages`,
    'gauge',
    'Vantage points (network namespaces) in the last sweep, by discovery source (host, proc, docker, proc+docker) and status (probed, gone, inaccessible).',
    ['source', 'status'],
  ),
  checks: def(`${PREFIX}checks`, 'gauge', 'Checks (vantage x target x transport x query) held, by state (healthy, unhealthy).', ['state']),
  discoveryErrors: def(
    `${PREFIX}discovery_errors_total`,
    'counter',
    'Discovery problems: proc = /proc entries that could not be read (usually processes that exited mid-scan), docker = failed Docker Engine API calls.',
    ['source'],
  ),
  healthy: def(`${PREFIX}healthy`, 'gauge', 'What each health URL answers: 1 for 200, 0 for 503 (group all is /healthz).', ['group']),
  configReloadSuccessful: def(`${PREFIX}config_last_reload_successful`, 'gauge', 'Whether the last configuration load (start or SIGHUP) succeeded.'),
  configReloadTimestamp: def(
    `${PREFIX}config_last_reload_success_timestamp_seconds`,
    'gauge',
    'When the configuration was last loaded successfully, in seconds since the epoch.',
  ),
  nativeInFlight: def(`${PREFIX}native_jobs_in_flight`, 'gauge', 'DNS exchanges the native engine is running now.'),
  nativeQueued: def(`${PREFIX}native_jobs_queued`, 'gauge', 'DNS exchanges submitted to the native engine and not started yet.'),
  nativeUp: def(`${PREFIX}native_engine_up`, 'gauge', 'Whether the native engine thread runs (0 after it could not return to the host network namespace).'),
  buildInfo: def(`${PREFIX}build_info`, 'gauge', 'Always 1; labels carry the version of coredns-healthd and of Node.js.', ['version', 'nodejs_version']),
  remedyDecisions: def(
    `${PREFIX}remedy_decisions_total`,
    'counter',
    'Remedy decisions about CoreDNS (Kubernetes), acted on or not, by action (evict, raise-memory, node-finding), result (acted, would-act in dry-run, skipped, reported) and reason (threshold-reached, oom-killed, cooldown, lease-held, forbidden, api-unreachable, ...; see the documentation).',
    ['action', 'result', 'reason'],
  ),
  oomKills: def(`${PREFIX}coredns_oom_kills_total`, 'counter', 'CoreDNS containers seen terminated with OOMKilled.'),
  findings: def(
    `${PREFIX}findings`,
    'gauge',
    'Diagnosis findings active now (why DNS fails from a vantage, or from the node), by check (resolv-conf, routes, interfaces, firewall, protocol, path, conntrack) and severity (error, warning, info).',
    ['check', 'severity'],
  ),
  processCpu: def('process_cpu_seconds_total', 'counter', 'Total user and system CPU time spent in seconds.'),
  processRss: def('process_resident_memory_bytes', 'gauge', 'Resident memory size in bytes.'),
  processFds: def('process_open_fds', 'gauge', 'Number of open file descriptors.'),
  processMaxFds: def('process_max_fds', 'gauge', 'Maximum number of open file descriptors.'),
  processVirtualMemory: def('process_virtual_memory_bytes', 'gauge', 'Virtual memory size in bytes.'),
  processStart: def('process_start_time_seconds', 'gauge', 'Start time of the process since unix epoch in seconds.'),
} as const satisfies Record<string, MetricDef>;

export type MetricKey = keyof typeof METRICS;

/** The original Go tool's metric names and what replaces each. */
export const ORIGINAL_NAMES: ReadonlyArray<{ original: string; replacement: string; note: string }> = [
  { original: 'oom_count', replacement: `${PREFIX}coredns_oom_kills_total`, note: 'CoreDNS containers seen terminated with OOMKilled' },
  {
    original: 'restart_count',
    replacement: `${PREFIX}remedy_decisions_total{action="evict",result="acted"}`,
    note: 'CoreDNS pods evicted by the remedy engine (every decision, dry-run and skipped ones too, with result and reason)',
  },
  { original: 'total_failures', replacement: `${PREFIX}probes_total{result="failure"}`, note: 'failed probes, by transport and reason' },
  { original: 'dns_query_count', replacement: `${PREFIX}probe_attempts_total`, note: 'DNS queries sent, by transport (probes after retries: probes_total)' },
  {
    original: 'dns_query_response_time',
    replacement: `${PREFIX}probe_rtt_seconds`,
    note: 'a histogram in seconds, by target and transport (per vantage too with metrics.perVantageDetail: vantage_probe_rtt_seconds)',
  },
];

/** Every reason, for pre-created zero series of probes_total. */
export const PROBE_REASONS = REASONS;
