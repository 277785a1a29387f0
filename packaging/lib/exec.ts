// Running the build tools (tsc, node-gyp, strip, dpkg-deb, rpmbuild, ...):
// execFile only, no shell; a failure names the command and carries its output.
import { execFile } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export interface ExecOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Kill after this many milliseconds. Default 10 minutes. */
  timeoutMs?: number;
  input?: string;
}

export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export class ExecError extends Error {
  readonly result: ExecResult;
  constructor(cmd: string, args: readonly string[], result: ExecResult) {
    const how = result.signal ? `was killed by ${result.signal}` : `exited with code ${result.code}`;
    const output = `${result.stderr}\n${result.stdout}`.trim();
    const tail = output.length > 4000 ? `...${output.slice(-4000)}` : output;
    super(`${[cmd, ...args].join(' ')} ${how}${tail ? `:\n${tail}` : ''}`);
    this.name = 'ExecError';
    this.result = result;
  }
}

/** Runs a command; resolves with its status and output whatever the exit code. Rejects only when it cannot start. */
export function tryExec(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      {
        cwd: opts.cwd,
        env: opts.env ?? process.env,
        encoding: 'utf8',
        maxBuffer: 256 * 1024 * 1024,
        timeout: opts.timeoutMs ?? 600_000,
        killSignal: 'SIGKILL',
      },
      (err, stdout, stderr) => {
        if (err && typeof err.code === 'string') {
          reject(new Error(`cannot run ${cmd}: ${err.message}`, { cause: err }));
          return;
        }
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, signal: err?.signal ?? null, stdout, stderr });
      },
    );
    child.stdin?.on('error', () => {
      // the command may exit without reading its input; its status tells
    });
    child.stdin?.end(opts.input ?? '');
  });
}

/** Runs a command that must exit 0; resolves with its stdout. */
export async function exec(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<string> {
  const result = await tryExec(cmd, args, opts);
  if (result.code !== 0) throw new ExecError(cmd, args, result);
  return result.stdout;
}

const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Absolute path of a build tool, or an error naming the Debian package that ships it. */
export function tool(bin: string, debianPackage: string): string {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...SYSTEM_DIRS]) {
    const candidate = join(dir, bin);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new Error(`${bin}: not found in PATH; install the Debian package ${debianPackage} (apt-get install ${debianPackage})`);
}
