// Network namespaces and test topologies, built and torn down with iproute2.
//
// A topology is one bridge in the host netns plus N namespaces, each with a veth whose host end
// is a bridge port and whose inside end is `eth0` with an IPv4 (and IPv6) address from a test
// subnet, loopback up and a default route via the bridge address. Every name starts with
// `${prefix}-`: the bridge `${prefix}-br`, namespace i `${prefix}-n${i}`, its host-side veth
// `${prefix}-v${i}`. Cleanup removes everything carrying the prefix, leftovers of a crashed
// run included.
//
// Cost: the host-side work is one `ip -batch`; each namespace is configured (and checked) by one
// `ip -n NS -j -batch -`, run a few at a time. Teardown deletes the namespaces (the kernel then
// destroys their veths in bulk) rather than deleting 2N links one by one (~20 ms each).
//
// Note: traffic between two namespaces crosses the bridge and, with br_netfilter loaded, the
// host's iptables FORWARD chain; traffic between a namespace and the bridge address does not.
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { readdir, readlink, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { contains, formatCidr, host, overlaps, parseCidr, size, type Cidr } from './ip-range.js';
import { CommandError, mapLimit, run, sleep, tryRun, which, type RunOptions, type RunResult } from './run.js';

/** Anything with tap's `t.teardown`. */
export interface TeardownHost {
  teardown(fn: () => unknown): void;
}

export const NETNS_DIR = '/run/netns';
const IFNAMSIZ = 15;
const NETNS_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,62}$/;
const PREFIX_RE = /^[a-z][a-z0-9-]*$/;

const ip = (): string => which('ip');

function checkNetnsName(name: string): string {
  if (!NETNS_NAME_RE.test(name)) throw new Error(`netns name: invalid ${JSON.stringify(name)} (letters, digits, _ . -; at most 63)`);
  return name;
}

export function netnsPath(name: string): string {
  return `${NETNS_DIR}/${checkNetnsName(name)}`;
}

/** Creates a named network namespace with loopback up; returns its path. */
export async function createNetns(name: string): Promise<string> {
  const path = netnsPath(name);
  await run(ip(), ['netns', 'add', name]);
  try {
    await run(ip(), ['-n', name, 'link', 'set', 'lo', 'up']);
  } catch (err) {
    await deleteNetns(name);
    throw err;
  }
  return path;
}

/** Kills the processes left inside the namespace, then removes its name. A missing name is fine. */
export async function deleteNetns(name: string): Promise<void> {
  checkNetnsName(name);
  await killNetnsProcesses([name]);
  const result = await tryRun(ip(), ['netns', 'del', name]);
  if (result.code !== 0 && !/No such file/.test(result.stderr)) throw new CommandError(ip(), ['netns', 'del', name], result);
}

/** Runs a command inside the namespace (`ip netns exec`); rejects unless it exits 0. */
export function inNetns(name: string, cmd: string, args: readonly string[], opts?: RunOptions): Promise<RunResult> {
  return run(ip(), ['netns', 'exec', checkNetnsName(name), cmd, ...args], opts);
}

/** Like inNetns, but resolves with the exit status instead of rejecting. */
export function tryInNetns(name: string, cmd: string, args: readonly string[], opts?: RunOptions): Promise<RunResult> {
  return tryRun(ip(), ['netns', 'exec', checkNetnsName(name), cmd, ...args], opts);
}

/** Loads an nftables ruleset (nft -f syntax) inside the namespace. */
export async function nft(netns: string, ruleset: string): Promise<void> {
  await inNetns(netns, which('nft'), ['-f', '-'], { input: ruleset });
}

export interface BlockPortOptions {
  /** nft table name (family inet); letters, digits, underscore. Carry the test prefix in it. */
  table: string;
  protocol: 'udp' | 'tcp';
  /** Destination port. Default 53. */
  port?: number;
  /** drop: the sender gets EPERM (UDP) or a timeout; reject: ICMP port unreachable / TCP reset. */
  verdict?: 'drop' | 'reject';
}

