// The probe budget end to end: the daemon over 12 pod namespaces and the
// host, against real dnsmasq servers that log every query, with a budget too
// small to probe every (vantage, target, transport) each sweep.
//
// Topology (this test's prefix): a bridge and 13 namespaces.
//   n0   the cluster DNS: dnsmasq on n0:53 (every vantage's own nameserver)
//        and on n0:5353 (a configured target: the pods' "other" class).
//   n1.. pods: a sleep process each, /etc/netns/<n>/resolv.conf -> n0.
// Discovery reads a procRoot of the test's own (the pods' processes and
// thread-self), so the daemon sees nothing else of this machine.
//
// What it asserts: the queries the two servers received over a measured
// window stay within probe.maxQueriesPerSecond × the window (+ one sweep's
// budget of slack for the window's edges), and agree with the daemon's own
// coredns_healthd_probe_queries_total; every pair gets a result, none older
// than its rotation K (as /status reports it); nothing is stale and /healthz
// answers 200.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { ConfigHolder } from '../../src/config/reloader.js';
import { Daemon } from '../../src/daemon/daemon.js';
import { Notifier } from '../../src/daemon/notify.js';
import { createLogger } from '../../src/log.js';
import { requireRoot } from '../support/root.js';
import { createTopology, randomPrefix, type NetnsNode } from '../support/netns.js';
import { startDnsmasq, type Dnsmasq } from '../support/dnsmasq.js';
import { which } from '../support/run.js';
import { spawnService } from '../support/service.js';
import { get, samples, waitFor } from '../support/http-probe.js';

const WHY = 'creates network namespaces, a bridge and /etc/netns files, runs dnsmasq and enters namespaces';
const PODS = 12;
const QPS = 40;
const INTERVAL_MS = 500;

/** Counts the queries a dnsmasq logs (--log-queries), from now on. */
function queryCounter(d: Dnsmasq): () => number {
  let n = 0;
  let rest = '';
  d.service.child.stderr!.on('data', (chunk: string | Buffer) => {
    const lines = (rest + chunk.toString()).split('\n');
    rest = lines.pop()!;
    for (const l of lines) if (/ query\[A\] kubernetes\.default\.svc\.cluster\.local from /.test(l)) n++;
  });
  return () => n;
}

interface StatusCheck {
  vantage: string;
  target: string;
  transport: string;
  class: string;
  ageSweeps: number;
  rotationSweeps: number | null;
  stale: boolean;
}

