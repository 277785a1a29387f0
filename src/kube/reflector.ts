// List once, then watch from the list's resourceVersion, forever: a watch
// that ends is resumed from the last resourceVersion seen (never a relist);
// 410 Gone (the resourceVersion was compacted away) relists; failures back
// off exponentially with jitter. The items are kept in memory and every
// change is announced, so readers never call the API per sweep.
import { EventEmitter } from 'node:events';
import { KubeApiError, toKubeApiError } from './errors.js';
import type { ListResult, WatchStream } from './client.js';

export interface BackoffOptions {
  /** First retry delay. Default 500 ms. */
  initialMs?: number;
  /** Longest retry delay. Default 30 s. */
  maxMs?: number;
}

export interface ReflectorSource<T> {
  list(): Promise<ListResult<T>>;
  /** Watches from resourceVersion; each event's object is converted with `convert`. */
  watch(resourceVersion: string, onEvent: (type: string, object: unknown) => void, maxDurationMs: number): WatchStream;
  convert(raw: unknown): T;
  key(item: T): string;
  resourceVersionOf(raw: unknown): string | undefined;
}

export interface ReflectorOptions {
  /** For logs and status: "dns-service", "coredns-pods", ... */
  name: string;
  backoff?: BackoffOptions;
  /** A watch is ended and resumed after this long (the server is also asked to end it). Default 5 min, ±10 %. */
  watchTimeoutMs?: number;
  /** Random in [0, 1); tests pin it. */
  random?: () => number;
}

export interface ReflectorStats {
  name: string;
  /** Listed at least once. */
  synced: boolean;
  /** A watch is open now. */
  watching: boolean;
  lists: number;
  /** Relists caused by 410 Gone. */
  relists: number;
  /** Watches opened (the first and every resume). */
  watches: number;
  /** Consecutive failures (0 when healthy). */
  failures: number;
  lastError?: { reason: string; message: string; at: string };
  resourceVersion: string;
}

/** A watch that lasted at least this long counts as healthy even without events. */
const HEALTHY_WATCH_MS = 5_000;

