// Debian's dnsmasq as a local-data-only DNS server for tests: it answers the records given here,
// refuses everything else and never forwards (no upstream servers, no resolv.conf, no hosts file).
import { isIP } from 'node:net';
import { dig } from './dig.js';
import type { TeardownHost } from './netns.js';
import { sleep, which } from './run.js';
import { describeExit, spawnService, type Service } from './service.js';

export interface DnsmasqOptions {
  /** Address to listen on (bind-interfaces): 127.0.0.1 in a netns, a bridge or veth address, ... */
  listen: string;
  /** Default 53. */
  port?: number;
  /** Named network namespace to run in; the host netns when absent. */
  netns?: string;
  /** name → address(es). Default { 'kubernetes.default.svc.cluster.local': ['10.96.0.1'] }. */
  records?: Record<string, string | string[]>;
  /** Registers stop() as a teardown. */
  t?: TeardownHost;
  /** Log every query to stderr (see stderr()). */
  logQueries?: boolean;
  /** How long to wait until it answers. Default 10 s. */
  readyTimeoutMs?: number;
}

export interface Dnsmasq {
  listen: string;
  port: number;
  netns: string | undefined;
  pid: number;
  service: Service;
  stop(): Promise<void>;
}

export const DEFAULT_RECORDS: Readonly<Record<string, string[]>> = { 'kubernetes.default.svc.cluster.local': ['10.96.0.1'] };

/** Pure: the dnsmasq command line for these options. */
export function dnsmasqArgs(o: DnsmasqOptions): string[] {
  if (isIP(o.listen) === 0) throw new Error(`listen: not an IP address: ${JSON.stringify(o.listen)}`);
  const port = o.port ?? 53;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`port: must be 1..65535, got ${port}`);
  const records = Object.entries(o.records ?? DEFAULT_RECORDS);
  if (records.length === 0) throw new Error('records: at least one name is needed (readiness is checked by querying it)');
  const args = [
    '--keep-in-foreground', // not --no-daemon: that debug mode serves TCP inline and stalls UDP
    '--conf-file=/dev/null',
    '--no-resolv',
    '--no-hosts',
    '--no-poll',
    '--bind-interfaces',
    `--listen-address=${o.listen}`,
    `--port=${port}`,
    '--pid-file=', // no pid file
    '--log-facility=-',
  ];
  for (const [name, value] of records) {
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new Error(`records: bad name ${JSON.stringify(name)}`);
    for (const address of Array.isArray(value) ? value : [value]) {
      if (isIP(address) === 0) throw new Error(`records[${name}]: not an IP address: ${JSON.stringify(address)}`);
      args.push(`--address=/${name}/${address}`);
    }
  }
  if (o.logQueries) args.push('--log-queries');
  return args;
}

export async function startDnsmasq(opts: DnsmasqOptions): Promise<Dnsmasq> {
  const args = dnsmasqArgs(opts);
  const port = opts.port ?? 53;
  const [name, value] = Object.entries(opts.records ?? DEFAULT_RECORDS)[0] as [string, string | string[]];
  const first = Array.isArray(value) ? value[0] : value;
  const type = first !== undefined && isIP(first) === 6 ? 'AAAA' : 'A';
  const service = spawnService(which('dnsmasq'), args, opts.netns === undefined ? {} : { netns: opts.netns });
  const stop = async (): Promise<void> => {
    await service.stop();
  };
  opts.t?.teardown(stop);
  const where = opts.netns === undefined ? 'host netns' : `netns ${opts.netns}`;

  try {
    // Ready = it logged "started" (printed once its sockets are bound, so another server already
    // on that port cannot pass for it) and it answers the first record, asked from where it runs.
    const deadline = Date.now() + (opts.readyTimeoutMs ?? 10_000);
    const alive = (): boolean => service.child.exitCode === null && service.child.signalCode === null;
    for (;;) {
      if (!alive()) throw new Error(`dnsmasq (${where}) ${describeExit(await service.exited, service.stderr())}`);
      if (/started, version/.test(service.stderr())) {
        const r = await dig({ server: opts.listen, port, name, type, timeSec: 1, ...(opts.netns === undefined ? {} : { netns: opts.netns }) });
        if (r.status === 'NOERROR' && r.answers.length > 0 && alive()) break;
      }
      if (Date.now() >= deadline) throw new Error(`dnsmasq (${where}) does not answer on ${opts.listen} port ${port}: ${service.stderr().trim()}`);
      await sleep(25);
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { listen: opts.listen, port, netns: opts.netns, pid: service.pid, service, stop };
}
