// diagnoseSweep end to end over the node-a fixture tree: every check reading
// its files under procRoot/sysRoot, the interface dumps injected from the
// captured hex files, and synthetic sweep rows.
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import { createDiagnoseState, diagnoseContext, diagnoseSweep, firstRotation, type DiagnoseContext, type InterfaceReader } from '../../src/diagnose/index.js';
import { readResolvConf } from '../../src/discovery/resolv-conf.js';
import { parseInterfaceDump } from '../../src/diagnose/netlink.js';
import type { KubeFacts, ResolvConfRead, SweepReport, Vantage } from '../../src/model.js';
import { loadConfig } from '../../src/config/load.js';
import { both, report, row, target, vantage } from '../fixtures/diagnose/sweep-rows.js';
import { repoPath } from '../support/paths.js';

const ROOT = repoPath('test/fixtures/diagnose/node-a');
const PROC = `${ROOT}/proc`;
const SYS = `${ROOT}/sys`;

const pod = (pid: number, name: string, startTime: number): Vantage =>
  vantage({
    pid,
    startTime,
    podNamespace: 'shop',
    podName: name,
    podUid: `uid-${name}`,
    resolvConfFile: { root: `${PROC}/${pid}/root`, path: '/etc/resolv.conf' },
  });
const HOST = vantage({ pid: 1, inode: 4026531840, hostNetwork: true, source: 'host', resolvConfFile: { root: null, path: `${ROOT}/host-resolv.conf` } });
const WEB = pod(2101, 'web-1', 40100);
const CART = pod(2201, 'cart-1', 40200);
const ISO = pod(2301, 'iso-1', 40300);
const BROKEN = pod(2401, 'broken-1', 40400);
const LONELY = pod(2501, 'lonely-1', 40500);
const EXITED = pod(2601, 'exited-1', 40600); // no /proc entry: exited since the sweep
const REUSED = { ...pod(2101, 'reused-1', 11111), id: 'netns:[4026599999]', inode: 4026599999 }; // pid 2101 now belongs to another process
const VANISHED = pod(2701, 'vanished-1', 40700); // the sweep already saw it gone

const SVC = target('10.96.0.10', 'dns-service', 'kube-system/kube-dns');
const SVC_NS = target('10.96.0.10', 'resolv.conf');
const P1 = target('10.244.0.5', 'coredns-pod', 'kube-system/coredns-1');
const P2 = target('10.244.0.6', 'coredns-pod', 'kube-system/coredns-2');
const WRONG = target('10.0.0.99', 'resolv.conf');

const KUBE: KubeFacts = {
  dnsServiceIps: ['10.96.0.10'],
  pods: ['web-1', 'cart-1', 'iso-1', 'broken-1', 'lonely-1'].map((name) => ({
    uid: `uid-${name}`,
    namespace: 'shop',
    name,
    dnsPolicy: 'ClusterFirst' as const,
  })),
};

const reader: InterfaceReader = async (v) => {
  if (v.pid === EXITED.pid || v.pid === VANISHED.pid) return 'gone';
  const file = `${ROOT}/netlink/${v.hostNetwork ? 2101 : v.pid}.hex`;
  return { ok: true, parsed: parseInterfaceDump(Buffer.from(fs.readFileSync(file, 'utf8').replace(/\s+/g, ''), 'hex'), 'LE') };
};

function sweep() {
  const rows = [
    ...both(HOST, SVC, 'ok', 'ok'),
    ...both(HOST, P1, 'ok', 'ok'),
    ...both(HOST, P2, 'timeout', 'timeout'),
    ...both(WEB, SVC_NS, 'ok', 'ok'),
    ...both(WEB, P1, 'blocked-locally', 'ok'),
    ...both(WEB, P2, 'timeout', 'timeout'),
    ...both(CART, WRONG, 'timeout', 'timeout'),
    ...both(CART, SVC, 'ok', 'ok'),
    ...both(CART, P1, 'ok', 'ok'),
    ...both(CART, P2, 'timeout', 'timeout'),
    ...[ISO, BROKEN, LONELY].flatMap((v) => [
      ...both(v, SVC_NS, 'timeout', 'timeout'),
      ...both(v, P1, 'unreachable', 'timeout'),
      ...both(v, P2, 'timeout', 'timeout'),
    ]),
    ...both(EXITED, SVC_NS, 'timeout', 'timeout'),
    row(REUSED, SVC_NS, 'udp', 'timeout'),
  ];
  return report([HOST, WEB, CART, ISO, BROKEN, LONELY, EXITED, REUSED, VANISHED], rows, { [VANISHED.id]: 'gone' });
}

