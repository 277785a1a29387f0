// systemd's sd_notify protocol on top of the native addon's notifySocket()
// (Node cannot send AF_UNIX datagrams). Outside systemd ($NOTIFY_SOCKET
// unset) every call is a no-op.
//
//   READY=1            after the first sweep
//   WATCHDOG=1         after every sweep, and every WATCHDOG_USEC/2 while the
//                      sweep loop is alive (the caller decides "alive")
//   STATUS=...         a one-line summary, with each of the above
//   RELOADING=1        + MONOTONIC_USEC, when SIGHUP starts a reload; READY=1 ends it
//   STOPPING=1         when shutdown begins
//
// A failed send is logged once (then again only after a send worked):
// systemd being gone must not flood the journal or stop the daemon.
import { notifySocket } from '../netns/binding.js';
import type { Logger } from '../log.js';
import { escapeControl } from '../text/untrusted.js';

export type NotifySend = (socketPath: string, message: string) => Error | null;

export interface NotifierOptions {
  /** Default process.env (NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID). */
  env?: Readonly<Record<string, string | undefined>>;
  /** Default the addon's notifySocket (tests may record instead). */
  send?: NotifySend;
  log?: Logger;
  pid?: number;
}

/** The watchdog interval systemd asks for, or null: WATCHDOG_USEC set, positive, and meant for this process. */
export function watchdogUsec(env: Readonly<Record<string, string | undefined>>, pid: number): number | null {
  const usec = env.WATCHDOG_USEC;
  if (usec === undefined || !/^\d+$/.test(usec) || Number(usec) <= 0) return null;
  const target = env.WATCHDOG_PID;
  if (target !== undefined && target !== '' && Number(target) !== pid) return null;
  return Number(usec);
}

/** The longest STATUS= value sent, in characters. */
export const STATUS_MAX = 512;

/**
 * One line, no newline (a newline would start another assignment), every
 * other control character shown escaped (`\x1b`: systemctl status prints
 * STATUS= to a terminal, and it carries names of containers and details
 * from DNS servers), at most STATUS_MAX characters.
 */
export function statusLine(text: string): string {
  const line = escapeControl(String(text).replace(/[\r\n]+/g, ' '));
  if (line.length <= STATUS_MAX) return line;
  let cut = STATUS_MAX - 1;
  const code = line.charCodeAt(cut - 1);
  if (code >= 0xd800 && code <= 0xdbff) cut--; // do not split a surrogate pair
  return `${line.slice(0, cut)}…`;
}

export class Notifier {
  readonly socketPath: string | null;
  /** Microseconds between watchdog pings systemd expects; null when no watchdog. */
  readonly watchdogUsec: number | null;
  readonly #send: NotifySend;
  readonly #log: Logger | undefined;
  #failing = false;

  constructor(options: NotifierOptions = {}) {
    const env = options.env ?? process.env;
    const socket = env.NOTIFY_SOCKET;
    this.socketPath = socket !== undefined && socket !== '' ? socket : null;
    this.watchdogUsec = this.socketPath === null ? null : watchdogUsec(env, options.pid ?? process.pid);
    this.#send = options.send ?? notifySocket;
    this.#log = options.log;
  }

  get enabled(): boolean {
    return this.socketPath !== null;
  }

  /** How often to ping the watchdog: half the interval systemd gives (its own advice). */
  get watchdogIntervalMs(): number | null {
    return this.watchdogUsec === null ? null : Math.max(1, Math.floor(this.watchdogUsec / 2000));
  }

  ready(status?: string): void {
    this.notify(['READY=1', ...(status === undefined ? [] : [`STATUS=${statusLine(status)}`])]);
  }

  watchdog(status?: string): void {
    if (this.watchdogUsec === null) {
      if (status !== undefined) this.status(status);
      return;
    }
    this.notify(['WATCHDOG=1', ...(status === undefined ? [] : [`STATUS=${statusLine(status)}`])]);
  }

  status(status: string): void {
    this.notify([`STATUS=${statusLine(status)}`]);
  }

  /** RELOADING=1 with the monotonic time systemd's Type=notify-reload wants. */
  reloading(status?: string): void {
    const usec = process.hrtime.bigint() / 1000n; // libuv's hrtime is CLOCK_MONOTONIC
    this.notify(['RELOADING=1', `MONOTONIC_USEC=${usec}`, ...(status === undefined ? [] : [`STATUS=${statusLine(status)}`])]);
  }

  stopping(status?: string): void {
    this.notify(['STOPPING=1', ...(status === undefined ? [] : [`STATUS=${statusLine(status)}`])]);
  }

  /** Sends one datagram of newline-separated assignments. Returns whether it was sent. */
  notify(assignments: readonly string[]): boolean {
    if (this.socketPath === null || assignments.length === 0) return false;
    const message = assignments.join('\n');
    let err: Error | null;
    try {
      err = this.#send(this.socketPath, message);
    } catch (thrown) {
      err = thrown instanceof Error ? thrown : new Error(String(thrown));
    }
    if (err) {
      if (!this.#failing) this.#log?.warn('cannot notify systemd', { socket: this.socketPath, message: assignments[0], err });
      this.#failing = true;
      return false;
    }
    if (this.#failing) this.#log?.info('notifying systemd works again', { socket: this.socketPath });
    this.#failing = false;
    return true;
  }
}
