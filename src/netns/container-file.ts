// Reading a file of a container as the container's own processes would, and
// only a regular file (ARCHITECTURE.md, invariant 7). Every reader of a path
// under a container's root goes through readContainerFile:
//
//   - the path is resolved INSIDE the root (the addon's readFileInRoot:
//     openat2 RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS, or a component walk),
//     so an absolute symlink to /etc/shadow reads the container's own
//     /etc/shadow, exactly what its libc would read, never the host's;
//   - a FIFO, a device, a socket or a directory is refused before it is
//     opened for reading (no hang, no side effect), with its type named;
//   - at most CONTAINER_FILE_MAX bytes are read: a larger file is a
//     'too-large' result (a finding for the caller), never a partial read.
//
// Files of the host (root's own configuration, such as the configured host
// resolv.conf: trusted) are read with a plain bounded read that still refuses
// non-regular files and has the same cap. A FileRef says which of the two a
// path is.
import { FileRef, type FileType } from '../model.js';
import { readFileInRoot, type InRootFile } from './binding.js';
import { FILE_TYPE_NAMES, NotRegularFileError, formatBytes, readBounded } from './bounded-read.js';
import util from 'node:util';

/** The most a container file (resolv.conf, ...) may hold: 64 KiB. */
export const CONTAINER_FILE_MAX = 64 * 1024;

/**
 * How long a sweep waits for one container file. A regular file on a normal
 * file system reads in microseconds; only a file system the container controls
 * (FUSE) can stall. The read then goes on in the background and, until it
 * ends, later reads of the same file fail at once with ETIMEDOUT instead of
 * queueing behind it: one stalled file holds at most one libuv pool thread.
 */
export const CONTAINER_FILE_TIMEOUT_MS = 2_000;

const stalled = new Map<string, Promise<unknown>>();

export const hostFile = (path: string): FileRef => ({ root: null, path });
export const containerFile = (root: string, path: string): FileRef => ({ root, path });

/** The path as one string, for display and for findings' `file`: /proc/123/root/etc/resolv.conf. */
export function displayPath(ref: FileRef): string {
  if (ref.root === null) return ref.path;
  return `${ref.root.replace(/\/+$/, '')}/${ref.path.replace(/^\/+/, '')}`;
}

/** For messages: "/etc/resolv.conf in container root /proc/123/root", or the host path. */
export function describeFile(ref: FileRef): string {
  return ref.root === null ? ref.path : `${ref.path} in container root ${ref.root}`;
}

export type FileReadResult =
  | { status: 'ok'; file: FileRef; path: string; text: string; bytes: number }
  /** Larger than the cap: nothing of it is used. `size` is st_size (0 when the file system does not tell). */
  | { status: 'too-large'; file: FileRef; path: string; code: 'EFBIG'; message: string; size: number; maxBytes: number }
  /** Cannot be read: errno name (ENOENT, ELOOP, EACCES, ...) or ENOTREG with the file's type. */
  | { status: 'error'; file: FileRef; path: string; code: string; message: string; fileType?: FileType };

/** The addon's readFileInRoot, or a stand-in (tests). */
export type InRootReader = (root: string, relPath: string, opts: { maxBytes: number; walk?: boolean }) => Promise<InRootFile>;

export interface ReadFileOptions {
  /** Resolve with the in-root component walk even when openat2 is there (tests run both). */
  walk?: boolean;
  /** Default CONTAINER_FILE_TIMEOUT_MS. */
  timeoutMs?: number;
  /** Default: the addon's readFileInRoot. */
  reader?: InRootReader;
}

const SYSTEM_ERRORS: Map<number, [string, string]> = util.getSystemErrorMap();
const ERRNO_TEXT = new Map<string, string>([...SYSTEM_ERRORS.values()].map(([name, text]) => [name, text]));

function errorResult(file: FileRef, err: unknown): FileReadResult {
  const path = displayPath(file);
  const what = describeFile(file);
  if (err instanceof NotRegularFileError) {
    const fileType = err.fileType;
    const name = FILE_TYPE_NAMES[fileType] ?? FILE_TYPE_NAMES.unknown;
    return { status: 'error', file, path, code: 'ENOTREG', fileType, message: `${what} is ${name}, not a regular file` };
  }
  const e = err as { code?: unknown };
  const code = typeof e?.code === 'string' && /^E[A-Z0-9]+$/.test(e.code) ? e.code : 'EIO';
  const text = ERRNO_TEXT.get(code);
  const message = code === 'ENOENT' ? `${what} does not exist` : `cannot read ${what}: ${code}${text ? ` (${text})` : ''}`;
  return { status: 'error', file, path, code, message };
}

function tooLarge(file: FileRef, size: number): FileReadResult {
  const max = CONTAINER_FILE_MAX;
  const bytes = size > max ? `${size} bytes` : `more than ${max} bytes`;
  return {
    status: 'too-large',
    file,
    path: displayPath(file),
    code: 'EFBIG',
    size,
    maxBytes: max,
    message: `${describeFile(file)} is larger than ${formatBytes(max)} (${bytes}) and was not read`,
  };
}

const ok = (file: FileRef, data: Buffer): FileReadResult => ({ status: 'ok', file, path: displayPath(file), text: data.toString('utf8'), bytes: data.length });

/**
 * Reads `relPath` (absolute inside the root, e.g. /etc/resolv.conf) resolved
 * inside `root`. Never rejects: failures are results.
 */
export async function readContainerFile(root: string, relPath: string, options: ReadFileOptions = {}): Promise<FileReadResult> {
  const file = containerFile(root, relPath);
  const reader = options.reader ?? readFileInRoot;
  const key = `${root}\0${relPath}`;
  const timeoutMs = options.timeoutMs ?? CONTAINER_FILE_TIMEOUT_MS;
  const stall = (what: string): FileReadResult => ({
    status: 'error',
    file,
    path: displayPath(file),
    code: 'ETIMEDOUT',
    message: `cannot read ${describeFile(file)}: ETIMEDOUT (${what})`,
  });
  if (stalled.has(key)) return stall(`an earlier read has not finished after ${timeoutMs} ms`);
  const read = reader(root, relPath, { maxBytes: CONTAINER_FILE_MAX, ...(options.walk === undefined ? {} : { walk: options.walk }) });
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => {
    timer = setTimeout(() => resolve('late'), timeoutMs);
  });
  try {
    const r = await Promise.race([read, late]);
    if (r === 'late') {
      const settled = read.then(
        () => undefined,
        () => undefined,
      );
      stalled.set(key, settled);
      // settled never rejects; forget the stalled read once it finally ends.
      void settled.then(() => stalled.delete(key));
      return stall(`no answer within ${timeoutMs} ms`);
    }
    if (r.truncated || r.data.length > CONTAINER_FILE_MAX) return tooLarge(file, r.size);
    return ok(file, r.data);
  } catch (err) {
    return errorResult(file, err);
  } finally {
    clearTimeout(timer);
  }
}

/** Reads a host file (root's configuration): bounded, regular files only. Never rejects. */
export async function readHostFile(path: string): Promise<FileReadResult> {
  const file = hostFile(path);
  try {
    const r = await readBounded(path, CONTAINER_FILE_MAX);
    if (r.truncated) return tooLarge(file, r.size);
    return ok(file, r.data);
  } catch (err) {
    return errorResult(file, err);
  }
}

/** Reads a file wherever its FileRef says it is. Never rejects. */
export function readFileRef(file: FileRef, options: ReadFileOptions = {}): Promise<FileReadResult> {
  return file.root === null ? readHostFile(file.path) : readContainerFile(file.root, file.path, options);
}
