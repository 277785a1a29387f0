// Freshness under the probe budget: a check the plan skipped keeps its state
// and last result, aging; one older than twice its rotation is stale, and
// /healthz, the metrics and /status say so.
import t from 'tap';
import { HealthModel, STALE_FACTOR } from '../../src/health/model.js';
import { evaluate, evaluateAll } from '../../src/health/verdict.js';
import { statusDocument } from '../../src/health/status.js';
import { DaemonMetrics } from '../../src/metrics/registry.js';
import type { PlanGroup, SkippedPair, SweepPlanReport, SweepReport, SweepRow } from '../../src/model.js';
import { HOST, POD_A, QUERY, report, row, target } from '../support/daemon-fixtures.js';
import { samples } from '../support/http-probe.js';

const at = (s: number): Date => new Date(Date.UTC(2024, 4, 1, 12, 0, s));
const group = (pairs: number, planned: number, k: number | null): PlanGroup => ({ pairs, planned, slots: planned, rotationSweeps: k });

/** A sweep: the host's UDP row always, POD_A's UDP row when `podProbed`, else skipped by a plan with rotation k for "own". */
function sweep(podProbed: boolean, k: number | null = 3): SweepReport {
  const rows: SweepRow[] = [{ ...row(HOST, '10.96.0.10', 'udp', 'ok'), class: 'host' }];
  const skipped: SkippedPair[] = [];
  if (podProbed) rows.push({ ...row(POD_A, '10.96.0.10', 'udp', 'ok'), class: 'own' });
  else skipped.push({ vantage: POD_A, target: target('10.96.0.10'), transport: 'udp', class: 'own' });
  const rep = report([HOST, POD_A], rows);
  const plan: SweepPlanReport = {
    sweep: 0,
    budget: 10,
    reserved: rows.length,
    retryReserve: 0,
    queries: rows.length,
    planned: rows.length,
    skipped,
    groups: { host: group(1, 1, 1), own: group(1, podProbed ? 1 : 0, k), other: group(0, 0, 1) },
    rotationSweeps: k,
  };
  return { ...rep, plan };
}

t.test('a skipped check is kept with its last result, aging; stale after twice its rotation', (t) => {
  const m = new HealthModel({ failureThreshold: 1, successThreshold: 1 });
  m.update(sweep(true), at(0));
  t.equal(m.size, 2);
  const key = m.checks().find((c) => c.vantage === POD_A)!.key;
  for (let s = 1; s <= STALE_FACTOR * 3; s++) {
    const { removed } = m.update(sweep(false), at(s * 10));
    t.same(removed, [], `sweep ${s}: nothing removed`);
    const c = m.get(key)!;
    t.equal(c.ageSweeps, s);
    t.equal(c.stale, false, `${s} sweeps old, K 3: fresh`);
    t.same(c.last.at, at(0), 'the last result stays the one probed');
    t.equal(c.class, 'own');
  }
  m.update(sweep(false), at(70));
  t.equal(m.get(key)!.stale, true, '7 sweeps old, more than 2 × 3: stale');
  const input = { checks: m.checks(), lastSweepAt: at(70), now: at(71), staleAfterMs: 60_000, override: 'none' as const };
  const v = evaluate('all', input);
  t.equal(v.status, 503);
  t.match(
    v.reason,
    /^stale checks: 1 of 2 checks not probed for more than twice their rotation .*default\/web-1 -> 10\.96\.0\.10:53 udp .*: last probed 7 sweeps ago/,
  );
  t.equal(evaluate('host', input).status, 200, 'the host group is fresh');

  // Probed again: fresh.
  m.update(sweep(true), at(80));
  t.equal(m.get(key)!.stale, false);
  t.equal(m.get(key)!.ageSweeps, 0);
  t.equal(evaluate('all', { ...input, checks: m.checks(), lastSweepAt: at(80), now: at(81) }).status, 200);
  t.end();
});

t.test("the diagnosis's report: skipped pairs carry their last result", (t) => {
  const m = new HealthModel({ failureThreshold: 1, successThreshold: 1 });
  const first = sweep(true);
  first.rows[1] = { ...first.rows[1]!, result: { ...first.rows[1]!.result, ok: false, reason: 'timeout', rttSeconds: null } };
  m.update(first, at(0));
  const next = sweep(false);
  m.update(next, at(10));
  const full = m.withCarriedRows(next, [QUERY]);
  t.equal(next.rows.length, 1, 'the report itself is left alone');
  t.equal(full.rows.length, 2);
  t.match(full.rows[1], { vantage: POD_A, transport: 'udp', class: 'own', carried: true, attempts: 1, result: { ok: false, reason: 'timeout' } });
  t.notOk('at' in full.rows[1]!.result, 'a probe result, not a check');
  t.equal(m.withCarriedRows(first, [QUERY]), first, 'nothing skipped: the same report');
  t.end();
});

