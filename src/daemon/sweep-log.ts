// What the daemon logs about each sweep, once per change rather than once per
// sweep: check state changes (at most MAX_TRANSITION_LOGS one by one), Docker
// discovery going away or coming back, namespaces it cannot enter. It also
// keeps the Docker note and scan error count /status shows.
import type { Discovery } from '../discovery/discover.js';
import { podOf } from '../health/labels.js';
import type { Transition } from '../health/model.js';
import type { Logger } from '../log.js';
import type { DaemonMetrics } from '../metrics/registry.js';
import type { VantageReport } from '../model.js';

/** State changes logged one by one per sweep; the rest are summed up in one line. */
export const MAX_TRANSITION_LOGS = 50;

export class SweepLog {
  readonly #log: Logger;
  readonly #metrics: DaemonMetrics;
  #dockerNote = '';
  #dockerKind = '';
  #scanErrors = 0;
  #inaccessible = new Set<string>();

  constructor(log: Logger, metrics: DaemonMetrics) {
    this.#log = log;
    this.#metrics = metrics;
  }

  /** For /status: what Docker discovery said last ('off', 'ok: N containers', or the error). */
  get dockerNote(): string {
    return this.#dockerNote || 'off';
  }

  /** /proc entries the last discovery could not read. */
  get scanErrors(): number {
    return this.#scanErrors;
  }

  discovery(found: Discovery): void {
    this.#scanErrors = found.scanErrors.length;
    this.#metrics.discoveryErrors('proc', found.scanErrors.length);
    if (found.dockerRefreshed && found.docker?.error && found.docker.error.code !== 'no-socket') this.#metrics.discoveryErrors('docker', 1);
    const d = found.docker;
    const note = d === null ? 'off' : d.error ? `${d.error.code}: ${d.error.message}` : `ok: ${d.containers.length} containers`;
    const kind = d === null ? 'off' : d.error ? d.error.code : 'ok';
    const previousKind = this.#dockerKind;
    this.#dockerNote = note;
    this.#dockerKind = kind;
    if (kind === previousKind) return;
    if (kind === 'no-socket') this.#log.info('no Docker Engine API; containers are found through /proc only', { detail: d!.error!.message });
    else if (kind === 'ok' && previousKind !== '') this.#log.info('Docker Engine API answers again', { containers: d!.containers.length });
    else if (kind !== 'ok' && kind !== 'off')
      this.#log.warn('Docker discovery failed; containers are found through /proc only', { code: kind, detail: d!.error!.message });
  }

  vantages(reports: readonly VantageReport[]): void {
    const now = new Set<string>();
    for (const r of reports) {
      if (r.status !== 'inaccessible') continue;
      now.add(r.vantage.id);
      if (!this.#inaccessible.has(r.vantage.id)) {
        this.#log.warn('cannot probe from a network namespace', { netns: r.vantage.id, pid: r.vantage.pid, pod: podOf(r.vantage), detail: r.detail });
      }
    }
    this.#inaccessible = now;
  }

  transitions(transitions: readonly Transition[]): void {
    const logged = transitions.filter((t) => !(t.from === null && t.to === 'healthy'));
    for (const t of logged.slice(0, MAX_TRANSITION_LOGS)) {
      const c = t.check;
      this.#log.warn(t.to === 'unhealthy' ? 'check unhealthy' : 'check healthy again', {
        vantage: c.vantageLabel,
        netns: c.vantage.id,
        pod: podOf(c.vantage),
        target: c.targetLabel,
        targetSource: c.target.source,
        transport: c.transport,
        query: c.query,
        state: t.to,
        previous: t.from ?? 'new',
        reason: c.last.reason,
        rcode: c.last.rcode ?? undefined,
        detail: c.last.detail,
        consecutiveFailures: c.consecutiveFailures,
      });
    }
    if (logged.length > MAX_TRANSITION_LOGS) {
      this.#log.warn('more check state changes in this sweep (see /status)', { more: logged.length - MAX_TRANSITION_LOGS });
    }
    for (const t of transitions) {
      if (t.from === null && t.to === 'healthy')
        this.#log.debug('check healthy', { vantage: t.check.vantageLabel, target: t.check.targetLabel, transport: t.check.transport, query: t.check.query });
    }
  }
}
