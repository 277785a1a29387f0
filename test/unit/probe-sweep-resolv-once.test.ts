// A container's resolv.conf is read once per sweep: the sweep's read goes
// into its report and the diagnosis uses it instead of reading the file
// again. Shown by replacing the file between the sweep and the diagnosis,
// against this very process (its own namespace opens without root) with a
// fixture root for its resolv.conf.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { selfVantage } from '../support/self-vantage.js';
import t, { type Test } from 'tap';
import { diagnoseSweep, type Finding } from '../../src/diagnose/index.js';
import { type Vantage } from '../../src/model.js';
import { runSweep, type ProbeFn, type SweepOptions } from '../../src/probe/sweep.js';
import { Rotation } from '../../src/probe/plan.js';
import { QUERY } from '../fixtures/diagnose/sweep-rows.js';
import { ResolvConfReuse, rereadEvery } from '../../src/probe/resolv-conf-reuse.js';
import { parseResolvConf } from '../../src/discovery/resolv-conf.js';

const FOUR = 'nameserver 10.0.0.1\nnameserver 10.0.0.2\nnameserver 10.0.0.3\nnameserver 10.0.0.4\n';
const ONE = 'nameserver 10.0.0.9\n';

function fixture(t: Test): { root: string; file: string; vantage: Vantage } {
  const root = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'chd-once-')), 'root');
  t.teardown(() => fs.rmSync(path.dirname(root), { recursive: true, force: true }));
  fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
  const vantage = selfVantage({ podNamespace: 'shop', podName: 'once-1', resolvConfFile: { root, path: '/etc/resolv.conf' } });
  return { root, file: path.join(root, 'etc/resolv.conf'), vantage };
}

const probed: string[] = [];
const probeFn: ProbeFn = async (spec) => {
  probed.push(spec.server);
  return { ok: true, reason: 'ok', rcode: 'NOERROR', answers: [], rttSeconds: 0.001, transport: spec.transport ?? 'udp', truncated: false };
};

const OPTS: SweepOptions = {
  procRoot: '/proc',
  transports: ['udp'],
  queries: [QUERY],
  timeoutMs: 1000,
  attempts: 1,
  dnsPort: 53,
  ownNameservers: true,
  targets: [],
  spreadMs: 0,
  maxInFlightPerTarget: 64,
};

const codes = (f: Finding[]): string[] => f.map((x) => x.code);

t.test("the diagnosis uses the sweep's read, not the file as it is later", async (t) => {
  const { file, vantage } = fixture(t);
  fs.writeFileSync(file, FOUR);
  probed.length = 0;
  const report = await runSweep([vantage], OPTS, probeFn);
  t.equal(report.vantages[0]!.status, 'probed');
  t.same(probed.sort(), ['10.0.0.1', '10.0.0.2', '10.0.0.3'], 'the sweep probed the nameservers it read');
  const read = report.vantages[0]!.resolvConfRead;
  t.ok(read, 'the report carries the read');
  t.same(
    read!.parsed.ignoredNameservers.map((n) => n.address),
    ['10.0.0.4'],
  );

  // The container rewrites its file after the sweep.
  fs.writeFileSync(file, ONE);
  const findings = await diagnoseSweep(report, { procRoot: '/proc', interfaces: false });
  t.ok(codes(findings).includes('resolv-conf/ignored-nameservers'), 'judged from the content the sweep probed');

  // Without a sweep read (own nameservers not probed), the diagnosis reads the file itself.
  const unread = { ...report, vantages: report.vantages.map(({ resolvConfRead: _, ...r }) => r) };
  const again = await diagnoseSweep(unread, { procRoot: '/proc', interfaces: false });
  t.notOk(codes(again).includes('resolv-conf/ignored-nameservers'), 'the file as it is now');
});

t.test('a sweep with own nameservers off reads nothing; the diagnosis then reads once', async (t) => {
  const { file, vantage } = fixture(t);
  fs.writeFileSync(file, FOUR);
  const report = await runSweep([vantage], { ...OPTS, ownNameservers: false, targets: [{ server: '10.0.0.1', port: 53, source: 'static' }] }, probeFn);
  t.equal(report.vantages[0]!.resolvConfRead, undefined);
  t.equal(report.vantages[0]!.resolvConf, undefined);
  const findings = await diagnoseSweep(report, { procRoot: '/proc', interfaces: false });
  t.ok(codes(findings).includes('resolv-conf/ignored-nameservers'));
});

