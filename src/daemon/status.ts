// What the daemon says about itself: the /status document (the health model's
// view, the diagnosis, Kubernetes and the recent remedy decisions), and the
// one-line STATUS= it gives systemd.
import type { RemedyDecision } from '../remedy/decision.js';
import { statusDocument, type StatusInput } from '../health/status.js';
import type { KubeRuntimeStatus } from './kubernetes.js';

/** Remedy decisions /status keeps (below-threshold ones are not kept: /status shows the counts). */
export const RECENT_DECISIONS = 20;

/** The latest remedy decisions worth showing. */
export class RecentDecisions {
  #list: RemedyDecision[] = [];

  add(d: RemedyDecision): void {
    if (d.reason === 'below-threshold') return;
    this.#list = [...this.#list, d].slice(-RECENT_DECISIONS);
  }

  get list(): readonly RemedyDecision[] {
    return this.#list;
  }
}

export interface DaemonStatusInput extends StatusInput {
  diagnosis: Record<string, unknown>;
  kube: KubeRuntimeStatus;
  decisions: readonly RemedyDecision[];
}

/** The /status document. */
export function daemonStatus(input: DaemonStatusInput): Record<string, unknown> {
  const { diagnosis, kube, decisions, ...rest } = input;
  return { ...statusDocument(rest), ...diagnosis, kubernetes: kube.kubernetes, remedy: { ...kube.remedy, recentDecisions: decisions } };
}

/** STATUS= for systemd: the /healthz reason, how many vantages, how many sweeps. */
export function statusLine(reason: string, vantages: number, sweeps: number): string {
  return `${reason} (${vantages} vantage${vantages === 1 ? '' : 's'}, ${sweeps} sweeps)`;
}
