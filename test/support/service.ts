// A long-running child process (a DNS server) started for a test, optionally inside a network
// namespace, with its output kept and a stop() that always ends it.
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { which } from './run.js';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Service {
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<Exit>;
  /** stderr so far (the last 64 KiB). */
  stderr(): string;
  /** SIGTERM, then SIGKILL after graceMs; resolves once the process is gone. Idempotent. */
  stop(graceMs?: number): Promise<Exit>;
}

export interface ServiceOptions {
  /** Run inside this named namespace (`ip netns exec`, which execs: the pid is the command's). */
  netns?: string;
  /** Called for each stdout line. */
  onLine?: (line: string) => void;
}

const STDERR_KEEP = 64 * 1024;

export function spawnService(cmd: string, args: readonly string[], opts: ServiceOptions = {}): Service {
  const argv = opts.netns === undefined ? [cmd, ...args] : [which('ip'), 'netns', 'exec', opts.netns, cmd, ...args];
  const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-STDERR_KEEP);
  });
  if (child.stdout) {
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => opts.onLine?.(line));
  }
  const exited = new Promise<Exit>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
    child.once('error', (err) => {
      stderr += `\nspawn ${argv[0]}: ${err.message}`;
      resolve({ code: null, signal: null });
    });
  });
  let stopping: Promise<Exit> | undefined;
  const stop = (graceMs = 3000): Promise<Exit> =>
    (stopping ??= (async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        const exit = await exited;
        clearTimeout(timer);
        return exit;
      }
      return exited;
    })());
  return { pid: child.pid ?? -1, child, exited, stderr: () => stderr, stop };
}

/** A one-line description of how a service ended, for error messages. */
export function describeExit(exit: Exit, stderr: string): string {
  const how = exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.code}`;
  return `${how}${stderr.trim() ? `: ${stderr.trim()}` : ''}`;
}
