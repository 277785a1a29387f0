// The probe engine inside real network namespaces: it really runs inside,
// a local firewall shows as blocked-locally, blackholed namespaces cost one
// deadline, a vanished namespace is netns-gone, and after 10,000 probes every
// thread is home with no fd leaked.
import t from 'tap';
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { engineStats, hostNetnsInode, MAX_WATCH_MS, NetnsHandle, watchLinks } from '../../src/netns/binding.js';
import { parseInterfaceDump } from '../../src/diagnose/netlink.js';
import { probe } from '../../src/probe/probe.js';
import { requireRoot } from '../support/root.js';
import { blockPortRuleset, createNetns, createTopology, deleteNetns, inNetns, nft, randomPrefix, netnsPath } from '../support/netns.js';
import { spawnResponder } from '../support/responder-process.js';
import { startDnsmasq } from '../support/dnsmasq.js';
import { which } from '../support/run.js';

const NAME = 'kubernetes.default.svc.cluster.local';
const WHY = 'creates network namespaces, veth pairs, a bridge and nftables rules';

function threadNetnsInodes(): number[] {
  return fs.readdirSync('/proc/self/task').map((tid) => {
    try {
      return fs.statSync(`/proc/self/task/${tid}/ns/net`).ino;
    } catch {
      return -1; // the thread exited while we looked
    }
  });
}

const fdCount = () => fs.readdirSync('/proc/self/fd').length;

t.test('a server reachable only inside one netns answers a probe aimed into it, not one from the host', async (t) => {
  if (!requireRoot(t, WHY)) return;
  const name = `${randomPrefix('che')}-only`;
  await createNetns(name);
  t.teardown(() => deleteNetns(name));
  await inNetns(name, which('ip'), ['link', 'set', 'lo', 'up']);
  const port = 20000 + Math.floor(Math.random() * 20000);
  await spawnResponder({ netns: name, listen: '127.0.0.1', port, addresses: ['10.96.0.1'], t });

  const inside = await probe({ netns: netnsPath(name), server: '127.0.0.1', port, name: NAME, timeoutMs: 2000, expectAnswers: ['10.96.0.1'] });
  t.equal(inside.reason, 'ok', `inside: ${inside.detail ?? ''}`);
  t.same(inside.answers, ['10.96.0.1']);
  const tcp = await probe({ netns: netnsPath(name), server: '127.0.0.1', port, transport: 'tcp', name: NAME, timeoutMs: 2000 });
  t.equal(tcp.reason, 'ok', 'TCP inside too');

  const fromHost = await probe({ server: '127.0.0.1', port, name: NAME, timeoutMs: 500, expectAnswers: ['10.96.0.1'] });
  t.not(fromHost.reason, 'ok', 'the host netns cannot reach that server');
  t.equal(engineStats().workerNetnsInode, hostNetnsInode().inode, 'worker is back home');
});

t.test('IPv4 and IPv6 across a bridge; UDP dropped by nftables in one netns while TCP answers', async (t) => {
  if (!requireRoot(t, WHY)) return;
  const topo = await createTopology({ count: 2, prefix: randomPrefix('che'), t });
  const [server, client] = topo.namespaces as [(typeof topo.namespaces)[0], (typeof topo.namespaces)[0]];
  await spawnResponder({ netns: server.name, listen: server.ipv4, port: 53, t });
  await spawnResponder({ netns: server.name, listen: server.ipv6!, port: 53, t });

  for (const addr of [server.ipv4, server.ipv6!]) {
    for (const transport of ['udp', 'tcp'] as const) {
      const r = await probe({ netns: client.path, server: addr, transport, name: NAME, timeoutMs: 2000 });
      t.equal(r.reason, 'ok', `${transport} to ${addr}: ${r.detail ?? ''}`);
    }
  }

  await nft(client.name, blockPortRuleset({ table: `${topo.prefix.replace(/-/g, '_')}_udp`, protocol: 'udp' }));
  const udp = await probe({ netns: client.path, server: server.ipv4, name: NAME, timeoutMs: 1000 });
  t.ok(['blocked-locally', 'timeout'].includes(udp.reason), `UDP is ${udp.reason}`);
  t.equal(udp.reason, 'blocked-locally', 'an nftables drop on output surfaces as EPERM on send');
  const tcp = await probe({ netns: client.path, server: server.ipv4, transport: 'tcp', name: NAME, timeoutMs: 2000 });
  t.equal(tcp.reason, 'ok', 'TCP still answers');
});

