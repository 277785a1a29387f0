// The status page at /: the renderer on /status documents built the way the
// daemon builds them (HealthModel → statusDocument → daemonStatus), hostile
// names escaped, a 110-vantage node, and the content negotiation of /.
import { createHash } from 'node:crypto';
import http from 'node:http';
import { hostname } from 'node:os';
import t, { type Test } from 'tap';
import { daemonStatus } from '../../src/daemon/status.js';
import type { FindingJson } from '../../src/diagnose/format.js';
import { HealthModel } from '../../src/health/model.js';
import { statusDocument, RECENT_SWEEPS, type SweepInfo } from '../../src/health/status.js';
import { evaluateAll } from '../../src/health/verdict.js';
import { createHandler, INDEX, type HttpApp } from '../../src/http/routes.js';
import { HttpServer } from '../../src/http/server.js';
import {
  CELL_STATES,
  DEFAULT_REFRESH_SECONDS,
  formatAge,
  formatSeconds,
  MAX_FINDINGS_SHOWN,
  prefersHtml,
  refreshSeconds,
  renderStatusPage,
  STATUS_PAGE_CSP,
  text,
} from '../../src/http/status-page.js';
import type { Reason, SweepRow, Target, Transport, Vantage } from '../../src/model.js';
import type { RemedyDecision } from '../../src/remedy/decision.js';
import { HOST, QUERY, report, result, vantage } from '../support/daemon-fixtures.js';

const NOW = new Date('2024-05-01T12:00:10Z');
const SERVICE: Target = { server: '10.96.0.10', port: 53, source: 'dns-service', label: 'kube-system/kube-dns' };
const COREDNS: Target[] = [5, 6, 7].map((n) => ({ server: `10.244.0.${n}`, port: 53, source: 'coredns-pod', label: `kube-system/coredns-7db6d8ff4d-${n}x` }));
const NODE_LOCAL: Target = { server: '169.254.20.10', port: 53, source: 'static' };
const SHARED = [SERVICE, ...COREDNS, NODE_LOCAL];
const HOST_OWN: Target[] = [
  { server: '10.0.0.2', port: 53, source: 'resolv.conf' },
  { server: '10.0.0.3', port: 53, source: 'resolv.conf' },
];

/** A pod name with everything a hostile container can put in one. */
const HOSTILE_NAME = '<script>alert(1)</script>"\'&\x1b[2J\u202eevil\u2066\u061c\u200b';
const HOSTILE_NS = 'x" onmouseover="alert(1)';

/** Longer than any cap of the page. */
const MAX_FIELD_PLUS = 1100;

// Every control, bidi and invisible character the page must never carry raw (its own newlines aside).
// eslint-disable-next-line no-control-regex
const RAW_UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff]/;

interface Fixture {
  vantages: Vantage[];
  hostile: Vantage;
  broken: Vantage;
  flapping: Vantage;
  gone: Vantage;
}

/** The host, `pods` pods shop/web-NNN (at least 3) and one hostile pod: one pod unhealthy over UDP, one failing once, one gone. */
function fixture(pods = 108): Fixture {
  const vantages: Vantage[] = [HOST];
  for (let i = 0; i < pods; i++)
    vantages.push(vantage(4026533000 + i, { podNamespace: 'shop', podName: `web-${String(i).padStart(3, '0')}`, podUid: `uid-${i}` }));
  const hostile = vantage(4026534000, { podNamespace: HOSTILE_NS, podName: HOSTILE_NAME, comm: 'sh\x1b]0;pwned\x07', containerNames: ['<b>c</b>'] });
  vantages.push(hostile);
  const at = (n: number): Vantage => vantages[1 + Math.floor(n)]!;
  return { vantages, hostile, broken: at(pods / 3), flapping: at(pods / 2), gone: at((2 * pods) / 3) };
}

const labelOf = (f: Fixture, v: Vantage): string => `shop/web-${String(f.vantages.indexOf(v) - 1).padStart(3, '0')}`;

