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

export type Transport = 'udp' | 'tcp';

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
  ): NativeError | undefined;
  /** Queues a link + address dump (raw rtnetlink messages) of the netns behind netnsFd (-1: the host's). */
  submitLinkDump(id: number, netnsFd: number): NativeError | undefined;
  cancelAll(): void;
  stats(): NativeStats;
  notify(socketPath: string, message: string): NativeError | undefined;
  /** The CLONE_NEW* type of the namespace behind fd (ioctl NS_GET_NSTYPE). */
  nsType(fd: number): number | NativeError;
}

/** CLONE_NEWNET: what nsType() returns for a network namespace. */
export const CLONE_NEWNET = 0x40000000;

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
}

export interface NativeStats {
  running: boolean;
  inFlight: number;
  queued: number;
  completed: number;
  workerTid: number;
  hostNetnsInode: number;
  workerNetnsInode: number;
  fatalErrno: number;
}

/** Thrown synchronously (and returned as a rejection by exchange) for bad arguments. */
export class ArgumentError extends TypeError {
  readonly code = 'ERR_INVALID_ARG_VALUE';
  readonly param: string;
  constructor(param: string, message: string) {
    super(`${param}: ${message}`);
    this.name = 'ArgumentError';
    this.param = param;
  }
}

/** A failed exchange: code is the errno name (ETIMEDOUT, ECONNREFUSED, EPERM, ENOENT, ...). */
export class ExchangeError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
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
const ERRNO_NAMES = new Map<number, string>(Object.entries(ERRNO).map(([k, v]) => [v, k]));

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
  private refs = 1;
  private closed = false;

  private constructor(fd: number, p: string, dev: number, inode: number) {
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
    let fd: number;
    try {
      fd = fs.openSync(p, fs.constants.O_RDONLY) // libuv adds O_CLOEXEC;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new ExchangeError(errnoOf(e.code ?? 'EIO') || 5, 'open', p, { cause: err });
    }
    return NetnsHandle.adopt(fd, p, param);
  }

  /** Takes ownership of an fd that is already open (it is closed on failure). */
  static adopt(fd: number, p: string, param = 'netns'): NetnsHandle {
    let st: fs.Stats;
    let type: number | NativeError;
    try {
      st = fs.fstatSync(fd);
      type = getBinding().nsType(fd);
    } catch (err) {
      fs.closeSync(fd);
      const e = err as NodeJS.ErrnoException;
      if (e.code) throw new ExchangeError(errnoOf(e.code) || 5, 'fstat', p, { cause: err });
      throw err;
    }
    if (typeof type !== 'number' || type !== CLONE_NEWNET) {
      fs.closeSync(fd);
      const what = typeof type === 'number' ? `a namespace of type 0x${type.toString(16)}` : st.isDirectory() ? 'a directory' : 'not a namespace file';
      throw new ArgumentError(param, `${p} is not a network namespace (${what})`);
    }
    return new NetnsHandle(fd, p, st.dev, st.ino);
  }

  /** Another user of the same fd: close() only closes it when the last user is done. */
  retain(): this {
    if (this.closed) throw new ArgumentError('netns', `handle for ${this.path} is already closed`);
    this.refs++;
    return this;
  }

  get isOpen(): boolean {
    return !this.closed;
  }

  close(): void {
    if (this.closed) return;
    if (--this.refs > 0) return;
    this.closed = true;
    fs.closeSync(this.fd);
  }
}

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
const pending = new Map<number, (r: NativeResult) => void>();

