// `node dist/bench/budget.js [--pods N] [--qps Q,Q,...] [--interval S] [--attempts A] [--tcp-every T] [--sweeps S]`:
// the probe budget's plan (src/probe/plan.ts, the daemon's own code) for a node of N pods, each with
// its own nameserver and 3 other targets (the DNS Service and two CoreDNS pods), UDP and TCP; the host
// probes the same 4. For each budget: per class, the pairs, the slots a sweep, the bound K and the
// longest gap seen over S simulated sweeps (from the 2nd rotation on), in sweeps and seconds; and the
// load on CoreDNS: queries per second from the node when every probe passes at its first attempt,
// and at most (the budget), per node and per 1,000 nodes. No network: the plan alone.
import { parseArgs } from 'node:util';
import { Rotation, pairKey, type PlanVantage } from '../src/probe/plan.js';
import type { PairClass, Target } from '../src/model.js';

const { values: args } = parseArgs({
  options: {
    pods: { type: 'string', default: '110' },
    qps: { type: 'string', default: '10,30,100' },
    interval: { type: 'string', default: '10' },
    attempts: { type: 'string', default: '2' },
    'tcp-every': { type: 'string', default: '3' },
    sweeps: { type: 'string', default: '400' },
  },
});
const PODS = Number(args.pods);
const INTERVAL_S = Number(args.interval);
const ATTEMPTS = Number(args.attempts);
const TCP_EVERY = Number(args['tcp-every']);
const SWEEPS = Number(args.sweeps);

const t = (server: string, source: Target['source']): Target => ({ server, port: 53, source });
const OWN = t('169.254.20.10', 'resolv.conf');
const OTHER = [t('10.96.0.10', 'dns-service'), t('10.244.1.2', 'coredns-pod'), t('10.244.2.2', 'coredns-pod')];
const vantages: PlanVantage[] = [
  { key: 'host', host: true, targets: [OWN, ...OTHER].map((target, i) => ({ target, own: i === 0 })) },
  ...Array.from({ length: PODS }, (_, i) => ({
    key: `pod-${i}`,
    host: false,
    targets: [{ target: OWN, own: true }, ...OTHER.map((target) => ({ target, own: false }))],
  })),
];
const unbudgeted = (1 + PODS) * 4 * 2;
process.stdout.write(
  `${PODS} pods + the host, 4 targets each, UDP + TCP: ${unbudgeted} pairs; interval ${INTERVAL_S} s, probe.attempts ${ATTEMPTS}, probe.tcpEvery ${TCP_EVERY}\n` +
    `without a budget: ${unbudgeted} probes a sweep, ${(unbudgeted / INTERVAL_S).toFixed(1)} q/s per node, ${Math.round((unbudgeted / INTERVAL_S) * 1000)} q/s per 1,000 nodes (every probe passing at its first attempt)\n\n`,
);
for (const qps of args.qps.split(',').map(Number)) {
  const r = new Rotation();
  const opts = { transports: ['udp', 'tcp'] as const, budget: Math.floor(qps * INTERVAL_S), costPerPair: ATTEMPTS, tcpEvery: TCP_EVERY };
  const last = new Map<string, number>();
  const gap: Record<PairClass, number> = { host: 0, own: 0, other: 0 };
  let planned = 0;
  let first = r.plan(vantages, { ...opts, transports: [...opts.transports] });
  for (let s = 2; s <= SWEEPS; s++) {
    const plan = r.plan(vantages, { ...opts, transports: [...opts.transports] });
    if (s === 2) first = plan;
    planned += plan.planned.length;
    for (const p of plan.planned) {
      const k = pairKey(p.vantageKey, p.target, p.transport);
      const prev = last.get(k);
      if (prev !== undefined && s > SWEEPS / 4) gap[p.class] = Math.max(gap[p.class], s - prev);
      last.set(k, s);
    }
  }
  const perSweep = planned / (SWEEPS - 1);
  process.stdout.write(
    `probe.maxQueriesPerSecond ${qps}: ${opts.budget} queries a sweep, ${Math.floor(opts.budget / ATTEMPTS)} pairs reserved at ${ATTEMPTS} attempts each\n`,
  );
  for (const cls of ['host', 'own', 'other'] as const) {
    const g = first.groups[cls];
    const k = g.rotationSweeps;
    process.stdout.write(
      `  ${cls.padEnd(5)}  ${String(g.pairs).padStart(4)} pairs  ${g.slots === null ? 'all' : String(g.slots).padStart(3)} slots  K ${k === null ? 'never' : `${k} sweeps (${k * INTERVAL_S} s)`}  longest gap seen ${gap[cls]} sweeps (${gap[cls] * INTERVAL_S} s)\n`,
    );
  }
  process.stdout.write(
    `  CoreDNS load: ${(perSweep / INTERVAL_S).toFixed(1)} q/s per node when healthy (${Math.round((perSweep / INTERVAL_S) * 1000)} per 1,000 nodes), at most ${qps} (${qps * 1000} per 1,000 nodes)\n\n`,
  );
}
