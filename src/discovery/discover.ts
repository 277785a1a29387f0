// Discovery: the /proc scan and Docker merged into one vantage list, the one
// path `check`, `netns` and the daemon's sweeps take. Kept cheap on a steady node.
//
// The /proc scan runs every sweep: it is local, and a vantage that appeared
// or vanished must be seen at once. It keeps what each PID resolved to
// (proc-scan.ts, the memo): a PID seen before costs one stat of its ns/net. The Docker Engine API (a list, then one
// inspect per container) is asked again only when something may have changed:
//   - the /proc scan shows another set of namespaces or containers (the
//     fingerprint: every namespace's dev:inode and the container IDs found
//     in its cgroups), or
//   - the cached answer is older than maxAgeMs (5 minutes; a Docker that
//     started later is found by then), or older than errorRetryMs (1 minute)
//     when the last call failed for another reason than "no socket", or
//   - the socket path changed (reload), or /proc scanning is off (then Docker
//     is the only way to see changes, and is asked every sweep).
// The cached containers are placed in their namespaces again every sweep
// (two reads per container under /proc), so their PIDs are checked each time.
// resolv.conf files are read by the sweep itself (src/probe/sweep.ts), one small
// read per vantage: it is how a changed pod DNS configuration is noticed.
// Each source fails on its own: Docker down is a note, an unreadable /proc
// entry is counted and skipped; only an unreadable procRoot throws.
import { hostNetnsInode } from '../netns/binding.js';
import { hostFile } from '../netns/container-file.js';
import { discoverDocker as defaultDiscoverDocker, type DockerDiscovery, type DockerDiscoveryOptions } from './docker.js';
import {
  createScanMemo,
  locateContainers as defaultLocate,
  scanProc as defaultScanProc,
  type ScanError,
  type ScanMemo,
  type ScanOptions,
  type ScanResult,
} from './proc-scan.js';
import { mergeVantages, vantageId, type DockerContainerInfo, type LocatedContainer } from './vantage.js';
import { type NetnsId, type Vantage } from '../model.js';

export interface DiscoverOptions {
  procRoot: string;
  hostResolvConf: string;
  host: boolean;
  containers: boolean;
  /** Scan procRoot for container namespaces (discovery.proc.enabled). */
  proc: boolean;
  docker: { enabled: boolean; socketPath: string; timeoutMs: number };
}

export interface Discovery {
  vantages: Vantage[];
  /** The Docker answer used (possibly cached); null when Docker is off or containers are excluded. */
  docker: DockerDiscovery | null;
  /** Whether Docker was asked in this call. */
  dockerRefreshed: boolean;
  scanErrors: ScanError[];
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

export interface DiscoveryDeps {
  scanProc: (opts: ScanOptions) => Promise<ScanResult>;
  discoverDocker: (opts: DockerDiscoveryOptions) => Promise<DockerDiscovery>;
  locateContainers: (containers: DockerContainerInfo[], opts: Pick<ScanOptions, 'procRoot'>) => Promise<{ located: LocatedContainer[]; errors: ScanError[] }>;
  hostVantage: (hostResolvConf: string) => Vantage;
  hostNetns: () => NetnsId;
  now: () => number;
}

export interface CacheTiming {
  /** Ask Docker again after this long even when nothing changed. Default 5 minutes. */
  maxAgeMs?: number;
  /** ... or after this long when the last call failed (other than no socket). Default 1 minute. */
  errorRetryMs?: number;
}

interface DockerEntry {
  result: DockerDiscovery;
  at: number;
  fingerprint: string | null;
  socketPath: string;
}

/** What the /proc scan says about the set of namespaces and containers. */
export function scanFingerprint(scan: ScanResult): string {
  return scan.vantages
    .map((v) => `${v.dev}:${v.inode}=${v.containerIds.join(',')}`)
    .sort()
    .join(';');
}

export class DiscoveryCache {
  readonly #deps: DiscoveryDeps;
  readonly #maxAgeMs: number;
  readonly #errorRetryMs: number;
  #docker: DockerEntry | null = null;
  #memo: { procRoot: string; memo: ScanMemo } | null = null;

  constructor(deps: Partial<DiscoveryDeps> = {}, timing: CacheTiming = {}) {
    this.#deps = {
      scanProc: deps.scanProc ?? defaultScanProc,
      discoverDocker: deps.discoverDocker ?? defaultDiscoverDocker,
      locateContainers: deps.locateContainers ?? defaultLocate,
      hostVantage: deps.hostVantage ?? hostVantage,
      hostNetns: deps.hostNetns ?? hostNetnsInode,
      now: deps.now ?? Date.now,
    };
    this.#maxAgeMs = timing.maxAgeMs ?? 5 * 60_000;
    this.#errorRetryMs = timing.errorRetryMs ?? 60_000;
  }

