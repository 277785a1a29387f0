// Every remedy decision as a Kubernetes Event (events.k8s.io/v1) on the pod,
// the Deployment or the Node it is about: reportingController
// coredns-healthd, reportingInstance = this node. The same decision repeated
// sweep after sweep (a cooldown, a node finding) is written once per
// dedupe window. "below-threshold" is not an Event: it is a count, not news;
// neither is an unreachable or silent API server.
// Writing an Event never blocks or fails a decision; a refused write is
// logged once per cause.
import { KubeApiError } from '../kube/errors.js';
import type { KubeApi } from '../kube/types.js';
import type { EventWrite } from '../model.js';
import type { Logger } from '../log.js';
import type { RemedyDecision } from './decision.js';

export interface EventRecorderOptions {
  api: KubeApi;
  logger?: Logger;
  /** Identical decisions within this window make one Event. Default 10 min. */
  dedupeMs?: number;
  now?: () => number;
}

// An unreachable or silent API server is not news worth an Event: the Event could not be written
// then, and a thousand nodes writing "it was unreachable" once it is back is noise. Both are in
// the decisions metric and the log.
const QUIET_REASONS = new Set(['below-threshold', 'api-unreachable', 'api-timeout']);

const ACTION_VERB: Readonly<Record<RemedyDecision['action'], string>> = { evict: 'Evict', 'raise-memory': 'RaiseMemoryLimit', 'node-finding': 'Report' };

/** The Event's reason (CamelCase) for a decision. */
export function eventReason(d: RemedyDecision): string {
  if (d.action === 'node-finding') return 'ClusterDNSUnreachableFromNode';
  const what = d.action === 'evict' ? 'Evict' : 'RaiseMemoryLimit';
  switch (d.result) {
    case 'acted':
      return d.action === 'evict' ? 'EvictedUnhealthyCoreDNS' : 'RaisedMemoryLimit';
    case 'would-act':
      return `Would${what}`;
    default:
      return `${what}Skipped`;
  }
}

/** The Event for a decision, or undefined when it has no object to be about. */
export function eventFor(d: RemedyDecision): EventWrite | undefined {
  const type = d.result === 'acted' || d.result === 'reported' ? 'Warning' : 'Normal';
  const note = `${d.message} [${d.result}: ${d.reason}]`;
  const base = { type, reason: eventReason(d), action: ACTION_VERB[d.action], note } as const;
  if (d.pod)
    return { ...base, namespace: d.pod.namespace, regarding: { apiVersion: 'v1', kind: 'Pod', namespace: d.pod.namespace, name: d.pod.name, uid: d.pod.uid } };
  if (d.deployment)
    return {
      ...base,
      namespace: d.deployment.namespace,
      regarding: { apiVersion: 'apps/v1', kind: 'Deployment', namespace: d.deployment.namespace, name: d.deployment.name },
    };
  if (d.node) return { ...base, namespace: 'default', regarding: { apiVersion: 'v1', kind: 'Node', name: d.node } };
  return undefined;
}

export class EventRecorder {
  readonly #api: KubeApi;
  readonly #log: Logger | undefined;
  readonly #dedupeMs: number;
  readonly #now: () => number;
  readonly #sent = new Map<string, number>();
  readonly #pending = new Set<Promise<void>>();
  readonly #warned = new Set<string>();
  #written = 0;

  constructor(o: EventRecorderOptions) {
    this.#api = o.api;
    this.#log = o.logger;
    this.#dedupeMs = o.dedupeMs ?? 600_000;
    this.#now = o.now ?? Date.now;
  }

  /** Events written so far. */
  get written(): number {
    return this.#written;
  }

  /** Writes the decision's Event in the background (see flush()). */
  record(d: RemedyDecision): void {
    if (QUIET_REASONS.has(d.reason)) return;
    const ev = eventFor(d);
    if (ev) this.write(ev, `${d.action}/${d.result}/${d.reason}`);
  }

  /** Writes an Event in the background, once per dedupe window for the same object and key. */
  write(ev: EventWrite, dedupeKey: string = ev.reason): void {
    const key = `${ev.regarding.kind}/${ev.regarding.namespace ?? ''}/${ev.regarding.name}/${dedupeKey}`;
    const now = this.#now();
    const last = this.#sent.get(key);
    if (last !== undefined && now - last < this.#dedupeMs) return;
    this.#sent.set(key, now);
    for (const [k, t] of this.#sent) if (now - t >= this.#dedupeMs) this.#sent.delete(k);
    const p = this.#api
      .createEvent(ev)
      .then(() => {
        this.#written++;
      })
      .catch((err: unknown) => {
        this.#sent.delete(key);
        const cause = err instanceof KubeApiError ? err.reason : 'error';
        if (!this.#warned.has(cause)) {
          this.#warned.add(cause);
          this.#log?.warn('cannot write a Kubernetes Event for a remedy decision (logged once per cause)', { reason: cause, err });
        }
      })
      .finally(() => this.#pending.delete(p));
    this.#pending.add(p);
  }

  /** Resolves when every Event started so far is written or has failed. */
  async flush(): Promise<void> {
    while (this.#pending.size > 0) await Promise.all([...this.#pending]);
  }
}
