// The daemon's diagnosis: after each sweep (once its health state is
// updated and systemd notified), explain the failures of that sweep in the
// background. At most one diagnosis runs at a time; a sweep that ends while
// one is still running is not diagnosed (the next one will be), so a slow
// diagnosis can neither delay the health state nor make work pile up.
//
// Each finding is logged once when it appears and once when it clears (after
// CLEAR_AFTER diagnoses without it), and handed to onFindingChange (where the
// Kubernetes part writes Events); the active ones feed /status and the gauge
// coredns_healthd_findings{check,severity}. A diagnosis that throws is logged
// and leaves the findings as they were.
import type { Config } from '../config/schema.js';
import type { HostLinkWatch, LinkChanges } from './link-watch.js';
import {
  createDiagnoseState,
  diagnoseContext,
  diagnoseSweep,
  FindingTracker,
  findingCounts,
  findingLogRecord,
  findingsJson,
  type DiagnoseContext,
  type Finding,
  type KubeFacts,
} from './index.js';
import type { FindingChange, FindingCount, FindingJson } from './format.js';
import type { Logger } from '../log.js';
import type { SweepReport } from '../model.js';
import { errorMessage } from '../text/untrusted.js';

/** Diagnoses in a row a finding must be absent from before it counts as cleared. */
export const CLEAR_AFTER = 2;
/** Findings logged one by one per diagnosis and change; the rest are summed up in one line. */
export const MAX_FINDING_LOGS = 50;
/** A diagnosis running longer than this when a sweep wants the next one is worth a warning. */
export const SLOW_DIAGNOSIS_MS = 60_000;

/** Called once per finding when it appears and once when it clears. May return a promise; errors are logged. */
export type FindingChangeHook = (finding: Finding, change: FindingChange) => void | Promise<void>;

export interface DaemonDiagnosisOptions {
  log: Logger;
  metrics: { setFindings(counts: readonly FindingCount[]): void };
  /** Default diagnoseSweep. */
  diagnose?: (report: SweepReport, ctx: DiagnoseContext) => Promise<Finding[]>;
  /** Kubernetes data for the checks that need it (ClusterFirst pods, the DNS Service IPs); read once per diagnosis. */
  kubeFacts?: () => KubeFacts | undefined;
  onFindingChange?: FindingChangeHook;
  /** Host interface changes (started by the caller; stopped with stop()): their vantages are diagnosed at the next pass. */
  linkWatch?: HostLinkWatch;
}

export interface DiagnosisInfo {
  /** The sweep it diagnosed. */
  sweep: number;
  completedAt: Date;
  durationSeconds: number;
  /** Why it failed (the findings stayed as they were), or null. */
  error: string | null;
}

export class DaemonDiagnosis {
  readonly #log: Logger;
  readonly #metrics: DaemonDiagnosisOptions['metrics'];
  readonly #diagnose: (report: SweepReport, ctx: DiagnoseContext) => Promise<Finding[]>;
  readonly #kubeFacts: () => KubeFacts | undefined;
  readonly #onChange: FindingChangeHook | undefined;
  readonly #linkWatch: HostLinkWatch | undefined;
  readonly #state = createDiagnoseState();
  readonly #tracker = new FindingTracker({ clearAfter: CLEAR_AFTER });
  #running: Promise<void> | null = null;
  #runningSince: number | null = null;
  #slowWarned = false;
  #skipped = 0;
  #last: DiagnosisInfo | null = null;
  #stopped = false;

  constructor(options: DaemonDiagnosisOptions) {
    this.#log = options.log;
    this.#metrics = options.metrics;
    this.#diagnose = options.diagnose ?? diagnoseSweep;
    this.#kubeFacts = options.kubeFacts ?? (() => undefined);
    this.#onChange = options.onFindingChange;
    this.#linkWatch = options.linkWatch;
  }

  /** Active findings, as last seen. */
  active(): Finding[] {
    return this.#tracker.active();
  }

  /** Sweeps not diagnosed because the previous diagnosis was still running. */
  get skipped(): number {
    return this.#skipped;
  }

  /** The diagnosis in flight, if any (resolves, never rejects). */
  get running(): Promise<void> | null {
    return this.#running;
  }

