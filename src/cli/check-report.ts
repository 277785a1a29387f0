// What `coredns-healthd check` prints: a table and a summary line, or one
// JSON document (shape documented in README.md, "check --json").
import type { Finding } from '../diagnose/finding.js';
import { findingsJson, findingsText } from '../diagnose/format.js';
import type { Query, SweepReport, SweepRow, Vantage, VantageReport } from '../model.js';
import { describeVantage } from '../discovery/vantage.js';
import { MAX_FIELD, MAX_ITEMS, capList, capString, escapeControl } from '../text/untrusted.js';
import { table } from './table.js';

export const CHECK_JSON_VERSION = 1;

export interface CheckSummary {
  vantages: number;
  vantagesProbed: number;
  vantagesGone: number;
  vantagesInaccessible: number;
  probes: number;
  ok: number;
  failed: number;
  /** Failed probes by reason. */
  reasons: Record<string, number>;
}

export function summarize(report: SweepReport): CheckSummary {
  const reasons: Record<string, number> = {};
  let ok = 0;
  for (const r of report.rows) {
    if (r.result.ok) ok++;
    else reasons[r.result.reason] = (reasons[r.result.reason] ?? 0) + 1;
  }
  const count = (s: VantageReport['status']) => report.vantages.filter((v) => v.status === s).length;
  return {
    vantages: report.vantages.length,
    vantagesProbed: count('probed'),
    vantagesGone: count('gone'),
    vantagesInaccessible: count('inaccessible'),
    probes: report.rows.length,
    ok,
    failed: report.rows.length - ok,
    reasons,
  };
}

export { describeVantage };

/** A name a container chose (Docker labels, container names), capped; JSON escapes the rest. */
const capped = (s: string | undefined): string | null => (s === undefined ? null : capString(s, MAX_FIELD));

/** A vantage as `check --json` and `netns --json` show it. Names are capped (discovery caps them already). */
export function vantageJson(v: Vantage) {
  return {
    id: v.id,
    inode: v.inode,
    pid: v.pid,
    source: v.source,
    hostNetwork: v.hostNetwork,
    podNamespace: capped(v.podNamespace),
    podName: capped(v.podName),
    podUid: capped(v.podUid),
    containerIds: capList(v.containerIds, CONTAINER_IDS_MAX),
    containerNames: capList(v.containerNames, MAX_ITEMS + 1), // + 1: room for discovery's "…and N more"
    runtime: v.runtime ?? null,
  };
}

/** Container IDs listed per vantage (a pod has a few; a netns shared by many containers is cut here). */
const CONTAINER_IDS_MAX = 64;

function rowJson(r: SweepRow) {
  return {
    vantage: {
      id: r.vantage.id,
      inode: r.vantage.inode,
      pid: r.vantage.pid,
      source: r.vantage.source,
      podNamespace: capped(r.vantage.podNamespace),
      podName: capped(r.vantage.podName),
    },
    server: r.target.server,
    port: r.target.port,
    targetSource: r.target.source,
    transport: r.transport,
    query: { name: r.query.name, type: r.query.type },
    ok: r.result.ok,
    reason: r.result.reason,
    rcode: r.result.rcode,
    answers: r.result.answers,
    rttSeconds: r.result.rttSeconds,
    truncated: r.result.truncated,
    attempts: r.attempts,
    detail: r.result.detail ?? null,
  };
}

export interface CheckContext {
  queries: readonly Query[];
  mode: 'discovery' | 'expect';
  notes: string[];
  /** The diagnosis of the sweep; null when it was skipped (--no-diagnose) or failed (a note says why). */
  findings: readonly Finding[] | null;
}

