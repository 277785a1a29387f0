// The CoreDNS targets, kept current by watches (src/kube/reflector.ts):
// the DNS Service (kubernetes.dnsService) gives its ClusterIPs, DNS port and
// selector; that selector (not a hard-coded label) finds the CoreDNS pods;
// default/kubernetes gives the answer kubernetes.default.svc.<domain> must
// return; the pods on this node name the node's vantages (pod UID →
// namespace/name). A change of any of these emits "change" with the new
// KubeTargets; nothing here lists per sweep.
import { EventEmitter } from 'node:events';
import { isDeepStrictEqual } from 'node:util';
import { DNS_POLICIES, type DnsPolicy, type KubeFacts, type Query, type Target, type Vantage } from '../model.js';
import type { Logger } from '../log.js';
import type { KubeClient, WatchStream } from './client.js';
import { metaOf, toDnsServiceTarget, toPodInfo, toServiceInfo } from './convert.js';
import { Reflector, type BackoffOptions, type ReflectorSource, type ReflectorStats } from './reflector.js';
import type { KubeTargets, ObjectRef, PodInfo, ServiceInfo } from './types.js';

export interface TargetWatcherOptions {
  client: KubeClient;
  /** kubernetes.dnsService */
  dnsService: ObjectRef;
  /** This node's name: its pods label the vantages. */
  nodeName: string;
  logger?: Logger;
  backoff?: BackoffOptions;
  /** Lifetime of one watch request before it is resumed. Default 5 min. */
  watchTimeoutMs?: number;
}

/** What /status shows about the watches. */
export interface TargetWatcherStatus {
  synced: boolean;
  watches: ReflectorStats[];
}

/** "k=v,k2=v2" for a selector map (label keys and values need no escaping). */
export const selectorString = (sel: Readonly<Record<string, string>>): string =>
  Object.keys(sel)
    .sort()
    .map((k) => `${k}=${sel[k]}`)
    .join(',');

const WATCH_GRACE_MS = 15_000;

function source<T>(
  client: KubeClient,
  path: string,
  query: Record<string, string>,
  list: () => ReturnType<ReflectorSource<T>['list']>,
  convert: (raw: unknown) => T,
  key: (t: T) => string,
): ReflectorSource<T> {
  return {
    list,
    watch: (resourceVersion, onEvent, maxDurationMs): WatchStream =>
      client.watch({
        path,
        query: { ...query, resourceVersion, allowWatchBookmarks: true, timeoutSeconds: Math.max(1, Math.floor(maxDurationMs / 1000)) },
        onEvent,
        maxDurationMs: maxDurationMs + WATCH_GRACE_MS,
      }),
    convert,
    key,
    resourceVersionOf: (raw) => metaOf(raw).resourceVersion || undefined,
  };
}

const podKey = (p: PodInfo): string => `${p.namespace}/${p.name}`;
const svcKey = (s: ServiceInfo): string => `${s.namespace}/${s.name}`;

export class KubeTargetWatcher extends EventEmitter {
  readonly #o: TargetWatcherOptions;
  readonly #dns: Reflector<ServiceInfo>;
  readonly #api: Reflector<ServiceInfo>;
  readonly #nodePods: Reflector<PodInfo>;
  #coredns: Reflector<PodInfo> | undefined;
  #selector: string | undefined;
  #started = false;
  #last: KubeTargets | undefined;
  #pending = false;
  readonly #retired = new Set<Promise<void>>();

