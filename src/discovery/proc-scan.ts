// The /proc scan: every process under procRoot, grouped by the network
// namespace it is in, with pod and container from its cgroup file.
//
// How a namespace is identified (`identify`):
//   'stat'      (default) stat() of <procRoot>/<pid>/ns/net follows the magic
//               link to the nsfs file: (st_dev, st_ino). This is what the
//               kernel compares and what an opened handle reports.
//   'link-text' the text readlink() returns, `net:[<inode>]`, with dev 0. When
//               ns/net is a regular file its content is that text. This is the
//               fixture mode: a git tree cannot hold nsfs files, hard links do
//               not survive a checkout, and dangling symlinks are brittle.
// The host namespace is <procRoot>/thread-self/ns/net read the same way (for
// the real /proc: this thread's, never /proc/1's), unless `hostNetns` is given.
//
// With a memo (a daemon's DiscoveryCache keeps one across sweeps), a PID seen
// before costs one stat() of its ns/net per scan instead of three reads: its
// stat and cgroup are read again only when its namespace identity changed,
// or when what was read may not have been final: a process without a
// container or pod in its cgroup, younger than SETTLED_TICKS when read (a
// runtime moves a new container's first process into its cgroup right after
// creating it, in the host namespace too for a hostNetwork pod). A PID that exited and came back as
// another process in the same namespace keeps its old start time here; the
// probe's guard (netns/guard.ts: identity and start time after open) refuses
// it, and the caller forgets that PID (DiscoveryCache.forget) so the next scan
// reads it again.
import fs from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { SMALL_FILE_MAX, readBoundedText } from '../netns/bounded-read.js';
import { parseCgroup, type CgroupInfo } from './cgroup.js';
import { type DockerContainerInfo, type LocatedContainer, type ProcVantage, hostThenInode } from './vantage.js';
import type { NetnsId } from '../model.js';
import { ProcStat, parseProcStat } from '../netns/proc-stat.js';
import { errnoName, statNetnsIds } from '../netns/binding.js';

export type NetnsIdentify = 'stat' | 'link-text';

export interface ScanOptions {
  procRoot?: string;
  hostNetns?: NetnsId;
  identify?: NetnsIdentify;
  /** Processes read at once (default 64). */
  concurrency?: number;
  /** What the previous scans learned (see the memo, above); updated in place. */
  memo?: ScanMemo;
}

/** A /proc entry that could not be read: the process exited (ENOENT, ESRCH) or is off limits (EACCES). */
export interface ScanError {
  pid: number;
  path: string;
  /** errno name; EINVAL when the content is not what the kernel writes. */
  code: string;
}

export interface ScanResult {
  vantages: ProcVantage[];
  errors: ScanError[];
  host: NetnsId;
  /** Numeric entries found under procRoot. */
  scanned: number;
}

class ProcReadError extends Error {
  constructor(
    readonly path: string,
    readonly code: string,
  ) {
    super(`${path}: ${code}`);
  }
}

const errCode = (err: unknown): string => (err as NodeJS.ErrnoException).code ?? 'EIO';

/**
 * A small /proc file as text, at most 64 KiB (bounded: its content is sized
 * by what the process does); more is EFBIG. Throws ProcReadError.
 */
async function readSmall(path: string): Promise<string> {
  let r: { text: string; truncated: boolean };
  try {
    r = await readBoundedText(path, SMALL_FILE_MAX);
  } catch (err) {
    throw new ProcReadError(path, errCode(err));
  }
  if (r.truncated) throw new ProcReadError(path, 'EFBIG');
  return r.text;
}

/** Reads and parses <procRoot>/<pid>/stat; throws ProcReadError. */
export async function readProcStat(procRoot: string, pid: number): Promise<ProcStat> {
  const path = `${procRoot}/${pid}/stat`;
  const text = await readSmall(path);
  const stat = parseProcStat(text);
  if (!stat) throw new ProcReadError(path, 'EINVAL');
  return stat;
}

const LINK_TEXT = /^net:\[(\d+)\]\s*$/;

