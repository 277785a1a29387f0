// The daemon against real network namespaces and real DNS servers.
//
// Topology (all under this test's prefix): a bridge and two namespaces.
//   n0  the "cluster DNS": a responder on n0:53 (answers), later a drop-mode
//       responder on n0:5353 (never answers).
//   n1  a "pod": a sleep process started by `ip netns exec`, whose
//       /etc/resolv.conf is /etc/netns/<n1>/resolv.conf -> n0.
// The host vantage reads a resolv.conf file of the test's own (-> n0).
// Discovery reads a procRoot of the test's own: symlinks to /proc/<pid> of
// the pod process and to /proc/thread-self only, so the daemon never sees (or
// probes from) any other namespace on this machine. Docker discovery points
// at a socket that does not exist.
//
// The child-process tests run dist/src/cli/main.js, compiled by `npm test`
// like the test itself.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import { ConfigHolder } from '../../src/config/reloader.js';
import { Daemon } from '../../src/daemon/daemon.js';
import type { FindingChange } from '../../src/diagnose/format.js';
import { createLogger } from '../../src/log.js';
import { Notifier } from '../../src/daemon/notify.js';
import { compiled, REPO } from '../support/paths.js';
import { requireRoot } from '../support/root.js';
import { blockPortRuleset, createTopology, inNetns, nft, randomPrefix, type NetnsNode, type Topology } from '../support/netns.js';
import { spawnResponder, type SpawnedResponder } from '../support/responder-process.js';
import { tryRun, which } from '../support/run.js';
import { spawnService, type Service } from '../support/service.js';
import { startNotifyReceiver } from '../support/notify-receiver.js';
import { get, samples, waitFor } from '../support/http-probe.js';

const WHY = 'creates network namespaces, a bridge, nftables rules and /etc/netns files, and enters namespaces';
const CLI = compiled('src/cli/main.ts');
const Q = 'kubernetes.default.svc.cluster.local A';

const success = (vantage: string, target: string, transport: string) =>
  `coredns_healthd_probe_success{vantage="${vantage}",target="${target}",transport="${transport}",query="${Q}"}`;

async function promtool(t: Test, text: string): Promise<void> {
  t.ok(text.includes('coredns_healthd_probe_success{'), 'the scrape holds per-check series');
  const res = await tryRun(which('promtool'), ['check', 'metrics'], { input: text });
  t.equal(res.code, 0, `promtool check metrics: ${res.stdout}${res.stderr}`);
}

interface World {
  topo: Topology;
  server: NetnsNode;
  pod: NetnsNode;
  dns: SpawnedResponder;
  podProcess: Service;
  /** The pod vantage's label: its namespace id. */
  podLabel: string;
  dir: string;
  procRoot: string;
  hostResolvConf: string;
  /** Writes the daemon's configuration file (merged over the base). */
  writeConfig(over?: Record<string, unknown>): string;
  configFile: string;
}

async function world(t: Test, prefix = 'chr'): Promise<World> {
  const topo = await createTopology({ count: 2, prefix: randomPrefix(prefix), ipv6: false, t });
  const [server, pod] = topo.namespaces as [NetnsNode, NetnsNode];
  const dns = await spawnResponder({ netns: server.name, listen: server.ipv4, port: 53, addresses: ['10.96.0.1'], t });

  const etc = path.join('/etc/netns', pod.name);
  fs.mkdirSync(etc, { recursive: true });
  t.teardown(() => fs.rmSync(etc, { recursive: true, force: true }));
  fs.writeFileSync(path.join(etc, 'resolv.conf'), `nameserver ${server.ipv4}\noptions ndots:5\n`);
  const podProcess = spawnService(which('sleep'), ['600'], { netns: pod.name });
  t.teardown(() => podProcess.stop());

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `${prefix}-daemon-`));
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
  const configFile = path.join(dir, 'coredns-healthd.json');
  const base = {
    interval: '300ms',
    jitter: '50ms',
    probe: { timeout: '500ms', attempts: 1, maxQueriesPerSecond: 100_000, transports: ['udp', 'tcp'] },
    queries: [{ name: 'kubernetes.default.svc.cluster.local', type: 'A', expectAnswers: ['10.96.0.1'] }],
    hostResolvConf,
    discovery: { procRoot, docker: { enabled: true, socketPath: path.join(dir, 'no-docker.sock') } },
    health: { failureThreshold: 2, successThreshold: 1, staleAfter: '2s' },
    http: { listen: '127.0.0.1:0' },
    // Per-check probe_success (off by default) is asserted below: the option end to end.
    metrics: { perVantageDetail: true },
    log: { level: 'info' },
    kubernetes: { enabled: false },
  };
  const merge = (a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> => {
    const out: Record<string, unknown> = { ...a };
    for (const [k, v] of Object.entries(b)) {
      out[k] =
        typeof v === 'object' && v !== null && !Array.isArray(v) && typeof a[k] === 'object'
          ? merge(a[k] as Record<string, unknown>, v as Record<string, unknown>)
          : v;
    }
    return out;
  };
  const writeConfig = (over: Record<string, unknown> = {}): string => {
    fs.writeFileSync(configFile, JSON.stringify(merge(base, over), null, 2));
    return configFile;
  };
  writeConfig();
  return { topo, server, pod, dns, podProcess, podLabel, dir, procRoot, hostResolvConf, writeConfig, configFile };
}

