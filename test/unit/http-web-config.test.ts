// The web configuration file (exporter-toolkit's format): every field, and
// every error naming the file (with line and column) and the key. Certificates
// come from a throwaway PKI made with openssl.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import t, { type Test } from 'tap';
import { loadOptionsFrom, runConfig } from '../../src/cli/config.js';
import { ConfigError, type ConfigProblem } from '../../src/config/errors.js';
import { loadConfigResult, type LoadResult } from '../../src/config/load.js';
import { CIPHER_SUITES, loadWebConfig, parseWebConfig, PLAIN_WEB_CONFIG, webConfigLoader, type WebConfig } from '../../src/http/web-config.js';
import { makePki, type TestPki } from '../support/tls-certs.js';

/** An htpasswd -nbB hash ($2y$, cost 5) of "s3cret". */
const HASH = '$2y$05$Sb48ykBhBh9Ne6pByVZUdOdhfk0b1bpiAgkG2NarKdo7ArzsLOxUW';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webcfg-'));
t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
let pki: TestPki;
t.before(async () => {
  pki = await makePki(dir);
});

let n = 0;
/** Writes YAML to a new file in the test directory; returns its path. */
function file(yaml: string): string {
  const f = path.join(dir, `web-${++n}.yml`);
  fs.writeFileSync(f, yaml);
  return f;
}

/** The problems of loading `yaml`; fails the test when it loads. */
function problems(t: Test, yaml: string): { file: string; list: readonly ConfigProblem[] } {
  const f = file(yaml);
  try {
    loadWebConfig(f);
  } catch (err) {
    if (err instanceof ConfigError) return { file: f, list: err.problems };
    throw err;
  }
  t.fail(`expected ${f} to be refused:\n${yaml}`);
  return { file: f, list: [] };
}

/** Asserts one problem with this key whose message matches, and whose source is the file (with line:col when given). */
function refused(t: Test, yaml: string, key: string, message: RegExp, line?: number): void {
  const { file: f, list } = problems(t, yaml);
  const p = list.find((x) => x.key === key);
  t.ok(p, `a problem for ${JSON.stringify(key)} (got ${JSON.stringify(list)})`);
  if (!p) return;
  t.match(p.message, message, `${key}: ${p.message}`);
  t.ok(p.source === f || p.source.startsWith(`${f}:`), `the source names the file: ${p.source}`);
  if (line !== undefined) t.match(p.source, new RegExp(`^${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${line}:\\d+$`), `line ${line}`);
}

