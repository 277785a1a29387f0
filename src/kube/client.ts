// The one place that calls the Kubernetes API. Typed calls go through
// @kubernetes/client-node with a per-request timeout; watches are plain
// HTTPS requests whose credentials, CA and proxy come from the same
// KubeConfig (applyToHTTPSOptions), so a watch has a header timeout, a
// lifetime cap and a clean abort. Results are the project's records
// (src/kube/types.ts); failures are KubeApiErrors.
import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { createInterface } from 'node:readline';
import type {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  EventsV1Api,
  ConfigurationOptions,
  V1MicroTime,
  KubeConfig,
  ObservableMiddleware,
} from '@kubernetes/client-node';
import { kubeLib } from './lib.js';
import { kubeConfigOf, type KubeConnection } from './connection.js';
import { toDeploymentInfo, toLeaseInfo, toNodeConditions, toPodInfo, toServiceInfo } from './convert.js';
import { KubeApiError, toKubeApiError } from './errors.js';
import type {
  DeploymentInfo,
  JsonPatchOp,
  KubeApi,
  LeaseInfo,
  LeaseWrite,
  NodeConditionInfo,
  NodeConditionWrite,
  ObjectRef,
  PodInfo,
  ServiceInfo,
} from './types.js';
import type { EventWrite } from '../model.js';

/** The Events' reportingController and the field manager of every write. */
export const REPORTING_CONTROLLER = 'coredns-healthd';

export interface KubeClientOptions {
  /** Deadline of one API request (for a watch: until its response headers). Default 10 s. */
  requestTimeoutMs?: number;
  /** reportingInstance of the Events written: this node's name. */
  reportingInstance: string;
}

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

export interface WatchStream {
  /** Resolves when the stream ends: null when it was closed (by the server, the cap or abort()), else why it failed. */
  readonly done: Promise<KubeApiError | null>;
  abort(): void;
}

export interface WatchRequest {
  /** e.g. /api/v1/namespaces/kube-system/pods */
  path: string;
  query: Record<string, string | number | boolean | undefined>;
  /** Each event: type (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR) and the raw object. */
  onEvent: (type: string, object: unknown) => void;
  /** End the stream (done → null) after this long even if the server keeps it open. */
  maxDurationMs: number;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 10_000;

/** A Kubernetes Time without the milliseconds JavaScript adds (RFC 3339, as the API server writes it). */
const kubeTime = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
const micro = (d: Date | undefined): V1MicroTime | undefined => (d ? new (kubeLib().V1MicroTime)(d.getTime()) : undefined);

export class KubeClient implements KubeApi {
  readonly #kc: KubeConfig;
  readonly #core: CoreV1Api;
  readonly #apps: AppsV1Api;
  readonly #coordination: CoordinationV1Api;
  readonly #events: EventsV1Api;
  readonly #timeoutMs: number;
  readonly #instance: string;
  /** One keep-alive agent for the typed calls (see #reuseConnections), and what its TLS options were. */
  #agent: { key: string; agent: https.Agent } | undefined;
  readonly server: string;

  constructor(connection: KubeConnection, opts: KubeClientOptions) {
    const kc = kubeConfigOf(connection);
    if (!kc) throw new Error('KubeClient needs a connection with credentials (source is "none")');
    this.#kc = kc;
    this.server = this.#kc.getCurrentCluster()!.server.replace(/\/+$/, '');
    const k = kubeLib();
    this.#core = this.#kc.makeApiClient(k.CoreV1Api);
    this.#apps = this.#kc.makeApiClient(k.AppsV1Api);
    this.#coordination = this.#kc.makeApiClient(k.CoordinationV1Api);
    this.#events = this.#kc.makeApiClient(k.EventsV1Api);
    this.#timeoutMs = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.#instance = opts.reportingInstance;
  }

  /** Per-call options: a fresh timeout signal (and any header) on the request. */
  #options(contentType?: string): ConfigurationOptions {
    const ms = this.#timeoutMs;
    const timeout: ObservableMiddleware = {
      pre: (ctx) => {
        ctx.setSignal(AbortSignal.timeout(ms));
        const agent = ctx.getAgent();
        if (agent) ctx.setAgent(this.#reuseConnections(agent));
        return new (kubeLib().Observable)(Promise.resolve(ctx));
      },
      post: (res) => new (kubeLib().Observable)(Promise.resolve(res)),
    };
    const base: ConfigurationOptions = { middleware: [timeout], middlewareMergeStrategy: 'append' };
    return contentType ? kubeLib().setHeaderOptions('Content-Type', contentType, base) : base;
  }

