// The only importer of the native addon (build/Release/healthd.node).
//
// It validates every argument before anything reaches C++, opens network
// namespace handles, and turns the addon's `{errno, syscall}` results into
// typed errors with stable codes. Tests may inject a different binding through
// setBinding(), as better-sqlite3's lib/binding.js allows.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileType, Transport } from '../model.js';
import { errorMessage } from '../text/untrusted.js';
import { NotRegularFileError } from './bounded-read.js';

/** What the .node file exports. */
export interface NativeBinding {
  init(onResults: (results: NativeResult[]) => void): void;
  submit(
    id: number,
    netnsFd: number,
    family: 4 | 6,
    address: string,
    port: number,
    tcp: boolean,
    payload: Uint8Array,
    timeoutMs: number,
    /** UDP: the end of the DNS question in payload; replies must match ID and question (0: any datagram). */
    questionEnd?: number,
  ): NativeError | undefined;
  /**
   * Many exchanges in one call (see native/addon.cc SubmitBatch for the record layout): undefined when
   * every job was queued, else one entry per record, an error for each job that was not. Optional: a
   * binding without it gets one submit() per job.
   */
  submitBatch?(packed: Uint8Array, nsFds: number[], addresses: string[]): Array<NativeError | undefined> | undefined;
  /**
   * Queues a watch of the netns's interfaces (-1: the host's): ends with the raw RTM_NEWLINK / RTM_DELLINK
   * messages of the next change, or ETIMEDOUT after timeoutMs. Optional: a binding without it has no watch.
   */
  submitLinkWatch?(id: number, netnsFd: number, timeoutMs: number): NativeError | undefined;
  /** Queues a link + address dump (raw rtnetlink messages) of the netns behind netnsFd (-1: the host's). */
  submitLinkDump(id: number, netnsFd: number, timeoutMs?: number): NativeError | undefined;
  cancelAll(): void;
  stats(): NativeStats;
  notify(socketPath: string, message: string): NativeError | undefined;
  /**
   * Opens a network namespace file (relative to dirFd when dirFd >= 0), proves it is one and keeps it
   * in the addon's table (jobs share it, no duplicate): the fd, with out[0..1] = st_dev, st_ino; or an
   * error (syscall "nstype": not a network namespace, out[2] its CLONE_NEW* type or -1, out[3] 1 for
   * a directory). See native/addon.cc OpenNetns.
   */
  openNetns(path: string, dirFd: number, out: Float64Array): number | NativeError;
  /** Drops the table's reference to an fd openNetns returned (closed once no job holds it); false: not one. */
  closeNetns(fd: number): boolean;
  /** stat of <procRoot>/<pid>/ns/net for each pid: out[3i..3i+2] = st_dev, st_ino, errno (0: ok). */
  statNetnsIds(procRoot: string, pids: Int32Array, out: Float64Array): void;
  /** Reads relPath resolved inside root (see readFileInRoot), off the JS thread. */
  readFileInRoot(root: string, relPath: string, maxBytes: number, walk: boolean): Promise<NativeFileRead>;
}

export interface NativeFileRead {
  /** 0 with data; 0 with data null and fileType set: not a regular file; otherwise the errno. */
  errno: number;
  syscall: string;
  fileType: FileType | '';
  size: number;
  truncated: boolean;
  data: Buffer | null;
}

export interface NativeError {
  errno: number;
  syscall: string;
}

export interface NativeResult {
  id: number;
  errno: number; // 0 on success
  syscall: string; // '' on success
  reply: Buffer | null;
  rttNs: number;
  /** Datagrams dropped while waiting: empty, or not the reply to this query. */
  ignored: number;
}

export interface NativeStats {
  running: boolean;
  inFlight: number;
  queued: number;
  /** Accepted jobs the worker holds until their startDelayMs is over (absent from bindings that do not schedule). */
  scheduled?: number;
  completed: number;
  workerTid: number;
  hostNetnsInode: number;
  workerNetnsInode: number;
  fatalErrno: number;
  /** The step that stopped the worker ("setns", "epoll_wait"); '' while it runs. */
  fatalSyscall: string;
  /** Counters since the worker started (absent from bindings that do not keep them). */
  wakes?: number;
  setnsCalls?: number;
  deliveries?: number;
  submissions?: number;
}

