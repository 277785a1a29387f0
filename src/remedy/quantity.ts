// Memory limits: the raised value of a limit (× factor, never above the
// cap), written in the style of the old one ("170Mi" × 2 → "340Mi").
import { parseQuantity } from '../config/format-kube.js';

const BINARY = [
  ['Ei', 2 ** 60],
  ['Pi', 2 ** 50],
  ['Ti', 2 ** 40],
  ['Gi', 2 ** 30],
  ['Mi', 2 ** 20],
  ['Ki', 2 ** 10],
] as const;
const DECIMAL = [
  ['E', 1e18],
  ['P', 1e15],
  ['T', 1e12],
  ['G', 1e9],
  ['M', 1e6],
  ['k', 1e3],
] as const;

/** Bytes as a quantity: the largest suffix of the family that divides exactly, else plain bytes. */
export function formatBytes(bytes: number, family: 'binary' | 'decimal'): string {
  for (const [suffix, scale] of family === 'binary' ? BINARY : DECIMAL) if (bytes >= scale && bytes % scale === 0) return `${bytes / scale}${suffix}`;
  return String(bytes);
}

export type RaiseResult =
  { ok: true; from: string; to: string; fromBytes: number; toBytes: number; capped: boolean } | { ok: false; reason: 'at-cap' | 'unparsable'; message: string };

/**
 * The limit after raising `current` by `factor`, up to `cap`. A binary
 * limit stays binary and is rounded up to a whole Mi (a decimal one to a
 * whole M), never past the cap.
 */
export function raisedLimit(current: string, factor: number, cap: string): RaiseResult {
  const from = parseQuantity(current);
  const capBytes = parseQuantity(cap);
  if (from === null || from <= 0)
    return { ok: false, reason: 'unparsable', message: `the memory limit ${JSON.stringify(current)} is not a quantity this tool can raise` };
  if (capBytes === null) return { ok: false, reason: 'unparsable', message: `the cap ${JSON.stringify(cap)} is not a quantity` };
  if (from >= capBytes) return { ok: false, reason: 'at-cap', message: `the memory limit ${current} is already at or above the cap ${cap}` };
  const family = /[KMGTPE]i$/.test(current) ? 'binary' : /[kMGTPE]$/.test(current) ? 'decimal' : 'bytes';
  const unit = family === 'binary' ? 2 ** 20 : family === 'decimal' ? 1e6 : 1;
  let to = Math.ceil((from * factor) / unit) * unit;
  let capped = false;
  if (to >= capBytes) {
    to = capBytes;
    capped = true;
  }
  const text = capped ? cap : family === 'bytes' ? String(to) : formatBytes(to, family);
  return { ok: true, from: current, to: text, fromBytes: from, toBytes: to, capped };
}
