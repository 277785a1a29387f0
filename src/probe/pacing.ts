// Pacing: a sweep never sends its probes in one burst. Its vantages start
// evenly spaced over a window (probe.spread × interval), and at most
// probe.maxInFlightPerTarget attempts to one server:port are in flight at a
// time; an attempt beyond that waits for one to end (first come, first
// served). A server that answers nothing holds its slots for a timeout each,
// so the cap lengthens the sweep of a dead target rather than piling queries
// on it.

/** Starts are rounded down to a multiple of this: vantages closer together share one timer wake-up. */
export const START_STEP_MS = 10;

/**
 * When each of `count` vantages starts, in ms after the sweep's start: evenly spaced over [0, spreadMs),
 * rounded down to a multiple of stepMs (1,000 vantages over 500 ms: 50 wake-ups of 20 starts, not 500 of 2).
 */
export function startOffsets(count: number, spreadMs: number, stepMs = START_STEP_MS): number[] {
  if (count <= 0) return [];
  const gap = Math.max(0, spreadMs) / count;
  const step = Math.max(1, stepMs);
  const offsets = new Array<number>(count);
  for (let i = 0; i < count; i++) offsets[i] = Math.floor((i * gap) / step) * step;
  return offsets;
}

/** Longest stretch of starts one JS wake-up hands the engine (see paceOf). */
export const MAX_CHUNK_MS = 100;

/**
 * When a probe starts and how long its result may wait in the engine: what the
 * sweep passes down to the exchange (netns/binding.ts startDelayMs, holdMs).
 * startAt is on performance.now()'s clock.
 */
export interface Pace {
  startAt: number;
  holdMs: number;
}

/**
 * How a paced sweep splits its starts between JavaScript and the engine.
 * JavaScript wakes once per chunk (a multiple of stepMs, at most
 * MAX_CHUNK_MS) and hands the engine every start of that chunk in one batch,
 * each with its own start time; the engine starts them on time and holds
 * finished results up to holdMs (half a chunk) so that one delivery settles
 * many. Until its result is delivered a probe holds its in-flight slot, so
 * the chunk is kept short enough that the busiest target's starts of one
 * chunk take at most half its slots: a chunk's starts go to the engine at
 * once, none waits for a slot the last chunk's held results still hold.
 * `busiest`: the most first attempts the sweep starts to any one target.
 */
export function paceOf(spreadMs: number, busiest: number, maxInFlight: number, stepMs = START_STEP_MS): { chunkMs: number; holdMs: number } {
  const step = Math.max(1, stepMs);
  if (spreadMs <= 0 || busiest <= 0) return { chunkMs: step, holdMs: 1 };
  const perMs = busiest / spreadMs;
  const fit = Math.floor(maxInFlight / 2 / perMs / step) * step;
  // Too busy for even one step a chunk: JavaScript wakes every step and results cross at once, as unpaced.
  if (fit < step) return { chunkMs: step, holdMs: 1 };
  const chunkMs = Math.min(MAX_CHUNK_MS, fit);
  return { chunkMs, holdMs: Math.max(1, Math.floor(chunkMs / 2)) };
}

/** The start of the chunk (paceOf) that a start at offsetMs falls in: when JavaScript hands it to the engine. */
export const chunkStart = (offsetMs: number, chunkMs: number): number => Math.floor(offsetMs / chunkMs) * chunkMs;

/** Waits ms (rejects with the signal's reason when it is aborted first). */
export type Wait = (ms: number, signal?: AbortSignal) => Promise<void>;

/**
 * One wait per distinct start offset, shared by every vantage that starts then: the vantages of a
 * 10 ms step resume together, from one timer, and their probes reach the engine in one batch
 * (netns/binding.ts queues the exchanges started in one run of the event loop).
 */
export class SharedWaits {
  readonly #wait: Wait;
  readonly #signal: AbortSignal | undefined;
  readonly #waits = new Map<number, Promise<void>>();

  constructor(wait: Wait, signal?: AbortSignal) {
    this.#wait = wait;
    this.#signal = signal;
  }

  /** Resolves ms after this object was made (the first call for ms starts the wait). */
  at(ms: number): Promise<void> {
    let w = this.#waits.get(ms);
    if (w === undefined) {
      w = this.#wait(ms, this.#signal);
      this.#waits.set(ms, w);
    }
    return w;
  }
}

/** A cap on concurrent holders per key, with a FIFO queue per key. */
export class InFlightLimit {
  readonly #max: number;
  readonly #inFlight = new Map<string, number>();
  readonly #queues = new Map<string, (() => void)[]>();
  #peak = 0;

  constructor(max: number) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`InFlightLimit: max must be an integer of at least 1, got ${max}`);
    this.#max = max;
  }

  /** Holders of key now. */
  inFlight(key: string): number {
    return this.#inFlight.get(key) ?? 0;
  }

  /** The most holders any one key had at once. */
  get peak(): number {
    return this.#peak;
  }

  /**
   * The function that releases a slot of key taken now, or null when key is full (then acquire() waits for one;
   * no promise is made for a slot that is free). Release is idempotent.
   */
  tryAcquire(key: string): (() => void) | null {
    const n = this.inFlight(key);
    if (n >= this.#max) return null;
    this.#inFlight.set(key, n + 1);
    return this.#holder(key);
  }

  /** Resolves, with the function that releases it, once key has a free slot. Release is idempotent. */
  async acquire(key: string): Promise<() => void> {
    const now = this.tryAcquire(key);
    if (now) return now;
    await new Promise<void>((resolve) => {
      const q = this.#queues.get(key);
      if (q) q.push(resolve);
      else this.#queues.set(key, [resolve]);
    });
    // The releaser handed its slot over: the count already includes this holder.
    return this.#holder(key);
  }

  #holder(key: string): () => void {
    this.#peak = Math.max(this.#peak, this.inFlight(key));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#release(key);
    };
  }

  #release(key: string): void {
    const q = this.#queues.get(key);
    const next = q?.shift();
    if (q && q.length === 0) this.#queues.delete(key);
    if (next) {
      next(); // the slot passes to the next waiter, the count stays
      return;
    }
    const n = this.inFlight(key) - 1;
    if (n > 0) this.#inFlight.set(key, n);
    else this.#inFlight.delete(key);
  }
}