t.test('every check over a fixture node', async (t) => {
  const state = createDiagnoseState();
  state.conntrack = { at: 0, count: 1, max: 262144, stats: { insert_failed: 2 } };
  const findings = await diagnoseSweep(sweep(), { procRoot: PROC, sysRoot: SYS, kube: KUBE, nodeLocalDns: [], state, interfaces: reader, now: () => 30_000 });
  // eslint-disable-next-line @typescript-eslint/no-base-to-string -- a routes finding's evidence.server is a string
  const got = findings.map((f) => `${f.where} ${f.code}${f.code.startsWith('routes/no-route') ? ` ${String(f.evidence.server)}` : ''}`);
  t.same(got, [
    'node path/one-server-fails',
    'node conntrack/insert-failed',
    'node conntrack/table-filling',
    'host resolv-conf/options',
    'shop/web-1 firewall/blocked-locally',
    'shop/web-1 protocol/udp-fails-tcp-answers',
    'shop/web-1 resolv-conf/options',
    'shop/cart-1 resolv-conf/nameserver-fails',
    'shop/cart-1 resolv-conf/not-cluster-dns',
    'shop/cart-1 resolv-conf/malformed',
    'shop/cart-1 resolv-conf/search-too-many',
    'shop/cart-1 resolv-conf/options',
    'shop/iso-1 routes/no-route 10.244.0.5',
    'shop/iso-1 routes/no-route 10.244.0.6',
    'shop/iso-1 routes/no-route 10.96.0.10',
    'shop/iso-1 interfaces/peer-down',
    'shop/iso-1 path/netns-isolated',
    'shop/iso-1 resolv-conf/options',
    'shop/broken-1 resolv-conf/unreadable',
    'shop/broken-1 interfaces/down',
    'shop/broken-1 path/netns-isolated',
    'shop/broken-1 routes/unreadable',
    'shop/lonely-1 routes/no-route 10.244.0.5',
    'shop/lonely-1 routes/no-route 10.244.0.6',
    'shop/lonely-1 routes/no-route 10.96.0.10',
    'shop/lonely-1 interfaces/no-interface',
    'shop/lonely-1 path/netns-isolated',
    'shop/lonely-1 resolv-conf/options',
  ]);
  t.same(state.conntrack, { at: 30_000, count: 250000, max: 262144, stats: state.conntrack.stats }, 'the state now holds this sample');
  t.equal(state.conntrack.stats.insert_failed, 7);
  const peer = findings.find((f) => f.code === 'interfaces/peer-down')!;
  t.equal(peer.evidence.hostPeer, 'vethpeer2');
  t.same(peer.pod, { uid: 'uid-iso-1', namespace: 'shop', name: 'iso-1' });
  t.notOk(
    findings.some((f) => [EXITED.id, REUSED.id, VANISHED.id].includes(f.vantage)),
    'no per-vantage findings for vantages gone since the sweep',
  );
  t.equal(new Set(findings.map((f) => f.id)).size, findings.length, 'ids are unique');
  t.same(JSON.parse(JSON.stringify(findings)), findings, 'findings are plain JSON');
});

t.test('without Kubernetes, without the addon, without state', async (t) => {
  const findings = await diagnoseSweep(sweep(), { procRoot: PROC, sysRoot: SYS, interfaces: false });
  const codes = new Set(findings.map((f) => f.code));
  t.notOk(codes.has('resolv-conf/not-cluster-dns'), 'needs Kubernetes data');
  t.notOk(
    [...codes].some((c) => c.startsWith('interfaces/')),
    'interfaces are skipped',
  );
  t.ok(codes.has('resolv-conf/nameserver-fails'), 'the row comparison works without Kubernetes');
  t.same(
    findings.filter((f) => f.code === 'conntrack/insert-failed').map((f) => f.severity),
    ['info'],
    'one-shot: the total since boot',
  );
});