/** One sweep's rows: every vantage to every shared target (and the host to its own nameservers), udp and tcp. */
function rows(f: Fixture, reasonOf: (v: Vantage, target: Target, transport: Transport) => Reason): SweepRow[] {
  const out: SweepRow[] = [];
  for (const v of f.vantages) {
    if (v === f.gone) continue;
    const targets =
      v === HOST ? [...SHARED, ...HOST_OWN] : v === f.hostile ? [...SHARED, { server: '192.0.2.53', port: 53, source: 'resolv.conf' as const }] : SHARED;
    for (const target of targets)
      for (const transport of ['udp', 'tcp'] as const) {
        const reason = reasonOf(v, target, transport);
        out.push({
          vantage: v,
          target,
          transport,
          query: QUERY,
          attempts: 1,
          result: result(reason, { transport, ...(reason === 'ok' ? {} : { detail: v === f.hostile ? `recv from ${HOSTILE_NAME}` : `${reason} detail` }) }),
        });
      }
  }
  return out;
}

function decision(over: Partial<RemedyDecision>): RemedyDecision {
  return {
    action: 'evict',
    result: 'would-act',
    reason: 'threshold-reached',
    target: 'pod kube-system/coredns-7db6d8ff4d-6x',
    message: 'would evict kube-system/coredns-7db6d8ff4d-6x: it failed from the host in 3 consecutive sweeps',
    at: '2024-05-01T12:00:05.000Z',
    ...over,
  };
}

/** A /status document as the daemon builds it, after three sweeps of the fixture. */
function document(f: Fixture = fixture(), opts: { findings?: FindingJson[]; sweeps?: number } = {}): Record<string, unknown> {
  const model = new HealthModel({ failureThreshold: 2, successThreshold: 2 });
  const recent: SweepInfo[] = [];
  const n = opts.sweeps ?? 3;
  let last: ReturnType<typeof report> | undefined;
  for (let i = 1; i <= n; i++) {
    const at = new Date(NOW.getTime() - (n - i) * 2000 - 1000);
    last = report(
      f.vantages,
      rows(f, (v, target, transport) => {
        if (v === f.broken && transport === 'udp') return 'timeout'; // unhealthy from the first sweep on
        if (v === f.hostile && target === SERVICE) return 'refused';
        if (v === f.flapping && target === COREDNS[1] && i === n) return 'rcode'; // failing once: under the threshold
        return 'ok';
      }),
      { [f.gone.id]: 'gone' },
    );
    const gone = last.vantages.find((r) => r.vantage === f.gone)!;
    gone.detail = 'the process exited before the probe';
    const host = last.vantages.find((r) => r.vantage === HOST)!;
    host.resolvConf = { path: '/etc/resolv.conf', nameservers: ['10.0.0.3', '10.0.0.2'], warnings: [] };
    const hostile = last.vantages.find((r) => r.vantage === f.hostile)!;
    hostile.resolvConf = { path: '/proc/1/root/etc/resolv.conf', nameservers: ['192.0.2.53'], warnings: [`line 2: unknown keyword "${HOSTILE_NAME}"`] };
    model.update(last, at);
    recent.push({ number: i, startedAt: new Date(at.getTime() - 40), completedAt: at, durationSeconds: 0.012 + i / 1000 });
  }
  const checks = model.checks();
  const input = { checks, lastSweepAt: recent.at(-1)?.completedAt ?? null, now: NOW, staleAfterMs: 30_000, override: 'none' as const };
  return daemonStatus({
    ...input,
    version: '1.2.3',
    startedAt: new Date(NOW.getTime() - 3_600_000),
    sweeps: n,
    lastSweep: recent.at(-1) ?? null,
    recentSweeps: recent,
    intervalMs: 10_000,
    sweepRunning: false,
    vantages: last?.vantages ?? [],
    verdicts: evaluateAll(input),
    discovery: { docker: 'ok', scanErrors: 0 },
    config: { file: '/etc/coredns-healthd.json', lastReloadAt: new Date(0), lastReloadOk: true },
    diagnosis: {
      diagnosis: { running: false, skippedSweeps: 0, last: { sweep: n, completedAt: NOW.toISOString(), durationSeconds: 0.004, error: null } },
      findings: opts.findings ?? [
        {
          id: 'x',
          vantage: f.hostile.id,
          where: `${HOSTILE_NS}/${HOSTILE_NAME}`,
          check: 'path',
          code: 'path/service-fails-pods-answer',
          severity: 'error',
          message: `The DNS Service 10.96.0.10 fails from ${HOSTILE_NAME} while the CoreDNS pods answer`,
          evidence: { service: '10.96.0.10', pod: HOSTILE_NAME },
          pod: { namespace: HOSTILE_NS, name: HOSTILE_NAME },
        },
        {
          id: 'y',
          vantage: 'node',
          where: 'node',
          check: 'conntrack',
          code: 'conntrack/table-filling',
          severity: 'warning',
          message: 'conntrack is 91% full',
          evidence: { count: 91, max: 100 },
          pod: null,
        },
      ],
    },
    kube: {
      kubernetes: { enabled: true, connection: { source: 'in-cluster', paths: [] }, node: 'node-a' } as never,
      remedy: {
        active: true,
        mode: 'dry-run',
        failedSweeps: [{ pod: 'kube-system/coredns-7db6d8ff4d-6x', uid: 'u6', count: 2 }],
        actionsLastHour: 0,
        cooldowns: [],
        nodeCondition: { enabled: false, detail: 'kubernetes.nodeCondition is false' },
        eventsWritten: 1,
      } as never,
    },
    decisions: [
      decision({}),
      decision({ result: 'skipped', reason: 'min-ready-pods', message: `not evicted: ${HOSTILE_NAME}`, at: '2024-05-01T12:00:07.000Z' }),
    ],
  });
}