/** Thrown synchronously (and returned as a rejection by exchange) for bad arguments. */
export class ArgumentError extends TypeError {
  readonly code = 'ERR_INVALID_ARG_VALUE';
  readonly param: string;
  /** The message without the parameter name. */
  readonly detail: string;
  constructor(param: string, message: string) {
    super(`${param}: ${message}`);
    this.name = 'ArgumentError';
    this.param = param;
    this.detail = message;
  }
}

/** A failed exchange: code is the errno name (ETIMEDOUT, ECONNREFUSED, EPERM, ENOENT, ...). */
export class ExchangeError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  /** UDP datagrams the exchange dropped before it failed (wrong ID or question, empty). */
  ignored = 0;
  constructor(errno: number, syscall: string, detail?: string, options?: { cause?: unknown }) {
    const code = errnoName(errno);
    super(`${syscall}: ${code}${detail ? ` (${detail})` : ''}`, options);
    this.name = 'ExchangeError';
    this.code = code;
    this.errno = errno;
    this.syscall = syscall;
  }
}

const ERRNO: Record<string, number> = { ...os.constants.errno };
// The first name of a number wins: EAGAIN, not its alias EWOULDBLOCK; ENOTSUP before EOPNOTSUPP.
const ERRNO_NAMES = new Map<number, string>();
for (const [name, n] of Object.entries(ERRNO)) if (!ERRNO_NAMES.has(n)) ERRNO_NAMES.set(n, name);

/** Linux errno number -> name (EBADMSG, ...); `E<n>` when unknown. */
export function errnoName(errno: number): string {
  return ERRNO_NAMES.get(Math.abs(errno)) ?? `E${Math.abs(errno)}`;
}

/** Errno name -> number; 0 when unknown. */
export const errnoOf = (name: string): number => ERRNO[name] ?? 0;

// ---------------------------------------------------------------------------
// Network namespace handles

/** An open fd on a network namespace. The namespace stays alive while it is open. */
export class NetnsHandle {
  readonly fd: number;
  readonly path: string;
  readonly dev: number;
  readonly inode: number;
  private closed = false;
  /** The addon whose table holds the fd (the one that opened it, even if setBinding swapped it since). */
  readonly #owner: NativeBinding;

  private constructor(owner: NativeBinding, fd: number, p: string, dev: number, inode: number) {
    this.#owner = owner;
    this.fd = fd;
    this.path = p;
    this.dev = dev;
    this.inode = inode;
  }

  /**
   * Opens `p` and checks that it really is a network namespace. Throws
   * ExchangeError (ENOENT/ESRCH/EACCES ...) when it cannot be opened and
   * ArgumentError when it is something else.
   */
  static open(p: string, param = 'netns'): NetnsHandle {
    if (typeof p !== 'string' || p === '' || !path.isAbsolute(p)) {
      throw new ArgumentError(param, `expected an absolute path to a network namespace, got ${JSON.stringify(p)}`);
    }
    return NetnsHandle.#open(p, -1, p, param);
  }

  /**
   * As open(), for `entry` of an open directory (a held /proc/<pid>): one
   * openat, no path walk from the root. `p` names it in errors and in .path.
   */
  static openAt(dirFd: number, entry: string, p: string, param = 'netns'): NetnsHandle {
    return NetnsHandle.#open(entry, dirFd, p, param);
  }

  // One native call: open (O_NONBLOCK: a FIFO cannot block it), fstat and the
  // type check; the addon keeps the fd, so the jobs submitted with it take no
  // duplicate of their own (native/addon.cc NsTable).
  static #open(file: string, dirFd: number, p: string, param: string): NetnsHandle {
    const out = openOut;
    const owner = getBinding();
    const fd = owner.openNetns(file, dirFd, out);
    if (typeof fd === 'number') return new NetnsHandle(owner, fd, p, out[0]!, out[1]!);
    if (fd.syscall !== 'nstype') throw new ExchangeError(fd.errno || 5, fd.syscall, p);
    const type = out[2]!;
    const what = type >= 0 ? `a namespace of type 0x${type.toString(16)}` : out[3] === 1 ? 'a directory' : 'not a namespace file';
    throw new ArgumentError(param, `${p} is not a network namespace (${what})`);
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  /**
   * Closes the handle; a second call does nothing. Jobs already submitted are
   * unaffected: they share the addon's open file (its table of namespaces),
   * which is closed only when the last of them is done, so they run in this
   * namespace; exchanges still queued for the next batch are submitted first.
   */
  close(): void {
    if (this.closed) return;
    // Exchanges queued for the next batch hand their jobs to the addon first,
    // which then holds the namespace for them.
    if (queued.length > 0) flushQueued();
    this.closed = true;
    // The addon owns the fd (openNetns): it closes it once no job holds it.
    this.#owner.closeNetns(this.fd);
  }
}

