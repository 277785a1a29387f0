// The status page at / for browsers: the /status document (src/daemon/status.ts)
// rendered as one self-contained HTML page. Pure: a document in, a string out.
//
// - A matrix of vantages (rows: the host first, then the pods, unhealthy ones
//   first) × targets (columns: the DNS Service, the CoreDNS pods, configured
//   targets, and one "own nameservers" column whose cells name the vantage's
//   own resolv.conf servers), one small cell per transport, coloured by state,
//   with the last result in its title (hover). Sticky header row and column.
// - The active findings with the explanation of their code, the remedy state
//   and its recent decisions, the last sweeps' durations.
// - No script, no external asset: one inline stylesheet allowed by its hash in
//   STATUS_PAGE_CSP (no style attributes), a meta refresh.
//
// The document carries names containers control (pod and container names,
// comm, resolv.conf contents, DNS reply details): every string is read as
// untrusted whatever its type claims, capped, its control and bidi characters
// shown escaped (\x1b, \u202e), then HTML-escaped. Data attributes
// (data-vantage, data-target, data-transport, data-state) are for tests.
import { createHash } from 'node:crypto';
import { FINDING_CODES } from '../diagnose/finding.js';
import { DECISION_REASON_DESCRIPTIONS } from '../remedy/decision.js';
import { MAX_FIELD, capString, safeJsonStringify, safeText } from '../text/untrusted.js';

/** What a matrix cell shows. */
export const CELL_STATES = ['unhealthy', 'recovering', 'failing', 'healthy', 'skipped', 'none'] as const;
export type CellState = (typeof CELL_STATES)[number];

/** Background colour of each cell state (the integration test compares the rendered ones). */
export const STATE_COLOURS: Readonly<Record<CellState, string>> = {
  unhealthy: '#cf222e',
  recovering: '#f5a3a9',
  failing: '#d4a72c',
  healthy: '#1f883d',
  skipped: '#afb8c1',
  none: '#eaeef2',
};

const STATE_MEANING: Readonly<Record<CellState, string>> = {
  unhealthy: 'unhealthy',
  recovering: 'unhealthy, passing again (not yet successThreshold passes)',
  failing: 'healthy, but the last probe failed (not yet failureThreshold failures)',
  healthy: 'healthy',
  skipped: 'not probed: the vantage is gone or inaccessible',
  none: 'not probed from this vantage',
};

/** Refresh period without a known sweep interval, and its bounds. */
export const DEFAULT_REFRESH_SECONDS = 10;
const MIN_REFRESH_SECONDS = 5;
const MAX_REFRESH_SECONDS = 300;
/** Findings listed (errors first); the rest are counted. */
export const MAX_FINDINGS_SHOWN = 200;
/** Own nameservers shown in one cell (resolvers use 3). */
const MAX_OWN_SHOWN = 4;
/** Queries described in one cell's title. */
const MAX_QUERIES_SHOWN = 8;

// ---------------------------------------------------------------- escaping

// Invisible or direction-changing characters escapeControl leaves alone: the
// Arabic letter mark (a bidi mark), zero-width characters, word joiner and
// invisible operators, the BOM, interlinear annotation marks.
const INVISIBLE = /[\u00ad\u061c\u180e\u200b-\u200d\u2060-\u2064\ufeff\ufff9-\ufffb]/g;

const HTML_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** HTML-escapes text that is already safe to show (ours, or passed through plain()). */
const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);