  /**
   * @kubernetes/client-node 1.x makes a new https.Agent for every request, so every API call
   * would open a new TLS connection: a full handshake on the API server for each Lease read, at
   * fleet scale thousands of them per incident. The typed calls share one keep-alive agent
   * instead, made with the same TLS options (CA, client certificate, server name); when those
   * change (a rotated client certificate, re-read from its file), a new one replaces it.
   * Proxy agents and plain HTTP are left as the library made them.
   */
  #reuseConnections(fresh: http.Agent | https.Agent): http.Agent | https.Agent {
    if (fresh.constructor !== https.Agent) return fresh;
    const o = (fresh as https.Agent & { options: https.AgentOptions }).options;
    const h = createHash('sha256');
    for (const v of [o.ca, o.cert, o.key, o.pfx, o.passphrase, o.servername, o.rejectUnauthorized]) {
      for (const part of Array.isArray(v) ? v : [v]) {
        h.update(part === undefined ? '\u0000' : typeof part === 'object' && !Buffer.isBuffer(part) ? JSON.stringify(part) : String(part));
        h.update('\u0001');
      }
    }
    const key = h.digest('hex');
    if (this.#agent?.key !== key) {
      this.#agent?.agent.destroy();
      // One TLS context for every connection of the agent: the CA and the client key are parsed
      // once, not on each reconnect (an API server that is down is retried every sweep).
      const secureContext = tls.createSecureContext(o);
      this.#agent = { key, agent: new https.Agent({ ...o, secureContext, keepAlive: true, maxSockets: 4, maxFreeSockets: 1, scheduling: 'lifo' }) };
    }
    fresh.destroy();
    return this.#agent.agent;
  }

  /** Closes the idle kept-alive connections (the daemon's shutdown). */
  close(): void {
    this.#agent?.agent.destroy();
    this.#agent = undefined;
  }

