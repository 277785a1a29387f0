// Docker discovery: the running containers of a Docker Engine, with the host PID of each
// (State.Pid), its name, labels (io.kubernetes.* for pods) and network mode.
//
// No Docker at all is a normal state on containerd and CRI-O nodes: that is `available: false`
// with code 'no-socket', for the caller to log once. Every other failure is reported in `error`,
// never thrown; only invalid options throw. A container that stops or is removed between the list
// and its inspect is skipped silently.
import { stat } from 'node:fs/promises';
import type Docker from 'dockerode';
import { capString, errorMessage, MAX_FIELD, MAX_ITEMS } from '../text/untrusted.js';
import { LABEL_CONTAINER_NAME, LABEL_DOCKER_TYPE, LABEL_POD_NAME, LABEL_POD_NAMESPACE, LABEL_POD_UID, type DockerContainerInfo } from './vantage.js';

/** A running container as the Engine API reports it. */
export interface DiscoveredContainer extends DockerContainerInfo {
  /** HostConfig.NetworkMode: 'default', 'bridge', 'host', 'none', 'container:<id>' or a network name. */
  networkMode: string;
}

export type DockerErrorCode =
  /** Nothing listens on the socket path (ENOENT, ECONNREFUSED, ENOTSOCK): no Docker here. */
  | 'no-socket'
  /** The socket exists but this process may not use it (EACCES, EPERM). */
  | 'permission-denied'
  /** The Engine did not answer within timeoutMs. */
  | 'timeout'
  /** The Engine answered with an HTTP error status. */
  | 'api-error'
  /** Something answered that is not the Engine API (not HTTP, or not the expected JSON). */
  | 'bad-response'
  /** Some other socket error (e.g. the connection was reset). */
  | 'connection-error'
  /** The list worked but some containers could not be inspected; the others are reported. */
  | 'inspect-failed';

export interface DockerDiscoveryError {
  code: DockerErrorCode;
  message: string;
}

export interface DockerDiscovery {
  /** True when the Engine listed its containers (even if some inspects then failed). */
  available: boolean;
  containers: DiscoveredContainer[];
  error?: DockerDiscoveryError;
}

export interface DockerDiscoveryOptions {
  /** The Engine API's unix socket, e.g. /var/run/docker.sock. */
  socketPath: string;
  /** Deadline for the whole discovery (list and every inspect), in milliseconds. */
  timeoutMs: number;
  /** Inspects in flight at once (default 8). */
  concurrency?: number;
}

const DEFAULT_CONCURRENCY = 8;

/** Thrown inside this module for a reply that is not what the Engine API sends. */
class BadResponse extends Error {}

function validateOptions(opts: DockerDiscoveryOptions): Required<DockerDiscoveryOptions> {
  const { socketPath, timeoutMs, concurrency = DEFAULT_CONCURRENCY } = opts;
  if (typeof socketPath !== 'string' || socketPath.trim() === '') {
    throw new TypeError(`discoverDocker: socketPath must be a non-empty path, got ${JSON.stringify(socketPath)}`);
  }
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new TypeError(`discoverDocker: timeoutMs must be a positive number, got ${String(timeoutMs)}`);
  }
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new TypeError(`discoverDocker: concurrency must be a positive integer, got ${String(concurrency)}`);
  }
  return { socketPath, timeoutMs, concurrency };
}

const statusCode = (err: unknown): number | undefined => {
  const s = (err as { statusCode?: unknown } | null)?.statusCode;
  return typeof s === 'number' ? s : undefined;
};

const errnoCode = (err: unknown): string | undefined => {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : undefined;
};

/** Maps a failed request to a code and a message that names the socket. */
export function classifyDockerError(err: unknown, socketPath: string, timedOut: boolean): DockerDiscoveryError {
  // An Engine error message may quote what a container's creator chose (its name, an image reference).
  const detail = capString(errorMessage(err).trim(), MAX_FIELD);
  if (timedOut) return { code: 'timeout', message: `Docker API at ${socketPath} did not answer in time` };
  if (err instanceof BadResponse) return { code: 'bad-response', message: `Docker API at ${socketPath}: ${detail}` };
  const status = statusCode(err);
  if (status !== undefined) return { code: 'api-error', message: `Docker API at ${socketPath}: ${detail}` };
  const code = errnoCode(err);
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR':
    case 'ECONNREFUSED':
    case 'ENOTSOCK':
      return { code: 'no-socket', message: `no Docker API at ${socketPath} (${code})` };
    case 'EACCES':
    case 'EPERM':
      return { code: 'permission-denied', message: `not allowed to use ${socketPath} (${code})` };
  }
  if (code?.startsWith('HPE_')) {
    return { code: 'bad-response', message: `${socketPath} does not speak HTTP (${code}: ${detail})` };
  }
  return { code: 'connection-error', message: `Docker API at ${socketPath}: ${code ? `${code}: ` : ''}${detail}` };
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

