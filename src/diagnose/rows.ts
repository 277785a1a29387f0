// Views of a sweep's rows that the comparison checks share: per vantage, per
// target, per transport, what passed and what failed.
import type { SweepRow, Target, Transport } from '../model.js';

export const targetKey = (t: Pick<Target, 'server' | 'port'>): string => (t.server.includes(':') ? `[${t.server}]:${t.port}` : `${t.server}:${t.port}`);

export type Outcome = 'ok' | 'fail' | 'mixed';

/** ok: every row passed; fail: every row failed; mixed: some of each. Undefined for no rows. */
export function outcome(rows: readonly SweepRow[]): Outcome | undefined {
  if (rows.length === 0) return undefined;
  const ok = rows.filter((r) => r.result.ok).length;
  return ok === rows.length ? 'ok' : ok === 0 ? 'fail' : 'mixed';
}

/** Every row passed (true for none): nothing for a comparison to explain. */
export const allPassed = (rows: readonly SweepRow[]): boolean => rows.every((r) => r.result.ok);

/** Failure reasons with counts, most frequent first: "timeout ×2, refused". */
export function reasonSummary(rows: readonly SweepRow[]): string {
  const counts = new Map<string, number>();
  for (const r of rows) if (!r.result.ok) counts.set(r.result.reason, (counts.get(r.result.reason) ?? 0) + 1);
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([reason, n]) => (n > 1 ? `${reason} ×${n}` : reason))
    .join(', ');
}

/** Distinct failure reasons, sorted. */
export const failReasons = (rows: readonly SweepRow[]): string[] => [...new Set(rows.filter((r) => !r.result.ok).map((r) => r.result.reason))].sort();

export function groupBy<T, K>(items: readonly T[], key: (item: T) => K): Map<K, T[]> {
  const out = new Map<K, T[]>();
  for (const item of items) {
    const k = key(item);
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return out;
}

const vantageIdOf = (r: SweepRow): string => r.vantage.id;
const targetKeyOf = (r: SweepRow): string => targetKey(r.target);
export const byVantage = (rows: readonly SweepRow[]): Map<string, SweepRow[]> => groupBy(rows, vantageIdOf);
export const byTarget = (rows: readonly SweepRow[]): Map<string, SweepRow[]> => groupBy(rows, targetKeyOf);
export const ofTransport = (rows: readonly SweepRow[], t: Transport): SweepRow[] => rows.filter((r) => r.transport === t);

/** "10.96.0.10:53 (kube-system/kube-dns)" */
export function describeTarget(t: Target): string {
  return `${targetKey(t)}${t.label ? ` (${t.label})` : ''}`;
}
