// The remedy engine: the daemon hands it each sweep's host-vantage summary
// (onSweep); it runs the gate (src/remedy/gate.ts), carries out at most one
// action under the cluster-wide Lease, and returns every decision, acted on
// or skipped, as a structured record (also passed to onDecision, and written
// as a Kubernetes Event). After an action it waits, in the background, for
// the replacement to be Ready (or the rollout to finish), renewing the Lease,
// then releases it. The API being slow or down only ever turns into skipped
// decisions: onSweep never throws and never stops probing.
import { KubeApiError } from '../kube/errors.js';
import type { KubeApi, KubeTargets, ObjectRef } from '../kube/types.js';
import type { Logger } from '../log.js';
import { realClock, type RemedyClock } from './clock.js';
import { reasonForKubeError, type RemedyDecision } from './decision.js';
import { evictPod, type ActionOutcome } from './evict.js';
import { EventRecorder } from './events.js';
import {
  decision,
  deploymentKey,
  initialGateState,
  markOomHandled,
  planSweep,
  podKey,
  recordAction,
  recordWouldAct,
  type Candidate,
  type GateState,
} from './gate.js';
import { RemedyLease, type LastAction } from './lease.js';
import { conditionFromSweep, NodeConditionReporter, type ConditionState } from './node-condition.js';
import { applyRaise, planRaise } from './raise-memory.js';
import type { RemedySettings } from './settings.js';
import type { SweepSummary } from './sweep-summary.js';
import { API_DOWN, VerdictPublisher, evaluateQuorum, type NodeVerdicts, type QuorumVerdict } from './verdicts.js';

export interface RemedyEngineOptions {
  api: KubeApi;
  settings: RemedySettings;
  /** This node's name: the Lease holder and the Events' reportingInstance. */
  nodeName: string;
  /** The targets as the watches know them now (src/kube/targets.ts current()). */
  targets: () => KubeTargets;
  logger?: Logger;
  /** Every decision as it is made (for the log and the decisions metric). */
  onDecision?: (d: RemedyDecision) => void;
  /** Write Events (default true). */
  events?: boolean;
  /** Keep the ClusterDNSReachable node condition (kubernetes.nodeCondition; default true). */
  nodeCondition?: boolean;
  /** Clock of the gate (cooldowns, hourly cap); overrides clock.now. */
  now?: () => number;
  /** Wall clock, durations and sleeps (default the real ones; the cluster simulation passes a fake). */
  clock?: RemedyClock;
  /** How often to check whether the replacement is Ready. Default 2 s. */
  pollMs?: number;
}

export interface RemedyStatus {
  mode: RemedySettings['mode'];
  /** The action this node is completing, if any. */
  acting?: { action: string; target: string; since: string };
  /** Consecutive failed host sweeps per CoreDNS pod (non-zero only). */
  failedSweeps: { pod: string; uid: string; count: number }[];
  actionsLastHour: number;
  /** Targets in cooldown and until when. */
  cooldowns: { target: string; until: string }[];
  nodeCondition: { enabled: boolean; detail?: string };
  eventsWritten: number;
  /** This node's published verdicts and the last quorum evaluation per pod. */
  quorum: {
    verdictWrites: number;
    published?: NodeVerdicts;
    evaluations: {
      pod: string;
      uid: string;
      at: string;
      result: 'quorum' | 'no-quorum' | 'partition';
      failing: string[];
      answering: string[];
      failingAlone: string[];
      message: string;
    }[];
  };
}

/**
 * After a quorum that did not allow an eviction, the same pod is not evaluated again for this
 * long; each further failed evaluation in a row doubles it, up to QUORUM_RETRY_MAX_MS. A node
 * whose own path to a pod is broken (or flaps) then reads every node's verdicts at most every
 * five minutes, not twice a minute. A pod that no node has evaluated for twice the cap starts
 * again at QUORUM_RETRY_MS.
 */
export const QUORUM_RETRY_MS = 30_000;
export const QUORUM_RETRY_MAX_MS = 300_000;

/** The wait after the `failures`-th failed quorum evaluation in a row. */
export const quorumRetryMs = (failures: number): number => Math.min(QUORUM_RETRY_MAX_MS, QUORUM_RETRY_MS * 2 ** Math.max(0, failures - 1));