t.test('in-process daemon: health URLs, /status and /metrics follow real DNS faults', async (t) => {
  if (!requireRoot(t, WHY)) return;
  const w = await world(t);
  const dnsTarget = `${w.server.ipv4}:53`;
  const dropTarget = `${w.server.ipv4}:5353`;
  await spawnResponder({ netns: w.server.name, listen: w.server.ipv4, port: 5353, mode: 'drop', t });
  // First configuration: one static target that never answers, with a long timeout, so the
  // first sweep takes 1.5 s and /healthz can be seen before it completes.
  w.writeConfig({ targets: [dropTarget], probe: { timeout: '1500ms' } });

  const lines: string[] = [];
  const holder = new ConfigHolder({ file: w.configFile, env: {} });
  const log = createLogger({ stream: { write: (s: string) => lines.push(s) } });
  const records = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  const daemon = new Daemon({ holder, log, version: 'test', notifier: new Notifier({ env: {} }) });
  t.teardown(() => daemon.stop('test over'));
  const { port } = await daemon.start();
  t.equal(records()[0]!.msg, 'http listening');
  t.equal(records()[0]!.port, port, 'the bound port is logged');

  const starting = await get(port, '/healthz');
  t.same(starting, { status: 503, body: 'starting: no sweep has completed yet\n' }, '503 before the first sweep completes');

  const first = await waitFor('the first sweep', async () => {
    const r = await get(port, '/healthz');
    return r.body.startsWith('starting') ? undefined : r;
  });
  t.equal(first.status, 503);
  t.match(
    first.body,
    new RegExp(`^unhealthy: 4 of 8 checks failing: .*-> ${dropTarget.replace(/\./g, '\\.')} (udp|tcp) ${Q}: timeout`),
    'the drop target fails from both vantages',
  );
  const status1 = JSON.parse((await get(port, '/status')).body);
  t.same(
    status1.vantages.map((v: { label: string; source: string; status: string }) => [v.label, v.source, v.status]),
    [
      ['host', 'host', 'probed'],
      [w.podLabel, 'proc', 'probed'],
    ],
    'the host and the pod namespace, nothing else of this machine',
  );
  t.same(status1.vantages[1].resolvConf.nameservers, [w.server.ipv4], "the pod's own resolv.conf was read");
  t.match(status1.discovery.docker, /^no-socket/);

  // Reload without the drop target: the next sweep is healthy.
  w.writeConfig();
  t.equal(daemon.reload().ok, true);
  await waitFor('healthy', async () => (await get(port, '/healthz')).status === 200);
  t.same(await get(port, '/healthz'), { status: 200, body: 'ok: 4 checks healthy\n' });
  for (const g of ['host', 'pods', 'udp', 'tcp']) t.equal((await get(port, `/healthz/${g}`)).status, 200, `/healthz/${g}`);
  let m = samples((await get(port, '/metrics')).body);
  t.equal(m.get(success('host', dnsTarget, 'udp')), 1);
  t.equal(m.get(success(w.podLabel, dnsTarget, 'tcp')), 1);
  t.notOk(
    [...m.keys()].some((k) => k.includes(dropTarget)),
    'series of the removed target are gone',
  );
  t.ok((m.get(`coredns_healthd_vantage_probe_rtt_seconds_count{vantage="${w.podLabel}",target="${dnsTarget}",transport="udp"}`) ?? 0) >= 1, 'RTT observed');
  t.equal(m.get('coredns_healthd_vantages{source="host",status="probed"}'), 1);
  t.equal(m.get('coredns_healthd_vantages{source="proc",status="probed"}'), 1);
  await promtool(t, (await get(port, '/metrics')).body);

  // Stop the DNS server: refused from both vantages; 503 after failureThreshold (2) sweeps. The
  // vantages of a sweep start spread over probe.spread × interval, so one that started before
  // the stop passed in that sweep and crosses the threshold a sweep after the other: /healthz may
  // first say "2 of 4", then every check fails.
  const refusedBefore = m.get('coredns_healthd_probes_total{transport="udp",result="failure",reason="refused"}') ?? 0;
  await w.dns.stop();
  const down = await waitFor('503 with every check failing after the server stopped', async () => {
    const r = await get(port, '/healthz');
    return r.status === 503 && r.body.startsWith('unhealthy: 4 of 4') ? r : undefined;
  });
  t.match(down.body, /^unhealthy: 4 of 4 checks failing: /);
  for (const g of ['host', 'pods', 'udp', 'tcp']) t.equal((await get(port, `/healthz/${g}`)).status, 503, `/healthz/${g}`);
  const text = (await get(port, '/metrics')).body;
  m = samples(text);
  for (const v of ['host', w.podLabel]) for (const tr of ['udp', 'tcp']) t.equal(m.get(success(v, dnsTarget, tr)), 0, `probe_success ${v} ${tr} dropped to 0`);
  t.ok((m.get('coredns_healthd_probes_total{transport="udp",result="failure",reason="refused"}') ?? 0) >= refusedBefore + 4, 'refused probes counted');
  t.equal(m.get('coredns_healthd_healthy{group="all"}'), 0);
  t.equal(m.get('coredns_healthd_checks{state="unhealthy"}'), 4);
  await promtool(t, text);
  const status2 = JSON.parse((await get(port, '/status')).body);
  t.same(
    status2.checks.map(
      (c: { vantage: string; target: string; transport: string; state: string; last: { reason: string } }) =>
        `${c.vantage} ${c.target} ${c.transport} ${c.state} ${c.last.reason}`,
    ),
    [
      `host ${dnsTarget} tcp unhealthy refused`,
      `host ${dnsTarget} udp unhealthy refused`,
      `${w.podLabel} ${dnsTarget} tcp unhealthy refused`,
      `${w.podLabel} ${dnsTarget} udp unhealthy refused`,
    ],
    '/status names exactly the failures made',
  );
  t.ok(
    status2.checks.every((c: { since: string; lastSuccessAt: string }) => Date.parse(c.since) > Date.parse(c.lastSuccessAt)),
    'unhealthy since after the last success',
  );
  const warns = records().filter((r) => r.msg === 'check unhealthy');
  t.equal(warns.length, 4 + 4, 'one warn per check and change (4 for the drop target at start, 4 now)');
  t.match(warns.at(-1), { level: 'warn', vantage: String, target: dnsTarget, reason: 'refused' });

  // The server is back: healthy after successThreshold (1) sweep.
  w.dns = await spawnResponder({ netns: w.server.name, listen: w.server.ipv4, port: 53, addresses: ['10.96.0.1'], t });
  await waitFor('recovery', async () => (await get(port, '/healthz')).status === 200);
  t.equal(records().filter((r) => r.msg === 'check healthy again').length, 4);

  // UDP blocked inside the pod only: the pods and udp groups fail, host and tcp do not.
  await nft(w.pod.name, blockPortRuleset({ table: `${w.topo.prefix.replace(/-/g, '_')}_udp`, protocol: 'udp' }));
  // Waits for the pod's UDP check to fail as blocked-locally, not for any 503 of /healthz/pods: a
  // TCP probe that timed out once (500 ms, on a loaded machine) would meet that too, and the
  // checks below would then see a state on its way.
  const udpBlocked = new RegExp(
    `^unhealthy: 1 of 4 checks failing: ${w.podLabel.replace(/[[\]]/g, '\\$&')} -> ${dnsTarget.replace(/\./g, '\\.')} udp ${Q}: blocked-locally`,
  );
  await waitFor('the pod UDP failure, blocked locally', async () => udpBlocked.test((await get(port, '/healthz')).body));
  t.equal((await get(port, '/healthz/pods')).status, 503);
  t.equal((await get(port, '/healthz/udp')).status, 503);
  t.equal((await get(port, '/healthz/tcp')).status, 200);
  t.equal((await get(port, '/healthz/host')).status, 200);
  const udp = await get(port, '/healthz');
  t.match(
    udp.body,
    new RegExp(`^unhealthy: 1 of 4 checks failing: ${w.podLabel.replace(/[[\]]/g, '\\$&')} -> ${dnsTarget.replace(/\./g, '\\.')} udp ${Q}: blocked-locally`),
  );

  // Maintenance override, validated and applied by reload.
  w.writeConfig({ health: { override: 'healthy' } });
  daemon.reload();
  t.same(await get(port, '/healthz'), { status: 200, body: 'ok: maintenance override (health.override is "healthy")\n' });
  w.writeConfig({ health: { override: 'down' } });
  t.equal(daemon.reload().ok, false, 'an invalid override is refused');
  t.equal((await get(port, '/healthz')).status, 200, 'and the last good one stays');
  t.match((await get(port, '/metrics')).body, /^coredns_healthd_config_last_reload_successful 0$/m);
  w.writeConfig({ health: { override: 'unhealthy' } });
  daemon.reload();
  t.equal((await get(port, '/healthz/tcp')).status, 503);

  // Stale: a sweep that lasts longer than staleAfter (2 s) against a server that never answers.
  w.writeConfig({ targets: [dropTarget], probe: { timeout: '4s' } });
  daemon.reload();
  const stale = await waitFor('stale', async () => {
    const r = await get(port, '/healthz');
    return r.body.startsWith('stale:') ? r : undefined;
  });
  t.equal(stale.status, 503);
  t.match(stale.body, /more than health\.staleAfter \(2s\)/);
  t.ok((samples((await get(port, '/metrics')).body).get('coredns_healthd_native_jobs_in_flight') ?? 0) >= 2, 'probes are in flight meanwhile');
});

