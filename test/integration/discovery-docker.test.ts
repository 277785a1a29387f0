// Docker discovery against the real test dockerd (test/support/dockerd-up.sh): busybox
// containers on the test bridge, with pod labels, in host network mode and sharing another
// container's netns; and what discovery reports when there is no daemon or a wrong one.
// Containers get --dns on the test bridge: nothing here may reach the machine's resolver.
import t from 'tap';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { discoverDocker, type DiscoveredContainer } from '../../src/discovery/docker.js';
import { TEST_BRIDGE_ADDR, TEST_DOCKER_SOCKET, cleanupContainers, ensureDockerd, runContainer, type RunningContainer } from '../support/dockerd.js';
import { requireRoot } from '../support/root.js';

const PREFIX = 'chk-discovery-';
const TIMEOUT_MS = 10_000;

const netnsInode = async (pid: number | 'thread-self'): Promise<number> => (await stat(`/proc/${pid}/ns/net`)).ino;

/** The discovered entry for a container the test started; a missing one fails the test. */
function found(containers: DiscoveredContainer[], c: RunningContainer): DiscoveredContainer {
  const hit = containers.find((d) => d.id === c.id);
  if (!hit) throw new Error(`${c.name} (${c.id}) not discovered; found: ${containers.map((d) => d.name).join(', ')}`);
  return hit;
}

async function tempDir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'chk-dd-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

t.test('real dockerd', async (t) => {
  if (!requireRoot(t, 'starts the test dockerd and its containers')) return;
  const started = performance.now();
  const docker = await ensureDockerd();
  t.comment(`ensureDockerd: ${Math.round(performance.now() - started)} ms (dockerd start + image import when not running yet)`);
  await cleanupContainers(t, docker, PREFIX);
  const hostInode = await netnsInode('thread-self');

  const pods = await Promise.all(
    [1, 2].map(async (i) => {
      const labels = {
        'io.kubernetes.pod.name': `web-${i}`,
        'io.kubernetes.pod.namespace': 'chk-ns',
        'io.kubernetes.pod.uid': `0000000${i}-1111-2222-3333-444444444444`,
        'io.kubernetes.container.name': 'web',
      };
      const c = await runContainer(docker, {
        name: `${PREFIX}pod${i}`,
        cmd: ['sleep', '3600'],
        dns: [TEST_BRIDGE_ADDR],
        labels,
      });
      return { ...c, labels };
    }),
  );

  t.test('bridge containers: pid, name, labels, own netns', async (t) => {
    const got = await discoverDocker({ socketPath: TEST_DOCKER_SOCKET, timeoutMs: TIMEOUT_MS });
    t.equal(got.available, true);
    t.equal(got.error, undefined);
    const inodes = new Set<number>();
    for (const pod of pods) {
      const d = found(got.containers, pod);
      t.equal(d.pid, pod.pid, `${pod.name}: State.Pid`);
      t.equal(d.name, pod.name, `${pod.name}: name without the leading /`);
      t.match(d.labels, pod.labels, `${pod.name}: pod labels`);
      t.equal(d.networkMode, 'bridge', `${pod.name}: network mode`);
      const inode = await netnsInode(d.pid);
      t.not(inode, hostInode, `${pod.name}: its own netns, not the host's`);
      inodes.add(inode);
      const resolv = await readFile(`/proc/${d.pid}/root/etc/resolv.conf`, 'utf8');
      t.match(resolv, new RegExp(`^nameserver ${TEST_BRIDGE_ADDR.replaceAll('.', '\\.')}$`, 'm'), `${pod.name}: --dns applied`);
    }
    t.equal(inodes.size, 2, 'one netns per container');
  });

  t.test('host network and container:<id> network modes', async (t) => {
    const host = await runContainer(docker, { name: `${PREFIX}hostnet`, cmd: ['sleep', '3600'], networkMode: 'host' });
    const pod = pods[0]!;
    const sidecar = await runContainer(docker, {
      name: `${PREFIX}sidecar`,
      cmd: ['sleep', '3600'],
      networkMode: `container:${pod.id}`,
    });
    const got = await discoverDocker({ socketPath: TEST_DOCKER_SOCKET, timeoutMs: TIMEOUT_MS });
    t.equal(got.error, undefined);

    const h = found(got.containers, host);
    t.equal(h.networkMode, 'host', 'flagged as host network');
    t.equal(await netnsInode(h.pid), hostInode, 'and really in the host netns');

    const s = found(got.containers, sidecar);
    t.equal(s.networkMode, `container:${pod.id}`);
    t.equal(await netnsInode(s.pid), await netnsInode(pod.pid), "in the other container's netns");
  });

  t.test('a stopped container is not discovered', async (t) => {
    const c = await runContainer(docker, { name: `${PREFIX}stopped`, cmd: ['sleep', '3600'], dns: [TEST_BRIDGE_ADDR] });
    await docker.getContainer(c.id).stop({ t: 0 });
    const got = await discoverDocker({ socketPath: TEST_DOCKER_SOCKET, timeoutMs: TIMEOUT_MS });
    t.equal(got.available, true);
    t.notOk(got.containers.some((d) => d.id === c.id));
    t.ok(
      got.containers.some((d) => d.id === pods[0]!.id),
      'the running ones still are',
    );
  });
});

t.test('no socket: unavailable with a reason, not thrown', async (t) => {
  const dir = await tempDir(t);
  const missing = path.join(dir, 'docker.sock');
  const got = await discoverDocker({ socketPath: missing, timeoutMs: 1000 });
  t.same(got, { available: false, containers: [], error: { code: 'no-socket', message: `no Docker API at ${missing} (ENOENT)` } });

  const notASocket = path.join(dir, 'plain-file');
  await writeFile(notASocket, 'not a socket\n');
  const got2 = await discoverDocker({ socketPath: notASocket, timeoutMs: 1000 });
  t.equal(got2.available, false);
  t.equal(got2.error?.code, 'no-socket', 'a plain file where the socket should be');
});

t.test('a socket that does not speak the Engine API: error reported, not thrown', async (t) => {
  const dir = await tempDir(t);
  const socketPath = path.join(dir, 'garbage.sock');
  const server = net.createServer((sock) => {
    sock.resume(); // read the request and the client's EOF, so the connection closes
    sock.end('\x00\x01 this is not HTTP\r\n\r\n');
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  t.teardown(() => new Promise((resolve) => server.close(resolve)));

  const got = await discoverDocker({ socketPath, timeoutMs: 2000 });
  t.equal(got.available, false);
  t.same(got.containers, []);
  t.equal(got.error?.code, 'bad-response');
  t.match(got.error?.message, socketPath);
});

t.test('a socket that accepts but never answers: timeout reported', async (t) => {
  const dir = await tempDir(t);
  const socketPath = path.join(dir, 'silent.sock');
  const conns = new Set<net.Socket>();
  const server = net.createServer((sock) => conns.add(sock));
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  t.teardown(() => {
    for (const c of conns) c.destroy();
    return new Promise((resolve) => server.close(resolve));
  });

  const got = await discoverDocker({ socketPath, timeoutMs: 300 });
  t.equal(got.available, false);
  t.equal(got.error?.code, 'timeout');
});
