// Every diagnose check on a real fault, made by the test in real network
// namespaces: pod-like processes (`ip netns exec NAME sleep`) whose
// /proc/<pid>/root/etc/resolv.conf is the namespace's own (ip netns exec
// bind-mounts /etc/netns/NAME/resolv.conf), real DNS servers, a real sweep
// through the addon, and the diagnosis reading the real /proc, /sys and
// rtnetlink. Traffic stays on the test's bridge and namespaces.
import t, { type Test } from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createDiagnoseState, diagnoseSweep, type DiagnoseContext } from '../../src/diagnose/index.js';
import type { Finding } from '../../src/diagnose/finding.js';
import type { KubeFacts, Target, Vantage } from '../../src/model.js';
import { parseInterfaceDump } from '../../src/diagnose/netlink.js';
import { dumpInterfaces, engineStats, hostNetnsInode, NetnsHandle } from '../../src/netns/binding.js';
import { hostVantage } from '../../src/discovery/discover.js';
import { readProcStat } from '../../src/discovery/proc-scan.js';
import { vantageId } from '../../src/discovery/vantage.js';
import { runSweep, type SweepOptions } from '../../src/probe/sweep.js';
import { host as hostAddress, parseCidr } from '../support/ip-range.js';
import { blockPortRuleset, createTopology, nft, randomPrefix, type NetnsNode, type Topology } from '../support/netns.js';
import { spawnResponder } from '../support/responder-process.js';
import { requireRoot } from '../support/root.js';
import { run, sleep, which } from '../support/run.js';
import { spawnService } from '../support/service.js';
import { checkQuery } from '../../src/probe/query-spec.js';

const WHY = 'creates network namespaces, veth pairs, a bridge, nftables rules and /etc/netns entries';
const QUERY = checkQuery({ name: 'kubernetes.default.svc.cluster.local' });

type T = Test;

const ip = (...args: string[]) => run(which('ip'), args);
const subnetHost = (topo: Topology, n: number): string => hostAddress(parseCidr(topo.subnet4), n);

/**
 * A pod-like vantage: a process in the namespace whose resolv.conf is
 * `resolvConf`, found the way discovery finds it (pid, start time, netns
 * inode, /proc/<pid>/root/etc/resolv.conf).
 */
async function podIn(t: T, node: NetnsNode, resolvConf: string, name: string): Promise<Vantage> {
  const etc = `/etc/netns/${node.name}`;
  fs.mkdirSync(etc, { recursive: true });
  fs.writeFileSync(`${etc}/resolv.conf`, resolvConf);
  t.teardown(() => fs.rmSync(etc, { recursive: true, force: true }));
  const svc = spawnService(which('sleep'), ['3600'], { netns: node.name });
  t.teardown(() => svc.stop());
  const want = fs.statSync(node.path).ino;
  const deadline = Date.now() + 5000;
  for (;;) {
    const st = await readProcStat('/proc', svc.pid).catch(() => null);
    const ns = fs.statSync(`/proc/${svc.pid}/ns/net`, { throwIfNoEntry: false });
    if (st?.comm === 'sleep' && ns?.ino === want) {
      t.equal(fs.readFileSync(`/proc/${svc.pid}/root/etc/resolv.conf`, 'utf8'), resolvConf, `${name} sees its own resolv.conf`);
      return {
        id: vantageId(ns.ino),
        dev: ns.dev,
        inode: ns.ino,
        pid: svc.pid,
        startTime: st.startTime,
        comm: st.comm,
        source: 'proc',
        hostNetwork: false,
        podUid: `uid-${name}`,
        podNamespace: 'shop',
        podName: name,
        containerIds: [],
        containerNames: [],
        resolvConfFile: { root: `/proc/${svc.pid}/root`, path: '/etc/resolv.conf' },
      };
    }
    if (Date.now() > deadline) throw new Error(`the process in ${node.name} did not start`);
    await sleep(20);
  }
}