/**
 * The (dev, inode) of <procRoot>/<pid>/ns/net for each pid, in one native call
 * (no Stats object per process): [dev, inode, errno] per pid, errno 0 when it
 * could be read.
 */
export function statNetnsIds(procRoot: string, pids: readonly number[]): Float64Array {
  const out = new Float64Array(pids.length * 3);
  if (pids.length > 0) getBinding().statNetnsIds(procRoot, Int32Array.from(pids), out);
  return out;
}

/** openNetns's out-parameter (one call at a time: JS is single-threaded). */
const openOut = new Float64Array(4);

/** The namespace of this thread: the host reference (never /proc/1/ns/net). */
export const HOST_NETNS_PATH = '/proc/thread-self/ns/net';

export function hostNetnsInode(): { dev: number; inode: number } {
  const st = fs.statSync(HOST_NETNS_PATH);
  return { dev: st.dev, inode: st.ino };
}

// ---------------------------------------------------------------------------
// Loading

let binding: NativeBinding | null = null;
let nextId = 1;
/** Jobs waiting for their native results, by id. */
const pending = new Map<number, Waiter<unknown>>();

function nextJobId(): number {
  const id = nextId;
  nextId = nextId >= 0x7fffffff ? 1 : nextId + 1;
  return id;
}

function onResults(results: NativeResult[]): void {
  // Every result is settled, whatever one settlement does: a throw here
  // would leave the rest of the batch's promises hanging.
  for (const r of results) {
    const done = pending.get(r.id);
    if (!done) continue;
    pending.delete(r.id);
    try {
      done.settle(r);
    } catch (err) {
      process.emitWarning(`coredns-healthd: settling native result ${r.id} failed: ${errorMessage(err)}`);
    }
  }
}

function defaultAddonPath(): string {
  if (process.env.COREDNS_HEALTHD_ADDON) return process.env.COREDNS_HEALTHD_ADDON;
  // src/netns/binding.ts and dist/src/netns/binding.js both find the package root
  // by walking up to the directory holding binding.gyp or the installed build/.
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    const candidate = path.join(dir, 'build', 'Release', 'healthd.node');
    if (fs.existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../build/Release/healthd.node');
}

/** The loaded addon (loaded on first use). */
export function getBinding(): NativeBinding {
  if (!binding) {
    const require = createRequire(import.meta.url);
    const file = defaultAddonPath();
    let b: NativeBinding;
    try {
      b = require(file) as NativeBinding;
    } catch (err) {
      throw new Error(`cannot load the native addon ${file}: ${(err as Error).message} (run "npm ci" or "npx node-gyp rebuild")`, {
        cause: err,
      });
    }
    b.init(onResults);
    binding = b;
  }
  return binding;
}

/** Test door: use another binding (or an already-loaded addon). Returns the previous one. */
export function setBinding(b: NativeBinding | null): NativeBinding | null {
  const prev = binding;
  binding = b;
  if (b) b.init(onResults);
  return prev;
}

// ---------------------------------------------------------------------------
// Validation

export const MIN_TIMEOUT_MS = 1;
export const MAX_TIMEOUT_MS = 120_000;
export const MAX_PAYLOAD = 65_535;

export function validateServer(server: unknown, param = 'server'): 4 | 6 {
  if (typeof server !== 'string') throw new ArgumentError(param, `expected an IP address string, got ${typeof server}`);
  if (server.includes('%')) throw new ArgumentError(param, `zone/scope ids are not supported: ${server}`);
  const family = net.isIP(server);
  if (family === 0) throw new ArgumentError(param, `not an IPv4 or IPv6 address: ${JSON.stringify(server)}`);
  return family as 4 | 6;
}

export function validatePort(port: unknown, param = 'port'): number {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new ArgumentError(param, `expected an integer from 1 to 65535, got ${JSON.stringify(port)}`);
  }
  return port;
}