/** The (dev, inode) of a network namespace file; throws ProcReadError. */
export async function readNetnsId(path: string, identify: NetnsIdentify = 'stat'): Promise<NetnsId> {
  try {
    if (identify === 'stat') {
      const st = await fs.stat(path);
      return { dev: st.dev, inode: st.ino };
    }
    let text: string;
    try {
      text = await fs.readlink(path);
    } catch (err) {
      if (errCode(err) !== 'EINVAL') throw err;
      text = await readSmall(path);
    }
    const m = LINK_TEXT.exec(text);
    if (!m) throw new ProcReadError(path, 'EINVAL');
    return { dev: 0, inode: Number(m[1]) };
  } catch (err) {
    if (err instanceof ProcReadError) throw err;
    throw new ProcReadError(path, errCode(err));
  }
}

const PID_NAME = /^[1-9]\d*$/;
const ascending = (a: number, b: number): number => a - b;
const byPidThenPath = (a: ScanError, b: ScanError): number => a.pid - b.pid || a.path.localeCompare(b.path);

/** Runs fn(item, context) over items, at most `limit` at a time, keeping the order of results. */
async function mapLimit<T, C, R>(items: T[], limit: number, fn: (item: T, context: C) => Promise<R>, context: C): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += limit) {
    const batch: Promise<R>[] = [];
    for (let j = i; j < Math.min(i + limit, items.length); j++) batch.push(fn(items[j]!, context));
    out.push(...(await Promise.all(batch)));
  }
  return out;
}

interface Member extends NetnsId {
  pid: number;
  stat: ProcStat;
  cgroup?: CgroupInfo;
  /** Its stat and cgroup will not change while its namespace does not (see the memo, above). */
  settled?: boolean;
}

/** What a scan learned of each PID, for the next scan (kept by the caller). */
export interface ScanMemo {
  members: Map<number, Member>;
}

export const createScanMemo = (): ScanMemo => ({ members: new Map() });

/** Clock ticks (USER_HZ, 100 a second) after which a process's cgroup is taken as final: 60 s. */
export const SETTLED_TICKS = 6000;

/** The netns and stat of one process; a failure is recorded and gives undefined. */
async function readIdentity(procRoot: string, pid: number, identify: NetnsIdentify, errors: ScanError[]): Promise<(NetnsId & { stat: ProcStat }) | undefined> {
  try {
    const id = await readNetnsId(`${procRoot}/${pid}/ns/net`, identify);
    return { ...id, stat: await readProcStat(procRoot, pid) };
  } catch (err) {
    if (!(err instanceof ProcReadError)) throw err;
    errors.push({ pid, path: err.path, code: err.code });
    return undefined;
  }
}

async function readMember(procRoot: string, pid: number, identify: NetnsIdentify, errors: ScanError[]): Promise<Member | undefined> {
  const id = await readIdentity(procRoot, pid, identify, errors);
  if (!id) return undefined;
  const member: Member = { ...id, pid };
  const path = `${procRoot}/${pid}/cgroup`;
  try {
    member.cgroup = parseCgroup(await readSmall(path));
  } catch (err) {
    // Still a member of its netns, only without pod and container.
    errors.push({ pid, path, code: errCode(err) });
  }
  return member;
}

/** A PID the memo knows, identified by link text (by stat, rescan re-checks them all at once): one read of its ns/net, the rest read again only when needed. */
async function recheckMember(
  procRoot: string,
  known: Member,
  identify: NetnsIdentify,
  errors: ScanError[],
  uptimeTicks: number | null,
): Promise<Member | undefined> {
  let id: NetnsId;
  try {
    const path = `${procRoot}/${known.pid}/ns/net`;
    id = await readNetnsId(path, identify);
  } catch (err) {
    if (!(err instanceof ProcReadError)) throw err;
    errors.push({ pid: known.pid, path: err.path, code: err.code });
    return undefined;
  }
  if (known.settled && id.dev === known.dev && id.inode === known.inode) return known;
  return readSettled(procRoot, known.pid, identify, errors, uptimeTicks);
}

async function readSettled(
  procRoot: string,
  pid: number,
  identify: NetnsIdentify,
  errors: ScanError[],
  uptimeTicks: number | null,
): Promise<Member | undefined> {
  const m = await readMember(procRoot, pid, identify, errors);
  return m && settle(m, uptimeTicks);
}

/** What reading one PID needs in a scan. */
interface MemberScan {
  procRoot: string;
  identify: NetnsIdentify;
  errors: ScanError[];
  memo: ScanMemo | undefined;
  /** Clock ticks since boot, when there is a memo. */
  ticks: number | null;
}

