// `coredns-healthd check`: one sweep from every vantage, a table or JSON, and
// an exit code (0 all passed, 1 a probe failed, 2 usage or setup error).
import { loadConfigResult, type Config } from '../config/load.js';
import { diagnoseContext, diagnoseSweep, type DiagnoseContext, type Finding } from '../diagnose/index.js';
import type { Query, Transport } from '../model.js';
import { discoverVantages, type DiscoverOptions } from '../discovery/discover.js';
import { selectVantages, type VantageSelector } from '../discovery/select.js';
import { checkQuery } from '../probe/query-spec.js';
import { errorMessage, safeJsonStringify } from '../text/untrusted.js';
import { discoveryOptions, sweepOptions } from '../config/options.js';
import { runSweep, type SweepOptions } from '../probe/sweep.js';
import { checkJson, checkText, summarize, type CheckContext } from './check-report.js';
import { DISCOVERY_OPTIONS, configFlags, parseFlags } from './flags.js';
import { UsageError } from './usage.js';

export const CHECK_USAGE = `Usage: coredns-healthd check [options]

Sends one DNS query to every target from every network namespace on this
node (the host and each container), then exits.

Targets: each vantage's own resolv.conf nameservers (port 53), plus every
--server and the configured targets. Settings come from the configuration
file, then COREDNS_HEALTHD_* variables, then these flags.

Pass, with no configuration file and no --expect ("discovery mode"): a
well-formed reply with an allowed rcode (NOERROR or NXDOMAIN by default).
With --expect: NOERROR and exactly the expected addresses. With a
configuration file: its queries (names, rcodes, expected answers).

Then it diagnoses every failure (resolv.conf, routes, interfaces, local
firewall, UDP versus TCP, Service versus pod paths, conntrack) and prints
the findings before the summary. The exit code depends on the probes only.

Options:
  --config FILE            read settings from FILE (default /etc/coredns-healthd.json when it exists)
  --server IP[:PORT]       also probe this server from every vantage (repeatable)
  --name NAME              query name (default kubernetes.default.svc.cluster.local)
  --type TYPE              query type (default A)
  --expect IP              require NOERROR with exactly these addresses (repeatable)
  --rcode RCODE            allowed rcode (repeatable; default NOERROR and NXDOMAIN)
  --timeout DURATION       per-attempt timeout: milliseconds or "500ms", "2s" (default 2s)
  --attempts N             tries per probe before it counts as failed (default 2)
  --tcp                    probe over TCP as well as UDP
  --port PORT              port of --server targets given without one (default 53)
  --host-only              probe only from the host network namespace
  --no-host                skip the host network namespace
  --no-own                 do not probe the vantages' own resolv.conf nameservers
  --host-resolv-conf FILE  the host's resolv.conf (default /etc/resolv.conf)
  --proc-root DIR          where /proc is mounted (default /proc)
  --docker-socket PATH     Docker Engine socket (default /var/run/docker.sock)
  --no-docker              do not ask Docker for container names and pod labels
  --pod NAMESPACE/NAME     only this pod's vantage (and the host's); repeatable
  --container NAME|ID      only this container's vantage (and the host's); repeatable
  --no-diagnose            skip the diagnosis (no findings)
  --json                   print one JSON document instead of a table
  -h, --help               this text
`;

export interface CheckOptions extends SweepOptions, DiscoverOptions {
  select: VantageSelector;
  json: boolean;
  /** How to diagnose the sweep; null: --no-diagnose. */
  diagnose: DiagnoseContext | null;
}

const DEFAULT_NAME = 'kubernetes.default.svc.cluster.local';

interface ParsedCheckArgs {
  configFile: string | undefined;
  select: VantageSelector;
  flags: Record<string, unknown>;
  flagNames: Record<string, string>;
  query: { name?: string; type?: string; expect: string[]; rcodes?: string[] };
  tcp: boolean;
  ownNameservers: boolean;
  json: boolean;
  diagnose: boolean;
}

/** argv (after "check") → flags keyed by configuration setting. Throws UsageError naming the flag. */
export function parseCheckArgs(argv: string[]): ParsedCheckArgs | 'help' {
  const v = parseFlags(argv, {
    ...DISCOVERY_OPTIONS,
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
    pod: { type: 'string', multiple: true },
    container: { type: 'string', multiple: true },
    'no-diagnose': { type: 'boolean' },
  });
  if (v.help) return 'help';
  if (v['host-only'] && v['no-host']) throw new UsageError('--host-only and --no-host exclude each other');
  const { flags, flagNames } = configFlags(v);
  for (const p of v.pod ?? []) {
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/.test(p))
      throw new UsageError(`--pod: expected NAMESPACE/NAME, got ${JSON.stringify(p)}`);
  }
  return {
    configFile: v.config,
    select: { pods: v.pod ?? [], containers: v.container ?? [] },
    flags,
    flagNames,
    query: {
      ...(v.name !== undefined ? { name: v.name } : {}),
      ...(v.type !== undefined ? { type: v.type.toUpperCase() } : {}),
      expect: v.expect ?? [],
      ...(v.rcode !== undefined ? { rcodes: v.rcode.map((r) => r.toUpperCase()) } : {}),
    },
    tcp: Boolean(v.tcp),
    ownNameservers: !v['no-own'],
    json: Boolean(v.json),
    diagnose: !v['no-diagnose'],
  };
}

