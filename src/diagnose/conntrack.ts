// conntrack on the host: a full table drops packets of new flows (DNS
// included), and a rising insert_failed is the signature of the well-known
// 5-second DNS timeouts (A and AAAA sent in parallel from one socket race to
// insert the same conntrack entry; the loser is dropped and the resolver waits
// for its timeout). Read from <procRoot>/sys/net/netfilter/nf_conntrack_count,
// nf_conntrack_max and <procRoot>/net/stat/nf_conntrack (per-CPU hex rows).
import { nodeFinding, type Finding } from './finding.js';
import { TABLE_FILE_MAX } from '../netns/bounded-read.js';
import { readText, truncatedProblem, type TextRead } from './read.js';
import { parseSysInt } from './sysfs-net.js';

export interface ConntrackFacts {
  count: TextRead;
  max: TextRead;
  stat: TextRead;
}

export interface ConntrackSample {
  /** Milliseconds (Date.now()) when it was read. */
  at: number;
  count: number;
  max: number;
  /** Per-CPU columns of net/stat/nf_conntrack summed ("entries" taken once). */
  stats: Readonly<Record<string, number>>;
}

export interface ParsedStat {
  stats: Record<string, number>;
  problems: string[];
}

/** Parses net/stat/nf_conntrack: a header of column names, then one row of hex values per CPU. */
export function parseConntrackStat(text: string): ParsedStat {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const header = (lines[0] ?? '').trim().split(/\s+/);
  if (lines.length === 0 || !header.every((h) => /^[a-z_]+$/.test(h)) || !header.includes('entries')) {
    return { stats: {}, problems: ['line 1: not the header of net/stat/nf_conntrack'] };
  }
  const stats: Record<string, number> = Object.fromEntries(header.map((h) => [h, 0]));
  const problems: string[] = [];
  lines.slice(1).forEach((line, i) => {
    const values = line.trim().split(/\s+/);
    if (values.length !== header.length || !values.every((v) => /^[0-9a-fA-F]{1,16}$/.test(v))) {
      problems.push(`line ${i + 2}: expected ${header.length} hex values`);
      return;
    }
    header.forEach((h, k) => {
      const n = Number.parseInt(values[k]!, 16);
      // "entries" is the global count, repeated on every CPU's row.
      stats[h] = h === 'entries' ? (i === 0 ? n : stats[h]!) : stats[h]! + n;
    });
  });
  if (lines.length === 1) problems.push('no per-CPU rows');
  return { stats, problems };
}

export async function readConntrack(procRoot: string): Promise<ConntrackFacts> {
  const dir = `${procRoot}/sys/net/netfilter`;
  const [count, max, stat] = await Promise.all([
    readText(`${dir}/nf_conntrack_count`),
    readText(`${dir}/nf_conntrack_max`),
    readText(`${procRoot}/net/stat/nf_conntrack`, TABLE_FILE_MAX),
  ]);
  return { count, max, stat };
}

export interface ConntrackOptions {
  /** diagnose.conntrack.threshold: count / max above this is a finding. */
  threshold: number;
  /** The sample of the previous sweep (for insert_failed rising); absent in one-shot runs. */
  previous?: ConntrackSample | undefined;
  /** Whether the caller keeps samples across sweeps (a daemon): then the first sample is only a baseline. */
  tracking: boolean;
  now: number;
}

export interface ConntrackResult {
  findings: Finding[];
  /** The new sample; null when conntrack is not loaded or its counters could not be read. */
  sample: ConntrackSample | null;
}

const pct = (x: number): string => `${(x * 100).toFixed(x >= 0.995 && x < 1 ? 2 : 0)}%`;