t.test('a small budget: queries within probe.maxQueriesPerSecond, every pair within its rotation', async (t) => {
  if (!requireRoot(t, WHY)) return;
  const topo = await createTopology({ count: PODS + 1, prefix: randomPrefix('chb'), ipv6: false, t });
  const [server, ...pods] = topo.namespaces as [NetnsNode, ...NetnsNode[]];
  const own = await startDnsmasq({ netns: server.name, listen: server.ipv4, port: 53, logQueries: true, t });
  const other = await startDnsmasq({ netns: server.name, listen: server.ipv4, port: 5353, logQueries: true, t });
  const ownQueries = queryCounter(own);
  const otherQueries = queryCounter(other);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chb-budget-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const procRoot = path.join(dir, 'proc');
  fs.mkdirSync(procRoot);
  fs.symlinkSync('/proc/thread-self', path.join(procRoot, 'thread-self'));
  for (const pod of pods) {
    const etc = path.join('/etc/netns', pod.name);
    fs.mkdirSync(etc, { recursive: true });
    t.teardown(() => fs.rmSync(etc, { recursive: true, force: true }));
    fs.writeFileSync(path.join(etc, 'resolv.conf'), `nameserver ${server.ipv4}\n`);
    const p = spawnService(which('sleep'), ['600'], { netns: pod.name });
    t.teardown(() => p.stop());
    await waitFor(`the process of ${pod.name} in its namespace`, () => {
      try {
        return (
          fs.statSync(`/proc/${p.pid}/ns/net`).ino === fs.statSync(pod.path).ino &&
          fs.readFileSync(`/proc/${p.pid}/root/etc/resolv.conf`, 'utf8').includes(server.ipv4)
        );
      } catch {
        return false;
      }
    });
    fs.symlinkSync(`/proc/${p.pid}`, path.join(procRoot, String(p.pid)));
  }
  const hostResolvConf = path.join(dir, 'host-resolv.conf');
  fs.writeFileSync(hostResolvConf, `nameserver ${server.ipv4}\n`);
  const configFile = path.join(dir, 'coredns-healthd.json');
  fs.writeFileSync(
    configFile,
    JSON.stringify({
      interval: `${INTERVAL_MS}ms`,
      jitter: 0,
      // 40 q/s × 0.5 s = 20 queries a sweep. The host: 2 targets × UDP + TCP = 4; 16 left for 48 pod pairs
      // (12 pods × 2 targets × 2 transports; TCP every 3 sweeps): own 13 a sweep (K 4), other 3 (K 10).
      probe: { timeout: '400ms', attempts: 1, maxQueriesPerSecond: QPS, tcpEvery: 3, transports: ['udp', 'tcp'], spread: 0.3 },
      targets: [`${server.ipv4}:5353`],
      hostResolvConf,
      discovery: { procRoot, docker: { enabled: false } },
      health: { failureThreshold: 2, successThreshold: 1, staleAfter: '3s' },
      http: { listen: '127.0.0.1:0' },
      log: { level: 'warn' },
      kubernetes: { enabled: false },
    }),
  );
  const holder = new ConfigHolder({ file: configFile, env: {} });
  const lines: string[] = [];
  const daemon = new Daemon({
    holder,
    log: createLogger({ stream: { write: (s: string) => lines.push(s) } }),
    version: 'test',
    notifier: new Notifier({ env: {} }),
  });
  t.teardown(() => daemon.stop('test over'));
  const { port } = await daemon.start();
  const status = async (): Promise<{ checks: StatusCheck[]; sweep: { completed: number; plan: Record<string, unknown> } }> =>
    JSON.parse((await get(port, '/status')).body);

  // Every pair gets its first result within the first full rotation (K other = 10 sweeps, 5 s).
  const full = await waitFor(
    'a result for every pair',
    async () => {
      const s = await status();
      return s.checks.length === 4 + PODS * 4 ? s : undefined;
    },
    30_000,
  );
  t.match(full.sweep.plan, {
    budgetQueries: 20,
    groups: { host: { pairs: 4, rotationSweeps: 1 }, own: { pairs: 24, slots: 13, rotationSweeps: 4 }, other: { pairs: 24, slots: 3, rotationSweeps: 10 } },
  });

  // The measured window: 8 s (16 sweeps), long enough for every pair to come round at least once more.
  const sweeps0 = daemon.sweeps;
  const m0 = samples(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
  const q0 = ownQueries() + otherQueries();
  const t0 = Date.now();
  await new Promise((r) => setTimeout(r, 8_000));
  const q1 = ownQueries() + otherQueries();
  const seconds = (Date.now() - t0) / 1000;
  const m1 = samples(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text());
  const received = q1 - q0;
  const limit = QPS * seconds + 20;
  t.ok(received <= limit, `the servers received ${received} queries in ${seconds.toFixed(1)} s: at most ${QPS} q/s (+ one sweep): ${limit.toFixed(0)}`);
  t.ok(received >= 0.5 * QPS * seconds, `and the budget is used (${received} of ${(QPS * seconds).toFixed(0)})`);
  const sent = ['host', 'own', 'other'].reduce(
    (n, c) => n + (m1.get(`coredns_healthd_probe_queries_total{class="${c}"}`)! - m0.get(`coredns_healthd_probe_queries_total{class="${c}"}`)!),
    0,
  );
  t.ok(Math.abs(sent - received) <= 20, `the daemon counted ${sent} queries sent, the servers ${received} (a sweep's worth apart at most)`);
  // 16 at the interval; fewer when a loaded machine makes sweeps overrun it (the rate is then lower still).
  t.ok(daemon.sweeps - sweeps0 >= 8, `${daemon.sweeps - sweeps0} sweeps in the window`);

  const end = await status();
  t.equal(end.checks.length, 4 + PODS * 4, 'every pair still has a result');
  const late = end.checks.filter((c) => c.rotationSweeps === null || c.ageSweeps > c.rotationSweeps || c.stale);
  t.same(late, [], 'no result older than its rotation K');
  t.ok(
    end.checks.filter((c) => c.class !== 'host').some((c) => c.ageSweeps > 0),
    'the pods are in rotation (some results are from earlier sweeps)',
  );
  t.ok(
    end.checks.filter((c) => c.class === 'host').every((c) => c.ageSweeps === 0),
    'the host is probed every sweep',
  );
  t.equal(m1.get('coredns_healthd_checks_stale'), 0);
  const healthz = await get(port, '/healthz');
  t.equal(healthz.status, 200, healthz.body);
  t.same(
    lines.map((l) => JSON.parse(l) as { level: string; msg: string }).filter((l) => l.level !== 'info'),
    [],
    'nothing logged at warn or above',
  );
});
