// Quorum across nodes. Each node publishes its verdict on every CoreDNS pod
// it probes from its host namespace: one small Lease per node
// (<remedy.quorum.namespace>/coredns-healthd-verdict-<node>, labelled so that one LIST
// finds them all), holding for each pod UID "failing" or "answering", since
// when, and whether another CoreDNS endpoint answered from the same node. It
// is written only when a verdict changes, and refreshed slowly (every
// remedy.quorum.refresh) so that a report older than remedy.quorum.window
// means a node that stopped reporting: zero writes per sweep in steady state.
//
// Before a node evicts a pod, it reads every node's report (one LIST, only
// then) and asks:
//   quorum     at least remedy.quorum.minNodes nodes, and at least
//              remedy.quorum.fraction of the nodes that reported on the pod
//              within the window, see it failing while another endpoint
//              answers from them. Else: no-quorum, and this node's path to
//              the pod is the suspect, not the pod.
//   partition  the nodes that see it failing all share a zone
//              (topology.kubernetes.io/zone), are at least remedy.quorum.fraction
//              of that zone's reporting nodes, and the nodes outside that
//              zone see it answering (checked first: a partitioned zone may be
//              a minority or a majority of the cluster), or more than remedy.quorum.maxFailingPods
//              pods are failing by quorum at once: a network partition or a
//              cluster-wide fault, which evicting pods does not fix.
// Failures for local reasons (this node's firewall, no route) are no verdict
// at all (sweep-summary.ts LOCAL_REASONS): the node does not report on that pod.
import { createHash } from 'node:crypto';
import { KubeApiError, type KubeErrorReason } from '../kube/errors.js';
import type { KubeApi, LeaseInfo } from '../kube/types.js';
import type { Logger } from '../log.js';
import type { SweepSummary } from './sweep-summary.js';

export const VERDICT_ANNOTATION = 'coredns-healthd/verdicts';
export const VERDICT_LABELS: Readonly<Record<string, string>> = { 'app.kubernetes.io/name': 'coredns-healthd', 'coredns-healthd/role': 'verdict' };
export const VERDICT_SELECTOR = Object.entries(VERDICT_LABELS)
  .map(([k, v]) => `${k}=${v}`)
  .join(',');
export const ZONE_LABEL = 'topology.kubernetes.io/zone';

/** Failures that say the API server is unreachable, slow or failing (not a refusal). */
export const API_DOWN: ReadonlySet<KubeErrorReason> = new Set(['unreachable', 'tls', 'timeout', 'server-error']);

export interface PodVerdict {
  state: 'failing' | 'answering';
  /** RFC 3339: since when this node holds this verdict. */
  since: string;
  /** Whether another CoreDNS endpoint (pod or Service) answered from this node in the same sweep. */
  otherAnswered: boolean;
}

/** What one node says, as stored in its Lease's annotation. */
export interface NodeVerdicts {
  v: 1;
  node: string;
  zone?: string;
  /** Pod UID → verdict. */
  pods: Record<string, PodVerdict>;
}

export interface QuorumSettings {
  /** Where the verdict Leases are. */
  namespace: string;
  minNodes: number;
  fraction: number;
  windowMs: number;
  refreshMs: number;
  maxFailingPods: number;
}

/** A Kubernetes name for this node's verdict Lease (hashed when the node name makes it too long). */
export function verdictLeaseName(node: string): string {
  const name = `coredns-healthd-verdict-${node}`;
  if (name.length <= 253) return name;
  return `coredns-healthd-verdict-${createHash('sha256').update(node).digest('hex').slice(0, 40)}`;
}

/**
 * This node's verdicts after a sweep: pods that failed from the host (for reasons that are
 * not local to this node) are failing, pods that answered (fully or partly) are answering;
 * `since` is kept while the state does not change.
 */
