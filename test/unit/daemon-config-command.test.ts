// `coredns-healthd config check|print` and the configuration flags `run`
// shares, through the CLI entry point (the loader's matrix is in config.test.ts).
import fs from 'node:fs';
import path from 'node:path';
import t, { type Test } from 'tap';
import { main, version } from '../../src/cli/main.js';
import { repoPath } from '../support/paths.js';
import { loadConfig } from '../../src/config/load.js';
import { loadOptionsFrom } from '../../src/cli/config.js';

async function cli(argv: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) });
  return { code, stdout, stderr };
}

function file(t: Test, content: unknown): string {
  const p = path.join(t.testdir({}), 'healthd.json');
  fs.writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
  return p;
}

/** Sets COREDNS_HEALTHD_* variables for one test. */
function env(t: Test, vars: Record<string, string>): void {
  for (const [k, v] of Object.entries(vars)) {
    const old = process.env[k];
    process.env[k] = v;
    t.teardown(() => {
      if (old === undefined) delete process.env[k];
      else process.env[k] = old;
    });
  }
}

t.test('config check: 0 and the file for a valid configuration', async (t) => {
  const f = file(t, { interval: '30s', targets: ['10.96.0.10'] });
  const r = await cli(['config', 'check', '--config', f]);
  t.equal(r.code, 0);
  t.equal(r.stdout, `configuration OK: ${f}\n`);
  t.equal(r.stderr, '');
});

t.test('config check: 2 with every problem naming the key and where it came from', async (t) => {
  const f = file(t, { interval: -5, probe: { timout: '1s' } });
  const r = await cli(['config', 'check', '--config', f]);
  t.equal(r.code, 2);
  t.match(r.stderr, new RegExp(`${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: probe\\.timout: unknown key \\(did you mean "timeout"\\?\\)`));
  const bad = await cli(['config', 'check', '--config', file(t, '{ "interval": "10s", }')]);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /healthd\.json:1:\d+: invalid JSON/);
  const missing = await cli(['config', 'check', '--config', '/nonexistent/healthd.json']);
  t.equal(missing.code, 2);
  t.match(missing.stderr, /\/nonexistent\/healthd\.json: configuration file not found/);
  const flag = await cli(['config', 'check', '--config', file(t, {}), '--set', 'probe.attempts=99']);
  t.equal(flag.code, 2);
  t.match(flag.stderr, /flag --set probe\.attempts: probe\.attempts: must be an integer from 1 to 10/);
  const unknown = await cli(['config', 'check', '--config', file(t, {}), '--set', 'probe.retries=2']);
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /flag --set probe\.retries: probe\.retries: not a setting/);
});

t.test('config print: the effective configuration; flags over environment over file', async (t) => {
  const f = file(t, { interval: '30s', jitter: '2s', http: { listen: '127.0.0.1:1' } });
  env(t, { COREDNS_HEALTHD_JITTER: '3s', COREDNS_HEALTHD_HTTP_LISTEN: '127.0.0.1:2' });
  const r = await cli(['config', 'print', '--config', f, '--listen', '127.0.0.1:3', '--set', 'probe.timeout=750ms', '--log-level', 'warn']);
  t.equal(r.code, 0, r.stderr);
  const printed = JSON.parse(r.stdout);
  t.equal(printed.interval, 30_000, 'from the file');
  t.equal(printed.jitter, 3_000, 'the environment beats the file');
  t.equal(printed.http.listen, '127.0.0.1:3', '--listen beats the environment');
  t.equal(printed.probe.timeout, 750);
  t.equal(printed.log.level, 'warn');
  t.same(printed, JSON.parse(JSON.stringify(loadConfig({ file: f, flags: { 'http.listen': '127.0.0.1:3', 'probe.timeout': '750ms', 'log.level': 'warn' } }))));

  const s = await cli(['config', 'print', '--config', f, '--sources', '--listen', '127.0.0.1:3']);
  t.equal(s.code, 0);
  const lines = s.stdout.trim().split('\n');
  t.ok(lines.includes(`interval = 30000  (${f})`));
  t.ok(lines.includes('jitter = 3000  (environment COREDNS_HEALTHD_JITTER)'));
  t.ok(lines.includes('http.listen = "127.0.0.1:3"  (flag --listen)'));
  t.ok(lines.includes('dnsPort = 53  (default)'));
});

t.test('usage errors: unknown subcommand or option, --set without =, the same key twice', async (t) => {
  t.equal((await cli(['config'])).code, 2);
  t.match((await cli(['config', '--help'])).stdout, /^Usage: coredns-healthd config check/);
  const sub = await cli(['config', 'validate']);
  t.equal(sub.code, 2);
  t.match(sub.stderr, /config: unknown subcommand "validate"/);
  t.match((await cli(['config', 'check', '--bogus'])).stderr, /Unknown option '--bogus'/);
  t.match((await cli(['config', 'check', '--sources'])).stderr, /Unknown option '--sources'/, '--sources is for print');
  t.throws(() => loadOptionsFrom({ set: ['probe.timeout'] }), /--set: expected KEY=VALUE/);
  t.throws(() => loadOptionsFrom({ listen: '127.0.0.1:1', set: ['http.listen=127.0.0.1:2'] }), /--set http\.listen: http\.listen is already set by --listen/);
  t.same(loadOptionsFrom({ set: ['targets=10.0.0.1, 10.0.0.2'] }), { flags: { targets: '10.0.0.1, 10.0.0.2' }, flagNames: { targets: '--set targets' } });
  t.match((await cli(['run', '--help'])).stdout, /^Usage: coredns-healthd run/);
  const badRun = await cli(['run', '--config', file(t, { interval: 'soon' })]);
  t.equal(badRun.code, 2, 'run with a bad configuration exits 2 before starting');
  t.match(badRun.stderr, /interval: /);
});

t.test('version() reads package.json from the source tree and from dist/ alike', async (t) => {
  const pkg = JSON.parse(fs.readFileSync(repoPath('package.json'), 'utf8')) as { version: string };
  t.equal(version(), pkg.version);
  t.not(version(), 'unknown');
});
