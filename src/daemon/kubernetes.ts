// Everything the daemon needs from Kubernetes, behind one object: the
// connection (or its absence), the target watches, the remedy engine and
// the Event writer. The daemon asks it for the extra sweep targets, the
// expected answer, the vantages' pod names and the diagnosis facts, hands it
// each sweep report, and shows its status. Without credentials (or with
// kubernetes.enabled false) it is inert and says why: probing goes on,
// remedies are off.
import type { Config } from '../config/schema.js';
import type { EventWrite, KubeFacts, Query, SweepReport, Target, Vantage } from '../model.js';
import { KubeClient } from '../kube/client.js';
import { resolveKubeConnection, type KubeConnectionInfo } from '../kube/connection.js';
import { parseObjectRef } from '../config/format-kube.js';
import { KubeTargetWatcher, kubeFacts, labelVantages, sweepTargets, withExpectedAnswer, type TargetWatcherStatus } from '../kube/targets.js';
import type { KubeTargets } from '../kube/types.js';
import type { Logger } from '../log.js';
import type { RemedyDecision } from '../remedy/decision.js';
import { RemedyEngine, type RemedyStatus } from '../remedy/engine.js';
import { EventRecorder } from '../remedy/events.js';
import { nodeNameOf, remedySettings } from '../remedy/settings.js';
import { summarizeSweep } from '../remedy/sweep-summary.js';

export interface KubeRuntimeOptions {
  config: Config;
  logger: Logger;
  /** Each remedy decision (after it is logged): count it in coredns_healthd_remedy_decisions_total. */
  onDecision?: (d: RemedyDecision) => void;
  /** Each CoreDNS container termination with OOMKilled, once: count it in coredns_healthd_coredns_oom_kills_total. */
  onOomKill?: (pod: { namespace: string; name: string }, container: string) => void;
  env?: NodeJS.ProcessEnv;
  /** Tests: prefix of the in-cluster service account directory. */
  inClusterRoot?: string;
  /** Default 10 s. */
  requestTimeoutMs?: number;
  /** Tests: watch retry delays. */
  backoff?: { initialMs: number; maxMs: number };
  /** Tests: how often to check whether a replacement is Ready (default 2 s). */
  pollMs?: number;
}

/** What /status shows about Kubernetes and remedies. */
export interface KubeRuntimeStatus {
  kubernetes: { enabled: boolean; connection: KubeConnectionInfo; node?: string; watches?: TargetWatcherStatus };
  remedy: (RemedyStatus & { active: true }) | { active: false; mode: string; reason: string };
}

const EMPTY: KubeTargets = { synced: false, corednsPods: [], expectedAnswer: [], podsByUid: new Map(), nodePods: [] };

export class KubeRuntime {
  readonly #log: Logger;
  readonly #o: KubeRuntimeOptions;
  readonly #connection: KubeConnectionInfo;
  readonly #enabled: boolean;
  readonly #node: string | undefined;
  readonly #watcher: KubeTargetWatcher | undefined;
  readonly #engine: RemedyEngine | undefined;
  readonly #events: EventRecorder | undefined;
  #config: Config;
  readonly #ooms = new Set<string>();

  /** Throws a KubeConfigError when a configured (or $KUBECONFIG) file cannot be used. */
  #client: KubeClient | undefined;