t.test('the default interface reader on a fixture tree: not a namespace is a finding, no namespace is gone', async (t) => {
  // 2101/ns/net is a regular file (a fixture cannot hold an nsfs file); 2201 has none at all.
  const findings = await diagnoseSweep(report([WEB, CART], [...both(WEB, SVC_NS, 'ok', 'ok'), ...both(CART, SVC_NS, 'ok', 'ok')]), {
    procRoot: PROC,
    sysRoot: SYS,
  });
  t.same(
    findings.map((f) => `${f.where} ${f.code}`),
    ['node conntrack/table-filling', 'node conntrack/insert-failed', 'shop/web-1 interfaces/unreadable'],
  );
  t.match(findings[2]!.message, /is not a network namespace/);
});

t.test('diagnoseContext takes its settings from the configuration', async (t) => {
  const config = loadConfig({ file: false, env: {}, flags: { 'diagnose.nodeLocalDns': ['169.254.20.10'] } });
  const state = createDiagnoseState();
  const ctx = diagnoseContext(config, { state });
  t.same(ctx, {
    procRoot: config.discovery.procRoot,
    nodeLocalDns: config.diagnose.nodeLocalDns,
    conntrackThreshold: config.diagnose.conntrack.threshold,
    healthyEveryMs: 5 * 60_000,
    state,
  });
});

t.test('false findings of issue 10: an empty route file, a loopback-only namespace whose loopback resolver answers', async (t) => {
  // A copy of lonely-1 (loopback only) whose resolv.conf names 127.0.0.53 and whose
  // /proc/<pid>/net/route is empty (the kernel writes nothing, not even the header,
  // for a namespace without a main table).
  const tmp = fs.mkdtempSync(`${os.tmpdir()}/chd-lonely-`);
  t.teardown(() => fs.rmSync(tmp, { recursive: true, force: true }));
  fs.cpSync(`${PROC}/2501`, `${tmp}/2501`, { recursive: true });
  fs.writeFileSync(`${tmp}/2501/net/route`, '');
  fs.writeFileSync(`${tmp}/2501/root/etc/resolv.conf`, 'nameserver 127.0.0.53\n');
  const lonely = vantage({
    pid: 2501,
    startTime: 40500,
    podNamespace: 'shop',
    podName: 'lonely-1',
    podUid: 'uid-lonely-1',
    resolvConfFile: { root: `${tmp}/2501/root`, path: '/etc/resolv.conf' },
  });
  const stub = target('127.0.0.53', 'resolv.conf');
  const run = (reason: 'ok' | 'timeout') =>
    diagnoseSweep(report([lonely], both(lonely, stub, reason, reason)), { procRoot: tmp, sysRoot: SYS, interfaces: reader, nodeLocalDns: [] });

  const answering = await run('ok');
  t.same(
    answering.filter((f) => f.vantage === lonely.id).map((f) => [f.code, f.severity]),
    [['interfaces/no-interface', 'info']],
    'no routes/unreadable; no-interface is only info',
  );
  t.match(answering.find((f) => f.code === 'interfaces/no-interface')!.message, /loopback nameserver answers/);

  const failing = await run('timeout');
  const codes = failing.filter((f) => f.vantage === lonely.id).map((f) => [f.code, f.severity]);
  t.notOk(
    codes.some(([c]) => c === 'routes/unreadable'),
    'an empty route file is an empty table',
  );
  t.ok(
    codes.some(([c, s]) => c === 'interfaces/no-interface' && s === 'error'),
    'a loopback resolver that does not answer: still an error',
  );
});

