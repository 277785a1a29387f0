// Findings over time: report each finding once when it appears and once when
// it clears (for logs and Events), not on every sweep. A finding is the same
// one across sweeps when its id is (vantage, code, subject); its message and
// evidence may change (a fuller conntrack table) without a new report.
import type { Finding } from './finding.js';

export interface FindingChanges {
  /** New since the last update. */
  appeared: Finding[];
  /** Gone for `clearAfter` updates in a row; the finding as last seen. */
  cleared: Finding[];
  /** Everything currently active, as last seen (cleared ones excluded). */
  active: Finding[];
}

export interface TrackerOptions {
  /** Updates in a row a finding must be absent before it counts as cleared. Default 1. */
  clearAfter?: number;
}

interface Entry {
  finding: Finding;
  missing: number;
}

export class FindingTracker {
  private readonly clearAfter: number;
  private readonly entries = new Map<string, Entry>();

  constructor(opts: TrackerOptions = {}) {
    const n = opts.clearAfter ?? 1;
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`clearAfter: expected an integer of at least 1, got ${JSON.stringify(opts.clearAfter)}`);
    this.clearAfter = n;
  }

  /** Feeds the findings of one sweep; returns what changed. */
  update(findings: readonly Finding[]): FindingChanges {
    const appeared: Finding[] = [];
    const cleared: Finding[] = [];
    const seen = new Set<string>();
    for (const f of findings) {
      if (seen.has(f.id)) continue;
      seen.add(f.id);
      const e = this.entries.get(f.id);
      if (e) {
        e.finding = f;
        e.missing = 0;
      } else {
        this.entries.set(f.id, { finding: f, missing: 0 });
        appeared.push(f);
      }
    }
    for (const [id, e] of this.entries) {
      if (seen.has(id)) continue;
      if (++e.missing >= this.clearAfter) {
        this.entries.delete(id);
        cleared.push(e.finding);
      }
    }
    return { appeared, cleared, active: this.active() };
  }

  /** Active findings, as last seen (including those missing fewer than clearAfter times). */
  active(): Finding[] {
    return [...this.entries.values()].map((e) => e.finding);
  }

  /** Forgets everything (nothing is reported as cleared). */
  reset(): void {
    this.entries.clear();
  }
}