// What a container's creator chooses (its name, its labels) is capped as it
// is read: MAX_FIELD characters each, the labels the merge reads
// (io.kubernetes.*, see vantage.ts) always kept, any other labels at most
// MAX_ITEMS. The values are kept raw; text output escapes them.
const WANTED_LABELS: ReadonlySet<string> = new Set([LABEL_POD_NAME, LABEL_POD_NAMESPACE, LABEL_POD_UID, LABEL_CONTAINER_NAME, LABEL_DOCKER_TYPE]);

/** A container's labels: string values only, capped (see above). */
export function stringRecord(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isObject(v)) return out;
  let others = 0;
  for (const k in v) {
    if (!Object.hasOwn(v, k)) continue;
    const val = v[k];
    if (typeof val !== 'string') continue;
    if (!WANTED_LABELS.has(k)) {
      if (others >= MAX_ITEMS || k.length > MAX_FIELD) continue;
      others++;
    }
    out[k] = capString(val, MAX_FIELD);
  }
  return out;
}

/** IDs from a GET /containers/json reply. */
export function parseContainerList(body: unknown): string[] {
  if (!Array.isArray(body)) throw new BadResponse('container list is not a JSON array');
  return body.map((entry, i) => {
    const id = isObject(entry) ? entry.Id : undefined;
    if (typeof id !== 'string' || id === '') throw new BadResponse(`container list entry ${i} has no Id`);
    return id;
  });
}

/** A GET /containers/<id>/json reply; null for a container that is no longer running. */
export function parseContainerInspect(body: unknown, id: string): DiscoveredContainer | null {
  if (!isObject(body) || !isObject(body.State)) throw new BadResponse(`inspect of ${id} has no State`);
  const { Running, Pid } = body.State;
  if (Running !== true || typeof Pid !== 'number' || !Number.isInteger(Pid) || Pid <= 0) return null;
  const config = isObject(body.Config) ? body.Config : {};
  const hostConfig = isObject(body.HostConfig) ? body.HostConfig : {};
  return {
    id: capString(typeof body.Id === 'string' && body.Id !== '' ? body.Id : id, MAX_FIELD),
    name: capString(typeof body.Name === 'string' ? body.Name.replace(/^\//, '') : '', MAX_FIELD),
    pid: Pid,
    labels: stringRecord(config.Labels),
    networkMode: capString(typeof hostConfig.NetworkMode === 'string' ? hostConfig.NetworkMode : '', MAX_FIELD),
  };
}

/** Runs fn over items with at most `limit` calls in flight; results keep the input order. */
async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

const errnoError = (code: string): NodeJS.ErrnoException => Object.assign(new Error(code), { code });

type InspectOutcome = { container: DiscoveredContainer | null } | { error: DockerDiscoveryError };

/** Lists the running containers of the Docker Engine at socketPath and inspects each. Never throws on API failures. */
export async function discoverDocker(options: DockerDiscoveryOptions): Promise<DockerDiscovery> {
  const { socketPath, timeoutMs, concurrency } = validateOptions(options);
  // Loaded on first use, once there is a socket to talk to: a node without
  // Docker (containerd, CRI-O) never pays for dockerode (~25 MiB of RSS).
  try {
    const st = await stat(socketPath);
    if (!st.isSocket()) return { available: false, containers: [], error: classifyDockerError(errnoError('ENOTSOCK'), socketPath, false) };
  } catch (err) {
    return { available: false, containers: [], error: classifyDockerError(err, socketPath, false) };
  }
  const { default: DockerClient } = await import('dockerode');
  const docker: Docker = new DockerClient({ socketPath });
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), timeoutMs);
  const fail = (err: unknown): DockerDiscoveryError => classifyDockerError(err, socketPath, deadline.signal.aborted);
  try {
    let ids: string[];
    try {
      ids = parseContainerList(await docker.listContainers({ abortSignal: deadline.signal }));
    } catch (err) {
      return { available: false, containers: [], error: fail(err) };
    }

    const outcomes = await mapLimit(ids, concurrency, async (id): Promise<InspectOutcome> => {
      try {
        const body: unknown = await docker.getContainer(id).inspect({ abortSignal: deadline.signal });
        return { container: parseContainerInspect(body, id) };
      } catch (err) {
        if (statusCode(err) === 404) return { container: null }; // removed since the list
        return { error: fail(err) };
      }
    });

    const containers: DiscoveredContainer[] = [];
    const errors: DockerDiscoveryError[] = [];
    for (const o of outcomes) {
      if ('error' in o) errors.push(o.error);
      else if (o.container) containers.push(o.container);
    }
    if (errors.length === 0) return { available: true, containers };
    const first = errors[0]!;
    const code = errors.every((e) => e.code === 'timeout') ? 'timeout' : 'inspect-failed';
    return {
      available: true,
      containers,
      error: { code, message: `${errors.length} of ${ids.length} containers could not be inspected: ${first.message}` },
    };
  } finally {
    clearTimeout(timer);
  }
}