t.test('50 blackholed and 50 healthy namespaces probed together take about one timeout', async (t) => {
  if (!requireRoot(t, WHY)) return;
  const topo = await createTopology({ count: 100, prefix: randomPrefix('che'), ipv6: false, t });
  const dns = await startDnsmasq({ listen: topo.bridge.ipv4, port: 53, t });
  t.ok(dns.pid > 0);
  const blackholed = topo.namespaces.slice(0, 50);
  // Replies never come back: drop everything arriving from the server.
  await Promise.all(
    blackholed.map((n) =>
      nft(
        n.name,
        `table inet ${topo.prefix.replace(/-/g, '_')}_bh {\n chain input {\n  type filter hook input priority 0; policy accept;\n  ip saddr ${topo.bridge.ipv4} drop\n }\n}\n`,
      ),
    ),
  );
  const timeoutMs = 1000;
  const t0 = process.hrtime.bigint();
  const results = await Promise.all(
    topo.namespaces.map((n) => probe({ netns: n.path, server: topo.bridge.ipv4, name: NAME, timeoutMs, expectAnswers: ['10.96.0.1'] })),
  );
  const elapsedMs = Number(process.hrtime.bigint() - t0) / 1e6;
  t.same(
    results.slice(50).map((r) => r.reason),
    Array(50).fill('ok'),
    'every healthy namespace answers',
  );
  t.same(
    results.slice(0, 50).map((r) => r.reason),
    Array(50).fill('timeout'),
    'every blackholed namespace times out',
  );
  t.ok(Math.max(...results.slice(50).map((r) => r.rttSeconds!)) < timeoutMs / 1000, 'healthy answers are not held up by the blackholed ones');
  // Fifty serial deadlines would be 50 s; concurrent ones are about one.
  t.ok(elapsedMs < timeoutMs * 5, `batch took ${elapsedMs.toFixed(0)} ms with a ${timeoutMs} ms timeout`);
  t.comment(`100 namespaces (50 blackholed): ${elapsedMs.toFixed(0)} ms`);
});

t.test('a netns whose last process exited between lookup and probe gives netns-gone', async (t) => {
  if (!requireRoot(t, WHY)) return;
  // A namespace held only by its process (no /run/netns bind mount).
  const child = spawn(which('unshare'), ['--net', 'sleep', '60'], { stdio: 'ignore' });
  t.teardown(() => child.kill('SIGKILL'));
  const nsPath = `/proc/${child.pid}/ns/net`;
  for (let i = 0; i < 100 && fs.statSync(nsPath).ino === hostNetnsInode().inode; i++) await new Promise((r) => setTimeout(r, 20));
  t.not(fs.statSync(nsPath).ino, hostNetnsInode().inode, 'the child is in its own netns');
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
  const r = await probe({ netns: nsPath, server: '127.0.0.1', name: NAME, timeoutMs: 500 });
  t.equal(r.ok, false);
  t.equal(r.reason, 'netns-gone', r.detail ?? '');
});

t.test('a handle held open keeps probing the same namespace, never another', async (t) => {
  if (!requireRoot(t, WHY)) return;
  const name = `${randomPrefix('che')}-held`;
  await createNetns(name);
  t.teardown(() => deleteNetns(name));
  const h = NetnsHandle.open(netnsPath(name));
  t.teardown(() => h.close());
  await deleteNetns(name); // the name is gone; the namespace lives on through the fd
  // Only loopback (down) exists in there: the probe must fail as unreachable,
  // not reach anything in the host namespace.
  const r = await probe({ netns: h, server: '127.0.0.1', name: NAME, timeoutMs: 500 });
  t.equal(r.ok, false);
  t.ok(['unreachable', 'timeout', 'refused'].includes(r.reason), `reason ${r.reason}`);
});