t.test('a daemon re-reads failing, recovering, new and changed vantages every pass, healthy ones on a rotation', async (t) => {
  const EVERY = 300_000;
  const state = createDiagnoseState();
  const read: number[] = [];
  const counting: InterfaceReader = (v, root) => {
    read.push(v.pid);
    return reader(v, root);
  };
  let clock = 1_000_000;
  const ctx: DiagnoseContext = {
    procRoot: PROC,
    sysRoot: SYS,
    kube: KUBE,
    nodeLocalDns: [],
    state,
    interfaces: counting,
    healthyEveryMs: EVERY,
    now: () => clock,
  };
  const webRead = await readResolvConf(WEB.resolvConfFile);
  const pass = async (rep: SweepReport, webResolv: ResolvConfRead = webRead) => {
    const r = rep.vantages.find((x) => x.vantage.id === WEB.id);
    if (r) r.resolvConfRead = webResolv;
    read.length = 0;
    const findings = await diagnoseSweep(rep, ctx);
    return { read: [...read].sort(), got: findings.map((f) => `${f.where} ${f.code}`) };
  };
  const sweepOf = (iso: 'ok' | 'timeout', extra: Vantage[] = []) =>
    report(
      [WEB, CART, ISO, ...extra],
      [...both(WEB, SVC_NS, 'ok', 'ok'), ...both(CART, SVC, 'ok', 'ok'), ...both(ISO, SVC_NS, iso, iso), ...extra.flatMap((v) => both(v, SVC_NS, 'ok', 'ok'))],
    );

  const first = await pass(sweepOf('timeout'));
  t.same(first.read, [2101, 2201, 2301], 'the first pass reads every vantage');
  t.ok(first.got.includes('shop/cart-1 resolv-conf/search-too-many'), 'a healthy vantage can have findings');
  t.ok(first.got.includes('shop/iso-1 interfaces/peer-down'), 'and the failing one has its own');

  clock += 10_000;
  const second = await pass(sweepOf('timeout'));
  t.same(second.read, [2301], 'the next pass reads only the failing vantage');
  t.same(second.got, first.got, "the healthy vantages' findings stand as they were");

  clock += 10_000;
  t.same((await pass(sweepOf('ok'))).read, [2301], 'a vantage that failed at its last diagnosis is read again once it passes');
  clock += 10_000;
  t.same((await pass(sweepOf('ok'))).read, [], 'then, healthy and unchanged, it waits for its turn');

  clock += 10_000;
  const changed: ResolvConfRead = { ...webRead, parsed: { ...webRead.parsed, search: [...webRead.parsed.search, 'extra.example'] } };
  t.same((await pass(sweepOf('ok'), changed)).read, [2101], 'a changed resolv.conf (as the sweep read it) is diagnosed at once');
  clock += 10_000;
  t.same((await pass(sweepOf('ok'), changed)).read, [], 'once');

  clock += 10_000;
  ctx.kube = { ...KUBE, pods: KUBE.pods.map((p) => (p.name === 'cart-1' ? { ...p, dnsPolicy: 'Default' as const } : p)) };
  const policy = await pass(sweepOf('ok'), changed);
  t.same(policy.read, [2201], 'a pod whose dnsPolicy changed is diagnosed at once');
  t.notOk(policy.got.includes('shop/cart-1 resolv-conf/not-cluster-dns'), 'and its findings follow');
  t.ok(first.got.includes('shop/cart-1 resolv-conf/not-cluster-dns'), '(they had it before)');

  clock += 10_000;
  t.same((await pass(sweepOf('ok', [BROKEN]), changed)).read, [2401], 'a new vantage is diagnosed at once');

  const without = await pass(
    report([CART, ISO, BROKEN], [...both(CART, SVC, 'ok', 'ok'), ...both(ISO, SVC_NS, 'ok', 'ok'), ...both(BROKEN, SVC_NS, 'ok', 'ok')]),
  );
  t.same(without.read, [], 'a vanished vantage reads nothing');
  t.notOk(
    without.got.some((g) => g.startsWith('shop/web-1 ')),
    'and its findings are gone',
  );
  t.notOk(state.vantages.has(WEB.id), 'and so is what was kept about it');

  clock += 10_000;
  const renamed = report([CART, ISO, BROKEN], [...both(CART, SVC, 'ok', 'ok'), ...both(ISO, SVC_NS, 'ok', 'ok'), ...both(BROKEN, SVC_NS, 'ok', 'ok')]);
  const cartReport = renamed.vantages.find((r) => r.vantage.id === CART.id)!;
  cartReport.vantage = { ...cartReport.vantage, podName: 'cart-1-renamed' };
  renamed.rows = renamed.rows.map((r) => (r.vantage.id === CART.id ? { ...r, vantage: cartReport.vantage } : r));
  const afterRename = await pass(renamed, changed);
  t.same(afterRename.read, [2201], 'a vantage whose pod name became known (or changed) is diagnosed at once');
  t.ok(
    afterRename.got.some((g) => g.startsWith('shop/cart-1-renamed ')),
    'so its findings name it',
  );

  // Host interface events (link-watch.ts): a vantage whose veth's host end changed is diagnosed at once.
  const isoLinks = state.vantages.get(ISO.id)!.hostLinks;
  t.ok(isoLinks.length > 0, 'the memo keeps the host ends of its veths');
  const later = () => report([CART, ISO, BROKEN], [...both(CART, SVC, 'ok', 'ok'), ...both(ISO, SVC_NS, 'ok', 'ok'), ...both(BROKEN, SVC_NS, 'ok', 'ok')]);
  const renamedCart = () => {
    const rep = later();
    const c = rep.vantages.find((r) => r.vantage.id === CART.id)!;
    c.vantage = { ...c.vantage, podName: 'cart-1-renamed' };
    rep.rows = rep.rows.map((r) => (r.vantage.id === CART.id ? { ...r, vantage: c.vantage } : r));
    return rep;
  };
  clock += 10_000;
  t.same((await pass(renamedCart(), changed)).read, [], 'nothing changed: nothing read');
  ctx.linkChanges = { all: false, indexes: new Set([isoLinks[0]!]) };
  t.same((await pass(renamedCart(), changed)).read, [2301], 'its host end changed: read again at once');
  ctx.linkChanges = { all: false, indexes: new Set([987654]) };
  t.same((await pass(renamedCart(), changed)).read, [], 'another interface changed: not read');
  ctx.linkChanges = { all: true, indexes: new Set() };
  t.same((await pass(renamedCart(), changed)).read, [2201, 2301, 2401], 'changes were lost: every vantage is read');
  delete ctx.linkChanges;

  clock += EVERY;
  t.same((await pass(sweepOf('ok', [BROKEN]), changed)).read, [2101, 2201, 2301, 2401], 'after healthyEveryMs every healthy vantage has been read again');
});

