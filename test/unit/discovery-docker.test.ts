// Docker discovery against a fake Engine API: a real HTTP server on a unix socket, spoken to by
// the real dockerode. Covers what a real dockerd cannot be made to do on cue: a container removed
// or stopped between list and inspect, server errors, a daemon that hangs, the concurrency limit.
// Against the real dockerd: test/integration/discovery-docker.test.ts.
import t from 'tap';
import http from 'node:http';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { compiled } from '../support/paths.js';
import { classifyDockerError, discoverDocker, parseContainerInspect, parseContainerList } from '../../src/discovery/docker.js';

type Reply = { status: number; body: unknown } | 'hang';
type Route = (url: string) => Reply | Promise<Reply>;

/** An HTTP server on a fresh unix socket; closed at teardown. */
async function fakeEngine(tt: { teardown(fn: () => unknown): void }, route: Route): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'chk-docker-'));
  const socketPath = path.join(dir, 'docker.sock');
  const server = http.createServer((req, res) => {
    // Node ignores what a request listener returns; the reply is written when the route answers.
    void (async () => {
      const reply = await route(req.url ?? '');
      if (reply === 'hang') return;
      res.writeHead(reply.status, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(reply.body));
    })();
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  tt.teardown(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });
  return socketPath;
}

const inspectBody = (id: string, extra: Record<string, unknown> = {}) => ({
  Id: id,
  Name: `/${id}-name`,
  State: { Running: true, Pid: 1000 + id.length },
  Config: { Labels: { 'io.kubernetes.pod.name': `pod-${id}` } },
  HostConfig: { NetworkMode: 'bridge' },
  ...extra,
});

/** Routes GET /containers/json to ids, and /containers/<id>/json to inspect(id). */
const engine =
  (ids: string[], inspect: (id: string) => Reply | Promise<Reply>): Route =>
  (url) => {
    if (/^\/(v[\d.]+\/)?containers\/json/.test(url)) return { status: 200, body: ids.map((Id) => ({ Id })) };
    const m = /\/containers\/([^/]+)\/json/.exec(url);
    if (m) return inspect(m[1]!);
    return { status: 404, body: { message: `no route ${url}` } };
  };

t.test('options are validated, naming the field', async (t) => {
  await t.rejects(discoverDocker({ socketPath: '', timeoutMs: 100 }), /socketPath must be a non-empty path/);
  await t.rejects(discoverDocker({ socketPath: '/x', timeoutMs: 0 }), /timeoutMs must be a positive number/);
  await t.rejects(discoverDocker({ socketPath: '/x', timeoutMs: NaN }), /timeoutMs/);
  await t.rejects(discoverDocker({ socketPath: '/x', timeoutMs: 100, concurrency: 0 }), /concurrency must be a positive integer/);
});

t.test('lists and inspects; removed and stopped containers are skipped silently', async (t) => {
  const socketPath = await fakeEngine(
    t,
    engine(['a', 'gone', 'stopped'], (id) => {
      if (id === 'gone') return { status: 404, body: { message: 'No such container: gone' } };
      if (id === 'stopped') return { status: 200, body: inspectBody(id, { State: { Running: false, Pid: 0 } }) };
      return { status: 200, body: inspectBody(id) };
    }),
  );
  const got = await discoverDocker({ socketPath, timeoutMs: 2000 });
  t.same(got, {
    available: true,
    containers: [{ id: 'a', name: 'a-name', pid: 1001, labels: { 'io.kubernetes.pod.name': 'pod-a' }, networkMode: 'bridge' }],
  });
});

t.test('an inspect failing with a server error is reported; the others are kept', async (t) => {
  const socketPath = await fakeEngine(
    t,
    engine(['a', 'bad', 'c'], (id) => (id === 'bad' ? { status: 500, body: { message: 'boom' } } : { status: 200, body: inspectBody(id) })),
  );
  const got = await discoverDocker({ socketPath, timeoutMs: 2000 });
  t.equal(got.available, true);
  t.same(
    got.containers.map((c) => c.id),
    ['a', 'c'],
  );
  t.equal(got.error?.code, 'inspect-failed');
  t.match(got.error?.message, /^1 of 3 containers could not be inspected: .*boom/);
});

t.test('a failing list makes Docker unavailable with the reason', async (t) => {
  const socketPath = await fakeEngine(t, () => ({ status: 500, body: { message: 'daemon broken' } }));
  const got = await discoverDocker({ socketPath, timeoutMs: 2000 });
  t.same(got.containers, []);
  t.equal(got.available, false);
  t.equal(got.error?.code, 'api-error');
  t.match(got.error?.message, /daemon broken/);
});

t.test('a list that is not an array is a bad response', async (t) => {
  const socketPath = await fakeEngine(t, () => ({ status: 200, body: { not: 'a list' } }));
  const got = await discoverDocker({ socketPath, timeoutMs: 2000 });
  t.equal(got.available, false);
  t.equal(got.error?.code, 'bad-response');
});

t.test('a daemon that never answers times out after timeoutMs', async (t) => {
  const socketPath = await fakeEngine(t, () => 'hang');
  const start = Date.now();
  const got = await discoverDocker({ socketPath, timeoutMs: 300 });
  const took = Date.now() - start;
  t.ok(took >= 290 && took < 2000, `took ${took} ms`);
  t.same(got, { available: false, containers: [], error: got.error });
  t.equal(got.error?.code, 'timeout');
});

