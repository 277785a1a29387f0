// Promise helpers to run external commands (ip, dig, nft, dnsmasq) from tests.
// execFile only: no shell, arguments are never re-parsed.
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface RunOptions {
  /** Written to the command's stdin (then stdin is closed). */
  input?: string;
  /** Kill the command (SIGKILL) after this many milliseconds. Default 30 s. */
  timeoutMs?: number;
}

export interface RunResult {
  /** Exit code; null when killed by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A command that exited non-zero; the message carries the command line and its stderr. */
export class CommandError extends Error {
  readonly result: RunResult;
  constructor(cmd: string, args: readonly string[], result: RunResult) {
    const how = result.signal ? `was killed by ${result.signal}` : `exited with code ${result.code}`;
    const detail = (result.stderr || result.stdout).trim();
    super(`${[cmd, ...args].join(' ')} ${how}${detail ? `: ${detail}` : ''}`);
    this.name = 'CommandError';
    this.result = result;
  }
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** Runs a command and resolves with its exit status and output; never rejects for a non-zero exit. */
export function tryRun(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        if (err && typeof err.code === 'string') {
          // The command could not be started at all (ENOENT, EACCES, ...).
          reject(new Error(`cannot run ${cmd}: ${err.message}`, { cause: err }));
          return;
        }
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        const signal = err?.signal ?? null;
        resolve({ code, signal, stdout, stderr });
      },
    );
    child.stdin?.on('error', () => {
      // The command may exit before reading its input; its exit status reports the problem.
    });
    child.stdin?.end(opts.input ?? '');
  });
}

/** Runs a command; rejects with a CommandError (carrying stderr) unless it exits 0. */
export async function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const result = await tryRun(cmd, args, opts);
  if (result.code !== 0) throw new CommandError(cmd, args, result);
  return result;
}

/** Runs a command that must succeed and returns its stdout, trimmed. */
export async function sh(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
  return (await run(cmd, args, opts)).stdout.trim();
}

/** Maps items through an async function with at most `limit` calls in flight; results keep input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  if (!Number.isInteger(limit) || limit < 1) throw new Error(`mapLimit: limit must be a positive integer, got ${limit}`);
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The Debian package that ships each binary the tests use. */
export const DEBIAN_PACKAGES: Readonly<Record<string, string>> = {
  ip: 'iproute2',
  bridge: 'iproute2',
  dig: 'bind9-dnsutils (or dnsutils)',
  nft: 'nftables',
  dnsmasq: 'dnsmasq-base',
  nsenter: 'util-linux',
  unshare: 'util-linux',
  docker: 'docker.io',
  dockerd: 'docker.io',
  busybox: 'busybox-static',
  promtool: 'prometheus',
};

const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];
const found = new Map<string, string>();

/**
 * Absolute path of an executable, searched in PATH and then the usual system directories
 * (a non-login root shell may lack the sbin ones). Throws an error naming the Debian
 * package to install when it is missing.
 */
export function which(bin: string, debianPackage: string | undefined = DEBIAN_PACKAGES[bin]): string {
  if (!bin || bin.includes('/')) throw new Error(`which: bin must be a bare command name, got ${JSON.stringify(bin)}`);
  const cached = found.get(bin);
  if (cached) return cached;
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...SYSTEM_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, bin);
    try {
      accessSync(candidate, constants.X_OK);
      found.set(bin, candidate);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  const hint = debianPackage ? `install the Debian package ${debianPackage} (apt-get install ${debianPackage.split(' ')[0]})` : 'install it';
  throw new Error(`${bin}: command not found in PATH or ${SYSTEM_DIRS.join(', ')}; ${hint}`);
}
