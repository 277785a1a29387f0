// The import check `npm run lint` runs: no cycle between files, folders only
// import downward in the order README.md states.
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { cycles, folderEdges, layerViolations, readGraph, readLayers } from '../support/import-graph.js';
import { REPO } from '../support/paths.js';

const LAYERS = '# x\n<!-- layers -->\n1. `cli`\n2. `probe` · `discovery`\n3. `model`\n<!-- /layers -->\n';

function tree(t: Test, files: Record<string, string>): string {
  const dir = t.testdir({});
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

t.test('this repository: no cycles, every folder named, every import downward', async (t) => {
  const graph = readGraph(REPO);
  t.ok(graph.size > 50, `${graph.size} files read`);
  t.same(cycles(graph), []);
  t.same(layerViolations(graph, readLayers(fs.readFileSync(path.join(REPO, 'README.md'), 'utf8'))), []);
  t.ok(
    [...folderEdges(graph).keys()].every((e) => !e.startsWith('model ->')),
    'model.ts imports nothing of the project',
  );
});

t.test('a cycle between files is found, through static, type-only and dynamic imports', async (t) => {
  const dir = tree(t, {
    'src/probe/a.ts': "import { b } from './b.js';\nexport const a = 1;",
    'src/probe/b.ts': "import type { C } from './c.js';\nexport const b = 2;",
    'src/probe/c.ts': "export type C = number;\nexport const f = () => import('./a.js');",
    'src/probe/d.ts': "// import { a } from './a.js';\nexport const d = 4;",
  });
  t.same(cycles(readGraph(dir)), [['src/probe/a.ts', 'src/probe/b.ts', 'src/probe/c.ts']], 'a commented-out import does not count');
});

t.test('a folder importing upward or sideways, or missing from the list, is reported', async (t) => {
  const dir = tree(t, {
    'src/cli/main.ts': "import { p } from '../probe/p.js';",
    'src/probe/p.ts': "import { d } from '../discovery/d.js';\nimport type { M } from '../model.js';\nexport const p = 1;",
    'src/discovery/d.ts': "import { c } from '../cli/main.js';\nexport const d = 1;",
    'src/model.ts': 'export type M = 1;',
    'src/extra/x.ts': 'export const x = 1;',
  });
  const problems = layerViolations(readGraph(dir), readLayers(LAYERS));
  t.same([...problems].sort(), [
    'discovery -> cli goes up (src/discovery/d.ts -> src/cli/main.ts)',
    'probe -> discovery goes sideways (src/probe/p.ts -> src/discovery/d.ts)',
    "src/extra: not named in README.md's layers",
  ]);
  t.throws(() => readLayers('no block here'), /no <!-- layers -->/);
});
