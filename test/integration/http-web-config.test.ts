// The web configuration end to end: `coredns-healthd run` (a child process,
// compiled) with --web.config.file, a PKI made with openssl, a password hash
// from `htpasswd -nbB` ($2y$), real curl, and a real Prometheus scraping the
// daemon over TLS with basic authentication. Then, on SIGHUP: the certificate
// rotates without a restart, a bad file keeps the last good one, a client
// certificate policy rebinds, and an empty file goes back to plain HTTP.
//
// Traffic stays on loopback: the only DNS target is a responder on 127.0.0.1
// probed from the host vantage (the host resolv.conf is a file of the test's
// own with no nameserver). Root: the probe engine enters the host namespace
// with setns(), which needs CAP_SYS_ADMIN.
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { waitFor } from '../support/http-probe.js';
import { compiled, REPO } from '../support/paths.js';
import { spawnResponder } from '../support/responder-process.js';
import { requireRoot } from '../support/root.js';
import { run, tryRun, which } from '../support/run.js';
import { spawnService, type Service } from '../support/service.js';
import { makePki } from '../support/tls-certs.js';

const WHY = 'the daemon probes from the host vantage, and entering a network namespace (setns) needs CAP_SYS_ADMIN';
const CLI = compiled('src/cli/main.ts');
const USER = 'scraper';
const PASSWORD = 'correct horse battery staple';

type Line = Record<string, unknown>;

/** The environment without the daemon's own variables and systemd's. */
function cleanEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env).filter(
      (e): e is [string, string] => e[1] !== undefined && !e[0].startsWith('COREDNS_HEALTHD_') && !e[0].startsWith('NOTIFY_') && !e[0].startsWith('WATCHDOG_'),
    ),
  );
}

