// The HTTP server with a web configuration, against real sockets on loopback:
// HTTPS with the configured certificate, every client_auth_type with and
// without client certificates, basic authentication answers, headers, the
// rate limit, a TLS handshake that never completes, changes applied in place
// (certificate rotation) or by a rebind (HTTP <-> HTTPS), and ":PORT".
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { createHandler, type HttpApp } from '../../src/http/routes.js';
import { canonicalIp, HttpServer, subjectAltNames, TokenBucket } from '../../src/http/server.js';
import { loadWebConfig, PLAIN_WEB_CONFIG, type WebConfig } from '../../src/http/web-config.js';
import { makePki, type TestPki } from '../support/tls-certs.js';

/** An htpasswd -nbB hash ($2y$, cost 5) of "s3cret". */
const HASH = '$2y$05$Sb48ykBhBh9Ne6pByVZUdOdhfk0b1bpiAgkG2NarKdo7ArzsLOxUW';

const app: HttpApp = {
  metrics: async () => ({ contentType: 'text/plain; version=0.0.4; charset=utf-8', body: 'x 1\n' }),
  health: () => ({ healthy: true, status: 200, reason: 'ok: stand-in', checks: 1, unhealthy: 0 }),
  status: () => ({}),
};

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'httptls-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
let pki: TestPki;
t.before(async () => {
  pki = await makePki(dir);
});

let n = 0;
function web(yaml: string): WebConfig {
  const f = path.join(dir, `web-${++n}.yml`);
  fs.writeFileSync(f, yaml);
  return loadWebConfig(f);
}
const tlsYaml = (extra = '', cert = pki.serverCert, key = pki.serverKey): string => `tls_server_config:\n  cert_file: ${cert}\n  key_file: ${key}\n${extra}`;

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The server certificate's SHA-256 fingerprint (HTTPS). */
  fingerprint?: string;
}

interface Ask {
  path?: string;
  method?: string;
  auth?: string;
  /** HTTPS with this client certificate (name in the PKI) or none. */
  tls?: { client?: 'client' | 'stranger' };
}

function ask(port: number, o: Ask = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const common = {
      host: '127.0.0.1',
      port,
      path: o.path ?? '/healthz',
      method: o.method ?? 'GET',
      agent: false,
      timeout: 5000,
      headers: o.auth ? { Authorization: o.auth } : {},
    };
    const onRes = (res: http.IncomingMessage): void => {
      let body = '';
      const fingerprint = (res.socket as import('node:tls').TLSSocket).getPeerCertificate?.()?.fingerprint256;
      res.setEncoding('utf8').on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, ...(fingerprint ? { fingerprint } : {}) }));
    };
    const req = o.tls
      ? https.request(
          {
            ...common,
            ca: fs.readFileSync(pki.caCert),
            ...(o.tls.client === 'client' ? { cert: fs.readFileSync(pki.clientCert), key: fs.readFileSync(pki.clientKey) } : {}),
            ...(o.tls.client === 'stranger' ? { cert: fs.readFileSync(pki.strangerCert), key: fs.readFileSync(pki.strangerKey) } : {}),
          },
          onRes,
        )
      : http.request(common, onRes);
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end();
  });
}

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

async function serve(
  t: Test,
  w: WebConfig,
  listen = '127.0.0.1:0',
  limits: ConstructorParameters<typeof HttpServer>[1] = {},
): Promise<{ server: HttpServer; port: number }> {
  const server = new HttpServer(createHandler(app), { ...limits, web: w });
  const bound = await server.listen(listen);
  t.teardown(() => server.close());
  return { server, port: bound.port };
}

t.test('HTTPS with the configured certificate; plain HTTP to it fails; headers are set on every answer', async (t) => {
  const w = web(tlsYaml() + 'http_server_config:\n  headers:\n    X-Frame-Options: deny\n    Strict-Transport-Security: max-age=60\n');
  const { port } = await serve(t, w);
  const a = await ask(port, { tls: {} });
  t.equal(a.status, 200);
  t.equal(a.body, 'ok: stand-in\n');
  t.equal(a.fingerprint, w.tls!.certificate.fingerprint256);
  t.equal(a.headers['x-frame-options'], 'deny');
  t.equal(a.headers['strict-transport-security'], 'max-age=60');
  t.equal((await ask(port, { tls: {}, path: '/nope' })).headers['x-frame-options'], 'deny', 'a 404 too');
  await t.rejects(ask(port), 'plain HTTP gets no answer from an HTTPS server');
});

