// One discovery pass: the /proc scan and Docker merged into one vantage list.
// Each source degrades on its own: no Docker socket is a normal state, an
// unreadable /proc entry is counted and skipped.
import { hostNetnsInode } from './binding.js';
import { hostFile } from './container-file.js';
import { discoverDocker, type DockerDiscovery } from './docker.js';
import { locateContainers, scanProc, type ScanError, type ScanResult } from './proc-scan.js';
import { mergeVantages, vantageId, type LocatedContainer, type ProcVantage, type Vantage } from './vantage.js';

export interface DiscoverOptions {
  procRoot: string;
  hostResolvConf: string;
  /** Include the host's own network namespace. */
  host: boolean;
  /** Include container namespaces (the /proc scan, and Docker when enabled). */
  containers: boolean;
  docker: { enabled: boolean; socketPath: string; timeoutMs: number };
}

export interface Discovery {
  vantages: Vantage[];
  /** The Docker Engine's answer; null when Docker discovery is off or containers are excluded. */
  docker: DockerDiscovery | null;
  /** /proc entries that could not be read (processes that exited mid-scan, or off limits). */
  scanErrors: ScanError[];
  /** Numeric /proc entries looked at. */
  scanned: number;
}

/** The host vantage alone, without scanning /proc (for --host-only). */
export function hostVantage(hostResolvConf: string): Vantage {
  const { dev, inode } = hostNetnsInode();
  return {
    id: vantageId(inode),
    dev,
    inode,
    pid: process.pid,
    startTime: 0,
    source: 'host',
    hostNetwork: true,
    containerIds: [],
    containerNames: [],
    resolvConfFile: hostFile(hostResolvConf),
  };
}

export async function discoverVantages(opts: DiscoverOptions): Promise<Discovery> {
  if (!opts.containers) {
    return { vantages: opts.host ? [hostVantage(opts.hostResolvConf)] : [], docker: null, scanErrors: [], scanned: 0 };
  }
  const [scan, docker] = await Promise.all([
    scanProc({ procRoot: opts.procRoot }),
    opts.docker.enabled ? discoverDocker({ socketPath: opts.docker.socketPath, timeoutMs: opts.docker.timeoutMs }) : Promise.resolve(null),
  ]);
  let located: LocatedContainer[] = [];
  const scanErrors = [...scan.errors];
  if (docker?.available) {
    const res = await locateContainers(docker.containers, { procRoot: opts.procRoot });
    located = res.located;
    scanErrors.push(...res.errors);
  }
  const procList: ProcVantage[] = scan.vantages;
  let vantages = mergeVantages(procList, located, { procRoot: opts.procRoot, hostResolvConf: opts.hostResolvConf });
  vantages = ensureHost(vantages, scan, opts);
  if (!opts.host) vantages = vantages.filter((v) => !v.hostNetwork);
  return { vantages, docker, scanErrors, scanned: scan.scanned };
}

// The scan finds the host namespace through its processes; in a fixture tree
// or a /proc with no host process visible, add it from this thread.
function ensureHost(vantages: Vantage[], scan: ScanResult, opts: DiscoverOptions): Vantage[] {
  if (vantages.some((v) => v.hostNetwork)) {
    return vantages.map((v) => (v.hostNetwork ? { ...v, resolvConfFile: hostFile(opts.hostResolvConf) } : v));
  }
  const h = hostVantage(opts.hostResolvConf);
  return [{ ...h, dev: scan.host.dev || h.dev, inode: scan.host.inode || h.inode, id: vantageId(scan.host.inode || h.inode) }, ...vantages];
}