/** `coredns-healthd ARGS` (compiled) as a service; each stdout line parsed as JSON. */
function spawnCli(args: string[], onLine: (line: Line) => void): Service {
  const script = `const { main } = await import(${JSON.stringify(new URL(`file://${CLI}`).href)}); process.exitCode = await main(process.argv.slice(1));`;
  return spawnService(
    'env',
    [`--chdir=${REPO}`, '-i', ...Object.entries(cleanEnv()).map(([k, v]) => `${k}=${v}`), process.execPath, '--input-type=module', '-e', script, ...args],
    {
      onLine: (line) => {
        try {
          onLine(JSON.parse(line) as Line);
        } catch {
          onLine({ unparsed: line });
        }
      },
    },
  );
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

interface Curl {
  code: number | null;
  /** The HTTP status ("000" when there was none). */
  status: string;
  stderr: string;
  /** %{certs}: the served certificate chain (curl 7.88+). */
  certs: string;
}

async function curl(url: string, opts: { ca?: string; user?: string; cert?: [string, string]; headersTo?: string } = {}): Promise<Curl> {
  const args = ['-sS', '--max-time', '10', '-o', '/dev/null', '-w', '%{http_code}\n%{certs}'];
  if (opts.ca) args.push('--cacert', opts.ca);
  if (opts.user) args.push('-u', opts.user);
  if (opts.cert) args.push('--cert', opts.cert[0], '--key', opts.cert[1]);
  if (opts.headersTo) args.push('-D', opts.headersTo);
  args.push(url);
  const r = await tryRun(which('curl', 'curl'), args);
  const [status = '', ...certs] = r.stdout.split('\n');
  return { code: r.code, status, stderr: r.stderr.trim(), certs: certs.join('\n') };
}

/** The serial number of the certificate curl was served (lower-case hex, no leading zeros). */
const servedSerial = (c: Curl): string | undefined =>
  /^Serial Number:\s*([0-9a-fA-F:]+)/m.exec(c.certs)?.[1]?.replace(/:/g, '').toLowerCase().replace(/^0+/, '');
const fileSerial = (file: string): string => new crypto.X509Certificate(fs.readFileSync(file)).serialNumber.toLowerCase().replace(/^0+/, '');

t.test('TLS and basic authentication from a web configuration file: curl, Prometheus, rotation and bad files on SIGHUP', async (t) => {
  if (!requireRoot(t, WHY)) return;
  const dns = await spawnResponder({ listen: '127.0.0.1', port: 0, mode: 'nxdomain', t });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'webcfg-it-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const pki = await makePki(dir);
  const hash = (await run(which('htpasswd', 'apache2-utils'), ['-nbB', USER, PASSWORD])).stdout.trim().split(':').slice(1).join(':');
  t.match(hash, /^\$2y\$05\$/, 'htpasswd -B makes $2y$ hashes');

  // The web configuration names copies that rotation overwrites.
  const tlsCrt = path.join(dir, 'tls.crt');
  const tlsKey = path.join(dir, 'tls.key');
  fs.copyFileSync(pki.serverCert, tlsCrt);
  fs.copyFileSync(pki.serverKey, tlsKey);
  const webFile = path.join(dir, 'web.yml');
  const goodWeb = `# exporter-toolkit's format, as node_exporter reads it
tls_server_config:
  cert_file: tls.crt
  key_file: tls.key
  min_version: TLS12
basic_auth_users:
  ${USER}: ${hash}
http_server_config:
  headers:
    X-Frame-Options: deny
`;
  fs.writeFileSync(webFile, goodWeb);
  const resolv = path.join(dir, 'resolv.conf');
  fs.writeFileSync(resolv, '# no nameserver: the host vantage probes the static target only\n');
  const configFile = path.join(dir, 'coredns-healthd.json');
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      interval: '500ms',
      jitter: '0',
      probe: { timeout: '1s', attempts: 1, maxQueriesPerSecond: 100_000, transports: ['udp'] },
      queries: [{ name: 'webcfg.test', type: 'A', validRcodes: ['NXDOMAIN'], requireAnswers: false }],
      targets: [`127.0.0.1:${dns.port}`],
      hostResolvConf: resolv,
      discovery: { host: true, containers: false, docker: { enabled: false } },
      health: { staleAfter: '10s' },
      log: { level: 'info' },
      kubernetes: { enabled: false },
    }),
  );

  // `config check` (systemd's ExecStartPre=/ExecReload=) reads the web configuration too.
  const check = await tryRun(process.execPath, [
    path.join(REPO, 'bin/coredns-healthd.js'),
    'config',
    'check',
    '--config',
    configFile,
    '--web.config.file',
    webFile,
  ]);
  t.equal(check.code, 0, check.stderr);
  t.match(check.stdout, `web configuration OK: ${webFile} (TLS, client certificates: NoClientCert; basic authentication: 1 user; headers: X-Frame-Options)`);

  const lines: Line[] = [];
  const daemon = spawnCli(['run', '--config', configFile, '--web.listen-address', '127.0.0.1:0', '--web.config.file', webFile], (l) => lines.push(l));
  t.teardown(() => daemon.stop(2000));
  const listening = () => lines.filter((l) => l.msg === 'http listening');
  const early = daemon.exited.then((e) => {
    throw new Error(`the daemon exited early (${JSON.stringify(e)}): ${daemon.stderr()}`);
  });
  early.catch(() => undefined);
  await Promise.race([waitFor('the daemon to listen', () => listening().length >= 1, 30_000), early]);
  const first = listening()[0]!;
  t.match(first, { listen: '127.0.0.1:0', tls: true, webConfigFile: webFile, clientAuth: 'NoClientCert', basicAuthUsers: 1, headers: ['X-Frame-Options'] });
  const port = first.port as number;
  const url = (p: string, scheme = 'https', at = port): string => `${scheme}://127.0.0.1:${at}${p}`;
  await waitFor('the first sweep', () => lines.some((l) => l.msg === 'first sweep completed'), 30_000);

  await t.test('curl: TLS with the generated CA; 401 without or with a wrong password, 200 with the right one', async (t) => {
    const headers = path.join(dir, 'headers.txt');
    const none = await curl(url('/metrics'), { ca: pki.caCert, headersTo: headers });
    t.equal(none.status, '401', `no credentials: 401 (${none.stderr})`);
    const h = fs.readFileSync(headers, 'utf8');
    t.match(h, /^www-authenticate: Basic realm="coredns-healthd"\r$/im);
    t.match(h, /^x-frame-options: deny\r$/im, 'the configured header');
    t.equal((await curl(url('/metrics'), { ca: pki.caCert, user: `${USER}:wrong` })).status, '401', 'wrong password: 401');
    t.equal((await curl(url('/metrics'), { ca: pki.caCert, user: `nobody:${PASSWORD}` })).status, '401', 'unknown user: 401');
    const ok = await curl(url('/healthz'), { ca: pki.caCert, user: `${USER}:${PASSWORD}` });
    t.equal(ok.status, '200', `right password: 200 (${ok.stderr})`);
    t.equal(servedSerial(ok), fileSerial(pki.serverCert), 'the configured certificate is served');
    const plain = await curl(url('/metrics', 'http'), { user: `${USER}:${PASSWORD}` });
    t.not(plain.status, '200', `plain HTTP to the TLS port gets nothing (${plain.stderr || plain.status})`);
    const unknownCa = await curl(url('/metrics'), { user: `${USER}:${PASSWORD}` });
    t.not(unknownCa.code, 0, `without the CA, curl refuses the certificate (${unknownCa.stderr})`);
  });

  await t.test('a real Prometheus scrapes over TLS with basic authentication: up 1 with the password, 0 with a wrong one', async (t) => {
    const promPort = await freePort();
    const promDir = path.join(dir, 'prometheus');
    fs.mkdirSync(promDir);
    const job = (name: string, password: string): string => `  - job_name: ${name}
    scheme: https
    tls_config:
      ca_file: ${pki.caCert}
    basic_auth:
      username: ${USER}
      password: ${JSON.stringify(password)}
    static_configs:
      - targets: ['127.0.0.1:${port}']
`;
    const promConfig = path.join(promDir, 'prometheus.yml');
    fs.writeFileSync(
      promConfig,
      `global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n${job('healthd', PASSWORD)}${job('healthd-wrong-password', 'not the password')}`,
    );
    const check = await tryRun(which('promtool'), ['check', 'config', promConfig]);
    t.equal(check.code, 0, `promtool check config: ${check.stdout}${check.stderr}`);
    const prom = spawnService(which('prometheus', 'prometheus'), [
      `--config.file=${promConfig}`,
      `--storage.tsdb.path=${path.join(promDir, 'data')}`,
      `--web.listen-address=127.0.0.1:${promPort}`,
      `--web.console.templates=${promDir}`,
      `--web.console.libraries=${promDir}`,
    ]);
    t.teardown(() => prom.stop(5000));
    const api = async (q: string): Promise<Map<string, number>> => {
      const r = await fetch(`http://127.0.0.1:${promPort}/api/v1/query?query=${encodeURIComponent(q)}`);
      const body = (await r.json()) as { data: { result: Array<{ metric: { job: string }; value: [number, string] }> } };
      return new Map(body.data.result.map((s) => [s.metric.job, Number(s.value[1])]));
    };
    const up = await waitFor(
      'Prometheus to scrape both jobs',
      async () => {
        if (prom.child.exitCode !== null) throw new Error(`prometheus exited: ${prom.stderr()}`);
        const m = await api('up').catch(() => new Map<string, number>());
        return m.get('healthd') === 1 && m.has('healthd-wrong-password') ? m : undefined;
      },
      60_000,
    );
    t.equal(up.get('healthd'), 1, 'up{job="healthd"} is 1: TLS verified against the CA, password accepted');
    t.equal(up.get('healthd-wrong-password'), 0, 'up{job="healthd-wrong-password"} is 0: the scrape got 401');
    const samples = await api('scrape_samples_scraped');
    t.ok((samples.get('healthd') ?? 0) > 10, `the scrape carried the daemon's metrics (${samples.get('healthd')} samples)`);
    const builds = await api('coredns_healthd_build_info');
    t.equal(builds.get('healthd'), 1, 'coredns_healthd_build_info scraped through TLS and basic auth');
    await prom.stop(5000);
  });

  const reloads = () => lines.filter((l) => l.msg === 'http web configuration applied' || l.msg === 'http listening').length;
  const reload = async (what: string, done: () => boolean): Promise<void> => {
    process.kill(daemon.pid, 'SIGHUP');
    await waitFor(what, done, 20_000);
  };

  await t.test('SIGHUP rotates the certificate without a restart', async (t) => {
    // Key first, then certificate: nothing reads them until the signal.
    fs.copyFileSync(pki.server2Key, tlsKey);
    fs.copyFileSync(pki.server2Cert, tlsCrt);
    const before = reloads();
    await reload('the new web configuration', () => reloads() > before);
    const applied = lines.filter((l) => l.msg === 'http web configuration applied').at(-1);
    t.match(
      applied,
      { tls: true, certificate: { serialNumber: new crypto.X509Certificate(fs.readFileSync(pki.server2Cert)).serialNumber } },
      'applied in place',
    );
    const ok = await curl(url('/healthz'), { ca: pki.caCert, user: `${USER}:${PASSWORD}` });
    t.equal(ok.status, '200', ok.stderr);
    t.equal(servedSerial(ok), fileSerial(pki.server2Cert), 'the rotated certificate is served, on the same port');
    t.equal(listening().length, 1, 'no rebind');
  });

  await t.test('a bad web configuration on reload is logged with its file and key, and the last good one keeps serving', async (t) => {
    fs.writeFileSync(webFile, `tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n  cert_filse: oops.crt\nbasic_auth_users:\n  ${USER}: ${hash}\n`);
    const failedBefore = lines.filter((l) => l.msg === 'configuration reload failed; keeping the last good configuration').length;
    await reload(
      'the failed reload',
      () => lines.filter((l) => l.msg === 'configuration reload failed; keeping the last good configuration').length > failedBefore,
    );
    const failed = lines.filter((l) => l.msg === 'configuration reload failed; keeping the last good configuration').at(-1)!;
    t.match(failed, { level: 'error', problems: [{ source: new RegExp(`^${webFile}:4:3$`), key: 'tls_server_config.cert_filse', message: /unknown key/ }] });
    const ok = await curl(url('/healthz'), { ca: pki.caCert, user: `${USER}:${PASSWORD}` });
    t.equal(ok.status, '200', 'still served');
    t.equal(servedSerial(ok), fileSerial(pki.server2Cert), 'with the last good certificate');
    t.equal((await curl(url('/healthz'), { ca: pki.caCert })).status, '401', 'and the last good users');

    fs.writeFileSync(webFile, `tls_server_config:\n  cert_file: tls.crt\n  key_file: ${pki.serverKey}\n`);
    const n = lines.filter((l) => l.msg === 'configuration reload failed; keeping the last good configuration').length;
    await reload(
      'the second failed reload',
      () => lines.filter((l) => l.msg === 'configuration reload failed; keeping the last good configuration').length > n,
    );
    t.match(lines.filter((l) => l.msg === 'configuration reload failed; keeping the last good configuration').at(-1), {
      problems: [{ source: new RegExp(`^${webFile}:3:`), key: 'tls_server_config.key_file', message: /does not match the certificate/ }],
    });
  });

  await t.test('client certificates required (RequireAndVerifyClientCert): the handshake fails without one, works with one', async (t) => {
    fs.writeFileSync(
      webFile,
      `tls_server_config:\n  cert_file: tls.crt\n  key_file: tls.key\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: ${pki.caCert}\nbasic_auth_users:\n  ${USER}: ${hash}\n`,
    );
    const before = listening().length;
    await reload('the rebind for client certificates', () => listening().length > before);
    const moved = listening().at(-1)!;
    t.match(moved, { tls: true, clientAuth: 'RequireAndVerifyClientCert' }, 'a new client certificate policy is a new server');
    const at = moved.port as number;
    const without = await curl(url('/healthz', 'https', at), { ca: pki.caCert, user: `${USER}:${PASSWORD}` });
    t.not(without.code, 0, `no client certificate: curl fails (exit ${without.code}: ${without.stderr})`);
    t.equal(without.status, '000', 'no HTTP answer at all');
    const stranger = await curl(url('/healthz', 'https', at), { ca: pki.caCert, user: `${USER}:${PASSWORD}`, cert: [pki.strangerCert, pki.strangerKey] });
    t.not(stranger.code, 0, `a certificate the CA did not sign: curl fails (${stranger.stderr})`);
    const withCert = await curl(url('/healthz', 'https', at), { ca: pki.caCert, user: `${USER}:${PASSWORD}`, cert: [pki.clientCert, pki.clientKey] });
    t.equal(withCert.status, '200', `with the client certificate: 200 (${withCert.stderr})`);
  });

  await t.test('an empty web configuration goes back to plain HTTP without authentication', async (t) => {
    fs.writeFileSync(webFile, '# nothing: plain HTTP\n');
    const before = listening().length;
    await reload('the rebind to plain HTTP', () => listening().length > before);
    const plain = listening().at(-1)!;
    t.match(plain, { tls: false, basicAuthUsers: 0 });
    t.equal((await curl(url('/healthz', 'http', plain.port as number))).status, '200');
  });

  t.notOk(
    lines.some((l) => 'unparsed' in l),
    'stdout is JSON lines only',
  );
  process.kill(daemon.pid, 'SIGTERM');
  t.same(await daemon.exited, { code: 0, signal: null }, `exit 0 (stderr: ${daemon.stderr()})`);
});
