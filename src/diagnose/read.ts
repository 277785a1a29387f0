// Reading the small files the checks parse (/proc, /sys): a failure is data
// naming the file, never an exception. Every read is bounded (see
// netns/bounded-read.ts); container files go through netns/container-file.ts.
import fs from 'node:fs/promises';
import { NotRegularFileError, SMALL_FILE_MAX, formatBytes, readBoundedText } from '../netns/bounded-read.js';

export interface ReadError {
  code: string;
  message: string;
}

export type TextRead =
  | {
      path: string;
      text: string;
      /** The file held more than the cap: `text` is its first whole lines up to the cap. */
      truncated?: boolean;
      error?: undefined;
    }
  | { path: string; text?: undefined; error: ReadError };

const errCode = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? 'EIO';

/**
 * Reads at most maxBytes (default 64 KiB) of a regular file as text; more is
 * `truncated` (whole lines kept). `error` names the file and the errno.
 */
export async function readText(path: string, maxBytes = SMALL_FILE_MAX): Promise<TextRead> {
  try {
    const r = await readBoundedText(path, maxBytes);
    return r.truncated ? { path, text: r.text, truncated: true } : { path, text: r.text };
  } catch (err) {
    const code = errCode(err);
    const message = err instanceof NotRegularFileError ? `cannot read ${err.message}` : `cannot read ${path}: ${code}`;
    return { path, error: { code, message } };
  }
}

/** The problem to report for a truncated read. */
export const truncatedProblem = (path: string, maxBytes: number): string =>
  `${path} is larger than ${formatBytes(maxBytes)}: only its first ${formatBytes(maxBytes)} were read`;

/** The target of a symbolic link, or null when it is not one or is missing. */
export async function readLinkOrNull(path: string): Promise<string | null> {
  try {
    return await fs.readlink(path);
  } catch {
    return null;
  }
}

/** Directory entries, or the error. */
export async function readDir(path: string): Promise<{ names: string[]; error?: undefined } | { names?: undefined; error: ReadError }> {
  try {
    return { names: (await fs.readdir(path)).sort() };
  } catch (err) {
    const code = errCode(err);
    return { error: { code, message: `cannot list ${path}: ${code}` } };
  }
}

/** Runs fn over items, at most `limit` at a time, keeping the order of results. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += limit) out.push(...(await Promise.all(items.slice(i, i + limit).map(fn))));
  return out;
}