t.test('in-process daemon: a real fault becomes findings in /status and the gauge, logged once when it appears and once when it clears', async (t) => {
  if (!requireRoot(t, WHY)) return;
  const w = await world(t, 'chw');
  const lines: string[] = [];
  const records = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  const hook: Array<[string, FindingChange]> = [];
  const daemon = new Daemon({
    holder: new ConfigHolder({ file: w.configFile, env: {} }),
    log: createLogger({ stream: { write: (s: string) => lines.push(s) } }),
    version: 'test',
    notifier: new Notifier({ env: {} }),
    deps: { onFindingChange: (f, change) => void hook.push([f.id, change]) },
  });
  t.teardown(() => daemon.stop('test over'));
  const { port } = await daemon.start();
  type Status = {
    findings: Array<{ id: string; vantage: string; code: string; severity: string; check: string; evidence: Record<string, unknown> }>;
    diagnosis: { running: boolean; last: { sweep: number; error: string | null } | null };
  };
  const status = async (): Promise<Status> => JSON.parse((await get(port, '/status')).body) as Status;
  /** Waits for `n` more diagnoses than the one last completed now. */
  const diagnoses = async (n: number): Promise<Status> => {
    const from = (await status()).diagnosis.last?.sweep ?? 0;
    return waitFor(`${n} more diagnoses`, async () => {
      const s = await status();
      return (s.diagnosis.last?.sweep ?? 0) >= from + n ? s : undefined;
    });
  };
  const podFindings = (s: Status) => s.findings.filter((f) => f.vantage === w.podLabel);
  const findingLines = (id: string) => records().filter((r) => r.findingId === id);

  await waitFor('healthy', async () => (await get(port, '/healthz')).status === 200);
  const healthy = await diagnoses(2);
  t.equal(healthy.diagnosis.last!.error, null);
  t.same(podFindings(healthy), [], 'a healthy pod has no findings');
  let m = samples((await get(port, '/metrics')).body);
  t.equal(m.get('coredns_healthd_findings{check="firewall",severity="error"}'), 0);
  t.equal(m.get('coredns_healthd_findings{check="protocol",severity="error"}'), 0);

  // UDP to port 53 dropped inside the pod: sends fail with EPERM there, TCP still answers.
  const table = `${w.topo.prefix.replace(/-/g, '_')}_udp`;
  await nft(w.pod.name, blockPortRuleset({ table, protocol: 'udp' }));
  const faulty = await waitFor('the firewall finding', async () => {
    const s = await status();
    return podFindings(s).some((f) => f.code === 'firewall/blocked-locally') ? s : undefined;
  });
  t.same(
    podFindings(faulty)
      .filter((f) => f.severity !== 'info')
      .map((f) => `${f.severity} ${f.code}`),
    ['error firewall/blocked-locally', 'error protocol/udp-fails-tcp-answers'],
    'the pod: a local rule drops UDP, and UDP fails while TCP answers',
  );
  const blocked = podFindings(faulty).find((f) => f.code === 'firewall/blocked-locally')!;
  t.match(blocked.evidence, { protocol: 'udp', port: 53 });
  m = samples((await get(port, '/metrics')).body);
  t.equal(m.get('coredns_healthd_findings{check="firewall",severity="error"}'), 1);
  t.equal(m.get('coredns_healthd_findings{check="protocol",severity="error"}'), 1);
  await promtool(t, (await get(port, '/metrics')).body);

  await diagnoses(3);
  const appeared = findingLines(blocked.id);
  t.equal(appeared.length, 1, 'logged once although every diagnosis finds it');
  t.match(appeared[0], {
    level: 'error',
    finding: 'appeared',
    vantage: w.podLabel,
    check: 'firewall',
    code: 'firewall/blocked-locally',
    severity: 'error',
    msg: /^finding: /,
  });

  await inNetns(w.pod.name, which('nft'), ['delete', 'table', 'inet', table]);
  await waitFor('the cleared line', () => findingLines(blocked.id).length === 2);
  const cleared = await diagnoses(2);
  t.same(
    podFindings(cleared).filter((f) => f.severity !== 'info'),
    [],
    'the pod has no findings again',
  );
  t.same(
    findingLines(blocked.id).map((r) => [r.level, r.finding]),
    [
      ['error', 'appeared'],
      ['info', 'cleared'],
    ],
    'one line when it appeared, one when it cleared',
  );
  m = samples((await get(port, '/metrics')).body);
  t.equal(m.get('coredns_healthd_findings{check="firewall",severity="error"}'), 0);
  t.equal(m.get('coredns_healthd_findings{check="protocol",severity="error"}'), 0);
  t.same(
    hook.filter(([id]) => id === blocked.id),
    [
      [blocked.id, 'appeared'],
      [blocked.id, 'cleared'],
    ],
    'the hook sees both changes',
  );
  t.equal((await get(port, '/healthz')).status, 200);
});

