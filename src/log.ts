// A small JSON-lines logger: one object per line on stdout (journald collects
// it), {"time","level","msg", ...fields}. Errors are serialised under `err`
// as {type, message, code, stack, ...}. Child loggers add fields and share
// their root's level and output, so a reload that changes the level changes
// it everywhere.

export const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type Level = (typeof LEVELS)[number];
export type Fields = Readonly<Record<string, unknown>>;

/** Where lines go: process.stdout, or anything with write() in tests. */
export interface LogSink {
  write(line: string): unknown;
}

export interface LoggerOptions {
  level?: Level;
  stream?: LogSink;
  /** Fields on every record. */
  fields?: Fields;
  now?: () => Date;
}

export interface SerializedError {
  type: string;
  message: string;
  code?: string | number;
  stack?: string;
  cause?: SerializedError;
  errors?: SerializedError[];
  [prop: string]: unknown;
}

const RANK: Readonly<Record<Level, number>> = { debug: 10, info: 20, warn: 30, error: 40 };
/** The record's own keys; a field with one of these names is written as "<name>_". */
const RESERVED = new Set(['time', 'level', 'msg']);
const MAX_CAUSE_DEPTH = 5;

export const isLevel = (v: unknown): v is Level => typeof v === 'string' && (LEVELS as readonly string[]).includes(v);

/** Any thrown value as a plain object: type, message, code, stack, cause, and the error's other primitive properties. */
export function serializeError(value: unknown, depth = 0): SerializedError {
  if (!(value instanceof Error)) {
    return { type: value === null ? 'null' : typeof value, message: typeof value === 'string' ? value : safeStringify(value) };
  }
  const out: SerializedError = { type: value.name || value.constructor?.name || 'Error', message: value.message };
  for (const [k, v] of Object.entries(value)) {
    if (k !== 'name' && k !== 'message' && k !== 'stack' && (v === null || typeof v !== 'object') && typeof v !== 'function') {
      out[k] = typeof v === 'bigint' ? v.toString() : v;
    }
  }
  if (value.stack) out.stack = value.stack;
  if (depth < MAX_CAUSE_DEPTH) {
    if (value.cause !== undefined) out.cause = serializeError(value.cause, depth + 1);
    if (value instanceof AggregateError) out.errors = value.errors.map((e: unknown) => serializeError(e, depth + 1));
  }
  return out;
}

/** BigInt, Error, Map and Set as JSON; with `seen`, a repeated object becomes "[Circular]". */
function replacer(seen?: WeakSet<object>): (key: string, value: unknown) => unknown {
  return (_key, value) => {
    if (typeof value === 'bigint') return value.toString();
    if (value instanceof Error) return serializeError(value);
    if (value instanceof Map) return Object.fromEntries(value);
    if (value instanceof Set) return [...value];
    if (seen && typeof value === 'object' && value !== null) {
      if (seen.has(value)) return '[Circular]';
      seen.add(value);
    }
    return value;
  };
}

/** JSON.stringify that never throws (BigInt, cycles, throwing getters). */
function safeStringify(value: unknown): string {
  try {
    return JSON.stringify(value, replacer()) ?? String(value);
  } catch {
    try {
      return JSON.stringify(value, replacer(new WeakSet())) ?? String(value);
    } catch (err) {
      return JSON.stringify({ unserializable: String((err as Error)?.message ?? err) });
    }
  }
}

interface Shared {
  level: Level;
  stream: LogSink;
  now: () => Date;
}

export class Logger {
  #shared: Shared;
  readonly #fields: Fields;

  constructor(options: LoggerOptions = {}) {
    this.#shared = { level: options.level ?? 'info', stream: options.stream ?? process.stdout, now: options.now ?? (() => new Date()) };
    this.#fields = { ...options.fields };
  }

  get level(): Level {
    return this.#shared.level;
  }

  /** Changes the level of this logger, its root and every child. */
  setLevel(level: Level): void {
    if (!isLevel(level)) throw new TypeError(`log level must be one of ${LEVELS.join(', ')}, got ${JSON.stringify(level)}`);
    this.#shared.level = level;
  }

  /** Sends every logger of this family to another output (tests). */
  setStream(stream: LogSink): void {
    this.#shared.stream = stream;
  }

  isLevelEnabled(level: Level): boolean {
    return RANK[level] >= RANK[this.#shared.level];
  }

  /** A logger that adds `fields` to every record (and shares level and output). */
  child(fields: Fields): Logger {
    const child = new Logger({ fields: { ...this.#fields, ...fields } });
    child.#shared = this.#shared;
    return child;
  }

  debug(msg: string, fields?: Fields): void {
    this.#write('debug', msg, fields);
  }

  info(msg: string, fields?: Fields): void {
    this.#write('info', msg, fields);
  }

  warn(msg: string, fields?: Fields): void {
    this.#write('warn', msg, fields);
  }

  error(msg: string, fields?: Fields): void {
    this.#write('error', msg, fields);
  }

  #write(level: Level, msg: string, fields: Fields | undefined): void {
    if (!this.isLevelEnabled(level)) return;
    const record: Record<string, unknown> = { time: this.#shared.now().toISOString(), level, msg: String(msg) };
    for (const [k, v] of Object.entries({ ...this.#fields, ...fields })) {
      if (v === undefined) continue;
      record[RESERVED.has(k) ? `${k}_` : k] = k === 'err' ? serializeError(v) : v;
    }
    try {
      this.#shared.stream.write(`${safeStringify(record)}\n`);
    } catch {
      // A log line that cannot be written must not take the daemon down.
    }
  }
}

export function createLogger(options: LoggerOptions = {}): Logger {
  if (options.level !== undefined && !isLevel(options.level)) {
    throw new TypeError(`log level must be one of ${LEVELS.join(', ')}, got ${JSON.stringify(options.level)}`);
  }
  return new Logger(options);
}