t.test('hostile files through the sweep: findings, and the sweep goes on', async (t) => {
  const { root, file, vantage } = fixture(t);
  fs.writeFileSync(path.join(root, 'etc/big'), Buffer.alloc(200 * 1024, 'nameserver 10.0.0.1\n'));
  fs.symlinkSync('/etc/big', file);
  probed.length = 0;
  const report = await runSweep([vantage], OPTS, probeFn);
  t.same(probed, [], 'no nameserver from a file that was not read');
  t.match(report.vantages[0]!.resolvConf, { error: /is larger than 64 KiB \(204800 bytes\) and was not read/ });
  const findings = await diagnoseSweep(report, { procRoot: '/proc', interfaces: false });
  const big = findings.find((f) => f.code === 'resolv-conf/too-large');
  t.match(big, { severity: 'warning', evidence: { code: 'EFBIG', size: 204800, limit: 65536 } });

  fs.rmSync(file);
  fs.mkdirSync(file);
  const dirReport = await runSweep([vantage], OPTS, probeFn);
  const dirFindings = await diagnoseSweep(dirReport, { procRoot: '/proc', interfaces: false });
  const unreadable = dirFindings.find((f) => f.code === 'resolv-conf/unreadable');
  t.match(unreadable, {
    severity: 'error',
    message: `/etc/resolv.conf in container root ${root} is a directory, not a regular file: the resolver configuration of this container is unknown.`,
    evidence: { code: 'ENOTREG', fileType: 'directory' },
  });
});

t.test('a reused read keeps its report and targets until the configured targets or the port change', async (t) => {
  const { file, vantage } = fixture(t);
  fs.writeFileSync(file, ONE);
  const reuse = new ResolvConfReuse(100);
  const sweep = async (over: Partial<SweepOptions>) => {
    probed.length = 0;
    const ports: number[] = [];
    const probe: ProbeFn = async (spec, netns) => {
      ports.push(spec.port);
      return probeFn(spec, netns);
    };
    const report = await runSweep([vantage], { ...OPTS, resolvConfReuse: reuse, ...over }, probe);
    return { report, servers: [...probed].sort(), ports };
  };
  const a = await sweep({});
  const b = await sweep({});
  t.same(b.servers, ['10.0.0.9']);
  t.equal(b.report.vantages[0]!.resolvConf, a.report.vantages[0]!.resolvConf, 'the same read: the same report, made once');
  t.ok(Object.isFrozen(a.report.vantages[0]!.resolvConf), 'shared between sweeps, so frozen');
  const c = await sweep({ targets: [{ server: '10.0.0.50', port: 53, source: 'static' }] });
  t.same(c.servers, ['10.0.0.50', '10.0.0.9'], 'a configured target added: probed at once');
  const d = await sweep({ targets: [{ server: '10.0.0.9', port: 53, source: 'dns-service' }] });
  t.same(d.servers, ['10.0.0.9'], 'a nameserver that is also a configured target is probed once');
  t.equal(d.report.rows[0]!.target.source, 'dns-service', 'under its more specific source');
  const e = await sweep({ dnsPort: 5353 });
  t.same(e.ports, [5353], 'a new port for nameservers: used at once');
});