/** How long the node condition's reason says NetworkPartitionSuspected after a partition verdict. */
export const PARTITION_CONDITION_MS = 5 * 60_000;

/** OOM outcomes after which the same termination is not looked at again. */
const TERMINAL_OOM = new Set(['acted', 'at-cap', 'no-memory-limit', 'container-not-found', 'no-deployment']);

export class RemedyEngine {
  readonly #api: KubeApi;
  #settings: RemedySettings;
  readonly #node: string;
  readonly #targets: () => KubeTargets;
  readonly #log: Logger | undefined;
  readonly #onDecision: ((d: RemedyDecision) => void) | undefined;
  readonly #events: EventRecorder | undefined;
  readonly #condition: NodeConditionReporter | undefined;
  readonly #now: () => number;
  readonly #clock: RemedyClock;
  readonly #pollMs: number;
  readonly #lease: RemedyLease;
  readonly #verdicts: VerdictPublisher;
  /** The last quorum evaluation per pod UID (for /status), and how many in a row failed. */
  readonly #quorum = new Map<string, QuorumVerdict & { at: string; failures: number }>();
  #state: GateState = initialGateState();
  #acting: { action: string; target: string; since: string; done: Promise<void> } | undefined;
  readonly #abort = new AbortController();
  readonly #background = new Set<Promise<unknown>>();
  #stopped = false;
  #deciding = false;
  /** The last API failure of this engine's own calls (the Lease, the verdict LIST). */
  #apiFailure: { at: number; reason: KubeApiError['reason']; message: string } | undefined;