export function verdictsFromSummary(summary: SweepSummary, prev: NodeVerdicts | undefined, node: string, zone: string | undefined): NodeVerdicts {
  const at = summary.at.toISOString();
  const answered = (uid: string): boolean =>
    summary.pods.some((p) => p.uid !== uid && p.status !== 'failed') || (summary.service !== undefined && summary.service.status !== 'failed');
  const pods: Record<string, PodVerdict> = {};
  for (const p of summary.pods) {
    if (p.status === 'failed' && p.localOnly === true) continue;
    const state = p.status === 'failed' ? 'failing' : 'answering';
    const before = prev?.pods[p.uid];
    pods[p.uid] = { state, since: before?.state === state ? before.since : at, otherAnswered: answered(p.uid) };
  }
  return { v: 1, node, ...(zone === undefined ? {} : { zone }), pods };
}

/** True when two reports say the same (ignoring `since` of unchanged states). */
export function sameVerdicts(a: NodeVerdicts | undefined, b: NodeVerdicts): boolean {
  if (!a || a.zone !== b.zone) return false;
  const ka = Object.keys(a.pods);
  if (ka.length !== Object.keys(b.pods).length) return false;
  return ka.every((uid) => {
    const x = a.pods[uid]!;
    const y = b.pods[uid];
    return y !== undefined && x.state === y.state && x.otherAnswered === y.otherAnswered;
  });
}

/** A node's report read from its Lease: the verdicts and when they were last written; undefined when unreadable. */
export function readVerdictLease(l: LeaseInfo): { verdicts: NodeVerdicts; at: number } | undefined {
  const raw = l.annotations[VERDICT_ANNOTATION];
  const at = Date.parse(l.renewTime ?? '');
  if (raw === undefined || !Number.isFinite(at) || raw.length > 256 * 1024) return undefined;
  try {
    const v = JSON.parse(raw) as Partial<NodeVerdicts>;
    if (v.v !== 1 || typeof v.node !== 'string' || typeof v.pods !== 'object' || v.pods === null) return undefined;
    const pods: Record<string, PodVerdict> = {};
    for (const [uid, p] of Object.entries(v.pods as Record<string, Partial<PodVerdict>>)) {
      if ((p.state === 'failing' || p.state === 'answering') && typeof p.since === 'string' && typeof p.otherAnswered === 'boolean') {
        pods[uid] = { state: p.state, since: p.since, otherAnswered: p.otherAnswered };
      }
    }
    return { verdicts: { v: 1, node: v.node, ...(typeof v.zone === 'string' ? { zone: v.zone } : {}), pods }, at };
  } catch {
    return undefined;
  }
}

/** How the nodes see one pod. */
export interface PodQuorum {
  uid: string;
  /** Nodes that see it failing while another endpoint answers from them. */
  failing: string[];
  /** Nodes that see it answering. */
  answering: string[];
  /** Nodes that see it failing with nothing else answering either (their own fault): not counted. */
  failingAlone: string[];
}

export type QuorumVerdict =
  { ok: true; pod: PodQuorum; message: string } | { ok: false; reason: 'no-quorum' | 'partition'; pod: PodQuorum; message: string; zone?: string };

/** Every fresh report (written within the window), one per node. */
export function freshReports(leases: readonly LeaseInfo[], now: number, windowMs: number): NodeVerdicts[] {
  const byNode = new Map<string, { verdicts: NodeVerdicts; at: number }>();
  for (const l of leases) {
    const r = readVerdictLease(l);
    if (!r || now - r.at > windowMs) continue;
    const seen = byNode.get(r.verdicts.node);
    if (!seen || seen.at < r.at) byNode.set(r.verdicts.node, r);
  }
  return [...byNode.values()].map((r) => r.verdicts);
}

export function podQuorum(uid: string, reports: readonly NodeVerdicts[]): PodQuorum {
  const q: PodQuorum = { uid, failing: [], answering: [], failingAlone: [] };
  for (const r of reports) {
    const v = r.pods[uid];
    if (!v) continue;
    if (v.state === 'answering') q.answering.push(r.node);
    else if (v.otherAnswered) q.failing.push(r.node);
    else q.failingAlone.push(r.node);
  }
  for (const list of [q.failing, q.answering, q.failingAlone]) list.sort();
  return q;
}