t.test('in-process daemon: a host interface event has a healthy pod diagnosed again at once (diagnose.healthyEvery 1h)', async (t) => {
  if (!requireRoot(t, WHY)) return;
  const w = await world(t, 'chv');
  // The pod resolves through a server on its own loopback: its probes go on answering whatever
  // happens to its veth, so only the interface event can have it diagnosed before the hour is up.
  await spawnResponder({ netns: w.pod.name, listen: '127.0.0.1', port: 53, addresses: ['10.96.0.1'], t });
  fs.writeFileSync(path.join('/etc/netns', w.pod.name, 'resolv.conf'), 'nameserver 127.0.0.1\noptions ndots:5\n');
  await waitFor('the pod sees its new resolv.conf', () => fs.readFileSync(`/proc/${w.podProcess.pid}/root/etc/resolv.conf`, 'utf8').includes('127.0.0.1'));
  w.writeConfig({ diagnose: { healthyEvery: '1h' } });

  type Status = {
    findings: Array<{ vantage: string; code: string; severity: string }>;
    diagnosis: { last: { sweep: number; error: string | null } | null };
  };
  const run = async (linkWatch: boolean) => {
    const daemon = new Daemon({
      holder: new ConfigHolder({ file: w.configFile, env: {} }),
      log: createLogger({ stream: { write: () => undefined } }),
      version: 'test',
      notifier: new Notifier({ env: {} }),
      deps: linkWatch ? {} : { linkWatch: null },
    });
    const { port } = await daemon.start();
    const status = async (): Promise<Status> => JSON.parse((await get(port, '/status')).body) as Status;
    const diagnoses = async (n: number): Promise<Status> => {
      const from = (await status()).diagnosis.last?.sweep ?? 0;
      return waitFor(`${n} more diagnoses`, async () => {
        const s = await status();
        return (s.diagnosis.last?.sweep ?? 0) >= from + n ? s : undefined;
      });
    };
    const podErrors = (s: Status) => s.findings.filter((f) => f.vantage === w.podLabel && f.severity === 'error').map((f) => f.code);
    const podOk = async () => samples((await get(port, '/metrics')).body).get(success(w.podLabel, '127.0.0.1:53', 'udp'));
    await waitFor('healthy', async () => (await get(port, '/healthz')).status === 200);
    return { daemon, status, diagnoses, podErrors, podOk };
  };
  const hostVeth = async (state: 'up' | 'down') => {
    await tryRun(which('ip'), ['link', 'set', w.pod.hostVeth, state]);
  };
  t.teardown(() => hostVeth('up'));

  // Without the watch: the pod, healthy and unchanged, is not diagnosed again within the hour.
  const without = await run(false);
  await without.diagnoses(2);
  t.same(without.podErrors(await without.status()), [], 'healthy at first');
  await hostVeth('down');
  const late = await without.diagnoses(5);
  t.same(without.podErrors(late), [], 'without the watch, the down veth goes unnoticed by the diagnosis');
  t.equal(await without.podOk(), 1, 'and the pod still resolves (loopback)');
  await without.daemon.stop('next');
  await hostVeth('up');

  const withWatch = await run(true);
  t.teardown(() => withWatch.daemon.stop('test over'));
  await withWatch.diagnoses(2);
  t.same(withWatch.podErrors(await withWatch.status()), [], 'healthy at first');
  await hostVeth('down');
  const found = await waitFor('the peer-down finding', async () => {
    const s = await withWatch.status();
    return withWatch.podErrors(s).includes('interfaces/peer-down') ? s : undefined;
  });
  t.ok(withWatch.podErrors(found).includes('interfaces/peer-down'), 'the host end went down: the pod is diagnosed at once');
  t.equal(await withWatch.podOk(), 1, 'while its probes still pass: the event, not a failure, triggered it');
  await hostVeth('up');
  await waitFor('the finding clears', async () => !withWatch.podErrors(await withWatch.status()).includes('interfaces/peer-down'));
  t.pass('back up: diagnosed again and cleared');
});

