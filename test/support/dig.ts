// dig from inside a network namespace (or the host, for loopback servers), with its output parsed.
import { tryInNetns } from './netns.js';
import { tryRun, which, type RunResult } from './run.js';

export interface DigOptions {
  server: string;
  port?: number;
  /** Default kubernetes.default.svc.cluster.local. */
  name?: string;
  /** Default A. */
  type?: string;
  /** true: +tcp; false (default): +notcp, falling back to TCP on a truncated reply like a resolver. */
  tcp?: boolean;
  /** +ignore: keep a truncated UDP reply instead of retrying over TCP. */
  ignoreTruncation?: boolean | undefined;
  /** Seconds to wait for a reply (+time). Default 1. One try only. */
  timeSec?: number;
  /** Run dig inside this named namespace. */
  netns?: string;
}

export interface DigResult {
  /** dig's exit code: 0 got a reply (any rcode), 9 no reply, others dig errors. */
  exitCode: number | null;
  /** NOERROR, SERVFAIL, NXDOMAIN, ... when a reply was parsed. */
  status: string | undefined;
  id: number | undefined;
  /** Header flags, e.g. ['qr', 'aa', 'rd', 'ra', 'tc']. */
  flags: string[];
  /** rdata of the answer section records of the queried type, e.g. ['10.96.0.1']. */
  answers: string[];
  /** "TCP" or "UDP": the transport of the reply dig printed. */
  transport: string | undefined;
  output: string;
}

export function digArgs(o: DigOptions): string[] {
  const args = [`@${o.server}`, '-p', String(o.port ?? 53), o.name ?? 'kubernetes.default.svc.cluster.local', o.type ?? 'A'];
  args.push(o.tcp ? '+tcp' : '+notcp', '+tries=1', '+retry=0', `+time=${o.timeSec ?? 1}`, '+noall', '+comments', '+answer', '+stats');
  if (o.ignoreTruncation) args.push('+ignore');
  return args;
}

/** Pure parse of dig output (+comments +answer +stats). */
export function parseDig(output: string, type: string, exitCode: number | null): DigResult {
  const header = /->>HEADER<<- opcode: \w+, status: (\w+), id: (\d+)/.exec(output);
  const flags = /;; flags:([^;]*);/.exec(output);
  const server = /;; SERVER: .*\((UDP|TCP)\)/.exec(output);
  const answers = output
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith(';'))
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[3] === type.toUpperCase())
    .map((f) => f.slice(4).join(' '));
  return {
    exitCode,
    status: header?.[1],
    id: header ? Number(header[2]) : undefined,
    flags: flags ? (flags[1] ?? '').trim().split(/\s+/).filter(Boolean) : [],
    answers,
    transport: server?.[1],
    output,
  };
}

export async function dig(o: DigOptions): Promise<DigResult> {
  const args = digArgs(o);
  const timeoutMs = ((o.timeSec ?? 1) + 5) * 1000;
  const r: RunResult = o.netns === undefined ? await tryRun(which('dig'), args, { timeoutMs }) : await tryInNetns(o.netns, which('dig'), args, { timeoutMs });
  return parseDig(`${r.stdout}${r.stderr}`, o.type ?? 'A', r.code);
}
