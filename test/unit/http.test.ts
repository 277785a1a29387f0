// The HTTP server on 127.0.0.1 with a stand-in app: routes, status codes,
// methods, HEAD, errors, rebinding and closing.
import http from 'node:http';
import net from 'node:net';
import t, { type Test } from 'tap';
import zlib from 'node:zlib';
import { GZIP_MIN_BYTES, acceptsGzip, createHandler, INDEX, requestPath, type HttpApp } from '../../src/http/routes.js';
import { HttpServer } from '../../src/http/server.js';
import type { Group, Verdict } from '../../src/health/verdict.js';

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(port: number, path: string, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const verdict = (healthy: boolean, reason: string): Verdict => ({ healthy, status: healthy ? 200 : 503, reason, checks: 1, unhealthy: healthy ? 0 : 1 });

function app(over: Partial<HttpApp> = {}): HttpApp & { asked: Group[] } {
  const asked: Group[] = [];
  return {
    asked,
    metrics: async () => ({ contentType: 'text/plain; version=0.0.4; charset=utf-8', body: '# HELP x y\n# TYPE x gauge\nx 1\n' }),
    health: (g) => {
      asked.push(g);
      return g === 'pods' ? verdict(false, 'unhealthy: 1 of 1 pods check failing') : verdict(true, `ok: ${g}`);
    },
    status: () => ({ checks: [{ vantage: 'host' }] }),
    ...over,
  };
}

async function serve(t: Test, a: HttpApp, listen = '127.0.0.1:0') {
  const server = new HttpServer(createHandler(a));
  const bound = await server.listen(listen);
  t.teardown(() => server.close());
  return { server, port: bound.port, bound };
}

t.test('routes: metrics, health URLs, status, index', async (t) => {
  const a = app();
  const { port, bound } = await serve(t, a);
  t.equal(bound.address, '127.0.0.1');
  t.ok(port > 0, 'port 0 gave a real port');

  const m = await request(port, '/metrics');
  t.equal(m.status, 200);
  t.equal(m.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
  t.equal(m.body, '# HELP x y\n# TYPE x gauge\nx 1\n');

  for (const [path, group] of [
    ['/healthz', 'all'],
    ['/healthz/host', 'host'],
    ['/healthz/udp', 'udp'],
    ['/healthz/tcp', 'tcp'],
  ] as const) {
    const r = await request(port, path);
    t.equal(r.status, 200, path);
    t.equal(r.body, `ok: ${group}\n`);
    t.equal(r.headers['cache-control'], 'no-store');
  }
  const pods = await request(port, '/healthz/pods?verbose=1');
  t.equal(pods.status, 503, 'query strings are ignored');
  t.equal(pods.body, 'unhealthy: 1 of 1 pods check failing\n');
  t.same(a.asked, ['all', 'host', 'udp', 'tcp', 'pods']);

  const s = await request(port, '/status');
  t.equal(s.status, 200);
  t.equal(s.headers['content-type'], 'application/json; charset=utf-8');
  t.same(JSON.parse(s.body), { checks: [{ vantage: 'host' }] });

  const index = await request(port, '/');
  t.equal(index.body, INDEX);
  t.match(index.body, /\/healthz\/pods/);
});

t.test('unknown paths 404; methods other than GET and HEAD 405 with Allow; HEAD has no body', async (t) => {
  const { port } = await serve(t, app());
  for (const path of ['/healthz/', '/healthz/dns', '/metricsx', '/status/1', '//healthz']) {
    const r = await request(port, path);
    t.equal(r.status, 404, path);
    t.match(r.body, /^not found: /);
  }
  for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
    const r = await request(port, '/healthz', method);
    t.equal(r.status, 405, method);
    t.equal(r.headers.allow, 'GET, HEAD');
  }
  const head = await request(port, '/healthz/pods', 'HEAD');
  t.equal(head.status, 503);
  t.equal(head.body, '');
  t.equal(head.headers['content-length'], String(Buffer.byteLength('unhealthy: 1 of 1 pods check failing\n')), 'the length GET would send');
});

t.test('an app that throws answers 500 and the server goes on', async (t) => {
  const { port } = await serve(
    t,
    app({
      status: () => {
        throw new Error('boom');
      },
      metrics: async () => Promise.reject(new Error('scrape failed')),
    }),
  );
  t.equal((await request(port, '/status')).status, 500);
  t.equal((await request(port, '/metrics')).status, 500);
  t.equal((await request(port, '/healthz')).status, 200);
});

t.test('requestPath', (t) => {
  t.equal(requestPath('/a?b#c'), '/a');
  t.equal(requestPath('/a#c'), '/a');
  t.equal(requestPath('http://x/a'), null);
  t.equal(requestPath(undefined), null);
  t.end();
});

t.test('listen errors name http.listen and the errno; rebind moves, a failed rebind keeps the old address', async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => blocker.close(() => r())));
  const busy = (blocker.address() as net.AddressInfo).port;

  const s = new HttpServer(createHandler(app()));
  t.teardown(() => s.close());
  await t.rejects(s.listen(`127.0.0.1:${busy}`), /cannot listen on 127\.0\.0\.1:\d+ \(http\.listen\): EADDRINUSE/);
  await t.rejects(s.listen('localhost:80'), /http\.listen: .*not IP:PORT/);
  const first = await s.listen('127.0.0.1:0');
  t.equal((await request(first.port, '/healthz')).status, 200);

  await t.rejects(s.rebind(`127.0.0.1:${busy}`), /EADDRINUSE/);
  t.equal(s.bound!.port, first.port, 'still on the old port');
  t.equal((await request(first.port, '/healthz')).status, 200, 'and still answering');

  const moved = await s.rebind('127.0.0.1:0');
  t.not(moved.port, first.port);
  t.equal((await request(moved.port, '/healthz')).status, 200);
  await t.rejects(request(first.port, '/healthz'), /ECONNREFUSED/, 'the old socket is closed');

  // Same port, other address of this host: the old socket must go first.
  const same = await s.rebind(`127.0.0.2:${moved.port}`);
  t.equal(same.address, '127.0.0.2');
  t.equal(same.port, moved.port);

  await s.close();
  await t.rejects(request(moved.port, '/healthz'), /ECONNREFUSED/);
  t.equal(s.bound?.port, same.port, 'close keeps the last address for reports');
});

