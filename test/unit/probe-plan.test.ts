// The probe budget's plan (src/probe/plan.ts): the host first and always,
// then the pods' own nameservers and other targets 4:1, each group least
// recently planned first, never more than the budget, every pair within the
// rotation bound K.
//
// Why K = p + ceil(n / b) - 1 holds (n pairs in the group, at least b slots a
// sweep for it, x a pair of period p): from the sweep s0 at which x is due
// (planned p sweeps ago), each sweep x is not planned, at least b pairs of its
// group are planned, each at least as old as x. A pair planned at s1 ≥ s0 is
// at most s2 - s1 old at s2, x is p + s2 - s0 > s2 - s1 old: no pair is
// planned twice while x waits, so x waits at most floor((n - 1) / b) sweeps.
import t from 'tap';
import { Rotation, pairKey, rotationBound, type PlanOptions, type PlanVantage, type SweepPlan } from '../../src/probe/plan.js';
import type { Target } from '../../src/model.js';
import { loadConfig } from '../../src/config/load.js';
import { budgetOptions } from '../../src/config/options.js';
import { ConfigError } from '../../src/config/errors.js';

const tgt = (server: string, source: Target['source'] = 'coredns-pod'): Target => ({ server, port: 53, source });
const SERVICE = tgt('10.96.0.10', 'dns-service');
const COREDNS = [tgt('10.244.0.2'), tgt('10.244.1.2'), tgt('10.244.2.2')];

/** The host, and `pods` pods each with the Service as own nameserver and every CoreDNS pod IP as other targets. */
function node(pods: number): PlanVantage[] {
  const host: PlanVantage = {
    key: 'host',
    host: true,
    targets: [{ target: tgt('10.0.0.1', 'resolv.conf'), own: true }, ...COREDNS.map((target) => ({ target, own: false }))],
  };
  const vs = Array.from({ length: pods }, (_, i) => ({
    key: `pod-${String(i).padStart(3, '0')}`,
    host: false,
    targets: [{ target: SERVICE, own: true }, ...COREDNS.map((target) => ({ target, own: false }))],
  }));
  return [host, ...vs];
}

const UDP_TCP: PlanOptions = { transports: ['udp', 'tcp'], budget: 100, costPerPair: 2, tcpEvery: 3 };

/** Runs `sweeps` plans, recording for every pair the longest gap between two plans (and the first sweep's wait). */
function run(
  vantages: (sweep: number) => PlanVantage[],
  opts: PlanOptions,
  sweeps: number,
): { plans: SweepPlan[]; maxGap: Map<string, number>; cls: Map<string, string> } {
  const r = new Rotation();
  const last = new Map<string, number>();
  const maxGap = new Map<string, number>();
  const cls = new Map<string, string>();
  const plans: SweepPlan[] = [];
  for (let s = 1; s <= sweeps; s++) {
    const plan = r.plan(vantages(s), opts);
    plans.push(plan);
    for (const p of plan.planned) {
      const k = pairKey(p.vantageKey, p.target, p.transport);
      cls.set(k, p.class);
      const prev = last.get(k);
      maxGap.set(k, Math.max(maxGap.get(k) ?? 0, s - (prev ?? 0)));
      last.set(k, s);
    }
    for (const p of plan.skipped) {
      const k = pairKey(p.vantageKey, p.target, p.transport);
      cls.set(k, p.class);
      // A pair still waiting counts too (one never planned since sweep 0).
      maxGap.set(k, Math.max(maxGap.get(k) ?? 0, s - (last.get(k) ?? 0) + 1));
    }
  }
  return { plans, maxGap, cls };
}

t.test('everything fits: every pair every sweep, TCP of pods every tcpEvery, no change from no budget', (t) => {
  const r = new Rotation();
  const vs = node(2);
  const plans = [1, 2, 3, 4].map(() => r.plan(vs, { ...UDP_TCP, budget: 1000 }));
  t.equal(plans[0]!.planned.length, 3 * 4 * 2, 'the first sweep probes everything (no pair was ever planned)');
  t.equal(plans[1]!.planned.length, 4 * 2 + 2 * 4, 'then the host both transports, the pods UDP');
  t.equal(plans[3]!.planned.length, 3 * 4 * 2, "the pods' TCP again at the 4th sweep (every 3)");
  t.same(plans[1]!.groups.own, { pairs: 4, planned: 2, slots: 1000 / 2 - 8 - Math.floor((1000 / 2 - 8) / 5), rotationSweeps: 3 });
  t.equal(plans[1]!.rotationSweeps, 3, 'TCP every 3 sweeps: K = 3');

  const all = new Rotation().plan(vs, { ...UDP_TCP, budget: Infinity, tcpEvery: 1 });
  t.equal(all.planned.length, 24);
  t.equal(all.skipped.length, 0);
  t.equal(all.budget, null);
  t.equal(all.rotationSweeps, 1);
  t.end();
});

