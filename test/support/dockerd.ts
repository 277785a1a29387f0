// The test suite's own dockerd, shared by every test file of a run.
//
// dockerd-up.sh starts it (isolated: own socket, data root, containerd, bridge; no iptables, no
// IP forwarding) and imports the busybox image; it is idempotent, so CI runs it once up front and
// a test file that finds no daemon runs it itself. The daemon is left running for the next test
// file (it outlives the test process); stop it with test/support/dockerd-down.sh or stopDockerd().
// Paths and names live in dockerd-env.sh, read here so the shell and TypeScript sides agree.
import { readFileSync } from 'node:fs';
import Docker from 'dockerode';
import { sh } from './run.js';
import { repoPath } from './paths.js';

const scriptPath = (name: string): string => repoPath('test/support', name);

const ENV_KEYS = ['CHD_TEST_DOCKER_SOCK', 'CHD_TEST_DOCKER_LOG', 'CHD_TEST_BRIDGE', 'CHD_TEST_BRIDGE_ADDR', 'CHD_TEST_IMAGE'] as const;
type EnvKey = (typeof ENV_KEYS)[number];

/** Parses the KEY=value lines of dockerd-env.sh. */
function parseDockerdEnv(text: string, file: string): Record<EnvKey, string> {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^([A-Z0-9_]+)=(\S+)$/.exec(line.trim());
    if (m) values.set(m[1]!, m[2]!);
  }
  const env = {} as Record<EnvKey, string>;
  for (const key of ENV_KEYS) {
    const value = values.get(key);
    if (value === undefined) throw new Error(`${file}: missing ${key}=value`);
    env[key] = value;
  }
  return env;
}

const envFile = scriptPath('./dockerd-env.sh');
const env = parseDockerdEnv(readFileSync(envFile, 'utf8'), envFile);

/** The test dockerd's API socket. */
export const TEST_DOCKER_SOCKET = env.CHD_TEST_DOCKER_SOCK;
/** The test dockerd's log file. */
export const TEST_DOCKER_LOG = env.CHD_TEST_DOCKER_LOG;
/** The bridge the test dockerd puts containers on. */
export const TEST_BRIDGE = env.CHD_TEST_BRIDGE;
/** The host's address on that bridge: run test DNS servers here and give it to containers as --dns. */
export const TEST_BRIDGE_ADDR = env.CHD_TEST_BRIDGE_ADDR;
/** The busybox image (sh, sleep, cat, nslookup, ... every busybox applet in /bin). */
export const BUSYBOX_IMAGE = env.CHD_TEST_IMAGE;

const PING_TIMEOUT_MS = 2_000;
const SCRIPT_TIMEOUT_MS = 120_000;

/** A client for the test dockerd. */
export function testDockerClient(): Docker {
  return new Docker({ socketPath: TEST_DOCKER_SOCKET });
}

async function answers(): Promise<boolean> {
  try {
    await new Docker({ socketPath: TEST_DOCKER_SOCKET, timeout: PING_TIMEOUT_MS }).ping();
    return true;
  } catch {
    return false;
  }
}

async function hasImage(docker: Docker, name: string): Promise<boolean> {
  try {
    await docker.getImage(name).inspect();
    return true;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return false;
    throw err;
  }
}