function scanMember(pid: number, scan: MemberScan): Promise<Member | undefined> {
  const known = scan.memo?.members.get(pid);
  if (known) return recheckMember(scan.procRoot, known, scan.identify, scan.errors, scan.ticks);
  if (scan.memo) return readSettled(scan.procRoot, pid, scan.identify, scan.errors, scan.ticks);
  return readMember(scan.procRoot, pid, scan.identify, scan.errors);
}

/**
 * scanMember over every pid, with the PIDs the memo knows re-checked in one
 * native call (statNetnsIds: one stat of each ns/net, no promise and no Stats
 * object per process): a settled member whose namespace is unchanged is taken
 * as it is; the others are read as scanMember reads them.
 */
async function rescan(pids: number[], memo: ScanMemo, limit: number, scan: MemberScan): Promise<Array<Member | undefined>> {
  const known: number[] = [];
  for (const pid of pids) if (memo.members.has(pid)) known.push(pid);
  const ids = statNetnsIds(resolvePath(scan.procRoot), known);
  const out: Array<Member | undefined> = new Array<Member | undefined>(pids.length);
  const rest: number[] = [];
  const restAt: number[] = [];
  let k = 0;
  for (let i = 0; i < pids.length; i++) {
    const pid = pids[i]!;
    const m = memo.members.get(pid);
    if (!m) {
      rest.push(pid);
      restAt.push(i);
      continue;
    }
    const dev = ids[3 * k]!;
    const inode = ids[3 * k + 1]!;
    const errno = ids[3 * k + 2]!;
    k++;
    if (errno !== 0) {
      scan.errors.push({ pid, path: `${scan.procRoot}/${pid}/ns/net`, code: errnoName(errno) });
      continue;
    }
    if (m.settled && dev === m.dev && inode === m.inode) {
      out[i] = m;
      continue;
    }
    rest.push(pid);
    restAt.push(i);
  }
  const read = await mapLimit(rest, limit, readAnew, scan);
  for (let j = 0; j < read.length; j++) out[restAt[j]!] = read[j];
  return out;
}

/** A PID read as a new one (its namespace changed, it was not settled, or the memo did not know it). */
const readAnew = (pid: number, scan: MemberScan): Promise<Member | undefined> => readSettled(scan.procRoot, pid, scan.identify, scan.errors, scan.ticks);

/** Marks a member settled (see the memo, above) when what was read of it is final. */
function settle(m: Member, uptimeTicks: number | null): Member {
  const placed = m.cgroup !== undefined && (m.cgroup.containerId !== undefined || m.cgroup.podUid !== undefined);
  const old = uptimeTicks !== null && uptimeTicks - m.stat.startTime >= SETTLED_TICKS;
  m.settled = m.cgroup !== undefined && (placed || old);
  return m;
}

/** Clock ticks since boot (/proc/uptime), or null when it cannot be read. */
async function uptimeTicks(procRoot: string): Promise<number | null> {
  try {
    const seconds = Number((await readSmall(`${procRoot}/uptime`)).split(' ')[0]);
    return Number.isFinite(seconds) ? Math.floor(seconds * 100) : null;
  } catch {
    return null;
  }
}

/**
 * How well a process represents its namespace (higher is better). In a pod,
 * prefer an application container over the pause container: pause images
 * are FROM scratch, so /proc/<pid>/root/etc/resolv.conf often does not exist
 * there, while every app container of the pod gets the pod's resolv.conf. In
 * the host, prefer a process outside any container.
 */
function rank(m: Member, host: boolean): number {
  const c = m.cgroup;
  if (host) return c?.containerId || c?.podUid ? 0 : 1;
  if (c?.containerId) return m.stat.comm === 'pause' ? 2 : 3;
  return c?.podUid ? 1 : 0;
}

/**
 * The representative: best rank, then the OLDEST process (the container's
 * init lives as long as the container; an exec'd shell does not, and PIDs
 * wrap so the lowest PID is not the oldest), then the lowest PID.
 */
function pickRepresentative(members: Member[], host: boolean): Member {
  return members.reduce((best, m) => {
    const d = rank(m, host) - rank(best, host) || best.stat.startTime - m.stat.startTime || best.pid - m.pid;
    return d > 0 ? m : best;
  });
}