t.test('after 10,000 probes every thread is in the host netns and no fd leaked', async (t) => {
  if (!requireRoot(t, WHY)) return;
  const topo = await createTopology({ count: 20, prefix: randomPrefix('che'), ipv6: false, t });
  await startDnsmasq({ listen: topo.bridge.ipv4, port: 53, t });
  // dnsmasq's UDP socket buffer holds about 250 small datagrams, and it stops
  // reading while it forks for TCP: batches of 250 UDP, TCP apart, so that
  // this tests the engine rather than dnsmasq's capacity.
  const home = hostNetnsInode().inode;
  const failures = new Map<string, number>();
  const run = async (n: number, transport: 'udp' | 'tcp') => {
    const handles = topo.namespaces.map((ns) => NetnsHandle.open(ns.path));
    try {
      const results = await Promise.all(
        Array.from({ length: n }, (_, i) => probe({ netns: handles[i % handles.length]!, server: topo.bridge.ipv4, transport, name: NAME, timeoutMs: 3000 })),
      );
      for (const r of results) if (!r.ok) failures.set(`${r.transport}:${r.reason}`, (failures.get(`${r.transport}:${r.reason}`) ?? 0) + 1);
      return results.filter((r) => r.ok).length;
    } finally {
      handles.forEach((h) => h.close());
    }
  };
  t.equal(await run(100, 'udp'), 100, 'warm-up: all ok');
  const fdsBefore = fdCount();
  let ok = 0;
  for (let i = 0; i < 38; i++) ok += await run(250, 'udp');
  for (let i = 0; i < 25; i++) ok += await run(20, 'tcp');
  t.equal(ok, 10_000, `10,000 probes answered (failures: ${JSON.stringify([...failures])})`);
  t.same([...new Set(threadNetnsInodes())], [home], 'every thread of the process is in the host netns');
  t.equal(fdCount(), fdsBefore, 'the fd count is unchanged');
  const s = engineStats();
  t.equal(s.inFlight, 0);
  t.equal(s.workerNetnsInode, home);
  t.equal(s.fatalErrno, 0);
});

t.test('a link watch inside a namespace: the change, nothing when quiet, refused beyond its limit', async (t) => {
  if (!requireRoot(t, WHY)) return;
  const name = `${randomPrefix('chw')}-w`;
  await createNetns(name);
  t.teardown(() => deleteNetns(name));
  const h = NetnsHandle.open(netnsPath(name));
  t.teardown(() => h.close());
  // A watch does not keep the process alive (the test below): something else must while the test waits on one.
  const alive = setInterval(() => undefined, 1000);
  t.teardown(() => clearInterval(alive));
  t.equal(await watchLinks(h, 200), null, 'nothing changed in 200 ms');
  const watching = watchLinks(h, 5000);
  await new Promise((r) => setTimeout(r, 100));
  await inNetns(name, which('ip'), ['link', 'add', 'zz0', 'type', 'veth', 'peer', 'name', 'zz1']);
  const messages = await watching;
  t.ok(messages !== null && messages.length > 0, 'the change arrives');
  const names = parseInterfaceDump(messages!).interfaces.map((i) => i.name);
  t.ok(
    names.some((n) => n === 'zz0' || n === 'zz1'),
    `the new link is named: ${names.join(', ')}`,
  );
  const upDown = watchLinks(h, 5000);
  await new Promise((r) => setTimeout(r, 100));
  await inNetns(name, which('ip'), ['link', 'set', 'zz0', 'up']);
  t.ok((await upDown) !== null, 'an up/down inside it is a change too');
  await t.rejects(watchLinks(h, MAX_WATCH_MS + 1), /timeoutMs: expected milliseconds from 1 to 120000/);
});

t.test('a link watch in flight does not keep the process alive; a probe in flight does', async (t) => {
  if (!requireRoot(t, WHY)) return;
  const binding = new URL('../../src/netns/binding.js', import.meta.url).href;
  const exits = async (script: string): Promise<number> => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--input-type=module', '-e', `import * as b from ${JSON.stringify(binding)};\n${script}`], { stdio: 'ignore' });
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    t.equal(code, 0);
    return Date.now() - started;
  };
  // A 30 s watch: the process ends with its script, long before the watch would.
  const watchMs = await exits("void b.watchLinks('host', 30000).catch(() => {});");
  t.ok(watchMs < 20_000, `exited after ${watchMs} ms, not at the watch's end`);
  // A probe to a loopback port that never answers (its socket unref'd, so only the probe can hold the
  // process), 2 s timeout: the process waits for its result.
  const probeMs = await exits(
    [
      "const { createSocket } = await import('node:dgram');",
      "const s = createSocket('udp4'); await new Promise((r) => s.bind(0, '127.0.0.1', r)); s.unref();",
      "await b.exchange({ netns: 'host', server: '127.0.0.1', port: s.address().port, transport: 'udp', payload: new Uint8Array(12), timeoutMs: 2000 }).catch(() => {});",
    ].join('\n'),
  );
  t.ok(probeMs >= 1900, `a probe is waited for (${probeMs} ms)`);
});
