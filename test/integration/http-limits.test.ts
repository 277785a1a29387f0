// The daemon under an HTTP flood: `coredns-healthd run` (a child process, from
// the sources) with a tight file descriptor limit (ulimit -n 300, soft and
// hard, so Node cannot raise it), default http.maxConnections (256), while
// 1,000 idle clients keep reconnecting to its HTTP port. Its sweeps must keep
// completing with every probe ok: without the fd reserve (src/http/limits.ts)
// the HTTP server alone would take 256 of the 300 fds and probes would fail
// with EMFILE.
//
// Traffic stays on loopback: the only target is a responder on 127.0.0.1 in
// the host namespace, probed from the host vantage only (no container
// namespace is discovered; the host resolv.conf is a file of the test's own
// with no nameserver). Root: the probe engine enters the host namespace with
// setns(), which needs CAP_SYS_ADMIN.
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { get, waitFor } from '../support/http-probe.js';
import { spawnResponder } from '../support/responder-process.js';
import { compiled, REPO } from '../support/paths.js';
import { requireRoot } from '../support/root.js';
import { spawnService, type Service } from '../support/service.js';

const WHY = 'the daemon probes from the host vantage, and entering a network namespace (setns) needs CAP_SYS_ADMIN';
const CLI = compiled('src/cli/main.ts');
const FD_LIMIT = 300;
const CLIENTS = 1_000;
const QUERIES = 16;

/** `coredns-healthd run` (compiled), with RLIMIT_NOFILE set to `fdLimit` (soft and hard). */
function spawnDaemon(args: string[], fdLimit: number, onLine: (line: string) => void): Service {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('COREDNS_HEALTHD_') && !k.startsWith('NOTIFY_') && !k.startsWith('WATCHDOG_')),
  );
  const script = `const { main } = await import(${JSON.stringify(new URL(`file://${CLI}`).href)}); process.exitCode = await main(process.argv.slice(1));`;
  return spawnService(
    'sh',
    [
      '-c',
      `ulimit -n ${fdLimit} && exec "$@"`,
      'sh',
      'env',
      `--chdir=${REPO}`,
      '-i',
      ...Object.entries(clean).map(([k, v]) => `${k}=${v}`),
      process.execPath,
      '--input-type=module',
      '-e',
      script,
      ...args,
    ],
    { onLine },
  );
}

/** Idle clients that reconnect `delayMs` after the server closes them, until stop(). */
function hammer(port: number, clients: number, delayMs: number) {
  let stopped = false;
  let connects = 0;
  const sockets = new Set<net.Socket>();
  const open = (): void => {
    if (stopped) return;
    connects++;
    const s = net.connect(port, '127.0.0.1');
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => {
      sockets.delete(s);
      setTimeout(open, delayMs);
    });
  };
  for (let i = 0; i < clients; i++) open();
  return {
    connects: () => connects,
    stop: () => {
      stopped = true;
      for (const s of sockets) s.destroy();
    },
  };
}

