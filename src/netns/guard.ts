// Race safety between discovery and probe: a PID can exit, be reused, or its
// process can move to another namespace. openVantage() opens the namespace fd
// once and proves it is the one discovered; only then may it be probed.
//
// Why the order open → compare start time is enough: a PID names one process
// from fork until it is reaped, and a reused PID belongs to a process started
// later. If, AFTER the fd is open, <pid>/stat still shows the discovered start
// time, the process was the same one when the fd was opened, so the fd is its
// namespace. (dev, inode) alone is not enough: nsfs inode numbers are freed
// with the namespace and handed to new ones.
import fs from 'node:fs';
import { ArgumentError, ExchangeError, NetnsHandle } from './binding.js';
import { SMALL_FILE_MAX, readBoundedTextSync } from './bounded-read.js';
import { parseProcStat } from './proc-stat.js';
import type { Vantage } from '../model.js';

export type GoneWhy = 'exited' | 'pid-reused' | 'netns-changed';
export type InaccessibleWhy = 'denied' | 'not-netns' | 'error';

export type OpenVantageResult =
  | { ok: true; handle: NetnsHandle }
  | { ok: false; reason: 'gone'; why: GoneWhy; detail: string }
  | { ok: false; reason: 'inaccessible'; why: InaccessibleWhy; detail: string };

type Failure = Exclude<OpenVantageResult, { ok: true }>;

const GONE_CODES = new Set(['ENOENT', 'ESRCH']);
const DENIED_CODES = new Set(['EACCES', 'EPERM']);

const gone = (why: GoneWhy, detail: string): Failure => ({ ok: false, reason: 'gone', why, detail });
const inaccessible = (why: InaccessibleWhy, detail: string): Failure => ({ ok: false, reason: 'inaccessible', why, detail });

function openFailure(err: unknown, path: string): Failure {
  if (err instanceof ArgumentError) return inaccessible('not-netns', err.message);
  const code = err instanceof ExchangeError ? err.code : ((err as NodeJS.ErrnoException).code ?? 'EIO');
  if (GONE_CODES.has(code)) return gone('exited', `${path}: ${code}, the process has exited`);
  if (DENIED_CODES.has(code)) return inaccessible('denied', `${path}: ${code} (the daemon needs root or CAP_SYS_ADMIN + CAP_SYS_PTRACE)`);
  return inaccessible('error', `${path}: ${code}`);
}

/** Start time now, or the failure it means (exited / unreadable). `via`: the path read, when not `path` (a pinned directory's /proc/self/fd/N/stat). */
function currentStartTime(path: string, via = path): number | Failure {
  let text: string;
  try {
    const r = readBoundedTextSync(via, SMALL_FILE_MAX);
    if (r.truncated) return inaccessible('error', `${path}: larger than 64 KiB, not a /proc stat line`);
    text = r.text;
  } catch (err) {
    return openFailure(err, path);
  }
  const stat = parseProcStat(text);
  return stat ? stat.startTime : inaccessible('error', `${path}: not a /proc stat line`);
}

/** Checks an open handle against the vantage; returns the failure or undefined. */
function verify(v: Vantage, handle: NetnsHandle, procRoot: string): Failure | undefined {
  const sameNetns = handle.dev === v.dev && handle.inode === v.inode;
  const found = `netns:[${handle.inode}] (dev ${handle.dev})`;
  if (v.hostNetwork) {
    return sameNetns ? undefined : gone('netns-changed', `the host namespace is now ${found}, discovered ${v.id}`);
  }
  const now = currentStartTime(`${procRoot}/${v.pid}/stat`);
  if (typeof now !== 'number') return now;
  if (now !== v.startTime) return gone('pid-reused', `pid ${v.pid} now has start time ${now}, discovered ${v.startTime}`);
  if (!sameNetns) return gone('netns-changed', `pid ${v.pid} is now in ${found}, discovered ${v.id}`);
  return undefined;
}

/**
 * Opens the vantage's namespace and proves it is the discovered one: the
 * same (dev, inode) and, for a container, the same process (start time
 * unchanged after the open). The host vantage is opened through
 * <procRoot>/thread-self/ns/net. Never throws; on failure the fd is closed.
 */
export function openVantage(v: Vantage, procRoot = '/proc'): OpenVantageResult {
  const path = v.hostNetwork ? `${procRoot}/thread-self/ns/net` : `${procRoot}/${v.pid}/ns/net`;
  let handle: NetnsHandle;
  try {
    handle = NetnsHandle.open(path, `vantage ${v.id}`);
  } catch (err) {
    return openFailure(err, path);
  }
  const failure = verify(v, handle, procRoot);
  if (!failure) return { ok: true, handle };
  handle.close();
  return failure;
}

