// Strings that a container, a Docker label, a DNS server or an HTTP client
// controls. Every such string is capped before it is stored (findings,
// /status, metric labels, logs) and shown escaped wherever people read it
// (the check table and findings, /healthz bodies, sd_notify STATUS=, log
// messages). The two steps are separate on purpose: JSON output keeps the
// capped value (JSON escapes control characters itself), human text escapes it.

/** The longest untrusted field kept, in characters (before escaping). */
export const MAX_FIELD = 256;
/** The most items of an untrusted list kept. */
export const MAX_ITEMS = 16;

const ELLIPSIS = '…';

/**
 * Caps a string at `max` characters (UTF-16 code units, never splitting a
 * surrogate pair); a longer one ends with "…(+N chars)". Non-strings become ''.
 */
export function capString(s: unknown, max = MAX_FIELD): string {
  if (typeof s !== 'string') return '';
  if (s.length <= max) return s;
  let cut = max;
  const code = s.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut--; // do not split a surrogate pair
  return `${s.slice(0, cut)}${ELLIPSIS}(+${s.length - cut} chars)`;
}

/**
 * Caps a list at `maxItems` items, each capped at `maxField`; a longer list
 * ends with one marker item "…and N more".
 */
export function capList(items: readonly unknown[], maxItems = MAX_ITEMS, maxField = MAX_FIELD): string[] {
  const kept = items.slice(0, maxItems).map((s) => capString(s, maxField));
  if (items.length > maxItems) kept.push(`${ELLIPSIS}and ${items.length - maxItems} more`);
  return kept;
}

// C0 controls, DEL, C1 controls, the Unicode line/paragraph separators, the
// bidi marks, overrides and isolates (U+061C ALM among them) that can reorder or
// forge what a terminal shows, and the invisible zero-width characters
// (U+200B-U+200D, U+2060-U+2064, U+FEFF) that make two names look the same.
// Backslash is escaped too, so an escaped string cannot be confused with a
// forged escape.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\\]/g;

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function escapeChar(ch: string): string {
  switch (ch) {
    case '\\':
      return '\\\\';
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\t':
      return '\\t';
    default: {
      const code = ch.charCodeAt(0);
      return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
    }
  }
}

/** Shows control characters (and backslash) escaped: `\x1b`, `\n`, `\u202e`. Lone surrogates become U+FFFD. */
export function escapeControl(s: string): string {
  return s.replace(UNSAFE, escapeChar).replace(LONE_SURROGATE, '\ufffd');
}

/** capString, then escapeControl: the one call for an untrusted string in human-facing text. */
export function safeText(s: unknown, max = MAX_FIELD): string {
  return escapeControl(capString(s, max));
}

/** True when `s` has nothing escapeControl would change. */
export function isPlainText(s: string): boolean {
  UNSAFE.lastIndex = 0;
  const unsafe = UNSAFE.test(s);
  UNSAFE.lastIndex = 0;
  LONE_SURROGATE.lastIndex = 0;
  const lone = LONE_SURROGATE.test(s);
  LONE_SURROGATE.lastIndex = 0;
  return !unsafe && !lone;
}

/**
 * capList for a list that may already be a prefix of a longer one: the first
 * `maxItems` of `items` (each capped), then "…and N more" where N counts
 * everything past them out of `total` (e.g. a parser keeps 16 search domains
 * and counts them all).
 */
export function capCounted(items: readonly unknown[], total: number, maxItems = MAX_ITEMS, maxField = MAX_FIELD): string[] {
  const kept = items.slice(0, maxItems).map((s) => capString(s, maxField));
  const all = Math.max(total, items.length);
  if (all > kept.length) kept.push(`${ELLIPSIS}and ${all - kept.length} more`);
  return kept;
}

// What JSON.stringify leaves raw inside strings although a terminal acts on
// it: DEL, the C1 controls (U+009B is a CSI), the line/paragraph separators,
// the bidi marks, overrides and isolates, and the zero-width characters (as
// UNSAFE above). C0 is escaped by JSON itself.
const JSON_UNSAFE = /[\u007f-\u009f\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/g;

/**
 * Escapes, in serialized JSON, what JSON.stringify leaves raw (see above) as
 * \uXXXX. Outside strings JSON holds only ASCII, so the result is still valid
 * JSON and parses to the same value.
 */
export function escapeJsonText(json: string): string {
  return json.replace(JSON_UNSAFE, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** JSON.stringify, then escapeJsonText: for every JSON document people may read (check --json, /status, logs). */
export function safeJsonStringify(value: unknown, space?: number): string {
  return escapeJsonText(JSON.stringify(value, null, space) ?? 'null');
}

export interface JsonBounds {
  /** Characters of a string (and of a key). Default 512. */
  maxString?: number;
  /** Items of an array; a longer one ends with "…and N more". Default 32. */
  maxItems?: number;
  /** Keys of an object; the rest are dropped and counted under "…". Default 64. */
  maxKeys?: number;
  /** Nesting below which a value is replaced by "…". Default 8. */
  maxDepth?: number;
}

/**
 * A bounded copy of JSON-like data: strings capped, arrays and objects cut
 * (with a count of what was cut), nesting limited. Numbers, booleans and null
 * stay; anything else (functions, symbols, undefined) is dropped from objects
 * and becomes null in arrays, as JSON.stringify would.
 */
export function boundJson(value: unknown, bounds: JsonBounds = {}): unknown {
  const maxString = bounds.maxString ?? 512;
  const maxItems = bounds.maxItems ?? 32;
  const maxKeys = bounds.maxKeys ?? 64;
  const maxDepth = bounds.maxDepth ?? 8;
  const walk = (v: unknown, depth: number): unknown => {
    if (typeof v === 'string') return capString(v, maxString);
    if (v === null || typeof v === 'number' || typeof v === 'boolean') return v;
    if (typeof v !== 'object') return undefined;
    if (depth >= maxDepth) return ELLIPSIS;
    if (Array.isArray(v)) {
      const out = v.slice(0, maxItems).map((x) => walk(x, depth + 1) ?? null);
      if (v.length > maxItems) out.push(`${ELLIPSIS}and ${v.length - maxItems} more`);
      return out;
    }
    const out: Record<string, unknown> = {};
    let kept = 0;
    let dropped = 0;
    for (const k in v) {
      if (!Object.hasOwn(v, k)) continue;
      if (kept >= maxKeys) {
        dropped++;
        continue;
      }
      const x = walk((v as Record<string, unknown>)[k], depth + 1);
      if (x === undefined) continue;
      out[capString(k, maxString)] = x;
      kept++;
    }
    if (dropped > 0) out[ELLIPSIS] = `${dropped} more keys`;
    return out;
  };
  return walk(value, 0);
}

/** The message of anything thrown (an Error's message, else its string form); raw, cap or escape it where it goes. */
export const errorMessage = (err: unknown): string => (err instanceof Error ? err.message : String(err));
