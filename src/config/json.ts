// A strict JSON parser for configuration files. JSON.parse on Node 20 does not
// say where a syntax error is, and silently keeps the last of two duplicate
// keys; an operator editing /etc/coredns-healthd.json needs both: the line and
// column of the mistake, and an error for a key written twice.

export class JsonSyntaxError extends SyntaxError {
  readonly line: number;
  readonly column: number;
  /** Dotted path of the value being read when the error was found ('' at the top). */
  readonly keyPath: string;
  readonly detail: string;
  constructor(detail: string, line: number, column: number, keyPath: string) {
    super(`line ${line} column ${column}${keyPath ? ` (in ${keyPath})` : ''}: ${detail}`);
    this.name = 'JsonSyntaxError';
    this.detail = detail;
    this.line = line;
    this.column = column;
    this.keyPath = keyPath;
  }
}

/** Deeper than any configuration needs, shallow enough to never exhaust the stack. */
const MAX_DEPTH = 64;
const NUMBER = /-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y;
// eslint-disable-next-line no-control-regex -- JSON strings may not hold raw U+0000-U+001F (RFC 8259)
const PLAIN_CHARS = /[^"\\\u0000-\u001f]*/y;
const ESCAPES: Readonly<Record<string, string>> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/** 1-based line and column of a character offset. */
export function positionOf(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}

/** ['queries', '[0]', 'name'] → 'queries[0].name' */
export const joinPath = (parts: readonly string[]): string => parts.reduce((acc, p) => (p.startsWith('[') || acc === '' ? acc + p : `${acc}.${p}`), '');

const describe = (ch: string | undefined): string => (ch === undefined ? 'end of file' : JSON.stringify(ch));

class Parser {
  private pos = 0;
  private readonly path: string[] = [];

  constructor(private readonly text: string) {}

  parseDocument(): unknown {
    if (this.text.charCodeAt(0) === 0xfeff) this.pos = 1;
    const value = this.value(0);
    this.skipSpace();
    if (this.pos < this.text.length) this.fail(`unexpected ${describe(this.text[this.pos])} after the end of the document`);
    return value;
  }

  private fail(detail: string, at = this.pos): never {
    const { line, column } = positionOf(this.text, at);
    throw new JsonSyntaxError(detail, line, column, joinPath(this.path));
  }

  private skipSpace(): void {
    while (this.pos < this.text.length) {
      const c = this.text.charCodeAt(this.pos);
      if (c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d) return;
      this.pos++;
    }
  }

  private value(depth: number): unknown {
    this.skipSpace();
    const ch = this.text[this.pos];
    switch (ch) {
      case '{':
        return this.object(depth + 1);
      case '[':
        return this.array(depth + 1);
      case '"':
        return this.string();
      case 't':
        return this.literal('true', true);
      case 'f':
        return this.literal('false', false);
      case 'n':
        return this.literal('null', null);
      default:
        if (ch === '-' || (ch !== undefined && ch >= '0' && ch <= '9')) return this.number();
        if (ch === "'") this.fail('strings must use double quotes');
        return this.fail(`expected a value, found ${describe(ch)}`);
    }
  }

  private literal<T>(word: string, value: T): T {
    if (!this.text.startsWith(word, this.pos)) this.fail(`expected a value, found ${describe(this.text[this.pos])}`);
    this.pos += word.length;
    return value;
  }

  private number(): number {
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(this.text);
    if (!m) return this.fail('invalid number');
    this.pos += m[0].length;
    return Number(m[0]);
  }

  private string(): string {
    const start = this.pos;
    this.pos++; // opening quote
    let out = '';
    for (;;) {
      PLAIN_CHARS.lastIndex = this.pos;
      out += PLAIN_CHARS.exec(this.text)![0];
      this.pos = PLAIN_CHARS.lastIndex;
      const ch = this.text[this.pos];
      if (ch === '"') {
        this.pos++;
        return out;
      }
      if (ch === undefined) this.fail('unterminated string', start);
      if (ch !== '\\') this.fail('control character in a string (write it escaped, e.g. \\n)');
      const esc = this.text[this.pos + 1];
      if (esc === 'u') {
        const hex = this.text.slice(this.pos + 2, this.pos + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail('invalid \\u escape: expected 4 hex digits');
        out += String.fromCharCode(parseInt(hex, 16));
        this.pos += 6;
      } else if (esc !== undefined && ESCAPES[esc] !== undefined) {
        out += ESCAPES[esc];
        this.pos += 2;
      } else {
        this.fail(`invalid escape \\${esc ?? ''}`);
      }
    }
  }

  private array(depth: number): unknown[] {
    if (depth > MAX_DEPTH) this.fail(`nested deeper than ${MAX_DEPTH} levels`);
    this.pos++; // [
    const out: unknown[] = [];
    this.skipSpace();
    if (this.text[this.pos] === ']') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.path.push(`[${out.length}]`);
      out.push(this.value(depth));
      this.path.pop();
      this.skipSpace();
      const ch = this.text[this.pos];
      if (ch === ']') {
        this.pos++;
        return out;
      }
      if (ch !== ',') this.fail(`expected ',' or ']' after an array element, found ${describe(ch)}`);
      this.pos++;
      this.skipSpace();
      if (this.text[this.pos] === ']') this.fail("trailing comma before ']'");
    }
  }

  private object(depth: number): Record<string, unknown> {
    if (depth > MAX_DEPTH) this.fail(`nested deeper than ${MAX_DEPTH} levels`);
    this.pos++; // {
    const out: Record<string, unknown> = {};
    this.skipSpace();
    if (this.text[this.pos] === '}') {
      this.pos++;
      return out;
    }
    for (;;) {
      this.skipSpace();
      const keyAt = this.pos;
      if (this.text[this.pos] !== '"') this.fail(`expected a key in double quotes, found ${describe(this.text[this.pos])}`);
      const key = this.string();
      if (Object.prototype.hasOwnProperty.call(out, key)) this.fail(`duplicate key ${JSON.stringify(key)}`, keyAt);
      this.skipSpace();
      if (this.text[this.pos] !== ':') this.fail(`expected ':' after key ${JSON.stringify(key)}, found ${describe(this.text[this.pos])}`);
      this.pos++;
      this.path.push(key);
      // defineProperty: a key named "__proto__" stays an ordinary key (and is then rejected as unknown).
      Object.defineProperty(out, key, { value: this.value(depth), enumerable: true, writable: true, configurable: true });
      this.path.pop();
      this.skipSpace();
      const ch = this.text[this.pos];
      if (ch === '}') {
        this.pos++;
        return out;
      }
      if (ch !== ',') this.fail(`expected ',' or '}' after the value of ${JSON.stringify(key)}, found ${describe(ch)}`);
      this.pos++;
      this.skipSpace();
      if (this.text[this.pos] === '}') this.fail("trailing comma before '}'");
    }
  }
}

/**
 * Parses JSON text (RFC 8259, plus a leading byte-order mark). Throws
 * JsonSyntaxError with the line and column of the first mistake; duplicate
 * keys are mistakes.
 */
export function parseJson(text: string): unknown {
  return new Parser(text).parseDocument();
}