t.test('a failing check outranks a stale one; a pair neither probed nor skipped is dropped', (t) => {
  const m = new HealthModel({ failureThreshold: 1, successThreshold: 1 });
  m.update(sweep(true, null), at(0));
  m.update(sweep(false, null), at(10));
  t.equal(m.checks().find((c) => c.vantage === POD_A)!.stale, false, 'a class with no slot at all is held to no rotation (the daemon warns instead)');
  const gone = report([HOST], [{ ...row(HOST, '10.96.0.10', 'udp', 'refused'), class: 'host' }]);
  const { removed } = m.update(gone, at(20));
  t.equal(removed.length, 1, "POD_A's check is dropped: its pod left");
  t.match(evaluate('all', { checks: m.checks(), lastSweepAt: at(20), now: at(20), staleAfterMs: 60_000, override: 'none' }).reason, /^unhealthy: /);
  t.end();
});

t.test('metrics: queries by class, planned and skipped pairs, rotation, stale checks, oldest result age', async (t) => {
  const metrics = new DaemonMetrics({ version: '0', engineStats: () => null, processMetrics: false });
  const m = new HealthModel({ failureThreshold: 1, successThreshold: 1 });
  const feed = (rep: SweepReport, s: number): void => {
    m.update(rep, at(s));
    metrics.recordSweep(rep, m.checks(), at(s), false, 11);
  };
  const before = samples(await metrics.scrape());
  t.equal(before.get('coredns_healthd_probe_queries_total{class="own"}'), 0, 'zero series from the start');
  t.equal(before.get('coredns_healthd_checks_stale'), 0);
  feed(sweep(true), 0);
  for (let s = 1; s <= 7; s++) feed(sweep(false), s * 10);
  metrics.setFreshness(m.checks(), at(75));
  const got = samples(await metrics.scrape());
  t.equal(got.get('coredns_healthd_probe_queries_total{class="host"}'), 8, 'one query a sweep from the host');
  t.equal(got.get('coredns_healthd_probe_queries_total{class="own"}'), 1, 'the pod once');
  t.equal(got.get('coredns_healthd_probe_budget_queries'), 10);
  t.equal(got.get('coredns_healthd_sweep_pairs{class="own",state="skipped"}'), 1);
  t.equal(got.get('coredns_healthd_sweep_pairs{class="host",state="planned"}'), 1);
  t.equal(got.get('coredns_healthd_rotation_sweeps{class="own"}'), 3);
  t.equal(got.get('coredns_healthd_rotation_seconds{class="own"}'), 33, 'K × (interval + jitter)');
  t.equal(got.get('coredns_healthd_checks_stale'), 1);
  t.equal(got.get('coredns_healthd_oldest_result_age_seconds{class="own"}'), 75);
  t.equal(got.get('coredns_healthd_oldest_result_age_seconds{class="host"}'), 5);
  feed(sweep(false, null), 80);
  t.match(await metrics.scrape(), /^coredns_healthd_rotation_sweeps\{class="own"\} \+Inf$/m, 'no slot: +Inf');
});

/* eslint-disable @typescript-eslint/no-explicit-any -- the /status document parsed back from JSON */
t.test('/status: the plan, and each check with its class, age and rotation', (t) => {
  const m = new HealthModel({ failureThreshold: 1, successThreshold: 1 });
  m.update(sweep(true), at(0));
  const rep = sweep(false);
  m.update(rep, at(10));
  const input = { checks: m.checks(), lastSweepAt: at(10), now: at(12), staleAfterMs: 60_000, override: 'none' as const };
  const doc = JSON.parse(
    JSON.stringify(
      statusDocument({
        ...input,
        version: '1',
        startedAt: at(0),
        sweeps: 2,
        lastSweep: { number: 2, startedAt: at(9), completedAt: at(10), durationSeconds: 0.1 },
        sweepRunning: false,
        vantages: rep.vantages,
        verdicts: evaluateAll(input),
        discovery: { docker: 'off', scanErrors: 0 },
        config: { file: null, lastReloadAt: at(0), lastReloadOk: true },
        plan: rep.plan!,
        rotationSweeps: (cls) => m.rotationSweeps(cls),
      }),
    ),
  ) as Record<string, any>;
  t.match(doc.sweep.plan, {
    budgetQueries: 10,
    sentQueries: 1,
    plannedPairs: 1,
    skippedPairs: 1,
    rotationSweeps: 3,
    groups: { own: { pairs: 1, planned: 0 } },
  });
  const pod = doc.checks.find((c: any) => c.vantage === 'default/web-1');
  t.match(pod, { class: 'own', ageSeconds: 12, ageSweeps: 1, rotationSweeps: 3, stale: false });
  t.match(
    doc.checks.find((c: any) => c.vantage === 'host'),
    { class: 'host', ageSeconds: 2, ageSweeps: 0, rotationSweeps: 1 },
  );
  t.end();
});
/* eslint-enable @typescript-eslint/no-explicit-any */
