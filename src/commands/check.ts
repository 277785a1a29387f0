// `coredns-healthd check`: one sweep from every vantage, a table or JSON, and
// an exit code (0 all passed, 1 a probe failed, 2 usage or setup error).
import { parseArgs } from 'node:util';
import { parseServerTarget } from '../config/formats.js';
import { discoverVantages } from '../netns/discover.js';
import { runSweep, type QuerySpec, type SweepOptions, type Target } from '../sweep.js';
import { checkJson, checkText, summarize, type CheckContext } from './check-report.js';
import { UsageError } from './usage.js';

export const CHECK_USAGE = `Usage: coredns-healthd check [options]

Sends one DNS query to every target from every network namespace on this
node (the host and each container), then exits.

Targets: each vantage's own resolv.conf nameservers, plus every --server.
Pass: a well-formed reply with an allowed rcode (NOERROR or NXDOMAIN by
default); with --expect, NOERROR and exactly the expected addresses.

Options:
  --server IP[:PORT]       also probe this server from every vantage (repeatable)
  --name NAME              query name (default kubernetes.default.svc.cluster.local)
  --type TYPE              query type (default A)
  --expect IP              require NOERROR with exactly these addresses (repeatable)
  --rcode RCODE            allowed rcode (repeatable; default NOERROR and NXDOMAIN)
  --timeout MS             per-probe timeout in milliseconds (default 2000)
  --attempts N             tries per probe before it counts as failed (default 1)
  --tcp                    probe over TCP as well as UDP
  --port PORT              DNS port of resolv.conf nameservers (default 53)
  --host-only              probe only from the host network namespace
  --no-host                skip the host network namespace
  --no-own                 do not probe the vantages' own resolv.conf nameservers
  --host-resolv-conf FILE  the host's resolv.conf (default /etc/resolv.conf)
  --proc-root DIR          where /proc is mounted (default /proc)
  --docker-socket PATH     Docker Engine socket (default /var/run/docker.sock)
  --no-docker              do not ask Docker for container names and pod labels
  --json                   print one JSON document instead of a table
  -h, --help               this text
`;

export interface CheckOptions extends SweepOptions {
  hostResolvConf: string;
  host: boolean;
  containers: boolean;
  docker: { enabled: boolean; socketPath: string; timeoutMs: number };
  json: boolean;
}

const DEFAULT_NAME = 'kubernetes.default.svc.cluster.local';

function intFlag(value: string | undefined, flag: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(`${flag}: expected an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

/** argv (after "check") → options. Throws UsageError naming the flag. */
export function parseCheckArgs(argv: string[]): CheckOptions | 'help' {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        server: { type: 'string', multiple: true },
        name: { type: 'string' },
        type: { type: 'string' },
        expect: { type: 'string', multiple: true },
        rcode: { type: 'string', multiple: true },
        timeout: { type: 'string' },
        attempts: { type: 'string' },
        tcp: { type: 'boolean' },
        port: { type: 'string' },
        'host-only': { type: 'boolean' },
        'no-host': { type: 'boolean' },
        'no-own': { type: 'boolean' },
        'host-resolv-conf': { type: 'string' },
        'proc-root': { type: 'string' },
        'docker-socket': { type: 'string' },
        'no-docker': { type: 'boolean' },
        json: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const v = parsed.values;
  if (v.help) return 'help';
  if (v['host-only'] && v['no-host']) throw new UsageError('--host-only and --no-host exclude each other');
  const dnsPort = intFlag(v.port, '--port', 1, 65535, 53);
  const targets: Target[] = (v.server ?? []).map((s) => {
    try {
      const hp = parseServerTarget(s, dnsPort);
      return { server: hp.address, port: hp.port, source: 'static' as const };
    } catch (err) {
      throw new UsageError(`--server: ${(err as Error).message}`);
    }
  });
  const expect = v.expect ?? [];
  const query: QuerySpec = {
    name: v.name ?? DEFAULT_NAME,
    type: (v.type ?? 'A').toUpperCase(),
    validRcodes: (v.rcode ?? (expect.length ? ['NOERROR'] : ['NOERROR', 'NXDOMAIN'])).map((r) => r.toUpperCase()),
    ...(expect.length ? { expectAnswers: expect, expectMatch: 'equal' as const, requireAnswers: true } : {}),
  };
  return {
    procRoot: v['proc-root'] ?? '/proc',
    hostResolvConf: v['host-resolv-conf'] ?? '/etc/resolv.conf',
    host: !v['no-host'],
    containers: !v['host-only'],
    docker: { enabled: !v['no-docker'], socketPath: v['docker-socket'] ?? '/var/run/docker.sock', timeoutMs: 5000 },
    transports: v.tcp ? ['udp', 'tcp'] : ['udp'],
    queries: [query],
    timeoutMs: intFlag(v.timeout, '--timeout', 1, 120_000, 2000),
    attempts: intFlag(v.attempts, '--attempts', 1, 10, 1),
    dnsPort,
    ownNameservers: !v['no-own'],
    targets,
    json: Boolean(v.json),
  };
}

export interface Io {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
}

/** Runs one check; returns the exit code. */
export async function runCheck(opts: CheckOptions, io: Io): Promise<number> {
  if (opts.containers && process.geteuid?.() !== 0) {
    throw new UsageError(
      'check must run as root to enter other network namespaces and read /proc/<pid>/root (CAP_SYS_ADMIN, CAP_SYS_PTRACE); ' +
        'run it with sudo, or use --host-only to probe from the host namespace alone',
    );
  }
  const discovery = await discoverVantages(opts);
  const notes: string[] = [];
  if (discovery.docker?.error) {
    notes.push(
      discovery.docker.error.code === 'no-socket'
        ? `no Docker Engine at ${opts.docker.socketPath}: containers found through /proc only`
        : `Docker: ${discovery.docker.error.message}`,
    );
  }
  if (discovery.vantages.length === 0) throw new UsageError('no vantage point to probe from (--no-host with no containers found)');
  const report = await runSweep(discovery.vantages, opts);
  const ctx: CheckContext = {
    mode: opts.queries.some((q) => q.expectAnswers?.length) ? 'expect' : 'discovery',
    queries: opts.queries,
    notes,
  };
  const summary = summarize(report);
  if (summary.probes === 0) {
    const why = 'nothing to probe: no vantage had a nameserver in its resolv.conf and no --server was given';
    if (opts.json) io.stdout(JSON.stringify({ ...checkJson(report, ctx), error: why }, null, 2) + '\n');
    else io.stdout(checkText(report, ctx));
    throw new UsageError(why);
  }
  io.stdout(opts.json ? JSON.stringify(checkJson(report, ctx), null, 2) + '\n' : checkText(report, ctx));
  return summary.failed === 0 ? 0 : 1;
}
