// `coredns-healthd netns`: the vantage points of this node, one per network
// namespace, with who lives there and which nameservers it uses.
import { loadConfigResult } from '../config/load.js';
import { discoveryOptions } from '../config/options.js';
import { discoverVantages } from '../discovery/discover.js';
import { readResolvConf } from '../discovery/resolv-conf.js';
import type { Io } from './check.js';
import { vantageJson, describeVantage } from './check-report.js';
import { escapeControl, safeJsonStringify } from '../text/untrusted.js';
import { table } from './table.js';
import { DISCOVERY_OPTIONS, configFlags, parseFlags } from './flags.js';
import { UsageError } from './usage.js';

export const NETNS_USAGE = `Usage: coredns-healthd netns [options]

Lists the vantage points of this node: the host network namespace and every
distinct container network namespace, found through /proc and Docker.

Options:
  --config FILE            read settings from FILE (default /etc/coredns-healthd.json when it exists)
  --host-resolv-conf FILE  the host's resolv.conf (default /etc/resolv.conf)
  --proc-root DIR          where /proc is mounted (default /proc)
  --docker-socket PATH     Docker Engine socket (default /var/run/docker.sock)
  --no-docker              do not ask Docker for container names and pod labels
  --json                   print JSON instead of a table
  -h, --help               this text
`;

export type NetnsEntry = ReturnType<typeof vantageJson> & {
  resolvConf: string;
  nameservers: string[];
  resolvConfError: string | null;
};

export async function runNetns(argv: string[], io: Io): Promise<number> {
  const v = parseFlags(argv, DISCOVERY_OPTIONS);
  if (v.help) {
    io.stdout(NETNS_USAGE);
    return 0;
  }
  const { flags, flagNames } = configFlags(v);
  const { config } = loadConfigResult({ ...(v.config !== undefined ? { file: v.config } : {}), flags, flagNames });
  if (process.geteuid?.() !== 0) {
    throw new UsageError("netns must run as root to read other processes' /proc/<pid>/ns/net and root (CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH)");
  }
  const discovery = await discoverVantages({ ...discoveryOptions(config), host: true, containers: true });
  const entries: NetnsEntry[] = await Promise.all(
    discovery.vantages.map(async (x) => {
      const rc = await readResolvConf(x.resolvConfFile);
      return {
        ...vantageJson(x),
        resolvConf: rc.path,
        nameservers: rc.parsed.nameservers.map((n) => n.address),
        resolvConfError: rc.error?.message ?? null,
      };
    }),
  );
  if (v.json) {
    io.stdout(`${safeJsonStringify({ vantages: entries, docker: discovery.docker?.error ?? null, unreadableProcEntries: discovery.scanErrors.length }, 2)}\n`);
    return 0;
  }
  const header = ['VANTAGE', 'PID', 'SOURCE', 'HOSTNET', 'POD/PROCESS', 'CONTAINERS', 'NAMESERVERS'];
  const rows = discovery.vantages.map((x, i) => {
    const e = entries[i]!;
    return [
      e.id,
      String(e.pid),
      e.source,
      e.hostNetwork ? 'yes' : 'no',
      describeVantage(x),
      e.containerIds.map((c) => c.slice(0, 12)).join(',') || '-',
      e.resolvConfError ? `(${e.resolvConfError})` : e.nameservers.join(',') || '(none)',
    ];
  });
  const notes: string[] = [];
  if (discovery.docker?.error) notes.push(`note: Docker: ${escapeControl(discovery.docker.error.message)}`);
  io.stdout([table(header, rows), ...notes, `${entries.length} vantage point${entries.length === 1 ? '' : 's'}`].join('\n') + '\n');
  return 0;
}