/** Every tag and attribute name of the page: what a hostile string could have added shows up here. */
function markup(html: string): { tags: Set<string>; attributes: Set<string> } {
  const tags = new Set<string>();
  const attributes = new Set<string>();
  for (const m of html.matchAll(/<\/?([a-zA-Z][a-zA-Z0-9]*)([^>]*)>/g)) {
    tags.add(m[1]!.toLowerCase());
    for (const a of m[2]!.matchAll(/\s([^\s=/>]+)(?:="[^"]*")?/g)) attributes.add(a[1]!.toLowerCase());
  }
  return { tags, attributes };
}

const ALLOWED_TAGS = new Set(
  'html head meta title link style body header h1 h2 span ul li p main div table thead tbody tr th td small b code details summary pre dl dt dd footer a bdi br'.split(
    ' ',
  ),
);
const ALLOWED_ATTRIBUTES = /^(lang|dir|charset|name|content|http-equiv|rel|href|class|title|id|scope|colspan|data-[a-z-]+)$/;

const cells = (html: string): Array<Record<string, string>> =>
  [...html.matchAll(/<span class="s [a-z]+"((?: data-[a-z-]+="[^"]*")+)/g)].map((m) =>
    Object.fromEntries([...m[1]!.matchAll(/ (data-[a-z-]+)="([^"]*)"/g)].map((a) => [a[1]!, a[2]!])),
  );

t.test('110 vantages × 6 targets: cells, states, order, counts', (t) => {
  const f = fixture();
  const doc = document(f);
  const html = renderStatusPage(doc, { hostname: 'ignored-when-kubernetes-names-the-node' });
  t.ok(html.startsWith('<!DOCTYPE html>'));
  t.ok(html.length < 1_500_000, `bounded size (${html.length} characters)`);
  t.match(html, /<meta http-equiv="refresh" content="10">/, 'refresh from the 10 s interval');
  t.match(html, /<title>node-a · unhealthy · coredns-healthd<\/title>/);
  t.match(html, /data-health="unhealthy"/);

  const all = cells(html);
  // 109 probed vantages × 5 shared targets × 2 transports, plus the host's 2 and the hostile pod's 1 own nameservers.
  t.equal(all.length, 109 * 5 * 2 + 2 * 2 + 1 * 2);
  t.match(html, new RegExp(`data-rows="110" data-columns="6" data-cells="${all.length}"`));
  const heads = [...html.matchAll(/<th data-column="([^"]*)"/g)].map((m) => m[1]);
  t.same(
    heads,
    ['10.96.0.10:53', '10.244.0.5:53', '10.244.0.6:53', '10.244.0.7:53', '169.254.20.10:53', 'own'],
    'Service, CoreDNS pods, static, own nameservers',
  );
  t.match(html, />coredns-7db6d8ff4d-5x<small>CoreDNS 10\.244\.0\.5:53<\/small><\/th>/, 'a CoreDNS pod by name, what it is and its address below');
  t.match(html, />kube-dns<small>Service 10\.96\.0\.10:53<\/small><\/th>/);
  t.match(html, />configured<small>169\.254\.20\.10:53<\/small><\/th>/);

  const byState = (s: string) => all.filter((c) => c['data-state'] === s);
  const brokenLabel = labelOf(f, f.broken);
  t.same(
    byState('unhealthy').map((c) => `${c['data-vantage']} ${c['data-target']} ${c['data-transport']}`),
    [
      ...SHARED.map((s) => `${brokenLabel} ${s.server}:53 udp`),
      `${text(`${HOSTILE_NS}/${HOSTILE_NAME}`)} 10.96.0.10:53 udp`,
      `${text(`${HOSTILE_NS}/${HOSTILE_NAME}`)} 10.96.0.10:53 tcp`,
    ],
  );
  t.equal(byState('failing').length, 2, 'one rcode failure under the threshold, udp and tcp');
  t.same(
    byState('failing').map((c) => c['data-target']),
    ['10.244.0.6:53', '10.244.0.6:53'],
  );
  t.equal(byState('healthy').length, all.length - 7 - 2);
  t.equal(byState('recovering').length, 0);

  // Rows: the host first, then the vantages in trouble (failing or unhealthy), then the not probed, then the rest by name.
  const order = [...html.matchAll(/<tr class="([^"]*)" data-vantage="([^"]*)"/g)].map((m) => [m[2]!, m[1]!]);
  t.equal(order.length, 110);
  t.same(order[0], ['host', 'host healthy']);
  t.same(
    order.slice(1, 4).map((o) => o[1]),
    ['unhealthy', 'unhealthy', 'failing'],
  );
  t.same(order[4], [labelOf(f, f.gone), 'skipped']);
  t.same(order[5], ['shop/web-000', 'healthy']);
  t.match(html, /<td class="gone" colspan="6" data-state="skipped">gone: the process exited before the probe<\/td>/);

  // The host's own nameservers in resolv.conf order, both in one cell.
  const hostOwn = html.match(/<tr class="host healthy"[^]*?<td data-column="own" data-state="healthy">([^]*?)<\/td>/)!;
  t.same(
    [...hostOwn[1]!.matchAll(/<span class="addr">([^<]*)<\/span>/g)].map((m) => m[1]),
    ['10.0.0.3', '10.0.0.2'],
  );
  t.equal(all.filter((c) => c['data-vantage'] === 'shop/web-000' && c['data-column'] === 'own').length, 0, 'a pod without own nameservers');
  t.match(html, /<td data-column="own" data-state="none"><\/td>/);

  // Hover text of an unhealthy cell: reason, rcode, RTT, since.
  const title = html.match(
    new RegExp(
      `data-vantage="${brokenLabel}" data-target="10\\.96\\.0\\.10:53" data-column="[^"]*" data-transport="udp" data-state="unhealthy" title="([^"]*)"`,
    ),
  )![1]!;
  t.match(title, /^udp to 10\.96\.0\.10:53 from shop\/web-\d+: unhealthy&#10;|^udp to 10\.96\.0\.10:53 from shop\/web-\d+: unhealthy\n/);
  t.match(title, /kubernetes\.default\.svc\.cluster\.local A: unhealthy since 2024-05-01 12:00:05Z \(5s\), 3 failures in a row/);
  t.match(title, /last: timeout, rcode -, rtt -, 1 attempt, at 2024-05-01 12:00:09Z/);
  t.match(title, /detail: timeout detail/);
  const okTitle = html.match(
    /data-vantage="shop\/web-000" data-target="10\.96\.0\.10:53" data-column="[^"]*" data-transport="tcp" data-state="healthy" title="([^"]*)"/,
  )![1]!;
  t.match(okTitle, /last: ok, rcode NOERROR, rtt 2\.00ms, 1 attempt/);

  // Header and summary counts.
  t.match(html, /<li data-count="vantages"><b>110<\/b> vantages<\/li>/);
  t.match(html, /<b data-count="unhealthy">7<\/b> unhealthy/, '5 udp checks of one pod and 2 Service checks of another');
  t.match(html, /<b data-count="vantages-troubled">3<\/b> with failing checks, 1 not probed/);
  t.match(html, /<span data-count="cells-unhealthy">7 unhealthy<\/span>, <span data-count="cells-failing">2 failing<\/span>/);
  t.match(html, /<li data-count="findings"><b>2<\/b> findings \(1 error, 1 warning, 0 info\)<\/li>/);
  t.match(html, /sweep <b>#3<\/b> took 15\.0ms, 1s ago/);

  // Findings with their explanation, errors first; remedy; sweeps newest first.
  t.match(html, /<tr data-code="path\/service-fails-pods-answer" data-severity="error">[^]*The DNS Service IP fails while the CoreDNS pod IPs answer/);
  t.ok(html.indexOf('data-severity="error"') < html.indexOf('data-severity="warning"'));
  t.match(html, /<dl data-remedy-mode="dry-run"><dt>Kubernetes<\/dt><dd>connected through in-cluster<\/dd>/);
  t.match(html, /kube-system\/coredns-7db6d8ff4d-6x: 2 sweeps/);
  t.match(html, /<table class="list decisions" data-decisions="2">/);
  t.ok(html.indexOf('data-result="skipped"') < html.indexOf('data-result="would-act"'), 'decisions newest first');
  t.match(html, /title="Not evicted: fewer Ready CoreDNS pods than remedy\.minReadyPods would be left\.">min-ready-pods/);
  t.same(
    [...html.matchAll(/<tr><td class="mono">#(\d+)<\/td>/g)].map((m) => m[1]),
    ['3', '2', '1'],
  );
  t.match(html, /<span class="bar w20"><\/span>/, 'the longest sweep has the longest bar');
  t.end();
});

t.test('hostile names: escaped for HTML and shown with their control and bidi characters escaped', (t) => {
  const f = fixture(20);
  const html = renderStatusPage(document(f));
  t.notMatch(html, RAW_UNSAFE, 'no raw control, bidi or invisible character anywhere');
  t.notMatch(html, /<script/i, 'no script element');
  const { tags, attributes } = markup(html);
  t.same(
    [...tags].filter((x) => !ALLOWED_TAGS.has(x)),
    [],
    'only the renderer’s own elements',
  );
  t.same(
    [...attributes].filter((a) => !ALLOWED_ATTRIBUTES.test(a)),
    [],
    'only the renderer’s own attributes (no onmouseover)',
  );
  const shown = String.raw`x&quot; onmouseover=&quot;alert(1)/&lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;\x1b[2J\u202eevil\u2066\u061c\u200b`;
  t.ok(html.includes(`<th scope="row" title="vantage ${shown}`), 'the row title');
  t.ok(html.includes(`>${shown}</th>`), 'the row head');
  t.ok(html.includes(`data-vantage="${shown}"`), 'data attributes');
  t.ok(html.includes(String.raw`comm sh\x1b]0;pwned\x07`), 'comm');
  t.ok(html.includes('containers &lt;b&gt;c&lt;/b&gt;'), 'container names');
  t.ok(html.includes(String.raw`resolv.conf: line 2: unknown keyword &quot;&lt;script&gt;`), 'resolv.conf warnings');
  t.ok(
    html.includes(String.raw`detail: recv from &lt;script&gt;alert(1)&lt;/script&gt;&quot;&#39;&amp;\x1b[2J\u202eevil`),
    'DNS reply details in the cell title',
  );
  t.ok(html.includes(String.raw`not evicted: &lt;script&gt;alert(1)&lt;/script&gt;`), 'decision messages');
  t.ok(html.includes('<pre>{\n &quot;service&quot;: &quot;10.96.0.10&quot;,\n'), 'evidence as pretty JSON');
  t.ok(
    html.includes(String.raw`&quot;pod&quot;: &quot;&lt;script&gt;alert(1)&lt;/script&gt;\&quot;&#39;&amp;\u001b[2J\u202eevil\u2066\u061c\u200b&quot;`),
    'evidence: JSON escapes, then HTML escapes',
  );

  // Whatever the document holds: wrong types, huge strings, no fields at all.
  const long = `${'A'.repeat(5000)}\u202e`;
  const weird = renderStatusPage({
    version: 7,
    now: 'not a date',
    sweep: { last: { number: 'x', ageSeconds: -1 }, recent: [{ number: null, durationSeconds: 'slow' }, 5] },
    health: { all: { healthy: 'yes', reason: long } },
    vantages: [null, 5, { id: long, label: long, status: 'inaccessible', detail: long }],
    checks: [{}, { netns: long, vantage: long, target: long, transport: long, targetSource: 'resolv.conf', last: 'x' }, null],
    findings: [{ code: '__proto__', severity: 'constructor', message: long, where: long }, 5],
    remedy: { recentDecisions: [{ reason: 'toString', message: long }], acting: 5, failedSweeps: 'x', cooldowns: [{ target: long, until: 'never' }] },
    kubernetes: { node: long },
  });
  t.notMatch(weird, RAW_UNSAFE);
  t.notOk(weird.includes('A'.repeat(MAX_FIELD_PLUS)), 'long strings capped');
  t.match(weird, /data-health="unhealthy"/);
  t.same(
    [...markup(weird).attributes].filter((a) => !ALLOWED_ATTRIBUTES.test(a)),
    [],
  );
  for (const v of [undefined, null, 5, 'x', []]) t.match(renderStatusPage(v), /No vantage yet: waiting for the first sweep/, `renders ${JSON.stringify(v)}`);
  t.end();
});

/* eslint-disable @typescript-eslint/no-explicit-any -- the /status document edited field by field, as a broken or odd daemon could serve it */
t.test('states: recovering, stale, starting, override, no Kubernetes, many findings', (t) => {
  const f = fixture(6);
  const doc = document(f) as Record<string, any>;
  // A check that is unhealthy but passed its last probe.
  const c = doc.checks.find((x: any) => x.state === 'unhealthy');
  c.last = { ...c.last, ok: true, reason: 'ok', rcode: 'NOERROR', rttSeconds: 0.0005 };
  doc.sweep.last.ageSeconds = 45; // staleAfter is 30 s
  doc.override = 'healthy';
  doc.kubernetes = { enabled: false, connection: { source: 'none', paths: [], detail: 'kubernetes.enabled is false: probing only, remedies off' } };
  doc.remedy = { active: false, mode: 'off', reason: 'kubernetes.enabled is false: probing only, remedies off', recentDecisions: [] };
  doc.findings = Array.from({ length: MAX_FINDINGS_SHOWN + 5 }, (_, i) => ({
    code: 'routes/no-route',
    severity: i % 2 ? 'info' : 'warning',
    where: `p${i}`,
    message: 'm',
  }));
  delete doc.sweep.intervalSeconds;
  const html = renderStatusPage(doc, { hostname: 'worker-7' });
  t.match(html, /<title>worker-7 · stale · coredns-healthd<\/title>/, 'the hostname without Kubernetes');
  t.match(html, /<body class="stale" data-health="stale" data-refresh="10">/);
  t.match(html, new RegExp(`content="${DEFAULT_REFRESH_SECONDS}"`));
  t.match(html, /The last sweep completed 45s ago: these results are stale/);
  t.match(html, /health\.override is "healthy": the health URLs answer that/);
  t.match(html, /data-state="recovering" title="udp to [^"]*: unhealthy, passing again[^"]*last: ok, rcode NOERROR, rtt 500µs/);
  t.match(
    html,
    /<dd>not used<\/dd><dt>connection<\/dt><dd>kubernetes\.enabled is false: probing only, remedies off<\/dd><dt>remedy<\/dt><dd>off \(inactive\)<\/dd>/,
  );
  t.match(html, /No remedy decision yet\./);
  t.equal([...html.matchAll(/<tr data-code=/g)].length, MAX_FINDINGS_SHOWN);
  t.match(html, /…and 5 more in <a href="status">\/status<\/a>/);

  const starting = renderStatusPage(
    statusDocument({
      version: 'x',
      startedAt: NOW,
      now: NOW,
      override: 'none',
      staleAfterMs: 30_000,
      sweeps: 0,
      lastSweep: null,
      sweepRunning: true,
      vantages: [],
      checks: [],
      verdicts: evaluateAll({ checks: [], lastSweepAt: null, now: NOW, staleAfterMs: 30_000, override: 'none' }),
      discovery: { docker: 'off', scanErrors: 0 },
      config: { file: null, lastReloadAt: NOW, lastReloadOk: true },
    }),
  );
  t.match(starting, /data-health="starting"/);
  t.match(starting, /No sweep has completed yet: the first results appear on the next refresh\./);
  t.match(starting, /No active finding\./);
  t.match(starting, /data-sweeps="0"/);
  t.end();
});

t.test('the probe budget: the plan in the header, each cell with its age, stale checks', (t) => {
  const f = fixture(6);
  const doc = document(f) as Record<string, any>;
  doc.sweep.plan = { budgetQueries: 100, reservedQueries: 100, sentQueries: 57, plannedPairs: 50, skippedPairs: 838, rotationSweeps: 85, groups: {} };
  const c = doc.checks.find((x: any) => x.vantage !== 'host' && x.transport === 'tcp');
  Object.assign(c, { class: 'other', ageSeconds: 1234, ageSweeps: 123, rotationSweeps: 85, stale: true });
  doc.health.all = { ...doc.health.all, healthy: false, status: 503, reason: 'stale checks: 1 of 42 checks not probed for more than twice their rotation' };
  const html = renderStatusPage(doc, { hostname: 'worker-7' });
  t.match(
    html,
    /<li data-count="budget">budget <b>100<\/b> queries a sweep, <b>57<\/b> sent, 50 pairs probed, 838 left for later; every pair at least every <b>85 sweeps<\/b><\/li>/,
  );
  t.match(html, /data-health="stale"/, 'stale checks make the page stale');
  t.match(html, /the probe budget's rotation is stuck/);
  t.notMatch(html, /The last sweep completed/, 'not the stuck-sweep banner');
  t.match(
    html,
    /title="tcp to [^"]*last: [^"]*\(20m 34s ago, 123 sweeps\)\n\s+probed at least every 85 sweeps \(probe budget\)\n\s+STALE: not probed for more than twice its rotation[^"]*" data-age="1234" data-stale="true"/,
  );
  doc.sweep.plan.rotationSweeps = null;
  t.match(renderStatusPage(doc), /<b>some pairs never probed<\/b> \(the budget is too small\)/);
  t.end();
});

t.test('sweep.recent keeps the last RECENT_SWEEPS sweeps, oldest first', (t) => {
  const doc = document(fixture(6), { sweeps: RECENT_SWEEPS + 3 }) as Record<string, any>;
  t.equal(doc.sweep.recent.length, RECENT_SWEEPS);
  t.same(Object.keys(doc.sweep.recent[0]), ['number', 'completedAt', 'durationSeconds']);
  t.equal(doc.sweep.recent[0].number, 4);
  t.equal(doc.sweep.recent[0].completedAt, new Date(NOW.getTime() - 9 * 2000 - 1000).toISOString());
  t.equal(doc.sweep.recent.at(-1).number, RECENT_SWEEPS + 3);
  t.equal(doc.sweep.intervalSeconds, 10);
  t.equal(doc.sweep.last.number, RECENT_SWEEPS + 3, 'sweep.last is unchanged');
  t.end();
});
/* eslint-enable @typescript-eslint/no-explicit-any */

t.test('formatting helpers', (t) => {
  t.equal(formatSeconds(null), '-');
  t.equal(formatSeconds(0.00012), '120µs');
  t.equal(formatSeconds(0.0042), '4.20ms');
  t.equal(formatSeconds(0.25), '250.0ms');
  t.equal(formatSeconds(1.5), '1.50s');
  t.equal(formatAge(3), '3s');
  t.equal(formatAge(192), '3m 12s');
  t.equal(formatAge(7500), '2h 5m');
  t.equal(formatAge(3 * 86400 + 4 * 3600), '3d 4h');
  t.equal(refreshSeconds(null), 10);
  t.equal(refreshSeconds(0.3), 5, 'never faster than every 5 s');
  t.equal(refreshSeconds(12.5), 13);
  t.equal(refreshSeconds(3600), 300);
  t.same(CELL_STATES, ['unhealthy', 'recovering', 'failing', 'healthy', 'skipped', 'none']);
  t.end();
});

t.test('prefersHtml: browsers get HTML, curl and the rest the text index', (t) => {
  const browser = 'text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7';
  const firefox = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
  for (const [accept, html] of [
    [browser, true],
    [firefox, true],
    ['text/html', true],
    ['text/*', false],
    ['text/html;q=0.5, text/plain', false],
    ['text/plain;q=0.1, text/html;q=0.2', true],
    ['text/html;q=0', false],
    ['TEXT/HTML', true],
    ['*/*', false],
    ['', false],
    [undefined, false],
    ['application/json', false],
    ['text/html;q=abc', false],
    ['text/html;q=2', false],
    ['text/html, */*;q=1', false], // a tie keeps the text
    [['text/plain;q=0.5', 'text/html'], true],
    [`${'x/y,'.repeat(100)}text/html`, false],
  ] as const)
    t.equal(prefersHtml(accept), html, `${String(JSON.stringify(accept)).slice(0, 60)} → ${html ? 'HTML' : 'text'}`);
  t.end();
});

function request(
  port: number,
  path: string,
  headers: http.OutgoingHttpHeaders = {},
  method = 'GET',
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function serve(t: Test, status: () => unknown): Promise<number> {
  const app: HttpApp = {
    metrics: async () => ({ contentType: 'text/plain', body: '' }),
    health: () => ({ healthy: true, status: 200, reason: 'ok', checks: 0, unhealthy: 0 }),
    status,
  };
  const server = new HttpServer(createHandler(app));
  const { port } = await server.listen('127.0.0.1:0');
  t.teardown(() => server.close());
  return port;
}

t.test('GET / negotiates: the text index for curl, the page for a browser; Vary: Accept; HEAD alike', async (t) => {
  const doc = document(fixture(5));
  const port = await serve(t, () => doc);
  for (const headers of [{}, { accept: '*/*' }, { accept: 'text/plain' }]) {
    const r = await request(port, '/', headers);
    t.equal(r.status, 200);
    t.equal(r.body, INDEX, `${JSON.stringify(headers)}: the text index`);
    t.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
    t.match(r.headers.vary, /(^|, )Accept(,|$)/);
  }
  const accept = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
  const page = await request(port, '/?refresh=1', { accept });
  t.equal(page.status, 200);
  t.equal(page.headers['content-type'], 'text/html; charset=utf-8');
  t.match(page.headers.vary, /(^|, )Accept(,|$)/);
  t.equal(page.headers['cache-control'], 'no-store');
  t.equal(page.headers['x-frame-options'], 'DENY');
  t.equal(page.headers['content-security-policy'], STATUS_PAGE_CSP);
  t.match(STATUS_PAGE_CSP, /^default-src 'none'; style-src 'sha256-[A-Za-z0-9+/]+=*'; img-src data:;/);
  t.equal(page.body, renderStatusPage(doc, { hostname: 'unused: the document names the node' }));
  const style = page.body.match(/<style>([^]*?)<\/style>/)![1]!;
  t.ok(STATUS_PAGE_CSP.includes(`'sha256-${createHash('sha256').update(style).digest('base64')}'`), 'the CSP allows exactly the inline stylesheet');
  t.notMatch(page.body, / style="/, 'no style attribute (the CSP would block it)');

  const head = await request(port, '/', { accept }, 'HEAD');
  t.equal(head.status, 200);
  t.equal(head.body, '');
  t.equal(head.headers['content-type'], 'text/html; charset=utf-8');
  t.equal(head.headers['content-length'], String(Buffer.byteLength(page.body)));
  t.equal(head.headers['content-security-policy'], STATUS_PAGE_CSP);

  const json = await request(port, '/status', { accept });
  t.equal(json.headers['content-type'], 'application/json; charset=utf-8', '/status stays JSON for a browser');
  t.equal(JSON.parse(json.body).version, '1.2.3');
});

t.test('GET / without Kubernetes names the node by its hostname', async (t) => {
  const port = await serve(t, () => ({ sweep: { last: null }, health: { all: { healthy: false, reason: 'starting: no sweep has completed yet' } } }));
  const r = await request(port, '/', { accept: 'text/html' });
  t.match(r.body, new RegExp(`<bdi>${hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}</bdi>`));
  t.match(r.body, /data-health="starting"/);
});