t.test('basic authentication: 401 with WWW-Authenticate, 200 with the right password; over HTTPS and plain HTTP', async (t) => {
  for (const kind of ['https', 'http'] as const) {
    const w = web(
      `${kind === 'https' ? tlsYaml() : ''}basic_auth_users:\n  alice: ${HASH}\nhttp_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\n`,
    );
    const { server, port } = await serve(t, w);
    const o = kind === 'https' ? { tls: {} } : {};
    const none = await ask(port, o);
    t.equal(none.status, 401, `${kind}: no credentials`);
    t.equal(none.headers['www-authenticate'], 'Basic realm="coredns-healthd"');
    t.equal(none.headers['x-content-type-options'], 'nosniff');
    t.equal(none.body, 'unauthorized\n');
    t.equal((await ask(port, { ...o, auth: basic('alice', 'wrong') })).status, 401, `${kind}: wrong password`);
    t.equal((await ask(port, { ...o, auth: basic('bob', 's3cret') })).status, 401, `${kind}: unknown user`);
    const head = await ask(port, { ...o, method: 'HEAD', auth: basic('alice', 'wrong') });
    t.same([head.status, head.body], [401, ''], 'HEAD: no body');
    const ok = await ask(port, { ...o, auth: basic('alice', 's3cret'), path: '/metrics' });
    t.same([ok.status, ok.body], [200, 'x 1\n'], `${kind}: right password`);
    t.equal(server.authFailures, 4);
  }
});

t.test('client_auth_type: who gets through without a certificate, with the CA-signed one, with a stranger', async (t) => {
  const ca = `  client_ca_file: ${pki.caCert}\n`;
  const cases: Array<[string, string, Record<'none' | 'client' | 'stranger', boolean>]> = [
    ['NoClientCert', '', { none: true, client: true, stranger: true }],
    ['RequestClientCert', '', { none: true, client: true, stranger: true }],
    ['RequireAnyClientCert', '', { none: false, client: true, stranger: true }],
    ['VerifyClientCertIfGiven', ca, { none: true, client: true, stranger: false }],
    ['RequireAndVerifyClientCert', ca, { none: false, client: true, stranger: false }],
    ['RequireAndVerifyClientCert', `${ca}  client_allowed_sans: ["spiffe://test/prometheus"]\n`, { none: false, client: true, stranger: false }],
    ['RequireAndVerifyClientCert', `${ca}  client_allowed_sans: [other.test]\n`, { none: false, client: false, stranger: false }],
    ['RequireAnyClientCert', '  client_allowed_sans: [scraper.test]\n', { none: false, client: true, stranger: true }],
  ];
  for (const [type, extra, expect] of cases) {
    const { server, port } = await serve(t, web(tlsYaml(`  client_auth_type: ${type}\n${extra}`)));
    for (const who of ['none', 'client', 'stranger'] as const) {
      const what = `${type}${extra.includes('sans') ? ' + SANs' : ''}, ${who === 'none' ? 'no certificate' : `${who} certificate`}`;
      const got = await ask(port, { tls: who === 'none' ? {} : { client: who } }).then(
        (a) => a.status === 200,
        () => false,
      );
      t.equal(got, expect[who], `${what}: ${expect[who] ? 'served' : 'refused'}`);
    }
    const refusals = Object.values(expect).filter((v) => !v).length;
    t.ok(server.tlsErrors >= refusals, `${type}: refused connections are counted (${server.tlsErrors})`);
  }
});

t.test('a TLS handshake that never completes is closed after handshakeTimeoutMs', async (t) => {
  const { server, port } = await serve(t, web(tlsYaml()), '127.0.0.1:0', { handshakeTimeoutMs: 300 });
  const t0 = Date.now();
  const closedAfter = await new Promise<number>((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    s.on('close', () => resolve(Date.now() - t0));
    setTimeout(() => reject(new Error('still open after 5 s')), 5000).unref();
  });
  t.ok(closedAfter >= 250 && closedAfter < 2500, `closed after ${closedAfter} ms`);
  t.equal(server.tlsErrors, 1);
  t.equal(server.limits.handshakeTimeoutMs, 300);
});

