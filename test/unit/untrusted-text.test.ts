// src/text/untrusted.ts: caps, escapes, bounded JSON, and JSON that shows no raw
// control character, fed hostile values (ESC sequences, forged lines, C1, bidi
// overrides, 1 MB strings, 10,000-item lists).
import t from 'tap';
import {
  MAX_FIELD,
  MAX_ITEMS,
  boundJson,
  capCounted,
  capList,
  capString,
  escapeControl,
  escapeJsonText,
  isPlainText,
  safeJsonStringify,
  safeText,
} from '../../src/text/untrusted.js';

/** Raw control characters, C1, line separators, bidi controls and zero-width characters: none may be left in text output. */
// eslint-disable-next-line no-control-regex -- finding raw control characters is the point
export const UNSAFE_RE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/;
/** The same, newline included (text that must stay one line). */
// eslint-disable-next-line no-control-regex -- finding raw control characters is the point
const UNSAFE_LINE_RE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]/;

const HOSTILE = [
  '\x1b[2J\x1b[H',
  'ok\nFAKE-LINE OK: 9 probes',
  '\x1b]0;pwn\x07title',
  '\u009b31mred',
  '\u202eevil.example',
  'cr\rcr',
  'del\x7f',
  'sep\u2028sep\u2029',
  'iso\u2066x\u2069',
  'nul\x00',
  'alm\u061cmark',
  'zero\u200bwidth\u200d\u2060\ufeffjoin',
];
const MB = 'x'.repeat(1024 * 1024);

t.test('capString: at most max characters plus a marker; never splits a surrogate pair', async (t) => {
  t.equal(capString('short'), 'short');
  t.equal(capString(''), '');
  t.equal(capString(undefined), '');
  t.equal(capString(42), '');
  const big = capString(MB);
  t.ok(big.startsWith('x'.repeat(MAX_FIELD)));
  t.ok(big.length < MAX_FIELD + 32, `${big.length} chars`);
  t.match(big, /…\(\+1048320 chars\)$/);
  const pairs = '😀'.repeat(300); // 600 code units
  const cut = capString(pairs, 5);
  t.notOk(/[\ud800-\udbff](?![\udc00-\udfff])/.test(cut), 'no lone high surrogate');
  t.ok(cut.startsWith('😀😀'));
});

t.test('capList and capCounted: 16 items, each capped, then "…and N more"', async (t) => {
  const list = Array.from({ length: 10_000 }, (_, i) => `${i}${'y'.repeat(i === 3 ? 100_000 : 0)}`);
  const c = capList(list);
  t.equal(c.length, MAX_ITEMS + 1);
  t.equal(c.at(-1), '…and 9984 more');
  t.ok(c.every((s) => s.length < MAX_FIELD + 32));
  t.same(capList(['a', 'b']), ['a', 'b'], 'a short list is kept whole');
  t.same(capList([1, null, 'x']), ['', '', 'x'], 'non-strings become empty');
  // A parser kept 16 of 10,000.
  const kept = list.slice(0, 16);
  const counted = capCounted(kept, 10_000, 4);
  t.same(counted.slice(0, 4), ['0', '1', '2', capString(list[3])]);
  t.equal(counted[4], '…and 9996 more');
  t.same(capCounted(['a'], 1), ['a']);
  t.same(capCounted(['a', 'b'], 0), ['a', 'b'], 'a total below the list counts the list');
});

