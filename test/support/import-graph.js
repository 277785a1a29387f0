#!/usr/bin/env node
// The import graph of src/: no file imports itself back through others, and
// folders import only downward, in the order README.md's "How it works" states
// between <!-- layers --> and <!-- /layers --> (one line per layer, top first;
// names on one line are peers and must not import each other). Run by
// `npm run lint`; `--print` prints the folder edges. Exit 1 on any violation.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const IMPORT = /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]+?\s+from\s+)?['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

/** Every .ts file under `dir`, as paths relative to `root`. */
function tsFiles(root, dir) {
  const out = [];
  for (const entry of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = path.posix.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...tsFiles(root, rel));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(rel);
  }
  return out.sort();
}

/** Relative imports of each file, resolved to files of the graph (`x.js` names `x.ts`). */
export function readGraph(root, dir = 'src') {
  const files = tsFiles(root, dir);
  const known = new Set(files);
  const graph = new Map();
  for (const file of files) {
    const text = fs.readFileSync(path.join(root, file), 'utf8').replace(/\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, '');
    const deps = new Set();
    for (const m of text.matchAll(IMPORT)) {
      const spec = m[1] ?? m[2];
      if (!spec?.startsWith('.')) continue;
      const target = path.posix.normalize(path.posix.join(path.posix.dirname(file), spec)).replace(/\.js$/, '.ts');
      if (known.has(target)) deps.add(target);
    }
    graph.set(file, [...deps].sort());
  }
  return graph;
}

/** Strongly connected components with more than one member (or a self-import): Tarjan's algorithm. */
export function cycles(graph) {
  let index = 0;
  const idx = new Map();
  const low = new Map();
  const stack = [];
  const on = new Set();
  const found = [];
  const visit = (v) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v), low.get(w)));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v), idx.get(w)));
    }
    if (low.get(v) === idx.get(v)) {
      const scc = [];
      let w;
      do {
        w = stack.pop();
        on.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(scc.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return found;
}

/** The folder (or root-level file, without .ts) a file belongs to: src/probe/sweep.ts -> probe, src/log.ts -> log. */
export function unitOf(file, dir = 'src') {
  const rest = file.slice(dir.length + 1);
  const slash = rest.indexOf('/');
  return slash < 0 ? rest.replace(/\.ts$/, '') : rest.slice(0, slash);
}

/** Folder-level edges: "from -> to" with the file imports that make each. */
export function folderEdges(graph, dir = 'src') {
  const edges = new Map();
  for (const [file, deps] of graph) {
    for (const dep of deps) {
      const a = unitOf(file, dir);
      const b = unitOf(dep, dir);
      if (a === b) continue;
      const key = `${a} -> ${b}`;
      if (!edges.has(key)) edges.set(key, []);
      edges.get(key).push(`${file} -> ${dep}`);
    }
  }
  return edges;
}

/** The layers README.md states, top first: [['cli'], ['daemon'], ...]. */
export function readLayers(readme) {
  const m = /<!-- layers -->([\s\S]*?)<!-- \/layers -->/.exec(readme);
  if (!m) throw new Error('README.md: no <!-- layers --> ... <!-- /layers --> block in "How it works"');
  return m[1]
    .split('\n')
    .map((line) => [...line.matchAll(/`([\w-]+)\/?`/g)].map((x) => x[1]))
    .filter((names) => names.length > 0);
}

/** Every import that breaks the order: to a peer, to a higher layer, or from/to a folder the layers do not name. */
export function layerViolations(graph, layers, dir = 'src') {
  const rank = new Map();
  layers.forEach((names, i) => names.forEach((n) => rank.set(n, layers.length - i)));
  const problems = [];
  for (const unit of new Set([...graph.keys()].map((f) => unitOf(f, dir)))) {
    if (!rank.has(unit)) problems.push(`${dir}/${unit}: not named in README.md's layers`);
  }
  for (const [edge, via] of folderEdges(graph, dir)) {
    const [a, b] = edge.split(' -> ');
    const ra = rank.get(a);
    const rb = rank.get(b);
    if (ra === undefined || rb === undefined) continue;
    if (rb >= ra)
      problems.push(`${edge} goes ${rb === ra ? 'sideways' : 'up'} (${via.slice(0, 3).join(', ')}${via.length > 3 ? `, and ${via.length - 3} more` : ''})`);
  }
  return problems;
}

function main(argv) {
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
  const graph = readGraph(root);
  if (argv.includes('--print')) {
    for (const [edge, via] of [...folderEdges(graph)].sort()) console.log(`${edge}  (${via.length})`);
    return 0;
  }
  const problems = cycles(graph).map((c) => `import cycle: ${c.join(' <-> ')}`);
  problems.push(...layerViolations(graph, readLayers(fs.readFileSync(path.join(root, 'README.md'), 'utf8'))));
  for (const p of problems) console.error(p);
  if (problems.length === 0) console.log(`imports: ${graph.size} files, no cycles, folders in README.md's order`);
  return problems.length === 0 ? 0 : 1;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) process.exitCode = main(process.argv.slice(2));