const sweepOptions = (targets: Target[], over: Partial<SweepOptions> = {}): SweepOptions => ({
  procRoot: '/proc',
  transports: ['udp', 'tcp'],
  queries: [QUERY],
  timeoutMs: 1000,
  attempts: 1,
  dnsPort: 53,
  ownNameservers: true,
  targets,
  spreadMs: 0,
  maxInFlightPerTarget: 64,
  ...over,
});

const kubeFor = (dnsServiceIps: string[], pods: Vantage[]): KubeFacts => ({
  dnsServiceIps,
  pods: pods.map((p) => ({ uid: p.podUid!, namespace: p.podNamespace!, name: p.podName!, dnsPolicy: 'ClusterFirst' as const })),
});

async function diagnose(t: T, vantages: Vantage[], targets: Target[], ctx: DiagnoseContext, over: Partial<SweepOptions> = {}): Promise<Finding[]> {
  const report = await runSweep(vantages, sweepOptions(targets, over));
  t.equal(report.vantages.filter((v) => v.status !== 'probed').length, 0, 'every vantage was probed');
  // A fresh state: the node's conntrack counters are only a baseline.
  return diagnoseSweep(report, { state: createDiagnoseState(), ...ctx });
}

/** "where code" of the findings, info and node-wide conntrack ones left out. */
const summary = (findings: Finding[], of?: Vantage): string[] =>
  findings
    .filter((f) => f.severity !== 'info' && f.check !== 'conntrack' && (of === undefined || f.vantage === of.id))
    // eslint-disable-next-line @typescript-eslint/no-base-to-string -- a routes finding's evidence.server is a string
    .map((f) => `${f.where} ${f.code}${f.evidence.server !== undefined && f.check === 'routes' ? ` ${String(f.evidence.server)}` : ''}`);

t.test('resolv.conf: a pod pointing at the wrong server, with too many search domains', async (t) => {
  if (!requireRoot(t, WHY)) return;
  const topo = await createTopology({ count: 3, prefix: randomPrefix('chg'), ipv6: false, t });
  const [server, bad, good] = topo.namespaces as [NetnsNode, NetnsNode, NetnsNode];
  const dnsIp = server.ipv4;
  const wrong = subnetHost(topo, 230); // an address of the server namespace where nothing listens
  await ip('-n', server.name, 'addr', 'add', `${wrong}/16`, 'dev', 'eth0');
  await spawnResponder({ netns: server.name, listen: dnsIp, port: 53, t });
  const search = Array.from({ length: 8 }, (_, i) => `d${i}.example`).join(' ');
  const badPod = await podIn(t, bad, `search ${search}\nnameserver ${wrong}\noptions ndots:5\n`, 'bad');
  const goodPod = await podIn(t, good, `search shop.svc.cluster.local svc.cluster.local cluster.local\nnameserver ${dnsIp}\noptions ndots:5\n`, 'good');

  const findings = await diagnose(t, [badPod, goodPod], [{ server: dnsIp, port: 53, source: 'dns-service', label: 'kube-system/kube-dns' }], {
    kube: kubeFor([dnsIp], [badPod, goodPod]),
    nodeLocalDns: [],
  });
  t.same(summary(findings), ['shop/bad resolv-conf/nameserver-fails', 'shop/bad resolv-conf/not-cluster-dns', 'shop/bad resolv-conf/search-too-many']);
  const byCode = (c: string) => findings.find((f) => f.code === c)!;
  t.match(
    byCode('resolv-conf/not-cluster-dns').message,
    new RegExp(`names ${wrong.replace(/\./g, '\\.')}, not the cluster DNS Service IP ${dnsIp.replace(/\./g, '\\.')}`),
  );
  t.match(byCode('resolv-conf/nameserver-fails').message, /\(refused ×2\) while .*kube-system\/kube-dns\) answers/);
  t.same(byCode('resolv-conf/search-too-many').evidence.dropped, ['d6.example', 'd7.example']);
  t.same(byCode('resolv-conf/not-cluster-dns').pod, { uid: 'uid-bad', namespace: 'shop', name: 'bad' });
  const options = findings.find((f) => f.code === 'resolv-conf/options' && f.vantage === badPod.id);
  t.match(options?.evidence, { options: { ndots: 5, timeout: 5, attempts: 2 } }, "the failing pod's resolver options are reported");
  t.same(summary(findings, goodPod), [], 'the healthy pod has no finding');
});