/**
 * The queries of this check. Flags that shape the question (--name, --type,
 * --expect, --rcode) replace the configured queries. Without them, a
 * configuration file's queries apply; with no file at all, "discovery mode":
 * a well-formed reply with NOERROR or NXDOMAIN passes, since on a machine
 * outside any cluster the resolver rightly says the cluster name does not exist.
 */
function checkQueries(args: ParsedCheckArgs, config: Config, fromFile: boolean): Query[] {
  const q = args.query;
  const shaped = q.name !== undefined || q.type !== undefined || q.expect.length > 0 || q.rcodes !== undefined;
  if (!shaped && fromFile) return [...config.queries];
  const expect = q.expect;
  try {
    return [
      checkQuery({
        name: q.name ?? DEFAULT_NAME,
        type: q.type ?? 'A',
        validRcodes: q.rcodes ?? (expect.length ? ['NOERROR'] : ['NOERROR', 'NXDOMAIN']),
        requireAnswers: expect.length > 0,
        ...(expect.length ? { expectAnswers: expect, expectMatch: 'equal' as const } : {}),
      }),
    ];
  } catch (err) {
    throw new UsageError(`--name/--type/--expect/--rcode: ${errorMessage(err)}`);
  }
}

/** Flags + environment + configuration file → the options of one check. Throws UsageError / ConfigError. */
export function resolveCheckOptions(args: ParsedCheckArgs, env: NodeJS.ProcessEnv = process.env): CheckOptions {
  const loaded = loadConfigResult({
    ...(args.configFile !== undefined ? { file: args.configFile } : {}),
    env,
    flags: args.flags,
    flagNames: args.flagNames,
  });
  const { config, sources } = loaded;
  const queries = checkQueries(args, config, loaded.file !== null);
  // check probes UDP unless --tcp, or transports were configured explicitly.
  const transports: Transport[] = args.tcp ? ['udp', 'tcp'] : sources['probe.transports'] !== 'default' ? [...config.probe.transports] : ['udp'];
  return {
    ...discoveryOptions(config),
    ...sweepOptions(config),
    select: args.select,
    transports,
    queries,
    // One sweep, then exit: nothing to spread it over (the in-flight cap still holds).
    spreadMs: 0,
    ownNameservers: args.ownNameservers,
    json: args.json,
    diagnose: args.diagnose ? diagnoseContext(config) : null,
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
  const vantages = selectVantages(discovery.vantages, opts.select);
  const notes: string[] = [];
  if (discovery.docker?.error) {
    notes.push(
      discovery.docker.error.code === 'no-socket'
        ? `no Docker Engine at ${opts.docker.socketPath}: containers found through /proc only`
        : `Docker: ${discovery.docker.error.message}`,
    );
  }
  if (vantages.length === 0) throw new UsageError('no vantage point to probe from: --no-host, and no container found (or none matched --pod/--container)');
  const report = await runSweep(vantages, opts);
  let findings: Finding[] | null = null;
  if (opts.diagnose) {
    // The diagnosis explains; it never decides the exit code, and its failure never fails the check.
    try {
      findings = await diagnoseSweep(report, opts.diagnose);
    } catch (err) {
      notes.push(`diagnosis failed: ${errorMessage(err)}`);
    }
  }
  const ctx: CheckContext = {
    mode: opts.queries.some((q) => q.expectAnswers?.length) ? 'expect' : 'discovery',
    queries: opts.queries,
    notes,
    findings,
  };
  const summary = summarize(report);
  if (summary.probes === 0) {
    const why = 'nothing to probe: no vantage had a nameserver in its resolv.conf and no --server was given';
    if (opts.json) io.stdout(safeJsonStringify({ ...checkJson(report, ctx), error: why }, 2) + '\n');
    else io.stdout(checkText(report, ctx));
    throw new UsageError(why);
  }
  // JSON keeps the (capped) values; what JSON.stringify leaves raw (C1, bidi marks) is escaped too.
  io.stdout(opts.json ? safeJsonStringify(checkJson(report, ctx), 2) + '\n' : checkText(report, ctx));
  return summary.failed === 0 ? 0 : 1;
}
