// Reading the small files the checks parse (/proc, /sys, resolv.conf): a
// failure is data naming the file, never an exception.
import fs from 'node:fs/promises';

export interface ReadError {
  code: string;
  message: string;
}

export type TextRead = { path: string; text: string; error?: undefined } | { path: string; text?: undefined; error: ReadError };

const errCode = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? 'EIO';

/** Reads a text file; `error` names the file and the errno. */
export async function readText(path: string): Promise<TextRead> {
  try {
    return { path, text: await fs.readFile(path, 'utf8') };
  } catch (err) {
    const code = errCode(err);
    return { path, error: { code, message: `cannot read ${path}: ${code}` } };
  }
}

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