t.test('routes and interfaces: default route deleted, interface down, host end of the veth down', async (t) => {
  if (!requireRoot(t, WHY)) return;
  const topo = await createTopology({ count: 5, prefix: randomPrefix('chg'), ipv6: false, t });
  const [server, healthy, noDefault, ifDown, peerDown] = topo.namespaces as [NetnsNode, NetnsNode, NetnsNode, NetnsNode, NetnsNode];
  // A Service-style address outside the pod subnet, reached through the
  // pods' default route (via the server namespace, as pods reach the node).
  const svc = `198.18.${(parseCidr(topo.subnet4).base >> 16n) & 0xffn}.10`;
  await ip('-n', server.name, 'addr', 'add', `${svc}/32`, 'dev', 'lo');
  await spawnResponder({ netns: server.name, listen: server.ipv4, port: 53, t });
  await spawnResponder({ netns: server.name, listen: svc, port: 53, t });
  for (const n of [healthy, noDefault, ifDown, peerDown]) await ip('-n', n.name, 'route', 'replace', 'default', 'via', server.ipv4);
  const resolv = `search shop.svc.cluster.local svc.cluster.local cluster.local\nnameserver ${svc}\noptions ndots:5\n`;
  const pods = [
    await podIn(t, healthy, resolv, 'healthy'),
    await podIn(t, noDefault, resolv, 'no-default'),
    await podIn(t, ifDown, resolv, 'if-down'),
    await podIn(t, peerDown, resolv, 'peer-down'),
  ];
  // The faults.
  await ip('-n', noDefault.name, 'route', 'del', 'default');
  await ip('-n', ifDown.name, 'link', 'set', 'eth0', 'down');
  await ip('link', 'set', peerDown.hostVeth, 'down');

  const targets: Target[] = [
    { server: svc, port: 53, source: 'dns-service', label: 'kube-system/kube-dns' },
    { server: server.ipv4, port: 53, source: 'coredns-pod', label: 'kube-system/coredns-1' },
  ];
  const findings = await diagnose(t, pods, targets, { kube: kubeFor([svc], pods), nodeLocalDns: [] });
  t.same(summary(findings, pods[0]), [], 'the healthy pod has no finding');
  t.same(summary(findings, pods[1]), [`shop/no-default routes/no-route ${svc}`, 'shop/no-default path/service-fails-pods-answer']);
  t.match(findings.find((f) => f.vantage === pods[1]!.id && f.code === 'routes/no-route')!.message, /there is no default route and no route covering it/);
  const down = summary(findings, pods[2]);
  t.ok(down.includes('shop/if-down interfaces/down'), `interface down: ${down.join('; ')}`);
  t.match(findings.find((f) => f.code === 'interfaces/down')!.evidence, { interface: 'eth0', hostPeer: ifDown.hostVeth });
  t.ok(down.includes(`shop/if-down routes/no-route ${svc}`), 'its routes went with it');
  const peer = summary(findings, pods[3]);
  t.same(peer, ['shop/peer-down interfaces/peer-down'], 'the host end, found in the host namespace (one rtnetlink dump)');
  t.match(findings.find((f) => f.code === 'interfaces/peer-down')!.message, new RegExp(`host-side veth peer ${peerDown.hostVeth} is down`));
});