function logTail(lines = 30): string {
  try {
    return readFileSync(TEST_DOCKER_LOG, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch (err) {
    return `(no log: ${(err as Error).message})`;
  }
}

/** Runs one of the dockerd-*.sh scripts; a failure carries its stderr (with the dockerd log tail). */
const runScript = (name: string, args: string[] = []): Promise<string> => sh('bash', [scriptPath(name), ...args], { timeoutMs: SCRIPT_TIMEOUT_MS });

/**
 * Runs dockerd-up.sh (starts the test dockerd unless it answers, imports the busybox image unless
 * present) and returns a client once the API answers. Throws with the dockerd log tail on failure.
 */
export async function startDockerd(): Promise<Docker> {
  await runScript('./dockerd-up.sh');
  if (!(await answers())) {
    throw new Error(`test dockerd started but ${TEST_DOCKER_SOCKET} does not answer /_ping; ` + `tail of ${TEST_DOCKER_LOG}:\n${logTail()}`);
  }
  return testDockerClient();
}

/** Reuses the running test dockerd (with its image) when it answers; otherwise startDockerd(). */
export async function ensureDockerd(): Promise<Docker> {
  const docker = testDockerClient();
  if ((await answers()) && (await hasImage(docker, BUSYBOX_IMAGE))) return docker;
  return startDockerd();
}

/** Makes sure the busybox image is present in the test dockerd; returns its name. */
export async function ensureBusyboxImage(docker: Docker): Promise<string> {
  if (await hasImage(docker, BUSYBOX_IMAGE)) return BUSYBOX_IMAGE;
  await runScript('./dockerd-up.sh');
  if (!(await hasImage(docker, BUSYBOX_IMAGE))) {
    throw new Error(`${BUSYBOX_IMAGE} still missing after dockerd-up.sh (is this client for ${TEST_DOCKER_SOCKET}?)`);
  }
  return BUSYBOX_IMAGE;
}

/** Stops the test dockerd (removing its containers and bridge); purge also deletes its images. */
export async function stopDockerd(opts: { purge?: boolean } = {}): Promise<void> {
  await runScript('./dockerd-down.sh', opts.purge ? ['--purge'] : []);
}

export interface RunContainerOptions {
  /** Container name; start it with the test's prefix so cleanupContainers() finds it. */
  name: string;
  /** Command, e.g. ['sleep', '3600']. */
  cmd: string[];
  /** Nameservers for the container's resolv.conf (--dns): addresses the test controls. */
  dns?: string[];
  labels?: Record<string, string>;
  /** --network: 'bridge' (default), 'host', 'none', 'container:<id>'. */
  networkMode?: string;
}

export interface RunningContainer {
  id: string;
  name: string;
  /** Host PID of the container's init process. */
  pid: number;
}

/** Creates and starts a busybox container; resolves once it runs. */
export async function runContainer(docker: Docker, opts: RunContainerOptions): Promise<RunningContainer> {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(opts.name)) {
    throw new Error(`runContainer: invalid container name '${opts.name}'`);
  }
  if (opts.cmd.length === 0) throw new Error('runContainer: cmd must not be empty');
  const container = await docker.createContainer({
    name: opts.name,
    Image: BUSYBOX_IMAGE,
    Cmd: opts.cmd,
    Labels: opts.labels ?? {},
    HostConfig: { Dns: opts.dns ?? [], NetworkMode: opts.networkMode ?? 'bridge' },
  });
  await container.start();
  const info = await container.inspect();
  if (!info.State.Running || info.State.Pid <= 0) {
    throw new Error(`runContainer: ${opts.name} is not running (status ${info.State.Status})`);
  }
  return { id: info.Id, name: opts.name, pid: info.State.Pid };
}

/** Force-removes every container (running or not) whose name starts with prefix; returns how many. */
export async function removeContainers(docker: Docker, prefix: string): Promise<number> {
  if (prefix.length < 3) throw new Error(`removeContainers: prefix '${prefix}' is too short to be a test's own`);
  const all = await docker.listContainers({ all: true });
  const mine = all.filter((c) => c.Names.some((n) => n.replace(/^\//, '').startsWith(prefix)));
  await Promise.all(
    mine.map(async (c) => {
      try {
        await docker.getContainer(c.Id).remove({ force: true, v: true });
      } catch (err) {
        if ((err as { statusCode?: number }).statusCode !== 404) throw err;
      }
    }),
  );
  return mine.length;
}

/** Removes leftovers of an earlier run now, and this test's containers at teardown. */
export async function cleanupContainers(t: { teardown(fn: () => unknown): void }, docker: Docker, prefix: string): Promise<void> {
  await removeContainers(docker, prefix);
  t.teardown(() => removeContainers(docker, prefix));
}