export function validateTimeout(timeoutMs: unknown, param = 'timeoutMs'): number {
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < MIN_TIMEOUT_MS || timeoutMs > MAX_TIMEOUT_MS) {
    throw new ArgumentError(param, `expected milliseconds from ${MIN_TIMEOUT_MS} to ${MAX_TIMEOUT_MS}, got ${JSON.stringify(timeoutMs)}`);
  }
  return Math.ceil(timeoutMs);
}

// ---------------------------------------------------------------------------
// The exchange

/** Where the exchange runs: the host (no setns), a namespace path, or an open handle. */
// eslint-disable-next-line @typescript-eslint/no-redundant-type-constituents -- 'host' is spelled out as documentation
export type NetnsRef = 'host' | string | NetnsHandle | undefined;

export interface ExchangeRequest {
  netns?: NetnsRef;
  server: string;
  port?: number;
  transport?: Transport;
  payload: Uint8Array;
  timeoutMs: number;
  /**
   * The engine starts the exchange no sooner than this many ms from now (0 to
   * MAX_START_DELAY_MS; default 0: at once), holding it (and its namespace)
   * until then; timeoutMs counts from the start. A paced sweep hands the
   * engine a stretch of its starts in one batch instead of waking for each.
   */
  startDelayMs?: number;
  /**
   * How long the result may wait in the engine for others to finish before
   * it crosses to JS (0 to MAX_HOLD_MS; default 1): fewer deliveries, each
   * settling more promises. The RTT is measured as always.
   */
  holdMs?: number;
}

/** Limits of ExchangeRequest.startDelayMs and holdMs (native/addon.cc kMaxStartDelayMs, kMaxHoldMs). */
export const MAX_START_DELAY_MS = 600_000;
export const MAX_HOLD_MS = 1_000;
const DEFAULT_HOLD_MS = 1;

