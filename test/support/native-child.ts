// Child processes for the native-defect tests (test/**/native-defects.test.ts): a plain
// `node -e SCRIPT` that loads the addon directly, so that a crash, an abort or a sanitizer report
// ends the child, never the test process, and the test can assert on how the child ended.
//
// The addon is the one the binding itself would load: COREDNS_HEALTHD_ADDON when set (the
// sanitizer build points it at an ASan+UBSan addon and runs with LD_PRELOAD; the child inherits
// the environment), build/Release/healthd.node otherwise.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { REPO } from './paths.js';

export const REPO_ROOT = REPO;

/** The .node file under test (see above). */
export function addonPath(): string {
  return process.env.COREDNS_HEALTHD_ADDON || path.join(REPO_ROOT, 'build', 'Release', 'healthd.node');
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Killed by the safety timeout. */
  timedOut: boolean;
}

export interface NodeChild {
  pid: number;
  /** Resolves with the first stdout line matching `re` (rejects if the child exits first). */
  line(re: RegExp): Promise<string>;
  /** Writes to the child's stdin. */
  write(text: string): void;
  /** Closes the child's stdin. */
  end(): void;
  /** Resolves when the child has exited (never rejects). */
  exited: Promise<ChildExit>;
  kill(): void;
}

export interface NodeChildOptions {
  /** Extra arguments after the script (process.argv[1..] in the child). */
  args?: readonly string[];
  /** A command that runs node, e.g. ['setpriv', '--reuid=nobody', ...]: argv = [...prefix, node, ...]. */
  prefix?: readonly string[];
  /** Node options before `-e` (e.g. --input-type=module, --import LOADER). */
  nodeArgs?: readonly string[];
  cwd?: string;
  /** SIGKILL after this long. Default 60 s. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
}

/** What an exit looks like in an assertion message: status, signal and the end of stderr. */
export function describeChild(e: ChildExit): string {
  const how = e.timedOut ? 'timed out' : e.signal ? `killed by ${e.signal}` : `exit ${e.code}`;
  return `${how}; stderr: ${e.stderr.slice(-2000).trim() || '(empty)'}`;
}

/**
 * This process's environment without tap's process-info hook (NODE_OPTIONS --import of
 * @tapjs/processinfo, _TAPJS_PROCESSINFO_*): a child that runs as another user cannot write
 * tap's .tap/processinfo files. Everything else (LD_PRELOAD, ASAN_OPTIONS, ...) is kept.
 */
export function childEnv(): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('_TAPJS_PROCESSINFO_')));
  const options = (env.NODE_OPTIONS ?? '')
    .split(/\s+/)
    .filter((o) => o !== '' && !o.includes('@tapjs/processinfo'))
    .join(' ');
  if (options) env.NODE_OPTIONS = options;
  else delete env.NODE_OPTIONS;
  return env;
}

/**
 * A prefix command that sets NODE_OPTIONS as childEnv() has it: tap's process-info hook also
 * patches child_process to put itself back into every child's NODE_OPTIONS, so a child that
 * must not run it (one running as another user) gets it stripped by `env` at exec time.
 */
export function cleanNodeOptionsPrefix(envBin: string): string[] {
  const keep = childEnv().NODE_OPTIONS;
  return keep ? [envBin, `NODE_OPTIONS=${keep}`] : [envBin, '-u', 'NODE_OPTIONS'];
}

/** `node -e script` (CommonJS unless nodeArgs say otherwise) with piped stdio, run in the repository root. */
export function startNode(script: string, opts: NodeChildOptions = {}): NodeChild {
  return startChild([...(opts.prefix ?? []), process.execPath, ...(opts.nodeArgs ?? []), '-e', script, ...(opts.args ?? [])], opts);
}

/** Any command with piped stdio (argv[0] a path), with the same line/write/exited helpers. */
export function startChild(argv: readonly string[], opts: Pick<NodeChildOptions, 'timeoutMs' | 'env' | 'cwd'> = {}): NodeChild {
  const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], env: opts.env ?? childEnv(), cwd: opts.cwd ?? REPO_ROOT });
  let stdout = '';
  let stderr = '';
  let timedOut = false;
  const waiters: Array<{ re: RegExp; resolve: (l: string) => void; reject: (e: Error) => void }> = [];
  let pending = '';
  const seen: string[] = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    stdout += chunk;
    pending += chunk;
    let nl;
    while ((nl = pending.indexOf('\n')) >= 0) {
      const l = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      seen.push(l);
      for (const w of [...waiters]) {
        if (w.re.test(l)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(l);
        }
      }
    }
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-256 * 1024);
  });
  child.stdin.on('error', () => undefined);
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill('SIGKILL');
  }, opts.timeoutMs ?? 60_000);
  const exited = new Promise<ChildExit>((resolve) => {
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      const e = { code, signal, stdout, stderr, timedOut };
      for (const w of waiters.splice(0)) w.reject(new Error(`child ended before printing ${w.re}: ${describeChild(e)}`));
      resolve(e);
    });
  });
  return {
    pid: child.pid ?? -1,
    line: (re) => {
      const hit = seen.find((l) => re.test(l));
      if (hit !== undefined) return Promise.resolve(hit);
      return new Promise((resolve, reject) => waiters.push({ re, resolve, reject }));
    },
    write: (text) => {
      child.stdin.write(text);
    },
    end: () => {
      child.stdin.end();
    },
    exited,
    kill: () => {
      child.kill('SIGKILL');
    },
  };
}

/** Runs `node -e script` to its end. */
export function runNode(script: string, opts: NodeChildOptions = {}): Promise<ChildExit> {
  const c = startNode(script, opts);
  c.end();
  return c.exited;
}

/** Signs that the native layer crashed or that a sanitizer complained, in a child's stderr. */
export const CRASH_RE = /FATAL ERROR|AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|runtime error:|terminate called|Segmentation fault|Aborted/;
