// Time as the remedy engine sees it: the wall clock (timestamps, cooldowns, the hourly
// budget, Lease and verdict times), a monotonic reading for durations, and the sleep between
// checks while an action completes. Real by default; the cluster simulation
// (bench/simulate.ts) hands every engine one fake clock so that an hour passes in seconds.
import { performance } from 'node:perf_hooks';

export interface RemedyClock {
  /** Wall time, ms since the epoch. */
  now(): number;
  /** Elapsed-time reference in ms; the real one does not jump with the wall clock. */
  monotonic(): number;
  /** Resolves after `ms`, or at once when `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export const realClock: RemedyClock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal.aborted) return resolve();
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    }),
};
