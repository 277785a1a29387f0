// Interface changes of the host namespace, as a trigger for the diagnosis: a
// healthy vantage is otherwise diagnosed again only every
// diagnose.healthyEvery, and with the probe budget its pairs may not be
// probed for several sweeps, so a pod whose veth went down (its host end
// down, detached from the bridge, deleted; or its own end down, which takes
// the host end's carrier) would wait for either. Each RTM_NEWLINK /
// RTM_DELLINK names the host interface that changed; the diagnosis maps the
// host ends of each vantage's veths (known from its last diagnosis) back to
// the vantage and diagnoses it at the next pass.
//
// Two watches overlap, their deadlines half a period apart: a watch ends at
// its first change and the next one starts only then, so the other is always
// listening: no change falls in between. Each change is seen twice; that
// costs nothing. A watch that lost messages (ENOBUFS) means "assume everything
// changed"; one that failed otherwise is retried with a backoff (1 s doubling to
// the period) and changes nothing: the diagnosis then relies on healthyEvery.
import { MAX_WATCH_MS, watchLinks } from '../netns/binding.js';
import { parseInterfaceDump } from './netlink.js';
import { errorMessage } from '../text/untrusted.js';

/** What changed since the last take(). */
export interface LinkChanges {
  /** Changes were lost: every vantage counts as changed. */
  all: boolean;
  /** Host ifindexes that changed. */
  indexes: ReadonlySet<number>;
}

export type LinkWatchFn = (timeoutMs: number) => Promise<Buffer | null>;

export interface HostLinkWatchOptions {
  /** Default: the addon's watchLinks('host', ...). */
  watch?: LinkWatchFn;
  /** How long one watch waits before it starts again (default and at most 60 s). */
  periodMs?: number;
  /** After a failed watch, before the next (default 1 s): a watch that fails at once must not spin. */
  retryMs?: number;
  /** Told of a failed watch (ENOBUFS: the changes then count as "all"). */
  onError?: (message: string) => void;
}

const DEFAULT_PERIOD_MS = 60_000;

export class HostLinkWatch {
  readonly #watch: LinkWatchFn;
  readonly #periodMs: number;
  readonly #retryMs: number;
  readonly #onError: (message: string) => void;
  #indexes = new Set<number>();
  #all = false;
  #running = false;
  #loops: Promise<void>[] = [];
  #changes = 0;

  constructor(options: HostLinkWatchOptions = {}) {
    this.#watch = options.watch ?? ((ms) => watchLinks('host', ms));
    this.#periodMs = Math.min(Math.max(2, options.periodMs ?? DEFAULT_PERIOD_MS), MAX_WATCH_MS);
    this.#retryMs = options.retryMs ?? 1000;
    this.#onError = options.onError ?? (() => undefined);
  }

  /** Change messages seen so far (each change twice: two watches). */
  get changes(): number {
    return this.#changes;
  }

  /** Starts both watches; a second call does nothing. */
  start(): void {
    if (this.#running) return;
    this.#running = true;
    const half = Math.max(1, Math.floor(this.#periodMs / 2));
    this.#loops = [this.#loop(this.#periodMs), this.#loop(half)];
  }

  /** No new watch starts; the ones in flight end at their deadline or at the engine's cancelAll(). */
  stop(): void {
    this.#running = false;
  }

  /** Both loops, ended (tests: after stop() and the watches' end). */
  get ended(): Promise<void> {
    return Promise.all(this.#loops).then(() => undefined);
  }

  /** The changes since the last take(), and forgets them. */
  take(): LinkChanges {
    const out = { all: this.#all, indexes: this.#indexes };
    this.#indexes = new Set();
    this.#all = false;
    return out;
  }

  /** Puts changes back (a diagnosis that failed did not use them). */
  restore(c: LinkChanges): void {
    if (c.all) this.#all = true;
    for (const i of c.indexes) this.#indexes.add(i);
  }

  async #loop(firstMs: number): Promise<void> {
    let timeoutMs = firstMs;
    let failures = 0;
    while (this.#running) {
      try {
        const messages = await this.#watch(timeoutMs);
        timeoutMs = this.#periodMs;
        failures = 0;
        if (messages === null) continue;
        const parsed = parseInterfaceDump(messages);
        // Messages that do not parse whole still said "something changed".
        if (parsed.problemCount > 0 || parsed.interfaces.length === 0) this.#all = true;
        for (const i of parsed.interfaces) this.#indexes.add(i.index);
        this.#changes += parsed.interfaces.length;
      } catch (err) {
        if (!this.#running) return;
        // Messages lost to a full buffer: something changed, not known what. Any other failure
        // (the addon's engine stopped, a refused socket) says nothing changed: the diagnosis
        // falls back on diagnose.healthyEvery, and the watch tries again, backing off to a period.
        if ((err as { code?: unknown }).code === 'ENOBUFS') this.#all = true;
        else failures++;
        this.#onError(errorMessage(err));
        const waitMs = Math.min(this.#periodMs, this.#retryMs * 2 ** Math.min(Math.max(0, failures - 1), 16));
        await new Promise((resolve) => setTimeout(resolve, waitMs).unref());
      }
    }
  }
}

/** Whether any of a vantage's host links changed. */
export function touched(changes: LinkChanges | undefined, hostLinks: readonly number[] | undefined): boolean {
  if (!changes) return false;
  if (changes.all) return true;
  if (!hostLinks) return false;
  for (const i of hostLinks) if (changes.indexes.has(i)) return true;
  return false;
}