t.test('inspects that hang past the deadline are reported as a timeout', async (t) => {
  const socketPath = await fakeEngine(
    t,
    engine(['a', 'slow'], (id) => (id === 'slow' ? 'hang' : { status: 200, body: inspectBody(id) })),
  );
  const got = await discoverDocker({ socketPath, timeoutMs: 300 });
  t.equal(got.available, true);
  t.same(
    got.containers.map((c) => c.id),
    ['a'],
  );
  t.equal(got.error?.code, 'timeout');
});

t.test('inspects run in parallel, at most `concurrency` at once', async (t) => {
  let inFlight = 0;
  let maxInFlight = 0;
  const ids = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6', 'c7'];
  const socketPath = await fakeEngine(
    t,
    engine(ids, async (id) => {
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      await new Promise((r) => setTimeout(r, 30));
      inFlight--;
      return { status: 200, body: inspectBody(id) };
    }),
  );
  const got = await discoverDocker({ socketPath, timeoutMs: 5000, concurrency: 3 });
  t.same(
    got.containers.map((c) => c.id),
    ids,
    'all found, in list order',
  );
  t.equal(maxInFlight, 3);
});

t.test('no socket file: unavailable, with a reason, not thrown', async (t) => {
  const got = await discoverDocker({ socketPath: path.join(os.tmpdir(), 'chk-no-such-dir', 'docker.sock'), timeoutMs: 500 });
  t.equal(got.available, false);
  t.equal(got.error?.code, 'no-socket');
  t.match(got.error?.message, /chk-no-such-dir\/docker\.sock \(ENOENT\)/);
});

t.test('no socket, or not a socket: dockerode is never loaded', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chk-docker-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'docker.sock');
  fs.writeFileSync(file, '');
  // A fresh process: this one may have loaded dockerode for the tests above.
  const script = [
    `import { createRequire } from 'node:module';`,
    `import { discoverDocker } from ${JSON.stringify(compiled('src/discovery/docker.ts'))};`,
    `const a = await discoverDocker({ socketPath: ${JSON.stringify(path.join(dir, 'none', 'docker.sock'))}, timeoutMs: 500 });`,
    `const b = await discoverDocker({ socketPath: ${JSON.stringify(file)}, timeoutMs: 500 });`,
    `const loaded = Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('/node_modules/dockerode/'));`,
    `console.log(JSON.stringify({ a: a.error, b: b.error, loaded }));`,
  ].join('\n');
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  const got = JSON.parse(out) as { a: { code: string; message: string }; b: { code: string; message: string }; loaded: boolean };
  t.equal(got.a.code, 'no-socket');
  t.match(got.a.message, /\(ENOENT\)/);
  t.equal(got.b.code, 'no-socket');
  t.match(got.b.message, /\(ENOTSOCK\)/);
  t.equal(got.loaded, false, 'dockerode stayed unloaded');
});

t.test('parseContainerList', async (t) => {
  t.same(parseContainerList([{ Id: 'x' }, { Id: 'y', Names: ['/y'] }]), ['x', 'y']);
  t.throws(() => parseContainerList([{ Names: ['/x'] }]), /entry 0 has no Id/);
  t.throws(() => parseContainerList('nope'), /not a JSON array/);
});

t.test('parseContainerInspect', async (t) => {
  t.same(
    parseContainerInspect(
      {
        Id: 'abc',
        Name: '/web',
        State: { Running: true, Pid: 42 },
        Config: { Labels: { keep: 'yes', drop: 7 } },
        HostConfig: { NetworkMode: 'container:def' },
      },
      'abc',
    ),
    { id: 'abc', name: 'web', pid: 42, labels: { keep: 'yes' }, networkMode: 'container:def' },
  );
  t.same(
    parseContainerInspect({ State: { Running: true, Pid: 7 }, Config: { Labels: null } }, 'fromlist'),
    { id: 'fromlist', name: '', pid: 7, labels: {}, networkMode: '' },
    'missing fields: id from the list, empty labels',
  );
  t.equal(parseContainerInspect({ State: { Running: true, Pid: 0 } }, 'x'), null, 'no pid');
  t.equal(parseContainerInspect({ State: { Running: false, Pid: 9 } }, 'x'), null, 'not running');
  t.throws(() => parseContainerInspect({ Id: 'x' }, 'x'), /inspect of x has no State/);
});

t.test('classifyDockerError', async (t) => {
  const errno = (code: string) => Object.assign(new Error(`connect ${code}`), { code });
  t.equal(classifyDockerError(errno('ECONNREFUSED'), '/s', false).code, 'no-socket');
  t.equal(classifyDockerError(errno('ENOTSOCK'), '/s', false).code, 'no-socket');
  t.equal(classifyDockerError(errno('EACCES'), '/s', false).code, 'permission-denied');
  t.equal(classifyDockerError(errno('HPE_INVALID_CONSTANT'), '/s', false).code, 'bad-response');
  t.equal(classifyDockerError(errno('ECONNRESET'), '/s', false).code, 'connection-error');
  t.equal(classifyDockerError(errno('ECONNRESET'), '/s', true).code, 'timeout', 'the deadline wins');
  t.equal(classifyDockerError(Object.assign(new Error('x'), { statusCode: 500 }), '/s', false).code, 'api-error');
  t.match(classifyDockerError(errno('EACCES'), '/run/d.sock', false).message, '/run/d.sock');
});