/** Runs `coredns-healthd run` (compiled) in a child process. */
function spawnDaemon(args: string[], env: Record<string, string>, onLine: (line: string) => void): Service {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('COREDNS_HEALTHD_') && !k.startsWith('NOTIFY_') && !k.startsWith('WATCHDOG_')),
  );
  const script = `const { main } = await import(${JSON.stringify(new URL(`file://${CLI}`).href)}); process.exitCode = await main(process.argv.slice(1));`;
  return spawnService(
    'env',
    [
      `--chdir=${REPO}`,
      '-i',
      ...Object.entries({ ...clean, ...env }).map(([k, v]) => `${k}=${v}`),
      process.execPath,
      '--input-type=module',
      '-e',
      script,
      ...args,
    ],
    { onLine },
  );
}

t.test('child process: sd_notify READY/WATCHDOG/RELOADING/STOPPING, SIGHUP, SIGTERM with probes in flight exits 0', async (t) => {
  if (!requireRoot(t, WHY)) return;
  const w = await world(t);
  const dropTarget = `${w.server.ipv4}:5353`;
  await spawnResponder({ netns: w.server.name, listen: w.server.ipv4, port: 5353, mode: 'drop', t });
  const rx = await startNotifyReceiver(path.join(w.dir, 'notify.sock'), t);

  const lines: Array<Record<string, unknown>> = [];
  let onPort: (p: number) => void = () => undefined;
  const portSeen = new Promise<number>((r) => (onPort = r));
  const child = spawnDaemon(['run', '--config', w.configFile], { NOTIFY_SOCKET: rx.address, WATCHDOG_USEC: '1000000' }, (line) => {
    try {
      const rec = JSON.parse(line) as Record<string, unknown>;
      lines.push(rec);
      if (rec.msg === 'http listening') onPort(rec.port as number);
    } catch {
      lines.push({ unparsed: line });
    }
  });
  t.teardown(() => child.stop(1000));
  const port = await Promise.race([
    portSeen,
    child.exited.then((e) => {
      throw new Error(`daemon exited early (${JSON.stringify(e)}): ${child.stderr()}`);
    }),
  ]);

  t.match(await rx.waitFor('READY=1'), /^READY=1\nSTATUS=ok: 4 checks healthy/);
  await rx.waitFor('WATCHDOG=1');
  t.same(await get(port, '/healthz'), { status: 200, body: 'ok: 4 checks healthy\n' });
  t.ok(
    lines.every((l) => !('unparsed' in l)),
    'stdout is JSON lines only',
  );

  // SIGHUP: RELOADING=1, then READY=1 again; the drop target with a 30 s timeout joins from the next sweep.
  w.writeConfig({ targets: [dropTarget], probe: { timeout: '30s' } });
  const readyBefore = rx.messages.filter((m) => m.startsWith('READY=1')).length;
  process.kill(child.pid, 'SIGHUP');
  t.match(await rx.waitFor('RELOADING=1'), /^RELOADING=1\nMONOTONIC_USEC=\d+/);
  await waitFor('READY after the reload', () => rx.messages.filter((m) => m.startsWith('READY=1')).length > readyBefore);
  // sd_notify's datagram can overtake the log line on the stdout pipe (seen with the load at 10).
  await waitFor('the reload logged', () => lines.some((l) => l.msg === 'configuration reloaded'));
  t.match(
    lines.find((l) => l.msg === 'configuration reloaded'),
    { changed: ['probe.timeout', 'targets'] },
  );
  await waitFor(
    'probes in flight to the drop target',
    async () => (samples((await get(port, '/metrics')).body).get('coredns_healthd_native_jobs_in_flight') ?? 0) >= 4,
  );

  const t0 = Date.now();
  process.kill(child.pid, 'SIGTERM');
  const exit = await child.exited;
  const took = Date.now() - t0;
  t.same(exit, { code: 0, signal: null }, `exit code 0 (stderr: ${child.stderr()})`);
  t.ok(took < 5_000, `stopped in ${took} ms with 30 s probes in flight`);
  await rx.waitFor('STOPPING=1');
  t.same(
    lines.slice(-2).map((l) => l.msg),
    ['stopping', 'stopped'],
  );
  await t.rejects(get(port, '/healthz'), /ECONNREFUSED/);
});

