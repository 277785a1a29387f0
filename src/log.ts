// A small JSON-lines logger: one object per line on stdout (journald collects
// it), {"time","level","msg", ...fields}. When stdout is journald's stream
// ($JOURNAL_STREAM names stdout's device and inode), each line starts with its
// syslog priority, `<3>` error, `<4>` warn, `<6>` info, `<7>` debug, which
// journald reads and strips (systemd's SyslogLevelPrefix=, on by default): the
// journal then knows each line's priority (`journalctl -p err`). Errors are serialised under `err`
// as {type, message, code, stack, ...}. Child loggers add fields and share
// their root's level and output, so a reload that changes the level changes
// it everywhere.
//
// Fields often carry what containers, DNS servers and HTTP clients control
// (names, labels, details), so every line is bounded and inert: strings are
// capped, arrays and objects cut, and a line is at most MAX_LINE_BYTES (a
// record that would be longer is cut harder, then reduced to its message).
// JSON escapes C0 controls; what it leaves raw (DEL, C1 such as U+009B, the
// U+2028/2029 separators, bidi overrides) is written as \uXXXX too.
import fs from 'node:fs';
import { capString, escapeJsonText } from './text/untrusted.js';

export const LEVELS = ['debug', 'info', 'warn', 'error'] as const;
export type Level = (typeof LEVELS)[number];
export type Fields = Readonly<Record<string, unknown>>;

let stdoutGuarded = false;

/**
 * A closed stdout (the reader of a pipe went away: EPIPE) must not end the
 * daemon: lines are then lost, probing goes on. Other stdout errors too are
 * not worth dying for in a process whose job is probing.
 */
function quietStdoutErrors(): void {
  if (stdoutGuarded) return;
  stdoutGuarded = true;
  process.stdout.on('error', () => {
    // Nothing to report to: the stream that failed is where reports go.
  });
}

/** Where lines go: process.stdout, or anything with write() in tests. */
export interface LogSink {
  write(line: string): unknown;
}

