// The metrics registry: its own Registry, names and types as documented,
// values from sweeps, series of vanished checks removed, findings counts,
// promtool-clean.
import fs from 'node:fs';
import t from 'tap';
import { register as globalRegistry } from 'prom-client';
import { FINDING_AREAS, SEVERITIES, nodeFinding, vantageFinding } from '../../src/diagnose/finding.js';
import { findingCounts } from '../../src/diagnose/format.js';
import { HealthModel } from '../../src/health/model.js';
import { evaluateAll } from '../../src/health/verdict.js';
import { METRICS, ORIGINAL_NAMES, PREFIX } from '../../src/metrics/definitions.js';
import { DaemonMetrics, parseMaxFds, parseVsize } from '../../src/metrics/registry.js';
import { tryRun, which } from '../support/run.js';
import { HOST, POD_A, POD_B, report, row, uniform, vantage } from '../support/daemon-fixtures.js';
import { samples } from '../support/http-probe.js';
import { baseVantageLabel } from '../../src/discovery/vantage.js';

const engine = { running: true, inFlight: 3, queued: 1, fatalErrno: 0 };

/** A registry fed by sweeps; `detail`: metrics.perVantageDetail (per-vantage series on). */
function setup(detail = true) {
  const metrics = new DaemonMetrics({ version: '9.9.9', engineStats: () => engine });
  const model = new HealthModel({ failureThreshold: 2, successThreshold: 1 });
  const sweep = (rep: ReturnType<typeof report>, s = 0, perVantage = detail) => {
    const at = new Date(Date.UTC(2024, 4, 1, 12, 0, s));
    model.update(rep, at);
    metrics.recordSweep(rep, model.checks(), at, perVantage);
    return at;
  };
  return { metrics, model, sweep };
}

const Q = 'kubernetes.default.svc.cluster.local A';
const success = (vantage: string, transport: string, target = '10.96.0.10:53') =>
  `coredns_healthd_probe_success{vantage="${vantage}",target="${target}",transport="${transport}",query="${Q}"}`;
const healthy = (vantage: string, transport: string, target = '10.96.0.10:53') =>
  `coredns_healthd_check_healthy{vantage="${vantage}",target="${target}",transport="${transport}",query="${Q}"}`;

t.test('every documented metric is exported, with its type and help, from a registry of its own', async (t) => {
  const { metrics, sweep } = setup();
  sweep(uniform([HOST], '10.96.0.10', 'ok'));
  const text = await metrics.scrape();
  for (const d of Object.values(METRICS)) {
    t.ok(text.includes(`# HELP ${d.name} ${d.help}\n`), `HELP of ${d.name}`);
    t.ok(text.includes(`# TYPE ${d.name} ${d.type}\n`), `TYPE of ${d.name}`);
    if (d.name.startsWith('process_')) continue;
    t.ok(d.name.startsWith(PREFIX), `${d.name} is under ${PREFIX}`);
    if (d.type === 'counter') t.ok(d.name.endsWith('_total'), `counter ${d.name} ends in _total`);
    else t.notOk(d.name.endsWith('_total'), `${d.type} ${d.name} does not end in _total`);
  }
  const types = new Set([...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]));
  t.equal(types.size, Object.keys(METRICS).length, 'nothing exported that is not documented');
  t.notOk(globalRegistry.getSingleMetric(METRICS.probeSuccess.name), 'the global prom-client registry is untouched');
  t.equal(metrics.contentType.split(';')[0], 'text/plain');
});

t.test('the original Go tool names map onto exported metrics', (t) => {
  const names = new Set(Object.values(METRICS).map((d) => d.name));
  t.same(
    ORIGINAL_NAMES.map((o) => o.original),
    ['oom_count', 'restart_count', 'total_failures', 'dns_query_count', 'dns_query_response_time'],
  );
  for (const o of ORIGINAL_NAMES) t.ok(names.has(o.replacement.split('{')[0]!), `${o.original} → ${o.replacement}`);
  t.end();
});

