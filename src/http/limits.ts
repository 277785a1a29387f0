// How many HTTP connections the daemon holds at most: http.maxConnections,
// lowered when the process's file descriptor limit would not leave enough
// for probing. Each HTTP connection is one fd; so is each probe's socket and
// each probe's own duplicate of its namespace fd (the addon dups it per job),
// and every vantage holds its namespace open during the sweep. A sweep runs
// every probe of every vantage at once (src/probe/sweep.ts), so the reserve is
// estimated from the configuration for a node of ASSUMED_VANTAGES vantages.
//
// Node has no getrlimit(): the soft limit is read from /proc/self/limits
// ("Max open files"). Node raises its soft limit to the hard one at start,
// so this is the limit the daemon really runs with.
import fs from 'node:fs';
import type { Config } from '../config/schema.js';

/** Node and libuv, stdio, Kubernetes and Docker API sockets, /proc scan and diagnosis reads (both bounded by their own concurrency). */
export const BASE_FD_RESERVE = 512;
/** Vantages assumed on a node: the kubelet's default maxPods (110) plus the host. */
export const ASSUMED_VANTAGES = 111;
/** Nameservers of one resolv.conf that are probed (resolvers use the first 3). */
export const RESOLV_CONF_NAMESERVERS = 3;
/** Kubernetes targets assumed besides the static ones: CoreDNS pods and the DNS Service. */
export const ASSUMED_KUBE_TARGETS = 4;
/** A probe in flight: its socket and its job's duplicate of the namespace fd. */
export const FDS_PER_PROBE = 2;
/** A vantage during a sweep: its open namespace fd. */
export const FDS_PER_VANTAGE = 1;
/** The cap is never lowered below this: /metrics and /healthz must stay reachable. */
export const MIN_CONNECTIONS = 16;

/** The soft "Max open files" of /proc/<pid>/limits text; null when absent; Infinity for "unlimited". */
export function parseFdLimit(text: string): number | null {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
  if (!m) return null;
  if (m[1] === 'unlimited') return Infinity;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/** The soft RLIMIT_NOFILE of this process; null when /proc/self/limits cannot be read. */
export function readFdLimit(file = '/proc/self/limits'): number | null {
  try {
    return parseFdLimit(fs.readFileSync(file, 'utf8'));
  } catch {
    return null;
  }
}

/** Probes one vantage runs at once with this configuration (its own nameservers, static and Kubernetes targets). */
export function probesPerVantage(c: Config): number {
  const targets = RESOLV_CONF_NAMESERVERS + c.targets.length + (c.kubernetes.enabled ? ASSUMED_KUBE_TARGETS : 0);
  return targets * c.probe.transports.length * c.queries.length;
}

/** File descriptors kept for everything but the HTTP server. */
export function fdReserve(c: Config): number {
  return BASE_FD_RESERVE + ASSUMED_VANTAGES * (FDS_PER_VANTAGE + FDS_PER_PROBE * probesPerVantage(c));
}

export interface ConnectionLimit {
  /** http.maxConnections. */
  configured: number;
  /** What the server enforces. */
  effective: number;
  /** The soft RLIMIT_NOFILE; null when unknown (then nothing is lowered). */
  fdLimit: number | null;
  /** File descriptors kept for probing and the rest of the daemon. */
  reserve: number;
  /** effective < configured. */
  lowered: boolean;
  /** The fd limit leaves less than the reserve even with MIN_CONNECTIONS: probing itself may run out. */
  insufficient: boolean;
}

/** http.maxConnections, at most fdLimit − reserve, at least MIN_CONNECTIONS (or the configured value when lower). */
export function connectionLimit(c: Config, fdLimit: number | null = readFdLimit()): ConnectionLimit {
  const configured = c.http.maxConnections;
  const reserve = fdReserve(c);
  if (fdLimit === null || fdLimit === Infinity) return { configured, effective: configured, fdLimit, reserve, lowered: false, insufficient: false };
  const room = fdLimit - reserve;
  const effective = Math.min(configured, Math.max(room, MIN_CONNECTIONS));
  return { configured, effective, fdLimit, reserve, lowered: effective < configured, insufficient: room < MIN_CONNECTIONS };
}
