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

// C0 controls, DEL, C1 controls, and the Unicode line/paragraph separators and
// bidi overrides that can reorder or forge what a terminal shows. Backslash is
// escaped too, so an escaped string cannot be confused with a forged escape.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069\\]/g;

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