export function backoffDelay(failures: number, b: Required<BackoffOptions>, random: () => number): number {
  const ceiling = Math.min(b.maxMs, b.initialMs * 2 ** Math.max(0, failures - 1));
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

/**
 * Events: "change" (items changed), "synced" (first list done), "failure"
 * (KubeApiError, phase "list" | "watch": the reflector retries by itself).
 */
export class Reflector<T> extends EventEmitter {
  readonly #src: ReflectorSource<T>;
  readonly #name: string;
  readonly #backoff: Required<BackoffOptions>;
  readonly #watchTimeoutMs: number;
  readonly #random: () => number;
  readonly #items = new Map<string, T>();
  #rv = '';
  #synced = false;
  #stopped = true;
  #stream: WatchStream | undefined;
  #wake: (() => void) | undefined;
  #loop: Promise<void> | undefined;
  #stats = { lists: 0, relists: 0, watches: 0, failures: 0 };
  #lastError: ReflectorStats['lastError'];

  constructor(source: ReflectorSource<T>, opts: ReflectorOptions) {
    super();
    this.#src = source;
    this.#name = opts.name;
    this.#backoff = { initialMs: opts.backoff?.initialMs ?? 500, maxMs: opts.backoff?.maxMs ?? 30_000 };
    this.#watchTimeoutMs = opts.watchTimeoutMs ?? 300_000;
    this.#random = opts.random ?? Math.random;
  }

  get name(): string {
    return this.#name;
  }

  get synced(): boolean {
    return this.#synced;
  }

  /** The items, in key order. */
  items(): T[] {
    return [...this.#items.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
  }

  stats(): ReflectorStats {
    return {
      name: this.#name,
      synced: this.#synced,
      watching: this.#stream !== undefined,
      ...this.#stats,
      ...(this.#lastError ? { lastError: { ...this.#lastError } } : {}),
      resourceVersion: this.#rv,
    };
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    this.#loop = this.#run();
  }

  /** Stops watching; resolves when the loop has ended. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#stream?.abort();
    this.#wake?.();
    await this.#loop;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.#wake = done;
    });
  }

  #fail(err: unknown, phase: 'list' | 'watch'): KubeApiError {
    const e = err instanceof KubeApiError ? err : toKubeApiError(err, `${phase} ${this.#name}`);
    this.#stats.failures++;
    this.#lastError = { reason: e.reason, message: e.message, at: new Date().toISOString() };
    this.emit('failure', e, phase);
    return e;
  }

  #retryDelay(): number {
    return backoffDelay(this.#stats.failures, this.#backoff, this.#random);
  }

  async #run(): Promise<void> {
    let needList = true;
    let gones = 0;
    while (!this.#stopped) {
      if (needList) {
        try {
          const r = await this.#src.list();
          if (this.#stopped) return;
          this.#stats.lists++;
          this.#replace(r.items, r.resourceVersion);
          needList = false;
        } catch (err) {
          if (this.#stopped) return;
          this.#fail(err, 'list');
          await this.#sleep(this.#retryDelay());
          continue;
        }
      }
      const outcome = await this.#watchOnce();
      if (this.#stopped) return;
      if (outcome.kind === 'gone') {
        // The resourceVersion was compacted away: list again, at once the first time.
        this.#stats.relists++;
        needList = true;
        if (++gones > 1) {
          this.#fail(new KubeApiError('gone', `watch ${this.#name}: 410 Gone again right after listing`), 'watch');
          await this.#sleep(this.#retryDelay());
        }
        continue;
      }
      if (outcome.kind === 'closed' && outcome.events > 0) gones = 0;
      if (outcome.kind === 'error') {
        this.#fail(outcome.error, 'watch');
        await this.#sleep(this.#retryDelay());
        continue;
      }
      // Closed: resume from the last resourceVersion; back off only if it closes at once, repeatedly.
      if (outcome.events > 0 || outcome.durationMs >= HEALTHY_WATCH_MS) this.#stats.failures = 0;
      else {
        this.#stats.failures++;
        await this.#sleep(this.#retryDelay());
      }
    }
  }

  async #watchOnce(): Promise<{ kind: 'closed'; events: number; durationMs: number } | { kind: 'gone' } | { kind: 'error'; error: KubeApiError }> {
    const started = Date.now();
    let events = 0;
    let gone = false;
    let streamError: KubeApiError | undefined;
    const timeout = Math.round(this.#watchTimeoutMs * (0.9 + 0.2 * this.#random()));
    this.#stats.watches++;
    const stream = this.#src.watch(
      this.#rv,
      (type, raw) => {
        if (gone || streamError) return;
        if (type === 'ERROR') {
          const code = (raw as { code?: unknown } | undefined)?.code;
          const message = (raw as { message?: unknown } | undefined)?.message;
          if (code === 410) gone = true;
          else
            streamError = toKubeApiError(
              { code: typeof code === 'number' ? code : 500, body: typeof message === 'string' ? { message } : {} },
              `watch ${this.#name}`,
            );
          stream.abort();
          return;
        }
        const rv = this.#src.resourceVersionOf(raw);
        if (type === 'BOOKMARK') {
          if (rv) this.#rv = rv;
          return;
        }
        events++;
        this.#apply(type, raw);
        if (rv) this.#rv = rv;
      },
      timeout,
    );
    this.#stream = stream;
    const err = await stream.done;
    this.#stream = undefined;
    if (gone || err?.reason === 'gone') return { kind: 'gone' };
    if (streamError) return { kind: 'error', error: streamError };
    if (err) return { kind: 'error', error: err };
    if (events > 0) this.#stats.failures = 0;
    return { kind: 'closed', events, durationMs: Date.now() - started };
  }

  #replace(items: T[], rv: string): void {
    this.#items.clear();
    for (const item of items) this.#items.set(this.#src.key(item), item);
    this.#rv = rv;
    this.#stats.failures = 0;
    const first = !this.#synced;
    this.#synced = true;
    this.emit('change');
    if (first) this.emit('synced');
  }

  #apply(type: string, raw: unknown): void {
    let item: T;
    try {
      item = this.#src.convert(raw);
    } catch (err) {
      this.#fail(toKubeApiError(err, `watch ${this.#name}: unreadable object`), 'watch');
      return;
    }
    const key = this.#src.key(item);
    if (type === 'DELETED') this.#items.delete(key);
    else if (type === 'ADDED' || type === 'MODIFIED') this.#items.set(key, item);
    else return;
    this.emit('change');
  }
}