t.test('escapeControl: every unsafe character shown escaped, backslash too, newlines never raw', async (t) => {
  t.equal(escapeControl('\x1b[2J'), '\\x1b[2J');
  t.equal(escapeControl('a\nb'), 'a\\nb');
  t.equal(escapeControl('a\r\tb'), 'a\\r\\tb');
  t.equal(escapeControl('\u009b'), '\\x9b');
  t.equal(escapeControl('\u202e'), '\\u202e');
  t.equal(escapeControl('\u2028'), '\\u2028');
  t.equal(escapeControl('\x7f'), '\\x7f');
  t.equal(escapeControl('c:\\x1b'), 'c:\\\\x1b', 'a forged escape stays distinguishable');
  t.equal(escapeControl('\ud800x'), '\ufffdx', 'a lone surrogate becomes U+FFFD');
  t.equal(escapeControl('plain café ünïcödé 😀'), 'plain café ünïcödé 😀', 'printable Unicode is untouched');
  for (const h of HOSTILE) {
    const e = escapeControl(h);
    // (TAP messages must not hold raw separators either: tap would read a U+2028 as a line break.)
    t.notOk(UNSAFE_LINE_RE.test(e), `${safeJsonStringify(h)} → ${safeJsonStringify(e)}`);
    t.ok(isPlainText(e.replace(/\\/g, '')), 'plain once the escapes are read as text');
    t.notOk(isPlainText(h), 'the raw value is not plain');
  }
  t.ok(isPlainText('kube-system/coredns-1'));
});

t.test('safeText: cap then escape; bounded for a 1 MB hostile string', async (t) => {
  const hostile = '\x1b[2J'.repeat(300_000);
  const s = safeText(hostile);
  t.notOk(UNSAFE_LINE_RE.test(s));
  t.ok(s.length <= MAX_FIELD * 4 + 32, `${s.length} chars`);
  t.equal(safeText('\u202eabc', 2), '\\u202ea…(+2 chars)');
});

t.test('escapeJsonText and safeJsonStringify: valid JSON, same value, no raw C1, separator or bidi', async (t) => {
  const value = { a: HOSTILE, nested: { k: '\u009b\u202e\u2028\x7f' }, '\u202ekey': 1 };
  const plain = JSON.stringify(value);
  t.ok(UNSAFE_RE.test(plain), 'JSON.stringify alone leaves C1/bidi raw (why this exists)');
  const safe = safeJsonStringify(value);
  t.notOk(UNSAFE_LINE_RE.test(safe), 'one line, nothing raw');
  t.same(JSON.parse(safe), value, 'parses back to the same value');
  const pretty = safeJsonStringify(value, 2);
  t.notOk(UNSAFE_RE.test(pretty), 'indented: only the layout newlines');
  t.same(JSON.parse(pretty), value);
  t.equal(escapeJsonText('"\u009b"'), '"\\u009b"');
  t.equal(safeJsonStringify(undefined), 'null');
});

t.test('boundJson: strings, arrays, keys and depth bounded; JSON values kept', async (t) => {
  const deep: Record<string, unknown> = {};
  let cur = deep;
  for (let i = 0; i < 50; i++) cur = cur.d = {};
  const wide = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`k${i}`, i]));
  const input = {
    s: MB,
    list: Array.from({ length: 10_000 }, (_, i) => `item${i}`),
    n: 3,
    b: false,
    z: null,
    u: undefined,
    f: () => 1,
    deep,
    wide,
    [`${'K'.repeat(5000)}`]: 'long key',
  };
  const out = boundJson(input, { maxString: 100, maxItems: 10, maxKeys: 20, maxDepth: 4 }) as Record<string, unknown>;
  t.ok((out.s as string).length < 130);
  t.equal((out.list as string[]).length, 11);
  t.equal((out.list as string[])[10], '…and 9990 more');
  t.equal(out.n, 3);
  t.equal(out.b, false);
  t.equal(out.z, null);
  t.notOk('u' in out);
  t.notOk('f' in out);
  t.equal(Object.keys(out.wide as object).length, 21, '20 keys and the count of the rest');
  t.equal((out.wide as Record<string, unknown>)['…'], '980 more keys');
  const json = JSON.stringify(out);
  t.ok(json.length < 6000, `${json.length} bytes of JSON`);
  t.ok(
    Object.keys(out).every((k) => k.length < 130),
    'keys capped',
  );
  t.same(boundJson({ a: [1, 'x', { b: true }] }), { a: [1, 'x', { b: true }] }, 'small data is unchanged');
  t.same(boundJson([undefined, () => 0]), [null, null], 'as JSON.stringify: null in arrays');
});