function onResults(results: NativeResult[]): void {
  for (const r of results) {
    const done = pending.get(r.id);
    if (done) {
      pending.delete(r.id);
      done(r);
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
  if (
    typeof timeoutMs !== 'number' ||
    !Number.isFinite(timeoutMs) ||
    timeoutMs < MIN_TIMEOUT_MS ||
    timeoutMs > MAX_TIMEOUT_MS
  ) {
    throw new ArgumentError(param, `expected milliseconds from ${MIN_TIMEOUT_MS} to ${MAX_TIMEOUT_MS}, got ${JSON.stringify(timeoutMs)}`);
  }
  return Math.ceil(timeoutMs);
}

// ---------------------------------------------------------------------------
// The exchange

/** Where the exchange runs: the host (no setns), a namespace path, or an open handle. */
export type NetnsRef = 'host' | string | NetnsHandle | undefined;

export interface ExchangeRequest {
  netns?: NetnsRef;
  server: string;
  port?: number;
  transport?: Transport;
  payload: Uint8Array;
  timeoutMs: number;
}

export interface ExchangeReply {
  reply: Buffer;
  rttNs: number;
}

interface Prepared {
  family: 4 | 6;
  port: number;
  tcp: boolean;
  timeoutMs: number;
}

function prepare(req: ExchangeRequest): Prepared {
  if (req === null || typeof req !== 'object') throw new ArgumentError('request', 'expected an object');
  const family = validateServer(req.server);
  const port = validatePort(req.port ?? 53);
  const transport = req.transport ?? 'udp';
  if (transport !== 'udp' && transport !== 'tcp') {
    throw new ArgumentError('transport', `expected "udp" or "tcp", got ${JSON.stringify(transport)}`);
  }
  if (!(req.payload instanceof Uint8Array)) throw new ArgumentError('payload', 'expected a Buffer or Uint8Array');
  if (req.payload.length === 0 || req.payload.length > MAX_PAYLOAD) {
    throw new ArgumentError('payload', `length must be 1 to ${MAX_PAYLOAD} bytes, got ${req.payload.length}`);
  }
  const timeoutMs = validateTimeout(req.timeoutMs);
  if (req.netns !== undefined && req.netns !== 'host' && typeof req.netns !== 'string' && !(req.netns instanceof NetnsHandle)) {
    throw new ArgumentError('netns', 'expected "host", a namespace path or a NetnsHandle');
  }
  if (req.netns instanceof NetnsHandle && !req.netns.isOpen) {
    throw new ArgumentError('netns', `handle for ${req.netns.path} is closed`);
  }
  return { family, port, tcp: transport === 'tcp', timeoutMs };
}

/**
 * One job on the engine: takes a reference on the namespace (a handle is
 * retained, a path opened) for as long as the job runs, submits it under a
 * fresh id, and settles with the native result. `what` names the job in errors.
 */
function runJob(
  netns: NetnsRef,
  what: (handle: NetnsHandle | null) => string,
  submit: (b: NativeBinding, id: number, nsFd: number) => NativeError | undefined,
): Promise<NativeResult & { reply: Buffer }> {
  let handle: NetnsHandle | null = null;
  try {
    if (netns instanceof NetnsHandle) handle = netns.retain();
    else if (typeof netns === 'string' && netns !== 'host') handle = NetnsHandle.open(netns);
  } catch (err) {
    return Promise.reject(err);
  }
  let b: NativeBinding;
  try {
    b = getBinding();
  } catch (err) {
    handle?.close();
    return Promise.reject(err);
  }
  const id = nextId;
  nextId = nextId >= 0x7fffffff ? 1 : nextId + 1;
  return new Promise((resolve, reject) => {
    pending.set(id, (r) => {
      handle?.close();
      if (r.errno === 0 && r.reply) resolve(r as NativeResult & { reply: Buffer });
      else reject(new ExchangeError(r.errno || errnoOf('EIO'), r.syscall || 'exchange', what(handle)));
    });
    let refused: NativeError | undefined;
    try {
      refused = submit(b, id, handle ? handle.fd : -1);
    } catch {
      refused = { errno: errnoOf('EINVAL'), syscall: 'submit' };
    }
    if (refused) {
      pending.delete(id);
      handle?.close();
      reject(new ExchangeError(refused.errno, refused.syscall, what(handle)));
    }
  });
}

/**
 * Sends `payload` to server:port over UDP or TCP from inside `netns` and
 * resolves with the first reply (TCP: the first length-framed message).
 * Rejects with ArgumentError for bad arguments and ExchangeError otherwise.
 */
export function exchange(req: ExchangeRequest): Promise<ExchangeReply> {
  let p: Prepared;
  try {
    p = prepare(req);
  } catch (err) {
    return Promise.reject(err);
  }
  return runJob(
    req.netns,
    () => `${req.server}:${p.port}/${p.tcp ? 'tcp' : 'udp'}`,
    (b, id, nsFd) => b.submit(id, nsFd, p.family, req.server, p.port, p.tcp, req.payload, p.timeoutMs),
  ).then((r) => ({ reply: r.reply, rttNs: r.rttNs }));
}

/**
 * The interfaces and addresses of a network namespace: the raw RTM_NEWLINK
 * and RTM_NEWADDR messages of an rtnetlink dump made on a socket the engine's
 * worker creates inside the namespace (no fork, no setns on this thread).
 * src/diagnose/netlink.ts parses them. Rejects with ExchangeError.
 */
export function dumpInterfaces(netns: NetnsRef): Promise<Buffer> {
  if (netns !== undefined && netns !== 'host' && typeof netns !== 'string' && !(netns instanceof NetnsHandle)) {
    return Promise.reject(new ArgumentError('netns', 'expected "host", a namespace path or a NetnsHandle'));
  }
  return runJob(
    netns,
    (h) => `interfaces of ${h ? h.path : 'host'}`,
    (b, id, nsFd) => b.submitLinkDump(id, nsFd),
  ).then((r) => r.reply);
}

/** Fails every queued and in-flight exchange with ECANCELED (used on shutdown). */
export function cancelAll(): void {
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
