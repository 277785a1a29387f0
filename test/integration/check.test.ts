// `coredns-healthd check` end to end against a real dockerd: containers with
// their own resolv.conf (--dns), a DNS server on the test bridge, a dead
// nameserver, and UDP dropped by nftables inside one container.
import t, { type Test } from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { main } from '../../src/cli/main.js';
import { discoverVantages } from '../../src/discovery/discover.js';
import { runSweep } from '../../src/probe/sweep.js';
import { selectVantages } from '../../src/discovery/select.js';
import { requireRoot } from '../support/root.js';
import { startDnsmasq } from '../support/dnsmasq.js';
import { BUSYBOX_IMAGE, TEST_BRIDGE_ADDR, TEST_DOCKER_SOCKET, cleanupContainers, ensureDockerd, runContainer } from '../support/dockerd.js';
import { blockPortRuleset } from '../support/netns.js';
import { run, which } from '../support/run.js';
import { checkQuery } from '../../src/probe/query-spec.js';
import { repoPath } from '../support/paths.js';

const WHY = 'starts a dockerd, containers and nftables rules inside them';
const PREFIX = `chc${process.pid.toString(36)}`;
const DEAD = TEST_BRIDGE_ADDR.replace(/\.\d+$/, '.250'); // on the test bridge, nobody there

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s) });
  return { code, stdout, stderr };
}

// The documented JSON shape of `check --json` (README, "check --json").
function checkShape(t: Test, doc: Record<string, unknown>): void {
  t.equal(doc.version, 1);
  t.type(doc.startedAt, 'string');
  t.type(doc.durationSeconds, 'number');
  t.ok(['discovery', 'expect'].includes(doc.mode as string));
  t.ok(Array.isArray(doc.queries));
  const s = doc.summary as Record<string, unknown>;
  for (const k of ['vantages', 'vantagesProbed', 'vantagesGone', 'vantagesInaccessible', 'probes', 'ok', 'failed']) t.type(s[k], 'number', `summary.${k}`);
  for (const v of doc.vantages as Record<string, unknown>[]) {
    for (const k of ['id', 'inode', 'pid', 'source', 'hostNetwork', 'containerIds', 'containerNames', 'status']) t.ok(k in v, `vantages[].${k}`);
    t.ok(['host', 'proc', 'docker', 'proc+docker'].includes(v.source as string));
  }
  for (const r of doc.results as Record<string, unknown>[]) {
    const v = r.vantage as Record<string, unknown>;
    for (const k of ['id', 'inode', 'pid', 'source', 'podNamespace', 'podName']) t.ok(k in v, `results[].vantage.${k}`);
    t.type(r.server, 'string');
    t.type(r.port, 'number');
    t.ok(['udp', 'tcp'].includes(r.transport as string));
    t.type(r.ok, 'boolean');
    t.type(r.reason, 'string');
    t.ok(r.rttSeconds === null || typeof r.rttSeconds === 'number');
  }
  t.ok(doc.findings === null || Array.isArray(doc.findings), 'findings: an array, or null without a diagnosis');
  for (const f of (doc.findings ?? []) as Record<string, unknown>[]) {
    for (const k of ['id', 'vantage', 'where', 'check', 'code', 'message']) t.type(f[k], 'string', `findings[].${k}`);
    t.ok(['error', 'warning', 'info'].includes(f.severity as string), 'findings[].severity');
    t.type(f.evidence, 'object', 'findings[].evidence');
    t.ok('pod' in f, 'findings[].pod');
  }
}