/** An untrusted value as plain text: capped, control, bidi and invisible characters escaped. Not HTML-escaped. */
function plain(v: unknown, max = MAX_FIELD): string {
  const s = typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : '';
  return safeText(s, max).replace(INVISIBLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * A JSON value pretty-printed as HTML text: JSON escapes C0 controls, safeJsonStringify
 * C1 and bidi characters, then the invisible ones are escaped the same way. Capped.
 */
const jsonText = (v: unknown, max = 4096): string =>
  esc(capString(safeJsonStringify(v, 1), max).replace(INVISIBLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));

/** An untrusted value as HTML text (element content or a double-quoted attribute). */
export const text = (v: unknown, max = MAX_FIELD): string => esc(plain(v, max));

// ---------------------------------------------------------------- reading the document

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const isoMs = (v: unknown): number | null => {
  if (typeof v !== 'string') return null;
  const ms = Date.parse(v);
  return Number.isFinite(ms) ? ms : null;
};

// ---------------------------------------------------------------- formatting

/** "850µs", "12.3ms", "1.25s". */
export function formatSeconds(s: number | null): string {
  if (s === null) return '-';
  if (s < 0.001) return `${Math.round(s * 1e6)}µs`;
  if (s < 1) return `${(s * 1000).toFixed(s < 0.01 ? 2 : 1)}ms`;
  return `${s.toFixed(2)}s`;
}

/** "4s", "3m 12s", "2h 5m", "3d 4h". */
export function formatAge(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/** "2026-11-22 02:32:55Z" from an ISO string; '-' for anything else. */
function formatTime(v: unknown): string {
  const ms = isoMs(v);
  return ms === null
    ? '-'
    : new Date(ms)
        .toISOString()
        .replace('T', ' ')
        .replace(/\.\d+Z$/, 'Z');
}

/** "at 02:32:55Z (4s ago)". */
function when(v: unknown, nowMs: number): string {
  const ms = isoMs(v);
  return ms === null ? '-' : `${formatTime(v)} (${formatAge((nowMs - ms) / 1000)} ago)`;
}

const plural = (n: number, one: string, many = `${one}s`): string => `${n} ${n === 1 ? one : many}`;

/** The refresh period for a sweep interval in seconds (null: unknown). */
export function refreshSeconds(intervalSeconds: number | null): number {
  if (intervalSeconds === null || intervalSeconds <= 0) return DEFAULT_REFRESH_SECONDS;
  return Math.min(MAX_REFRESH_SECONDS, Math.max(MIN_REFRESH_SECONDS, Math.ceil(intervalSeconds)));
}

// ---------------------------------------------------------------- content negotiation

/**
 * True when an Accept header prefers text/html to text/plain: a browser
 * (`text/html,…,*\/*;q=0.8`). curl (`*\/*`), no header, or a tie gets the text index.
 * Each type's weight is the q of the most specific range that matches it (RFC 9110 12.5.1).
 */
export function prefersHtml(accept: string | readonly string[] | undefined): boolean {
  const value = typeof accept === 'string' ? accept : (accept ?? []).join(',');
  const best = new Map<string, { specificity: number; q: number }>();
  const weigh = (type: string, range: string, specificity: number, q: number): void => {
    const [t, sub] = type.split('/');
    const [rt, rsub] = range.split('/');
    if (!(rt === '*' || rt === t) || !(rsub === '*' || rsub === sub)) return;
    const prev = best.get(type);
    if (!prev || specificity > prev.specificity) best.set(type, { specificity, q });
  };
  for (const part of value.slice(0, 4096).split(',').slice(0, 64)) {
    const [range = '', ...params] = part.split(';').map((p) => p.trim().toLowerCase());
    if (!/^[a-z0-9!#$&^_.+-]+\/[a-z0-9!#$&^_.+*-]+$|^\*\/\*$/.test(range)) continue;
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    if (!Number.isFinite(q) || q < 0 || q > 1) continue;
    const specificity = range === '*/*' ? 0 : range.endsWith('/*') ? 1 : 2;
    for (const type of ['text/html', 'text/plain']) weigh(type, range, specificity, q);
  }
  const html = best.get('text/html')?.q ?? 0;
  const plainText = best.get('text/plain')?.q ?? 0;
  return html > 0 && html > plainText;
}

// ---------------------------------------------------------------- the model of the page

interface CheckView {
  query: string;
  state: string;
  since: unknown;
  consecutiveFailures: number | null;
  consecutiveSuccesses: number | null;
  last: Obj;
  /** How old the last result is (the probe budget probes some pairs every few sweeps). */
  ageSeconds: number | null;
  ageSweeps: number | null;
  rotationSweeps: number | null;
  stale: boolean;
}

interface SubCell {
  transport: string;
  state: CellState;
  checks: CheckView[];
}

interface Cell {
  /** The target's ip:port. */
  target: string;
  state: CellState;
  subs: SubCell[];
}

interface Column {
  key: string;
  source: string;
  /** Empty for the "own nameservers" column. */
  target: string;
  name: string | null;
}

interface Row {
  id: string;
  label: string;
  host: boolean;
  status: string;
  vantage: Obj;
  /** Column key → the cells (one for a shared target, one per own nameserver). */
  cells: Map<string, Cell[]>;
  state: CellState;
}

const OWN = 'own';
const RANK: Readonly<Record<CellState, number>> = { unhealthy: 5, recovering: 4, failing: 3, healthy: 2, skipped: 1, none: 0 };
const ROW_ORDER: Readonly<Record<CellState, number>> = { unhealthy: 0, recovering: 1, failing: 2, skipped: 3, healthy: 4, none: 5 };
const worst = (states: readonly CellState[]): CellState => states.reduce<CellState>((a, b) => (RANK[b] > RANK[a] ? b : a), 'none');
const SOURCE_ORDER: Readonly<Record<string, number>> = { 'dns-service': 0, 'coredns-pod': 1, static: 2 };
const TRANSPORT_ORDER = ['udp', 'tcp'];

function checkState(c: CheckView): CellState {
  const ok = c.last.ok === true;
  if (c.state === 'unhealthy') return ok ? 'recovering' : 'unhealthy';
  if (c.state === 'healthy') return ok ? 'healthy' : 'failing';
  return 'none';
}

/** Sorts "10.0.0.2:53" before "10.0.0.10:53". */
const byAddress = (a: string, b: string): number => a.localeCompare(b, 'en', { numeric: true });

function buildMatrix(doc: Obj): { columns: Column[]; rows: Row[]; transports: string[] } {
  const rows = new Map<string, Row>();
  const rowOf = (id: string, label: string, host: boolean, vantage: Obj, status: string): Row => {
    let row = rows.get(id);
    if (!row) {
      row = { id, label, host, status, vantage, cells: new Map(), state: 'none' };
      rows.set(id, row);
    }
    return row;
  };
  for (const raw of arr(doc.vantages)) {
    const v = obj(raw);
    const id = str(v.id) ?? str(v.label) ?? '?';
    rowOf(id, str(v.label) ?? id, v.hostNetwork === true, v, str(v.status) ?? 'probed');
  }
  const columns = new Map<string, Column>();
  const transports = new Set<string>();
  for (const raw of arr(doc.checks)) {
    const c = obj(raw);
    const id = str(c.netns) ?? str(c.vantage) ?? '?';
    const label = str(c.vantage) ?? id;
    const row = rowOf(id, label, label === 'host', {}, 'probed');
    const target = str(c.target) ?? '?';
    const source = str(c.targetSource) ?? 'static';
    const own = source === 'resolv.conf';
    const key = own ? OWN : target;
    if (!columns.has(key)) columns.set(key, { key, source: own ? 'resolv.conf' : source, target: own ? '' : target, name: own ? null : str(c.targetName) });
    const transport = str(c.transport) ?? '?';
    transports.add(transport);
    const cells = row.cells.get(key) ?? [];
    row.cells.set(key, cells);
    let cell = cells.find((x) => x.target === target);
    if (!cell) {
      cell = { target, state: 'none', subs: [] };
      cells.push(cell);
    }
    let sub = cell.subs.find((s) => s.transport === transport);
    if (!sub) {
      sub = { transport, state: 'none', checks: [] };
      cell.subs.push(sub);
    }
    sub.checks.push({
      query: str(c.query) ?? '?',
      state: str(c.state) ?? '?',
      since: c.since,
      consecutiveFailures: num(c.consecutiveFailures),
      consecutiveSuccesses: num(c.consecutiveSuccesses),
      last: obj(c.last),
      ageSeconds: num(c.ageSeconds),
      ageSweeps: num(c.ageSweeps),
      rotationSweeps: num(c.rotationSweeps),
      stale: c.stale === true,
    });
  }
  const transportList = [...transports].sort((a, b) => {
    const ia = TRANSPORT_ORDER.indexOf(a);
    const ib = TRANSPORT_ORDER.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
  for (const row of rows.values()) {
    const states: CellState[] = [];
    for (const cells of row.cells.values()) {
      for (const cell of cells) {
        // Every transport gets a sub-cell, in one order; one the vantage lacks is 'none'.
        cell.subs = transportList.map((t) => {
          const sub = cell.subs.find((s) => s.transport === t) ?? { transport: t, state: 'none' as CellState, checks: [] };
          sub.state = worst(sub.checks.map(checkState));
          return sub;
        });
        cell.state = worst(cell.subs.map((s) => s.state));
        states.push(cell.state);
      }
    }
    // Own nameservers in resolv.conf order when known.
    const order = arr(obj(row.vantage.resolvConf).nameservers).map((n) => String(n));
    row.cells.get(OWN)?.sort((a, b) => {
      const ia = order.findIndex((n) => a.target === n || a.target.startsWith(`${n}:`) || a.target.startsWith(`[${n}]:`));
      const ib = order.findIndex((n) => b.target === n || b.target.startsWith(`${n}:`) || b.target.startsWith(`[${n}]:`));
      return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || byAddress(a.target, b.target);
    });
    row.state = row.status !== 'probed' ? 'skipped' : worst(states);
  }
  const columnList = [...columns.values()].sort((a, b) => {
    if (a.key === OWN || b.key === OWN) return Number(a.key === OWN) - Number(b.key === OWN);
    return (SOURCE_ORDER[a.source] ?? 9) - (SOURCE_ORDER[b.source] ?? 9) || (a.name ?? '').localeCompare(b.name ?? '') || byAddress(a.target, b.target);
  });
  // The host first (the reference), then the vantages in trouble, worst first, then those not probed, then by label.
  const rowList = [...rows.values()].sort(
    (a, b) => Number(b.host) - Number(a.host) || ROW_ORDER[a.state] - ROW_ORDER[b.state] || a.label.localeCompare(b.label),
  );
  return { columns: columnList, rows: rowList, transports: transportList };
}

// ---------------------------------------------------------------- rendering

const STYLE = `
:root{color-scheme:light;font:13px/1.35 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;background:#f6f8fa}
body{margin:0;padding:0 16px 24px}
header{position:sticky;top:0;z-index:5;background:#fff;border-bottom:1px solid #d0d7de;margin:0 -16px;padding:8px 16px;display:flex;flex-wrap:wrap;gap:6px 18px;align-items:center}
h1{font-size:17px;margin:0;font-weight:600}
h1 .node{font-weight:400;color:#59636e}
h2{font-size:14px;margin:18px 0 6px}
.badge{display:inline-block;padding:2px 8px;border-radius:10px;font-weight:600;color:#fff;background:#59636e}
.badge.healthy{background:${STATE_COLOURS.healthy}}.badge.unhealthy{background:${STATE_COLOURS.unhealthy}}.badge.stale,.badge.starting{background:#9a6700}
.reason{color:#59636e;max-width:70ch;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.counts{display:flex;flex-wrap:wrap;gap:4px 14px;list-style:none;margin:0;padding:0;color:#59636e}
.counts b,.summary b{color:#1f2328}
.summary{margin:0 0 4px;color:#59636e}.muted{color:#59636e;font-weight:400}
.banner{margin:10px 0 0;padding:6px 10px;border:1px solid #d4a72c;background:#fff8c5;border-radius:6px}
.legend{display:flex;flex-wrap:wrap;gap:4px 12px;margin:0 0 6px;color:#59636e}
.legend span.s{margin-right:4px}
.scroll{max-height:75vh;overflow:auto;border:1px solid #d0d7de;background:#fff;border-radius:6px;width:fit-content;max-width:100%}
table{border-collapse:separate;border-spacing:0}
.matrix th,.matrix td{padding:2px 4px;border-bottom:1px solid #eaeef2;text-align:left;vertical-align:middle}
.matrix thead th{position:sticky;top:0;z-index:2;background:#f6f8fa;border-bottom:1px solid #d0d7de;font-weight:600;min-width:6.5em;max-width:11em;overflow-wrap:anywhere;vertical-align:bottom}
.matrix thead th small{display:block;font-weight:400;color:#59636e;font:11px ui-monospace,monospace}
.matrix tbody th{position:sticky;left:0;z-index:1;background:#fff;font-weight:400;max-width:22em;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;border-right:1px solid #d0d7de}
.matrix thead th.corner{left:0;z-index:3;border-right:1px solid #d0d7de}
.matrix tr.host th{font-weight:600}
.matrix td.gone{color:#59636e;font-style:italic}
.ns{display:flex;gap:3px;align-items:center;white-space:nowrap}
.ns+.ns{margin-top:2px}
.addr{font:11px ui-monospace,monospace;color:#59636e;min-width:7.5em}
.s{display:inline-block;min-width:2.4em;padding:0 2px;margin:1px 1px;border-radius:3px;text-align:center;font:11px/16px ui-monospace,monospace;color:#fff}
.s.healthy{background:${STATE_COLOURS.healthy}}
.s.unhealthy{background:${STATE_COLOURS.unhealthy};font-weight:700}
.s.recovering{background:${STATE_COLOURS.recovering};color:#1f2328}
.s.failing{background:${STATE_COLOURS.failing};color:#1f2328}
.s.skipped{background:${STATE_COLOURS.skipped};color:#1f2328}
.s.none{background:${STATE_COLOURS.none};color:#8c959f}
.stale .matrix .s{opacity:.5}
.list{background:#fff;border:1px solid #d0d7de;border-radius:6px;width:100%}
.list th,.list td{padding:4px 8px;border-bottom:1px solid #eaeef2;text-align:left;vertical-align:top}
.list th{background:#f6f8fa;font-weight:600}
.list.sweeps{width:auto}.mono{white-space:nowrap}
.sev{font-weight:600;text-transform:uppercase;font-size:11px}
.sev.error{color:${STATE_COLOURS.unhealthy}}.sev.warning{color:#9a6700}.sev.info{color:#59636e}
.explain{color:#59636e;font-size:12px;margin-top:2px}
details summary{cursor:pointer;color:#59636e;font-size:12px}
pre{white-space:pre-wrap;word-break:break-all;margin:4px 0;font:11px ui-monospace,monospace}
code,.mono{font-family:ui-monospace,monospace;font-size:12px}
dl{display:grid;grid-template-columns:max-content 1fr;max-width:80em;gap:2px 12px;margin:0;background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:8px}
dt{color:#59636e}dd{margin:0}
.bar{display:inline-block;height:8px;background:#54aeff;border-radius:2px;vertical-align:middle}
${Array.from({ length: 21 }, (_, i) => `.w${i}{width:${i * 6}px}`).join('')}
.none-yet{color:#59636e;font-style:italic}
footer{margin-top:18px;color:#59636e}
a{color:#0969da}
`.trim();

/** The Content-Security-Policy of the page: nothing but its own stylesheet (by hash) and data: images. */
export const STATUS_PAGE_CSP = [
  "default-src 'none'",
  `style-src 'sha256-${createHash('sha256').update(STYLE).digest('base64')}'`,
  'img-src data:',
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

function subCellTitle(vantage: string, target: string, sub: SubCell, nowMs: number): string {
  const lines = [`${plain(sub.transport, 16)} to ${plain(target)} from ${plain(vantage)}: ${STATE_MEANING[sub.state]}`];
  for (const c of sub.checks.slice(0, MAX_QUERIES_SHOWN)) {
    const l = c.last;
    const since = isoMs(c.since);
    const streak = c.state === 'unhealthy' ? c.consecutiveFailures : c.state === 'healthy' && l.ok !== true ? c.consecutiveFailures : c.consecutiveSuccesses;
    lines.push(
      `${plain(c.query)}: ${plain(c.state, 32)}${since === null ? '' : ` since ${formatTime(c.since)} (${formatAge((nowMs - since) / 1000)})`}` +
        (streak === null ? '' : `, ${streak} ${l.ok === true ? 'pass' : 'failure'}${streak === 1 ? '' : l.ok === true ? 'es' : 's'} in a row`),
      `  last: ${plain(l.reason, 32) || '-'}, rcode ${plain(l.rcode, 32) || '-'}, rtt ${formatSeconds(num(l.rttSeconds))}` +
        `${num(l.attempts) === null ? '' : `, ${plural(num(l.attempts)!, 'attempt')}`}${l.truncated === true ? ', truncated' : ''}, at ${formatTime(l.at)}` +
        (c.ageSeconds === null ? '' : ` (${formatAge(c.ageSeconds)} ago${c.ageSweeps === null ? '' : `, ${plural(c.ageSweeps, 'sweep')}`})`),
    );
    if (c.rotationSweeps !== null && c.rotationSweeps > 1) lines.push(`  probed at least every ${c.rotationSweeps} sweeps (probe budget)`);
    if (c.stale) lines.push('  STALE: not probed for more than twice its rotation');
    if (l.detail !== undefined && l.detail !== null) lines.push(`  detail: ${plain(l.detail)}`);
  }
  if (sub.checks.length > MAX_QUERIES_SHOWN) lines.push(`…and ${sub.checks.length - MAX_QUERIES_SHOWN} more queries`);
  return esc(lines.join('\n'));
}

/** data-age: the oldest last result of the sub-cell's checks, in seconds; data-stale when one is stale. */
function ageAttr(sub: SubCell): string {
  const ages = sub.checks.map((c) => c.ageSeconds).filter((a): a is number => a !== null);
  const age = ages.length ? ` data-age="${Math.round(Math.max(...ages))}"` : '';
  return `${age}${sub.checks.some((c) => c.stale) ? ' data-stale="true"' : ''}`;
}

function renderSubCells(row: Row, column: Column, cell: Cell, nowMs: number): string {
  return cell.subs
    .map(
      (s) =>
        `<span class="s ${s.state}" data-vantage="${text(row.label)}" data-target="${text(cell.target)}" data-column="${text(column.key)}" ` +
        `data-transport="${text(s.transport, 16)}" data-state="${s.state}" title="${subCellTitle(row.label, cell.target, s, nowMs)}"${ageAttr(s)}>${text(s.transport, 8)}</span>`,
    )
    .join('');
}

/** "10.96.0.10" for "10.96.0.10:53", the label otherwise. */
const shortAddress = (target: string): string => target.replace(/^\[(.*)\]:53$/, '$1').replace(/^([^:[\]]+):53$/, '$1');

function renderRow(row: Row, columns: readonly Column[], nowMs: number): string {
  const v = row.vantage;
  const rc = obj(v.resolvConf);
  const about = [
    `vantage ${plain(row.label)}`,
    `netns ${plain(row.id)}`,
    ...(str(v.source) === null ? [] : [`found by ${plain(v.source, 32)}`]),
    ...(num(v.pid) === null ? [] : [`pid ${num(v.pid)}`]),
    ...(str(v.comm) === null ? [] : [`comm ${plain(v.comm)}`]),
    ...(arr(v.containers).length
      ? [
          `containers ${arr(v.containers)
            .slice(0, 17)
            .map((c) => plain(c, 64))
            .join(', ')}`,
        ]
      : []),
    ...(arr(rc.nameservers).length
      ? [
          `nameservers ${arr(rc.nameservers)
            .slice(0, 16)
            .map((n) => plain(n, 64))
            .join(', ')}`,
        ]
      : []),
    ...(rc.error !== undefined && rc.error !== null ? [`resolv.conf: ${plain(rc.error)}`] : []),
    ...arr(rc.warnings)
      .slice(0, 8)
      .map((w) => `resolv.conf: ${plain(w)}`),
    ...(row.status === 'probed' ? [] : [`${plain(row.status, 32)}${v.detail === undefined ? '' : `: ${plain(v.detail)}`}`]),
  ].join('\n');
  const head = `<th scope="row" title="${esc(about)}">${text(row.label)}</th>`;
  const attrs = `class="${row.host ? 'host ' : ''}${row.state}" data-vantage="${text(row.label)}" data-vantage-id="${text(row.id)}" data-state="${row.state}"`;
  if (row.status !== 'probed') {
    return `<tr ${attrs}>${head}<td class="gone" colspan="${Math.max(1, columns.length)}" data-state="skipped">${text(row.status, 32)}${
      v.detail === undefined ? '' : `: ${text(v.detail, 120)}`
    }</td></tr>`;
  }
  const tds = columns.map((col) => {
    const cells = row.cells.get(col.key) ?? [];
    if (col.key !== OWN) {
      const cell = cells[0];
      return cell
        ? `<td data-column="${text(col.key)}" data-state="${cell.state}">${renderSubCells(row, col, cell, nowMs)}</td>`
        : `<td data-column="${text(col.key)}" data-state="none"></td>`;
    }
    if (cells.length === 0) return `<td data-column="${OWN}" data-state="none"></td>`;
    const shown = cells.slice(0, MAX_OWN_SHOWN);
    const more = cells.length - shown.length;
    return `<td data-column="${OWN}" data-state="${worst(cells.map((c) => c.state))}">${shown
      .map((cell) => `<div class="ns"><span class="addr">${text(shortAddress(cell.target), 48)}</span>${renderSubCells(row, col, cell, nowMs)}</div>`)
      .join('')}${more > 0 ? `<div class="addr">+${more} more</div>` : ''}</td>`;
  });
  return `<tr ${attrs}>${head}${tds.join('')}</tr>`;
}

function columnHead(col: Column): string {
  if (col.key === OWN) {
    return `<th data-column="${OWN}" title="each vantage's own resolv.conf nameservers (those not also a Service, CoreDNS pod or configured target)">own nameservers<small>resolv.conf</small></th>`;
  }
  const kind =
    col.source === 'dns-service' ? 'Service' : col.source === 'coredns-pod' ? 'CoreDNS' : col.source === 'static' ? 'configured' : plain(col.source, 32);
  // Named without the namespace in the narrow header (the title has it all), what it is and its address below.
  const name = col.name === null ? null : col.name.slice(col.name.indexOf('/') + 1);
  const title = `${kind}${col.name === null ? '' : ` ${plain(col.name)}`}\n${plain(col.target)} (${plain(col.source, 32)})`;
  return `<th data-column="${text(col.key)}" data-target="${text(col.target)}" data-target-source="${text(col.source, 32)}" title="${esc(title)}">${
    name === null ? `${esc(kind)}<small>` : `${text(name, 64)}<small>${esc(kind)} `
  }${text(col.target, 64)}</small></th>`;
}

function renderMatrix(doc: Obj, nowMs: number): { html: string; counts: MatrixCounts } {
  const { columns, rows, transports } = buildMatrix(doc);
  const counts: MatrixCounts = {
    vantages: rows.length,
    troubled: 0,
    skipped: 0,
    cells: 0,
    byState: Object.fromEntries(CELL_STATES.map((s) => [s, 0])) as Record<CellState, number>,
  };
  for (const r of rows) {
    if (r.state === 'skipped') counts.skipped++;
    else if (RANK[r.state] >= RANK.failing) counts.troubled++;
    for (const cells of r.cells.values())
      for (const c of cells)
        for (const s of c.subs) {
          counts.cells++;
          counts.byState[s.state]++;
        }
  }
  if (rows.length === 0) return { html: '<p class="none-yet">No vantage yet: waiting for the first sweep.</p>', counts };
  const legend = `<div class="legend">${(['healthy', 'failing', 'unhealthy', 'recovering', 'skipped', 'none'] as const)
    .map((s) => `<span title="${esc(STATE_MEANING[s])}"><span class="s ${s}">${s === 'none' ? '–' : '&nbsp;'}</span>${s === 'none' ? 'not probed' : s}</span>`)
    .join('')}<span>· one cell per transport (${transports.map((t) => text(t, 16)).join(', ')}); hover a cell for its last result</span></div>`;
  const summary = `<p class="summary" data-summary="matrix">${plural(rows.length, 'vantage')}: <b data-count="vantages-troubled">${counts.troubled}</b> with failing checks, ${
    counts.skipped
  } not probed · ${plural(counts.cells, 'cell')}: ${CELL_STATES.filter((s) => counts.byState[s] > 0)
    .map((s) => `<span data-count="cells-${s}">${counts.byState[s]} ${s === 'none' ? 'not probed' : s}</span>`)
    .join(', ')}</p>`;
  const head = `<thead><tr><th class="corner">vantage \\ target</th>${columns.map(columnHead).join('')}</tr></thead>`;
  const body = `<tbody>${rows.map((r) => renderRow(r, columns, nowMs)).join('')}</tbody>`;
  return {
    html: `${summary}${legend}<div class="scroll"><table class="matrix" data-rows="${rows.length}" data-columns="${columns.length}" data-cells="${counts.cells}">${head}${body}</table></div>`,
    counts,
  };
}

interface MatrixCounts {
  vantages: number;
  troubled: number;
  skipped: number;
  cells: number;
  byState: Record<CellState, number>;
}

const SEVERITY_ORDER: Readonly<Record<string, number>> = { error: 0, warning: 1, info: 2 };

function renderFindings(doc: Obj): string {
  const all = arr(doc.findings).map(obj);
  if (all.length === 0) return `<h2 id="findings">Findings</h2><p class="none-yet" data-findings="0">No active finding.</p>`;
  const sorted = [...all].sort((a, b) => (SEVERITY_ORDER[str(a.severity) ?? ''] ?? 3) - (SEVERITY_ORDER[str(b.severity) ?? ''] ?? 3));
  const shown = sorted.slice(0, MAX_FINDINGS_SHOWN);
  const rows = shown.map((f) => {
    const code = str(f.code) ?? '';
    const description = Object.hasOwn(FINDING_CODES, code) ? FINDING_CODES[code as keyof typeof FINDING_CODES].description : '';
    const severity = str(f.severity) ?? '';
    const sevClass = Object.hasOwn(SEVERITY_ORDER, severity) ? severity : 'info';
    const evidence = f.evidence === undefined ? '' : `<details><summary>evidence</summary><pre>${jsonText(f.evidence)}</pre></details>`;
    return (
      `<tr data-code="${text(code, 64)}" data-severity="${sevClass}"><td><span class="sev ${sevClass}">${text(severity, 16)}</span></td>` +
      `<td>${text(f.where)}</td><td><code>${text(code, 64)}</code></td>` +
      `<td>${text(f.message, 1024)}${description ? `<div class="explain">${esc(description)}</div>` : ''}${evidence}</td></tr>`
    );
  });
  const more = all.length - shown.length;
  return (
    `<h2 id="findings">Findings <span class="muted">(${all.length} active)</span></h2>` +
    `<table class="list findings" data-findings="${all.length}"><thead><tr><th>severity</th><th>where</th><th>code</th><th>what and why</th></tr></thead><tbody>${rows.join('')}</tbody></table>` +
    (more > 0 ? `<p class="none-yet">…and ${more} more in <a href="status">/status</a>.</p>` : '')
  );
}

function renderRemedy(doc: Obj, nowMs: number): string {
  const kube = obj(doc.kubernetes);
  const remedy = obj(doc.remedy);
  const conn = obj(kube.connection);
  const items: [string, string][] = [
    [
      'Kubernetes',
      kube.enabled === true ? `connected through ${text(conn.source, 32)}${conn.server === undefined ? '' : ` to ${text(conn.server)}`}` : 'not used',
    ],
  ];
  if (conn.detail !== undefined && conn.detail !== null) items.push(['connection', text(conn.detail, 512)]);
  items.push(['remedy', `${text(remedy.mode, 32) || 'off'}${remedy.active === true ? ' (active)' : ' (inactive)'}`]);
  if (remedy.reason !== undefined) items.push(['why', text(remedy.reason, 512)]);
  const acting = obj(remedy.acting);
  if (remedy.acting !== undefined) items.push(['acting', `${text(acting.action, 32)} ${text(acting.target)} since ${esc(when(acting.since, nowMs))}`]);
  const failed = arr(remedy.failedSweeps).map(obj);
  if (failed.length)
    items.push([
      'failing CoreDNS pods',
      failed
        .slice(0, 16)
        .map((f) => `${text(f.pod)}: ${plural(num(f.count) ?? 0, 'sweep')}`)
        .join('<br>'),
    ]);
  if (num(remedy.actionsLastHour) !== null) items.push(['actions in the last hour', String(num(remedy.actionsLastHour))]);
  const cooldowns = arr(remedy.cooldowns).map(obj);
  if (cooldowns.length)
    items.push([
      'cooldowns',
      cooldowns
        .slice(0, 16)
        .map((c) => `${text(c.target)} until ${esc(formatTime(c.until))}`)
        .join('<br>'),
    ]);
  const cond = obj(remedy.nodeCondition);
  if (remedy.nodeCondition !== undefined)
    items.push(['node condition', `${cond.enabled === true ? 'on' : 'off'}${cond.detail === undefined ? '' : `: ${text(cond.detail)}`}`]);
  if (num(remedy.eventsWritten) !== null) items.push(['Events written', String(num(remedy.eventsWritten))]);
  const dl = `<dl data-remedy-mode="${text(remedy.mode, 32)}">${items.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('')}</dl>`;

  const decisions = arr(remedy.recentDecisions).map(obj).reverse();
  const table =
    decisions.length === 0
      ? '<p class="none-yet" data-decisions="0">No remedy decision yet.</p>'
      : `<table class="list decisions" data-decisions="${decisions.length}"><thead><tr><th>at</th><th>action</th><th>result</th><th>reason</th><th>target</th><th>message</th></tr></thead><tbody>${decisions
          .slice(0, 50)
          .map((d) => {
            const reason = str(d.reason) ?? '';
            const why = Object.hasOwn(DECISION_REASON_DESCRIPTIONS, reason)
              ? DECISION_REASON_DESCRIPTIONS[reason as keyof typeof DECISION_REASON_DESCRIPTIONS]
              : '';
            return `<tr data-result="${text(d.result, 32)}"><td class="mono">${esc(formatTime(d.at))}</td><td>${text(d.action, 32)}</td><td>${text(d.result, 32)}</td><td title="${esc(why)}">${text(reason, 64)}</td><td>${text(d.target)}</td><td>${text(d.message, 1024)}</td></tr>`;
          })
          .join('')}</tbody></table>`;
  return `<h2 id="remedy">Remedy</h2>${dl}<h2>Recent decisions</h2>${table}`;
}

function renderSweeps(doc: Obj, nowMs: number): string {
  const sweep = obj(doc.sweep);
  const recent = arr(sweep.recent).map(obj).slice(-20).reverse();
  const max = Math.max(0, ...recent.map((s) => num(s.durationSeconds) ?? 0));
  const table =
    recent.length === 0
      ? '<p class="none-yet" data-sweeps="0">No sweep has completed yet.</p>'
      : `<table class="list sweeps" data-sweeps="${recent.length}"><thead><tr><th>sweep</th><th>completed</th><th>duration</th><th></th></tr></thead><tbody>${recent
          .map((s) => {
            const d = num(s.durationSeconds);
            const w = d === null || max <= 0 ? 0 : Math.max(1, Math.round((d / max) * 20));
            return `<tr><td class="mono">#${num(s.number) ?? '?'}</td><td class="mono">${esc(when(s.completedAt, nowMs))}</td><td class="mono">${formatSeconds(d)}</td><td><span class="bar w${w}"></span></td></tr>`;
          })
          .join('')}</tbody></table>`;
  const diagnosis = obj(doc.diagnosis);
  const dlast = obj(diagnosis.last);
  const discovery = obj(doc.discovery);
  const config = obj(doc.config);
  const items: [string, string][] = [
    ['sweeps completed', String(num(sweep.completed) ?? 0)],
    ['running now', sweep.running === true ? 'yes' : 'no'],
  ];
  if (num(sweep.intervalSeconds) !== null) items.push(['interval', formatSeconds(num(sweep.intervalSeconds))]);
  if (diagnosis.last !== undefined && diagnosis.last !== null)
    items.push([
      'last diagnosis',
      `sweep #${num(dlast.sweep) ?? '?'}, ${formatSeconds(num(dlast.durationSeconds))}${dlast.error ? `, failed: ${text(dlast.error, 512)}` : ''}`,
    ]);
  if (num(diagnosis.skippedSweeps)) items.push(['diagnoses skipped', String(num(diagnosis.skippedSweeps))]);
  if (discovery.docker !== undefined) items.push(['Docker', text(discovery.docker, 512)]);
  if (num(discovery.scanErrors)) items.push(['/proc scan errors', String(num(discovery.scanErrors))]);
  items.push([
    'configuration',
    `${config.file === null || config.file === undefined ? 'defaults' : text(config.file, 512)}${config.lastReloadSuccessful === false ? ' (the last reload failed)' : ''}`,
  ]);
  return `<h2 id="sweeps">Sweeps</h2>${table}<h2>Daemon</h2><dl>${items.map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('')}</dl>`;
}

export interface StatusPageOptions {
  /** The node's name when /status does not say (kubernetes.node). */
  hostname?: string;
}

/** The status page for a /status document (any JSON value: every field is checked). */
export function renderStatusPage(document: unknown, options: StatusPageOptions = {}): string {
  const doc = obj(document);
  const nowMs = isoMs(doc.now) ?? 0;
  const sweep = obj(doc.sweep);
  const last = sweep.last === null || sweep.last === undefined ? null : obj(sweep.last);
  const all = obj(obj(doc.health).all);
  const age = last === null ? null : num(last.ageSeconds);
  const staleAfter = num(sweep.staleAfterSeconds);
  const staleChecks = str(all.reason)?.startsWith('stale checks') ?? false;
  const stale =
    last !== null && ((age !== null && staleAfter !== null && age > staleAfter) || ((str(all.reason)?.startsWith('stale') ?? false) && !staleChecks));
  const health = last === null ? 'starting' : all.healthy === true ? 'healthy' : stale || staleChecks ? 'stale' : 'unhealthy';
  const node = str(obj(doc.kubernetes).node) ?? options.hostname ?? 'this node';
  const refresh = refreshSeconds(num(sweep.intervalSeconds));
  const matrix = renderMatrix(doc, nowMs);
  const findings = arr(doc.findings).map(obj);
  const sev = (s: string): number => findings.filter((f) => f.severity === s).length;
  const override = str(doc.override);

  const banners: string[] = [];
  if (last === null) banners.push('No sweep has completed yet: the first results appear on the next refresh.');
  if (stale) banners.push(`The last sweep completed ${formatAge(age ?? 0)} ago: these results are stale (the sweep loop may be stuck).`);
  if (staleChecks) banners.push("Some checks were not probed for more than twice their rotation: the probe budget's rotation is stuck (see /status).");
  if (override !== null && override !== 'none')
    banners.push(`health.override is "${text(override, 32)}": the health URLs answer that whatever the checks say.`);

  const counts = [
    `<li data-count="vantages"><b>${matrix.counts.vantages}</b> vantages</li>`,
    `<li data-count="checks"><b>${num(all.checks) ?? 0}</b> checks, <b data-count="unhealthy">${num(all.unhealthy) ?? 0}</b> unhealthy</li>`,
    `<li data-count="findings"><b>${findings.length}</b> findings (${plural(sev('error'), 'error')}, ${plural(sev('warning'), 'warning')}, ${sev('info')} info)</li>`,
    last === null
      ? '<li>no sweep yet</li>'
      : `<li>sweep <b>#${num(last.number) ?? '?'}</b> took ${formatSeconds(num(last.durationSeconds))}, ${formatAge(age ?? 0)} ago</li>`,
  ];
  const plan = sweep.plan === undefined || sweep.plan === null ? null : obj(sweep.plan);
  if (plan !== null) {
    const k = num(plan.rotationSweeps);
    counts.push(
      `<li data-count="budget">budget <b>${num(plan.budgetQueries) ?? '-'}</b> queries a sweep, <b>${num(plan.sentQueries) ?? 0}</b> sent, ` +
        `${plural(num(plan.plannedPairs) ?? 0, 'pair')} probed, ${num(plan.skippedPairs) ?? 0} left for later; ${k === null ? '<b>some pairs never probed</b> (the budget is too small)' : `every pair at least every <b>${plural(k, 'sweep')}</b>`}</li>`,
    );
  }

  return `<!DOCTYPE html>
<html lang="en" dir="ltr">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="${refresh}">
<title>${text(node, 64)} · ${health} · coredns-healthd</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body class="${stale ? 'stale' : ''}" data-health="${health}" data-refresh="${refresh}">
<header>
<h1>coredns-healthd <span class="node"><bdi>${text(node, 128)}</bdi></span></h1>
<span class="badge ${health}" data-health="${health}">${health}</span>
<span class="reason" title="${text(all.reason, 1024)}">${text(all.reason, 1024)}</span>
<ul class="counts">${counts.join('')}</ul>
</header>
${banners.map((b) => `<p class="banner">${b}</p>`).join('\n')}
<main>
<h2 id="matrix">DNS from every vantage</h2>
${matrix.html}
${renderFindings(doc)}
${renderRemedy(doc, nowMs)}
${renderSweeps(doc, nowMs)}
</main>
<footer>coredns-healthd ${text(doc.version, 64)} · started ${esc(when(doc.startedAt, nowMs))} · rendered ${esc(formatTime(doc.now))} · refreshes every ${refresh}s · <a href="status">/status</a> (JSON) · <a href="metrics">/metrics</a></footer>
</body>
</html>
`;
}