t.test('firewall and protocol: an nftables rule dropping UDP 53, a server answering TCP only', async (t) => {
  if (!requireRoot(t, WHY)) return;
  const topo = await createTopology({ count: 3, prefix: randomPrefix('chg'), ipv6: false, t });
  const [server, blocked, clean] = topo.namespaces as [NetnsNode, NetnsNode, NetnsNode];
  const tcpOnly = subnetHost(topo, 220);
  await ip('-n', server.name, 'addr', 'add', `${tcpOnly}/16`, 'dev', 'eth0');
  await spawnResponder({ netns: server.name, listen: server.ipv4, port: 53, t });
  await spawnResponder({ netns: server.name, listen: tcpOnly, port: 53, mode: 'tcp-only', t });
  const resolv = `nameserver ${server.ipv4}\n`;
  const pods = [await podIn(t, blocked, resolv, 'blocked'), await podIn(t, clean, resolv, 'clean')];
  await nft(blocked.name, blockPortRuleset({ table: `${topo.prefix}_udp`.replace(/-/g, '_'), protocol: 'udp' }));

  const findings = await diagnose(t, pods, [{ server: tcpOnly, port: 53, source: 'static' }], { nodeLocalDns: [] });
  t.same(summary(findings), ['node protocol/udp-fails-tcp-answers', 'shop/blocked firewall/blocked-locally', 'shop/blocked protocol/udp-fails-tcp-answers']);
  const fw = findings.find((f) => f.code === 'firewall/blocked-locally')!;
  t.match(fw.message, /drops DNS over UDP to port 53: send to .* failed with EPERM/);
  t.same(fw.evidence.servers, [server.ipv4, tcpOnly].sort());
  t.match(fw.evidence, { protocol: 'udp', port: 53, syscall: 'send', errno: 'EPERM' });
  const node = findings.find((f) => f.code === 'protocol/udp-fails-tcp-answers' && f.vantage === 'node')!;
  t.equal(node.evidence.server, tcpOnly, 'the TCP-only server, from every vantage');
  const local = findings.find((f) => f.code === 'protocol/udp-fails-tcp-answers' && f.vantage === pods[0]!.id)!;
  t.equal(local.evidence.server, server.ipv4, 'the healthy server, from the firewalled pod only');
});

t.test('paths: a blackholed Service-style address next to healthy pod addresses, one server stopped, one isolated pod', async (t) => {
  if (!requireRoot(t, WHY)) return;
  const topo = await createTopology({ count: 4, prefix: randomPrefix('chg'), ipv6: false, t });
  const [server, a, b, isolated] = topo.namespaces as [NetnsNode, NetnsNode, NetnsNode, NetnsNode];
  const [p2, p3, svc] = [201, 202, 210].map((n) => subnetHost(topo, n)) as [string, string, string];
  for (const addr of [p2, p3, svc]) await ip('-n', server.name, 'addr', 'add', `${addr}/16`, 'dev', 'eth0');
  await spawnResponder({ netns: server.name, listen: server.ipv4, port: 53, t });
  await spawnResponder({ netns: server.name, listen: p2, port: 53, t });
  const stopped = await spawnResponder({ netns: server.name, listen: p3, port: 53, t });
  await spawnResponder({ netns: server.name, listen: svc, port: 53, t });
  const table = `${topo.prefix}_bh`.replace(/-/g, '_');
  // The Service address swallows DNS (no reply, no error), as a broken kube-proxy rule does.
  await nft(
    server.name,
    `table inet ${table} {\n  chain input {\n    type filter hook input priority 0; policy accept;\n    ip daddr ${svc} meta l4proto { udp, tcp } th dport 53 drop\n  }\n}\n`,
  );
  // The isolated pod's namespace drops every reply.
  await nft(isolated.name, `table inet ${table} {\n  chain input {\n    type filter hook input priority 0; policy drop;\n    iif lo accept\n  }\n}\n`);
  await stopped.stop();

  const resolv = `nameserver ${svc}\n`;
  const pods = [await podIn(t, a, resolv, 'a'), await podIn(t, b, resolv, 'b'), await podIn(t, isolated, resolv, 'isolated')];
  const hostConf = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'chg-')), 'resolv.conf');
  fs.writeFileSync(hostConf, `nameserver ${server.ipv4}\n`);
  t.teardown(() => fs.rmSync(path.dirname(hostConf), { recursive: true, force: true }));
  const host = hostVantage(hostConf);

  const targets: Target[] = [
    { server: svc, port: 53, source: 'dns-service', label: 'kube-system/kube-dns' },
    { server: server.ipv4, port: 53, source: 'coredns-pod', label: 'kube-system/coredns-1' },
    { server: p2, port: 53, source: 'coredns-pod', label: 'kube-system/coredns-2' },
    { server: p3, port: 53, source: 'coredns-pod', label: 'kube-system/coredns-3' },
  ];
  const state = createDiagnoseState();
  const report = await runSweep([host, ...pods], sweepOptions(targets));
  const findings = await diagnoseSweep(report, { kube: kubeFor([svc], pods), nodeLocalDns: [], state });
  t.same(summary(findings), ['node path/one-server-fails', 'node path/service-fails-pods-answer', 'shop/isolated path/netns-isolated']);
  const svcFinding = findings.find((f) => f.code === 'path/service-fails-pods-answer')!;
  t.match(svcFinding.message, /kube-system\/kube-dns\) fails over UDP and TCP from every vantage \(3; timeout ×6\) while the CoreDNS pods/);
  const sick = findings.find((f) => f.code === 'path/one-server-fails')!;
  t.match(sick.evidence, { server: p3, label: 'kube-system/coredns-3', vantages: 4 });
  t.match(sick.message, /that pod is sick/);
  const iso = findings.find((f) => f.code === 'path/netns-isolated')!;
  t.same(iso.pod, { uid: 'uid-isolated', namespace: 'shop', name: 'isolated' });
  t.notOk(
    findings.some((f) => f.code === 'conntrack/unreadable'),
    'the real conntrack files parse',
  );
  if (fs.existsSync('/proc/sys/net/netfilter/nf_conntrack_count')) t.ok(state.conntrack, 'a conntrack sample was taken from the real /proc');
});

