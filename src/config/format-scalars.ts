// Formats of plain values: booleans, bounded numbers, enumerations, paths and durations.
import { MAX_TIMEOUT_MS } from '../netns/binding.js';
import { LEVELS } from '../log.js';
import { type Format, fail } from './format.js';

const BOOLEAN_WORDS: Readonly<Record<string, boolean>> = { true: true, '1': true, yes: true, on: true, false: false, '0': false, no: false, off: false };

export const boolean: Format<boolean> = {
  name: 'boolean',
  doc: 'true or false (an environment variable may also say 1/0, yes/no, on/off)',
  json: ['boolean'],
  validate: (v) => {
    if (typeof v !== 'boolean') fail('must be true or false');
  },
  coerce: (text) => BOOLEAN_WORDS[text.trim().toLowerCase()] ?? text,
};

function integer(name: string, min: number, max: number, doc: string): Format<number> {
  return {
    name,
    doc,
    json: ['number'],
    validate: (v) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) fail(`must be an integer from ${min} to ${max}`);
    },
    coerce: (text) => (/^\s*-?\d+\s*$/.test(text) ? Number(text) : text),
  };
}

/** A number in (min, max], or [min, max] when minInclusive. */
function decimal(name: string, min: number, max: number, minInclusive: boolean, doc: string): Format<number> {
  const range = `${minInclusive ? 'from' : 'greater than'} ${min}${minInclusive ? ' to' : ' and at most'} ${max}`;
  return {
    name,
    doc,
    json: ['number'],
    validate: (v) => {
      const ok = typeof v === 'number' && Number.isFinite(v) && (minInclusive ? v >= min : v > min) && v <= max;
      if (!ok) fail(`must be a number ${range}`);
    },
    coerce: (text) => (/^\s*-?\d+(\.\d+)?\s*$/.test(text) ? Number(text) : text),
  };
}

export const count = integer('count', 1, 1_000_000, 'an integer of at least 1');
export const countOrZero = integer('count-or-zero', 0, 1_000_000, 'an integer of at least 0');
export const attempts = integer('attempts', 1, 10, 'an integer from 1 to 10');
export const dnsPort = integer('dns-port', 1, 65_535, 'a port number from 1 to 65535');
export const ratio = decimal('ratio', 0, 1, false, 'a fraction greater than 0 and at most 1, e.g. 0.9');
export const share = decimal('share', 0, 1, true, 'a fraction from 0 to 1, e.g. 0.5');
export const factor = decimal('factor', 1, 100, false, 'a number greater than 1 and at most 100, e.g. 2');
export const queryRate = decimal('query-rate', 0, 100_000, false, 'queries per second, greater than 0 and at most 100000, e.g. 10');
export const everySweeps = integer('every-sweeps', 1, 1000, 'a number of sweeps from 1 to 1000 (1: every sweep)');

function oneOf<const T extends string>(name: string, values: readonly T[]): Format<T> {
  return {
    name,
    doc: `one of ${values.map((v) => JSON.stringify(v)).join(', ')}`,
    json: ['string'],
    validate: (v) => {
      if (!(values as readonly unknown[]).includes(v)) fail(`must be one of ${values.map((x) => JSON.stringify(x)).join(', ')}`);
    },
  };
}

export const REMEDY_MODES = ['off', 'dry-run', 'enforce'] as const;
export const HEALTH_OVERRIDES = ['none', 'healthy', 'unhealthy'] as const;
export const logLevel = oneOf('log-level', LEVELS);
export const remedyMode = oneOf('remedy-mode', REMEDY_MODES);
export const healthOverride = oneOf('health-override', HEALTH_OVERRIDES);

function pathFormat(name: string, allowEmpty: boolean, doc: string): Format<string> {
  return {
    name,
    doc,
    json: ['string'],
    validate: (v) => {
      if (typeof v !== 'string' || (!allowEmpty && v === '')) fail(allowEmpty ? 'must be a file path or ""' : 'must be a non-empty file path');
      if ((v as string).includes('\0')) fail('must not contain a NUL character');
    },
  };
}

export const path = pathFormat('path', false, 'a file or directory path');
export const optionalPath = pathFormat('path-or-empty', true, 'a file path, or "" for none');

// ---------------------------------------------------------------------------
// Durations: a number of milliseconds, or a string with units

const DURATION_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h)/y;
/** setTimeout's limit: longer delays fire at once. */
export const MAX_DURATION_MS = 2_147_483_647;

/**
 * Milliseconds from a number (already milliseconds) or a string: "250" (ms),
 * "500ms", "10s", "5m", "1h", "1m30s". Null when it is not a duration.
 */
export function parseDuration(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (typeof value !== 'string') return null;
  const text = value.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  if (text === '') return null;
  let total = 0;
  DURATION_PART.lastIndex = 0;
  while (DURATION_PART.lastIndex < text.length) {
    const m = DURATION_PART.exec(text);
    if (!m) return null;
    total += Number(m[1]) * DURATION_UNITS[m[2]!]!;
  }
  return total;
}

const DURATION_EXAMPLES = 'a number of milliseconds or a string such as "500ms", "10s", "5m" or "1h30m"';

function durationFormat(name: string, allowZero: boolean, max: number, maxText: string): Format<number> {
  const lower = allowZero ? 'zero or more' : 'greater than zero';
  return {
    name,
    doc: `a duration, ${lower}, at most ${maxText}: ${DURATION_EXAMPLES}`,
    json: ['number', 'string'],
    validate: (v) => {
      const negative = typeof v === 'string' && /^\s*-/.test(v) && parseDuration(v.replace(/^\s*-/, '')) !== null;
      if (typeof v !== 'number' && !negative) fail(`must be a duration: ${DURATION_EXAMPLES}`);
      const ms = v as number;
      if (negative || !Number.isFinite(ms) || (allowZero ? ms < 0 : ms <= 0)) fail(`must be a duration ${lower} (${DURATION_EXAMPLES})`);
      if (ms > max) fail(`must be at most ${maxText} (${max} ms)`);
    },
    coerce: (text) => parseDuration(text) ?? text,
  };
}

export const duration = durationFormat('duration', false, MAX_DURATION_MS, '24 days');
export const durationOrZero = durationFormat('duration-or-zero', true, MAX_DURATION_MS, '24 days');
export const probeTimeout = durationFormat('probe-timeout', false, MAX_TIMEOUT_MS, `${MAX_TIMEOUT_MS / 1000}s`);