export function checkConntrack(facts: ConntrackFacts, opts: ConntrackOptions): ConntrackResult {
  const findings: Finding[] = [];
  // No conntrack module: nothing tracks DNS, nothing to check.
  if (facts.count.error?.code === 'ENOENT' && facts.max.error?.code === 'ENOENT') return { findings, sample: null };
  const problems: string[] = [];
  const num = (r: TextRead): number | null => {
    if (r.error) {
      problems.push(r.error.message);
      return null;
    }
    const n = parseSysInt(r.text);
    if (n === null) problems.push(`${r.path}: not a number: ${JSON.stringify(r.text.trim().slice(0, 40))}`);
    return n;
  };
  const count = num(facts.count);
  const max = num(facts.max);
  let stats: Record<string, number> | null = null;
  if (facts.stat.error) {
    if (facts.stat.error.code !== 'ENOENT') problems.push(facts.stat.error.message);
  } else {
    const parsed = parseConntrackStat(facts.stat.text);
    problems.push(...parsed.problems.map((p) => `${facts.stat.path}: ${p}`));
    if (facts.stat.truncated) problems.push(truncatedProblem(facts.stat.path, TABLE_FILE_MAX));
    if (parsed.problems.length === 0 || Object.keys(parsed.stats).length > 0) stats = parsed.stats;
  }
  if (problems.length > 0) {
    findings.push(
      nodeFinding({
        code: 'conntrack/unreadable',
        severity: 'warning',
        message: `The conntrack counters could not be fully read: ${problems[0]}.`,
        evidence: { problems: problems.slice(0, 10) },
      }),
    );
  }
  if (count !== null && max !== null && max > 0) {
    const ratio = count / max;
    const evidence = {
      count,
      max,
      ratio: Math.round(ratio * 10000) / 10000,
      threshold: opts.threshold,
      drop: stats?.drop ?? null,
      early_drop: stats?.early_drop ?? null,
    };
    if (count >= max) {
      findings.push(
        nodeFinding({
          code: 'conntrack/table-full',
          severity: 'error',
          message: `The conntrack table is full (${count} of ${max} entries): the kernel drops packets of new flows ("nf_conntrack: table full, dropping packet"), DNS queries included. Raise net.netfilter.nf_conntrack_max or find what opens so many flows.`,
          evidence,
        }),
      );
    } else if (ratio > opts.threshold) {
      findings.push(
        nodeFinding({
          code: 'conntrack/table-filling',
          severity: 'warning',
          message: `The conntrack table is ${pct(ratio)} full (${count} of ${max} entries, threshold ${pct(opts.threshold)}): when it is full, new flows, DNS queries included, are dropped.`,
          evidence,
        }),
      );
    }
  }
  const failed = stats?.insert_failed;
  if (failed !== undefined) {
    const prev = opts.previous?.stats.insert_failed;
    const advice =
      'parallel A and AAAA queries from one socket race in conntrack and one is dropped, so the lookup waits a full resolver timeout (the 5-second DNS delays); use node-local DNS, or resolver options single-request-reopen or use-vc';
    if (prev !== undefined && failed > prev) {
      const seconds = Math.max(0, Math.round((opts.now - opts.previous!.at) / 1000));
      findings.push(
        nodeFinding({
          code: 'conntrack/insert-failed',
          severity: 'warning',
          message: `conntrack insert_failed rose by ${failed - prev} in the last ${seconds} s: ${advice}.`,
          evidence: { insertFailed: failed, previous: prev, delta: failed - prev, seconds, drop: stats?.drop ?? null, clashResolved: stats?.clashres ?? null },
        }),
      );
    } else if (!opts.tracking && failed > 0) {
      findings.push(
        nodeFinding({
          code: 'conntrack/insert-failed',
          severity: 'info',
          message: `conntrack insert_failed is ${failed} since boot (whether it is still rising needs two samples, as the daemon takes): ${advice}.`,
          evidence: { insertFailed: failed, drop: stats?.drop ?? null, clashResolved: stats?.clashres ?? null },
        }),
      );
    }
  }
  const sample = count !== null && max !== null ? { at: opts.now, count, max, stats: stats ?? {} } : null;
  return { findings, sample };
}
