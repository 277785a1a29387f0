// Findings for each consumer: `check` text and --json, the metric
// coredns_healthd_findings{check,severity}, log records for appear/clear,
// and Kubernetes Events on the affected pod. Pure functions; the consumers
// only call them.
import type { EventWrite } from '../model.js';
import { escapeControl } from '../text/untrusted.js';
import { FINDING_AREAS, SEVERITIES, type FindingArea, type Finding, type FindingPod, type Severity } from './finding.js';

export const FINDINGS_JSON_VERSION = 1;

/** A finding as plain JSON (the shape `check --json` and /status print). */
export interface FindingJson {
  id: string;
  vantage: string;
  where: string;
  check: FindingArea;
  code: string;
  severity: Severity;
  message: string;
  evidence: Finding['evidence'];
  pod: FindingPod | null;
}

export function findingJson(f: Finding): FindingJson {
  return {
    id: f.id,
    vantage: f.vantage,
    where: f.where,
    check: f.check,
    code: f.code,
    severity: f.severity,
    message: f.message,
    evidence: f.evidence,
    pod: f.pod ? { ...f.pod } : null,
  };
}

export const findingsJson = (findings: readonly Finding[]): FindingJson[] => findings.map(findingJson);

export function severityCounts(findings: readonly Finding[]): Record<Severity, number> {
  const out: Record<Severity, number> = { error: 0, warning: 0, info: 0 };
  for (const f of findings) out[f.severity]++;
  return out;
}

/** "2 errors, 1 warning" (only the non-zero ones); "none" for no findings. */
export function summaryLine(findings: readonly Finding[]): string {
  const c = severityCounts(findings);
  const parts = SEVERITIES.filter((s) => c[s] > 0).map((s) => `${c[s]} ${s === 'info' ? 'info' : c[s] === 1 ? s : `${s}s`}`);
  return parts.length > 0 ? parts.join(', ') : 'none';
}

export interface TextOptions {
  /** Include info findings. Default true. */
  info?: boolean;
  /** Indent of each finding line. Default two spaces. */
  indent?: string;
}

/**
 * The findings section of `check`'s text output:
 *
 *   Findings: 1 error, 1 warning
 *     ERROR    kube-system/web-1  [interfaces/down] Interface eth0 is administratively down: ...
 */
export function findingsText(findings: readonly Finding[], opts: TextOptions = {}): string {
  const shown = opts.info === false ? findings.filter((f) => f.severity !== 'info') : [...findings];
  const indent = opts.indent ?? '  ';
  if (shown.length === 0) return 'Findings: none\n';
  // where and message quote names from containers and DNS replies: shown escaped, one line per finding.
  const where = shown.map((f) => escapeControl(f.where));
  const whereWidth = Math.min(40, Math.max(...where.map((w) => w.length)));
  const lines = shown.map((f, i) => `${indent}${f.severity.toUpperCase().padEnd(8)} ${where[i]!.padEnd(whereWidth)}  [${f.code}] ${escapeControl(f.message)}`);
  return `Findings: ${summaryLine(shown)}\n${lines.join('\n')}\n`;
}

export interface FindingCount {
  check: FindingArea;
  severity: Severity;
  count: number;
}

/**
 * Counts for the gauge coredns_healthd_findings{check,severity}: every
 * combination, zeros included, so a cleared finding sets its series back to 0.
 */
export function findingCounts(findings: readonly Finding[]): FindingCount[] {
  const out: FindingCount[] = [];
  for (const check of FINDING_AREAS) {
    for (const severity of SEVERITIES) out.push({ check, severity, count: findings.filter((f) => f.check === check && f.severity === severity).length });
  }
  return out;
}

export type FindingChange = 'appeared' | 'cleared';

export interface FindingLogRecord {
  level: 'info' | 'warn' | 'error';
  msg: string;
  fields: Record<string, unknown>;
}

/** One log record for a finding that appeared or cleared (logger[level](msg, fields)). */
export function findingLogRecord(f: Finding, change: FindingChange): FindingLogRecord {
  const level = change === 'cleared' || f.severity === 'info' ? 'info' : f.severity === 'error' ? 'error' : 'warn';
  return {
    level,
    msg: change === 'appeared' ? `finding: ${f.message}` : `finding cleared: ${f.code} (${f.where})`,
    fields: {
      finding: change,
      findingId: f.id,
      vantage: f.vantage,
      where: f.where,
      check: f.check,
      code: f.code,
      severity: f.severity,
      evidence: f.evidence,
      ...(f.pod ? { pod: f.pod } : {}),
    },
  };
}

/** The Kubernetes Event note limit (1 kB). */
export const EVENT_NOTE_MAX_BYTES = 1024;

/** "resolv-conf/not-cluster-dns" → "DNSResolvConfNotClusterDns". */
export function eventReason(code: string): string {
  return `DNS${code
    .split(/[/-]/)
    .filter((p) => p !== '')
    .map((p) => p[0]!.toUpperCase() + p.slice(1))
    .join('')}`;
}

function truncateBytes(text: string, max: number): string {
  if (Buffer.byteLength(text) <= max) return text;
  const buf = Buffer.from(text, 'utf8');
  let end = max - 3; // room for "…"
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--; // never inside a UTF-8 sequence
  return `${buf.subarray(0, end).toString('utf8')}…`;
}

/**
 * The Event (for KubeApi.createEvent) for a finding on a pod, or null for
 * findings that are not about one pod (node findings, the host) and for info
 * findings. It regards the pod; a cleared finding is a Normal event whose
 * reason ends in "Cleared".
 */
export function findingEvent(f: Finding, change: FindingChange): EventWrite | null {
  const pod = f.pod;
  if (!pod || !pod.name || !pod.namespace || f.severity === 'info') return null;
  const reason = eventReason(f.code);
  return {
    namespace: pod.namespace,
    regarding: { apiVersion: 'v1', kind: 'Pod', name: pod.name, namespace: pod.namespace, ...(pod.uid ? { uid: pod.uid } : {}) },
    type: change === 'appeared' ? 'Warning' : 'Normal',
    reason: change === 'appeared' ? reason : `${reason}Cleared`,
    action: 'Diagnose',
    // kubectl describe prints the note to a terminal: escaped like any text.
    note: truncateBytes(escapeControl(change === 'appeared' ? f.message : `Cleared: ${f.message}`), EVENT_NOTE_MAX_BYTES),
  };
}
