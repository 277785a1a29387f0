// The value formats of coredns-healthd's settings: what each accepts in the
// JSON file, how an environment variable or flag string becomes a value, how
// a value is checked (the error says what is wrong and what would be right),
// and the canonical form the daemon sees. One file per domain; this one only
// gathers them, and registers them with convict by name.
import type { Format } from './format.js';
import * as dns from './format-dns.js';
import * as kube from './format-kube.js';
import * as network from './format-network.js';
import * as scalars from './format-scalars.js';

/** Everything the format files export, formats among it, as the schema names them (F.duration, F.queries, ...). */
export const F = { ...scalars, ...network, ...kube, ...dns };

const isFormat = (v: unknown): v is Format<unknown> =>
  typeof v === 'object' && v !== null && typeof (v as Format<unknown>).name === 'string' && typeof (v as Format<unknown>).validate === 'function';

/** Every format, by name (registered with convict). */
export const FORMATS: ReadonlyMap<string, Format<unknown>> = new Map(
  (Object.values(F) as unknown[]).filter(isFormat).map((f): [string, Format<unknown>] => [f.name, f]),
);
