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
  const periods = r.simulatedMs / r.settings.quorum.refreshMs;
  // Each node's first write, then one per refresh period.
  t.ok((r.writes.leases ?? 0) <= r.nodes * (1 + periods), `${r.writes.leases} verdict Lease writes for ${r.nodes} nodes over ${periods} periods`);
  t.ok(
    (r.writes['nodes/status'] ?? 0) <= r.nodes * (1 + r.simulatedMs / r.settings.conditionHeartbeatMs),
    `${r.writes['nodes/status']} node status writes: the first, then the hourly heartbeat`,
  );
  const sweepsPerNode = r.simulatedMs / r.intervalMs;
  const writes = Object.values(r.writes).reduce((a, b) => a + b, 0);
  t.ok(writes / (r.nodes * sweepsPerNode) < 0.05, `${writes} writes over ${r.nodes * sweepsPerNode} node sweeps`);
  t.notOk(r.requests.list, 'nobody read the verdicts');
});
