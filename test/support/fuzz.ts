// Property-based fuzzing of the parsers of untrusted input (fast-check).
//
// Each parser gets generators that mix structured-but-hostile input (real
// looking lines or messages with random tokens, control characters, huge
// tokens, many lines, wrong lengths, truncation) with pure random bytes, and
// properties checked on FUZZ_RUNS cases: it never throws, its output is
// bounded by its caps (not by the input), and its messages quote nothing of
// the input.
//
// The seed is random on each run (more ground covered over time); a failure
// reports it, with the counterexample cut short (inputs can be megabytes), and
// FUZZ_SEED=<seed> replays that run.
import fc from 'fast-check';

/** Cases per property (issue 10: at least 10,000 each). */
export const FUZZ_RUNS = 10_000;

/** The part of a tap Test used here. */
interface TapLike {
  ok(value: unknown, ...rest: [string]): unknown;
  fail(...rest: [string]): unknown;
}

const cut = (s: string, max = 400): string => (s.length <= max ? s : `${s.slice(0, max)}…(+${s.length - max} chars)`);

function describe(value: unknown): string {
  try {
    return cut(
      JSON.stringify(value, function (this: unknown, k: string, v: unknown) {
        // Buffers arrive here already as { type: 'Buffer', data } (toJSON runs first).
        const raw = (this as Record<string, unknown> | null)?.[k];
        const bytes = raw instanceof Uint8Array ? raw : null;
        return bytes ? `<${bytes.length} bytes: ${Buffer.from(bytes.subarray(0, 48)).toString('hex')}…>` : v;
      }),
    );
  } catch {
    return cut(String(value));
  }
}

/** Runs one property FUZZ_RUNS times; one tap assertion, a short report on failure. */
export function checkProperty<T>(t: TapLike, name: string, arb: fc.Arbitrary<T>, predicate: (value: T) => void, runs = FUZZ_RUNS): void {
  const seed = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Date.now() ^ (Math.random() * 0x7fffffff);
  const out = fc.check(
    fc.property(arb, (v) => {
      predicate(v);
    }),
    { numRuns: runs, seed, endOnFailure: false, maxSkipsPerRun: 0 },
  );
  if (!out.failed) {
    t.ok(out.numRuns === runs, `${name}: ${out.numRuns} cases`);
    return;
  }
  const err = out.errorInstance instanceof Error ? out.errorInstance.message : String(out.errorInstance);
  t.fail(
    `${name}: failed after ${out.numRuns} cases (FUZZ_SEED=${out.seed}, path ${out.counterexamplePath ?? '?'}): ${cut(err)}; counterexample ${describe(out.counterexample)}`,
  );
}

/** Throws unless cond. */
export function expect(cond: boolean, what: string): asserts cond {
  if (!cond) throw new Error(what);
}

/**
 * The first substring longer than `longest` characters that one of `messages`
 * shares with `input`, or null: messages must say which line and what kind of
 * problem, never quote the input.
 */
export function echoed(messages: readonly string[], input: string, longest = 40): string | null {
  const n = longest + 1;
  if (input.length < n) return null;
  const seen = new Set<string>();
  for (const m of messages) {
    for (let i = 0; i + n <= m.length; i++) {
      const w = m.slice(i, i + n);
      if (seen.has(w)) continue;
      seen.add(w);
      if (input.includes(w)) return w;
    }
  }
  return null;
}

// ---- generators shared by the parsers' properties ----

/** Characters that make text hostile: C0/C1 controls, DEL, ESC sequences, bidi overrides, separators, NUL, lone surrogates. */
export const hostileChar = fc.constantFrom(
  '\x00',
  '\x1b',
  '\x1b[2J',
  '\x07',
  '\x08',
  '\r',
  '\n',
  '\t',
  '\v',
  '\f',
  '\x7f',
  '\x85',
  '\x9b',
  '\u2028',
  '\u2029',
  '\u202e',
  '\u2066',
  '\ud800',
  '\udfff',
  '\ufeff',
  '\u00a0',
  '%',
  ':',
  '/',
  '#',
  ';',
  '"',
  '\\',
  '.',
  'é',
  '😀',
);

/** A short word of ordinary characters. */
export const word = fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-_.'.split('')), minLength: 1, maxLength: 12 });

/** Text with hostile characters mixed in. */
export const hostileText = fc
  .array(
    fc.oneof({ arbitrary: word, weight: 3 }, { arbitrary: hostileChar, weight: 2 }, { arbitrary: fc.string({ unit: 'binary', maxLength: 8 }), weight: 1 }),
    { maxLength: 8 },
  )
  .map((parts) => parts.join(''));

/** A huge token: one character (or a short pattern) repeated up to `max` times. */
export const hugeToken = (max = 70_000): fc.Arbitrary<string> =>
  fc.tuple(fc.oneof(word, hostileChar), fc.integer({ min: 300, max })).map(([unit, n]) => unit.repeat(Math.max(1, Math.ceil(n / unit.length))).slice(0, n));

/** A token a hostile file might hold (huge ones apart: see hugeToken). */
export const hostileToken = fc.oneof(
  { arbitrary: word, weight: 6 },
  { arbitrary: hostileText, weight: 3 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 30 }), weight: 2 },
  { arbitrary: fc.string({ unit: 'binary', minLength: 40, maxLength: 300 }), weight: 1 },
);

/** Random bytes read as text the ways a file can be read. */
export const randomText = fc
  .tuple(fc.uint8Array({ maxLength: 2048 }), fc.constantFrom<BufferEncoding>('utf8', 'latin1'))
  .map(([b, enc]) => Buffer.from(b).toString(enc));