t.test('across sweeps (the daemon at a short interval): a read is reused, then read again', async (t) => {
  const { file, vantage } = fixture(t);
  fs.writeFileSync(file, ONE);
  const reuse = new ResolvConfReuse(3);
  const opts = { ...OPTS, resolvConfReuse: reuse };
  const servers = async (probe: ProbeFn = probeFn, v: Vantage = vantage): Promise<string[]> => {
    probed.length = 0;
    await runSweep([v], opts, probe);
    return [...probed];
  };
  t.same(await servers(), ['10.0.0.9'], 'sweep 1 reads the file');
  fs.writeFileSync(file, FOUR);
  t.same(await servers(), ['10.0.0.9'], 'sweep 2 uses the read of sweep 1');
  t.same(await servers(), ['10.0.0.9'], 'sweep 3 too');
  t.same(await servers(), ['10.0.0.1', '10.0.0.2', '10.0.0.3'], 'sweep 4 (every 3rd) reads it again');

  const other = fixture(t);
  fs.writeFileSync(other.file, ONE);
  t.same(await servers(probeFn, { ...vantage, resolvConfFile: other.vantage.resolvConfFile }), ['10.0.0.9'], 'another file for the vantage: read at once');
  t.same(await servers(), ['10.0.0.1', '10.0.0.2', '10.0.0.3'], 'and back: read at once');

  fs.writeFileSync(file, ONE);
  const failing: ProbeFn = async (spec) => {
    probed.push(spec.server);
    return { ok: false, reason: 'timeout', rcode: null, answers: [], rttSeconds: null, transport: spec.transport ?? 'udp', truncated: false };
  };
  t.same(await servers(failing), ['10.0.0.1', '10.0.0.2', '10.0.0.3'], 'a failing sweep still uses the kept read');
  t.same(await servers(), ['10.0.0.9'], 'after a failed probe the file is read again at once');

  fs.rmSync(file);
  t.same(await servers(), ['10.0.0.9'], 'kept read still used');
  reuse.drop(vantage.id);
  t.same(await servers(), [], 'a missing file: nothing to probe ...');
  fs.writeFileSync(file, ONE);
  t.same(await servers(), ['10.0.0.9'], '... and a failed read is never kept');

  await runSweep([], opts, probeFn);
  t.equal(reuse.size, 0, 'a vantage no longer swept is forgotten');
});

t.test('rereadEvery: every sweep from a 10 s interval up, at least every 10 s below', async (t) => {
  t.equal(rereadEvery(10_000), 1);
  t.equal(rereadEvery(60_000), 1);
  t.equal(rereadEvery(9_999), 1);
  t.equal(rereadEvery(5_000), 2);
  t.equal(rereadEvery(3_000), 3);
  t.equal(rereadEvery(1_000), 10);
  t.equal(rereadEvery(100), 100);
  t.throws(() => new ResolvConfReuse(0), RangeError);
  const v = selfVantage();
  const read = { path: '/etc/resolv.conf', parsed: parseResolvConf('nameserver 10.0.0.1\n') };
  const kept = new ResolvConfReuse(5);
  kept.beginSweep();
  kept.set(v, read);
  kept.beginSweep();
  t.equal(kept.get(v), read);
  t.equal(kept.get({ ...v, startTime: v.startTime + 1 }), undefined, 'another process under the same id: read again');
  t.equal(kept.get(v), undefined, 'and the old read is gone');
  kept.set({ ...v, pid: v.pid + 1 }, read);
  t.equal(kept.get(v), undefined, 'another PID');
  kept.set(v, { ...read, error: { code: 'ENOENT', message: 'gone' } });
  t.equal(kept.get(v), undefined, 'a failed read is not kept');
  const once = new ResolvConfReuse(1);
  once.beginSweep();
  once.set(selfVantage(), { path: '/etc/resolv.conf', parsed: parseResolvConf('nameserver 10.0.0.1\n') });
  t.equal(once.size, 0, 'every sweep reads: nothing is kept');
});

t.test('a budgeted sweep: truncated replies retried over TCP are kept out of the next plan', async (t) => {
  const { file, vantage } = fixture(t);
  fs.writeFileSync(file, FOUR);
  const truncating: ProbeFn = async (spec) => ({
    ok: true,
    reason: 'ok',
    rcode: 'NOERROR',
    answers: [],
    rttSeconds: 0.001,
    transport: 'tcp',
    truncated: spec.server !== '10.0.0.3', // two of the three nameservers truncate
  });
  const rotation = new Rotation();
  const opts: SweepOptions = { ...OPTS, budget: { queriesPerSweep: 10, tcpEvery: 1, rotation } };
  const first = await runSweep([vantage], opts, truncating);
  t.equal(first.plan!.retryReserve, 0);
  t.equal(first.plan!.queries, 3 + 2, 'three queries and two TCP retries');
  const second = await runSweep([vantage], opts, truncating);
  t.equal(second.plan!.retryReserve, 2, 'the next plan keeps two queries for retries');
  t.ok(second.plan!.reserved <= 10);
});