t.test('check end to end with real containers', async (t) => {
  if (!requireRoot(t, WHY)) return;
  const docker = await ensureDockerd();
  await cleanupContainers(t, docker, PREFIX);
  await startDnsmasq({ listen: TEST_BRIDGE_ADDR, port: 53, t });
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chc-'));
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  const hostResolv = path.join(tmp, 'resolv.conf');
  fs.writeFileSync(hostResolv, `nameserver ${TEST_BRIDGE_ADDR}\n`);
  const labels = (name: string) => ({
    'io.kubernetes.pod.name': name,
    'io.kubernetes.pod.namespace': 'chc-test',
    'io.kubernetes.pod.uid': `00000000-0000-0000-0000-${name.padStart(12, '0').slice(-12)}`,
  });

  const healthy = await runContainer(docker, { name: `${PREFIX}-ok`, cmd: ['sleep', '3600'], dns: [TEST_BRIDGE_ADDR], labels: labels('healthy') });
  const dead = await runContainer(docker, { name: `${PREFIX}-dead`, cmd: ['sleep', '3600'], dns: [DEAD], labels: labels('dead') });
  const noudp = await runContainer(docker, { name: `${PREFIX}-noudp`, cmd: ['sleep', '3600'], dns: [TEST_BRIDGE_ADDR], labels: labels('noudp') });
  await run(which('nsenter'), [`--net=/proc/${noudp.pid}/ns/net`, which('nft'), '-f', '-'], {
    input: blockPortRuleset({ table: `${PREFIX}_udp`, protocol: 'udp' }),
  });
  t.ok(BUSYBOX_IMAGE);

  const base = [
    'check',
    '--config',
    path.join(tmp, 'none.json'),
    '--host-resolv-conf',
    hostResolv,
    '--docker-socket',
    TEST_DOCKER_SOCKET,
    '--timeout',
    '1000',
    '--attempts',
    '1',
  ];
  fs.writeFileSync(path.join(tmp, 'none.json'), '{}\n');
  const only = (...cs: { name: string }[]) => cs.flatMap((c) => ['--container', c.name]);

  await t.test('healthy, dead nameserver, UDP dropped: three verdicts and exit 1', async (t) => {
    const res = await cli([...base, '--tcp', '--json', ...only(healthy, dead, noudp)]);
    t.equal(res.code, 1, res.stderr);
    const doc = JSON.parse(res.stdout) as Record<string, unknown>;
    checkShape(t, doc);
    const results = doc.results as { vantage: { podName: string | null; source: string }; server: string; transport: string; ok: boolean; reason: string }[];
    const verdict = (pod: string, transport: string) =>
      results.filter((r) => r.vantage.podName === pod && r.transport === transport).map((r) => `${r.server}:${r.ok ? 'ok' : r.reason}`);
    t.same(verdict('healthy', 'udp'), [`${TEST_BRIDGE_ADDR}:ok`]);
    t.same(verdict('healthy', 'tcp'), [`${TEST_BRIDGE_ADDR}:ok`]);
    t.same(verdict('noudp', 'udp'), [`${TEST_BRIDGE_ADDR}:blocked-locally`], 'UDP dropped inside the container');
    t.same(verdict('noudp', 'tcp'), [`${TEST_BRIDGE_ADDR}:ok`], 'TCP still works there');
    const deadUdp = verdict('dead', 'udp');
    t.equal(deadUdp.length, 1);
    t.match(deadUdp[0], new RegExp(`^${DEAD.replace(/\./g, '\\.')}:(timeout|unreachable)$`), 'the dead nameserver fails');
    const host = results.filter((r) => r.vantage.source === 'host' || r.vantage.podName === null);
    t.ok(host.length >= 1 && host.every((r) => r.ok), 'the host vantage probes its configured resolv.conf and passes');
    const vantages = doc.vantages as { podName: string | null; source: string; containerNames: string[] }[];
    t.ok(vantages.find((v) => v.podName === 'healthy')?.source.includes('docker'), 'pod names come from Docker labels');
  });

  await t.test('findings explain the failures, in the text before the summary and in --json; --no-diagnose skips them', async (t) => {
    // With the bridge's server as a --server, the dead container has a server that answers next to its dead nameserver.
    const args = [...base, '--tcp', '--server', TEST_BRIDGE_ADDR, ...only(healthy, dead, noudp)];
    const res = await cli([...args, '--json']);
    t.equal(res.code, 1, 'the exit code still comes from the probes');
    const doc = JSON.parse(res.stdout) as Record<string, unknown>;
    checkShape(t, doc);
    type F = { where: string; code: string; severity: string; vantage: string; evidence: Record<string, unknown>; pod: Record<string, string> | null };
    const findings = doc.findings as F[];
    const of = (pod: string) => findings.filter((f) => f.where === `chc-test/${pod}` && f.severity !== 'info').map((f) => `${f.severity} ${f.code}`);
    t.same(of('dead'), ['error resolv-conf/nameserver-fails'], 'the dead container: its resolv.conf points at a server that does not answer');
    const ns = findings.find((f) => f.code === 'resolv-conf/nameserver-fails')!;
    t.equal(ns.evidence.server, DEAD);
    t.same(ns.pod, { uid: labels('dead')['io.kubernetes.pod.uid'], namespace: 'chc-test', name: 'dead' }, 'the pod an Event would go to');
    t.equal(ns.vantage, (doc.vantages as { id: string; podName: string | null }[]).find((v) => v.podName === 'dead')!.id);
    t.same(of('noudp'), ['error firewall/blocked-locally', 'error protocol/udp-fails-tcp-answers'], 'UDP dropped inside the container, TCP answers');
    t.same(of('healthy'), [], 'nothing to say about the healthy one');

    const text = await cli(args);
    t.equal(text.code, 1);
    const at = text.stdout.indexOf('\nFindings: ');
    t.ok(at > 0 && at < text.stdout.indexOf('\nFAIL: '), 'the findings section comes before the summary line');
    t.match(text.stdout, /\nFindings: \d+ errors?/);
    t.match(text.stdout, /\n {2}ERROR +chc-test\/dead +\[resolv-conf\/nameserver-fails\] Nameserver 172\.31\.250\.250 /);
    t.match(text.stdout, /\n {2}ERROR +chc-test\/noudp +\[firewall\/blocked-locally\] /);

    const off = await cli([...args, '--json', '--no-diagnose']);
    t.equal(off.code, 1);
    t.equal((JSON.parse(off.stdout) as { findings: unknown }).findings, null);
    const offText = await cli([...args, '--no-diagnose']);
    t.notMatch(offText.stdout, /Findings:/);
    t.match(offText.stdout, /\nFAIL: /);
  });

  await t.test('the table names every vantage and ends with a summary', async (t) => {
    const res = await cli([...base, ...only(healthy, dead, noudp)]);
    t.equal(res.code, 1);
    t.match(res.stdout, /^VANTAGE\s+POD\/PROCESS\s+SERVER\s+PROTO\s+RESULT\s+REASON\s+RTT/);
    t.match(res.stdout, /chc-test\/healthy\s+172\.31\.250\.1:53\s+udp\s+ok/);
    t.match(res.stdout, /chc-test\/noudp\s+172\.31\.250\.1:53\s+udp\s+FAIL\s+blocked-locally/);
    t.match(res.stdout, /\nFAIL: 4 probes from 4 vantages: 2 ok, 2 failed \(/);
  });

  await t.test('all healthy gives exit 0', async (t) => {
    const res = await cli([...base, '--tcp', ...only(healthy)]);
    t.equal(res.code, 0, res.stdout + res.stderr);
    t.match(res.stdout, /OK: 4 probes from 2 vantages: 4 ok, 0 failed/);
    t.notMatch(res.stdout, /\n {2}(ERROR|WARNING) +chc-test\/healthy/, 'no findings about a healthy container');
  });

  await t.test('the installed entry point runs the same check (bin → dist)', async (t) => {
    const bin = repoPath('bin/coredns-healthd.js');
    const res = spawnSync(process.execPath, [bin, ...base, '--json', ...only(healthy)], { encoding: 'utf8', timeout: 60_000 });
    t.equal(res.status, 0, res.stderr);
    t.equal((JSON.parse(res.stdout) as { summary: { ok: number } }).summary.ok, 2);
  });

  await t.test('netns lists the containers with pod, source and nameservers', async (t) => {
    const res = await cli([
      'netns',
      '--json',
      '--config',
      path.join(tmp, 'none.json'),
      '--host-resolv-conf',
      hostResolv,
      '--docker-socket',
      TEST_DOCKER_SOCKET,
    ]);
    t.equal(res.code, 0, res.stderr);
    const doc = JSON.parse(res.stdout) as {
      vantages: { podName: string | null; nameservers: string[]; hostNetwork: boolean; containerIds: string[]; pid: number }[];
    };
    const byPod = new Map(doc.vantages.map((v) => [v.podName, v]));
    t.same(byPod.get('healthy')?.nameservers, [TEST_BRIDGE_ADDR]);
    t.same(byPod.get('dead')?.nameservers, [DEAD]);
    t.equal(byPod.get('dead')?.containerIds[0], dead.id);
    t.equal(doc.vantages.filter((v) => v.hostNetwork).length, 1, 'one host vantage');
    const table = await cli(['netns', '--config', path.join(tmp, 'none.json'), '--host-resolv-conf', hostResolv, '--docker-socket', TEST_DOCKER_SOCKET]);
    t.match(table.stdout, /chc-test\/dead/);
  });

  await t.test('a container that exits mid-sweep is reported gone and never probed', async (t) => {
    const doomed = await runContainer(docker, { name: `${PREFIX}-doomed`, cmd: ['sleep', '3600'], dns: [TEST_BRIDGE_ADDR], labels: labels('doomed') });
    const discovery = await discoverVantages({
      procRoot: '/proc',
      hostResolvConf: hostResolv,
      host: false,
      containers: true,
      proc: true,
      docker: { enabled: true, socketPath: TEST_DOCKER_SOCKET, timeoutMs: 5000 },
    });
    const vantages = selectVantages(discovery.vantages, { pods: [], containers: [doomed.name, healthy.name] });
    t.equal(vantages.length, 2);
    await docker.getContainer(doomed.id).remove({ force: true });
    const report = await runSweep(vantages, {
      procRoot: '/proc',
      transports: ['udp'],
      queries: [checkQuery({ name: 'kubernetes.default.svc.cluster.local', requireAnswers: false })],
      timeoutMs: 1000,
      attempts: 1,
      dnsPort: 53,
      ownNameservers: true,
      spreadMs: 0,
      maxInFlightPerTarget: 64,
      targets: [],
    });
    const gone = report.vantages.find((v) => v.vantage.podName === 'doomed');
    t.equal(gone?.status, 'gone', gone?.detail ?? '');
    t.equal(report.rows.filter((r) => r.vantage.podName === 'doomed').length, 0, 'nothing was probed for it');
    t.same(
      report.rows.filter((r) => r.vantage.podName === 'healthy').map((r) => r.result.reason),
      ['ok'],
    );
  });
});

t.test('usage and setup errors exit 2 with a message that says what to fix', async (t) => {
  const bad = await cli(['check', '--server', 'not-an-ip', '--config', '/nonexistent/x.json']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /x\.json/);
  const flag = await cli(['check', '--bogus']);
  t.equal(flag.code, 2);
  t.match(flag.stderr, /bogus/);
  const both = await cli(['check', '--host-only', '--no-host']);
  t.equal(both.code, 2);
  t.match(both.stderr, /--host-only and --no-host/);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chc-'));
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  fs.writeFileSync(path.join(tmp, 'c.json'), '{}\n');
  const server = await cli(['check', '--config', path.join(tmp, 'c.json'), '--server', '10.0.0.1:99999']);
  t.equal(server.code, 2);
  t.match(server.stderr, /--server/);
  const cmd = await cli(['frobnicate']);
  t.equal(cmd.code, 2);
  t.match(cmd.stderr, /unknown command "frobnicate"/);
});

t.test('not root: check explains and exits 2 (host-only still works)', async (t) => {
  if (!requireRoot(t, 'drops from root to nobody to show the message a normal user gets')) return;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chc-'));
  fs.chmodSync(tmp, 0o755);
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  fs.writeFileSync(path.join(tmp, 'c.json'), '{}\n');
  fs.writeFileSync(path.join(tmp, 'resolv.conf'), '');
  fs.chmodSync(path.join(tmp, 'c.json'), 0o644);
  fs.chmodSync(path.join(tmp, 'resolv.conf'), 0o644);
  const res = spawnSync(
    which('setpriv'),
    [
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      process.execPath,
      repoPath('bin/coredns-healthd.js'),
      'check',
      '--config',
      path.join(tmp, 'c.json'),
      '--host-resolv-conf',
      path.join(tmp, 'resolv.conf'),
    ],
    {
      encoding: 'utf8',
      timeout: 30_000,
    },
  );
  t.equal(res.status, 2, res.stdout);
  t.match(res.stderr, /must run as root.*--host-only/s);
});