function summarize(members: Member[], host: NetnsId): ProcVantage {
  const first = members[0]!;
  const hostNetwork = first.dev === host.dev && first.inode === host.inode;
  const rep = pickRepresentative(members, hostNetwork);
  const ids = new Set<string>();
  for (const m of members) if (m.cgroup?.containerId) ids.add(m.cgroup.containerId);
  const v: ProcVantage = {
    dev: first.dev,
    inode: first.inode,
    pid: rep.pid,
    startTime: rep.stat.startTime,
    comm: rep.stat.comm,
    pidCount: members.length,
    hostNetwork,
    containerIds: [...ids].sort(),
  };
  if (hostNetwork) return v; // shared by host processes and hostNetwork pods: it belongs to none of them
  const podUid = rep.cgroup?.podUid ?? members.find((m) => m.cgroup?.podUid)?.cgroup?.podUid;
  if (podUid) v.podUid = podUid;
  const runtime = rep.cgroup?.runtime ?? members.find((m) => m.cgroup?.runtime)?.cgroup?.runtime;
  if (runtime) v.runtime = runtime;
  return v;
}

async function listPids(procRoot: string): Promise<number[]> {
  let names: string[];
  try {
    names = await fs.readdir(procRoot);
  } catch (err) {
    throw new Error(`procRoot ${procRoot}: cannot list processes (${errCode(err)})`, { cause: err });
  }
  const pids: number[] = [];
  for (const n of names) if (PID_NAME.test(n)) pids.push(Number(n));
  return pids.sort(ascending);
}

async function resolveHost(procRoot: string, options: ScanOptions, identify: NetnsIdentify): Promise<NetnsId> {
  if (options.hostNetns) return options.hostNetns;
  const path = `${procRoot}/thread-self/ns/net`;
  try {
    return await readNetnsId(path, identify);
  } catch (err) {
    throw new Error(`cannot identify the host network namespace from ${path} (${(err as ProcReadError).code})`, { cause: err });
  }
}

/**
 * Scans procRoot. Entries that cannot be read are listed in `errors` and
 * skipped; only an unreadable procRoot or host namespace throws. Vantages:
 * the host first, then by inode.
 */
export async function scanProc(options: ScanOptions = {}): Promise<ScanResult> {
  const procRoot = options.procRoot ?? '/proc';
  const identify = options.identify ?? 'stat';
  const host = await resolveHost(procRoot, options, identify);
  const pids = await listPids(procRoot);
  const errors: ScanError[] = [];
  const memo = options.memo;
  const ticks = memo ? await uptimeTicks(procRoot) : null;
  const context = { procRoot, identify, errors, memo, ticks };
  const members =
    memo && identify === 'stat'
      ? await rescan(pids, memo, options.concurrency ?? 64, context)
      : await mapLimit(pids, options.concurrency ?? 64, scanMember, context);
  if (memo) {
    memo.members.clear();
    for (const m of members) if (m) memo.members.set(m.pid, m);
  }
  const groups = new Map<string, Member[]>();
  for (const m of members) {
    if (!m) continue;
    const k = `${m.dev}:${m.inode}`;
    const g = groups.get(k);
    if (g) g.push(m);
    else groups.set(k, [m]);
  }
  const vantages: ProcVantage[] = [];
  for (const g of groups.values()) vantages.push(summarize(g, host));
  vantages.sort(hostThenInode);
  errors.sort(byPidThenPath);
  return { vantages, errors, host, scanned: pids.length };
}

/**
 * Places Docker containers in their network namespaces through
 * <procRoot>/<State.Pid>, for mergeVantages(). A container whose process is
 * gone or unreadable is left out and listed in `errors`.
 */
export async function locateContainers(
  containers: DockerContainerInfo[],
  options: Pick<ScanOptions, 'procRoot' | 'identify'> = {},
): Promise<{ located: LocatedContainer[]; errors: ScanError[] }> {
  const procRoot = options.procRoot ?? '/proc';
  const errors: ScanError[] = [];
  const located: LocatedContainer[] = [];
  for (const c of containers) {
    if (!Number.isInteger(c.pid) || c.pid <= 0) {
      errors.push({ pid: c.pid, path: `${procRoot}/${c.pid}`, code: 'ESRCH' });
      continue;
    }
    const m = await readIdentity(procRoot, c.pid, options.identify ?? 'stat', errors);
    if (m) located.push({ ...c, dev: m.dev, inode: m.inode, startTime: m.stat.startTime, comm: m.stat.comm });
  }
  return { located, errors };
}