/** A ruleset blocking outgoing traffic to one destination port, e.g. UDP dport 53. */
export function blockPortRuleset({ table, protocol, port = 53, verdict = 'drop' }: BlockPortOptions): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(table)) throw new Error(`table: invalid nft table name ${JSON.stringify(table)}`);
  if (protocol !== 'udp' && protocol !== 'tcp') throw new Error(`protocol: must be udp or tcp, got ${JSON.stringify(protocol)}`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`port: must be 1..65535, got ${port}`);
  if (verdict !== 'drop' && verdict !== 'reject') throw new Error(`verdict: must be drop or reject, got ${JSON.stringify(verdict)}`);
  const action = verdict === 'reject' && protocol === 'tcp' ? 'reject with tcp reset' : verdict;
  return [
    `table inet ${table} {`,
    '  chain output {',
    '    type filter hook output priority 0; policy accept;',
    `    ${protocol} dport ${port} ${action}`,
    '  }',
    '}',
    '',
  ].join('\n');
}

/** Names in /run/netns. */
export async function listNetns(): Promise<string[]> {
  try {
    return await readdir(NETNS_DIR);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/** Interface names in the host netns. */
export async function listLinks(): Promise<string[]> {
  const links = JSON.parse((await run(ip(), ['-j', 'link', 'show'])).stdout || '[]') as Array<{ ifname: string }>;
  return links.map((l) => l.ifname);
}

const hasPrefix = (prefix: string) => (name: string) => name.startsWith(`${prefix}-`);

async function netnsInode(path: string): Promise<number | null> {
  try {
    return (await stat(path)).ino;
  } catch {
    return null;
  }
}

/** PIDs (other than this process) whose network namespace is one of the named ones. */
async function pidsIn(names: readonly string[]): Promise<number[]> {
  const inodes = new Set((await Promise.all(names.map((n) => netnsInode(netnsPath(n))))).filter((i) => i !== null));
  if (inodes.size === 0) return [];
  const pids = (await readdir('/proc'))
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .filter((p) => p !== process.pid);
  const owned = await Promise.all(
    pids.map(async (pid) => {
      const link = await readlink(`/proc/${pid}/ns/net`).catch(() => '');
      const m = /^net:\[(\d+)\]$/.exec(link);
      return m && inodes.has(Number(m[1])) ? pid : null;
    }),
  );
  return owned.filter((p) => p !== null);
}

function signal(pids: readonly number[], sig: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  }
}

/**
 * Ends the processes running inside test namespaces (only tests start processes there):
 * SIGTERM, then SIGKILL for those still alive after `graceMs`.
 */
export async function killNetnsProcesses(names: readonly string[], graceMs = 2000): Promise<void> {
  let pids = await pidsIn(names);
  if (pids.length === 0) return;
  signal(pids, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (pids.length > 0 && Date.now() < deadline) {
    await sleep(20);
    pids = await pidsIn(names);
  }
  signal(pids, 'SIGKILL');
}

async function waitGone(prefix: string, ms: number): Promise<{ netns: string[]; links: string[] }> {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = { netns: (await listNetns()).filter(hasPrefix(prefix)), links: (await listLinks()).filter(hasPrefix(prefix)) };
    if ((left.netns.length === 0 && left.links.length === 0) || Date.now() >= deadline) return left;
    await sleep(25);
  }
}

/**
 * Removes every namespace and host interface named `${prefix}-*` and the processes inside
 * those namespaces. Throws, naming the leftovers, if something survives.
 */
export async function removeByPrefix(prefix: string): Promise<void> {
  checkPrefix(prefix);
  const namespaces = (await listNetns()).filter(hasPrefix(prefix));
  await killNetnsProcesses(namespaces);
  // Deleting a namespace destroys its veths in bulk (one by one costs ~20 ms each); the bridge
  // and any other stray link go explicitly.
  const isVeth = new RegExp(`^${prefix}-v\\d+$`);
  const others = (await listLinks()).filter(hasPrefix(prefix)).filter((l) => !isVeth.test(l));
  const first = [...namespaces.map((n) => `netns del ${n}`), ...others.map((l) => `link del ${l}`)];
  if (first.length > 0) await tryRun(ip(), ['-force', '-batch', '-'], { input: `${first.join('\n')}\n` });
  let left = await waitGone(prefix, 3000);
  if (left.links.length > 0 || left.netns.length > 0) {
    // A veth whose namespace is kept alive (an open fd, a stuck process) must go explicitly.
    const again = [...left.netns.map((n) => `netns del ${n}`), ...left.links.map((l) => `link del ${l}`)];
    await tryRun(ip(), ['-force', '-batch', '-'], { input: `${again.join('\n')}\n` });
    left = await waitGone(prefix, 2000);
  }
  if (left.links.length > 0 || left.netns.length > 0) {
    throw new Error(`cleanup of prefix ${prefix}: left behind netns [${left.netns.join(', ')}] links [${left.links.join(', ')}]`);
  }
}

// ---- topology ----

export interface TopologyOptions {
  /** Number of namespaces, 1..MAX_NAMESPACES. */
  count: number;
  /** Name prefix: lowercase letters, digits, dashes. Default `chd` + 4 random hex digits. */
  prefix?: string;
  /** Also give everything an IPv6 address (ULA, nodad). Default true. */
  ipv6?: boolean;
  /** IPv4 subnet inside 10.0.0.0/8 or 172.16.0.0/12. Default: a free 10.N.0.0/16, N in 200..254. */
  subnet4?: string;
  /** IPv6 subnet inside fd00::/8. Default fd00:10:N::/64 with the same N. */
  subnet6?: string;
  /** Registers cleanup() as a teardown. */
  t?: TeardownHost;
  /** Namespaces configured at once. Default: 2 × CPUs, at most 8. */
  concurrency?: number;
  /**
   * Fixed MAC addresses and permanent IPv4 neighbour entries on both sides (bridge → each namespace,
   * each namespace → bridge), so no ARP is needed. The kernel's ARP table is one for all namespaces
   * (net.ipv4.neigh.default.gc_thresh3, 1024 entries by default): 1,000 namespaces talking to the bridge
   * need 2,000 dynamic entries and about half of their exchanges fail, however slowly they are sent.
   * Permanent entries do not count against it. Default false.
   */
  staticNeighbors?: boolean;
  /**
   * Namespaces per bridge (a Linux bridge takes at most 1,024 ports). Beyond it the namespaces go to
   * more bridges (`${prefix}-br1`, ...), each joined to the first by a veth pair (`${prefix}-lN` /
   * `${prefix}-mN`): one layer-2 segment, one subnet, the host's address on the first bridge.
   * Default 1000; smaller only to test the chaining itself.
   */
  portsPerBridge?: number;
}

export interface NetnsNode {
  index: number;
  name: string;
  /** /run/netns/NAME */
  path: string;
  /** Host-side veth (a bridge port). */
  hostVeth: string;
  /** Interface inside the namespace. */
  ifname: 'eth0';
  ipv4: string;
  ipv6: string | undefined;
}

export interface Topology {
  prefix: string;
  bridge: { name: string; ipv4: string; ipv6: string | undefined };
  subnet4: string;
  subnet6: string | undefined;
  namespaces: NetnsNode[];
  /** Removes everything named `${prefix}-*`. Idempotent; safe to call concurrently. */
  cleanup(): Promise<void>;
}

export function randomPrefix(base = 'chd'): string {
  return checkPrefix(`${base}${randomBytes(2).toString('hex')}`);
}

/** Longest prefix that still leaves room for `-v999` in a 15-character interface name. */
export const MAX_PREFIX_LENGTH = IFNAMSIZ - '-v999'.length;
export const MAX_NAMESPACES = 4000;
const PORTS_PER_BRIDGE = 1000;

function checkPrefix(prefix: string): string {
  if (!PREFIX_RE.test(prefix) || prefix.length > MAX_PREFIX_LENGTH) {
    throw new Error(`prefix: ${JSON.stringify(prefix)} must be 1..${MAX_PREFIX_LENGTH} of a-z 0-9 - and start with a letter`);
  }
  return prefix;
}

export const bridgeName = (prefix: string, k = 0): string => (k === 0 ? `${prefix}-br` : `${prefix}-br${k}`);
export const nodeName = (prefix: string, i: number): string => `${prefix}-n${i}`;
export const vethName = (prefix: string, i: number): string => `${prefix}-v${i}`;

const TEST_RANGES_4 = ['10.0.0.0/8', '172.16.0.0/12'].map((r) => parseCidr(r));
const ULA_RANGE = parseCidr('fd00::/8');

function checkSubnet(text: string, field: string, ranges: Cidr[], count: number): Cidr {
  const c = parseCidr(text, field);
  if (!ranges.some((r) => contains(r, c))) throw new Error(`${field}: ${text} is not inside ${ranges.map(formatCidr).join(' or ')}`);
  // network address, bridge (+1), namespaces from +2; IPv4 also loses the broadcast address.
  const usable = size(c) - (c.family === 4 ? 3n : 2n);
  if (usable < BigInt(count)) throw new Error(`${field}: ${text} has room for ${usable} namespaces, ${count} asked`);
  return c;
}

async function usedPrefixes(): Promise<Cidr[]> {
  const routes = await Promise.all(
    ['-4', '-6'].map(async (f) => JSON.parse((await run(ip(), [f, '-j', 'route', 'show', 'table', 'all'])).stdout || '[]') as Array<{ dst?: string }>),
  );
  return routes
    .flat()
    .map((r) => r.dst)
    .filter((d): d is string => d !== undefined && d !== 'default')
    .flatMap((d) => {
      try {
        return [parseCidr(d)];
      } catch {
        return [];
      }
    });
}

// Two test files running at once (npm test's lanes) could both see N free and both take it: the
// routes appear only once a bridge is up. A claim file per N, created exclusively and holding the
// claimer's PID, closes that window; a claim whose process is gone is stale and taken over.
const CLAIMS = '/run/coredns-healthd-test-subnets';

/** Whether a process with this PID exists (EPERM: it does, owned by another user). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A claim file's text: `<pid> <prefix>` (the prefix of the topology that holds the subnet). */
function parseClaim(text: string): { pid: number; prefix: string | null } {
  const [pid, prefix] = text.trim().split(/\s+/);
  return { pid: Number(pid), prefix: prefix !== undefined && PREFIX_RE.test(prefix) && prefix.length <= MAX_PREFIX_LENGTH ? prefix : null };
}

function claim(n: number, prefix: string): boolean {
  mkdirSync(CLAIMS, { recursive: true });
  const file = `${CLAIMS}/${n}`;
  for (let i = 0; i < 2; i++) {
    try {
      writeFileSync(file, `${process.pid} ${prefix}`, { flag: 'wx' });
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    let owner = Number.NaN;
    try {
      owner = parseClaim(readFileSync(file, 'utf8')).pid;
    } catch {
      // released meanwhile: try again
    }
    if (Number.isInteger(owner) && owner > 0 && alive(owner)) return false;
    rmSync(file, { force: true });
  }
  return false;
}

function release(subnet4: string): void {
  const n = /^10\.(\d+)\.0\.0\/16$/.exec(subnet4)?.[1];
  if (n === undefined) return;
  const file = `${CLAIMS}/${n}`;
  try {
    if (parseClaim(readFileSync(file, 'utf8')).pid === process.pid) rmSync(file, { force: true });
  } catch {
    // not ours or already gone
  }
}

/**
 * Removes the namespaces and links of topologies whose builder died without cleaning up (a bench
 * or test killed with SIGKILL): a claim file naming a dead PID names their prefix. The claim file
 * itself is left for claim() to take over. Returns the prefixes it removed.
 */
export async function removeStaleTopologies(): Promise<string[]> {
  let files: string[];
  try {
    files = await readdir(CLAIMS);
  } catch {
    return [];
  }
  const stale = new Set<string>();
  for (const f of files) {
    let c: { pid: number; prefix: string | null };
    try {
      c = parseClaim(readFileSync(`${CLAIMS}/${f}`, 'utf8'));
    } catch {
      continue;
    }
    if (c.prefix !== null && Number.isInteger(c.pid) && c.pid > 0 && !alive(c.pid)) stale.add(c.prefix);
  }
  if (stale.size === 0) return [];
  const names = [...(await listNetns()), ...(await listLinks())];
  const left = [...stale].filter((prefix) => names.some(hasPrefix(prefix)));
  for (const prefix of left) await removeByPrefix(prefix);
  return left;
}

/** A 10.N.0.0/16 + fd00:10:N::/64 pair (N in 200..254) that no host route overlaps and no other test process claimed. */
async function pickSubnets(prefix: string): Promise<{ subnet4: string; subnet6: string }> {
  const used = await usedPrefixes();
  const candidates = Array.from({ length: 55 }, (_, i) => 200 + i).sort(() => Math.random() - 0.5);
  for (const n of candidates) {
    const pair = { subnet4: `10.${n}.0.0/16`, subnet6: `fd00:10:${n}::/64` };
    const mine = [parseCidr(pair.subnet4), parseCidr(pair.subnet6)];
    if (!used.some((u) => mine.some((m) => overlaps(u, m))) && claim(n, prefix)) return pair;
  }
  throw new Error('no free 10.N.0.0/16 (N in 200..254) on this host: pass subnet4/subnet6');
}

interface IpAddrInfo {
  family: string;
  local: string;
  prefixlen: number;
  tentative?: boolean;
  dadfailed?: boolean;
}
interface IpLink {
  ifname: string;
  flags: string[];
  master?: string;
  addr_info?: IpAddrInfo[];
}

/** Pure check of `ip -j addr show` output: link up with the wanted addresses, none tentative. */
export function missingConfig(links: IpLink[], ifname: string, addresses: Array<{ local: string; prefixlen: number }>, needCarrier: boolean): string[] {
  const link = links.find((l) => l.ifname === ifname);
  if (!link) return [`${ifname} missing`];
  const problems: string[] = [];
  if (!link.flags.includes('UP')) problems.push(`${ifname} not UP`);
  if (needCarrier && !link.flags.includes('LOWER_UP')) problems.push(`${ifname} has no carrier`);
  for (const want of addresses) {
    const got = link.addr_info?.find((a) => a.local === want.local && a.prefixlen === want.prefixlen);
    if (!got) problems.push(`${ifname} lacks ${want.local}/${want.prefixlen}`);
    else if (got.tentative || got.dadfailed) problems.push(`${ifname} address ${want.local} is tentative`);
  }
  return problems;
}

function parseJsonArrays(text: string): IpLink[] {
  // `ip -j -batch` prints one JSON array per command that prints; only `addr show` does here.
  const start = text.indexOf('[');
  if (start < 0) throw new Error(`no JSON in ip output: ${text.slice(0, 200)}`);
  return JSON.parse(text.slice(start)) as IpLink[];
}

/** Builds the bridge and `count` namespaces, verified; on any failure removes what it built. */
export async function createTopology(opts: TopologyOptions): Promise<Topology> {
  const { count } = opts;
  if (!Number.isInteger(count) || count < 1 || count > MAX_NAMESPACES) throw new Error(`count: must be an integer 1..${MAX_NAMESPACES}, got ${count}`);
  const prefix = opts.prefix === undefined ? randomPrefix() : checkPrefix(opts.prefix);
  const ipv6 = opts.ipv6 ?? true;
  // Each namespace costs one short `ip` process; a few in flight hide the fork latency.
  const concurrency = opts.concurrency ?? Math.min(8, 2 * availableParallelism());
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`concurrency: must be a positive integer, got ${concurrency}`);
  if (opts.subnet6 !== undefined && !ipv6) throw new Error('subnet6: given while ipv6 is false');
  if (prefix.length + vethName('', count - 1).length > IFNAMSIZ) {
    throw new Error(`prefix: ${JSON.stringify(prefix)} leaves no room for ${count} interface names (${IFNAMSIZ} characters at most)`);
  }
  const perBridge = opts.portsPerBridge ?? PORTS_PER_BRIDGE;
  if (!Number.isInteger(perBridge) || perBridge < 1 || perBridge > PORTS_PER_BRIDGE) {
    throw new Error(`portsPerBridge: must be an integer 1..${PORTS_PER_BRIDGE}, got ${perBridge}`);
  }

  let inflight: Promise<void> | undefined;
  let claimed: string | undefined;
  const cleanup = (): Promise<void> =>
    (inflight ??= removeByPrefix(prefix).finally(() => {
      inflight = undefined;
      if (claimed !== undefined) release(claimed);
      claimed = undefined;
    }));
  opts.t?.teardown(cleanup);

  try {
    await removeByPrefix(prefix); // leftovers of an earlier run with the same prefix
    await removeStaleTopologies(); // and of runs killed before their cleanup
    const picked = opts.subnet4 === undefined || (ipv6 && opts.subnet6 === undefined) ? await pickSubnets(prefix) : undefined;
    claimed = picked?.subnet4;
    const net4 = checkSubnet(opts.subnet4 ?? picked!.subnet4, 'subnet4', TEST_RANGES_4, count);
    const net6 = ipv6 ? checkSubnet(opts.subnet6 ?? picked!.subnet6, 'subnet6', [ULA_RANGE], count) : undefined;

    const bridge = { name: bridgeName(prefix), ipv4: host(net4, 1), ipv6: net6 && host(net6, 1) };
    const namespaces: NetnsNode[] = Array.from({ length: count }, (_, i) => ({
      index: i,
      name: nodeName(prefix, i),
      path: netnsPath(nodeName(prefix, i)),
      hostVeth: vethName(prefix, i),
      ifname: 'eth0',
      ipv4: host(net4, i + 2),
      ipv6: net6 && host(net6, i + 2),
    }));

    const statics = opts.staticNeighbors ?? false;
    // One `ip` for all host-side links: ~10 ms per namespace, more on a loaded machine.
    await run(ip(), ['-batch', '-'], { input: hostBatch(prefix, bridge, net4, net6, namespaces, statics, perBridge), timeoutMs: 30_000 + 100 * count });
    await mapLimit(namespaces, concurrency, (node) => configureNode(node, bridge, net4, net6, statics));
    await verifyBridge(prefix, bridge, net4, net6, count, perBridge);

    return {
      prefix,
      bridge,
      subnet4: formatCidr(net4),
      subnet6: net6 && formatCidr(net6),
      namespaces,
      cleanup,
    };
  } catch (err) {
    await cleanup().catch(() => undefined);
    throw err;
  }
}

/** Locally administered MACs for staticNeighbors: the bridge's, and each namespace's eth0 from its index. */
export const BRIDGE_MAC = '02:cd:ff:ff:ff:ff';
export const nodeMac = (index: number): string =>
  `02:cd:00:${[(index >> 16) & 0xff, (index >> 8) & 0xff, index & 0xff].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;

function hostBatch(
  prefix: string,
  bridge: Topology['bridge'],
  net4: Cidr,
  net6: Cidr | undefined,
  namespaces: NetnsNode[],
  statics: boolean,
  perBridge: number,
): string {
  const lines = [`link add ${bridge.name} type bridge`, `addr add ${bridge.ipv4}/${net4.prefixLength} dev ${bridge.name}`];
  if (net6) lines.push(`addr add ${bridge.ipv6}/${net6.prefixLength} dev ${bridge.name} nodad`);
  if (statics) lines.push(`link set ${bridge.name} address ${BRIDGE_MAC}`);
  lines.push(`link set ${bridge.name} up`);
  // More bridges for more namespaces, each joined to the first by a veth pair.
  for (let k = 1; k * perBridge < namespaces.length; k++) {
    lines.push(
      `link add ${bridgeName(prefix, k)} type bridge`,
      `link set ${bridgeName(prefix, k)} up`,
      `link add ${prefix}-l${k} type veth peer name ${prefix}-m${k}`,
      `link set ${prefix}-l${k} master ${bridge.name} up`,
      `link set ${prefix}-m${k} master ${bridgeName(prefix, k)} up`,
    );
  }
  for (const n of namespaces) {
    lines.push(
      `netns add ${n.name}`,
      `link add ${n.hostVeth} type veth peer name ${n.ifname}${statics ? ` address ${nodeMac(n.index)}` : ''} netns ${n.name}`,
      `link set ${n.hostVeth} master ${bridgeName(prefix, Math.floor(n.index / perBridge))} up`,
    );
    // The address is on the first bridge, whichever bridge the namespace's port is on.
    if (statics) lines.push(`neigh replace ${n.ipv4} lladdr ${nodeMac(n.index)} dev ${bridge.name} nud permanent`);
  }
  return `${lines.join('\n')}\n`;
}

async function configureNode(node: NetnsNode, bridge: Topology['bridge'], net4: Cidr, net6: Cidr | undefined, statics: boolean): Promise<void> {
  const lines = ['link set lo up', `link set ${node.ifname} up`, `addr add ${node.ipv4}/${net4.prefixLength} dev ${node.ifname}`];
  if (statics) lines.push(`neigh replace ${bridge.ipv4} lladdr ${BRIDGE_MAC} dev ${node.ifname} nud permanent`);
  if (net6) lines.push(`addr add ${node.ipv6}/${net6.prefixLength} dev ${node.ifname} nodad`);
  lines.push(`route add default via ${bridge.ipv4}`);
  if (net6) lines.push(`route add default via ${bridge.ipv6}`);
  lines.push('addr show');
  const { stdout } = await run(ip(), ['-n', node.name, '-j', '-batch', '-'], { input: `${lines.join('\n')}\n` });
  const links = parseJsonArrays(stdout);
  const want = [{ local: node.ipv4, prefixlen: net4.prefixLength }];
  if (net6 && node.ipv6) want.push({ local: node.ipv6, prefixlen: net6.prefixLength });
  const problems = [...missingConfig(links, 'lo', [{ local: '127.0.0.1', prefixlen: 8 }], false), ...missingConfig(links, node.ifname, want, true)];
  if (problems.length > 0) throw new Error(`netns ${node.name} is not set up: ${problems.join('; ')}`);
}

async function verifyBridge(prefix: string, bridge: Topology['bridge'], net4: Cidr, net6: Cidr | undefined, count: number, perBridge: number): Promise<void> {
  const links = JSON.parse((await run(ip(), ['-j', 'addr', 'show', 'dev', bridge.name])).stdout) as IpLink[];
  const want = [{ local: bridge.ipv4, prefixlen: net4.prefixLength }];
  if (net6 && bridge.ipv6) want.push({ local: bridge.ipv6, prefixlen: net6.prefixLength });
  const problems = missingConfig(links, bridge.name, want, true);
  const bridges = Math.ceil(count / perBridge);
  for (let k = 0; k < bridges; k++) {
    const name = bridgeName(prefix, k);
    const ports = JSON.parse((await run(ip(), ['-j', 'link', 'show', 'master', name])).stdout || '[]') as IpLink[];
    // The first bridge also holds one end of each link to the others; each other bridge its own end.
    const expected = Math.min(perBridge, count - k * perBridge) + (k === 0 ? bridges - 1 : 1);
    if (ports.length !== expected) problems.push(`${name}: ${ports.length} ports, ${expected} expected`);
  }
  if (problems.length > 0) throw new Error(`bridge ${bridge.name} is not set up: ${problems.join('; ')}`);
}
