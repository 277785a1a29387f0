// The remedy settings as the gate and the actions use them, taken from the
// configuration (remedy.*, kubernetes.nodeName) in one place.
import { hostname } from 'node:os';
import type { Config } from '../config/schema.js';
import type { QuorumSettings } from './verdicts.js';

export type RemedyMode = 'off' | 'dry-run' | 'enforce';

export interface RemedySettings {
  mode: RemedyMode;
  /** Consecutive failed host-vantage sweeps before a pod may be evicted. */
  failedSweeps: number;
  minReadyPods: number;
  cooldownMs: number;
  maxActionsPerHour: number;
  /** How long to wait for the replacement to be Ready before releasing the Lease. */
  readyTimeoutMs: number;
  lease: { namespace: string; name: string; durationMs: number };
  memory: { factor: number; cap: string };
  allowDelete: boolean;
  /** Quorum across nodes before an eviction (src/remedy/verdicts.ts). */
  quorum: QuorumSettings;
  /** kubernetes.nodeConditionHeartbeat: rewrite an unchanged node condition this often; 0 never. */
  conditionHeartbeatMs: number;
  /**
   * After the API server failed this node, no action until this long after the last failure:
   * two sweep intervals (interval + jitter), so every node has swept, and published again the
   * verdicts it could not write, before anyone reads them.
   */
  apiSettleMs: number;
}

export function remedySettings(c: Config): RemedySettings {
  const r = c.remedy;
  return {
    mode: r.mode,
    failedSweeps: r.failedSweeps,
    minReadyPods: r.minReadyPods,
    cooldownMs: r.cooldown,
    maxActionsPerHour: r.maxActionsPerHour,
    readyTimeoutMs: r.readyTimeout,
    lease: { namespace: r.lease.namespace, name: r.lease.name, durationMs: r.lease.duration },
    memory: { factor: r.memory.factor, cap: r.memory.cap },
    allowDelete: r.evict.allowDelete,
    quorum: {
      namespace: r.quorum.namespace,
      minNodes: r.quorum.minNodes,
      fraction: r.quorum.fraction,
      windowMs: r.quorum.window,
      refreshMs: r.quorum.refresh,
      maxFailingPods: r.quorum.maxFailingPods,
    },
    conditionHeartbeatMs: c.kubernetes.nodeConditionHeartbeat,
    apiSettleMs: 2 * (c.interval + c.jitter),
  };
}

/** kubernetes.nodeName, or this machine's host name when it is "" (as the kubelet names its node). */
export const nodeNameOf = (c: Config, host: () => string = hostname): string => c.kubernetes.nodeName || host().toLowerCase();
