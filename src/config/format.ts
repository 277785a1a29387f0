// What a setting's value format is (config/formats.ts registers them all by name),
// and the helpers every format uses to check and coerce values.

export type JsonType = 'string' | 'number' | 'boolean' | 'array' | 'object' | 'null';

export interface Format<T> {
  readonly name: string;
  /** What a value looks like, for the documentation. */
  readonly doc: string;
  /** The JSON types the configuration file may use for this format. */
  readonly json: readonly JsonType[];
  /** Throws an Error whose message says what is wrong (the caller adds the key). */
  readonly validate: (value: unknown) => void;
  /** Environment/flag (and file) strings → value; returns the string unchanged when it cannot. */
  readonly coerce?: (text: string) => unknown;
  /** The canonical form of a valid value. */
  readonly normalize?: (value: T) => T;
  /** Phantom: the type of the value in the effective configuration. */
  readonly _type?: T;
}

export const jsonTypeOf = (v: unknown): JsonType => (v === null ? 'null' : Array.isArray(v) ? 'array' : (typeof v as JsonType));

export const fail = (message: string): never => {
  throw new Error(message);
};

export const show = (v: unknown): string => {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
};

export const splitList = (text: string): string[] => (text.trim() === '' ? [] : text.split(',').map((s) => s.trim()));

export const parseJsonOr = (text: string): unknown => {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
};

export function arrayOf(v: unknown, what: string, check: (item: unknown, i: number) => void): void {
  if (!Array.isArray(v)) fail(`must be an array of ${what}`);
  (v as unknown[]).forEach(check);
}
