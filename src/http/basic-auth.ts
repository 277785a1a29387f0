// HTTP basic authentication against bcrypt hashes (the web configuration's
// basic_auth_users), for clients that are all presumed hostile:
//
// - bcrypt runs in one worker thread (./bcrypt-worker.ts), never on the event
//   loop: bcryptjs takes ~90 ms per verification at cost 10 here, and its
//   async form still blocks the loop up to 100 ms at a time;
// - at most MAX_QUEUED verifications wait behind the one running; beyond
//   that the request is answered 429 at once, so a flood of wrong passwords
//   costs at most one core and never queues without bound;
// - an accepted (user, password, stored hash) is cached (a keyed SHA-256 of
//   the three, at most CACHE_SIZE entries, least recently used dropped first):
//   a scraper that logged in once is never queued behind a flood. Failures
//   are not cached;
// - an unknown user costs one verification too, against the hash of a
//   configured user, so timing does not tell which users exist;
// - the computed hash is compared with the stored one in constant time.
//
// The worker starts on the first verification and ends after IDLE_MS without
// one; it keeps the process alive only while a verification runs.
import crypto from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { BcryptReply, BcryptRequest } from './bcrypt-worker.js';

export const MAX_QUEUED = 4;
export const CACHE_SIZE = 64;
export const IDLE_MS = 60_000;
/** Longer passwords are refused without hashing (bcrypt reads 72 bytes; the rest only costs memory). */
export const MAX_PASSWORD_BYTES = 1024;

export type Verdict = 'ok' | 'unauthorized' | 'busy';

/** What compute() answers when the queue is full. */
export const BUSY: unique symbol = Symbol('busy');

/** Computes bcrypt(password) with a stored hash's cost and salt (null: unusable hash); BUSY when the queue is full. */
export interface HashComputer {
  compute(password: string, storedHash: string): Promise<string | null | typeof BUSY>;
  close(): Promise<void>;
}

interface Job {
  req: BcryptRequest;
  resolve: (hash: string | null) => void;
  reject: (err: Error) => void;
}

/** One worker thread, one verification at a time, at most maxQueued waiting. */
export class BcryptWorker implements HashComputer {
  readonly #maxQueued: number;
  readonly #idleMs: number;
  readonly #workerUrl: URL;
  #worker: Worker | null = null;
  #running: Job | null = null;
  readonly #queue: Job[] = [];
  #nextId = 1;
  #idleTimer: NodeJS.Timeout | null = null;
  /** Verifications computed since start. */
  computed = 0;
  /** Verifications refused because the queue was full. */
  refused = 0;

  constructor(options: { maxQueued?: number; idleMs?: number; workerUrl?: URL } = {}) {
    this.#maxQueued = options.maxQueued ?? MAX_QUEUED;
    this.#idleMs = options.idleMs ?? IDLE_MS;
    this.#workerUrl = options.workerUrl ?? new URL('./bcrypt-worker.js', import.meta.url);
  }

  /** Whether the worker thread is running now. */
  get alive(): boolean {
    return this.#worker !== null;
  }

  /** Verifications running or waiting. */
  get pending(): number {
    return this.#queue.length + (this.#running ? 1 : 0);
  }

  compute(password: string, storedHash: string): Promise<string | null | typeof BUSY> {
    if (this.#running && this.#queue.length >= this.#maxQueued) {
      this.refused++;
      return Promise.resolve(BUSY);
    }
    return new Promise<string | null>((resolve, reject) => {
      this.#queue.push({ req: { id: this.#nextId++, password, hash: storedHash }, resolve, reject });
      this.#pump();
    });
  }