  constructor(o: TargetWatcherOptions) {
    super();
    this.#o = o;
    this.#dns = this.#reflector('dns-service', this.#serviceSource(o.dnsService));
    this.#api = this.#reflector('kubernetes-service', this.#serviceSource({ namespace: 'default', name: 'kubernetes' }));
    const nodeSelector = `spec.nodeName=${o.nodeName}`;
    this.#nodePods = this.#reflector(
      'node-pods',
      source(o.client, '/api/v1/pods', { fieldSelector: nodeSelector }, () => o.client.listPods({ fieldSelector: nodeSelector }), toPodInfo, podKey),
    );
    this.#dns.on('change', () => this.#followSelector());
  }

  #serviceSource(ref: ObjectRef): ReflectorSource<ServiceInfo> {
    const fieldSelector = `metadata.name=${ref.name}`;
    return source(
      this.#o.client,
      `/api/v1/namespaces/${encodeURIComponent(ref.namespace)}/services`,
      { fieldSelector },
      () => this.#o.client.listServices({ namespace: ref.namespace, fieldSelector }),
      toServiceInfo,
      svcKey,
    );
  }

  #reflector<T>(name: string, src: ReflectorSource<T>): Reflector<T> {
    const r = new Reflector(src, {
      name,
      ...(this.#o.backoff ? { backoff: this.#o.backoff } : {}),
      ...(this.#o.watchTimeoutMs ? { watchTimeoutMs: this.#o.watchTimeoutMs } : {}),
    });
    r.on('change', () => this.#schedule());
    r.on('failure', (err: Error & { reason?: string }, phase: string) =>
      this.#o.logger?.warn('kubernetes watch failed; retrying', { watch: name, phase, reason: err.reason, err }),
    );
    return r;
  }

  /** The CoreDNS pod watch follows the DNS Service's selector. */
  #followSelector(): void {
    if (!this.#started) return;
    const svc = this.#dns.items()[0];
    const selector = svc?.selector ? selectorString(svc.selector) : undefined;
    if (selector === this.#selector) return;
    if (this.#coredns) this.#retire(this.#coredns);
    this.#coredns = undefined;
    this.#selector = selector;
    if (selector === undefined) {
      if (svc) this.#o.logger?.warn('the DNS Service has no selector: no CoreDNS pods to probe', { service: svcKey(svc) });
      this.#schedule();
      return;
    }
    const ns = this.#o.dnsService.namespace;
    this.#coredns = this.#reflector(
      'coredns-pods',
      source(
        this.#o.client,
        `/api/v1/namespaces/${encodeURIComponent(ns)}/pods`,
        { labelSelector: selector },
        () => this.#o.client.listPods({ namespace: ns, labelSelector: selector }),
        toPodInfo,
        podKey,
      ),
    );
    this.#coredns.start();
    this.#schedule();
  }

  #retire(r: Reflector<PodInfo>): void {
    r.removeAllListeners('change');
    const p = r.stop().finally(() => this.#retired.delete(p));
    this.#retired.add(p);
  }

  #schedule(): void {
    if (this.#pending) return;
    this.#pending = true;
    setImmediate(() => {
      this.#pending = false;
      if (!this.#started) return;
      const next = this.current();
      if (this.#last && isDeepStrictEqual(next, this.#last)) return;
      const wasSynced = this.#last?.synced ?? false;
      this.#last = next;
      this.emit('change', next);
      if (next.synced && !wasSynced) this.emit('synced', next);
    });
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    this.#dns.start();
    this.#api.start();
    this.#nodePods.start();
    this.#followSelector();
  }

  async stop(): Promise<void> {
    this.#started = false;
    await Promise.all([this.#dns.stop(), this.#api.stop(), this.#nodePods.stop(), this.#coredns?.stop(), ...this.#retired]);
  }

  /** The targets as the watches know them now. */
  current(): KubeTargets {
    const svc = this.#dns.items()[0];
    const api = this.#api.items()[0];
    const podsSynced = this.#selector === undefined || (this.#coredns?.synced ?? false);
    const t: KubeTargets = {
      synced: this.#dns.synced && this.#api.synced && this.#nodePods.synced && podsSynced,
      corednsPods: this.#coredns?.items() ?? [],
      expectedAnswer: api ? [...api.clusterIPs] : [],
      podsByUid: new Map(this.#nodePods.items().map((p) => [p.uid, { namespace: p.namespace, name: p.name }])),
      nodePods: this.#nodePods.items(),
    };
    if (svc) t.dnsService = toDnsServiceTarget(svc);
    return t;
  }

  /** Resolves true once every watch has listed, or false after timeoutMs. */
  whenSynced(timeoutMs: number): Promise<boolean> {
    if (this.current().synced) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.off('synced', onSynced);
        resolve(false);
      }, timeoutMs);
      const onSynced = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.once('synced', onSynced);
    });
  }

  status(): TargetWatcherStatus {
    const watches = [this.#dns, this.#api, this.#nodePods, ...(this.#coredns ? [this.#coredns] : [])].map((r) => r.stats());
    return { synced: this.current().synced, watches };
  }
}

// ------------------------------------------------------------- views

/** CoreDNS pods a vantage should probe: Running, not terminating, with an IP. */
export const probeablePods = (t: KubeTargets): PodInfo[] => t.corednsPods.filter((p) => p.phase === 'Running' && !p.terminating && p.ips.length > 0);

/** Every CoreDNS pod IP (each family) and every DNS Service ClusterIP, as sweep targets. */
export function sweepTargets(t: KubeTargets): Target[] {
  const out: Target[] = [];
  if (!t.dnsService) return out;
  for (const p of probeablePods(t))
    for (const ip of p.ips) out.push({ server: ip, port: t.dnsService.podPort, source: 'coredns-pod', label: `${p.namespace}/${p.name}` });
  for (const ip of t.dnsService.ips)
    out.push({ server: ip, port: t.dnsService.port, source: 'dns-service', label: `${t.dnsService.namespace}/${t.dnsService.name}` });
  return out;
}

/** Vantages of pods the API knows get their namespace/name (from the pod UID found in the cgroup). */
export function labelVantages(vantages: readonly Vantage[], podsByUid: ReadonlyMap<string, ObjectRef>): Vantage[] {
  const out: Vantage[] = [];
  for (const v of vantages) {
    const pod = v.podUid ? podsByUid.get(v.podUid) : undefined;
    out.push(!pod || (v.podName && v.podNamespace) ? v : { ...v, podNamespace: pod.namespace, podName: pod.name });
  }
  return out;
}

const bare = (name: string): string => name.replace(/\.$/, '').toLowerCase();

/**
 * The configured queries, with the answer of kubernetes.default.svc.<domain>
 * (A: the IPv4 ClusterIPs of default/kubernetes, AAAA: the IPv6 ones) filled
 * in where the configuration expects none of its own.
 */
export function withExpectedAnswer(queries: readonly Query[], t: KubeTargets, clusterDomain: string): Query[] {
  const name = bare(`kubernetes.default.svc.${clusterDomain}`);
  return queries.map((q) => {
    if (bare(q.name) !== name || (q.expectAnswers?.length ?? 0) > 0) return q;
    const family = q.type === 'A' ? 4 : q.type === 'AAAA' ? 6 : 0;
    const ips = t.expectedAnswer.filter((ip) => (family === 4 ? !ip.includes(':') : family === 6 && ip.includes(':')));
    return ips.length ? { ...q, expectAnswers: ips, expectMatch: q.expectMatch ?? 'contain' } : q;
  });
}

/** What the diagnosis needs (src/diagnose/kube-facts.ts): the DNS Service IPs and this node's pods with their dnsPolicy. */
export function kubeFacts(t: KubeTargets): KubeFacts {
  return {
    dnsServiceIps: t.dnsService ? [...t.dnsService.ips] : [],
    pods: t.nodePods.map((p) => ({
      uid: p.uid,
      namespace: p.namespace,
      name: p.name,
      dnsPolicy: (DNS_POLICIES as readonly string[]).includes(p.dnsPolicy) ? (p.dnsPolicy as DnsPolicy) : 'ClusterFirst',
    })),
  };
}
