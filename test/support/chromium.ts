// Headless Chromium (Debian's `chromium`) driven over the DevTools protocol,
// for tests that assert on a page as a browser renders it.
//
// The protocol runs over --remote-debugging-pipe: Chromium reads commands on
// its fd 3 and writes responses and events on its fd 4, each message one JSON
// object terminated by a NUL byte. No port is opened, no other process can
// connect. One page target, attached with flatten: true, so its commands carry
// the session id.
//
// Chromium runs in a process group of its own with a temporary profile; close()
// asks it to quit (Browser.close), kills the group if it lingers, and removes
// the profile. launchChromium registers close() as a teardown.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import type { TeardownHost } from './netns.js';
import { which } from './run.js';

export const CHROMIUM_PACKAGE = 'chromium';

/** The chromium executable, or null when the Debian package is not installed. */
export function findChromium(): string | null {
  try {
    return which('chromium', CHROMIUM_PACKAGE);
  } catch {
    return null;
  }
}

/** A protocol error answered to a command. */
export class CdpError extends Error {
  constructor(
    readonly method: string,
    readonly code: number,
    message: string,
  ) {
    super(`${method}: ${message} (${code})`);
  }
}

type Json = Record<string, unknown>;

interface Pending {
  method: string;
  resolve: (v: Json) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

interface Waiter {
  method: string;
  sessionId: string | undefined;
  resolve: (params: Json) => void;
}

export interface LaunchOptions {
  /** Registers close() as a teardown. */
  t?: TeardownHost;
  /** Window size; default 1400×1000. */
  width?: number;
  height?: number;
  /** Per-command timeout; default 30 s. */
  commandTimeoutMs?: number;
}

export class Chromium {
  readonly #child: ChildProcess;
  readonly #out: Writable;
  readonly #profile: string;
  readonly #timeoutMs: number;
  readonly #pending = new Map<number, Pending>();
  #waiters: Waiter[] = [];
  readonly #listeners: Array<{ method: string; fn: (params: Json, sessionId: string | undefined) => void }> = [];
  #nextId = 1;
  #buffer = Buffer.alloc(0);
  #stderr = '';
  #closed: Promise<void> | null = null;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(child: ChildProcess, profile: string, timeoutMs: number) {
    this.#child = child;
    this.#profile = profile;
    this.#timeoutMs = timeoutMs;
    this.#out = child.stdio[3] as Writable;
    const input = child.stdio[4] as Readable;
    input.on('data', (chunk: Buffer) => this.#onData(chunk));
    this.#out.on('error', () => undefined); // EPIPE once Chromium is gone: the pending commands fail below
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (this.#stderr = (this.#stderr + s).slice(-8192)));
    child.stdout?.resume();
    this.exited = new Promise((resolve) => {
      const gone = (code: number | null, signal: NodeJS.Signals | null, why: string): void => {
        for (const p of this.#pending.values()) {
          clearTimeout(p.timer);
          p.reject(new Error(`${p.method}: chromium ${why}: ${this.#stderr.trim().slice(-2000)}`));
        }
        this.#pending.clear();
        resolve({ code, signal });
      };
      child.on('exit', (code, signal) => gone(code, signal, `exited (${code ?? signal})`));
      child.on('error', (err) => gone(null, null, `failed to start: ${err.message}`));
    });
  }

  get pid(): number {
    return this.#child.pid!;
  }

  /** The last 8 KiB of Chromium's stderr, for failure messages. */
  get stderr(): string {
    return this.#stderr;
  }

  #onData(chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    for (let nul = this.#buffer.indexOf(0); nul !== -1; nul = this.#buffer.indexOf(0)) {
      const raw = this.#buffer.subarray(0, nul).toString('utf8');
      this.#buffer = this.#buffer.subarray(nul + 1);
      const msg = JSON.parse(raw) as {
        id?: number;
        method?: string;
        params?: Json;
        result?: Json;
        error?: { code: number; message: string };
        sessionId?: string;
      };
      if (msg.id !== undefined) {
        const p = this.#pending.get(msg.id);
        if (!p) continue;
        this.#pending.delete(msg.id);
        clearTimeout(p.timer);
        if (msg.error) p.reject(new CdpError(p.method, msg.error.code, msg.error.message));
        else p.resolve(msg.result ?? {});
      } else if (msg.method !== undefined) {
        const params = msg.params ?? {};
        for (const l of this.#listeners) if (l.method === msg.method) l.fn(params, msg.sessionId);
        const hit = this.#waiters.filter((w) => w.method === msg.method && (w.sessionId === undefined || w.sessionId === msg.sessionId));
        this.#waiters = this.#waiters.filter((w) => !hit.includes(w));
        for (const w of hit) w.resolve(params);
      }
    }
  }