  async #call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toKubeApiError(err, what);
    }
  }

  /** fn's result, or undefined on 404. */
  async #maybe<T>(what: string, fn: () => Promise<T>): Promise<T | undefined> {
    try {
      return await this.#call(what, fn);
    } catch (err) {
      if (err instanceof KubeApiError && err.reason === 'not-found') return undefined;
      throw err;
    }
  }

  // ------------------------------------------------------------ reads

  async listServices(o: ListOptions & { namespace: string }): Promise<ListResult<ServiceInfo>> {
    const list = await this.#call(`list services in ${o.namespace}`, () =>
      this.#core.listNamespacedService(
        {
          namespace: o.namespace,
          ...(o.labelSelector ? { labelSelector: o.labelSelector } : {}),
          ...(o.fieldSelector ? { fieldSelector: o.fieldSelector } : {}),
        },
        this.#options(),
      ),
    );
    return { items: list.items.map(toServiceInfo), resourceVersion: list.metadata?.resourceVersion ?? '' };
  }

  async listPods(o: ListOptions): Promise<ListResult<PodInfo>> {
    const sel = { ...(o.labelSelector ? { labelSelector: o.labelSelector } : {}), ...(o.fieldSelector ? { fieldSelector: o.fieldSelector } : {}) };
    const list = await this.#call(`list pods${o.namespace ? ` in ${o.namespace}` : ''}`, () =>
      o.namespace
        ? this.#core.listNamespacedPod({ namespace: o.namespace, ...sel }, this.#options())
        : this.#core.listPodForAllNamespaces(sel, this.#options()),
    );
    return { items: list.items.map(toPodInfo), resourceVersion: list.metadata?.resourceVersion ?? '' };
  }

  getPod(ref: ObjectRef): Promise<PodInfo | undefined> {
    return this.#maybe(`get pod ${ref.namespace}/${ref.name}`, async () => toPodInfo(await this.#core.readNamespacedPod(ref, this.#options())));
  }

  getDeployment(ref: ObjectRef): Promise<DeploymentInfo | undefined> {
    return this.#maybe(`get deployment ${ref.namespace}/${ref.name}`, async () =>
      toDeploymentInfo(await this.#apps.readNamespacedDeployment(ref, this.#options())),
    );
  }

  getLease(ref: ObjectRef): Promise<LeaseInfo | undefined> {
    return this.#maybe(`get lease ${ref.namespace}/${ref.name}`, async () => toLeaseInfo(await this.#coordination.readNamespacedLease(ref, this.#options())));
  }

  /**
   * resourceVersion "0": served from the API server's watch cache, not read through to etcd (the
   * verdicts are minutes old by design; a read milliseconds behind does not matter). On 1,000
   * nodes, the nodes of a partitioned zone each read them every few minutes.
   */
  async listLeases(namespace: string, labelSelector: string): Promise<LeaseInfo[]> {
    const list = await this.#call(`list leases in ${namespace} (${labelSelector})`, () =>
      this.#coordination.listNamespacedLease({ namespace, labelSelector, resourceVersion: '0' }, this.#options()),
    );
    return (list.items ?? []).map((l: unknown) => toLeaseInfo(l));
  }

  async getNodeLabels(node: string): Promise<Record<string, string> | undefined> {
    const n = await this.#maybe(`get node ${node}`, () => this.#core.readNode({ name: node }, this.#options()));
    return n === undefined ? undefined : { ...(n.metadata?.labels ?? {}) };
  }

  async getNodeConditions(node: string): Promise<NodeConditionInfo[] | undefined> {
    const n = await this.#maybe(`get node ${node}`, () => this.#core.readNode({ name: node }, this.#options()));
    return n === undefined ? undefined : toNodeConditions(n);
  }

  // ----------------------------------------------------------- writes

  async evictPod(ref: ObjectRef, uid: string): Promise<void> {
    await this.#call(`evict pod ${ref.namespace}/${ref.name}`, () =>
      this.#core.createNamespacedPodEviction(
        {
          name: ref.name,
          namespace: ref.namespace,
          body: {
            apiVersion: 'policy/v1',
            kind: 'Eviction',
            metadata: { name: ref.name, namespace: ref.namespace },
            deleteOptions: { preconditions: { uid } },
          },
        },
        this.#options(),
      ),
    );
  }

  async deletePod(ref: ObjectRef, uid: string): Promise<void> {
    await this.#call(`delete pod ${ref.namespace}/${ref.name}`, () =>
      this.#core.deleteNamespacedPod({ name: ref.name, namespace: ref.namespace, body: { preconditions: { uid } } }, this.#options()),
    );
  }

  async patchDeployment(ref: ObjectRef, ops: JsonPatchOp[]): Promise<DeploymentInfo> {
    const d = await this.#call(`patch deployment ${ref.namespace}/${ref.name}`, () =>
      this.#apps.patchNamespacedDeployment(
        { name: ref.name, namespace: ref.namespace, body: ops, fieldManager: REPORTING_CONTROLLER },
        this.#options(kubeLib().PatchStrategy.JsonPatch),
      ),
    );
    return toDeploymentInfo(d);
  }

  #leaseBody(l: LeaseWrite): Record<string, unknown> {
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: l.name,
        namespace: l.namespace,
        ...(l.resourceVersion ? { resourceVersion: l.resourceVersion } : {}),
        ...(l.annotations ? { annotations: l.annotations } : {}),
        ...(l.labels ? { labels: l.labels } : {}),
      },
      spec: {
        ...(l.holderIdentity ? { holderIdentity: l.holderIdentity } : {}),
        ...(l.leaseDurationSeconds !== undefined ? { leaseDurationSeconds: l.leaseDurationSeconds } : {}),
        ...(l.acquireTime ? { acquireTime: micro(l.acquireTime) } : {}),
        ...(l.renewTime ? { renewTime: micro(l.renewTime) } : {}),
        ...(l.leaseTransitions !== undefined ? { leaseTransitions: l.leaseTransitions } : {}),
      },
    };
  }

  async createLease(l: LeaseWrite): Promise<LeaseInfo> {
    const out = await this.#call(`create lease ${l.namespace}/${l.name}`, () =>
      this.#coordination.createNamespacedLease({ namespace: l.namespace, body: this.#leaseBody(l), fieldManager: REPORTING_CONTROLLER }, this.#options()),
    );
    return toLeaseInfo(out);
  }

  async updateLease(l: LeaseWrite): Promise<LeaseInfo> {
    if (!l.resourceVersion) throw new Error(`updateLease ${l.namespace}/${l.name}: a resourceVersion is required (optimistic concurrency)`);
    const out = await this.#call(`update lease ${l.namespace}/${l.name}`, () =>
      this.#coordination.replaceNamespacedLease(
        { name: l.name, namespace: l.namespace, body: this.#leaseBody(l), fieldManager: REPORTING_CONTROLLER },
        this.#options(),
      ),
    );
    return toLeaseInfo(out);
  }

  async createEvent(e: EventWrite): Promise<void> {
    const now = new Date();
    await this.#call(`create event for ${e.regarding.kind} ${e.regarding.namespace ? `${e.regarding.namespace}/` : ''}${e.regarding.name}`, () =>
      this.#events.createNamespacedEvent(
        {
          namespace: e.namespace,
          body: {
            apiVersion: 'events.k8s.io/v1',
            kind: 'Event',
            metadata: { name: `${e.regarding.name}.${now.getTime().toString(16)}${Math.floor(Math.random() * 0xfff).toString(16)}`, namespace: e.namespace },
            eventTime: micro(now)!,
            reportingController: REPORTING_CONTROLLER,
            reportingInstance: this.#instance,
            action: e.action,
            reason: e.reason,
            note: e.note.length > 1024 ? `${e.note.slice(0, 1021)}...` : e.note,
            type: e.type,
            regarding: e.regarding,
          },
          fieldManager: REPORTING_CONTROLLER,
        },
        this.#options(),
      ),
    );
  }

  async patchNodeConditions(node: string, conditions: NodeConditionWrite[]): Promise<void> {
    const body = {
      status: {
        conditions: conditions.map((c) => ({ ...c, lastHeartbeatTime: kubeTime(c.lastHeartbeatTime), lastTransitionTime: kubeTime(c.lastTransitionTime) })),
      },
    };
    await this.#call(`patch status of node ${node}`, () =>
      this.#core.patchNodeStatus({ name: node, body, fieldManager: REPORTING_CONTROLLER }, this.#options(kubeLib().PatchStrategy.StrategicMergePatch)),
    );
  }

  // ----------------------------------------------------------- watches

  /** Starts a watch (…?watch=true); see WatchStream. Never throws: failures resolve `done`. */
  watch(w: WatchRequest): WatchStream {
    const what = `watch ${w.path}`;
    const ac = new AbortController();
    const timers: NodeJS.Timeout[] = [];
    let settle!: (v: KubeApiError | null) => void;
    const done = new Promise<KubeApiError | null>((resolve) => (settle = resolve));
    let finished = false;
    const finish = (err: KubeApiError | null): void => {
      if (finished) return;
      finished = true;
      for (const t of timers) clearTimeout(t);
      ac.abort();
      settle(err);
    };
    const start = async (): Promise<void> => {
      const url = new URL(this.server + w.path);
      url.searchParams.set('watch', 'true');
      for (const [k, v] of Object.entries(w.query)) if (v !== undefined) url.searchParams.set(k, String(v));
      const opts: https.RequestOptions = {};
      await this.#kc.applyToHTTPSOptions(opts);
      if (finished) return;
      const lib = url.protocol === 'http:' ? http : https;
      const req = lib.request(url, { ...opts, method: 'GET', headers: { ...opts.headers, Accept: 'application/json' }, signal: ac.signal });
      timers.push(setTimeout(() => finish(new KubeApiError('timeout', `${what}: no answer in ${this.#timeoutMs} ms`)), this.#timeoutMs));
      req.on('error', (err) => finish(ac.signal.aborted ? null : toKubeApiError(err, what)));
      req.on('response', (res) => {
        clearTimeout(timers.shift());
        res.on('error', (err) => finish(ac.signal.aborted ? null : toKubeApiError(err, what)));
        if (res.statusCode !== 200) {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body = (body + c).slice(0, 64 * 1024)));
          res.on('end', () => finish(toKubeApiError({ code: res.statusCode ?? 0, body }, what)));
          return;
        }
        timers.push(setTimeout(() => finish(null), w.maxDurationMs));
        const lines = createInterface({ input: res, crlfDelay: Infinity });
        // readline re-emits the response's errors (e.g. "aborted" after abort()); res's own handler decides.
        lines.on('error', () => undefined);
        lines.on('line', (line) => {
          if (finished || line.trim() === '') return;
          let ev: { type?: unknown; object?: unknown };
          try {
            ev = JSON.parse(line) as typeof ev;
          } catch {
            finish(new KubeApiError('bad-response', `${what}: a line of the stream is not JSON`));
            return;
          }
          if (typeof ev.type === 'string') w.onEvent(ev.type, ev.object);
        });
        res.on('end', () => finish(null));
        res.on('close', () => finish(null));
      });
      req.end();
    };
    start().catch((err) => finish(toKubeApiError(err, what)));
    return { done, abort: () => finish(null) };
  }
}
