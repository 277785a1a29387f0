// The shipped example configuration must never drift from the schema.
import fs from 'node:fs';
import t from 'tap';
import { exampleConfig, renderExample } from '../../src/config/example.js';
import { loadConfig } from '../../src/config/load.js';
import { SETTINGS } from '../../src/config/schema.js';
import { repoPath } from '../support/paths.js';

const SHIPPED = repoPath('packaging/coredns-healthd.json');
const REGENERATE = 'npm run build && node dist/src/config/example.js > packaging/coredns-healthd.json';

t.test('packaging/coredns-healthd.json is exactly what the schema generates', (t) => {
  t.equal(fs.readFileSync(SHIPPED, 'utf8'), renderExample(), `out of date: regenerate with\n  ${REGENERATE}`);
  t.end();
});

t.test('it holds every setting', (t) => {
  const example = exampleConfig();
  for (const s of SETTINGS) {
    const value = s.key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], example);
    t.same(value, s.default, s.key);
  }
  t.end();
});

t.test('loading it gives the built-in defaults', (t) => {
  const fromFile = loadConfig({ file: SHIPPED, env: {} });
  t.same(fromFile, loadConfig({ file: false, env: {} }));
  t.end();
});