const names = (list: readonly string[], max = 5): string =>
  list.length <= max ? list.join(', ') : `${list.slice(0, max).join(', ')} and ${list.length - max} more`;

/** Whether the nodes' reports allow evicting this pod: quorum, then the partition guard. */
export function evaluateQuorum(uid: string, reports: readonly NodeVerdicts[], s: QuorumSettings): QuorumVerdict {
  const pod = podQuorum(uid, reports);
  const reporting = pod.failing.length + pod.answering.length;
  const counts = `${pod.failing.length} of ${reporting} node${reporting === 1 ? '' : 's'} that reported on it see it failing while another CoreDNS endpoint answers`;
  // Partition first: the failing nodes (at least minNodes of them) all in one zone, at least
  // `fraction` of that zone's reporting nodes among them, while every node outside the zone sees
  // the pod answer. Whether they are a majority of the cluster or not, it is the zone's path.
  const zoneOf = new Map(reports.map((r) => [r.node, r.zone]));
  const zones = new Set(pod.failing.map((n) => zoneOf.get(n)));
  const [zone] = zones;
  if (pod.failing.length >= s.minNodes && zones.size === 1 && zone !== undefined) {
    const inZone = [...pod.failing, ...pod.answering].filter((n) => zoneOf.get(n) === zone);
    const outside = [...pod.failing, ...pod.answering].filter((n) => zoneOf.get(n) !== zone);
    const outsideAnswering = outside.filter((n) => pod.answering.includes(n));
    if (outside.length > 0 && outsideAnswering.length === outside.length && pod.failing.length >= s.fraction * inZone.length) {
      return {
        ok: false,
        reason: 'partition',
        pod,
        zone,
        message: `${counts}: ${pod.failing.length} of the ${inZone.length} in zone ${zone}, while the ${outside.length} node${outside.length === 1 ? '' : 's'} outside it see it answer: a network partition of zone ${zone}, not a sick pod`,
      };
    }
  }
  if (pod.failing.length < s.minNodes || pod.failing.length < s.fraction * reporting) {
    return {
      ok: false,
      reason: 'no-quorum',
      pod,
      message: `${counts}; needed: at least ${s.minNodes} and ${Math.round(s.fraction * 100)}% (remedy.quorum): the path from ${names(pod.failing)} to the pod is the suspect, not the pod`,
    };
  }
  // Many pods failing by quorum at once: a cluster-wide fault (upstream, configuration, network).
  const uids = new Set(reports.flatMap((r) => Object.keys(r.pods)));
  const failingPods = [...uids].filter((u) => {
    const q = podQuorum(u, reports);
    const n = q.failing.length + q.answering.length;
    return q.failing.length >= s.minNodes && q.failing.length >= s.fraction * n;
  });
  if (failingPods.length > s.maxFailingPods) {
    return {
      ok: false,
      reason: 'partition',
      pod,
      message: `${counts}, but ${failingPods.length} CoreDNS pods fail by quorum at once (more than remedy.quorum.maxFailingPods = ${s.maxFailingPods}): a network partition or a cluster-wide fault, which evicting pods does not fix`,
    };
  }
  return { ok: true, pod, message: counts };
}

/**
 * Keeps this node's verdict Lease: written when a verdict changes, and every refreshMs
 * otherwise (so that reports of nodes that stopped expire). Never throws.
 */
export class VerdictPublisher {
  readonly #api: KubeApi;
  readonly #namespace: () => string;
  readonly #node: string;
  readonly #now: () => number;
  readonly #random: () => number;
  #zone: string | undefined | null = null; // null: not read yet
  #current: NodeVerdicts | undefined;
  /** The last write, and when the next refresh is due. */
  #written: { verdicts: NodeVerdicts; at: number; due: number; resourceVersion: string } | undefined;
  readonly #log: Logger | undefined;
  #warned: string | undefined;
  #busy = false;
  writes = 0;
  /** When a write last failed because the API server was unreachable, slow or failing (5xx), and how. */
  lastApiFailure: { at: number; reason: KubeErrorReason; message: string } | undefined;