t.test('the host vantage is planned in full every sweep, even beyond the budget', (t) => {
  const r = new Rotation();
  for (let s = 0; s < 5; s++) {
    const plan = r.plan(node(50), { ...UDP_TCP, budget: 4 });
    t.equal(plan.planned.filter((p) => p.class === 'host').length, 8);
    t.equal(plan.groups.own.planned + plan.groups.other.planned, 0, 'nothing left for the pods');
    t.equal(plan.groups.own.rotationSweeps, null, 'the pods never get a slot: K is null');
    t.equal(plan.rotationSweeps, null);
  }
  t.end();
});

t.test('the budget is never exceeded and split 4:1 between own nameservers and other targets', (t) => {
  const { plans } = run(() => node(110), UDP_TCP, 30);
  for (const p of plans) {
    t.ok(p.reserved <= 100, `sweep ${p.sweep}: ${p.reserved} reserved of 100`);
    t.equal(p.reserved, p.planned.length * 2 + p.retryReserve);
  }
  // 100 queries / 2 per pair = 50 slots; the host takes 8, 42 left: 34 own, 8 other.
  const steady = plans[20]!;
  t.equal(steady.groups.host.planned, 8);
  t.equal(steady.groups.own.slots, 34);
  t.equal(steady.groups.other.slots, 8);
  t.equal(steady.groups.own.planned, 34);
  t.equal(steady.groups.other.planned, 8);
  t.end();
});

t.test('TCP retries of truncated replies: the next plan keeps as many queries as the last sweep sent', (t) => {
  const r = new Rotation();
  const first = r.plan(node(110), UDP_TCP);
  t.equal(first.retryReserve, 0);
  t.equal(first.reserved, 100, '50 pairs of 2');
  r.noteRetries(3); // three truncated UDP replies were retried over TCP
  const second = r.plan(node(110), UDP_TCP);
  t.equal(second.retryReserve, 3);
  t.equal(second.planned.length, 48, '(100 - 3) / 2 = 48 pairs: the host 8, own 32, other 8');
  t.equal(second.reserved, 48 * 2 + 3);
  t.ok(second.reserved <= 100, 'pairs and retries within the budget');
  r.noteRetries(1000);
  const third = r.plan(node(110), UDP_TCP);
  t.equal(third.retryReserve, 100 - 8 * 2, 'never more than what the host leaves');
  t.equal(third.groups.host.planned, 8, 'the host is planned whatever the reserve');
  t.equal(third.groups.own.planned + third.groups.other.planned, 0);
  r.noteRetries(Number.NaN);
  t.equal(r.plan(node(110), UDP_TCP).retryReserve, 0, 'no retries: no reserve');
  const unbudgeted = new Rotation();
  unbudgeted.noteRetries(5);
  t.equal(unbudgeted.plan(node(3), { ...UDP_TCP, budget: Infinity }).retryReserve, 0, 'without a budget nothing is kept');
  t.end();
});

t.test('with two slots or more, each group has one', (t) => {
  for (const [budget, own, other] of [
    [4 + 1, 1, 0],
    [4 + 2, 1, 1],
    [4 + 3, 2, 1],
    [4 + 5, 4, 1],
    [4 + 10, 8, 2],
  ] as const) {
    const plan = new Rotation().plan(node(20), { transports: ['udp'], budget, costPerPair: 1, tcpEvery: 1 });
    t.same([plan.groups.own.slots, plan.groups.other.slots], [own, other], `${budget - 4} slots after the host`);
  }
  t.end();
});

t.test('a group that needs less than its share leaves the rest to the other', (t) => {
  // 10 pods, UDP only: 10 own pairs, 30 other; 50 slots - 4 host = 46: own 37 (needs 10), other 9 + 27.
  const plan = new Rotation().plan(node(10), { ...UDP_TCP, transports: ['udp'] });
  t.equal(plan.groups.own.planned, 10);
  t.equal(plan.groups.other.planned, 30, 'every other pair fits with what own left');
  t.equal(plan.skipped.length, 0);
  t.end();
});

t.test('rotation: every pair within K sweeps, for any node and budget (random)', (t) => {
  let seed = 12345;
  const rand = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  let checked = 0;
  for (let round = 0; round < 40; round++) {
    const pods = 1 + rand(150);
    const opts: PlanOptions = {
      transports: rand(2) ? ['udp', 'tcp'] : ['udp'],
      budget: 20 + rand(400),
      costPerPair: 1 + rand(3),
      tcpEvery: 1 + rand(4),
    };
    const first = new Rotation().plan(node(pods), opts);
    const k = { own: first.groups.own.rotationSweeps, other: first.groups.other.rotationSweeps };
    if (k.own === null || k.other === null || Math.max(k.own, k.other) > 100) continue;
    checked++;
    const { maxGap, cls, plans } = run(() => node(pods), opts, 3 * Math.max(k.own, k.other) + 5);
    const over = [...maxGap].filter(([key, gap]) => {
      const c = cls.get(key) as 'host' | 'own' | 'other';
      return gap > (c === 'host' ? 1 : k[c]!);
    });
    t.same(over, [], `round ${round} (${pods} pods, ${JSON.stringify(opts)}, K ${k.own}/${k.other}): no pair waited longer`);
    t.ok(
      plans.every((p) => p.reserved <= Math.max(opts.budget, p.groups.host.planned * opts.costPerPair)),
      'never over budget',
    );
  }
  t.ok(checked >= 20, `${checked} rounds checked`);
  t.pass('every gap within its bound');
  t.end();
});

