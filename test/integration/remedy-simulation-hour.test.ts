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
  const periods = (r.simulatedMs - r.intervalMs) / r.settings.quorum.refreshMs;
  const later = Object.values(r.laterWrites).reduce((a, b) => a + b, 0);
  t.ok(later <= r.nodes * periods, `${later} writes by ${r.nodes} nodes over ${periods.toFixed(1)} refresh periods: at most one per node per period`);
  t.ok(later >= r.nodes * Math.floor(periods) * 0.9, 'and the verdict Leases are refreshed (a report older than the window would not count)');
  t.same(Object.keys(r.laterWrites), ['leases'], 'only the verdict Leases: the node condition waits for its hourly heartbeat');
  t.same(r.startRequests, { get: 3 * r.nodes, create: r.nodes, patch: r.nodes }, 'each node starts with 3 reads and 2 writes');
  const sweepsPerNode = r.simulatedMs / r.intervalMs;
  t.ok(later / (r.nodes * sweepsPerNode) < 0.05, `${later} writes over ${r.nodes * sweepsPerNode} node sweeps: no write per sweep`);
  t.notOk(r.requests.list, 'nobody read the verdicts');
});
