// The observability bundle (packaging/prometheus/alerts.yml,
// packaging/grafana/coredns-healthd.json): promtool accepts the rules and
// their unit tests pass, every dashboard query is valid PromQL, and every
// coredns_healthd_* metric and label they use is one the daemon exports
// (src/metrics/definitions.ts).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { METRICS, type MetricDef } from '../../src/metrics/definitions.js';
import { tryRun, which } from '../support/run.js';
import { REPO } from '../support/paths.js';

const ROOT = REPO;
const ALERTS = path.join(ROOT, 'packaging', 'prometheus', 'alerts.yml');
const ALERT_TESTS = path.join(ROOT, 'packaging', 'prometheus', 'alerts.test.yml');
const DASHBOARD = path.join(ROOT, 'packaging', 'grafana', 'coredns-healthd.json');

/** Labels Prometheus adds to every scraped series. */
const TARGET_LABELS = ['job', 'instance'];
const BY_NAME = new Map<string, MetricDef>(Object.values(METRICS).map((m) => [m.name, m]));

/** The metric a series name belongs to: histograms expose name_bucket, name_sum, name_count. */
function metricOf(series: string): MetricDef | undefined {
  const direct = BY_NAME.get(series);
  if (direct) return direct;
  const m = /^(.*)_(bucket|sum|count)$/.exec(series);
  const base = m ? BY_NAME.get(m[1] as string) : undefined;
  return base?.type === 'histogram' ? base : undefined;
}

/** Every `coredns_healthd_x{...}` selector in a PromQL expression: the name and the label names it matches on. */
export function selectors(expr: string): { name: string; labels: string[] }[] {
  const out: { name: string; labels: string[] }[] = [];
  // Not inside a recording rule's name (level:coredns_healthd_x:operation).
  for (const m of expr.matchAll(/(?<![\w:])(coredns_healthd_[a-z0-9_]+)(?![\w:])\s*(\{([^}]*)\})?/g)) {
    const labels = [...(m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)/g)].map((l) => l[1] as string);
    out.push({ name: m[1] as string, labels });
  }
  return out;
}

/** Label names in `by (...)` / `on (...)` clauses that follow a use of the metric in the same expression. */
function groupingLabels(expr: string): string[] {
  return [...expr.matchAll(/\b(?:by|on|ignoring|without)\s*\(([^)]*)\)/g)].flatMap((m) =>
    (m[1] as string)
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
}

/**
 * The recording rules of alerts.yml: name -> the labels its series keep (those of its
 * expression's `by (...)`).
 */
const RECORDED = new Map<string, string[]>(
  [...fs.readFileSync(ALERTS, 'utf8').matchAll(/- record: (\S+)\n\s+expr: \|\n((?:\s{10}.*\n)+)/g)].map((m) => [
    m[1] as string,
    groupingLabels(/\bby\s*\([^)]*\)/.exec(m[2] as string)?.[0] ?? ''),
  ]),
);

function checkExpr(t: Test, where: string, expr: string): void {
  const used = selectors(expr);
  const known = new Set(TARGET_LABELS);
  for (const m of expr.matchAll(/(?<![\w:])([a-z_][a-z0-9_]*:[a-z0-9_:]+)\s*(\{([^}]*)\})?/g)) {
    const labels = RECORDED.get(m[1] as string);
    t.ok(labels, `${where}: ${m[1]} is a recording rule of alerts.yml`);
    for (const l of labels ?? []) known.add(l);
    const matched = [...(m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)/g)].map((l) => l[1] as string);
    t.same(
      matched.filter((l) => !(labels ?? []).includes(l)),
      [],
      `${where}: ${m[1]} has the labels it is matched on`,
    );
  }
  for (const { name, labels } of used) {
    const def = metricOf(name);
    t.ok(def, `${where}: ${name} is a metric the daemon exports`);
    if (!def) continue;
    for (const l of def.labels) known.add(l);
    if (def.type === 'histogram') known.add('le');
    const unknown = labels.filter((l) => !TARGET_LABELS.includes(l) && !def.labels.includes(l));
    t.same(unknown, [], `${where}: ${name} has the labels it is matched on`);
  }
  if ((used.length || RECORDED.size) && !/\bup\b/.test(expr)) {
    const unknownGroup = groupingLabels(expr).filter((l) => !known.has(l));
    t.same(unknownGroup, [], `${where}: grouping labels exist on its metrics`);
  }
}

t.test('promtool check rules: the alerting rules are valid', async (t) => {
  const r = await tryRun(which('promtool'), ['check', 'rules', ALERTS]);
  t.equal(r.code, 0, `promtool check rules (${r.stderr.trim()})`);
  t.match(r.stdout, /SUCCESS: \d+ rules found/);
});

t.test('promtool test rules: every alert fires when it should, and only then', async (t) => {
  const r = await tryRun(which('promtool'), ['test', 'rules', ALERT_TESTS], { timeoutMs: 120_000 });
  t.equal(r.code, 0, `promtool test rules:\n${r.stdout}${r.stderr}`);
  const alerts = [...fs.readFileSync(ALERTS, 'utf8').matchAll(/^\s*- alert: (\S+)/gm)].map((m) => m[1] as string);
  const tested = new Set([...fs.readFileSync(ALERT_TESTS, 'utf8').matchAll(/alertname: (\S+)/g)].map((m) => m[1] as string));
  t.ok(alerts.length >= 4, `${alerts.length} alerts`);
  t.same(
    alerts.filter((a) => !tested.has(a)),
    [],
    'every alert has a test case',
  );
  for (const needed of [
    'CoreDNSHealthdHostCannotResolve',
    'CoreDNSHealthdNodePodsCannotResolve',
    'CoreDNSHealthdPodCannotResolve',
    'CoreDNSHealthdUDPFailsTCPWorks',
    'CoreDNSHealthdRemedyActed',
    'CoreDNSHealthdDown',
    'CoreDNSHealthdStale',
  ]) {
    t.ok(alerts.includes(needed), `the rules include ${needed}`);
  }
});