t.test('close does not wait for idle keep-alive connections', async (t) => {
  const s = new HttpServer(createHandler(app()));
  const b = await s.listen('127.0.0.1:0');
  const agent = new http.Agent({ keepAlive: true });
  t.teardown(() => agent.destroy());
  await new Promise<void>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: b.port, path: '/healthz', agent }, (res) => {
        res.resume();
        res.on('end', () => resolve());
      })
      .on('error', reject);
  });
  const t0 = Date.now();
  await s.close();
  t.ok(Date.now() - t0 < 900, `closed in ${Date.now() - t0} ms with an idle keep-alive connection open`);
});

/** GET with request headers; the body as raw bytes. */
function rawRequest(
  port: number,
  path: string,
  headers: Record<string, string>,
  method = 'GET',
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

t.test('gzip: bodies of 1 KiB and more when the client accepts it (Prometheus does); Vary: Accept-Encoding', async (t) => {
  const big = `# HELP x y\n# TYPE x gauge\n${Array.from({ length: 200 }, (_, i) => `x{i="${i}"} ${i}`).join('\n')}\n`;
  t.ok(Buffer.byteLength(big) >= GZIP_MIN_BYTES);
  const { port } = await serve(t, app({ metrics: async () => ({ contentType: 'text/plain; version=0.0.4; charset=utf-8', body: big }) }));

  const prom = await rawRequest(port, '/metrics', { 'Accept-Encoding': 'gzip' });
  t.equal(prom.headers['content-encoding'], 'gzip');
  t.equal(prom.headers.vary, 'Accept-Encoding');
  t.equal(Number(prom.headers['content-length']), prom.body.length, 'Content-Length is the compressed length');
  t.ok(prom.body.length < Buffer.byteLength(big) / 2, `${prom.body.length} bytes for ${Buffer.byteLength(big)}`);
  t.equal(zlib.gunzipSync(prom.body).toString('utf8'), big, 'the same text once decompressed');

  const plain = await rawRequest(port, '/metrics', {});
  t.equal(plain.headers['content-encoding'], undefined, 'no Accept-Encoding: identity');
  t.equal(plain.headers.vary, 'Accept-Encoding');
  t.equal(plain.body.toString('utf8'), big);
  const refused = await rawRequest(port, '/metrics', { 'Accept-Encoding': 'gzip;q=0, identity' });
  t.equal(refused.headers['content-encoding'], undefined, 'gzip;q=0 refuses gzip');

  const head = await rawRequest(port, '/metrics', { 'Accept-Encoding': 'gzip' }, 'HEAD');
  t.equal(head.headers['content-encoding'], 'gzip');
  t.equal(head.body.length, 0, 'HEAD: no body');
  t.equal(head.headers['content-length'], prom.headers['content-length']);

  const small = await rawRequest(port, '/healthz', { 'Accept-Encoding': 'gzip' });
  t.equal(small.headers['content-encoding'], undefined, 'a short body is sent as it is');
  t.equal(small.headers.vary, undefined);
});

t.test('acceptsGzip', (t) => {
  for (const [header, want] of [
    ['gzip', true],
    ['deflate, gzip;q=1.0, *;q=0.5', true],
    ['GZIP', true],
    ['x-gzip', true],
    ['*', true],
    ['br, *;q=0.1', true],
    [undefined, false],
    ['', false],
    ['identity', false],
    ['gzip;q=0', false],
    ['gzip;q=0.000', false],
    ['*;q=0', false],
    ['*, gzip;q=0', false],
    ['gzip;q=nonsense', false],
    [['br', 'gzip'], true],
  ] as const) {
    t.equal(acceptsGzip(header as string | string[] | undefined), want, JSON.stringify(header));
  }
  t.end();
});