/** The problems of a ConfigError `fn` throws ([] when it does not). */
function problemsOf(fn: () => unknown): readonly ConfigProblem[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

const tlsBlock = (extra = ''): string => `tls_server_config:\n  cert_file: ${pki.serverCert}\n  key_file: ${pki.serverKey}\n${extra}`;

t.test('"" and empty files: plain HTTP, no authentication', async (t) => {
  t.equal(loadWebConfig(''), PLAIN_WEB_CONFIG);
  for (const text of ['', '# nothing yet\n', '---\n', 'tls_server_config:\nbasic_auth_users:\nhttp_server_config:\n']) {
    const w = loadWebConfig(file(text));
    t.equal(w.tls, null, JSON.stringify(text));
    t.equal(w.users.size, 0);
    t.same(w.headers, {});
    t.equal(w.rateLimit, null);
  }
});

t.test('every field', async (t) => {
  const f = file(`# as node_exporter reads it
tls_server_config:
  cert_file: ${pki.serverCert}
  key_file: ${pki.serverKey}
  client_auth_type: RequireAndVerifyClientCert
  client_ca_file: ${pki.caCert}
  client_allowed_sans: [scraper.test, "spiffe://test/prometheus"]
  min_version: TLS13
  max_version: TLS13
  cipher_suites:
    - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    - TLS_AES_256_GCM_SHA384
  prefer_server_cipher_suites: false
  curve_preferences: [X25519, CurveP256, CurveP384, CurveP521]
http_server_config:
  http2: false
  headers:
    X-Frame-Options: deny
    X-Content-Type-Options: nosniff
    X-XSS-Protection: 1
    Strict-Transport-Security: max-age=31536000; includeSubDomains
    Content-Security-Policy: "default-src 'self'"
basic_auth_users:
  alice: ${HASH}
  "bob": '${HASH}'
rate_limit:
  interval: 100ms
  burst: 20
`);
  const w = loadWebConfig(f);
  t.equal(w.file, f);
  t.ok(w.tls);
  const c = w.tls!.context;
  t.equal(c.cert, fs.readFileSync(pki.serverCert, 'utf8'));
  t.equal(c.key, fs.readFileSync(pki.serverKey, 'utf8'));
  t.equal(c.ca, fs.readFileSync(pki.caCert, 'utf8'));
  t.same(
    { minVersion: c.minVersion, maxVersion: c.maxVersion, ciphers: c.ciphers, ecdhCurve: c.ecdhCurve, honorCipherOrder: c.honorCipherOrder },
    {
      minVersion: 'TLSv1.3',
      maxVersion: 'TLSv1.3',
      ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256:TLS_AES_256_GCM_SHA384',
      ecdhCurve: 'X25519:prime256v1:secp384r1:secp521r1',
      honorCipherOrder: false,
    },
  );
  t.equal(w.tls!.clientAuth, 'RequireAndVerifyClientCert');
  t.same(w.tls!.clientAllowedSans, ['scraper.test', 'spiffe://test/prometheus']);
  t.match(w.tls!.certificate, { subject: 'CN=localhost', serialNumber: /^[0-9A-F]+$/, fingerprint256: /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/ });
  t.same(w.headers, {
    'X-Frame-Options': 'deny',
    'X-Content-Type-Options': 'nosniff',
    'X-XSS-Protection': '1',
    'Strict-Transport-Security': 'max-age=31536000; includeSubDomains',
    'Content-Security-Policy': "default-src 'self'",
  });
  t.same(
    [...w.users],
    [
      ['alice', HASH],
      ['bob', HASH],
    ],
  );
  t.same(w.rateLimit, { intervalMs: 100, burst: 20 });
  t.same(w.warnings, []);
  t.ok(Object.isFrozen(w));
});

t.test('defaults of tls_server_config: TLS 1.2 to 1.3, Node defaults for ciphers and curves, server order, no client certificates', async (t) => {
  const w = loadWebConfig(file(tlsBlock()));
  t.match(w.tls, {
    clientAuth: 'NoClientCert',
    clientAllowedSans: null,
    context: { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.3', ciphers: tls.DEFAULT_CIPHERS, ecdhCurve: tls.DEFAULT_ECDH_CURVE, honorCipherOrder: true },
  });
  t.notOk('ca' in w.tls!.context);
});

t.test('relative paths are read from the web configuration file’s directory; inline PEM works too', async (t) => {
  const sub = path.join(dir, 'etc');
  fs.mkdirSync(sub, { recursive: true });
  fs.copyFileSync(pki.serverCert, path.join(sub, 'tls.crt'));
  fs.copyFileSync(pki.serverKey, path.join(sub, 'tls.key'));
  const f = path.join(sub, 'web.yml');
  fs.writeFileSync(f, 'tls_server_config:\n  cert_file: tls.crt\n  key_file: ./tls.key\n');
  t.equal(loadWebConfig(f).tls?.certificate.subject, 'CN=localhost');

  const indent = (pem: string): string => pem.trim().replace(/\n/g, '\n    ');
  const inline = file(
    `tls_server_config:\n  cert: |\n    ${indent(fs.readFileSync(pki.serverCert, 'utf8'))}\n  key: |\n    ${indent(fs.readFileSync(pki.serverKey, 'utf8'))}\n` +
      `  client_auth_type: RequireAndVerifyClientCert\n  client_ca: |\n    ${indent(fs.readFileSync(pki.caCert, 'utf8'))}\n`,
  );
  const w = loadWebConfig(inline);
  t.equal(w.tls?.certificate.subject, 'CN=localhost');
  t.match(w.tls?.context.ca, /BEGIN CERTIFICATE/);
  refused(
    t,
    `tls_server_config:\n  cert: "x"\n  cert_file: ${pki.serverCert}\n  key_file: ${pki.serverKey}\n`,
    'tls_server_config.cert_file',
    /set cert_file or cert, not both/,
  );
});

t.test('bad YAML names the file, line and column', async (t) => {
  const { file: f, list } = problems(t, 'tls_server_config:\n  cert_file: [unclosed\n');
  t.equal(list.length, 1);
  t.match(list[0], { key: '', message: /^invalid YAML: / });
  t.match(list[0]!.source, new RegExp(`^${f}:\\d+:\\d+$`));
  const dup = problems(t, 'basic_auth_users:\n  alice: x\n  alice: y\n');
  t.match(dup.list[0], { message: /invalid YAML: .*unique/i });
  const top = problems(t, '- a\n- b\n');
  t.match(top.list[0], { key: '', message: /must be a mapping \(the top level, with tls_server_config, http_server_config, basic_auth_users, rate_limit\)/ });
  refused(t, 'basic_auth_users: [alice]\n', 'basic_auth_users', /must be a mapping/, 1);
});

t.test('unknown keys are errors naming the key and the file, as exporter-toolkit is strict', async (t) => {
  refused(
    t,
    'tls_server_confg:\n  cert_file: x\n',
    'tls_server_confg',
    /unknown key \(known here: tls_server_config, http_server_config, basic_auth_users, rate_limit\)/,
    1,
  );
  refused(t, `${tlsBlock()}  cert_filse: x\n`, 'tls_server_config.cert_filse', /unknown key/, 4);
  refused(t, `${tlsBlock()}  client-auth-type: RequireAnyClientCert\n`, 'tls_server_config.client-auth-type', /did you mean "client_auth_type"\?/);
  refused(t, 'http_server_config:\n  header:\n    X-Frame-Options: deny\n', 'http_server_config.header', /unknown key \(known here: http2, headers\)/, 2);
  refused(t, 'rate_limit:\n  interval: 1s\n  bursts: 2\n', 'rate_limit.bursts', /unknown key/);
});

t.test('basic_auth_users: bcrypt hashes only ($2y$ from htpasswd -B, $2b$, $2a$); the hash is never echoed', async (t) => {
  const w = loadWebConfig(
    file(`basic_auth_users:\n  a: ${HASH}\n  b: ${HASH.replace('$2y$', '$2b$')}\n  c: ${HASH.replace('$2y$', '$2a$')}\n  123: ${HASH}\n`),
  );
  t.same([...w.users.keys()], ['a', 'b', 'c', '123'], 'a numeric user name is its text');
  t.same(w.warnings, ['basic_auth_users without tls_server_config: passwords cross the network in clear text']);
  for (const bad of [
    'doe',
    'secret-password',
    HASH.slice(0, -1),
    HASH.replace('$2y$', '$2x$'),
    HASH.replace('$05$', '$03$'),
    HASH.replace('$05$', '$32$'),
    '$1$abc$def',
    '{SHA}abc=',
  ]) {
    const { list } = problems(t, `basic_auth_users:\n  john: '${bad}'\n`);
    t.match(list, [{ key: 'basic_auth_users.john', message: /not a bcrypt hash .*htpasswd -nbB/ }], bad);
    t.notOk(list[0]!.message.includes(bad), 'the value is not in the message');
  }
  refused(t, 'basic_auth_users:\n  john: [a]\n', 'basic_auth_users.john', /must be a string/);
  const costly = loadWebConfig(file(`${tlsBlock()}basic_auth_users:\n  slow: ${HASH.replace('$05$', '$14$')}\n  "a:b": ${HASH}\n`));
  t.match(costly.warnings, [
    /basic_auth_users\.slow: bcrypt cost 14: a verification takes about 1 s of CPU here/,
    /basic_auth_users\.a:b: a user name with ":" can never log in/,
  ]);
});

t.test('certificate, key and client CA files: readable, PEM, and the key matches the certificate; errors name the key and the file', async (t) => {
  const missing = path.join(dir, 'nope.crt');
  refused(
    t,
    `tls_server_config:\n  cert_file: ${missing}\n  key_file: ${pki.serverKey}\n`,
    'tls_server_config.cert_file',
    new RegExp(`cannot read ${missing}: ENOENT \\(no such file\\)`),
    2,
  );
  refused(
    t,
    `tls_server_config:\n  cert_file: ${pki.serverCert}\n  key_file: ${missing}\n`,
    'tls_server_config.key_file',
    /cannot read .*nope\.crt: ENOENT/,
    3,
  );
  refused(t, `tls_server_config:\n  cert_file: ${dir}\n  key_file: ${pki.serverKey}\n`, 'tls_server_config.cert_file', /is not a regular file/);
  refused(t, `tls_server_config:\n  cert_file: ${pki.serverKey}\n  key_file: ${pki.serverKey}\n`, 'tls_server_config.cert_file', /not a PEM certificate/);
  refused(
    t,
    `tls_server_config:\n  cert_file: ${pki.serverCert}\n  key_file: ${pki.serverCert}\n`,
    'tls_server_config.key_file',
    /not an unencrypted PEM private key/,
  );
  refused(
    t,
    `tls_server_config:\n  cert_file: ${pki.serverCert}\n  key_file: ${pki.server2Key}\n`,
    'tls_server_config.key_file',
    /does not match the certificate of tls_server_config\.cert_file \(subject CN=localhost\)/,
    3,
  );
  refused(
    t,
    tlsBlock(`  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ${pki.serverKey}\n`),
    'tls_server_config.client_ca_file',
    /holds no PEM certificate/,
  );
  refused(
    t,
    tlsBlock(`  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ${missing}\n`),
    'tls_server_config.client_ca_file',
    /cannot read .*ENOENT/,
  );
  refused(t, 'tls_server_config:\n  min_version: TLS13\n', 'tls_server_config.cert_file', /missing: TLS needs cert_file \(or cert\) and key_file \(or key\)/);
  refused(t, `tls_server_config:\n  cert_file: ${pki.serverCert}\n`, 'tls_server_config.key_file', /missing/);
  if (process.getuid?.() !== 0) {
    const locked = path.join(dir, 'locked.key');
    fs.copyFileSync(pki.serverKey, locked);
    fs.chmodSync(locked, 0);
    refused(t, `tls_server_config:\n  cert_file: ${pki.serverCert}\n  key_file: ${locked}\n`, 'tls_server_config.key_file', /EACCES \(permission denied\)/);
  }
  const { list } = problems(t, `tls_server_config:\n  cert_file: ${missing}\n  key_file: ${missing}\nbasic_auth_users:\n  x: y\n`);
  t.same(
    list.map((p) => p.key),
    ['tls_server_config.cert_file', 'tls_server_config.key_file', 'basic_auth_users.x'],
    'every problem at once',
  );
});

t.test('client_auth_type: exporter-toolkit’s values and their rules', async (t) => {
  for (const v of ['NoClientCert', 'RequestClientCert', 'RequireAnyClientCert'])
    t.equal(loadWebConfig(file(tlsBlock(`  client_auth_type: ${v}\n`))).tls?.clientAuth, v);
  for (const v of ['VerifyClientCertIfGiven', 'RequireAndVerifyClientCert']) {
    t.equal(loadWebConfig(file(tlsBlock(`  client_auth_type: ${v}\n  client_ca_file: ${pki.caCert}\n`))).tls?.clientAuth, v);
    refused(
      t,
      tlsBlock(`  client_auth_type: ${v}\n`),
      'tls_server_config.client_ca_file',
      new RegExp(`${v} needs client_ca_file .*any certificate from a public CA`),
    );
  }
  t.equal(loadWebConfig(file(tlsBlock('  client_auth_type: RequireClientCert\n'))).tls?.clientAuth, 'RequireAnyClientCert', 'the old name');
  t.equal(loadWebConfig(file(tlsBlock('  client_auth_type: ""\n'))).tls?.clientAuth, 'NoClientCert');
  refused(
    t,
    tlsBlock('  client_auth_type: requireandverifyclientcert\n'),
    'tls_server_config.client_auth_type',
    /unknown value "requireandverifyclientcert" \(one of NoClientCert, /,
    4,
  );
  refused(
    t,
    tlsBlock(`  client_ca_file: ${pki.caCert}\n`),
    'tls_server_config.client_auth_type',
    /client_ca_file is set but client_auth_type asks for no client certificate/,
  );
  refused(t, tlsBlock('  client_allowed_sans: [a]\n'), 'tls_server_config.client_allowed_sans', /needs a client_auth_type that asks for a client certificate/);
  refused(
    t,
    tlsBlock('  client_auth_type: RequireAnyClientCert\n  client_allowed_sans: a\n'),
    'tls_server_config.client_allowed_sans',
    /must be a list of strings/,
  );
});

t.test('min_version and max_version', async (t) => {
  t.match(loadWebConfig(file(tlsBlock('  min_version: TLS13\n'))).tls?.context, { minVersion: 'TLSv1.3', maxVersion: 'TLSv1.3' });
  t.match(loadWebConfig(file(tlsBlock('  max_version: TLS12\n'))).tls?.context, { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
  const old = loadWebConfig(file(tlsBlock('  min_version: TLS10\n')));
  t.equal(old.tls?.context.minVersion, 'TLSv1');
  t.match(old.warnings, [
    /min_version: TLS10 is accepted, but Node's OpenSSL negotiates TLS 1\.0 and 1\.1 only at security level 0: TLS12 is the real minimum/,
  ]);
  refused(t, tlsBlock('  max_version: TLS11\n'), 'tls_server_config.max_version', /below TLS12: .*no client could connect/);
  refused(t, tlsBlock('  min_version: TLS13\n  max_version: TLS12\n'), 'tls_server_config.min_version', /TLS13 is above max_version TLS12/);
  refused(t, tlsBlock('  min_version: TLSv1.2\n'), 'tls_server_config.min_version', /unknown TLS version "TLSv1\.2" \(TLS10, TLS11, TLS12 or TLS13\)/, 4);
});

t.test('cipher_suites (Go names), curve_preferences, prefer_server_cipher_suites', async (t) => {
  const all = loadWebConfig(
    file(
      tlsBlock(
        `  cipher_suites:\n${Object.keys(CIPHER_SUITES)
          .map((c) => `    - ${c}\n`)
          .join('')}`,
      ),
    ),
  );
  t.equal(all.tls?.context.ciphers.split(':').length, Object.keys(CIPHER_SUITES).length, "every name of Go's tls.CipherSuites() is accepted by Node's OpenSSL");
  refused(
    t,
    tlsBlock('  cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_INVENTED_SUITE]\n'),
    'tls_server_config.cipher_suites[1]',
    /unknown cipher suite "TLS_INVENTED_SUITE" \(Go's names/,
  );
  refused(t, tlsBlock('  cipher_suites: [ECDHE-RSA-AES128-GCM-SHA256]\n'), 'tls_server_config.cipher_suites[0]', /unknown cipher suite/, 4);
  refused(
    t,
    tlsBlock('  cipher_suites: [TLS_RSA_WITH_3DES_EDE_CBC_SHA]\n'),
    'tls_server_config.cipher_suites[0]',
    /not available in Node's OpenSSL \(3DES is disabled\)/,
  );
  t.equal(loadWebConfig(file(tlsBlock('  cipher_suites: []\n'))).tls?.context.ciphers, tls.DEFAULT_CIPHERS, 'an empty list: the defaults');
  refused(
    t,
    tlsBlock('  curve_preferences: [CurveP256, P-256]\n'),
    'tls_server_config.curve_preferences[1]',
    /unknown curve "P-256" \(CurveP256, CurveP384, CurveP521, X25519\)/,
  );
  refused(t, tlsBlock('  prefer_server_cipher_suites: maybe\n'), 'tls_server_config.prefer_server_cipher_suites', /must be true or false, got "maybe"/);
  t.equal(loadWebConfig(file(tlsBlock('  prefer_server_cipher_suites: no\n'))).tls?.context.honorCipherOrder, false, 'YAML 1.1 booleans, as Go reads them');
});

t.test('http_server_config.headers: only the headers exporter-toolkit allows, with its values', async (t) => {
  refused(
    t,
    'http_server_config:\n  headers:\n    Content-Type: foo\n',
    'http_server_config.headers.Content-Type',
    /header "Content-Type" can not be configured \(allowed: Strict-Transport-Security, /,
    3,
  );
  refused(
    t,
    'http_server_config:\n  headers:\n    x-frame-options: deny\n',
    'http_server_config.headers.x-frame-options',
    /can not be configured .*names as written here/,
  );
  refused(
    t,
    'http_server_config:\n  headers:\n    X-Frame-Options: allow\n',
    'http_server_config.headers.X-Frame-Options',
    /must be one of "deny", "sameorigin", got "allow"/,
  );
  refused(t, 'http_server_config:\n  headers:\n    X-Frame-Options: DENY\n', 'http_server_config.headers.X-Frame-Options', /must be one of/);
  refused(
    t,
    'http_server_config:\n  headers:\n    X-Content-Type-Options: sniff\n',
    'http_server_config.headers.X-Content-Type-Options',
    /must be one of "nosniff"/,
  );
  refused(
    t,
    'http_server_config:\n  headers:\n    Content-Security-Policy: "a\\nb"\n',
    'http_server_config.headers.Content-Security-Policy',
    /a character an HTTP header cannot carry/,
  );
  refused(t, 'http_server_config:\n  headers: [a]\n', 'http_server_config.headers', /must be a mapping/);
  t.same(loadWebConfig(file('http_server_config:\n  headers:\n    Content-Security-Policy: ""\n    X-XSS-Protection:\n')).headers, {}, 'blank: unset');
  t.equal(loadWebConfig(file('http_server_config:\n  http2: true\n')).tls, null, 'http2 is accepted (HTTP/1.1 is served)');
  refused(t, 'http_server_config:\n  http2: 2\n', 'http_server_config.http2', /must be true or false, got "2"/);
});

t.test('rate_limit', async (t) => {
  t.same(loadWebConfig(file('rate_limit:\n  interval: 1s\n  burst: 5\n')).rateLimit, { intervalMs: 1000, burst: 5 });
  t.equal(loadWebConfig(file('rate_limit:\n  interval: 0\n  burst: 0\n')).rateLimit, null, 'interval 0: off');
  refused(t, 'rate_limit:\n  interval: 1s\n  burst: 0\n', 'rate_limit.burst', /at least 1 when interval is set/);
  refused(t, 'rate_limit:\n  interval: soon\n  burst: 1\n', 'rate_limit.interval', /not a duration: "soon"/);
});

t.test('loadWebConfig: a missing or unreadable file names the file and the setting', async (t) => {
  const f = path.join(dir, 'absent.yml');
  t.match(
    problemsOf(() => loadWebConfig(f, 'http.webConfigFile, from flag --web.config.file')),
    [{ source: f, key: '', message: 'web configuration file not found (http.webConfigFile, from flag --web.config.file)' }],
  );
  t.match(
    problemsOf(() => loadWebConfig(dir)),
    [{ source: dir, message: /cannot read the web configuration file \(http\.webConfigFile\): not a regular file/ }],
  );
  t.match(
    problemsOf(() => parseWebConfig('a: [', 'inline.yml')),
    [{ source: /^inline\.yml:1:\d+$/ }],
  );
});

t.test('webConfigLoader: each load reads the web configuration too; a bad one fails the load and keeps the last good one', async (t) => {
  const web = file(tlsBlock());
  const cfg = path.join(dir, 'config.json');
  fs.writeFileSync(cfg, JSON.stringify({ http: { webConfigFile: web } }));
  const loader = webConfigLoader(loadConfigResult);
  t.equal(loader.current(), PLAIN_WEB_CONFIG);
  const r: LoadResult = loader.load({ file: cfg, env: {} });
  t.equal(r.config.http.webConfigFile, web);
  const first = loader.current();
  t.equal(first.tls?.certificate.subject, 'CN=localhost');
  fs.writeFileSync(web, `${tlsBlock()}  bogus: 1\n`);
  t.match(
    problemsOf(() => loader.load({ file: cfg, env: {} })),
    [{ source: new RegExp(`^${web}:`), key: 'tls_server_config.bogus' }],
  );
  t.equal(loader.current(), first, 'the last good web configuration stays');
  t.match(
    problemsOf(() =>
      loader.load({
        file: cfg,
        env: {},
        flags: { 'http.webConfigFile': path.join(dir, 'gone.yml') },
        flagNames: { 'http.webConfigFile': '--web.config.file' },
      }),
    ),
    [{ message: 'web configuration file not found (http.webConfigFile, from flag --web.config.file)' }],
  );
});

t.test('flags: --web.config.file, --web.listen-address (an alias of --listen), ":PORT"', async (t) => {
  t.same(loadOptionsFrom({ 'web.listen-address': ':9100', 'web.config.file': '/etc/web.yml' }).flags, {
    'http.listen': ':9100',
    'http.webConfigFile': '/etc/web.yml',
  });
  t.throws(() => loadOptionsFrom({ listen: ':1', 'web.listen-address': ':2' }), /--web\.listen-address: http\.listen is already set by --listen/);
  const r = loadConfigResult({ file: false, env: {}, ...loadOptionsFrom({ 'web.listen-address': ':9100' }) });
  t.equal(r.config.http.listen, ':9100');
  t.equal(r.sources['http.listen'], 'flag --web.listen-address');
});

t.test('config check validates the web configuration file too (ExecReload=, ExecStartPre=)', async (t) => {
  const run = (argv: string[]): { code: number; out: string; err: string } => {
    let out = '';
    let err = '';
    const code = runConfig(argv, { stdout: (s) => void (out += s), stderr: (s) => void (err += s) });
    return { code, out, err };
  };
  const good = file(`${tlsBlock('  min_version: TLS11\n')}basic_auth_users:\n  alice: ${HASH}\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n`);
  const ok = run(['check', '--config', '/dev/null', '--web.config.file', good]);
  t.equal(ok.code, 0, ok.err);
  t.match(ok.out, `web configuration OK: ${good} (TLS, client certificates: NoClientCert; basic authentication: 1 user; headers: X-Frame-Options)`);
  t.match(ok.err, /warning: .*min_version: TLS11 is accepted/);
  const bad = file(`tls_server_config:\n  cert_file: ${pki.serverCert}\n  key_file: ${pki.server2Key}\n`);
  const no = run(['check', '--config', '/dev/null', '--web.config.file', bad]);
  t.equal(no.code, 2);
  t.match(no.err, new RegExp(`invalid configuration:\\n  ${bad}:3:\\d+: tls_server_config\\.key_file: does not match the certificate`));
  const gone = run(['check', '--config', '/dev/null', '--set', `http.webConfigFile=${path.join(dir, 'none.yml')}`]);
  t.equal(gone.code, 2);
  t.match(gone.err, /none\.yml: web configuration file not found \(http\.webConfigFile, from flag --set http\.webConfigFile\)/);
  const plain = run(['check', '--config', '/dev/null']);
  t.equal(plain.code, 0);
  t.notMatch(plain.out, /web configuration/);
});

t.test('the parsed configuration is what the HTTP server uses', async (t) => {
  const w: WebConfig = loadWebConfig(file(tlsBlock()));
  t.doesNotThrow(() => tls.createSecureContext(w.tls!.context));
});