  /** Forgets the cached Docker answer (the next call asks Docker) and what the scans learned. */
  invalidate(): void {
    this.#docker = null;
    this.#memo = null;
  }

  /**
   * Forgets what the scans learned of these PIDs: the next scan reads them
   * again. For a vantage the probe found gone (its PID exited or was reused).
   */
  forget(pids: Iterable<number>): void {
    if (!this.#memo) return;
    for (const pid of pids) this.#memo.memo.members.delete(pid);
  }

  async discover(opts: DiscoverOptions): Promise<Discovery> {
    const d = this.#deps;
    if (!opts.containers) {
      this.#docker = null;
      return { vantages: opts.host ? [d.hostVantage(opts.hostResolvConf)] : [], docker: null, dockerRefreshed: false, scanErrors: [], scanned: 0 };
    }
    if (this.#memo?.procRoot !== opts.procRoot) this.#memo = { procRoot: opts.procRoot, memo: createScanMemo() };
    const scan = opts.proc ? await d.scanProc({ procRoot: opts.procRoot, memo: this.#memo.memo }) : null;
    const scanErrors = scan ? [...scan.errors] : [];

    let docker: DockerDiscovery | null = null;
    let dockerRefreshed = false;
    if (opts.docker.enabled) {
      const fingerprint = scan ? scanFingerprint(scan) : null;
      if (this.#stale(fingerprint, opts.docker.socketPath)) {
        const result = await d.discoverDocker({ socketPath: opts.docker.socketPath, timeoutMs: opts.docker.timeoutMs });
        this.#docker = { result, at: d.now(), fingerprint, socketPath: opts.docker.socketPath };
        dockerRefreshed = true;
      }
      docker = this.#docker!.result;
    } else {
      this.#docker = null;
    }

    let located: LocatedContainer[] = [];
    if (docker?.available) {
      const res = await d.locateContainers(docker.containers, { procRoot: opts.procRoot });
      located = res.located;
      scanErrors.push(...res.errors);
    }
    let vantages: Vantage[];
    if (scan) {
      vantages = mergeVantages(scan.vantages, located, { procRoot: opts.procRoot, hostResolvConf: opts.hostResolvConf });
      vantages = ensureHost(vantages, scan.host, opts.hostResolvConf, d.hostVantage);
    } else {
      // Without the scan nothing marks the host namespace: containers with
      // network "host" belong to the host vantage, added here.
      const host = d.hostNetns();
      const inHost = (c: NetnsId): boolean => c.dev === host.dev && c.inode === host.inode;
      vantages = [
        d.hostVantage(opts.hostResolvConf),
        ...mergeVantages(
          [],
          located.filter((c) => !inHost(c)),
          { procRoot: opts.procRoot, hostResolvConf: opts.hostResolvConf },
        ),
      ];
    }
    if (!opts.host) vantages = vantages.filter((v) => !v.hostNetwork);
    return { vantages, docker, dockerRefreshed, scanErrors, scanned: scan?.scanned ?? 0 };
  }

  #stale(fingerprint: string | null, socketPath: string): boolean {
    const c = this.#docker;
    if (c === null || c.socketPath !== socketPath || fingerprint === null || c.fingerprint !== fingerprint) return true;
    const failed = c.result.error !== undefined && c.result.error.code !== 'no-socket';
    return this.#deps.now() - c.at >= (failed ? this.#errorRetryMs : this.#maxAgeMs);
  }
}

const isHostVantage = (v: Vantage): boolean => v.hostNetwork;

// The scan finds the host namespace through its processes; with a procRoot
// that shows none (a test tree), add it from the scan's own host identity.
function ensureHost(vantages: Vantage[], host: NetnsId, hostResolvConf: string, hostVantage: (p: string) => Vantage): Vantage[] {
  if (vantages.some(isHostVantage)) {
    const out: Vantage[] = [];
    for (const v of vantages) out.push(v.hostNetwork ? { ...v, resolvConfFile: hostFile(hostResolvConf) } : v);
    return out;
  }
  const h = hostVantage(hostResolvConf);
  const dev = host.dev || h.dev;
  const inode = host.inode || h.inode;
  return [{ ...h, dev, inode, id: vantageId(inode) }, ...vantages];
}

/** One discovery with nothing cached (`check`, `netns`): Docker is asked when enabled. */
export const discoverVantages = (opts: DiscoverOptions): Promise<Discovery> => new DiscoveryCache().discover(opts);
