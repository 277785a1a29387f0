// The example configuration file (packaging/coredns-healthd.json): every key
// at its default, generated from the schema so it can never drift from it.
// A unit test compares the shipped file with renderExample().
//
//   npm run build && node dist/src/config/example.js > packaging/coredns-healthd.json
import { pathToFileURL } from 'node:url';
import { SCHEMA, isSetting, type Section } from './schema.js';

/** The schema's defaults as a nested object, as written in a file (durations like "10s"). */
export function exampleConfig(section: Section = SCHEMA): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, node] of Object.entries(section)) {
    out[name] = isSetting(node) ? structuredClone(node.default) : exampleConfig(node);
  }
  return out;
}

const isScalar = (v: unknown): boolean => v === null || typeof v !== 'object';

/** JSON with 2-space indents; arrays of scalars stay on one line. */
function render(value: unknown, indent: string): string {
  if (isScalar(value)) return JSON.stringify(value);
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.every(isScalar)) return `[${value.map((v) => JSON.stringify(v)).join(', ')}]`;
    return `[\n${value.map((v) => inner + render(v, inner)).join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length === 0) return '{}';
  return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${render(v, inner)}`).join(',\n')}\n${indent}}`;
}

/** The text of packaging/coredns-healthd.json. */
export function renderExample(): string {
  return `${render(exampleConfig(), '')}\n`;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stdout.write(renderExample());
}
