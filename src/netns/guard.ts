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

/** Start time now, or the failure it means (exited / unreadable). */
function currentStartTime(procRoot: string, pid: number): number | Failure {
  const path = `${procRoot}/${pid}/stat`;
  let text: string;
  try {
    const r = readBoundedTextSync(path, SMALL_FILE_MAX);
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
  const now = currentStartTime(procRoot, v.pid);
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
