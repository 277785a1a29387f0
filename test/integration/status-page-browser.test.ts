// The status page at / in a real browser: headless Chromium loads it from a
// running daemon (`coredns-healthd run`, compiled, in a child process) and the
// test asserts on the rendered DOM: the matrix cells, their states and their
// computed colours, counts, no CSP violation, and that the page refreshes
// itself. A screenshot is saved to test-artifacts/status-page.png.
//
// Topology (under this test's random prefix): a bridge and two namespaces.
//   n0  a DNS responder on n0:53 (answers); nothing listens on n0:5353
//       (a configured target that is refused: UDP port unreachable, TCP RST).
//   n1  a "pod": a sleep process started by `ip netns exec`, whose
//       /etc/resolv.conf is /etc/netns/<n1>/resolv.conf -> n0.
// The host vantage reads a resolv.conf file of the test's own (-> n0).
// Discovery reads a procRoot of the test's own (the pod process and
// /proc/thread-self only), so the daemon sees no other namespace of this
// machine; Docker discovery points at a socket that does not exist.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { INDEX } from '../../src/http/routes.js';
import { STATE_COLOURS } from '../../src/http/status-page.js';
import { findChromium, launchChromium, CHROMIUM_PACKAGE, type Page } from '../support/chromium.js';
import { get, waitFor } from '../support/http-probe.js';
import { createTopology, randomPrefix, type NetnsNode } from '../support/netns.js';
import { compiled, REPO, repoPath } from '../support/paths.js';
import { spawnResponder } from '../support/responder-process.js';
import { isCI, requireRoot } from '../support/root.js';
import { which } from '../support/run.js';
import { spawnService, type Service } from '../support/service.js';

const WHY = 'creates network namespaces, a bridge and /etc/netns files, and the daemon enters namespaces';
const CLI = compiled('src/cli/main.ts');
const SCREENSHOT = repoPath('test-artifacts', 'status-page.png');

/** "#1f883d" → "rgb(31, 136, 61)", as getComputedStyle answers. */
const rgb = (hex: string): string => {
  const n = Number.parseInt(hex.slice(1), 16);
  return `rgb(${n >> 16}, ${(n >> 8) & 0xff}, ${n & 0xff})`;
};

/** Runs `coredns-healthd run` (compiled) in a child process with a clean environment. */
function spawnDaemon(args: string[], onLine: (line: string) => void): Service {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('COREDNS_HEALTHD_') && !k.startsWith('NOTIFY_') && !k.startsWith('WATCHDOG_')),
  );
  // A sanitizer run passes its addon on (README, "Running the tests").
  if (process.env.COREDNS_HEALTHD_ADDON) clean.COREDNS_HEALTHD_ADDON = process.env.COREDNS_HEALTHD_ADDON;
  const script = `const { main } = await import(${JSON.stringify(new URL(`file://${CLI}`).href)}); process.exitCode = await main(process.argv.slice(1));`;
  return spawnService(
    'env',
    [`--chdir=${REPO}`, '-i', ...Object.entries(clean).map(([k, v]) => `${k}=${v}`), process.execPath, '--input-type=module', '-e', script, ...args],
    { onLine },
  );
}

interface Rendered {
  health: string;
  refresh: string;
  sweep: string;
  scripts: number;
  rows: Array<{ vantage: string; state: string }>;
  columns: string[];
  cells: Array<{ vantage: string; target: string; column: string; transport: string; state: string; bg: string; title: string; width: number }>;
  table: { rows: string; columns: string; cells: string };
  counts: Record<string, string>;
  findings: number;
  sweeps: number;
  headerSticky: string;
}

// Runs in the page once it has loaded: everything the test asserts on, read from the rendered DOM in one go.
const READ_DOM = `new Promise((loaded) => (document.readyState === 'complete' ? loaded() : addEventListener('load', () => loaded(), { once: true }))).then(() => {
  const q = (s) => document.querySelector(s);
  const all = (s) => [...document.querySelectorAll(s)];
  const table = q('table.matrix');
  return {
    health: document.body.dataset.health,
    refresh: q('meta[http-equiv="refresh"]').content,
    sweep: all('.counts li').map((li) => li.textContent).find((s) => s.startsWith('sweep')) || '',
    scripts: document.scripts.length,
    rows: all('table.matrix tbody tr').map((tr) => ({ vantage: tr.dataset.vantage, state: tr.dataset.state })),
    columns: all('table.matrix thead th[data-column]').map((th) => th.dataset.column),
    cells: all('table.matrix span.s[data-transport]').map((c) => ({
      vantage: c.dataset.vantage, target: c.dataset.target, column: c.dataset.column, transport: c.dataset.transport,
      state: c.dataset.state, bg: getComputedStyle(c).backgroundColor, title: c.title, width: c.getBoundingClientRect().width,
    })),
    table: { rows: table.dataset.rows, columns: table.dataset.columns, cells: table.dataset.cells },
    counts: Object.fromEntries(all('[data-count]').map((e) => [e.dataset.count, e.textContent])),
    findings: all('table.findings tbody tr').length,
    sweeps: all('table.sweeps tbody tr').length,
    headerSticky: getComputedStyle(q('table.matrix thead th')).position,
  };
})`;