t.test('the first rotation of healthy vantages is spread over the second half of the period', async (t) => {
  const ids = Array.from({ length: 200 }, (_, i) => `netns:[${4026532000 + i}]`);
  const spread = ids.map(firstRotation);
  t.ok(
    spread.every((x) => x >= 0.5 && x < 1),
    'within [0.5, 1)',
  );
  t.ok(new Set(spread.map((x) => Math.floor(x * 10))).size === 5, 'every tenth of the half is used');
  t.equal(firstRotation(ids[0]!), spread[0], 'the same for the same vantage');

  const state = createDiagnoseState();
  const read: number[] = [];
  const counting: InterfaceReader = (v, root) => {
    read.push(v.pid);
    return reader(v, root);
  };
  let clock = 0;
  const ctx: DiagnoseContext = { procRoot: PROC, sysRoot: SYS, state, interfaces: counting, healthyEveryMs: 1000, now: () => clock };
  const rep = report([WEB, CART], [...both(WEB, SVC_NS, 'ok', 'ok'), ...both(CART, SVC, 'ok', 'ok')]);
  await diagnoseSweep(rep, ctx);
  read.length = 0;
  clock = 499;
  await diagnoseSweep(rep, ctx);
  t.same(read, [], 'nothing healthy is due before half the period');
  const dueWeb = Math.ceil(1000 * firstRotation(WEB.id));
  const dueCart = Math.ceil(1000 * firstRotation(CART.id));
  clock = Math.min(dueWeb, dueCart);
  await diagnoseSweep(rep, ctx);
  t.same(read, dueWeb === dueCart ? [WEB.pid, CART.pid] : [dueWeb < dueCart ? WEB.pid : CART.pid], 'each when its own turn comes');
});

t.test('healthyEveryMs 0 or no state: every vantage every pass', async (t) => {
  const read: number[] = [];
  const counting: InterfaceReader = (v, root) => {
    read.push(v.pid);
    return reader(v, root);
  };
  const rep = report([WEB, CART], [...both(WEB, SVC_NS, 'ok', 'ok'), ...both(CART, SVC, 'ok', 'ok')]);
  for (const ctx of [
    { procRoot: PROC, sysRoot: SYS, state: createDiagnoseState(), interfaces: counting, healthyEveryMs: 0 },
    { procRoot: PROC, sysRoot: SYS, interfaces: counting, healthyEveryMs: 1000 },
  ]) {
    read.length = 0;
    await diagnoseSweep(rep, ctx);
    await diagnoseSweep(rep, ctx);
    t.same(read.sort(), [2101, 2101, 2201, 2201]);
  }
});