const DIR_FLAGS = fs.constants.O_RDONLY | fs.constants.O_DIRECTORY;
/** A pinned directory's entries, through this process's own fd (whichever procfs mount procRoot is). */
const viaFd = (dirFd: number, entry: string): string => `/proc/self/fd/${dirFd}/${entry}`;

/**
 * Opens the vantages of sweep after sweep at the cost of one native call (openat + fstat +
 * ioctl) each: the daemon's opener (`check` and the diagnosis open once with
 * openVantage).
 *
 * For each discovered process it holds an fd of its /proc/<pid> directory,
 * opened once and proved to be that process (start time read through the fd
 * after the open, as openVantage does). That fd names the process, not the
 * number: once the process has exited, every lookup under it fails (ESRCH),
 * even when the pid has been given to another process. So a later sweep opens
 * <fd>/ns/net and compares (dev, inode) only: no re-read of /proc/<pid>/stat
 * per vantage per sweep. A held directory keeps no namespace alive (it is not
 * a namespace fd), and is closed when its process leaves the vantages
 * (retain()) or is found gone.
 */
export class VantageOpener {
  readonly #procRoot: string;
  /** `${pid}:${startTime}` -> fd of <procRoot>/<pid>, proved to be that process. */
  readonly #dirs = new Map<string, number>();
  #closed = false;

  constructor(procRoot = '/proc') {
    if (!procRoot.startsWith('/')) throw new TypeError(`procRoot: expected an absolute path, got ${JSON.stringify(procRoot)}`);
    this.#procRoot = procRoot;
  }

  /** Directories held (tests, metrics). */
  get pinned(): number {
    return this.#dirs.size;
  }

  /** As openVantage(v, procRoot). Never throws; on failure the namespace fd is closed. */
  open(v: Vantage): OpenVantageResult {
    // After close() (a sweep outlasting the daemon's stop) nothing more is held: one-shot opens.
    if (v.hostNetwork || this.#closed) return openVantage(v, this.#procRoot);
    const key = `${v.pid}:${v.startTime}`;
    let dirFd = this.#dirs.get(key);
    if (dirFd === undefined) {
      const pinned = this.#pin(v);
      if (typeof pinned !== 'number') return pinned;
      dirFd = pinned;
      this.#dirs.set(key, dirFd);
    }
    const path = `${this.#procRoot}/${v.pid}/ns/net`;
    let handle: NetnsHandle;
    try {
      handle = NetnsHandle.openAt(dirFd, 'ns/net', path, `vantage ${v.id}`);
    } catch (err) {
      const failure = openFailure(err, path);
      if (failure.reason === 'gone') this.#forget(key);
      return failure;
    }
    if (handle.dev === v.dev && handle.inode === v.inode) return { ok: true, handle };
    handle.close();
    return gone('netns-changed', `pid ${v.pid} is now in netns:[${handle.inode}] (dev ${handle.dev}), discovered ${v.id}`);
  }

  /** Closes the directories of processes that are not among `vantages` (the sweep's). */
  retain(vantages: readonly Vantage[]): void {
    if (this.#dirs.size === 0) return;
    const keep = new Set<string>();
    for (const v of vantages) if (!v.hostNetwork) keep.add(`${v.pid}:${v.startTime}`);
    for (const key of [...this.#dirs.keys()]) if (!keep.has(key)) this.#forget(key);
  }

  /** Closes every directory held; later opens hold none. */
  close(): void {
    this.#closed = true;
    for (const key of [...this.#dirs.keys()]) this.#forget(key);
  }

  /** Opens <procRoot>/<pid> and proves it is the discovered process (start time read through the fd). */
  #pin(v: Vantage): number | Failure {
    const dir = `${this.#procRoot}/${v.pid}`;
    let fd: number;
    try {
      fd = fs.openSync(dir, DIR_FLAGS);
    } catch (err) {
      return openFailure(err, dir);
    }
    const now = currentStartTime(`${dir}/stat`, viaFd(fd, 'stat'));
    const failure =
      typeof now !== 'number' ? now : now !== v.startTime ? gone('pid-reused', `pid ${v.pid} now has start time ${now}, discovered ${v.startTime}`) : undefined;
    if (!failure) return fd;
    fs.closeSync(fd);
    return failure;
  }

  #forget(key: string): void {
    const fd = this.#dirs.get(key);
    if (fd === undefined) return;
    this.#dirs.delete(key);
    fs.closeSync(fd);
  }
}