t.test('dumpInterfaces: read inside the namespace from the worker thread, nothing leaked, everyone home', async (t) => {
  if (!requireRoot(t, WHY)) return;
  const topo = await createTopology({ count: 2, prefix: randomPrefix('chg'), ipv6: true, t });
  const [n0] = topo.namespaces as [NetnsNode];
  const inside = parseInterfaceDump(await dumpInterfaces(n0.path));
  t.same(inside.problems, []);
  const eth0 = inside.interfaces.find((i) => i.name === 'eth0')!;
  t.match(eth0, { kind: 'veth', up: true, lowerUp: true });
  t.same(
    eth0.addresses
      .filter((a) => a.scope === 'global')
      .map((a) => a.address)
      .sort(),
    [n0.ipv4, n0.ipv6!].sort(),
  );
  const hostIndex = Number(fs.readFileSync(`/sys/class/net/${n0.hostVeth}/ifindex`, 'utf8'));
  t.equal(eth0.link, hostIndex, "IFLA_LINK is the host end's ifindex");
  const hostDump = parseInterfaceDump(await dumpInterfaces('host'));
  t.ok(
    hostDump.interfaces.some((i) => i.name === n0.hostVeth),
    'the host dump shows the host end',
  );
  t.notOk(
    inside.interfaces.some((i) => i.name === n0.hostVeth),
    'the namespace dump does not',
  );

  const fds = () => fs.readdirSync('/proc/self/fd').length;
  const handle = NetnsHandle.open(n0.path);
  const before = fds();
  for (let round = 0; round < 10; round++) await Promise.all(Array.from({ length: 50 }, () => dumpInterfaces(handle)));
  handle.close();
  t.ok(fds() <= before, `no fd leaked after 500 dumps (${before} → ${fds()})`);
  const stats = engineStats();
  t.equal(stats.workerNetnsInode, hostNetnsInode().inode, 'the worker thread is back home');
  t.equal(stats.fatalErrno, 0);
  for (const tid of fs.readdirSync('/proc/self/task')) {
    const ino = fs.statSync(`/proc/self/task/${tid}/ns/net`, { throwIfNoEntry: false })?.ino;
    if (ino !== undefined) t.equal(ino, hostNetnsInode().inode, `thread ${tid} is in the host netns`);
  }
  await t.rejects(dumpInterfaces(`/run/netns/${topo.prefix}-gone`), { code: 'ENOENT' });
  await t.rejects(dumpInterfaces(handle), { name: 'ArgumentError' }, 'a closed handle is refused before the addon');
});
