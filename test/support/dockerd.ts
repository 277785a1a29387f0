// The test suite's own dockerds. The shared one (dockerd-env.sh) serves every test file of the
// integration lane; the parallel lane's (dockerd-env-parallel.sh: other socket, data root, exec
// root and bridge) serves the one file there that needs Docker, so the two lanes never list each
// other's containers.
//
// dockerd-up.sh starts one (isolated: own socket, data root, containerd, bridge; no iptables, no
// IP forwarding) and imports the busybox image; it is idempotent, so CI runs it once up front and
// a test file that finds no daemon runs it itself. The daemon is left running for the next test
// file (it outlives the test process); stop it with test/support/dockerd-down.sh or stopDockerd().
// CHD_TEST_DOCKERD=parallel makes both scripts work on the parallel lane's instead.
// Paths and names live in the env files, read here so the shell and TypeScript sides agree.
import { readFileSync } from 'node:fs';
import Docker from 'dockerode';
import { sh } from './run.js';
import { repoPath } from './paths.js';

const scriptPath = (name: string): string => repoPath('test/support', name);

const ENV_KEYS = ['CHD_TEST_DOCKER_SOCK', 'CHD_TEST_DOCKER_LOG', 'CHD_TEST_BRIDGE', 'CHD_TEST_BRIDGE_ADDR', 'CHD_TEST_IMAGE'] as const;
type EnvKey = (typeof ENV_KEYS)[number];

/** Parses the KEY=value lines of dockerd-env*.sh. */
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

const PING_TIMEOUT_MS = 2_000;
const SCRIPT_TIMEOUT_MS = 120_000;

async function hasImage(docker: Docker, name: string): Promise<boolean> {
  try {
    await docker.getImage(name).inspect();
    return true;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return false;
    throw err;
  }
}

/** One test dockerd: '' the shared one, 'parallel' the parallel lane's. */
export class TestDockerd {
  /** Its API socket. */
  readonly socket: string;
  /** Its log file. */
  readonly log: string;
  /** The bridge it puts containers on. */
  readonly bridge: string;
  /** The host's address on that bridge: run test DNS servers here and give it to containers as --dns. */
  readonly bridgeAddr: string;
  /** The busybox image (sh, sleep, cat, nslookup, ... every busybox applet in /bin). */
  readonly image: string;

  constructor(readonly instance: '' | 'parallel') {
    const file = scriptPath(instance ? `./dockerd-env-${instance}.sh` : './dockerd-env.sh');
    const env = parseDockerdEnv(readFileSync(file, 'utf8'), file);
    this.socket = env.CHD_TEST_DOCKER_SOCK;
    this.log = env.CHD_TEST_DOCKER_LOG;
    this.bridge = env.CHD_TEST_BRIDGE;
    this.bridgeAddr = env.CHD_TEST_BRIDGE_ADDR;
    this.image = env.CHD_TEST_IMAGE;
  }

  /** A client for this dockerd. */
  client(): Docker {
    return new Docker({ socketPath: this.socket });
  }

  async answers(): Promise<boolean> {
    try {
      await new Docker({ socketPath: this.socket, timeout: PING_TIMEOUT_MS }).ping();
      return true;
    } catch {
      return false;
    }
  }

  logTail(lines = 30): string {
    try {
      return readFileSync(this.log, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch (err) {
      return `(no log: ${(err as Error).message})`;
    }
  }

  /** Runs one of the dockerd-*.sh scripts for this instance; a failure carries its stderr (with the dockerd log tail). */
  runScript(name: string, args: string[] = []): Promise<string> {
    return sh('env', [`CHD_TEST_DOCKERD=${this.instance}`, 'bash', scriptPath(name), ...args], { timeoutMs: SCRIPT_TIMEOUT_MS });
  }

  /**
   * Runs dockerd-up.sh (starts the dockerd unless it answers, imports the busybox image unless
   * present) and returns a client once the API answers. Throws with the dockerd log tail on failure.
   */
  async start(): Promise<Docker> {
    await this.runScript('./dockerd-up.sh');
    if (!(await this.answers())) {
      throw new Error(`test dockerd started but ${this.socket} does not answer /_ping; tail of ${this.log}:\n${this.logTail()}`);
    }
    return this.client();
  }

  /** Reuses the running dockerd (with its image) when it answers; otherwise start(). */
  async ensure(): Promise<Docker> {
    const docker = this.client();
    if ((await this.answers()) && (await hasImage(docker, this.image))) return docker;
    return this.start();
  }

  /** Stops the dockerd (removing its containers and bridge); purge also deletes its images. */
  async stop(opts: { purge?: boolean } = {}): Promise<void> {
    await this.runScript('./dockerd-down.sh', opts.purge ? ['--purge'] : []);
  }
}

/** The shared test dockerd (the integration lane's). */
export const SHARED_DOCKERD = new TestDockerd('');
/** The parallel lane's test dockerd. */
export const PARALLEL_DOCKERD = new TestDockerd('parallel');

/** The shared test dockerd's API socket. */
export const TEST_DOCKER_SOCKET = SHARED_DOCKERD.socket;
/** The shared test dockerd's log file. */
export const TEST_DOCKER_LOG = SHARED_DOCKERD.log;
/** The bridge the shared test dockerd puts containers on. */
export const TEST_BRIDGE = SHARED_DOCKERD.bridge;
/** The host's address on that bridge: run test DNS servers here and give it to containers as --dns. */
export const TEST_BRIDGE_ADDR = SHARED_DOCKERD.bridgeAddr;
/** The busybox image (sh, sleep, cat, nslookup, ... every busybox applet in /bin). */
export const BUSYBOX_IMAGE = SHARED_DOCKERD.image;

/** A client for the shared test dockerd. */
export function testDockerClient(): Docker {
  return SHARED_DOCKERD.client();
}

/** SHARED_DOCKERD.start(). */
export function startDockerd(): Promise<Docker> {
  return SHARED_DOCKERD.start();
}

/** SHARED_DOCKERD.ensure(). */
export function ensureDockerd(): Promise<Docker> {
  return SHARED_DOCKERD.ensure();
}

/** Makes sure the busybox image is present in the shared test dockerd; returns its name. */
export async function ensureBusyboxImage(docker: Docker): Promise<string> {
  if (await hasImage(docker, BUSYBOX_IMAGE)) return BUSYBOX_IMAGE;
  await SHARED_DOCKERD.runScript('./dockerd-up.sh');
  if (!(await hasImage(docker, BUSYBOX_IMAGE))) {
    throw new Error(`${BUSYBOX_IMAGE} still missing after dockerd-up.sh (is this client for ${TEST_DOCKER_SOCKET}?)`);
  }
  return BUSYBOX_IMAGE;
}

/** SHARED_DOCKERD.stop(). */
export function stopDockerd(opts: { purge?: boolean } = {}): Promise<void> {
  return SHARED_DOCKERD.stop(opts);
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
