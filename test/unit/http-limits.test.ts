// The HTTP server's limits against real sockets on loopback: the connection
// cap, header/request timeouts that bite within a second or two, request
// bodies that are never read, bounded headers, capped reflections, and the
// server's file descriptors under thousands of idle clients. Plus the fd
// reserve arithmetic (src/http/limits.ts).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { createInterface } from 'node:readline';
import t, { type Test } from 'tap';
import { loadConfigResult } from '../../src/config/load.js';
import { SETTINGS_BY_KEY } from '../../src/config/schema.js';
import { createHandler, INDEX, type HttpApp } from '../../src/http/routes.js';
import {
  ASSUMED_VANTAGES,
  BASE_FD_RESERVE,
  connectionLimit,
  fdReserve,
  MIN_CONNECTIONS,
  parseFdLimit,
  probesPerVantage,
  readFdLimit,
} from '../../src/http/limits.js';
import { DEFAULT_HTTP_LIMITS, HttpServer, type HttpLimits } from '../../src/http/server.js';
import { REPO, compiled } from '../support/paths.js';

const ROOT = REPO;
const CHILD = compiled('test/support/http-limits-server.ts');

const app: HttpApp = {
  metrics: async () => ({ contentType: 'text/plain; version=0.0.4; charset=utf-8', body: 'x 1\n' }),
  health: () => ({ healthy: true, status: 200, reason: 'ok: stand-in', checks: 1, unhealthy: 0 }),
  status: () => ({}),
};

async function serve(t: Test, limits: Partial<HttpLimits>): Promise<{ server: HttpServer; port: number }> {
  const server = new HttpServer(createHandler(app), limits);
  const bound = await server.listen('127.0.0.1:0');
  t.teardown(() => server.close());
  return { server, port: bound.port };
}

function get(port: number, path = '/healthz'): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false, timeout: 5000 }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
      })
      .on('timeout', function (this: http.ClientRequest) {
        this.destroy(new Error('client timeout'));
      })
      .on('error', reject);
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** A raw client socket that records what it received and when the server closed it. */
interface Raw {
  socket: net.Socket;
  connected: Promise<void>;
  /** Resolves with ms since the connect() call once the socket is closed (by either side). */
  closed: Promise<number>;
  isClosed(): boolean;
  received(): string;
}

function raw(port: number): Raw {
  const t0 = Date.now();
  const socket = net.connect(port, '127.0.0.1');
  let data = '';
  let done = false;
  socket.on('data', (d) => (data += d.toString('latin1')));
  socket.on('error', () => undefined); // ECONNRESET from a refused connection is expected
  const connected = new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  const closed = new Promise<number>((resolve) =>
    socket.once('close', () => {
      done = true;
      resolve(Date.now() - t0);
    }),
  );
  return { socket, connected, closed, isClosed: () => done, received: () => data };
}

/** Resolves with the value, or with 'timeout' after ms. */
const within = <T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> => Promise.race([p, sleep(ms).then(() => 'timeout' as const)]);

t.test('parseFdLimit and readFdLimit read the soft "Max open files"', (t) => {
  const text = [
    'Limit                     Soft Limit           Hard Limit           Units     ',
    'Max processes             96362                96362                processes ',
    'Max open files            1024                 524288               files     ',
    'Max locked memory         8388608              8388608              bytes     ',
  ].join('\n');
  t.equal(parseFdLimit(text), 1024, 'the soft limit, not the hard one');
  t.equal(parseFdLimit(text.replace('1024 ', 'unlimited')), Infinity);
  t.equal(parseFdLimit('Max processes 5 5 processes\n'), null);
  t.equal(parseFdLimit('Max open files            lots   lots  files\n'), null);
  t.equal(readFdLimit('/nonexistent/limits'), null);
  const shell = spawnSync('sh', ['-c', 'ulimit -Sn'], { encoding: 'utf8' });
  t.equal(readFdLimit(), Number(shell.stdout.trim()), `this process: ${readFdLimit()} (a child's ulimit -Sn agrees)`);
  t.end();
});

