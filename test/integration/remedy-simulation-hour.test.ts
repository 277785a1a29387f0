// The cluster simulation's hour-long scenarios (see remedy-simulation.test.ts): 5% of the nodes
// flapping against a pod, and an hour of nothing wrong, with the API writes it costs.
import t from 'tap';
import { runScenario, withReason } from '../support/cluster-sim-scenarios.js';

t.test('5% of nodes flap against pod A for an hour: no eviction', async (t) => {
  const r = await runScenario(t, '5% of nodes flap');
  t.equal(r.evictions, 0);
  t.equal(r.deploymentPatches, 0);
  t.ok(withReason(r, 'no-quorum') > 0, 'the flapping nodes asked, and there was no quorum');
});

t.test('1 hour with nothing wrong: no write per sweep; at most one per node per refresh period', async (t) => {
  const r = await runScenario(t, 'nothing wrong');
  t.equal(r.evictions, 0);
  t.same(r.decisions, {}, 'no decision at all');
  // After every node's start (its first interval: zone label, node condition, first verdict Lease).
  const refresh = r.settings.quorum.refreshMs;
  const window = r.simulatedMs - r.intervalMs;
  const periods = window / refresh;
  const later = Object.values(r.laterWrites).reduce((a, b) => a + b, 0);
  // A node's first refresh after its start comes after a random half to whole period (so that
  // nodes started together do not refresh in lockstep), then one every period: in a window of
  // W, at most 1 + floor((W - period / 2) / period) refreshes, 12 in 59 min 50 s of 5-min periods.
  // (W / period, 11.97 here, was the bound before; ~93 % of the nodes fit a 12th refresh, so
  // the total crossed it in about one run of ten.)
  const perNode = 1 + Math.floor((window - refresh / 2) / refresh);
  t.ok(
    later <= r.nodes * perNode,
    `${later} writes by ${r.nodes} nodes over ${periods.toFixed(2)} refresh periods: at most ${perNode} per node (one per period, the first after half to one period)`,
  );
  t.ok(later >= r.nodes * Math.floor(periods) * 0.9, 'and the verdict Leases are refreshed (a report older than the window would not count)');
  t.same(Object.keys(r.laterWrites), ['leases'], 'only the verdict Leases: the node condition waits for its hourly heartbeat');
  t.same(r.startRequests, { get: 3 * r.nodes, create: r.nodes, patch: r.nodes }, 'each node starts with 3 reads and 2 writes');
  const sweepsPerNode = r.simulatedMs / r.intervalMs;
  t.ok(later / (r.nodes * sweepsPerNode) < 0.05, `${later} writes over ${r.nodes * sweepsPerNode} node sweeps: no write per sweep`);
  t.notOk(r.requests.list, 'nobody read the verdicts');
});