  constructor(o: KubeRuntimeOptions) {
    this.#o = o;
    this.#log = o.logger.child({ component: 'kubernetes' });
    this.#config = o.config;
    const k = o.config.kubernetes;
    this.#enabled = k.enabled;
    if (!k.enabled) {
      this.#connection = { source: 'none', paths: [], detail: 'kubernetes.enabled is false: probing only, remedies off' };
      return;
    }
    const conn = resolveKubeConnection({
      kubeconfig: k.kubeconfig,
      ...(o.env ? { env: o.env } : {}),
      ...(o.inClusterRoot !== undefined ? { inClusterRoot: o.inClusterRoot } : {}),
    });
    this.#connection = conn.info;
    if (!conn.connected) return;
    const node = nodeNameOf(o.config);
    this.#node = node;
    const client = new KubeClient(conn, { reportingInstance: node, ...(o.requestTimeoutMs ? { requestTimeoutMs: o.requestTimeoutMs } : {}) });
    this.#client = client;
    const dns = parseObjectRef(k.dnsService)!;
    this.#watcher = new KubeTargetWatcher({ client, dnsService: dns, nodeName: node, logger: this.#log, ...(o.backoff ? { backoff: o.backoff } : {}) });
    this.#events = new EventRecorder({ api: client, logger: this.#log });
    this.#engine = new RemedyEngine({
      api: client,
      settings: remedySettings(o.config),
      nodeName: node,
      targets: () => this.targets(),
      logger: this.#log,
      onDecision: (d) => this.#decided(d),
      nodeCondition: k.nodeCondition,
      ...(o.pollMs ? { pollMs: o.pollMs } : {}),
    });
  }

  /** Credentials were found and Kubernetes is used. */
  get connected(): boolean {
    return this.#watcher !== undefined;
  }

  get connection(): KubeConnectionInfo {
    return this.#connection;
  }

  /** Starts the watches (no-op without Kubernetes). */
  start(): void {
    if (!this.#watcher) {
      this.#log.info('no Kubernetes: probing only, remedies off', { detail: this.#connection.detail });
      return;
    }
    this.#log.info('using Kubernetes', {
      source: this.#connection.source,
      server: this.#connection.server,
      user: this.#connection.user,
      node: this.#node,
      remedy: this.#config.remedy.mode,
    });
    this.#watcher.start();
  }

  /** Resolves true once the watches have listed (false after timeoutMs, or without Kubernetes). */
  whenSynced(timeoutMs: number): Promise<boolean> {
    return this.#watcher ? this.#watcher.whenSynced(timeoutMs) : Promise.resolve(false);
  }

  /** The watched targets (empty without Kubernetes). */
  targets(): KubeTargets {
    return this.#watcher?.current() ?? EMPTY;
  }

  /** CoreDNS pod IPs and DNS Service IPs to probe from every vantage. */
  sweepTargets(): Target[] {
    return sweepTargets(this.targets());
  }

  /** The queries with the expected answer of kubernetes.default.svc.<clusterDomain> filled in. */
  queries(queries: readonly Query[]): Query[] {
    return withExpectedAnswer(queries, this.targets(), this.#config.kubernetes.clusterDomain);
  }

  /** Vantages named after their pods (pod UID → namespace/name from the API). */
  labelVantages(vantages: readonly Vantage[]): Vantage[] {
    return labelVantages(vantages, this.targets().podsByUid);
  }

  /** For the diagnosis; undefined without Kubernetes or before the first sync. */
  kubeFacts(): KubeFacts | undefined {
    const t = this.targets();
    return this.#watcher && t.synced ? kubeFacts(t) : undefined;
  }

  /** Writes an Event (e.g. a diagnosis finding), deduplicated; no-op without Kubernetes. */
  event(ev: EventWrite): void {
    this.#events?.write(ev, `${ev.reason}/${ev.note}`);
  }

  #decided(d: RemedyDecision): void {
    const fields = { action: d.action, result: d.result, reason: d.reason, target: d.target, ...(d.details ? { details: d.details } : {}) };
    if (d.result === 'acted' || d.result === 'reported') this.#log.warn(d.message, fields);
    else if (d.result === 'would-act') this.#log.info(d.message, fields);
    else if (d.reason === 'below-threshold') this.#log.debug(d.message, fields);
    else this.#log.info(d.message, fields);
    try {
      this.#o.onDecision?.(d);
    } catch (err) {
      this.#log.error('onDecision failed', { err });
    }
  }

  #countOoms(t: KubeTargets): void {
    const live = new Set<string>();
    for (const p of t.corednsPods) {
      for (const c of p.containers) {
        if (c.lastTerminationReason !== 'OOMKilled') continue;
        const key = `${p.uid}/${c.name}/${c.lastTerminatedAt ?? ''}`;
        live.add(key);
        if (this.#ooms.has(key)) continue;
        this.#ooms.add(key);
        this.#log.warn('a CoreDNS container was OOMKilled', {
          pod: `${p.namespace}/${p.name}`,
          container: c.name,
          at: c.lastTerminatedAt,
          memoryLimit: c.memoryLimit,
        });
        this.#o.onOomKill?.({ namespace: p.namespace, name: p.name }, c.name);
      }
    }
    for (const k of this.#ooms) if (!live.has(k)) this.#ooms.delete(k);
  }

  /** One sweep's report: the host vantage's view of CoreDNS goes to the remedy engine. Never throws. */
  async onSweep(report: SweepReport): Promise<RemedyDecision[]> {
    if (!this.#engine) return [];
    const t = this.targets();
    if (!t.synced) return [];
    this.#countOoms(t);
    return this.#engine.onSweep(summarizeSweep(report, t));
  }

  /** A reloaded configuration: remedy settings apply at once; a changed connection, Service or node needs a restart. */
  reload(config: Config): void {
    const before = this.#config.kubernetes;
    const after = config.kubernetes;
    this.#config = config;
    this.#engine?.updateSettings(remedySettings(config));
    const restart = (['enabled', 'kubeconfig', 'dnsService', 'nodeName', 'nodeCondition'] as const).filter((k) => before[k] !== after[k]);
    if (restart.length) this.#log.warn('these Kubernetes settings take effect after a restart', { settings: restart.map((k) => `kubernetes.${k}`) });
  }

  status(): KubeRuntimeStatus {
    const kubernetes = {
      enabled: this.#enabled,
      connection: this.#connection,
      ...(this.#node ? { node: this.#node } : {}),
      ...(this.#watcher ? { watches: this.#watcher.status() } : {}),
    };
    if (!this.#engine) return { kubernetes, remedy: { active: false, mode: 'off', reason: this.#connection.detail ?? 'no Kubernetes connection' } };
    return { kubernetes, remedy: { active: true, ...this.#engine.status() } };
  }

  /** Resolves when no remedy is being decided or completed and pending Events are written. */
  async idle(): Promise<void> {
    await Promise.all([this.#engine?.idle(), this.#events?.flush()]);
  }

  /** Stops the watches and the engine (releasing the Lease if held), flushes Events. */
  async stop(): Promise<void> {
    await Promise.all([this.#engine?.stop(), this.#watcher?.stop(), this.#events?.flush()]);
    this.#client?.close();
  }
}
