// Starts responder.js as its own process, inside a network namespace when asked, and waits for
// its READY line. The in-process variant is startResponder() from responder.js itself.
import type { QueryRecord, ResponderInfo, ResponderOptions } from './responder.js';
import type { TeardownHost } from './netns.js';
import { describeExit, spawnService, type Service } from './service.js';
import { repoPath } from './paths.js';

export const RESPONDER_SCRIPT = repoPath('test/support/responder.js');

export interface SpawnResponderOptions extends Omit<ResponderOptions, 'onQuery'> {
  /** Named network namespace to run in; the host netns when absent. */
  netns?: string;
  /** Registers stop() as a teardown. */
  t?: TeardownHost;
  /** How long to wait for READY. Default 10 s. */
  readyTimeoutMs?: number;
}

export interface SpawnedResponder extends ResponderInfo {
  pid: number;
  netns: string | undefined;
  /** Queries seen so far (only with logQueries). */
  queries: QueryRecord[];
  service: Service;
  /** SIGTERM (SIGKILL after a grace period); resolves once the process is gone. Idempotent. */
  stop(): Promise<void>;
}

/** The responder's command-line flags for these options. */
export function responderArgs(o: Omit<SpawnResponderOptions, 'netns' | 't' | 'readyTimeoutMs'>): string[] {
  const args: string[] = [];
  const flag = (name: string, value: string | number | undefined): void => {
    if (value !== undefined) args.push(`--${name}`, String(value));
  };
  flag('listen', o.listen);
  flag('port', o.port);
  flag('mode', o.mode);
  flag('name', o.name);
  for (const a of o.addresses ?? []) flag('address', a);
  for (const a of o.wrongAddresses ?? []) flag('wrong-address', a);
  flag('delay-ms', o.delayMs);
  flag('ttl', o.ttl);
  flag('spoof', o.spoof);
  flag('spoof-count', o.spoofCount);
  if (o.logQueries) args.push('--log-queries');
  return args;
}

export async function spawnResponder(opts: SpawnResponderOptions = {}): Promise<SpawnedResponder> {
  const { netns, t, readyTimeoutMs = 10_000, ...rest } = opts;
  const queries: QueryRecord[] = [];
  let onReady: (info: ResponderInfo & { pid: number }) => void = () => undefined;
  const ready = new Promise<ResponderInfo & { pid: number }>((resolve) => (onReady = resolve));
  const service = spawnService(process.execPath, [RESPONDER_SCRIPT, ...responderArgs(rest)], {
    ...(netns === undefined ? {} : { netns }),
    onLine: (line) => {
      if (line.startsWith('READY ')) onReady(JSON.parse(line.slice(6)) as ResponderInfo & { pid: number });
      else if (line.startsWith('QUERY ')) queries.push(JSON.parse(line.slice(6)) as QueryRecord);
    },
  });
  const stop = async (): Promise<void> => {
    await service.stop();
  };
  t?.teardown(stop);

  let timer: NodeJS.Timeout | undefined;
  const where = netns === undefined ? 'host netns' : `netns ${netns}`;
  try {
    const info = await Promise.race([
      ready,
      service.exited.then((exit) => {
        throw new Error(`responder (${where}) ${describeExit(exit, service.stderr())}`);
      }),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`responder (${where}) not READY after ${readyTimeoutMs} ms: ${service.stderr().trim()}`)), readyTimeoutMs);
      }),
    ]);
    return { ...info, pid: service.pid, netns, queries, service, stop };
  } catch (err) {
    await stop();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