t.test('a sweep sets success, health, RTT, counters and vantage gauges', async (t) => {
  const { metrics, sweep } = setup();
  const rep = uniform([HOST, POD_A], '10.96.0.10', (v, tr) => (v === POD_A && tr === 'tcp' ? 'refused' : 'ok'));
  rep.rows[0]!.attempts = 2;
  rep.vantages.push({ vantage: POD_B, label: baseVantageLabel(POD_B), status: 'gone', detail: 'exited' });
  const at = sweep(rep);
  metrics.setHealth(evaluateAll({ checks: [], lastSweepAt: at, now: at, staleAfterMs: 60_000, override: 'none' }));
  metrics.setConfigReload(false, new Date(1_700_000_000_000));
  const s = samples(await metrics.scrape());
  t.equal(s.get(success('host', 'udp')), 1);
  t.equal(s.get(success('default/web-1', 'tcp')), 0);
  t.equal(s.get(healthy('default/web-1', 'tcp')), 0, 'first result failed: unhealthy at once');
  t.equal(s.get('coredns_healthd_vantage_probe_rtt_seconds_count{vantage="host",target="10.96.0.10:53",transport="udp"}'), 1);
  t.equal(s.get('coredns_healthd_vantage_probe_rtt_seconds_bucket{le="0.0025",vantage="host",target="10.96.0.10:53",transport="udp"}'), 1);
  t.equal(s.get('coredns_healthd_vantage_probe_rtt_seconds_bucket{le="0.001",vantage="host",target="10.96.0.10:53",transport="udp"}'), 0);
  t.equal(
    s.get('coredns_healthd_vantage_probe_rtt_seconds_count{vantage="default/web-1",target="10.96.0.10:53",transport="tcp"}'),
    undefined,
    'no reply, no RTT',
  );
  t.equal(s.get('coredns_healthd_probe_rtt_seconds_count{target="10.96.0.10:53",transport="udp"}'), 2, 'by target: both vantages');
  t.equal(s.get('coredns_healthd_probe_rtt_seconds_count{target="10.96.0.10:53",transport="tcp"}'), 1, 'by target: the one reply');
  t.equal(s.get('coredns_healthd_probes_total{transport="tcp",result="failure",reason="refused"}'), 1);
  t.equal(s.get('coredns_healthd_probes_total{transport="udp",result="success",reason="ok"}'), 2);
  t.equal(s.get('coredns_healthd_probes_total{transport="udp",result="failure",reason="timeout"}'), 0, 'zero series exist from the start');
  t.equal(s.get('coredns_healthd_probe_attempts_total{transport="udp"}'), 3, 'a retried probe counts both queries');
  t.equal(s.get('coredns_healthd_sweeps_total{result="success"}'), 1);
  t.equal(s.get('coredns_healthd_sweep_duration_seconds_count'), 1);
  t.equal(s.get('coredns_healthd_last_sweep_timestamp_seconds'), at.getTime() / 1000);
  t.equal(s.get('coredns_healthd_vantages{source="host",status="probed"}'), 1);
  t.equal(s.get('coredns_healthd_vantages{source="proc+docker",status="probed"}'), 1);
  t.equal(s.get('coredns_healthd_vantages{source="proc",status="gone"}'), 1);
  t.equal(s.get('coredns_healthd_vantages{source="docker",status="probed"}'), 0);
  t.equal(s.get('coredns_healthd_checks{state="unhealthy"}'), 1);
  t.equal(s.get('coredns_healthd_checks{state="healthy"}'), 3);
  t.equal(s.get('coredns_healthd_healthy{group="all"}'), 0, 'no checks: /healthz is 503');
  t.equal(s.get('coredns_healthd_config_last_reload_successful'), 0);
  t.equal(s.get('coredns_healthd_config_last_reload_success_timestamp_seconds'), 1_700_000_000);
  t.equal(s.get('coredns_healthd_native_jobs_in_flight'), 3);
  t.equal(s.get('coredns_healthd_native_jobs_queued'), 1);
  t.equal(s.get('coredns_healthd_native_engine_up'), 1);
  t.equal(s.get(`coredns_healthd_build_info{version="9.9.9",nodejs_version="${process.version}"}`), 1);
  t.ok((s.get('process_open_fds') ?? 0) > 0);
  t.ok((s.get('process_resident_memory_bytes') ?? 0) > 1e6);
  const soft = /^Max open files\s+(\d+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'));
  t.equal(s.get('process_max_fds'), soft === null ? undefined : Number(soft[1]), "the soft limit, as node_exporter's");
  t.ok((s.get('process_virtual_memory_bytes') ?? 0) > (s.get('process_resident_memory_bytes') ?? 0), 'virtual memory above resident');

  engine.running = false;
  t.equal(samples(await metrics.scrape()).get('coredns_healthd_native_engine_up'), 0, 'read at scrape time');
  engine.running = true;
});

t.test('series of checks that leave the state are removed; a relabelled vantage moves its series', async (t) => {
  const { metrics, sweep } = setup();
  sweep(uniform([HOST, POD_A, POD_B], '10.96.0.10', 'ok'), 0);
  let s = samples(await metrics.scrape());
  t.ok(s.has(success('netns:[4026532002]', 'udp')));
  t.ok(s.has('coredns_healthd_vantage_probe_rtt_seconds_count{vantage="netns:[4026532002]",target="10.96.0.10:53",transport="udp"}'));

  // POD_B is gone; POD_A lost its pod name (now known by netns id only).
  const renamed = vantage(POD_A.inode, { podUid: 'uid-a' });
  sweep(uniform([HOST, renamed], '10.96.0.10', 'ok'), 10);
  const text = await metrics.scrape();
  s = samples(text);
  t.notOk(
    [...s.keys()].some((k) => k.includes('4026532002')),
    'no series of the vanished vantage',
  );
  t.notOk(
    [...s.keys()].some((k) => k.includes('default/web-1')),
    'no series under the old label',
  );
  t.equal(s.get(success('netns:[4026532001]', 'udp')), 1);
  t.equal(s.get('coredns_healthd_vantage_probe_rtt_seconds_count{vantage="netns:[4026532001]",target="10.96.0.10:53",transport="udp"}'), 1);
  t.equal(s.get('coredns_healthd_vantage_probe_rtt_seconds_count{vantage="host",target="10.96.0.10:53",transport="udp"}'), 2, 'survivors keep their history');

  // 100 sweeps of churning pods: the series count follows the live set.
  for (let i = 0; i < 100; i++) sweep(uniform([HOST, vantage(4026540000 + i)], '10.96.0.10', 'ok'), 20 + i);
  const lines = (await metrics.scrape()).split('\n').filter((l) => l.startsWith('coredns_healthd_probe_success'));
  t.equal(lines.length, 4, 'host and the last pod, two transports each');
});

t.test('per-check gauges follow every change of value, also after sweeps that changed nothing', async (t) => {
  const { metrics, sweep } = setup();
  const states: Array<['ok' | 'timeout', number, number]> = [
    // [result, probe_success, check_healthy] (failureThreshold 2, successThreshold 1)
    ['ok', 1, 1],
    ['ok', 1, 1],
    ['timeout', 0, 1],
    ['timeout', 0, 0],
    ['timeout', 0, 0],
    ['ok', 1, 1],
    ['ok', 1, 1],
  ];
  for (const [i, [result, ok, health]] of states.entries()) {
    sweep(uniform([HOST, POD_A], '10.96.0.10', result), i);
    const s = samples(await metrics.scrape());
    t.equal(s.get(success('host', 'udp')), ok, `sweep ${i}: probe_success`);
    t.equal(s.get(healthy('default/web-1', 'tcp')), health, `sweep ${i}: check_healthy`);
  }
});

t.test('without metrics.perVantageDetail (the default): check_healthy per check, RTT by target only; turning it off removes the detail', async (t) => {
  const { metrics, sweep } = setup(false);
  sweep(uniform([HOST, POD_A, POD_B], '10.96.0.10', 'ok'), 0);
  let text = await metrics.scrape();
  let s = samples(text);
  t.equal(s.get(healthy('host', 'udp')), 1, 'health state per check');
  t.notOk(
    [...s.keys()].some((k) => k.startsWith('coredns_healthd_probe_success') || k.startsWith('coredns_healthd_vantage_probe_rtt')),
    'no per-vantage detail',
  );
  t.equal(s.get('coredns_healthd_probe_rtt_seconds_count{target="10.96.0.10:53",transport="udp"}'), 3);
  t.ok(text.includes('# TYPE coredns_healthd_probe_success gauge'), 'the metric is still declared (0 series)');

  sweep(uniform([HOST, POD_A], '10.96.0.10', 'ok'), 1, true);
  s = samples(await metrics.scrape());
  t.equal(s.get(success('host', 'udp')), 1, 'turned on by a reload: the detail appears');
  t.equal(s.get('coredns_healthd_vantage_probe_rtt_seconds_count{vantage="host",target="10.96.0.10:53",transport="udp"}'), 1);
  sweep(uniform([HOST, POD_A], '10.96.0.10', 'ok'), 2, false);
  text = await metrics.scrape();
  s = samples(text);
  t.notOk(
    [...s.keys()].some((k) => k.startsWith('coredns_healthd_probe_success') || k.startsWith('coredns_healthd_vantage_probe_rtt')),
    'turned off again: its series are removed',
  );
  t.equal(s.get(healthy('default/web-1', 'tcp')), 1);
});

t.test('series per node at 110 pods: a scrape of the registry after a realistic sweep', async (t) => {
  // 110 pods + the host; targets: 3 CoreDNS pods, the kube-dns Service IP and each vantage's own nameserver
  // (the Service IP again for pods, the host's own resolver for the host); UDP and TCP; one query.
  const pods = Array.from({ length: 110 }, (_, i) => vantage(4026560000 + i, { podName: `web-${i}`, podNamespace: 'default', podUid: `uid-${i}` }));
  const servers = ['10.244.1.5', '10.244.2.7', '10.244.3.9', '10.96.0.10'];
  const rows = [HOST, ...pods].flatMap((v) => servers.flatMap((ip) => (['udp', 'tcp'] as const).map((tr) => row(v, ip, tr, 'ok'))));
  rows.push(...(['udp', 'tcp'] as const).map((tr) => row(HOST, '192.0.2.53', tr, 'ok')));
  const count = async (detail: boolean) => {
    const { metrics, sweep } = setup(detail);
    sweep(report([HOST, ...pods], rows));
    const lines = (await metrics.scrape()).split('\n').filter((l) => l !== '' && !l.startsWith('#'));
    return lines.length;
  };
  const lean = await count(false);
  const detailed = await count(true);
  t.comment(`series per node at 110 pods: ${lean} by default, ${detailed} with metrics.perVantageDetail`);
  t.ok(lean < 1500, `default: ${lean} series (check_healthy per check + fixed sets)`);
  t.ok(detailed > 10 * lean, `per-vantage detail: ${detailed} series`);
});

t.test('remedy decisions and OOM kills', async (t) => {
  const { metrics } = setup();
  let s = samples(await metrics.scrape());
  t.equal(s.get('coredns_healthd_remedy_decisions_total{action="evict",result="acted",reason="threshold-reached"}'), 0, 'zero series from the start');
  t.equal(s.get('coredns_healthd_remedy_decisions_total{action="raise-memory",result="would-act",reason="oom-killed"}'), 0);
  t.equal(s.get('coredns_healthd_coredns_oom_kills_total'), 0);
  metrics.remedyDecision('evict', 'would-act', 'threshold-reached');
  metrics.remedyDecision('evict', 'would-act', 'threshold-reached');
  metrics.remedyDecision('evict', 'skipped', 'lease-held');
  metrics.oomKills();
  s = samples(await metrics.scrape());
  t.equal(s.get('coredns_healthd_remedy_decisions_total{action="evict",result="would-act",reason="threshold-reached"}'), 2);
  t.equal(s.get('coredns_healthd_remedy_decisions_total{action="evict",result="skipped",reason="lease-held"}'), 1);
  t.equal(s.get('coredns_healthd_coredns_oom_kills_total'), 1);
  t.notOk(
    [...s.keys()].some((k) => k.startsWith('coredns_healthd_remedy_actions_total')),
    'the old name is gone',
  );
});

t.test('an engine that cannot report leaves its gauges at zero, the scrape works', async (t) => {
  const metrics = new DaemonMetrics({
    version: '1',
    engineStats: () => {
      throw new Error('addon not loaded');
    },
  });
  const s = samples(await metrics.scrape());
  t.equal(s.get('coredns_healthd_native_engine_up'), 0);
});

t.test('promtool check metrics accepts a scrape with every kind of series', async (t) => {
  const { metrics, sweep } = setup();
  sweep(uniform([HOST, POD_A], '10.96.0.10', 'ok'), 0);
  sweep(report([HOST, POD_A], [row(HOST, 'fd00::10', 'udp', 'rcode'), row(POD_A, '10.96.0.10', 'tcp', 'timeout')]), 1);
  metrics.remedyDecision('raise-memory', 'skipped', 'api-unreachable');
  metrics.recordSweepError(0.5);
  const text = await metrics.scrape();
  t.ok(text.split('\n').length > 100, 'a real scrape');
  const res = await tryRun(which('promtool'), ['check', 'metrics'], { input: text });
  t.equal(res.code, 0, `promtool: ${res.stdout}${res.stderr}`);
});

t.test('coredns_healthd_findings: every check × severity from the start, set from findingCounts, back to 0 when cleared', async (t) => {
  const metrics = new DaemonMetrics({ version: '9.9.9', processMetrics: false });
  const series = (s: Map<string, number>) => [...s.keys()].filter((k) => k.startsWith('coredns_healthd_findings{'));
  let s = samples(await metrics.scrape());
  t.equal(series(s).length, FINDING_AREAS.length * SEVERITIES.length);
  t.ok(series(s).every((k) => s.get(k) === 0));
  const down = vantageFinding(POD_A, { code: 'interfaces/down', severity: 'error', message: 'eth0 is down.', subject: 'eth0' });
  const noRoute = vantageFinding(POD_B, { code: 'routes/no-route', severity: 'error', message: 'No route.', subject: '10.96.0.10' });
  const full = nodeFinding({ code: 'conntrack/table-filling', severity: 'warning', message: 'Filling.' });
  metrics.setFindings(findingCounts([down, noRoute, full]));
  s = samples(await metrics.scrape());
  t.equal(s.get('coredns_healthd_findings{check="interfaces",severity="error"}'), 1);
  t.equal(s.get('coredns_healthd_findings{check="routes",severity="error"}'), 1);
  t.equal(s.get('coredns_healthd_findings{check="conntrack",severity="warning"}'), 1);
  t.equal(s.get('coredns_healthd_findings{check="routes",severity="warning"}'), 0);
  metrics.setFindings(findingCounts([full]));
  s = samples(await metrics.scrape());
  t.equal(s.get('coredns_healthd_findings{check="interfaces",severity="error"}'), 0);
  t.equal(s.get('coredns_healthd_findings{check="conntrack",severity="warning"}'), 1);
  const res = await tryRun(which('promtool'), ['check', 'metrics'], { input: await metrics.scrape() });
  t.equal(res.code, 0, `promtool: ${res.stdout}${res.stderr}`);
});

t.test('coredns_healthd_ignored_replies_total counts what each probe dropped, by transport', async (t) => {
  const { metrics, sweep } = setup();
  const before = await metrics.scrape();
  t.match(before, /^coredns_healthd_ignored_replies_total\{transport="udp"\} 0$/m, 'zero series from the start');
  const spoofed = row(HOST, '10.96.0.10', 'udp', 'ok');
  spoofed.result = { ...spoofed.result, ignoredReplies: 5 };
  sweep(report([HOST], [spoofed, row(HOST, '10.96.0.10', 'tcp', 'ok')]));
  sweep(report([HOST], [spoofed]), 1);
  const text = await metrics.scrape();
  t.match(text, /^coredns_healthd_ignored_replies_total\{transport="udp"\} 10$/m);
  t.match(text, /^coredns_healthd_ignored_replies_total\{transport="tcp"\} 0$/m);
});

t.test('parseMaxFds and parseVsize', (t) => {
  const limits =
    'Limit                     Soft Limit           Hard Limit           Units     \nMax processes             95063                95063                processes \nMax open files            1024                 524288               files     \n';
  t.equal(parseMaxFds(limits), 1024);
  t.equal(parseMaxFds(limits.replace('1024  ', 'unlimited')), null);
  t.equal(parseMaxFds('garbage'), null);
  // comm may hold spaces and parentheses: fields are counted after the last ')'.
  const stat = `4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 11 0 123 987654321 2000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0`;
  t.equal(parseVsize(stat), 987654321);
  t.equal(parseVsize('no parenthesis here'), null);
  t.end();
});