t.test('rate_limit: beyond the burst, 429 with Retry-After', async (t) => {
  const { port } = await serve(t, web('rate_limit:\n  interval: 1m\n  burst: 2\n'));
  t.same([(await ask(port)).status, (await ask(port)).status], [200, 200]);
  const third = await ask(port);
  t.equal(third.status, 429);
  t.equal(third.headers['retry-after'], '1');
  let now = 0;
  const b = new TokenBucket({ intervalMs: 100, burst: 2 }, () => now);
  t.same([b.take(), b.take(), b.take()], [true, true, false]);
  now = 150;
  t.same([b.take(), b.take()], [true, false], 'one token back after one interval');
});

t.test('reconfigure: certificates, users and headers change in place; HTTP <-> HTTPS rebinds', async (t) => {
  const first = web(`${tlsYaml()}basic_auth_users:\n  alice: ${HASH}\n`);
  const { server, port } = await serve(t, first);
  const auth = basic('alice', 's3cret');
  t.equal((await ask(port, { tls: {}, auth })).fingerprint, first.tls!.certificate.fingerprint256);

  const rotated = web(`${tlsYaml('', pki.server2Cert, pki.server2Key)}http_server_config:\n  headers:\n    X-Frame-Options: sameorigin\n`);
  t.not(rotated.tls!.certificate.fingerprint256, first.tls!.certificate.fingerprint256);
  const r = await server.reconfigure('127.0.0.1:0', rotated);
  t.same([r.action, r.bound.port], ['updated', port], 'in place, same socket');
  const after = await ask(port, { tls: {} });
  t.equal(after.status, 200, 'no users any more: no authentication');
  t.equal(after.fingerprint, rotated.tls!.certificate.fingerprint256, 'the new certificate is served');
  t.equal(after.headers['x-frame-options'], 'sameorigin');
  t.equal(server.web, rotated);

  const plain = await server.reconfigure('127.0.0.1:0', PLAIN_WEB_CONFIG);
  t.equal(plain.action, 'rebound');
  t.equal((await ask(plain.bound.port)).status, 200, 'plain HTTP after switching TLS off');
  await t.rejects(ask(port, { tls: {} }), 'the HTTPS socket is gone');

  // Same fixed address, other kind of server: the old socket is freed first.
  const fixed = plain.bound.port;
  await server.rebind(`127.0.0.1:${fixed}`);
  const back = await server.reconfigure(`127.0.0.1:${fixed}`, first);
  t.same([back.action, back.bound.port], ['rebound', fixed]);
  t.equal((await ask(fixed, { tls: {}, auth })).status, 200, 'HTTPS again on the same port');
  const clientAuth = await server.reconfigure(
    `127.0.0.1:${fixed}`,
    web(tlsYaml(`  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ${pki.caCert}\n`)),
  );
  t.equal(clientAuth.action, 'rebound', 'a new client certificate policy is a new server');
  await t.rejects(ask(fixed, { tls: {} }));
  t.equal((await ask(fixed, { tls: { client: 'client' } })).status, 200);
});

t.test('":PORT" listens on every address', async (t) => {
  const { server, port } = await serve(t, PLAIN_WEB_CONFIG, ':0');
  t.ok(['::', '0.0.0.0'].includes(server.bound!.address), `bound to ${server.bound!.address}`);
  t.equal(server.bound!.listen, ':0');
  t.equal((await ask(port)).status, 200, 'reachable on 127.0.0.1');
});

t.test('subjectAltNames and canonicalIp', async (t) => {
  t.same(subjectAltNames('DNS:a.test, IP Address:0:0:0:0:0:0:0:1, IP Address:10.0.0.1, email:x@y, URI:spiffe://t/p, DNS:"b,c"'), [
    'a.test',
    '::1',
    '10.0.0.1',
    'x@y',
    'spiffe://t/p',
    'b,c',
  ]);
  t.same(subjectAltNames(undefined), []);
  t.equal(canonicalIp('FD00:0:0::10'), 'fd00::10');
  t.equal(canonicalIp('not an ip:'), 'not an ip:');
});