  #pump(): void {
    if (this.#running || this.#queue.length === 0) return;
    if (this.#idleTimer) {
      clearTimeout(this.#idleTimer);
      this.#idleTimer = null;
    }
    const job = this.#queue.shift()!;
    this.#running = job;
    const w = this.#spawn();
    // Held while it works (its answer or its exit must arrive); unref'd when idle.
    w.ref();
    w.postMessage(job.req);
  }

  #spawn(): Worker {
    if (this.#worker) return this.#worker;
    // Not the daemon's own flags (`node --input-type=module -e ...` would fail the worker's
    // load); a small heap of its own: bcrypt needs about 4 KiB of state.
    const w = new Worker(this.#workerUrl, { execArgv: [], resourceLimits: { maxOldGenerationSizeMb: 16, maxYoungGenerationSizeMb: 4 } });
    w.unref();
    w.on('message', (m: BcryptReply) => {
      const job = this.#running;
      if (!job || job.req.id !== m.id) return;
      this.#running = null;
      this.computed++;
      job.resolve(m.hash);
      this.#next();
    });
    const fail = (err: Error): void => {
      if (this.#worker !== w) return;
      this.#worker = null;
      const jobs = [...(this.#running ? [this.#running] : []), ...this.#queue.splice(0)];
      this.#running = null;
      for (const j of jobs) j.reject(err);
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`the bcrypt worker exited (code ${code})`)));
    this.#worker = w;
    return w;
  }

  #next(): void {
    if (this.#queue.length > 0) {
      this.#pump();
      return;
    }
    this.#worker?.unref();
    this.#idleTimer = setTimeout(() => {
      this.#idleTimer = null;
      if (!this.#running && this.#queue.length === 0) void this.close(); // nothing waits on an idle worker's end
    }, this.#idleMs);
    this.#idleTimer.unref();
  }

  async close(): Promise<void> {
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
    const w = this.#worker;
    if (!w) return;
    this.#worker = null;
    const jobs = [...(this.#running ? [this.#running] : []), ...this.#queue.splice(0)];
    this.#running = null;
    for (const j of jobs) j.reject(new Error('the bcrypt worker was stopped'));
    await w.terminate();
  }
}

/** user:password from an Authorization header; null when it is not well-formed Basic credentials. */
export function parseBasicAuth(header: string | undefined): { user: string; password: string } | null {
  if (header === undefined) return null;
  const m = /^basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(header);
  if (!m || m[1]!.length % 4 !== 0) return null;
  const raw = Buffer.from(m[1]!, 'base64');
  const colon = raw.indexOf(0x3a);
  if (colon < 0) return null;
  const password = raw.subarray(colon + 1);
  if (password.length > MAX_PASSWORD_BYTES) return null;
  return { user: raw.subarray(0, colon).toString('utf8'), password: password.toString('utf8') };
}

/** Checks Basic credentials against a user → bcrypt hash map, with the cache and bounds described above. */
export class BasicAuth {
  readonly #computer: HashComputer;
  readonly #cacheSize: number;
  readonly #cache = new Map<string, true>();
  readonly #key = crypto.randomBytes(32);

  constructor(options: { computer?: HashComputer; cacheSize?: number } = {}) {
    this.#computer = options.computer ?? new BcryptWorker();
    this.#cacheSize = options.cacheSize ?? CACHE_SIZE;
  }

  /** Accepted credentials held now. */
  get cached(): number {
    return this.#cache.size;
  }

  #cacheKey(user: string, password: string, hash: string): string {
    return crypto
      .createHmac('sha256', this.#key)
      .update(JSON.stringify([user, password, hash]))
      .digest('base64');
  }

  /**
   * 'ok' for a configured user with the right password, 'busy' when the
   * verification queue is full, else 'unauthorized'. Rejects only when the
   * worker fails.
   */
  async check(header: string | undefined, users: ReadonlyMap<string, string>): Promise<Verdict> {
    const creds = parseBasicAuth(header);
    if (!creds || users.size === 0) return 'unauthorized';
    const stored = users.get(creds.user);
    // An unknown user is verified against a configured hash all the same (and refused).
    const hash = stored ?? users.values().next().value!;
    const key = this.#cacheKey(creds.user, creds.password, hash);
    if (stored !== undefined && this.#cache.has(key)) {
      this.#cache.delete(key);
      this.#cache.set(key, true);
      return 'ok';
    }
    const computed = await this.#computer.compute(creds.password, hash);
    if (computed === BUSY) return 'busy';
    const ok = computed !== null && computed.length === hash.length && crypto.timingSafeEqual(Buffer.from(computed), Buffer.from(hash));
    if (!ok || stored === undefined) return 'unauthorized';
    this.#cache.set(key, true);
    if (this.#cache.size > this.#cacheSize) this.#cache.delete(this.#cache.keys().next().value!);
    return 'ok';
  }

  close(): Promise<void> {
    this.#cache.clear();
    return this.#computer.close();
  }
}