  /**
   * Starts diagnosing a completed sweep in the background, unless a diagnosis
   * is still running or this was stopped. Returns whether it started; never throws.
   */
  submit(report: SweepReport, config: Config, sweep: number): boolean {
    if (this.#stopped) return false;
    if (this.#running !== null) {
      this.#skipped++;
      const ms = Date.now() - (this.#runningSince ?? Date.now());
      if (ms > SLOW_DIAGNOSIS_MS && !this.#slowWarned) {
        this.#slowWarned = true;
        this.#log.warn('the diagnosis is still running; findings are not updated until it ends', {
          runningSeconds: Math.round(ms / 1000),
          skippedSweeps: this.#skipped,
        });
      } else {
        this.#log.debug('sweep not diagnosed: the previous diagnosis is still running', { sweep });
      }
      return false;
    }
    this.#runningSince = Date.now();
    this.#running = this.#run(report, config, sweep).finally(() => {
      this.#running = null;
      this.#runningSince = null;
      this.#slowWarned = false;
    });
    return true;
  }

  /** Results of a diagnosis still running are dropped; nothing starts any more. */
  stop(): void {
    this.#stopped = true;
    this.#linkWatch?.stop();
  }

  /** The `diagnosis` and `findings` fields of /status. */
  statusFields(): { diagnosis: Record<string, unknown>; findings: FindingJson[] } {
    const last = this.#last;
    return {
      diagnosis: {
        running: this.#running !== null,
        skippedSweeps: this.#skipped,
        last:
          last === null ? null : { sweep: last.sweep, completedAt: last.completedAt.toISOString(), durationSeconds: last.durationSeconds, error: last.error },
      },
      findings: findingsJson(this.active()),
    };
  }

  async #run(report: SweepReport, config: Config, sweep: number): Promise<void> {
    const t0 = process.hrtime.bigint();
    const seconds = (): number => Number(process.hrtime.bigint() - t0) / 1e9;
    let findings: Finding[];
    let linkChanges: LinkChanges | undefined;
    try {
      // Deferred so the sweep loop finishes its turn first, whatever the diagnose function does synchronously.
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (this.#stopped) return;
      linkChanges = this.#linkWatch?.take();
      const ctx = diagnoseContext(config, { state: this.#state, kube: this.#kubeFacts() });
      if (linkChanges) ctx.linkChanges = linkChanges;
      findings = await this.#diagnose(report, ctx);
    } catch (err) {
      if (linkChanges) this.#linkWatch?.restore(linkChanges);
      if (this.#stopped) return;
      this.#last = { sweep, completedAt: new Date(), durationSeconds: seconds(), error: errorMessage(err) };
      this.#log.error('diagnosis failed; findings stay as they were', { sweep, err });
      return;
    }
    if (this.#stopped) return;
    const changes = this.#tracker.update(findings);
    this.#last = { sweep, completedAt: new Date(), durationSeconds: seconds(), error: null };
    this.#metrics.setFindings(findingCounts(changes.active));
    this.#logChanges(changes.appeared, 'appeared');
    this.#logChanges(changes.cleared, 'cleared');
    for (const f of changes.appeared) this.#notify(f, 'appeared');
    for (const f of changes.cleared) this.#notify(f, 'cleared');
    this.#log.debug('diagnosis done', {
      sweep,
      durationSeconds: this.#last.durationSeconds,
      findings: findings.length,
      active: changes.active.length,
      appeared: changes.appeared.length,
      cleared: changes.cleared.length,
    });
  }

  #logChanges(findings: readonly Finding[], change: FindingChange): void {
    for (const f of findings.slice(0, MAX_FINDING_LOGS)) {
      const r = findingLogRecord(f, change);
      this.#log[r.level](r.msg, r.fields);
    }
    if (findings.length > MAX_FINDING_LOGS) {
      this.#log.warn(`more findings ${change} in this diagnosis (see /status)`, { more: findings.length - MAX_FINDING_LOGS });
    }
  }

  #notify(f: Finding, change: FindingChange): void {
    const hook = this.#onChange;
    if (!hook) return;
    const failed = (err: unknown): void => this.#log.warn('finding hook failed', { findingId: f.id, finding: change, err });
    try {
      const p = hook(f, change);
      if (p && typeof p.then === 'function') p.then(undefined, failed);
    } catch (err) {
      failed(err);
    }
  }
}
