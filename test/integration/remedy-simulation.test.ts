// The cluster simulation (test/support/cluster-sim.ts), the incidents of issue 14's table
// asserted: real remedy engines as nodes, each with its own client, against the fake API server,
// on one fake clock. CI runs it on 100 nodes (COREDNS_HEALTHD_SIM_NODES to change it); `npm run
// simulate` runs the same scenarios on 1,000 and prints the figures the README shows. The
// hour-long scenarios are in remedy-simulation-hour.test.ts (the two files run side by side).
import t from 'tap';
import { API_DOWN_AT, API_UP_AT, FAULT_AT, runScenario, withReason } from '../support/cluster-sim-scenarios.js';

t.test('one node cannot reach pod A: no eviction; an Event about its path; its retries back off', async (t) => {
  const r = await runScenario(t, 'one node cannot reach');
  t.equal(r.evictions, 0, 'no eviction');
  t.same(r.actions, []);
  t.ok(withReason(r, 'no-quorum') > 0, 'the node asked, and there was no quorum');
  t.ok((r.events.CoreDNSPathSuspect ?? 0) >= 1, 'an Event points at the path');
  // 19 minutes after the fault: at 30 s, then 1, 2, 4 and every 5 minutes, not every 30 s (38).
  t.ok((r.requests.list ?? 0) <= 8, `the verdicts were read ${r.requests.list} times in 19 min`);
  t.equal(r.sweepsDone, r.sweeps);
});

t.test('pod A answers nobody: exactly one eviction, within failedSweeps sweeps plus one Lease round-trip', async (t) => {
  const r = await runScenario(t, 'pod A answers nobody');
  t.equal(r.evictions, 1, 'one eviction in the cluster');
  t.equal(r.actions.length, 1);
  const a = r.actions[0]!;
  t.match(a, { action: 'evict' });
  // The fault starts at FAULT_AT; the first node to sweep then reaches failedSweeps at its
  // failedSweeps-th failing sweep, and acts in that same sweep (Lease, quorum, eviction).
  t.ok(a.at - FAULT_AT <= (r.settings.failedSweeps - 1) * r.intervalMs + r.intervalMs, `evicted ${(a.at - FAULT_AT) / 1000}s after the fault`);
  t.equal(r.events.RemedyCompleted, 1, 'and its replacement was Ready');
  t.ok(r.minReady >= r.settings.minReadyPods);
});

t.test('pods A and B both sick: one at a time, never below minReadyPods, the PDB respected', async (t) => {
  const r = await runScenario(t, 'pods A and B both sick');
  t.equal(r.evictions, 2, 'both replaced');
  t.equal(new Set(r.actions.map((a) => a.target)).size, 2, 'two different pods');
  t.equal(r.maxActing, 1, 'never two actions under way at once');
  t.ok(r.actions[1]!.at > r.actions[0]!.at);
  t.equal(r.events.RemedyCompleted, 2, 'each replacement Ready before the Lease went to the next');
  t.ok(r.minReady >= Math.max(r.settings.minReadyPods, 2), `at least ${r.minReady} Ready pods at every interval (PDB minAvailable 2)`);
});

t.test('a zone partition: no eviction; the partition is reported (Event, decision, node condition)', async (t) => {
  const r = await runScenario(t, 'zone partition');
  t.equal(r.evictions, 0);
  t.ok(withReason(r, 'partition') > 0, 'decisions say partition');
  t.equal(withReason(r, 'no-quorum'), 0, 'not mistaken for single nodes’ paths');
  t.ok((r.events.NetworkPartitionSuspected ?? 0) > 0, 'Events say partition');
  t.ok((r.conditions.NetworkPartitionSuspected ?? 0) > 0, `node conditions say partition: ${JSON.stringify(r.conditions)}`);
});

t.test('an OOMKilled pod seen by every node: exactly one Deployment patch', async (t) => {
  const r = await runScenario(t, 'pod A OOMKilled');
  t.equal(r.deploymentPatches, 1);
  t.equal(r.evictions, 0);
  t.same(
    r.actions.map((a) => a.action),
    ['raise-memory'],
  );
});

t.test('the API server down for 10 minutes mid-incident: no action without fresh quorum; probing unaffected', async (t) => {
  const r = await runScenario(t, 'API server down');
  t.equal(r.sweepsDone, r.sweeps, 'every sweep came back while the API server was down');
  t.ok(withReason(r, 'api-unreachable') > 0, 'the nodes tried, and said why they could not');
  t.equal(r.evictions, 1, 'exactly one eviction');
  const a = r.actions[0]!;
  t.ok(a.at >= API_UP_AT + r.settings.apiSettleMs - r.intervalMs, `not before the API server was back and the verdicts published again (${a.at / 1000}s)`);
  t.ok(a.at > API_DOWN_AT);
  t.notOk(r.events.EvictSkipped, 'no node wrote an Event about the outage once the API server was back');
});
