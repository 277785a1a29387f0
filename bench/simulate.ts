// npm run simulate [-- --nodes N] [--only <text>] [--json]: the cluster simulation
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
if (args.includes('--json')) {
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
  process.exit(0);
}

const VERBS = ['get', 'list', 'create', 'update', 'patch'];
const perNodeRefresh = (r: SimResult): string => {
  const periods = r.simulatedMs / r.settings.quorum.refreshMs;
  const writes = Object.values(r.writes).reduce((a, b) => a + b, 0);
  return (writes / r.nodes / periods).toFixed(2);
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
  VERBS.map((v) => String(r.requests[v] ?? 0)).join(' / '),
  perNodeRefresh(r),
  top(r.decisions) || '-',
  `${(r.wallMs / 1000).toFixed(0)} s`,
]);
const head = [
  'scenario',
  'simulated',
  'evictions',
  'Deployment patches',
  `API requests (${VERBS.join(' / ')})`,
  'writes per node per refresh',
  'top decisions',
  'wall',
];
const line = (cells: string[]): string => `| ${cells.join(' | ')} |`;
process.stdout.write(`\n${nodes} simulated nodes, sweep interval ${(results[0]?.intervalMs ?? 0) / 1000} s, remedy defaults (mode enforce)\n\n`);
process.stdout.write(`${line(head)}\n${line(head.map(() => '---'))}\n${rows.map(line).join('\n')}\n`);
process.stdout.write(`\nexpected:\n${results.map((r) => `  ${r.name}: ${r.expect}`).join('\n')}\n`);

// What 5,000 nodes would add, extrapolated linearly from the simulation (requests scale with
// the nodes that report or act; stated as an extrapolation, not measured).
const scale = 5000 / nodes;
const steady = results.find((r) => r.name.startsWith('nothing wrong'));
if (steady) {
  const total = Object.values(steady.requests).reduce((a, b) => a + b, 0);
  const firstMinutes = steady.requestsPerInterval.slice(0, Math.ceil(60_000 / steady.intervalMs)).reduce((a, b) => a + b, 0);
  const rps = ((total - firstMinutes) / ((steady.simulatedMs - 60_000) / 1000)) * scale;
  process.stdout.write(
    `\n5,000 nodes (extrapolated ×${scale} from ${nodes}): steady state ${rps.toFixed(1)} requests/s to the API server (after the first minute's start-up writes).\n`,
  );
}
for (const r of results) {
  const peak = Math.max(...r.requestsPerInterval);
  process.stdout.write(
    `  ${r.name}: peak ${((peak / (r.intervalMs / 1000)) * scale).toFixed(0)} requests/s over one ${r.intervalMs / 1000} s interval, mean ${(
      (r.requestsPerInterval.reduce((a, b) => a + b, 0) / (r.simulatedMs / 1000)) *
      scale
    ).toFixed(1)} requests/s\n`,
  );
}