export function checkJson(report: SweepReport, ctx: CheckContext) {
  return {
    version: CHECK_JSON_VERSION,
    startedAt: report.startedAt.toISOString(),
    durationSeconds: report.durationSeconds,
    mode: ctx.mode,
    queries: ctx.queries.map((q) => ({
      name: q.name,
      type: q.type,
      validRcodes: q.validRcodes,
      requireAnswers: q.requireAnswers ?? false,
      expectAnswers: q.expectAnswers ?? [],
      expectMatch: q.expectMatch ?? 'contain',
    })),
    summary: summarize(report),
    notes: ctx.notes,
    vantages: report.vantages.map((vr) => ({
      ...vantageJson(vr.vantage),
      status: vr.status,
      detail: vr.detail ?? null,
      resolvConf: vr.resolvConf
        ? { path: vr.resolvConf.path, nameservers: vr.resolvConf.nameservers, error: vr.resolvConf.error ?? null, warnings: vr.resolvConf.warnings }
        : null,
    })),
    results: report.rows.map(rowJson),
    findings: ctx.findings === null ? null : findingsJson(ctx.findings),
  };
}

function rtt(seconds: number | null): string {
  if (seconds === null) return '-';
  return seconds < 0.001 ? `${(seconds * 1e6).toFixed(0)}µs` : `${(seconds * 1000).toFixed(1)}ms`;
}

export function summaryLine(s: CheckSummary): string {
  const reasons = Object.entries(s.reasons)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${n} ${k}`)
    .join(', ');
  const extra = [
    s.vantagesGone ? `${s.vantagesGone} vantage${s.vantagesGone === 1 ? '' : 's'} gone before probing` : '',
    s.vantagesInaccessible ? `${s.vantagesInaccessible} inaccessible` : '',
  ].filter(Boolean);
  const verdict = s.failed === 0 && s.probes > 0 ? 'OK' : 'FAIL';
  return (
    `${verdict}: ${s.probes} probe${s.probes === 1 ? '' : 's'} from ${s.vantagesProbed} vantage${s.vantagesProbed === 1 ? '' : 's'}: ` +
    `${s.ok} ok, ${s.failed} failed${reasons ? ` (${reasons})` : ''}${extra.length ? `; ${extra.join('; ')}` : ''}`
  );
}

export function checkText(report: SweepReport, ctx: CheckContext): string {
  const rows = report.rows.map((r) => [
    r.vantage.id,
    describeVantage(r.vantage),
    `${r.target.server.includes(':') ? `[${r.target.server}]` : r.target.server}:${r.target.port}`,
    r.transport,
    r.result.ok ? 'ok' : 'FAIL',
    r.result.reason + (r.result.rcode && r.result.rcode !== 'NOERROR' ? ` ${r.result.rcode}` : '') + (r.result.truncated ? ' (truncated)' : ''),
    rtt(r.result.rttSeconds),
  ]);
  const out = [table(['VANTAGE', 'POD/PROCESS', 'SERVER', 'PROTO', 'RESULT', 'REASON', 'RTT'], rows)];
  const notes: string[] = [...ctx.notes];
  for (const vr of report.vantages) {
    const who = `${vr.vantage.id} (${describeVantage(vr.vantage)})`;
    if (vr.status !== 'probed') notes.push(`${who}: ${vr.status}: ${vr.detail ?? ''}`);
    if (vr.resolvConf?.error) notes.push(`${who}: ${vr.resolvConf.error}`);
    else if (vr.resolvConf && vr.resolvConf.nameservers.length === 0) notes.push(`${who}: no nameserver in ${vr.resolvConf.path}`);
    for (const w of vr.resolvConf?.warnings ?? []) notes.push(`${who}: ${vr.resolvConf!.path}: ${w}`);
  }
  // Notes quote vantage labels, resolv.conf problems and error details: escaped, one line each.
  if (notes.length) out.push('', ...notes.map((n) => `note: ${escapeControl(n)}`));
  if (ctx.findings !== null) out.push('', findingsText(ctx.findings).trimEnd());
  out.push('', summaryLine(summarize(report)));
  return out.join('\n') + '\n';
}