  /** Sends one command (to a session when given) and resolves with its result. */
  send(method: string, params: Json = {}, sessionId?: string): Promise<Json> {
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`${method}: no answer from chromium in ${this.#timeoutMs} ms`));
      }, this.#timeoutMs);
      this.#pending.set(id, { method, resolve, reject, timer });
      this.#out.write(`${JSON.stringify({ id, method, params, ...(sessionId === undefined ? {} : { sessionId }) })}\0`);
    });
  }

  /** Calls `fn` with the params of every event `method` from now on. */
  on(method: string, fn: (params: Json, sessionId: string | undefined) => void): void {
    this.#listeners.push({ method, fn });
  }

  /** Resolves with the params of the next event `method` (of the session, when given). Register before the command that causes it. */
  waitForEvent(method: string, sessionId?: string, timeoutMs = this.#timeoutMs): Promise<Json> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        method,
        sessionId,
        resolve: (p) => {
          clearTimeout(timer);
          resolve(p);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`no ${method} event in ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** A new page (tab), attached. */
  async newPage(): Promise<Page> {
    const { targetId } = (await this.send('Target.createTarget', { url: 'about:blank' })) as { targetId: string };
    const { sessionId } = (await this.send('Target.attachToTarget', { targetId, flatten: true })) as { sessionId: string };
    const page = new Page(this, sessionId);
    await page.send('Page.enable');
    await page.send('Runtime.enable');
    return page;
  }

  /** Quits Chromium (Browser.close, then SIGKILL to its process group after 5 s) and removes its profile. Idempotent. */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      if (this.#child.exitCode === null && this.#child.signalCode === null) {
        this.send('Browser.close').catch(() => undefined); // the answer races the exit
        const timer = setTimeout(() => this.#kill(), 5000);
        await this.exited;
        clearTimeout(timer);
      }
      // Renderer and utility processes of the group that outlived the browser process.
      this.#kill();
      fs.rmSync(this.#profile, { recursive: true, force: true });
    })();
    return this.#closed;
  }

  #kill(): void {
    try {
      process.kill(-this.pid, 'SIGKILL');
    } catch {
      // the group is gone already
    }
  }
}

export class Page {
  constructor(
    readonly browser: Chromium,
    readonly sessionId: string,
  ) {}

  send(method: string, params: Json = {}): Promise<Json> {
    return this.browser.send(method, params, this.sessionId);
  }

  /** Navigates and waits for the load event. Throws when the navigation itself fails (errorText). */
  async navigate(url: string): Promise<void> {
    const loaded = this.browser.waitForEvent('Page.loadEventFired', this.sessionId);
    const r = (await this.send('Page.navigate', { url })) as { errorText?: string };
    if (r.errorText) {
      loaded.catch(() => undefined);
      throw new Error(`navigate ${url}: ${r.errorText}`);
    }
    await loaded;
  }

  /** Evaluates an expression in the page (awaiting a promise it returns) and returns its value, JSON-serialized by Chromium. */
  async evaluate<T>(expression: string): Promise<T> {
    const r = (await this.send('Runtime.evaluate', { expression, returnByValue: true, awaitPromise: true })) as {
      result: { value?: T };
      exceptionDetails?: { text: string; exception?: { description?: string } };
    };
    if (r.exceptionDetails) throw new Error(`evaluate: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
    return r.result.value as T;
  }

  /** A PNG of the whole page (beyond the viewport when fullPage). */
  async screenshot(file: string, fullPage = true): Promise<void> {
    const r = (await this.send('Page.captureScreenshot', { format: 'png', captureBeyondViewport: fullPage })) as { data: string };
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, Buffer.from(r.data, 'base64'));
  }
}

/** Starts headless Chromium with a temporary profile and waits until it answers. */
export async function launchChromium(opts: LaunchOptions = {}): Promise<Chromium> {
  const exe = findChromium();
  if (exe === null) throw new Error(`chromium not found: install the Debian package ${CHROMIUM_PACKAGE}`);
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'chromium-profile-'));
  const child = spawn(
    exe,
    [
      '--headless=new',
      // Tests run as root, where Chromium's sandbox cannot start.
      '--no-sandbox',
      '--disable-gpu',
      '--remote-debugging-pipe',
      `--user-data-dir=${profile}`,
      `--window-size=${opts.width ?? 1400},${opts.height ?? 1000}`,
      '--no-first-run',
      '--no-default-browser-check',
      '--disable-extensions',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
      '--mute-audio',
      'about:blank',
    ],
    { stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'], detached: true },
  );
  const browser = new Chromium(child, profile, opts.commandTimeoutMs ?? 30_000);
  opts.t?.teardown(() => browser.close());
  try {
    await browser.send('Browser.getVersion');
  } catch (err) {
    await browser.close();
    throw err;
  }
  return browser;
}