function validateMs(value: unknown, param: string, max: number, dflt: number): number {
  if (value === undefined) return dflt;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw new ArgumentError(param, `expected an integer number of milliseconds from 0 to ${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

export interface ExchangeReply {
  reply: Buffer;
  rttNs: number;
  /** UDP datagrams dropped while waiting for this reply (wrong ID or question, empty). */
  ignored?: number;
}

interface Prepared {
  netns: NetnsRef;
  server: string;
  family: 4 | 6;
  port: number;
  tcp: boolean;
  payload: Uint8Array;
  timeoutMs: number;
  questionEnd: number;
  startDelayMs: number;
  holdMs: number;
}

/** Each field of the request is read exactly once: what is validated is what is used. */
function prepare(req: ExchangeRequest): Prepared {
  if (req === null || typeof req !== 'object') throw new ArgumentError('request', 'expected an object');
  const { netns, server, port: rawPort, transport: rawTransport, payload, timeoutMs: rawTimeout, startDelayMs: rawDelay, holdMs: rawHold } = req;
  const family = validateServer(server);
  const port = validatePort(rawPort ?? 53);
  const transport = rawTransport ?? 'udp';
  if (transport !== 'udp' && transport !== 'tcp') {
    throw new ArgumentError('transport', `expected "udp" or "tcp", got ${JSON.stringify(transport)}`);
  }
  if (!(payload instanceof Uint8Array)) throw new ArgumentError('payload', 'expected a Buffer or Uint8Array');
  if (payload.length === 0 || payload.length > MAX_PAYLOAD) {
    throw new ArgumentError('payload', `length must be 1 to ${MAX_PAYLOAD} bytes, got ${payload.length}`);
  }
  const timeoutMs = validateTimeout(rawTimeout);
  const startDelayMs = validateMs(rawDelay, 'startDelayMs', MAX_START_DELAY_MS, 0);
  const holdMs = validateMs(rawHold, 'holdMs', MAX_HOLD_MS, DEFAULT_HOLD_MS);
  checkNetnsRef(netns);
  // A copy: the caller cannot change the bytes between here and the addon.
  const bytes = Uint8Array.prototype.slice.call(payload);
  return { netns, server, family, port, tcp: transport === 'tcp', payload: bytes, timeoutMs, questionEnd: dnsQuestionEnd(bytes), startDelayMs, holdMs };
}

function checkNetnsRef(netns: unknown): asserts netns is NetnsRef {
  if (netns !== undefined && netns !== 'host' && typeof netns !== 'string' && !(netns instanceof NetnsHandle)) {
    throw new ArgumentError('netns', 'expected "host", a namespace path or a NetnsHandle');
  }
  if (netns instanceof NetnsHandle && !netns.isOpen) {
    throw new ArgumentError('netns', `handle for ${netns.path} is closed`);
  }
}

/**
 * Where the question of a one-question DNS query ends (12-byte header, an
 * uncompressed name, QTYPE and QCLASS), so the engine can ignore UDP
 * datagrams that are not its reply, as glibc's res_send does. 0 when the
 * payload is not such a query (the first non-empty datagram is then the reply).
 */
export function dnsQuestionEnd(payload: Uint8Array): number {
  if (payload.length < 17 || (payload[2]! & 0x80) !== 0 || payload[4] !== 0 || payload[5] !== 1) return 0;
  let i = 12;
  for (;;) {
    const len = payload[i];
    if (len === undefined || len > 63) return 0;
    i += 1 + len;
    if (len === 0) break;
    if (i > 12 + 255) return 0;
  }
  return i + 4 <= payload.length ? i + 4 : 0;
}

/** Resolves the namespace of a job: a handle as is, a path opened now (the caller closes `opened`). */
function resolveNetns(netns: NetnsRef): { handle: NetnsHandle | null; opened: NetnsHandle | null } {
  if (netns instanceof NetnsHandle) return { handle: netns, opened: null };
  if (typeof netns === 'string' && netns !== 'host') {
    const opened = NetnsHandle.open(netns);
    return { handle: opened, opened };
  }
  return { handle: null, opened: null };
}

/**
 * A job waiting for its native result: registered under a fresh id at birth,
 * settled once by settle() (a result, a refusal) or reject() (what submitting
 * it threw).
 */
abstract class Waiter<T> {
  readonly id = nextJobId();
  readonly promise: Promise<T>;
  resolve!: (value: T) => void;
  reject!: (err: unknown) => void;

  constructor() {
    this.promise = new Promise<T>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    pending.set(this.id, this as Waiter<unknown>);
  }

  /** What a successful result resolves the promise with. */
  protected abstract valueOf(r: NativeResult & { reply: Buffer }): T;
  /** The job's name in its error (made only for an error). */
  protected abstract describe(): string;

  /** Settles with the result, whatever reading it does (never throws). */
  settle(r: NativeResult): void {
    try {
      if (r.errno === 0 && r.reply) {
        this.resolve(this.valueOf(r as NativeResult & { reply: Buffer }));
        return;
      }
      const err = new ExchangeError(r.errno || errnoOf('EIO'), r.syscall || 'exchange', this.describe());
      err.ignored = r.ignored ?? 0;
      this.reject(err);
    } catch (err) {
      this.reject(err);
    }
  }
}

/** runJob's waiter: resolves with the native result itself. */
class ResultWaiter extends Waiter<NativeResult & { reply: Buffer }> {
  constructor(readonly what: string) {
    super();
  }

  protected valueOf(r: NativeResult & { reply: Buffer }): NativeResult & { reply: Buffer } {
    return r;
  }

  protected describe(): string {
    return this.what;
  }
}

/** Settles job `id` with a refusal or a thrown error instead of a native result. */
function refuse(id: number, refusal: NativeError): void {
  pending.get(id)?.settle({ id, errno: refusal.errno, syscall: refusal.syscall, reply: null, rttNs: 0, ignored: 0 });
  pending.delete(id);
}

/**
 * One job on the engine: resolves the namespace (a handle is used as is, a
 * path opened just for the submit: the addon takes its own duplicate of the
 * fd, held until the job is done), submits it under a fresh id, and settles
 * with the native result. `what` names the job in errors.
 */
function runJob(
  netns: NetnsRef,
  what: (path: string | null) => string,
  submit: (b: NativeBinding, id: number, nsFd: number) => NativeError | undefined,
): Promise<NativeResult & { reply: Buffer }> {
  let ns: ReturnType<typeof resolveNetns>;
  let b: NativeBinding;
  try {
    ns = resolveNetns(netns);
  } catch (err) {
    return Promise.reject(err);
  }
  try {
    b = getBinding();
  } catch (err) {
    ns.opened?.close();
    return Promise.reject(err);
  }
  const { id, promise } = new ResultWaiter(what(ns.handle ? ns.handle.path : null));
  let refused: NativeError | undefined;
  try {
    refused = submit(b, id, ns.handle ? ns.handle.fd : -1);
  } catch (err) {
    pending.delete(id);
    return Promise.reject(err instanceof TypeError ? new ArgumentError('request', err.message) : err);
  } finally {
    ns.opened?.close();
  }
  if (refused) refuse(id, refused);
  return promise;
}

// Exchanges are batched: those started in one synchronous run (a sweep's
// burst, a vantage's probes) reach the addon in one submitBatch call at the
// next microtask, packed into one buffer. Until then each holds its
// namespace handle open; NetnsHandle.close() and cancelAll() flush first.

/**
 * One exchange: queued (holding its namespace handle) until the batch is
 * submitted, then pending until its result settles the promise with the reply
 * (one object per exchange: no wrapper promise, no closure per result).
 */
class QueuedExchange extends Waiter<ExchangeReply> {
  constructor(
    readonly p: Prepared,
    readonly handle: NetnsHandle | null,
    /** A handle opened for this exchange alone (a path): closed once submitted. */
    readonly opened: NetnsHandle | null,
  ) {
    super();
  }

  protected valueOf(r: NativeResult & { reply: Buffer }): ExchangeReply {
    return { reply: r.reply, rttNs: r.rttNs, ignored: r.ignored ?? 0 };
  }

  protected describe(): string {
    return `${this.p.server}:${this.p.port}/${this.p.tcp ? 'tcp' : 'udp'}`;
  }
}

let queued: QueuedExchange[] = [];

/** Bytes before each payload in a submitBatch record (native/addon.cc kRecordHeader). */
const RECORD_HEADER = 36;

function flushQueued(): void {
  const jobs = queued;
  queued = [];
  if (jobs.length === 0) return;
  let b: NativeBinding;
  try {
    b = getBinding();
  } catch (err) {
    for (const j of jobs) settleThrown(j, err);
    closeOpened(jobs);
    return;
  }
  try {
    if (typeof b.submitBatch !== 'function') {
      for (const j of jobs) submitOne(b, j);
      return;
    }
    const fds: number[] = [];
    const fdIndex = new Map<number, number>();
    const addresses: string[] = [];
    const addressIndex = new Map<string, number>();
    let size = 0;
    for (const j of jobs) size += RECORD_HEADER + j.p.payload.length;
    const packed = Buffer.allocUnsafe(size);
    let off = 0;
    for (const j of jobs) {
      let ns = -1;
      if (j.handle) {
        ns = fdIndex.get(j.handle.fd) ?? -1;
        if (ns < 0) {
          ns = fds.push(j.handle.fd) - 1;
          fdIndex.set(j.handle.fd, ns);
        }
      }
      let addr = addressIndex.get(j.p.server);
      if (addr === undefined) {
        addr = addresses.push(j.p.server) - 1;
        addressIndex.set(j.p.server, addr);
      }
      packed.writeUInt32LE(j.id, off);
      packed.writeInt32LE(ns, off + 4);
      packed.writeUInt32LE(addr, off + 8);
      packed[off + 12] = j.p.family;
      packed[off + 13] = j.p.tcp ? 1 : 0;
      packed.writeUInt16LE(j.p.port, off + 14);
      packed.writeUInt32LE(j.p.timeoutMs, off + 16);
      packed.writeUInt32LE(j.p.tcp ? 0 : j.p.questionEnd, off + 20);
      packed.writeUInt32LE(j.p.payload.length, off + 24);
      packed.writeUInt32LE(j.p.startDelayMs, off + 28);
      packed.writeUInt32LE(j.p.holdMs, off + 32);
      packed.set(j.p.payload, off + RECORD_HEADER);
      off += RECORD_HEADER + j.p.payload.length;
    }
    let refused: Array<NativeError | undefined> | undefined;
    try {
      refused = b.submitBatch(packed, fds, addresses);
    } catch (err) {
      for (const j of jobs) settleThrown(j, err);
      return;
    }
    if (refused) {
      for (let i = 0; i < jobs.length; i++) {
        const r = refused[i];
        if (r) refuse(jobs[i]!.id, r);
      }
    }
  } finally {
    closeOpened(jobs);
  }
}

function submitOne(b: NativeBinding, j: QueuedExchange): void {
  let refused: NativeError | undefined;
  try {
    refused = b.submit(j.id, j.handle ? j.handle.fd : -1, j.p.family, j.p.server, j.p.port, j.p.tcp, j.p.payload, j.p.timeoutMs, j.p.tcp ? 0 : j.p.questionEnd);
  } catch (err) {
    settleThrown(j, err);
    return;
  }
  if (refused) refuse(j.id, refused);
}

/** Rejects a job with what submitting it threw (a TypeError from the addon is an ArgumentError). */
function settleThrown(j: QueuedExchange, err: unknown): void {
  pending.delete(j.id);
  j.reject(err instanceof TypeError ? new ArgumentError('request', err.message) : err);
}

function closeOpened(jobs: QueuedExchange[]): void {
  for (const j of jobs) j.opened?.close();
}

/**
 * Sends `payload` to server:port over UDP or TCP from inside `netns` and
 * resolves with the reply (TCP: the first length-framed message; UDP: the
 * first datagram that answers this query, see dnsQuestionEnd).
 * Rejects with ArgumentError for bad arguments and ExchangeError otherwise.
 */
export function exchange(req: ExchangeRequest): Promise<ExchangeReply> {
  let p: Prepared;
  let ns: ReturnType<typeof resolveNetns>;
  try {
    p = prepare(req);
    ns = resolveNetns(p.netns);
  } catch (err) {
    return Promise.reject(err);
  }
  const job = new QueuedExchange(p, ns.handle, ns.opened);
  if (queued.length === 0) queueMicrotask(flushQueued);
  queued.push(job);
  return job.promise;
}

/** How long an interface dump may take before it fails with ETIMEDOUT. */
export const DUMP_TIMEOUT_MS = 5_000;

/**
 * The interfaces and addresses of a network namespace: the raw RTM_NEWLINK
 * and RTM_NEWADDR messages of an rtnetlink dump made on a socket the engine's
 * worker creates inside the namespace (no fork, no setns on this thread).
 * src/diagnose/netlink.ts parses them. Rejects with ExchangeError.
 */
export function dumpInterfaces(netns: NetnsRef, timeoutMs = DUMP_TIMEOUT_MS): Promise<Buffer> {
  try {
    checkNetnsRef(netns);
    validateTimeout(timeoutMs);
  } catch (err) {
    return Promise.reject(err);
  }
  return runJob(
    netns,
    (where) => `interfaces of ${where ?? 'host'}`,
    (b, id, nsFd) => b.submitLinkDump(id, nsFd, Math.ceil(timeoutMs)),
  ).then((r) => r.reply);
}

/** The longest a link watch waits (the addon's limit on any job). */
export const MAX_WATCH_MS = MAX_TIMEOUT_MS;

/** Whether the addon can watch interfaces (watchLinks). */
export function canWatchLinks(): boolean {
  try {
    return typeof getBinding().submitLinkWatch === 'function';
  } catch {
    return false;
  }
}

/**
 * Waits up to timeoutMs for the namespace's interfaces to change: the raw RTM_NEWLINK / RTM_DELLINK
 * messages of the change (parseInterfaceDump reads them), or null when nothing changed in that time.
 * Rejects with ExchangeError ENOBUFS when change messages were lost (assume everything changed) and
 * ECANCELED after cancelAll(). One watch sees the changes from when it starts: start the next at once.
 * A watch in flight does not keep the process alive (a probe does): a daemon that stopped exits at once.
 */
export function watchLinks(netns: NetnsRef, timeoutMs: number): Promise<Buffer | null> {
  try {
    checkNetnsRef(netns);
    validateTimeout(timeoutMs);
  } catch (err) {
    return Promise.reject(err);
  }
  return runJob(
    netns,
    (where) => `interface changes of ${where ?? 'host'}`,
    (b, id, nsFd) => {
      if (!b.submitLinkWatch) throw new ArgumentError('binding', 'this addon cannot watch interfaces');
      return b.submitLinkWatch(id, nsFd, Math.ceil(timeoutMs));
    },
  ).then(
    (r) => r.reply,
    (err: unknown) => {
      if (err instanceof ExchangeError && err.code === 'ETIMEDOUT') return null;
      throw err;
    },
  );
}

// ---------------------------------------------------------------------------
// Files inside a container's root

export interface InRootFile {
  data: Buffer;
  /** st_size of the file. */
  size: number;
  /** More than maxBytes were there; data holds the first maxBytes. */
  truncated: boolean;
}

/** The largest maxBytes readFileInRoot takes. */
export const MAX_READ_BYTES = 16 * 1024 * 1024;

/**
 * Reads `relPath` as the process whose root is `root` (e.g. /proc/<pid>/root)
 * would see it: every symlink and ".." resolves inside that root
 * (openat2 RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS, or an in-root walk with
 * O_PATH | O_NOFOLLOW when openat2 is missing or `walk` is set). Only a
 * regular file is opened for reading (NotRegularFileError otherwise, with nothing
 * opened that could block or have side effects), and at most maxBytes are
 * read, off the JS thread. Rejects with ExchangeError (ENOENT, ELOOP, ...)
 * when the path cannot be resolved.
 */
export function readFileInRoot(root: string, relPath: string, opts: { maxBytes: number; walk?: boolean }): Promise<InRootFile> {
  const { maxBytes, walk = false } = opts;
  if (typeof root !== 'string' || !path.isAbsolute(root)) {
    return Promise.reject(new ArgumentError('root', `expected an absolute directory path, got ${JSON.stringify(root)}`));
  }
  if (typeof relPath !== 'string' || relPath === '' || relPath.includes('\0')) {
    return Promise.reject(new ArgumentError('relPath', `expected a path, got ${JSON.stringify(relPath)}`));
  }
  if (!Number.isInteger(maxBytes) || maxBytes < 0 || maxBytes > MAX_READ_BYTES) {
    return Promise.reject(new ArgumentError('maxBytes', `expected an integer from 0 to ${MAX_READ_BYTES}, got ${JSON.stringify(maxBytes)}`));
  }
  const shown = `${relPath} in ${root}`;
  let started: Promise<NativeFileRead>;
  try {
    started = getBinding().readFileInRoot(root, relPath, maxBytes, walk === true);
  } catch (err) {
    return Promise.reject(err);
  }
  return started.then((r) => {
    if (r.errno !== 0) throw new ExchangeError(r.errno, r.syscall || 'open', shown);
    if (!r.data) throw new NotRegularFileError(shown, r.fileType === '' ? 'unknown' : r.fileType);
    return { data: r.data, size: r.size, truncated: r.truncated };
  });
}

/** Fails every queued and in-flight exchange with ECANCELED (used on shutdown). */
export function cancelAll(): void {
  flushQueued();
  if (binding) binding.cancelAll();
}

/** Jobs in flight, the worker thread's id and netns: for tests and metrics. */
export function engineStats(): NativeStats & { pendingPromises: number } {
  return { ...getBinding().stats(), pendingPromises: pending.size };
}

/**
 * Sends one datagram to an AF_UNIX datagram socket (sd_notify). A path that
 * starts with "@" names an abstract socket. Returns null on success.
 */
export function notifySocket(socketPath: string, message: string): ExchangeError | null {
  if (typeof socketPath !== 'string' || socketPath.length < 2 || (socketPath[0] !== '/' && socketPath[0] !== '@')) {
    throw new ArgumentError('NOTIFY_SOCKET', `expected an absolute path or @abstract name, got ${JSON.stringify(socketPath)}`);
  }
  const err = getBinding().notify(socketPath, message);
  return err ? new ExchangeError(err.errno, err.syscall, socketPath) : null;
}
