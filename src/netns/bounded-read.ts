// Bounded reads of host-side files: /proc and /sys files (kernel-generated,
// but sized by what a container does: its routes, its cgroup path) and root's
// own configuration files. Never a path under a container's root: those go
// through container-file.ts, which resolves them inside that root.
//
// Each read opens with O_NONBLOCK|O_NOCTTY (libuv adds O_CLOEXEC), refuses
// anything but a regular file before reading a byte (a FIFO or a device is
// never read), and reads at most maxBytes: one byte more tells that there was
// more. /proc files report st_size 0, so the size comes from reading, never
// from fstat.
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import type { FileType } from '../model.js';

/** Cap for small /proc and /sys files (stat, comm, cgroup, counters). */
export const SMALL_FILE_MAX = 64 * 1024;
/** Cap for /proc tables a namespace's owner can grow (net/route, net/ipv6_route, net/stat/*). */
export const TABLE_FILE_MAX = 1024 * 1024;

/** How people call each type, for messages ("is a FIFO, not a regular file"). */
export const FILE_TYPE_NAMES: Readonly<Record<FileType, string>> = {
  regular: 'a regular file',
  directory: 'a directory',
  fifo: 'a FIFO',
  socket: 'a socket',
  'char-device': 'a character device',
  'block-device': 'a block device',
  symlink: 'a symbolic link',
  unknown: 'a file of unknown type',
};

export function statFileType(st: fs.Stats): FileType {
  if (st.isFile()) return 'regular';
  if (st.isDirectory()) return 'directory';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'char-device';
  if (st.isBlockDevice()) return 'block-device';
  if (st.isSymbolicLink()) return 'symlink';
  return 'unknown';
}

/** Thrown (code ENOTREG) for anything but a regular file: by the bounded reads here and by readFileInRoot (binding.ts). */
export class NotRegularFileError extends Error {
  readonly code = 'ENOTREG';
  readonly fileType: FileType;
  readonly path: string;
  constructor(path: string, fileType: FileType) {
    super(`${path} is ${FILE_TYPE_NAMES[fileType]}, not a regular file`);
    this.name = 'NotRegularFileError';
    this.path = path;
    this.fileType = fileType;
  }
}

export interface BoundedRead {
  /** At most maxBytes bytes. */
  data: Buffer;
  /** The file held more than maxBytes bytes; `data` is its first maxBytes. */
  truncated: boolean;
  /** st_size (0 for most /proc files). */
  size: number;
}

const FLAGS = fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOCTTY;
// /proc files (st_size 0) are a few hundred bytes: start small, and at
// st_size + 1 for a regular file that states its size; double from there.
const FIRST_CHUNK = 4 * 1024;

/** The first buffer's size: st_size + 1 (to see the end in one read) or FIRST_CHUNK, within the limit. */
const firstSize = (size: number, limit: number): number => Math.min(limit, size > 0 ? size + 1 : FIRST_CHUNK);

function checkMax(maxBytes: number): void {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new RangeError(`maxBytes: expected a non-negative integer, got ${maxBytes}`);
}

/** A buffer for at least `need` bytes: doubles, up to limit (maxBytes + 1). */
function grow(buf: Buffer, used: number, limit: number): Buffer {
  const next = Buffer.allocUnsafe(Math.min(limit, Math.max(FIRST_CHUNK, buf.length * 2)));
  buf.copy(next, 0, 0, used);
  return next;
}

function finish(buf: Buffer, used: number, maxBytes: number, size: number): BoundedRead {
  const truncated = used > maxBytes;
  const n = Math.min(used, maxBytes);
  // A copy, so that a small result does not pin a large buffer.
  return { data: Buffer.from(buf.subarray(0, n)), truncated, size };
}

/** open(2) of a socket fails with ENXIO: say what the file is instead. */
function socketOr(err: unknown, path: string, stat: () => fs.Stats): unknown {
  if ((err as NodeJS.ErrnoException).code !== 'ENXIO') return err;
  try {
    const type = statFileType(stat());
    return type === 'regular' ? err : new NotRegularFileError(path, type);
  } catch {
    return err;
  }
}

/**
 * Reads at most maxBytes of a regular file. Rejects with the fs error (its
 * `code`: ENOENT, EACCES, ...) or NotRegularFileError; never reads a FIFO, a
 * device or a socket.
 */
export async function readBounded(path: string, maxBytes: number): Promise<BoundedRead> {
  checkMax(maxBytes);
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(path, FLAGS);
  } catch (err) {
    throw socketOr(err, path, () => fs.statSync(path));
  }
  try {
    const st = await fh.stat();
    const type = statFileType(st);
    if (type !== 'regular') throw new NotRegularFileError(path, type);
    const limit = maxBytes + 1;
    let buf: Buffer = Buffer.allocUnsafe(firstSize(st.size, limit));
    let used = 0;
    for (;;) {
      if (used === buf.length) {
        if (buf.length >= limit) break;
        buf = grow(buf, used, limit);
      }
      const { bytesRead } = await fh.read(buf, used, buf.length - used, null);
      if (bytesRead === 0) break;
      used += bytesRead;
    }
    return finish(buf, used, maxBytes, st.size);
  } finally {
    await fh.close();
  }
}

/** readBounded, synchronously (for the small files read on a synchronous path). */
export function readBoundedSync(path: string, maxBytes: number): BoundedRead {
  checkMax(maxBytes);
  let fd: number;
  try {
    fd = fs.openSync(path, FLAGS);
  } catch (err) {
    throw socketOr(err, path, () => fs.statSync(path));
  }
  try {
    const st = fs.fstatSync(fd);
    const type = statFileType(st);
    if (type !== 'regular') throw new NotRegularFileError(path, type);
    const limit = maxBytes + 1;
    let buf: Buffer = Buffer.allocUnsafe(firstSize(st.size, limit));
    let used = 0;
    for (;;) {
      if (used === buf.length) {
        if (buf.length >= limit) break;
        buf = grow(buf, used, limit);
      }
      const n = fs.readSync(fd, buf, used, buf.length - used, null);
      if (n === 0) break;
      used += n;
    }
    return finish(buf, used, maxBytes, st.size);
  } finally {
    fs.closeSync(fd);
  }
}

export interface BoundedText {
  text: string;
  truncated: boolean;
}

/**
 * The text of a bounded read (UTF-8, invalid bytes replaced). When truncated
 * and `wholeLines`, the partial last line is dropped, so a line-oriented
 * parser never sees half a line.
 */
export function boundedText(r: BoundedRead, wholeLines = true): BoundedText {
  let data = r.data;
  if (r.truncated && wholeLines) {
    const nl = data.lastIndexOf(0x0a);
    data = nl < 0 ? data.subarray(0, 0) : data.subarray(0, nl + 1);
  }
  return { text: data.toString('utf8'), truncated: r.truncated };
}

/** readBounded, as text (see boundedText). */
export async function readBoundedText(path: string, maxBytes: number): Promise<BoundedText> {
  return boundedText(await readBounded(path, maxBytes));
}

/** readBoundedSync, as text (see boundedText). */
export function readBoundedTextSync(path: string, maxBytes: number): BoundedText {
  return boundedText(readBoundedSync(path, maxBytes));
}

/** "64 KiB", "1 MiB", "100 bytes". */
export function formatBytes(n: number): string {
  if (n >= 1024 * 1024 && n % (1024 * 1024) === 0) return `${n / (1024 * 1024)} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  return `${n} bytes`;
}
