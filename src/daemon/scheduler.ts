// When sweeps run. The first starts at once; each next one starts interval + a
// random share of jitter after the previous one STARTED, or as soon as it ended
// if it ran longer: two sweeps never overlap. Each delay reads the current
// configuration, so a changed interval also moves the sweep already scheduled
// (reschedule).
//
// The watchdog: WATCHDOG=1 every WATCHDOG_USEC/2 while the loop is alive,
// that is waiting for its next sweep, or in a sweep younger than maxSweepMs.
import type { Config } from '../config/schema.js';
import { DOCKER_TIMEOUT_MS } from '../config/options.js';

/** The longest a sweep may take before the watchdog stops vouching for the loop. */
export function maxSweepMs(c: Config): number {
  // The last vantage starts at most probe.spread × interval in; probes then run concurrently, each
  // costing at most attempts × (UDP + TCP retry after truncation) timeouts.
  return DOCKER_TIMEOUT_MS + Math.round(c.probe.spread * c.interval) + 2 * c.probe.attempts * c.probe.timeout + 30_000;
}

export interface SchedulerOptions {
  /** One sweep; the scheduler never runs two at once. Must not reject. */
  sweep: () => Promise<void>;
  /** The configuration now (interval, jitter, and maxSweepMs' inputs). */
  config: () => Config;
  random: () => number;
  maxSweepMs: (c: Config) => number;
  /** Called every watchdogIntervalMs while the loop is alive; null: no watchdog. */
  watchdog: { intervalMs: number; ping: () => void } | null;
}

export class SweepScheduler {
  readonly #o: SchedulerOptions;
  #timer: NodeJS.Timeout | null = null;
  #watchdogTimer: NodeJS.Timeout | null = null;
  #running: Promise<void> | null = null;
  #sweepStartedAt: number | null = null;
  #lastStartedAt: number | null = null;
  #stopped = false;

  constructor(options: SchedulerOptions) {
    this.#o = options;
  }

  /** The sweep in progress, if any. */
  get running(): Promise<void> | null {
    return this.#running;
  }

  get sweepRunning(): boolean {
    return this.#sweepStartedAt !== null;
  }

  /** Starts the watchdog and the first sweep at once. */
  start(): void {
    const w = this.#o.watchdog;
    if (w !== null) {
      this.#watchdogTimer = setInterval(() => {
        if (this.alive()) w.ping();
      }, w.intervalMs);
      this.#watchdogTimer.unref();
    }
    this.#schedule(0);
  }

  /** No sweep is scheduled any more (one in progress runs to its end; see `running`). */
  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#watchdogTimer) clearInterval(this.#watchdogTimer);
    this.#watchdogTimer = null;
  }

  /** Whether the loop is alive: waiting for its next sweep, or in a sweep younger than maxSweepMs. */
  alive(): boolean {
    if (this.#stopped) return false;
    if (this.#sweepStartedAt !== null) return Date.now() - this.#sweepStartedAt <= this.#o.maxSweepMs(this.#o.config());
    return this.#timer !== null;
  }

  /** Moves the pending sweep to match a new interval/jitter (a running sweep schedules its own next). */
  reschedule(): void {
    if (this.#timer === null || this.#lastStartedAt === null) return;
    this.#schedule(this.#delayAfter(this.#lastStartedAt));
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#running = this.#iteration();
    }, delayMs);
  }

  #delayAfter(startedAt: number): number {
    const c = this.#o.config();
    return Math.max(0, startedAt + c.interval + Math.floor(this.#o.random() * c.jitter) - Date.now());
  }

  async #iteration(): Promise<void> {
    const started = Date.now();
    this.#sweepStartedAt = started;
    this.#lastStartedAt = started;
    try {
      await this.#o.sweep();
    } finally {
      this.#sweepStartedAt = null;
      this.#running = null;
    }
    this.#schedule(this.#delayAfter(started));
  }
}
