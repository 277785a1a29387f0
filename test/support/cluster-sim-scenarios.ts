// The scenarios of the cluster simulation (issue 14's table), shared by `npm run simulate`
// (bench/simulate.ts, which prints the figures) and test/integration/remedy-simulation.test.ts
// (which asserts them). Pod A is the first CoreDNS pod by name, B the second.
import type { Test } from 'tap';
import { simulate, type Scenario, type SimNode, type SimResult } from './cluster-sim.js';

const MIN = 60_000;
/** The fault starts one minute in: the nodes have published their healthy verdicts by then. */
export const FAULT_AT = MIN;

const podA = (sim: { initialPods: readonly { uid: string }[] }): string => sim.initialPods[0]!.uid;
const podB = (sim: { initialPods: readonly { uid: string }[] }): string => sim.initialPods[1]!.uid;

/** A stable pseudo-random number in [0, 1) per (node, salt). */
const rand = (n: SimNode, salt: number): number => {
  let x = (n.index + 1) * 2654435761 + salt * 40503;
  x = Math.imul(x ^ (x >>> 16), 2246822507);
  x = Math.imul(x ^ (x >>> 13), 3266489909);
  return ((x ^ (x >>> 16)) >>> 0) / 4294967296;
};

export function scenarios(nodes = 1000): Scenario[] {
  return [
    {
      name: 'one node cannot reach pod A',
      expect: "0 evictions; an Event about that node's path",
      nodes,
      durationMs: 20 * MIN,
      probe: (n, pod, t, sim) => (n.index === 17 && t >= FAULT_AT && pod.uid === podA(sim) ? 'failed' : 'ok'),
    },
    {
      name: '5% of nodes flap against pod A for an hour',
      expect: '0 evictions',
      nodes,
      durationMs: 60 * MIN,
      // Every 20th node, in and out of failing on a period of its own (1-6 min), from a phase of its own.
      probe: (n, pod, t, sim) => {
        if (n.index % 20 !== 3 || t < FAULT_AT || pod.uid !== podA(sim)) return 'ok';
        const period = MIN + Math.floor(rand(n, 1) * 5 * MIN);
        return Math.floor((t + rand(n, 2) * period) / period) % 2 === 0 ? 'failed' : 'ok';
      },
    },
    {
      name: 'pod A answers nobody (SERVFAIL from every node)',
      expect: 'exactly 1 eviction, within failedSweeps sweeps plus one Lease round-trip',
      nodes,
      durationMs: 6 * MIN,
      probe: (_n, pod, t, sim) => (t >= FAULT_AT && pod.uid === podA(sim) ? { status: 'failed', reasons: ['rcode'] } : 'ok'),
    },
    {
      name: 'pods A and B both sick',
      expect: 'one at a time, never below minReadyPods, PDB respected',
      nodes,
      pdb: { minAvailable: 2 },
      durationMs: 10 * MIN,
      probe: (_n, pod, t, sim) => (t >= FAULT_AT && (pod.uid === podA(sim) || pod.uid === podB(sim)) ? { status: 'failed', reasons: ['rcode'] } : 'ok'),
    },
    {
      name: 'zone partition (zone-b fails every pod in zone-a)',
      expect: '0 evictions; partition reported',
      nodes,
      durationMs: 15 * MIN,
      probe: (n, pod, t, sim) => (t >= FAULT_AT && n.zone === 'zone-b' && sim.zoneOfPod(pod) === 'zone-a' ? 'failed' : 'ok'),
    },
    {
      name: 'pod A OOMKilled, seen by every node',
      expect: 'exactly 1 Deployment patch',
      nodes,
      durationMs: 6 * MIN,
      probe: () => 'ok',
      beforeInterval: (t, sim) => {
        if (t === FAULT_AT) sim.kube.cluster.setLastTermination('kube-system', sim.initialPods[0]!.name, 'coredns', 'OOMKilled');
      },
    },
    {
      name: 'API server down for 10 minutes mid-incident',
      expect: 'no action without fresh quorum; probing unaffected',
      nodes,
      durationMs: 16 * MIN,
      // Pod A goes silent at 1 min; the API server goes away 10 s later, before any node reaches
      // failedSweeps, and is back at 11 min.
      probe: (_n, pod, t, sim) => (t >= FAULT_AT && pod.uid === podA(sim) ? 'failed' : 'ok'),
      beforeInterval: async (t, sim) => {
        if (t === API_DOWN_AT) await sim.kube.down();
        if (t === API_UP_AT) await sim.kube.up();
      },
    },
    {
      name: 'nothing wrong, 1 hour',
      expect: 'API writes: 0 per sweep, ≤ 1 per node per refresh period',
      nodes,
      durationMs: 60 * MIN,
      probe: () => 'ok',
    },
  ];
}

export const API_DOWN_AT = FAULT_AT + 10_000;
export const API_UP_AT = API_DOWN_AT + 10 * MIN;

/** The nodes the tests simulate (COREDNS_HEALTHD_SIM_NODES; `npm run simulate` uses 1,000). */
export const TEST_NODES = Number(process.env.COREDNS_HEALTHD_SIM_NODES ?? 100);

/** Runs the scenario whose name starts with `name` on TEST_NODES nodes; a comment with its figures. */
export async function runScenario(t: Test, name: string): Promise<SimResult> {
  const s = scenarios(TEST_NODES).find((x) => x.name.startsWith(name));
  if (!s) throw new Error(`no scenario ${name}`);
  const r = await simulate(s);
  t.comment(
    `${r.name}: ${r.nodes} nodes, ${r.simulatedMs / 60_000} simulated min in ${(r.wallMs / 1000).toFixed(1)} s; ` +
      `requests ${JSON.stringify(r.requests)}; decisions ${JSON.stringify(r.decisions)}`,
  );
  return r;
}

/** Decisions of every action and result with this reason. */
export const withReason = (r: SimResult, reason: string): number =>
  Object.entries(r.decisions)
    .filter(([k]) => k.endsWith(`/${reason}`))
    .reduce((n, [, v]) => n + v, 0);