t.test('child process: a configuration error exits 2 naming the key and the file; a busy address exits 1', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chr-daemon-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'bad.json');
  fs.writeFileSync(file, JSON.stringify({ interval: '-5s' }));
  const bad = spawnDaemon(['run', '--config', file], {}, () => undefined);
  t.same(await bad.exited, { code: 2, signal: null });
  t.match(bad.stderr(), new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: interval: `));

  const blocker = http.createServer();
  await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => blocker.close(() => r())));
  const busyPort = (blocker.address() as { port: number }).port;
  const ok = path.join(dir, 'ok.json');
  const resolv = path.join(dir, 'resolv.conf');
  fs.writeFileSync(resolv, '# no nameserver\n');
  fs.writeFileSync(
    ok,
    JSON.stringify({ hostResolvConf: resolv, discovery: { containers: false }, kubernetes: { enabled: false }, http: { listen: `127.0.0.1:${busyPort}` } }),
  );
  const logs: string[] = [];
  const busy = spawnDaemon(['run', '--config', ok], {}, (l) => logs.push(l));
  t.same(await busy.exited, { code: 1, signal: null });
  t.match(JSON.parse(logs.find((l) => l.includes('cannot start'))!), { level: 'error', err: { message: /EADDRINUSE/ } });
});