t.test('connectionLimit keeps a reserve for probing below RLIMIT_NOFILE', (t) => {
  const cfg = (flags: Record<string, unknown> = {}) => loadConfigResult({ file: false, env: {}, flags }).config;
  const c = cfg();
  t.equal(SETTINGS_BY_KEY.get('http.maxConnections')?.default, DEFAULT_HTTP_LIMITS.maxConnections, 'the schema default is the server default');
  t.equal(c.http.maxConnections, 256);
  // Defaults: 3 resolv.conf nameservers + 4 Kubernetes targets, UDP and TCP, one query.
  t.equal(probesPerVantage(c), 14);
  const reserve = fdReserve(c);
  t.equal(reserve, BASE_FD_RESERVE + ASSUMED_VANTAGES * (1 + 2 * 14));
  t.same(connectionLimit(c, 20_000), { configured: 256, effective: 256, fdLimit: 20_000, reserve, lowered: false, insufficient: false });
  t.same(
    connectionLimit(c, null),
    { configured: 256, effective: 256, fdLimit: null, reserve, lowered: false, insufficient: false },
    'unknown limit: nothing lowered',
  );
  t.same(connectionLimit(c, Infinity).effective, 256);
  const tight = connectionLimit(c, reserve + 100);
  t.match(tight, { effective: 100, lowered: true, insufficient: false }, 'limit − reserve');
  t.match(
    connectionLimit(c, 1024),
    { effective: MIN_CONNECTIONS, lowered: true, insufficient: true },
    'never below the floor; says probing itself may run short',
  );
  t.match(connectionLimit(cfg({ 'http.maxConnections': 8 }), 1024), { effective: 8, lowered: false }, 'a configured cap below the floor stays');
  // More probes per vantage → a larger reserve.
  const more = cfg({ targets: ['10.0.0.1', '10.0.0.2'], queries: [{ name: 'a.example.' }, { name: 'b.example.' }] });
  t.equal(probesPerVantage(more), (3 + 2 + 4) * 2 * 2);
  t.ok(fdReserve(more) > reserve);
  t.equal(probesPerVantage(cfg({ 'kubernetes.enabled': false, 'probe.transports': ['udp'] })), 3);
  t.end();
});

t.test('connections beyond the cap are closed at once; a request succeeds again once below it', async (t) => {
  const CAP = 8;
  // Long timeouts: nothing here may be closed by a timeout, only by the cap.
  const { server, port } = await serve(t, { maxConnections: CAP, headersTimeoutMs: 60_000, requestTimeoutMs: 60_000 });
  const held: Raw[] = [];
  t.teardown(() => held.forEach((c) => c.socket.destroy()));
  for (let i = 0; i < CAP; i++) {
    const c = raw(port);
    held.push(c);
    await c.connected;
  }
  await waitFor('the server to hold the first connections', async () => (await server.connections()) === CAP);

  const extra: Raw[] = [];
  t.teardown(() => extra.forEach((c) => c.socket.destroy()));
  for (let i = 0; i < CAP; i++) extra.push(raw(port));
  const closedIn = await Promise.all(extra.map((c) => within(c.closed, 2_000)));
  t.ok(
    closedIn.every((ms) => ms !== 'timeout'),
    `every connection beyond the cap was closed by the server (in ${closedIn.join(', ')} ms)`,
  );
  t.ok(
    extra.every((c) => c.received() === ''),
    'without a byte of HTTP',
  );
  t.equal(server.dropped, CAP, 'counted as dropped');
  await sleep(200);
  t.ok(
    held.every((c) => !c.isClosed()),
    'the connections under the cap stay open',
  );
  t.equal(await server.connections(), CAP);
  await t.rejects(get(port), /ECONNRESET|socket hang up/, 'a request at the cap is refused');

  held.pop()!.socket.destroy();
  await waitFor('the server to see one connection go', async () => (await server.connections()) === CAP - 1);
  const ok = await get(port);
  t.equal(ok.status, 200, 'one below the cap, a normal request succeeds');
  t.equal(ok.body, 'ok: stand-in\n');

  // A raised cap applies to new connections at once.
  server.maxConnections = CAP + 4;
  const more = raw(port);
  extra.push(more);
  await more.connected;
  t.equal(await within(more.closed, 500), 'timeout', 'a raised cap lets another connection stay');
});