/** READ_DOM, again when the page's own refresh replaced the document under it (on a machine slow enough to take 5 s). */
async function readDom(page: Page): Promise<Rendered> {
  for (let i = 1; ; i++) {
    try {
      return await page.evaluate<Rendered>(READ_DOM);
    } catch (err) {
      if (i === 3 || !/context|navigat/i.test(String(err))) throw err;
    }
  }
}

t.test('the status page in headless Chromium, from a running daemon', async (t) => {
  if (!requireRoot(t, WHY)) return;
  if (findChromium() === null) {
    const why = `needs headless Chromium: install the Debian package ${CHROMIUM_PACKAGE} (apt-get install ${CHROMIUM_PACKAGE})`;
    if (isCI()) t.fail(`${why} (CI is set, so this test must not be skipped)`);
    else t.plan(0, why);
    return;
  }

  // The network: a DNS server in n0, a pod in n1.
  const topo = await createTopology({ count: 2, prefix: randomPrefix('spb'), ipv6: false, t });
  const [server, pod] = topo.namespaces as [NetnsNode, NetnsNode];
  await spawnResponder({ netns: server.name, listen: server.ipv4, port: 53, addresses: ['10.96.0.1'], t });
  const etc = path.join('/etc/netns', pod.name);
  fs.mkdirSync(etc, { recursive: true });
  t.teardown(() => fs.rmSync(etc, { recursive: true, force: true }));
  fs.writeFileSync(path.join(etc, 'resolv.conf'), `nameserver ${server.ipv4}\n`);
  const podProcess = spawnService(which('sleep'), ['600'], { netns: pod.name });
  t.teardown(() => podProcess.stop());

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'spb-daemon-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const procRoot = path.join(dir, 'proc');
  fs.mkdirSync(procRoot);
  fs.symlinkSync('/proc/thread-self', path.join(procRoot, 'thread-self'));
  fs.symlinkSync(`/proc/${podProcess.pid}`, path.join(procRoot, String(podProcess.pid)));
  const podLabel = `netns:[${fs.statSync(pod.path).ino}]`;
  await waitFor('the pod process in its namespace', () => {
    try {
      return (
        fs.statSync(`/proc/${podProcess.pid}/ns/net`).ino === fs.statSync(pod.path).ino &&
        fs.readFileSync(`/proc/${podProcess.pid}/root/etc/resolv.conf`, 'utf8').includes(server.ipv4)
      );
    } catch {
      return false;
    }
  });
  const hostResolvConf = path.join(dir, 'host-resolv.conf');
  fs.writeFileSync(hostResolvConf, `nameserver ${server.ipv4}\n`);
  const own = `${server.ipv4}:53`;
  const refused = `${server.ipv4}:5353`;
  const configFile = path.join(dir, 'coredns-healthd.json');
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      interval: '1s',
      jitter: '100ms',
      probe: { timeout: '500ms', attempts: 1, maxQueriesPerSecond: 100_000, transports: ['udp', 'tcp'] },
      queries: [{ name: 'kubernetes.default.svc.cluster.local', type: 'A', expectAnswers: ['10.96.0.1'] }],
      targets: [refused],
      hostResolvConf,
      discovery: { procRoot, docker: { enabled: true, socketPath: path.join(dir, 'no-docker.sock') } },
      health: { failureThreshold: 1, successThreshold: 1, staleAfter: '10s' },
      http: { listen: '127.0.0.1:0' },
      log: { level: 'info' },
      kubernetes: { enabled: false },
    }),
  );

  // The daemon.
  let onPort: (p: number) => void = () => undefined;
  const portSeen = new Promise<number>((resolve) => (onPort = resolve));
  const daemon = spawnDaemon(['run', '--config', configFile], (line) => {
    try {
      const rec = JSON.parse(line) as Record<string, unknown>;
      if (rec.msg === 'http listening') onPort(rec.port as number);
    } catch {
      // not a log record
    }
  });
  t.teardown(() => daemon.stop(1000));
  const port = await Promise.race([
    portSeen,
    daemon.exited.then((e) => {
      throw new Error(`daemon exited early (${JSON.stringify(e)}): ${daemon.stderr()}`);
    }),
  ]);
  // Settled: both states seen, a few sweeps in sweep.recent, the diagnosis done.
  const status = await waitFor('two sweeps with a healthy and a refused target', async () => {
    const doc = JSON.parse((await get(port, '/status')).body);
    const states = doc.checks
      .map(
        (c: { vantage: string; target: string; transport: string; state: string; last: { reason: string } }) =>
          `${c.vantage} ${c.target} ${c.transport} ${c.state} ${c.last.reason}`,
      )
      .sort();
    return doc.sweep.recent.length >= 2 && doc.checks.length === 8 && doc.diagnosis.last !== null && doc.findings.length > 0 ? { doc, states } : false;
  });
  t.same(status.states, [
    `host ${own} tcp healthy ok`,
    `host ${own} udp healthy ok`,
    `host ${refused} tcp unhealthy refused`,
    `host ${refused} udp unhealthy refused`,
    `${podLabel} ${own} tcp healthy ok`,
    `${podLabel} ${own} udp healthy ok`,
    `${podLabel} ${refused} tcp unhealthy refused`,
    `${podLabel} ${refused} udp unhealthy refused`,
  ]);
  t.equal((await get(port, '/')).body, INDEX, 'curl (no Accept header) still gets the text index');

  // The browser.
  const browser = await launchChromium({ t });
  const problems: string[] = [];
  browser.on('Log.entryAdded', (p) => {
    const e = p.entry as { level: string; text: string; url?: string };
    // The favicon is a data: URL; anything else logged at error (a CSP violation, a failed load) is a problem.
    if (e.level === 'error') problems.push(`${e.text} ${e.url ?? ''}`);
  });
  browser.on('Runtime.exceptionThrown', (p) => problems.push(JSON.stringify(p).slice(0, 500)));
  const page = await browser.newPage();
  await page.send('Log.enable');
  const url = `http://127.0.0.1:${port}/`;
  await page.navigate(url);
  const dom = await readDom(page);
  await page.screenshot(SCREENSHOT);
  t.comment(`screenshot: ${SCREENSHOT}`);
  t.ok(fs.statSync(SCREENSHOT).size > 10_000, 'a screenshot was written');

  t.equal(dom.health, 'unhealthy');
  t.equal(dom.refresh, '5', 'the refresh follows the 1 s interval, at most every 5 s');
  t.equal(dom.scripts, 0, 'no script');
  t.same(dom.rows, [
    { vantage: 'host', state: 'unhealthy' },
    { vantage: podLabel, state: 'unhealthy' },
  ]);
  t.same(dom.columns, [refused, 'own'], 'the configured target, then each vantage’s own nameservers');
  t.same(dom.table, { rows: '2', columns: '2', cells: '8' });
  t.equal(dom.cells.length, 8, 'one cell per vantage × target × transport');
  t.same(
    dom.cells.map((c) => `${c.vantage} ${c.column} ${c.target} ${c.transport} ${c.state}`),
    [
      `host ${refused} ${refused} udp unhealthy`,
      `host ${refused} ${refused} tcp unhealthy`,
      `host own ${own} udp healthy`,
      `host own ${own} tcp healthy`,
      `${podLabel} ${refused} ${refused} udp unhealthy`,
      `${podLabel} ${refused} ${refused} tcp unhealthy`,
      `${podLabel} own ${own} udp healthy`,
      `${podLabel} own ${own} tcp healthy`,
    ],
  );
  const healthy = dom.cells.find((c) => c.state === 'healthy')!;
  const failing = dom.cells.find((c) => c.state === 'unhealthy')!;
  t.equal(healthy.bg, rgb(STATE_COLOURS.healthy), `a healthy cell is green (${healthy.bg})`);
  t.equal(failing.bg, rgb(STATE_COLOURS.unhealthy), `a failing cell is red (${failing.bg})`);
  t.not(healthy.bg, failing.bg);
  t.ok(
    dom.cells.every((c) => c.width > 10),
    'every cell is laid out',
  );
  t.match(failing.title, /last: refused, rcode -, rtt -, 1 attempt/, 'the reason on hover');
  t.match(healthy.title, /last: ok, rcode NOERROR, rtt \d/);
  t.equal(dom.headerSticky, 'sticky', 'the header row stays in view');
  t.equal(dom.counts.vantages, '2 vantages');
  t.match(dom.counts.checks, /^8 checks, 4 unhealthy$/);
  t.match(dom.counts['cells-unhealthy'], /^4 unhealthy$/);
  t.match(dom.counts['cells-healthy'], /^4 healthy$/);
  t.ok(dom.findings >= 1, `the findings are listed (${dom.findings})`);
  t.ok(dom.sweeps >= 2, `the last sweeps are listed (${dom.sweeps})`);
  t.same(problems, [], 'no CSP violation, no failed load, no error in the console');

  // The page refreshes itself (meta refresh, allowed by the CSP) and shows a later sweep.
  const reloaded = browser.waitForEvent('Page.loadEventFired', page.sessionId, 20_000);
  await reloaded;
  const again = await readDom(page);
  const sweepNo = (s: string): number => Number(/#(\d+)/.exec(s)?.[1] ?? NaN);
  t.ok(sweepNo(again.sweep) > sweepNo(dom.sweep), `refreshed: ${dom.sweep} → ${again.sweep}`);
  t.equal(again.cells.length, 8);
});
