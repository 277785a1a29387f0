// What a configuration means for discovery and the sweep: the one mapping
// `check`, `netns` and the daemon (`run`) share. A command may narrow it (check
// probes UDP only unless told otherwise), never rebuild it.
import type { Target } from '../model.js';
import type { DiscoverOptions } from '../discovery/discover.js';
import type { SweepOptions } from '../probe/sweep.js';
import { parseServerTarget } from './format-network.js';
import type { Config } from './schema.js';

/** resolv.conf nameservers are probed on port 53, as libc resolvers use them (resolv.conf cannot name another; dnsPort is for targets). */
export const RESOLV_CONF_PORT = 53;
/** Deadline of one Docker Engine API discovery (list + inspects). */
export const DOCKER_TIMEOUT_MS = 5_000;

/** The configured static targets (dnsPort applies to those without a port). */
export function configTargets(c: Config): Target[] {
  return c.targets.map((text) => {
    const hp = parseServerTarget(text, c.dnsPort);
    return { server: hp.address, port: hp.port, source: 'static' as const };
  });
}

export function sweepOptions(c: Config): SweepOptions {
  return {
    procRoot: c.discovery.procRoot,
    transports: c.probe.transports,
    queries: c.queries,
    timeoutMs: c.probe.timeout,
    attempts: c.probe.attempts,
    dnsPort: RESOLV_CONF_PORT,
    ownNameservers: true,
    targets: configTargets(c),
    spreadMs: Math.round(c.probe.spread * c.interval),
    maxInFlightPerTarget: c.probe.maxInFlightPerTarget,
  };
}

/** The daemon's probe budget: queries a sweep may send, and how often pods probe over TCP. */
export function budgetOptions(c: Config): { queriesPerSweep: number; tcpEvery: number } {
  return { queriesPerSweep: Math.floor((c.probe.maxQueriesPerSecond * c.interval) / 1000), tcpEvery: c.probe.tcpEvery };
}

export function discoveryOptions(c: Config): DiscoverOptions {
  return {
    procRoot: c.discovery.procRoot,
    hostResolvConf: c.hostResolvConf,
    host: c.discovery.host,
    containers: c.discovery.containers,
    proc: c.discovery.proc.enabled,
    docker: { enabled: c.discovery.docker.enabled, socketPath: c.discovery.docker.socketPath, timeoutMs: DOCKER_TIMEOUT_MS },
  };
}
