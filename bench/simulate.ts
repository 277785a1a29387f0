// npm run simulate [-- --nodes N] [--only <text>] [--json FILE]: the cluster simulation
// (test/support/cluster-sim.ts): every scenario of issue 14 on 1,000 simulated nodes by
// default, each a real remedy engine with its own client against the fake API server, on one
// fake clock. Prints, per scenario, what happened (evictions, Deployment patches, API requests
// by verb, decisions) and what a 5,000-node cluster would add to the API server, extrapolated.
import { simulate, type SimResult } from '../test/support/cluster-sim.js';
import { scenarios } from '../test/support/cluster-sim-scenarios.js';

const args = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const nodes = Number(arg('--nodes') ?? 1000);
if (!Number.isInteger(nodes) || nodes < 3) {
  process.stderr.write('--nodes: an integer of at least 3\n');
  process.exit(2);
}
const only = arg('--only');
const results: SimResult[] = [];
for (const s of scenarios(nodes)) {
  if (only && !s.name.includes(only)) continue;
  process.stderr.write(`${s.name} (${nodes} nodes)...\n`);
  results.push(await simulate(s, { progress: (l) => process.stderr.write(l) }));
}
const jsonOut = arg('--json');
if (jsonOut) {
  const { writeFileSync } = await import('node:fs');
  writeFileSync(jsonOut, `${JSON.stringify(results, null, 2)}\n`);
}

const VERBS = ['get', 'list', 'create', 'update', 'patch'];
const sum = (m: Record<string, number>): number => Object.values(m).reduce((a, b) => a + b, 0);
/** Writes per node per refresh period, after every node's start (the first interval). */
const perNodeRefresh = (r: SimResult): string => {
  const periods = (r.simulatedMs - r.intervalMs) / r.settings.quorum.refreshMs;
  return (sum(r.laterWrites) / r.nodes / periods).toFixed(2);
};
const top = (d: Record<string, number>): string =>
  Object.entries(d)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([k, v]) => `${k.replace(/^(evict|raise-memory)\//, '')} ${v}`)
    .join(', ');
const rows = results.map((r) => [
  r.name,
  `${r.simulatedMs / 60_000} min`,
  String(r.evictions),
  String(r.deploymentPatches),
  VERBS.map((v) => String(r.laterRequests[v] ?? 0)).join(' / '),
  perNodeRefresh(r),
  top(r.decisions) || '-',
  `${(r.wallMs / 1000).toFixed(0)} s`,
]);
const head = [
  'scenario',
  'simulated',
  'evictions',
  'Deployment patches',
  `API requests after the start (${VERBS.join(' / ')})`,
  'writes per node per refresh period',
  'top decisions',
  'wall',
];
const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
const first = results[0];
process.stdout.write(`\n${nodes} simulated nodes, sweep interval ${(first?.intervalMs ?? 0) / 1000} s, remedy defaults (mode enforce)\n\n`);
process.stdout.write(`${line(head)}\n${line(head.map(() => '---'))}\n${rows.map(line).join('\n')}\n`);
if (first) {
  process.stdout.write(
    `\nEvery node's start (the first interval, in every scenario): ${VERBS.map((v) => `${first.startRequests[v] ?? 0} ${v}`).join(', ')} ` +
      `(${(sum(first.startRequests) / first.nodes).toFixed(1)} per node: its zone label, its node condition, its verdict Lease).\n`,
  );
}
process.stdout.write(`\nexpected:\n${results.map((r) => `  ${r.name}: ${r.expect}`).join('\n')}\n`);

// What 5,000 nodes would add, extrapolated linearly from the simulation (the requests scale with
// the nodes that report or act; an extrapolation, not a measurement).
const scale = 5000 / nodes;
process.stdout.write(`\n5,000 nodes, extrapolated ×${+scale.toFixed(2)} from ${nodes} (requests/s to the API server, after the start):\n`);
for (const r of results) {
  const later = r.requestsPerInterval.slice(1);
  const seconds = (r.simulatedMs - r.intervalMs) / 1000;
  process.stdout.write(
    `  ${r.name}: mean ${((sum(r.laterRequests) / seconds) * scale).toFixed(1)}, writes ${((sum(r.laterWrites) / seconds) * scale).toFixed(1)}, ` +
      `busiest ${r.intervalMs / 1000} s interval ${((Math.max(0, ...later) / (r.intervalMs / 1000)) * scale).toFixed(0)}\n`,
  );
}
if (first)
  process.stdout.write(`  every daemon starting at once: ${((sum(first.startRequests) / (first.intervalMs / 1000)) * scale).toFixed(0)} for one interval\n`);