t.test('the bound is reached: the cursor goes round, it does not start over', (t) => {
  // 20 pods, UDP, own only (no other targets): 20 pairs, 5 slots after the host: K = 4 exactly.
  const vs = (): PlanVantage[] =>
    Array.from({ length: 20 }, (_, i) => ({ key: `p${String(i).padStart(2, '0')}`, host: false, targets: [{ target: SERVICE, own: true }] }));
  const { plans, maxGap } = run(vs, { transports: ['udp'], budget: 5, costPerPair: 1, tcpEvery: 1 }, 12);
  t.equal(plans[0]!.groups.own.rotationSweeps, 4);
  t.same(new Set(maxGap.values()), new Set([4]), 'each pair exactly every 4th sweep');
  t.same(
    plans.slice(0, 4).map((p) => p.planned.map((x) => x.vantageKey)),
    [
      ['p00', 'p01', 'p02', 'p03', 'p04'],
      ['p05', 'p06', 'p07', 'p08', 'p09'],
      ['p10', 'p11', 'p12', 'p13', 'p14'],
      ['p15', 'p16', 'p17', 'p18', 'p19'],
    ],
  );
  t.end();
});

t.test('a new pod is probed at once; pairs that leave are forgotten', (t) => {
  const base = Array.from({ length: 20 }, (_, i) => ({ key: `p${String(i).padStart(2, '0')}`, host: false, targets: [{ target: SERVICE, own: true }] }));
  const r = new Rotation();
  const opts: PlanOptions = { transports: ['udp'], budget: 5, costPerPair: 1, tcpEvery: 1 };
  r.plan(base, opts);
  const plan = r.plan([...base, { key: 'new', host: false, targets: [{ target: SERVICE, own: true }] }], opts);
  t.ok(
    plan.planned.some((p) => p.vantageKey === 'new'),
    'never probed: planned at once',
  );
  t.equal(plan.planned.length, 5, 'within the budget still');
  // p00 leaves and comes back: it starts afresh (probed at once).
  r.plan(base.slice(1), opts);
  const back = r.plan(base, opts);
  t.ok(
    back.planned.some((p) => p.vantageKey === 'p00'),
    'a pair that left and came back is new again',
  );
  t.end();
});

t.test('rotationBound', (t) => {
  t.equal(rotationBound(10, 10, 1), 1);
  t.equal(rotationBound(10, 3, 1), 4);
  t.equal(rotationBound(10, 3, 3), 6);
  t.equal(rotationBound(10, 0, 1), null);
  t.equal(rotationBound(10, null, 3), 3);
  t.end();
});

t.test('configuration: probe.maxQueriesPerSecond and probe.tcpEvery', (t) => {
  const c = loadConfig({ file: false, env: {} });
  t.equal(c.probe.maxQueriesPerSecond, 10, 'documented default');
  t.equal(c.probe.tcpEvery, 3, 'documented default');
  t.same(budgetOptions(c), { queriesPerSweep: 100, tcpEvery: 3 }, '10 q/s × 10 s');
  t.same(budgetOptions(loadConfig({ file: false, env: {}, flags: { 'probe.maxQueriesPerSecond': 0.5, interval: '3s', jitter: 0 } })), {
    queriesPerSweep: 1,
    tcpEvery: 3,
  });
  const refused = (load: () => unknown, field: RegExp, what: string): void => {
    try {
      load();
      t.fail(`${what} was accepted`);
    } catch (err) {
      t.type(err, ConfigError);
      t.match((err as Error).message, field, `${what} is refused, naming the field`);
    }
  };
  for (const bad of [0, -1, 100_001, 'lots']) {
    refused(
      () => loadConfig({ file: false, env: {}, flags: { 'probe.maxQueriesPerSecond': bad } }),
      /probe\.maxQueriesPerSecond: must be a number greater than 0 and at most 100000/,
      String(bad),
    );
  }
  refused(() => loadConfig({ file: false, env: { COREDNS_HEALTHD_PROBE_TCP_EVERY: '0' } }), /probe\.tcpEvery: must be an integer from 1 to 1000/, 'tcpEvery 0');
  t.end();
});