t.test('the alerting rules use only exported metrics and labels', async (t) => {
  const text = fs.readFileSync(ALERTS, 'utf8');
  const exprs = [...text.matchAll(/expr: \|\n((?:\s{10}.*\n)+)/g)].map((m) => (m[1] as string).trim());
  t.ok(exprs.length >= 4, `${exprs.length} expressions`);
  t.same([...RECORDED.keys()], ['instance_vantage:coredns_healthd_check_healthy:max', 'instance:coredns_healthd_pods_without_dns:ratio']);
  t.same(RECORDED.get('instance_vantage:coredns_healthd_check_healthy:max'), ['job', 'instance', 'vantage']);
  exprs.forEach((e, i) => checkExpr(t, `rule ${i + 1}`, e));
});

interface Panel {
  id: number;
  type: string;
  title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type: string; uid: string };
  targets?: { expr: string; refId: string }[];
}

const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8')) as {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: Panel[];
  templating: { list: { name: string; query: unknown }[] };
  annotations: { list: { expr?: string }[] };
};

/** Grafana variables replaced by values that make the expression plain PromQL. */
const plain = (expr: string): string => expr.replace(/\$__rate_interval|\$__interval|\$__range/g, '5m').replace(/\$(job|node|vantage)\b/g, '.*');

t.test('the dashboard is well formed', async (t) => {
  t.equal(dashboard.uid, 'coredns-healthd');
  t.ok(dashboard.title);
  t.ok(dashboard.schemaVersion >= 36, 'a current schema');
  const ids = dashboard.panels.map((p) => p.id);
  t.equal(new Set(ids).size, ids.length, 'panel ids are unique');
  t.same(
    dashboard.templating.list.map((v) => v.name),
    ['datasource', 'job', 'node', 'vantage'],
    'variables: data source, job, node, pod',
  );
  const cells = new Map<string, string>();
  for (const p of dashboard.panels) {
    const { x, y, w, h } = p.gridPos;
    t.ok(x >= 0 && w > 0 && x + w <= 24, `${p.title}: within the 24 columns`);
    for (let i = x; i < x + w; i++) {
      for (let j = y; j < y + h; j++) {
        const key = `${i},${j}`;
        if (cells.has(key)) t.fail(`${p.title} overlaps ${cells.get(key)}`);
        cells.set(key, p.title);
      }
    }
    if (p.type === 'row') continue;
    t.same(p.datasource, { type: 'prometheus', uid: '${datasource}' }, `${p.title}: uses the data source variable`);
    t.ok(p.targets?.length, `${p.title}: has queries`);
  }
  const titles = dashboard.panels.map((p) => p.title).join(' | ');
  for (const want of [
    /success by node/i,
    /latency by node/i,
    /healthy checks by pod/i,
    /latency by target/i,
    /findings/i,
    /remed/i,
    /no quorum/i,
    /partition/i,
  ])
    t.match(titles, want);
});

t.test('every dashboard query is valid PromQL on exported metrics and labels', async (t) => {
  const exprs: { where: string; expr: string }[] = [];
  for (const p of dashboard.panels) for (const q of p.targets ?? []) exprs.push({ where: `${p.title} (${q.refId})`, expr: q.expr });
  dashboard.annotations.list.forEach((a, i) => a.expr && exprs.push({ where: `annotation ${i}`, expr: a.expr }));
  for (const v of dashboard.templating.list) {
    const q = (v.query as { query?: string } | string | undefined) ?? '';
    const text = typeof q === 'string' ? q : (q.query ?? '');
    const m = /^label_values\((.*),\s*([a-z_]+)\)$/.exec(text);
    if (m) {
      exprs.push({ where: `variable ${v.name}`, expr: m[1] as string });
      const def = selectors(m[1] as string)[0];
      const metric = def ? metricOf(def.name) : undefined;
      t.ok(metric && [...metric.labels, ...TARGET_LABELS].includes(m[2] as string), `variable ${v.name}: ${m[2]} is a label of ${def?.name}`);
    }
  }
  t.ok(exprs.length > 20, `${exprs.length} queries`);
  for (const { where, expr } of exprs) checkExpr(t, where, plain(expr));

  // promtool parses them as the expressions of recording rules.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chz-dash-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const rules = exprs.map(({ expr }, i) => `      - record: dashboard:query_${i}\n        expr: ${JSON.stringify(plain(expr))}`).join('\n');
  fs.writeFileSync(path.join(dir, 'rules.yml'), `groups:\n  - name: dashboard\n    rules:\n${rules}\n`);
  const r = await tryRun(which('promtool'), ['check', 'rules', path.join(dir, 'rules.yml')]);
  t.equal(r.code, 0, `promtool parses every query:\n${r.stdout}${r.stderr}`);
});