  constructor(o: RemedyEngineOptions) {
    this.#api = o.api;
    this.#settings = o.settings;
    this.#node = o.nodeName;
    this.#targets = o.targets;
    this.#log = o.logger;
    this.#onDecision = o.onDecision;
    this.#clock = o.clock ?? realClock;
    const clock = this.#clock;
    this.#now = o.now ?? (() => clock.now());
    this.#pollMs = o.pollMs ?? 2000;
    this.#events = o.events === false ? undefined : new EventRecorder({ api: o.api, ...(o.logger ? { logger: o.logger } : {}), now: this.#now });
    this.#condition =
      o.nodeCondition === false
        ? undefined
        : new NodeConditionReporter({
            api: o.api,
            nodeName: o.nodeName,
            ...(o.logger ? { logger: o.logger } : {}),
            now: this.#now,
            heartbeatMs: () => this.#settings.conditionHeartbeatMs,
          });
    this.#lease = new RemedyLease(o.api, this.#leaseSettings(), this.#now, this.#clock);
    this.#verdicts = new VerdictPublisher({
      api: o.api,
      namespace: () => this.#settings.quorum.namespace,
      nodeName: o.nodeName,
      now: this.#now,
      logger: o.logger,
    });
  }

  #leaseSettings(): { namespace: string; name: string; durationMs: number; holder: string } {
    return { ...this.#settings.lease, holder: this.#node };
  }

  get settings(): RemedySettings {
    return this.#settings;
  }

  /** New settings (configuration reload); counts and cooldowns are kept. */
  updateSettings(s: RemedySettings): void {
    this.#settings = s;
    this.#lease.update(this.#leaseSettings());
  }

  #track<T>(p: Promise<T>): Promise<T> {
    this.#background.add(p);
    // Bookkeeping only: the caller has p itself; the .catch keeps a rejection of p from being reported twice.
    void p.finally(() => this.#background.delete(p)).catch(() => undefined);
    return p;
  }

  /**
   * One sweep's host-vantage results: decide, act on at most one thing, and
   * return every decision made. Never throws. The daemon need not await it:
   * a sweep that arrives while the previous one is still being decided (a
   * slow API server) is not counted, which can only delay an action.
   */
  onSweep(summary: SweepSummary): Promise<RemedyDecision[]> {
    if (this.#stopped) return Promise.resolve([]);
    if (this.#deciding) {
      this.#log?.debug('the previous sweep is still being decided; this one is not counted');
      return Promise.resolve([]);
    }
    this.#deciding = true;
    return this.#track(this.#onSweep(summary)).finally(() => {
      this.#deciding = false;
    });
  }

  async #onSweep(summary: SweepSummary): Promise<RemedyDecision[]> {
    // This node's verdicts, for the other nodes' quorum: written only when one changes (and on the
    // slow refresh). Not awaited; #track keeps it for stop() and swallows its rejection.
    if (this.#settings.mode !== 'off') void this.#track(this.#verdicts.update(summary, this.#settings.quorum.refreshMs));
    const condition = this.#withPartition(conditionFromSweep(summary));
    // Not awaited: the node condition write must not hold up deciding. #track keeps it for stop() to drain and swallows its rejection.
    if (this.#condition && condition) void this.#track(this.#condition.update(condition));
    let decisions: RemedyDecision[];
    try {
      const now = this.#now();
      const plan = planSweep(this.#state, {
        now,
        summary,
        targets: this.#targets(),
        settings: this.#settings,
        nodeName: this.#node,
        busy: this.#acting !== undefined,
      });
      this.#state = plan.state;
      decisions = [...plan.decisions];
      if (plan.candidate) decisions.push(await this.#act(plan.candidate));
    } catch (err) {
      // A bug must not take probing down with it; say so loudly.
      this.#log?.error('the remedy engine failed in this sweep', { err });
      return [];
    }
    for (const d of decisions) {
      try {
        this.#onDecision?.(d);
      } catch (err) {
        this.#log?.error('onDecision failed', { err });
      }
      this.#events?.record(d);
    }
    return decisions;
  }

  #decide(
    c: Candidate,
    o: ActionOutcome | { result: 'would-act'; reason: RemedyDecision['reason']; message: string; details?: RemedyDecision['details'] },
  ): RemedyDecision {
    const now = this.#now();
    const details = { ...('details' in o && o.details ? o.details : {}) };
    if (c.action === 'evict') {
      return decision(now, {
        action: 'evict',
        result: o.result,
        reason: o.reason,
        target: `pod ${c.pod.namespace}/${c.pod.name}`,
        pod: { namespace: c.pod.namespace, name: c.pod.name, uid: c.pod.uid },
        message: o.message,
        details: { failedSweeps: c.failedSweeps, readyAfter: c.readyAfter, ...details },
      });
    }
    return decision(now, {
      action: 'raise-memory',
      result: o.result,
      reason: o.reason,
      target: `deployment ${c.deployment.namespace}/${c.deployment.name}`,
      deployment: c.deployment,
      message: o.message,
      details: { container: c.container.name, pod: `${c.pod.namespace}/${c.pod.name}`, ...details },
    });
  }

  #key(c: Candidate): string {
    return c.action === 'evict' ? podKey(c.pod.uid) : deploymentKey(c.deployment);
  }

  async #act(c: Candidate): Promise<RemedyDecision> {
    const s = this.#settings;
    const why =
      c.action === 'evict'
        ? `failed from the host in ${c.failedSweeps} consecutive sweeps${c.reasons.length ? ` (${c.reasons.join(', ')})` : ''} while another CoreDNS endpoint answered`
        : '';
    const settling = this.#apiSettling(c);
    if (settling) return settling;
    if (c.action === 'evict') {
      // A pod that just had no quorum is not looked at again for quorumRetryMs(): no LIST, no
      // Lease write each sweep from a node whose own path is broken.
      const held = this.#quorumHeld(c);
      if (held) return held;
      // Dry-run takes no Lease, so it reads the quorum now; enforce reads it once it holds the
      // Lease (only the one node about to act LISTs the verdicts).
      if (s.mode === 'dry-run') {
        const q = await this.#checkQuorum(c);
        if (q) return q;
      }
    }
    if (s.mode === 'dry-run') {
      // Not an action: no cooldown, no hourly cap; the same "would" is just not repeated every sweep.
      if (c.action === 'evict') {
        this.#state = recordWouldAct(this.#state, [this.#key(c)], this.#now());
        return this.#decide(c, {
          result: 'would-act',
          reason: 'threshold-reached',
          message: `would evict pod ${c.pod.namespace}/${c.pod.name} (dry-run): it ${why}`,
        });
      }
      const plan = await planRaise(this.#api, { deployment: c.deployment, container: c.container.name, pod: c.pod }, s.memory);
      if (!plan.ok) {
        if (TERMINAL_OOM.has(plan.outcome.reason)) this.#state = markOomHandled(this.#state, c.oomKeys);
        return this.#decide(c, plan.outcome);
      }
      this.#state = markOomHandled(recordWouldAct(this.#state, [this.#key(c)], this.#now()), c.oomKeys);
      return this.#decide(c, {
        result: 'would-act',
        reason: 'oom-killed',
        message: `would raise the memory limit of container ${plan.container} in deployment ${c.deployment.namespace}/${c.deployment.name} from ${plan.from} to ${plan.to} (dry-run): it was OOMKilled in pod ${c.pod.namespace}/${c.pod.name}`,
        details: { from: plan.from, to: plan.to, capped: plan.capped },
      });
    }

    // enforce: one node at a time, cluster-wide.
    let acquired;
    try {
      acquired = await this.#lease.acquire();
    } catch (err) {
      if (!(err instanceof KubeApiError)) throw err;
      this.#noteApiFailure(err);
      return this.#decide(c, {
        result: 'skipped',
        reason: reasonForKubeError(err.reason === 'not-found' ? 'server-error' : err.reason),
        message: `cannot take the remedy Lease ${this.#lease.ref.namespace}/${this.#lease.ref.name}: ${err.message}`,
      });
    }
    if (!acquired.ok) {
      return this.#decide(c, {
        result: 'skipped',
        reason: 'lease-held',
        message: `node ${acquired.holder} holds the remedy Lease ${this.#lease.ref.namespace}/${this.#lease.ref.name}: one action at a time in the cluster`,
        details: { holder: acquired.holder },
      });
    }
    // The cluster-wide budget, from the history every node records on the Lease.
    const key = this.#key(c);
    const now = this.#now();
    const history = acquired.history;
    const last = [...history].reverse().find((a) => a.key === key && now - Date.parse(a.at) < s.cooldownMs);
    if (last) {
      await this.#lease.release();
      return this.#decide(c, {
        result: 'skipped',
        reason: 'cooldown',
        message: `node ${last.node} acted on ${key.replace(/^(pod|deployment):/, '$1 ')} at ${last.at}; cooldown ${Math.round(s.cooldownMs / 1000)}s`,
        details: { by: last.node },
      });
    }
    const lastHour = history.filter((a) => now - Date.parse(a.at) < 3_600_000);
    if (lastHour.length >= s.maxActionsPerHour) {
      await this.#lease.release();
      const nodes = [...new Set(lastHour.map((a) => a.node))].sort();
      return this.#decide(c, {
        result: 'skipped',
        reason: 'hourly-cap',
        message: `${lastHour.length} actions in the cluster in the last hour (by ${nodes.slice(0, 5).join(', ')}${nodes.length > 5 ? ` and ${nodes.length - 5} more` : ''}); at most ${s.maxActionsPerHour} (remedy.maxActionsPerHour, cluster-wide)`,
        details: { clusterActions: lastHour.length },
      });
    }
    if (c.action === 'evict') {
      const q = await this.#checkQuorum(c);
      if (q) {
        await this.#lease.release();
        return q;
      }
    }
    let outcome: ActionOutcome;
    let generation: number | undefined;
    const before = new Set(this.#targets().corednsPods.map((p) => p.uid));
    if (c.action === 'evict') {
      outcome = await evictPod(this.#api, c.pod, { allowDelete: s.allowDelete });
      if (outcome.result === 'acted') outcome = { ...outcome, message: `${outcome.message}: it ${why}` };
    } else {
      const plan = await planRaise(this.#api, { deployment: c.deployment, container: c.container.name, pod: c.pod }, s.memory);
      if (!plan.ok) outcome = plan.outcome;
      else {
        const applied = await applyRaise(this.#api, plan);
        outcome = applied.outcome;
        generation = applied.generation;
        if (outcome.result === 'acted') outcome = { ...outcome, message: `${outcome.message}: it was OOMKilled in pod ${c.pod.namespace}/${c.pod.name}` };
      }
      if (TERMINAL_OOM.has(outcome.result === 'acted' ? 'acted' : outcome.reason)) this.#state = markOomHandled(this.#state, c.oomKeys);
    }
    if (outcome.result !== 'acted') {
      await this.#lease.release();
      return this.#decide(c, outcome);
    }
    const acted = this.#decide(c, outcome);
    this.#state = recordAction(this.#state, [key], Date.parse(acted.at));
    const record: LastAction = { action: c.action, key, node: this.#node, at: acted.at };
    const done = this.#track(this.#complete(c, record, before, generation));
    this.#acting = { action: c.action, target: acted.target, since: acted.at, done };
    // Not awaited: the action completes in the background (tracked above, drained by stop()); this only clears #acting after it.
    void done
      .finally(() => {
        if (this.#acting?.done === done) this.#acting = undefined;
      })
      // A failure after the action (the Lease release, the wait) must not become an unhandled rejection, which ends the process.
      .catch((err: unknown) => this.#log?.error('the remedy action failed after it was taken', { err }));
    return acted;
  }

  /** After an action: record it on the Lease, wait for the result (renewing the Lease), release it. */
  async #complete(c: Candidate, record: LastAction, before: ReadonlySet<string>, generation: number | undefined): Promise<void> {
    const started = this.#clock.monotonic();
    try {
      await this.#lease.renew(record);
    } catch (err) {
      this.#log?.warn('cannot record the action on the remedy Lease', { err });
    }
    let ok = false;
    try {
      ok =
        c.action === 'evict'
          ? await this.#waitFor(() => this.#replacementReady(c.pod.uid, before))
          : await this.#waitFor(() => this.#rolledOut(c.deployment, generation ?? 0));
    } finally {
      await this.#lease.release();
    }
    if (this.#abort.signal.aborted) return;
    const waited = Math.round(this.#clock.monotonic() - started);
    // The evicted pod (gone by now, but its Events are where `kubectl get events` for it looks),
    // or the Deployment whose memory limit was raised.
    const regarding: { apiVersion: string; kind: string; namespace: string; name: string; uid?: string } =
      c.action === 'raise-memory'
        ? { apiVersion: 'apps/v1', kind: 'Deployment', ...c.deployment }
        : { apiVersion: 'v1', kind: 'Pod', namespace: c.pod.namespace, name: c.pod.name, uid: c.pod.uid };
    const what =
      c.action === 'evict'
        ? `a replacement for pod ${c.pod.namespace}/${c.pod.name}`
        : `the rollout of deployment ${c.deployment.namespace}/${c.deployment.name}`;
    const message = ok
      ? `${what} is Ready after ${Math.round(waited / 1000)}s; remedy Lease released`
      : `${what} is not Ready after ${Math.round(this.#settings.readyTimeoutMs / 1000)}s; remedy Lease released anyway`;
    if (ok) this.#log?.info(message, { action: c.action, waitedMs: waited });
    else this.#log?.warn(message, { action: c.action, waitedMs: waited });
    this.#events?.write(
      {
        namespace: regarding.namespace,
        regarding,
        type: ok ? 'Normal' : 'Warning',
        reason: ok ? 'RemedyCompleted' : 'RemedyNotReady',
        action: c.action === 'evict' ? 'Evict' : 'RaiseMemoryLimit',
        note: message,
      },
      `complete/${record.at}`,
    );
  }

  #replacementReady(evicted: string, before: ReadonlySet<string>): boolean {
    const pods = this.#targets().corednsPods;
    const stillUp = pods.some((p) => p.uid === evicted && !p.terminating);
    return !stillUp && pods.some((p) => !before.has(p.uid) && p.ready && !p.terminating);
  }

  async #rolledOut(ref: ObjectRef, generation: number): Promise<boolean> {
    try {
      const d = await this.#api.getDeployment(ref);
      return !!d && d.observedGeneration >= generation && d.updatedReplicas >= d.replicas && d.readyReplicas >= d.replicas && d.availableReplicas >= d.replicas;
    } catch {
      return false;
    }
  }

  /** Polls until check() or readyTimeout; renews the Lease every third of its duration. */
  async #waitFor(check: () => boolean | Promise<boolean>): Promise<boolean> {
    const clock = this.#clock;
    const deadline = clock.monotonic() + this.#settings.readyTimeoutMs;
    let renewAt = clock.monotonic() + this.#settings.lease.durationMs / 3;
    const signal = this.#abort.signal;
    while (!signal.aborted) {
      if (await check()) return true;
      const now = clock.monotonic();
      if (now >= deadline) return false;
      if (now >= renewAt) {
        renewAt = now + this.#settings.lease.durationMs / 3;
        try {
          await this.#lease.renew();
        } catch (err) {
          this.#log?.warn('cannot renew the remedy Lease while waiting', { err });
        }
      }
      await clock.sleep(Math.min(this.#pollMs, Math.max(1, deadline - now)), signal);
    }
    return false;
  }

  /**
   * The node condition while a partition was seen in the last PARTITION_CONDITION_MS: its status
   * stays what the sweep says (DNS may still answer from this node), its reason says partition.
   */
  #withPartition(c: ConditionState | undefined): ConditionState | undefined {
    if (!c) return c;
    const now = this.#now();
    const recent = [...this.#quorum.values()]
      .filter(
        (q): q is QuorumVerdict & { ok: false; at: string; failures: number } =>
          !q.ok && q.reason === 'partition' && now - Date.parse(q.at) < PARTITION_CONDITION_MS,
      )
      .sort((a, b) => Date.parse(b.at) - Date.parse(a.at))[0];
    return recent ? { status: c.status, reason: 'NetworkPartitionSuspected', message: `${c.message}; ${recent.message}` } : c;
  }

  #noteApiFailure(err: KubeApiError): void {
    if (API_DOWN.has(err.reason)) this.#apiFailure = { at: this.#now(), reason: err.reason, message: err.message };
  }

  /**
   * A skipped decision while the API server failed one of this node's calls (unreachable, slow,
   * 5xx) less than settings.apiSettleMs ago: every node whose verdict write failed meanwhile
   * publishes it again first (at its next sweep), so no quorum is read from reports the outage
   * left stale, and a recovering API server is not met by every node's Lease attempt each sweep.
   */
  #apiSettling(c: Candidate): RemedyDecision | undefined {
    const own = this.#apiFailure;
    const publish = this.#verdicts.lastApiFailure;
    const last = own && publish ? (own.at >= publish.at ? own : publish) : (own ?? publish);
    if (!last) return undefined;
    const ago = this.#now() - last.at;
    const settle = this.#settings.apiSettleMs;
    if (ago >= settle) return undefined;
    return this.#decide(c, {
      result: 'skipped',
      reason: reasonForKubeError(last.reason),
      message: `no action: the API server failed ${Math.round(ago / 1000)}s ago (${last.message}); actions wait until ${Math.round(settle / 1000)}s after the last failure, so that every node's verdicts are published again first`,
    });
  }

  /** The decision again, without asking the API, while a pod's last quorum evaluation is recent and failed. */
  #quorumHeld(c: Candidate & { action: 'evict' }): RemedyDecision | undefined {
    const last = this.#quorum.get(c.pod.uid);
    if (!last || last.ok) return undefined;
    const wait = quorumRetryMs(last.failures);
    if (this.#now() >= Date.parse(last.at) + wait) return undefined;
    return this.#decide(c, {
      result: 'skipped',
      reason: last.reason,
      message: `not evicting pod ${c.pod.namespace}/${c.pod.name}: ${last.message} (as of ${last.at}; asked again after ${Math.round(wait / 1000)}s)`,
    });
  }

  /**
   * Reads every node's verdicts and decides whether they allow evicting this pod; a decision when
   * they do not (no quorum, a partition, or the reports cannot be read), else undefined.
   */
  async #checkQuorum(c: Candidate & { action: 'evict' }): Promise<RemedyDecision | undefined> {
    const s = this.#settings.quorum;
    let q: QuorumVerdict;
    try {
      q = evaluateQuorum(c.pod.uid, await this.#verdicts.reports(s.windowMs), s);
    } catch (err) {
      if (!(err instanceof KubeApiError)) throw err;
      this.#noteApiFailure(err);
      return this.#decide(c, {
        result: 'skipped',
        reason: reasonForKubeError(err.reason === 'not-found' ? 'server-error' : err.reason),
        message: `not evicting pod ${c.pod.namespace}/${c.pod.name}: the other nodes' verdicts cannot be read (${err.message}); no action without quorum`,
      });
    }
    const now = this.#now();
    const prev = this.#quorum.get(c.pod.uid);
    // Failed evaluations in a row; a pod not evaluated for twice the longest wait starts over.
    const failures = q.ok ? 0 : prev && !prev.ok && now - Date.parse(prev.at) < 2 * QUORUM_RETRY_MAX_MS ? prev.failures + 1 : 1;
    this.#quorum.set(c.pod.uid, { ...q, at: new Date(now).toISOString(), failures });
    if (q.ok) return undefined;
    const details = { failingNodes: q.pod.failing.length, answeringNodes: q.pod.answering.length, ...(q.zone === undefined ? {} : { zone: q.zone }) };
    // The node's own Event: what it sees is about its path to the pod, or about a partition.
    this.#events?.write(
      {
        namespace: 'default',
        regarding: { apiVersion: 'v1', kind: 'Node', name: this.#node },
        type: 'Warning',
        reason: q.reason === 'partition' ? 'NetworkPartitionSuspected' : 'CoreDNSPathSuspect',
        action: 'Report',
        note:
          q.reason === 'partition'
            ? `CoreDNS pod ${c.pod.namespace}/${c.pod.name} fails from this node: ${q.message}; nothing is evicted`
            : `CoreDNS pod ${c.pod.namespace}/${c.pod.name} fails from node ${this.#node} while most nodes reach it: check the path between this node and the pod (${c.pod.ip || 'its IP'}): overlay tunnel, MTU, NIC, firewall. ${q.message}`,
      },
      `quorum/${q.reason}/${c.pod.uid}`,
    );
    return this.#decide(c, { result: 'skipped', reason: q.reason, message: `not evicting pod ${c.pod.namespace}/${c.pod.name}: ${q.message}`, details });
  }

  /** Resolves when no action is being completed and every Event and condition write is done. */
  async idle(): Promise<void> {
    while (this.#background.size > 0) await Promise.allSettled([...this.#background]);
    await this.#events?.flush();
  }

  status(): RemedyStatus {
    const now = this.#now();
    const pods = new Map(this.#targets().corednsPods.map((p) => [p.uid, `${p.namespace}/${p.name}`]));
    return {
      mode: this.#settings.mode,
      ...(this.#acting ? { acting: { action: this.#acting.action, target: this.#acting.target, since: this.#acting.since } } : {}),
      failedSweeps: [...this.#state.failed].filter(([, n]) => n > 0).map(([uid, count]) => ({ pod: pods.get(uid) ?? uid, uid, count })),
      actionsLastHour: this.#state.actions.filter((t) => now - t < 3_600_000).length,
      cooldowns: [...this.#state.lastAction]
        .filter(([, t]) => now - t < this.#settings.cooldownMs)
        .map(([k, t]) => ({ target: k, until: new Date(t + this.#settings.cooldownMs).toISOString() })),
      nodeCondition: this.#condition
        ? { enabled: !this.#condition.disabled, ...(this.#condition.disabled ? { detail: this.#condition.disabled } : {}) }
        : { enabled: false, detail: 'kubernetes.nodeCondition is false' },
      eventsWritten: this.#events?.written ?? 0,
      quorum: {
        verdictWrites: this.#verdicts.writes,
        ...(this.#verdicts.current ? { published: this.#verdicts.current } : {}),
        evaluations: [...this.#quorum.values()].map((q) => ({
          pod: pods.get(q.pod.uid) ?? q.pod.uid,
          uid: q.pod.uid,
          at: q.at,
          result: q.ok ? 'quorum' : q.reason,
          failing: q.pod.failing,
          answering: q.pod.answering,
          failingAlone: q.pod.failingAlone,
          message: q.message,
        })),
      },
    };
  }

  /** Stops waiting, releases the Lease, finishes pending writes. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abort.abort();
    await this.idle();
    await this.#lease.release();
  }
}