t.test(`a sweep completes with every probe ok while ${CLIENTS} idle clients hammer the HTTP port (RLIMIT_NOFILE ${FD_LIMIT})`, async (t) => {
  if (!requireRoot(t, WHY)) return;
  const dns = await spawnResponder({ listen: '127.0.0.1', port: 0, mode: 'nxdomain', t });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'httplim-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const resolv = path.join(dir, 'resolv.conf');
  fs.writeFileSync(resolv, '# no nameserver: the host vantage probes the static target only\n');
  const configFile = path.join(dir, 'coredns-healthd.json');
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      interval: '500ms',
      jitter: '0',
      probe: { timeout: '2s', attempts: 1, maxQueriesPerSecond: 100_000, transports: ['udp', 'tcp'] },
      // 16 questions × UDP and TCP: 32 probes in flight per sweep, 64 fds.
      queries: Array.from({ length: QUERIES }, (_, i) => ({ name: `q${i}.limits.test`, type: 'A', validRcodes: ['NXDOMAIN'], requireAnswers: false })),
      targets: [`127.0.0.1:${dns.port}`],
      hostResolvConf: resolv,
      discovery: { host: true, containers: false, docker: { enabled: false } },
      health: { staleAfter: '10s' },
      http: { listen: '127.0.0.1:0' },
      log: { level: 'debug' },
      kubernetes: { enabled: false },
    }),
  );

  const lines: Array<Record<string, unknown>> = [];
  let onPort: (p: number) => void = () => undefined;
  const portSeen = new Promise<number>((r) => (onPort = r));
  const daemon = spawnDaemon(['run', '--config', configFile], FD_LIMIT, (line) => {
    try {
      const rec = JSON.parse(line) as Record<string, unknown>;
      lines.push(rec);
      if (rec.msg === 'http listening') onPort(rec.port as number);
    } catch {
      lines.push({ unparsed: line });
    }
  });
  t.teardown(() => daemon.stop(1000));
  const port = await Promise.race([
    portSeen,
    daemon.exited.then((e) => {
      throw new Error(`daemon exited early (${JSON.stringify(e)}): ${daemon.stderr()}`);
    }),
  ]);
  t.match(
    fs.readFileSync(`/proc/${daemon.pid}/limits`, 'utf8'),
    new RegExp(`^Max open files\\s+${FD_LIMIT}\\s+${FD_LIMIT}\\s`, 'm'),
    'the daemon runs with the tight limit',
  );
  const lowered = lines.find((l) => l.msg === 'http.maxConnections lowered to keep file descriptors for probing');
  t.match(lowered, { level: 'warn', configured: 256, effective: 16, fdLimit: FD_LIMIT, hint: /raise LimitNOFILE/ }, 'the cap is lowered at start, and says so');
  t.match(
    lines.find((l) => l.msg === 'http listening'),
    { maxConnections: 16 },
  );

  const sweepsDone = () => lines.filter((l) => l.msg === 'sweep done');
  await waitFor('the first sweep', () => sweepsDone().length >= 1, 30_000);

  const flood = hammer(port, CLIENTS, 100);
  t.teardown(() => flood.stop());
  await waitFor('the server to refuse connections at the cap', () => lines.some((l) => l.msg === 'http connections refused'), 20_000);
  const fdsUnderFlood = fs.readdirSync(`/proc/${daemon.pid}/fd`).length;
  const before = sweepsDone().length;
  const floodStart = Date.now();
  // At least three sweeps, and at least 5 s of flood (the accept queue overflows, clients retry).
  await waitFor('three sweeps and 5 s under the flood', () => sweepsDone().length >= before + 3 && Date.now() - floodStart >= 5_000, 60_000);
  const connects = flood.connects();
  const during = sweepsDone().slice(before);
  flood.stop();

  t.comment(
    `${connects} connection attempts by ${CLIENTS} clients in ${Date.now() - floodStart} ms, ${during.length} sweeps; daemon fds under the flood: ${fdsUnderFlood} of ${FD_LIMIT}`,
  );
  t.ok(connects > 2 * CLIENTS, `the clients kept reconnecting (${connects} attempts)`);
  for (const s of during) t.match(s, { probes: 2 * QUERIES, failed: 0 }, `sweep ${String(s.sweep)}: ${2 * QUERIES} probes, none failed`);
  t.notOk(
    lines.some((l) => JSON.stringify(l).includes('EMFILE')),
    'no EMFILE anywhere in the log',
  );
  t.match(
    lines.find((l) => l.msg === 'http connections refused'),
    { level: 'warn', maxConnections: 16 },
  );
  t.ok(
    lines.every((l) => !('unparsed' in l)),
    'stdout is JSON lines only',
  );

  // Once the flood is gone, the server answers.
  const healthz = await waitFor(
    'a /healthz answer after the flood',
    () =>
      get(port, '/healthz').then(
        (r) => r,
        () => undefined,
      ),
    15_000,
  );
  t.equal(healthz.status, 200, `/healthz: ${healthz.body.trim()}`);

  process.kill(daemon.pid, 'SIGTERM');
  t.same(await daemon.exited, { code: 0, signal: null }, `exit 0 (stderr: ${daemon.stderr()})`);
});
