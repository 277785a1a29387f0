// `coredns-healthd netns`: the vantage points of this node, one per network
// namespace, with who lives there and which nameservers it uses.
import { parseArgs } from 'node:util';
import { loadConfigResult } from '../config/load.js';
import { discoverVantages } from '../netns/discover.js';
import { readResolvConf } from '../netns/resolv-conf.js';
import type { Vantage } from '../netns/vantage.js';
import type { Io } from './check.js';
import { vantageLabel } from './check-report.js';
import { table } from './table.js';
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

export interface NetnsEntry {
  id: string;
  inode: number;
  pid: number;
  source: Vantage['source'];
  hostNetwork: boolean;
  podNamespace: string | null;
  podName: string | null;
  podUid: string | null;
  runtime: string | null;
  containerIds: string[];
  containerNames: string[];
  resolvConf: string;
  nameservers: string[];
  resolvConfError: string | null;
}

export async function runNetns(argv: string[], io: Io): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        config: { type: 'string' },
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
  if (v.help) {
    io.stdout(NETNS_USAGE);
    return 0;
  }
  const flags: Record<string, unknown> = {};
  const flagNames: Record<string, string> = {};
  const set = (key: string, value: unknown, flag: string) => {
    if (value === undefined) return;
    flags[key] = value;
    flagNames[key] = flag;
  };
  set('hostResolvConf', v['host-resolv-conf'], '--host-resolv-conf');
  set('discovery.procRoot', v['proc-root'], '--proc-root');
  set('discovery.docker.socketPath', v['docker-socket'], '--docker-socket');
  if (v['no-docker']) set('discovery.docker.enabled', false, '--no-docker');
  const { config } = loadConfigResult({ ...(v.config !== undefined ? { file: v.config } : {}), flags, flagNames });
  if (process.geteuid?.() !== 0) {
    throw new UsageError('netns must run as root to read other processes\' /proc/<pid>/ns/net and root (CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH)');
  }
  const discovery = await discoverVantages({
    procRoot: config.discovery.procRoot,
    hostResolvConf: config.hostResolvConf,
    host: true,
    containers: true,
    docker: { enabled: config.discovery.docker.enabled, socketPath: config.discovery.docker.socketPath, timeoutMs: 5000 },
  });
  const entries: NetnsEntry[] = await Promise.all(
    discovery.vantages.map(async (x) => {
      const rc = await readResolvConf(x.resolvConfPath);
      return {
        id: x.id,
        inode: x.inode,
        pid: x.pid,
        source: x.source,
        hostNetwork: x.hostNetwork,
        podNamespace: x.podNamespace ?? null,
        podName: x.podName ?? null,
        podUid: x.podUid ?? null,
        runtime: x.runtime ?? null,
        containerIds: x.containerIds,
        containerNames: x.containerNames,
        resolvConf: x.resolvConfPath,
        nameservers: rc.parsed.nameservers.map((n) => n.address),
        resolvConfError: rc.error?.message ?? null,
      };
    }),
  );
  if (v.json) {
    io.stdout(`${JSON.stringify({ vantages: entries, docker: discovery.docker?.error ?? null, unreadableProcEntries: discovery.scanErrors.length }, null, 2)}\n`);
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
      vantageLabel(x),
      e.containerIds.map((c) => c.slice(0, 12)).join(',') || '-',
      e.resolvConfError ? `(${e.resolvConfError})` : e.nameservers.join(',') || '(none)',
    ];
  });
  const notes: string[] = [];
  if (discovery.docker?.error) notes.push(`note: Docker: ${discovery.docker.error.message}`);
  io.stdout([table(header, rows), ...notes, `${entries.length} vantage point${entries.length === 1 ? '' : 's'}`].join('\n') + '\n');
  return 0;
}
