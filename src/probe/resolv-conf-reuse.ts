// How often the daemon reads a vantage's resolv.conf: every sweep at the
// default 10 s interval, as before; at shorter intervals at least every
// RESOLV_CONF_REREAD_MS (every ⌊10 s / interval⌋ sweeps: every 10th sweep at
// 1 s). An in-root read is one trip through libuv's pool (nine system calls
// and two thread wake-ups), about a fifth of the daemon's CPU at 250 vantages
// and a 1 s interval, for a file that changes when the pod is recreated.
//
// A read is reused only while nothing says it may be stale: it is read again
// when the vantage is another process (PID or start time) or reads another
// file, when the last read failed (missing, unreadable, too large), and after
// any sweep in which a probe of that vantage failed (a broken resolv.conf is
// seen at once). Entries of vantages no longer swept are dropped.
import type { ResolvConfRead, Vantage } from '../model.js';

/** A vantage's resolv.conf is read again at least this often (and every sweep at intervals of this or more). */
export const RESOLV_CONF_REREAD_MS = 10_000;

/** Sweeps between two reads of one vantage's resolv.conf at this interval: 1 (every sweep) from 10 s up. */
export const rereadEvery = (intervalMs: number): number => Math.max(1, Math.floor(RESOLV_CONF_REREAD_MS / Math.max(1, intervalMs)));

interface Entry {
  key: string;
  sweep: number;
  read: ResolvConfRead;
}

const keyOf = (v: Vantage): string => `${v.pid}\u0000${v.startTime}\u0000${v.resolvConfFile.root ?? ''}\u0000${v.resolvConfFile.path}`;

export class ResolvConfReuse {
  readonly #entries = new Map<string, Entry>();
  #sweep = 0;

  /** @param every sweeps a read is used for (1: read every sweep). */
  constructor(readonly every: number) {
    if (!Number.isInteger(every) || every < 1) throw new RangeError(`every: expected an integer of at least 1, got ${every}`);
  }

  /** Starts a sweep: reads made in the `every` - 1 sweeps before it are still used. */
  beginSweep(): void {
    this.#sweep++;
  }

  /** The read to use for this vantage in this sweep, if one is still good. */
  get(v: Vantage): ResolvConfRead | undefined {
    const e = this.#entries.get(v.id);
    if (!e) return undefined;
    if (e.key !== keyOf(v) || this.#sweep - e.sweep >= this.every) {
      this.#entries.delete(v.id);
      return undefined;
    }
    return e.read;
  }

  /** A read made in this sweep; one that failed is not kept. */
  set(v: Vantage, read: ResolvConfRead): void {
    if (read.error || this.every <= 1) this.#entries.delete(v.id);
    else this.#entries.set(v.id, { key: keyOf(v), sweep: this.#sweep, read });
  }

  /** The next sweep reads this vantage's file again (a probe of it failed). */
  drop(id: string): void {
    this.#entries.delete(id);
  }

  /** Forgets every vantage not in `ids` (the ones this sweep saw). */
  keepOnly(ids: ReadonlySet<string>): void {
    for (const id of this.#entries.keys()) if (!ids.has(id)) this.#entries.delete(id);
  }

  get size(): number {
    return this.#entries.size;
  }
}