export interface LoggerOptions {
  level?: Level | undefined;
  stream?: LogSink;
  /**
   * Start each line with its syslog priority (`<3>`...`<7>`). Default: when writing to
   * process.stdout and that is journald's stream (see journaldStdout()).
   */
  priorityPrefix?: boolean;
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
/** syslog(3) priorities: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG. */
export const SYSLOG_PRIORITY: Readonly<Record<Level, number>> = { error: 3, warn: 4, info: 6, debug: 7 };

/**
 * True when file descriptor `fd` is the stream journald gave this service: systemd sets
 * $JOURNAL_STREAM to "<device>:<inode>" of it (decimal), and a process whose stdout was
 * redirected elsewhere keeps the variable, so both must match (sd_journal_stream_fd(3)).
 */
export function isJournalStream(fd: number, journalStream: string | undefined = process.env.JOURNAL_STREAM): boolean {
  const m = /^(\d+):(\d+)$/.exec(journalStream ?? '');
  if (!m) return false;
  try {
    const st = fs.fstatSync(fd, { bigint: true });
    return st.dev === BigInt(m[1]!) && st.ino === BigInt(m[2]!);
  } catch {
    return false;
  }
}
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

/** The longest line written, in bytes, newline included. */
export const MAX_LINE_BYTES = 8 * 1024;

/** How much of each value a line keeps. */
interface Limits {
  /** Characters of a string (a key too). */
  string: number;
  /** Characters of an error's stack. */
  stack: number;
  /** Items of an array (then "…and N more"). */
  items: number;
  /** Keys of an object (then "…": "N more keys"). */
  keys: number;
}

/** First try. */
const FULL: Limits = { string: 1024, stack: 3072, items: 16, keys: 32 };
/** When the first try is longer than MAX_LINE_BYTES. */
const TIGHT: Limits = { string: 128, stack: 512, items: 4, keys: 16 };
/** The message of a record reduced to its message. */
const MIN_MSG = 256;

function cutObject(value: object, limits: Limits): object {
  const keys = Object.keys(value);
  if (keys.length <= limits.keys && keys.every((k) => k.length <= limits.string)) return value;
  const out: Record<string, unknown> = {};
  for (const k of keys.slice(0, limits.keys)) out[capString(k, limits.string)] = (value as Record<string, unknown>)[k];
  if (keys.length > limits.keys) out['…'] = `${keys.length - limits.keys} more keys`;
  return out;
}

/**
 * BigInt, Error, Map and Set as JSON, every string, array and object cut to
 * `limits`; with `seen`, a repeated object becomes "[Circular]".
 */
function replacer(limits: Limits, seen?: WeakSet<object>): (key: string, value: unknown) => unknown {
  return (key, value) => {
    if (typeof value === 'string') return capString(value, key === 'stack' ? limits.stack : limits.string);
    if (typeof value === 'bigint') return value.toString();
    if (value instanceof Error) value = serializeError(value);
    else if (value instanceof Map) value = Object.fromEntries(value);
    else if (value instanceof Set) value = [...value];
    if (typeof value !== 'object' || value === null) return value;
    if (seen) {
      if (seen.has(value)) return '[Circular]';
      seen.add(value);
    }
    if (Array.isArray(value)) {
      const items: readonly unknown[] = value;
      return items.length <= limits.items ? items : [...items.slice(0, limits.items), `…and ${items.length - limits.items} more`];
    }
    return cutObject(value, limits);
  };
}

/** JSON.stringify that never throws (BigInt, cycles, throwing getters), bounded by `limits`. */
function safeStringify(value: unknown, limits: Limits = FULL): string {
  try {
    return JSON.stringify(value, replacer(limits)) ?? String(value);
  } catch {
    try {
      return JSON.stringify(value, replacer(limits, new WeakSet())) ?? String(value);
    } catch (err) {
      return JSON.stringify({ unserializable: capString(String((err as Error)?.message ?? err), limits.string) });
    }
  }
}

const byteLength = (s: string): number => Buffer.byteLength(s, 'utf8');

/**
 * One log line for a record, newline included: bounded JSON with DEL, C1,
 * U+2028/2029 and bidi marks escaped, at most MAX_LINE_BYTES bytes.
 */
export function formatLine(record: Readonly<Record<string, unknown>>): string {
  for (const limits of [FULL, TIGHT]) {
    const line = `${escapeJsonText(safeStringify(record, limits))}\n`;
    if (byteLength(line) <= MAX_LINE_BYTES) return line;
  }
  // Still too long (thousands of fields): the message alone says what happened.
  const minimal = {
    time: record.time,
    level: record.level,
    msg: capString(String(record.msg), MIN_MSG),
    truncated: 'the fields of this record were dropped: too long for one log line',
  };
  return `${escapeJsonText(JSON.stringify(minimal))}\n`;
}

interface Shared {
  level: Level;
  stream: LogSink;
  now: () => Date;
  priorityPrefix: boolean;
}

export class Logger {
  #shared: Shared;
  readonly #fields: Fields;

  constructor(options: LoggerOptions = {}) {
    if (!options.stream) quietStdoutErrors();
    this.#shared = {
      level: options.level ?? 'info',
      stream: options.stream ?? process.stdout,
      now: options.now ?? (() => new Date()),
      priorityPrefix: options.priorityPrefix ?? (options.stream === undefined && isJournalStream(1)),
    };
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

  /** Sends every logger of this family to another output (tests); priority prefixes as `priorityPrefix` says (default: none). */
  setStream(stream: LogSink, priorityPrefix = false): void {
    this.#shared.stream = stream;
    this.#shared.priorityPrefix = priorityPrefix;
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
      const line = formatLine(record);
      this.#shared.stream.write(this.#shared.priorityPrefix ? `<${SYSLOG_PRIORITY[level]}>${line}` : line);
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