  constructor(o: { api: KubeApi; namespace: () => string; nodeName: string; now?: () => number; logger?: Logger | undefined; random?: () => number }) {
    this.#api = o.api;
    this.#namespace = o.namespace;
    this.#node = o.nodeName;
    this.#now = o.now ?? Date.now;
    this.#random = o.random ?? Math.random;
    this.#log = o.logger;
  }

  get current(): NodeVerdicts | undefined {
    return this.#current;
  }

  /** This node's zone label (read once; undefined when the node has none or cannot be read). */
  async zone(): Promise<string | undefined> {
    if (this.#zone === null) {
      try {
        this.#zone = (await this.#api.getNodeLabels(this.#node))?.[ZONE_LABEL];
      } catch {
        return undefined; // tried again next time
      }
    }
    return this.#zone;
  }

  /** Takes a sweep; writes the Lease when the verdicts changed or the refresh is due. Returns whether it wrote. */
  async update(summary: SweepSummary, refreshMs: number): Promise<boolean> {
    const next = verdictsFromSummary(summary, this.#current, this.#node, await this.zone());
    this.#current = next;
    if (this.#busy) return false;
    const w = this.#written;
    if (w && sameVerdicts(w.verdicts, next) && this.#now() < Math.min(w.due, w.at + refreshMs)) return false;
    this.#busy = true;
    try {
      const ref = { namespace: this.#namespace(), name: verdictLeaseName(this.#node) };
      const body = {
        ...ref,
        holderIdentity: this.#node,
        renewTime: new Date(this.#now()),
        labels: { ...VERDICT_LABELS },
        annotations: { [VERDICT_ANNOTATION]: JSON.stringify(next) },
      };
      let resourceVersion = w?.resourceVersion ?? (await this.#api.getLease(ref))?.resourceVersion;
      let out: LeaseInfo;
      try {
        out = resourceVersion ? await this.#api.updateLease({ ...body, resourceVersion }) : await this.#api.createLease(body);
      } catch (err) {
        // Someone else wrote it (a restarted daemon of this node): read it again once.
        resourceVersion = (await this.#api.getLease(ref))?.resourceVersion;
        if (!resourceVersion) throw err;
        out = await this.#api.updateLease({ ...body, resourceVersion });
      }
      const at = this.#now();
      // The first refresh after a (re)start or a failed write comes after a random half to whole
      // refresh period, then every period: nodes that all started, or all got the API back, at
      // once do not refresh in lockstep for ever after.
      const due = at + (w ? refreshMs : refreshMs * (0.5 + 0.5 * this.#random()));
      this.#written = { verdicts: next, at, due, resourceVersion: out.resourceVersion };
      this.writes++;
      this.#warned = undefined;
      return true;
    } catch (err) {
      this.#written = undefined; // written again with the next sweep
      const cause = err instanceof KubeApiError ? err.reason : 'error';
      if (err instanceof KubeApiError && API_DOWN.has(err.reason)) this.lastApiFailure = { at: this.#now(), reason: err.reason, message: err.message };
      if (this.#warned !== cause) {
        // Once per cause: without its verdicts, this node does not count in any quorum.
        this.#warned = cause;
        this.#log?.warn("cannot publish this node's verdicts on the CoreDNS pods (remedy.quorum); retrying with the next sweeps", {
          namespace: this.#namespace(),
          reason: cause,
          err,
        });
      }
      return false;
    } finally {
      this.#busy = false;
    }
  }

  /** Every node's fresh report (one LIST). */
  async reports(windowMs: number): Promise<NodeVerdicts[]> {
    const leases = await this.#api.listLeases(this.#namespace(), VERDICT_SELECTOR);
    const fresh = freshReports(leases, this.#now(), windowMs);
    // This node's own latest verdicts, even when its write failed or is still on the way.
    if (this.#current) return [...fresh.filter((r) => r.node !== this.#node), this.#current];
    return fresh;
  }
}