t.test('a slowloris client (headers byte by byte, never finished) is closed within headersTimeout + the checking interval', async (t) => {
  // headersTimeout 500 ms, checked every 250 ms (the server default: 1 s): closed in 0.5-0.75 s; 5 s is
  // the safety bound. Node's default checking interval (30 s) would fail this.
  const { port } = await serve(t, { headersTimeoutMs: 500, requestTimeoutMs: 1_000, connectionsCheckingIntervalMs: 250 });
  t.equal(DEFAULT_HTTP_LIMITS.connectionsCheckingIntervalMs, 1_000);
  const slow = raw(port);
  const idle = raw(port);
  t.teardown(() => {
    slow.socket.destroy();
    idle.socket.destroy();
  });
  await Promise.all([slow.connected, idle.connected]);
  slow.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
  const drip = setInterval(() => {
    if (!slow.isClosed()) slow.socket.write('a');
  }, 100);
  t.teardown(() => clearInterval(drip));
  const [slowMs, idleMs] = await Promise.all([within(slow.closed, 5_000), within(idle.closed, 5_000)]);
  clearInterval(drip);
  t.not(slowMs, 'timeout', `the slowloris connection was closed (after ${slowMs} ms)`);
  t.not(idleMs, 'timeout', `a connection that sends nothing was closed (after ${idleMs} ms)`);
  t.ok(typeof slowMs === 'number' && slowMs >= 450, 'by the headers timeout, not before it');
  t.match(slow.received(), /^HTTP\/1\.1 408 /, 'with 408 Request Timeout');
  t.equal((await get(port)).status, 200, 'the server goes on');
});

t.test('request bodies are not read: a request announcing one is answered with Connection: close', async (t) => {
  // Long request timeout: the close must come from the answer, not from a timeout.
  const { port } = await serve(t, { headersTimeoutMs: 60_000, requestTimeoutMs: 60_000 });
  const c = raw(port);
  t.teardown(() => c.socket.destroy());
  await c.connected;
  c.socket.write('POST /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100000000\r\n\r\n');
  c.socket.write(Buffer.alloc(64 * 1024, 0x61));
  const ms = await within(c.closed, 5_000);
  t.not(ms, 'timeout', `closed after answering (${ms} ms) instead of draining 100 MB`);
  t.match(c.received(), /^HTTP\/1\.1 405 /);
  t.match(c.received(), /\r\nConnection: close\r\n/i);

  const chunked = raw(port);
  t.teardown(() => chunked.socket.destroy());
  await chunked.connected;
  chunked.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n');
  t.not(await within(chunked.closed, 5_000), 'timeout', 'a chunked body that never ends: answered and closed');
  t.match(chunked.received(), /^HTTP\/1\.1 200 [^]*Connection: close\r\n/i);

  // Requests without a body keep their connection alive.
  const ka = new http.Agent({ keepAlive: true });
  t.teardown(() => ka.destroy());
  const r = await new Promise<http.IncomingMessage>((resolve, reject) =>
    http.get({ host: '127.0.0.1', port, path: '/healthz', agent: ka }, resolve).on('error', reject),
  );
  r.resume();
  t.equal(r.headers.connection, 'keep-alive');
  t.match(r.headers['keep-alive'], /timeout=5\b/, 'keep-alive for 5 s');
});

t.test('a client that stops reading its response is closed after idleTimeout', async (t) => {
  const big = 'x'.repeat(32 * 1024 * 1024); // far more than the loopback socket buffers hold
  const server = new HttpServer(createHandler({ ...app, status: () => ({ big }) }), { idleTimeoutMs: 1_000 });
  const { port } = await server.listen('127.0.0.1:0');
  t.teardown(() => server.close());
  const c = raw(port);
  t.teardown(() => c.socket.destroy());
  await c.connected;
  c.socket.pause(); // reads nothing
  c.socket.write('GET /status HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  await waitFor('the server to hold the connection', async () => (await server.connections()) === 1);
  await waitFor('the server to close the stalled connection', async () => (await server.connections()) === 0, 5_000);
  t.pass('closed within the 5 s safety bound');
  t.equal((await get(port)).status, 200, 'the server goes on');
});

t.test('request line and headers are bounded (431), and a reflected path is capped and escaped', async (t) => {
  const { port } = await serve(t, {});
  t.equal(DEFAULT_HTTP_LIMITS.maxHeaderSize, 16 * 1024);
  const big = raw(port);
  t.teardown(() => big.socket.destroy());
  await big.connected;
  big.socket.write(`GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'b'.repeat(17 * 1024)}\r\n\r\n`);
  t.not(await within(big.closed, 5_000), 'timeout', 'closed');
  t.match(big.received(), /^HTTP\/1\.1 431 /, '17 KiB of headers: 431');

  const fine = await new Promise<number>((resolve, reject) =>
    http
      .get({ host: '127.0.0.1', port, path: '/healthz', agent: false, headers: { 'X-Big': 'b'.repeat(12 * 1024) } }, (res) => {
        res.resume();
        resolve(res.statusCode!);
      })
      .on('error', reject),
  );
  t.equal(fine, 200, '12 KiB of headers are fine');

  const long = await get(port, `/${'a'.repeat(12_000)}?${'q'.repeat(1000)}`);
  t.equal(long.status, 404);
  const first = long.body.split('\n')[0]!;
  t.ok(first.length < 300, `the reflected path is capped (${first.length} characters)`);
  t.match(first, /^not found: \/a+…\(\+\d+ chars\)$/);
  t.ok(long.body.endsWith(INDEX));

  const slash = await get(port, '/a\\x1b[2J');
  t.equal(slash.body.split('\n')[0], 'not found: /a\\\\x1b[2J', 'a backslash is escaped, so a forged escape cannot pass for a real one');
  // Raw control and non-ASCII bytes never reach the handler: the parser answers 400.
  const ctl = raw(port);
  t.teardown(() => ctl.socket.destroy());
  await ctl.connected;
  ctl.socket.write(Buffer.from('GET /a\x1b[2J\x9bb HTTP/1.1\r\nHost: x\r\n\r\n', 'latin1'));
  await within(ctl.closed, 5_000);
  t.match(ctl.received(), /^HTTP\/1\.1 400 /);
});

/** Open fds of a process. */
const fdCount = (pid: number): number => fs.readdirSync(`/proc/${pid}/fd`).length;

t.test("thousands of idle clients do not raise the server's fd count above the cap", async (t) => {
  const CAP = 256;
  const own = readFdLimit() ?? 1024;
  const N = Math.min(2_000, own - 300);
  if (N < 4 * CAP) {
    t.plan(0, `this process may open only ${own} fds; the test needs ${4 * CAP + 300}`);
    return;
  }
  // The server runs in a child so that /proc/<pid>/fd counts its sockets, not the clients'.
  // Long timeouts: connections are closed by the cap only.
  const limits: Partial<HttpLimits> = { maxConnections: CAP, headersTimeoutMs: 120_000, requestTimeoutMs: 120_000 };
  const child = spawn(process.execPath, [CHILD, JSON.stringify(limits)], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  t.teardown(async () => {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(timer);
  });
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('READY ')) resolve(Number(line.slice(6)));
    });
    void exited.then(() => reject(new Error(`the server child exited: ${stderr}`)));
  });
  const pid = child.pid!;
  const baseline = fdCount(pid);

  const clients: Raw[] = [];
  t.teardown(() => clients.forEach((c) => c.socket.destroy()));
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, fdCount(pid))), 5);
  t.teardown(() => clearInterval(sampler));
  for (let i = 0; i < N; i += 100) {
    const batch = Array.from({ length: Math.min(100, N - i) }, () => raw(port));
    clients.push(...batch);
    // Each one is either accepted and held, or closed by the server.
    await Promise.all(batch.map((c) => Promise.race([c.connected.then(() => within(c.closed, 50)), c.closed])));
  }
  await waitFor('the refused connections to be closed', () => clients.filter((c) => !c.isClosed()).length === CAP, 10_000).catch(() => undefined);
  clearInterval(sampler);
  const open = clients.filter((c) => !c.isClosed()).length;
  const now = fdCount(pid);
  peak = Math.max(peak, now);
  t.equal(open, CAP, `${N} clients: ${open} held open, ${N - open} closed by the server`);
  t.ok(now <= baseline + CAP + 8, `server fds now ${now} <= ${baseline} + ${CAP} + 8`);
  t.ok(peak <= baseline + CAP + 16, `server fds at most ${peak} (sampled every 5 ms) <= ${baseline} + ${CAP} + 16`);
  t.comment(`fds: baseline ${baseline}, with ${N} idle clients ${now}, peak ${peak}`);

  for (const c of clients) c.socket.destroy();
  await waitFor('the server to let go of the closed connections', () => fdCount(pid) <= baseline + 2, 10_000);
  t.equal((await get(port)).status, 200, 'a normal request succeeds afterwards');
});
