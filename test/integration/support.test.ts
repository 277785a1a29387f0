// Proves the test support layer: command helpers, the root gate, prefix arithmetic, the
// fault-injecting responder (in-process on loopback, and as a process inside a netns), dnsmasq,
// nftables, and that a topology of namespaces + bridge works and leaves nothing behind.
import t from 'tap';
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import packet from 'dns-packet';
import { dig, type DigResult } from '../support/dig.js';
import { startDnsmasq } from '../support/dnsmasq.js';
import { formatIp, host, overlaps, parseCidr, parseIp } from '../support/ip-range.js';
import {
  blockPortRuleset,
  createNetns,
  createTopology,
  deleteNetns,
  inNetns,
  listLinks,
  listNetns,
  missingConfig,
  netnsPath,
  nft,
  randomPrefix,
  removeByPrefix,
  removeStaleTopologies,
  type Topology,
} from '../support/netns.js';
import { spawnResponder, type SpawnedResponder } from '../support/responder-process.js';
import { HOSTILE_NAME, RESPONDER_MODES, parseResponderArgs, replyFor, resolveOptions, startResponder, type ResponderMode } from '../support/responder.js';
import { decideRoot, isCI, requireRoot } from '../support/root.js';
import { CommandError, mapLimit, run, sh, tryRun, which } from '../support/run.js';
import { spawnService } from '../support/service.js';

const K8S = 'kubernetes.default.svc.cluster.local';
const WHY = 'creates network namespaces, veth pairs and a bridge';

// ---------- no root needed ----------

t.test('root gate: run as root, skip as a user, fail as a user under CI', async (t) => {
  t.same(decideRoot(true, true, 'x'), { action: 'run' });
  t.same(decideRoot(true, false, 'x'), { action: 'run' });
  t.same(decideRoot(false, false, 'makes netns'), { action: 'skip', message: 'needs root: makes netns' });
  const ci = decideRoot(false, true, 'makes netns');
  t.equal(ci.action, 'fail');
  t.match(ci, { message: /needs root: makes netns.*CI/ });
  t.throws(() => decideRoot(false, false, ' '), /why/);
  t.equal(isCI({ CI: 'true' }), true);
  t.equal(isCI({ CI: '1' }), true);
  t.equal(isCI({ CI: '' }), false);
  t.equal(isCI({ CI: 'false' }), false);
  t.equal(isCI({}), false);
  // requireRoot itself, against a recording stand-in for the tap Test.
  const calls: string[] = [];
  const gate = { plan: (n: number, c?: string) => void calls.push(`plan ${n} ${c}`), fail: (m: string) => calls.push(`fail ${m}`) };
  const ran = requireRoot(gate, 'reads /proc');
  t.equal(ran, process.getuid?.() === 0);
  if (ran) t.same(calls, []);
  else t.match(calls[0], isCI() ? /^fail needs root: reads \/proc/ : /^plan 0 needs root: reads \/proc/);
});

t.test('run, sh, tryRun, mapLimit, which', async (t) => {
  const node = process.execPath;
  t.equal(await sh(node, ['-e', 'process.stdin.pipe(process.stdout)'], { input: ' hello \n' }), 'hello');
  const failing = ['-e', 'process.stderr.write("boom on stderr"); process.exit(3)'];
  const err = await run(node, failing).catch((e: unknown) => e);
  t.type(err, CommandError);
  t.match((err as Error).message, /exited with code 3: boom on stderr/);
  t.match(await tryRun(node, failing), { code: 3, stderr: 'boom on stderr' });
  t.match(await tryRun(node, ['-e', 'setTimeout(() => {}, 10000)'], { timeoutMs: 100 }), { code: null, signal: 'SIGKILL' });
  await t.rejects(run('/nonexistent/chs-binary', []), /cannot run/);

  let inFlight = 0;
  let peak = 0;
  const out = await mapLimit([5, 1, 4, 2, 3], 2, async (v, i) => {
    peak = Math.max(peak, ++inFlight);
    await new Promise((r) => setTimeout(r, v * 5));
    inFlight--;
    return `${i}:${v}`;
  });
  t.same(out, ['0:5', '1:1', '2:4', '3:2', '4:3'], 'results keep input order');
  t.equal(peak, 2, 'never more than the limit in flight');
  await t.rejects(
    mapLimit([], 0, async () => 0),
    /limit/,
  );

  t.match(which('ip'), /\/ip$/);
  t.throws(() => which('chs-no-such-tool', 'chs-pkg'), /chs-no-such-tool: command not found.*install the Debian package chs-pkg/);
  t.throws(() => which('dnsmasq-chs-missing'), /install it/);
  t.throws(() => which('../ip'), /bare command name/);
});

t.test('ip-range arithmetic', async (t) => {
  t.equal(formatIp(6, parseIp('fd00:10:200::fb').value), 'fd00:10:200::fb');
  t.equal(formatIp(6, parseIp('fd00:0:0:1:0:0:0:1').value), 'fd00:0:0:1::1', 'first longest zero run compressed');
  t.equal(formatIp(6, parseIp('1:0:2:3:4:5:6:7').value), '1:0:2:3:4:5:6:7', 'a single zero group stays');
  t.equal(formatIp(6, parseIp('::ffff:10.1.2.3').value), '::ffff:a01:203');
  t.equal(host(parseCidr('10.213.0.0/16'), 258), '10.213.1.2');
  t.equal(host(parseCidr('fd00:10:213::/64'), 251), 'fd00:10:213::fb');
  t.throws(() => host(parseCidr('10.0.0.0/30'), 4), /outside/);
  t.ok(overlaps(parseCidr('10.0.0.0/8'), parseCidr('10.213.4.0/24')));
  t.notOk(overlaps(parseCidr('10.212.0.0/16'), parseCidr('10.213.0.0/16')));
  t.notOk(overlaps(parseCidr('fd00::/64'), parseCidr('fd00:10:213::/64')), 'the host fd00::/64 does not cover the test ULA');
  t.notOk(overlaps(parseCidr('10.0.0.0/8'), parseCidr('fd00::/8')), 'families never overlap');
  t.same(parseCidr('10.213.7.9/16'), { family: 4, base: parseIp('10.213.0.0').value, prefixLength: 16 });
  t.throws(() => parseCidr('10.0.0.0/33', 'subnet4'), /subnet4: bad prefix length/);
  t.throws(() => parseCidr('nope/8', 'subnet4'), /subnet4: not an IP prefix/);
});

t.test('topology and nft helpers reject bad input, naming the field', async (t) => {
  await t.rejects(createTopology({ count: 0 }), /count/);
  await t.rejects(createTopology({ count: 1, prefix: 'Bad_Prefix' }), /prefix/);
  await t.rejects(createTopology({ count: 1, prefix: 'chs-waytoolong' }), /prefix/);
  await t.rejects(
    createTopology({ count: 1, prefix: randomPrefix('chs'), ipv6: false, subnet4: '192.168.0.0/16' }),
    /subnet4: .* not inside 10\.0\.0\.0\/8 or 172\.16\.0\.0\/12/,
  );
  await t.rejects(createTopology({ count: 300, prefix: randomPrefix('chs'), ipv6: false, subnet4: '10.213.0.0/24' }), /subnet4: .*room for 253/);
  await t.rejects(createTopology({ count: 1, prefix: randomPrefix('chs'), subnet4: '10.213.0.0/24', subnet6: '2001:db8::/64' }), /subnet6: .*fd00::\/8/);
  t.throws(() => netnsPath('../etc'), /netns name/);
  t.throws(() => blockPortRuleset({ table: 'bad-name', protocol: 'udp' }), /table/);
  t.throws(() => blockPortRuleset({ table: 'chs_t', protocol: 'icmp' as 'udp' }), /protocol/);
  t.throws(() => blockPortRuleset({ table: 'chs_t', protocol: 'udp', port: 0 }), /port/);
  t.match(blockPortRuleset({ table: 'chs_t', protocol: 'tcp', verdict: 'reject' }), /tcp dport 53 reject with tcp reset/);
  t.match(randomPrefix(), /^chd[0-9a-f]{4}$/);
  const links = [{ ifname: 'eth0', flags: ['UP'], addr_info: [{ family: 'inet6', local: 'fd00::2', prefixlen: 64, tentative: true }] }];
  t.same(
    missingConfig(
      links,
      'eth0',
      [
        { local: 'fd00::2', prefixlen: 64 },
        { local: '10.0.0.2', prefixlen: 16 },
      ],
      true,
    ),
    ['eth0 has no carrier', 'eth0 address fd00::2 is tentative', 'eth0 lacks 10.0.0.2/16'],
  );
});

// ---------- the responder in-process, on loopback ----------

const query = (name = K8S, type: 'A' | 'AAAA' = 'A', id = 4242): Buffer =>
  packet.encode({ type: 'query', id, flags: packet.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }] });

function udpExchange(port: number, msg: Buffer, waitMs = 1000): Promise<Buffer | Error | null> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    const done = (v: Buffer | Error | null): void => {
      clearTimeout(timer);
      s.close();
      resolve(v);
    };
    const timer = setTimeout(() => done(null), waitMs);
    s.on('message', (m) => done(m));
    s.on('error', (e) => done(e));
    s.connect(port, '127.0.0.1', () => s.send(msg));
  });
}

/** Sends the queries over one TCP connection (all in one write, split mid-frame) and collects `want` frames. */
function tcpExchange(port: number, msgs: Buffer[], want = msgs.length, waitMs = 2000): Promise<Buffer[] | Error> {
  return new Promise((resolve) => {
    const frames: Buffer[] = [];
    let pending = Buffer.alloc(0);
    const sock = net.connect(port, '127.0.0.1');
    const done = (v: Buffer[] | Error): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(frames), waitMs);
    sock.on('error', (e) => done(e));
    sock.on('connect', () => {
      const bytes = Buffer.concat(msgs.map((m) => Buffer.concat([Buffer.from([m.length >> 8, m.length & 255]), m])));
      const cut = Math.floor(bytes.length / 2) + 1;
      sock.write(bytes.subarray(0, cut));
      setTimeout(() => sock.write(bytes.subarray(cut)), 20);
    });
    sock.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        frames.push(pending.subarray(2, 2 + pending.readUInt16BE(0)));
        pending = pending.subarray(2 + pending.readUInt16BE(0));
      }
      if (frames.length >= want) done(frames);
    });
  });
}

// dns-packet decodes rcode, its types omit it.
type Reply = packet.DecodedPacket & { rcode: string };
const decoded = (b: Buffer | Error | null | undefined): Reply => {
  if (!(b instanceof Buffer)) throw new Error(`expected a reply, got ${String(b)}`);
  return packet.decode(b) as Reply;
};
const addressesOf = (p: packet.DecodedPacket): string[] => (p.answers ?? []).map((a) => String((a as { data: unknown }).data));

t.test('responder in-process on loopback', async (t) => {
  const start = async (opts: Parameters<typeof startResponder>[0]) => {
    const r = await startResponder(opts);
    t.teardown(() => r.close());
    return r;
  };

  t.test('answer: A and AAAA over UDP; several queries on one TCP connection', async (t) => {
    const r = await start({ addresses: ['10.96.0.1', '10.96.0.2', 'fd00:96::1'] });
    t.match(r, { address: '127.0.0.1', mode: 'answer', udp: true, tcp: true });
    t.ok(r.port > 0);
    const a = decoded(await udpExchange(r.port, query()));
    t.match(a, { id: 4242, type: 'response', rcode: 'NOERROR', flag_aa: true, flag_rd: true, flag_tc: false });
    t.same(addressesOf(a).sort(), ['10.96.0.1', '10.96.0.2']);
    t.same(addressesOf(decoded(await udpExchange(r.port, query(K8S, 'AAAA')))), ['fd00:96::1']);
    t.equal(decoded(await udpExchange(r.port, query('other.example', 'A'))).rcode, 'NXDOMAIN', 'other names: NXDOMAIN');
    const frames = await tcpExchange(r.port, [query(K8S, 'A', 1), query(K8S, 'AAAA', 2), query('KUBERNETES.default.svc.cluster.local.', 'A', 3)]);
    t.ok(Array.isArray(frames), 'TCP frames received');
    const replies = (frames as Buffer[]).map((f) => decoded(f));
    t.same(replies.map((p) => p.id).sort(), [1, 2, 3]);
    t.same(addressesOf(replies.find((p) => p.id === 3)!).sort(), ['10.96.0.1', '10.96.0.2'], 'name match is case-insensitive');
    t.match(r.stats, { udp: 3, tcp: 3, malformed: 0, replies: 6 });
    t.equal(await udpExchange(r.port, Buffer.from('not dns'), 200), null, 'malformed query: no reply');
    t.equal(r.stats.malformed, 1);
  });

  t.test('servfail, nxdomain, wrong-answer, wrong-id', async (t) => {
    const [sf, nx, wa, wi] = await Promise.all(['servfail', 'nxdomain', 'wrong-answer', 'wrong-id'].map((mode) => start({ mode: mode as ResponderMode })));
    t.match(decoded(await udpExchange(sf!.port, query())), { rcode: 'SERVFAIL', answers: [] });
    t.match(decoded(await udpExchange(nx!.port, query())), { rcode: 'NXDOMAIN', answers: [] });
    t.same(addressesOf(decoded(await udpExchange(wa!.port, query()))), ['10.96.0.254']);
    t.same(addressesOf(decoded(await udpExchange(wa!.port, query(K8S, 'AAAA')))), ['fd00:96::fe']);
    const w = decoded(await udpExchange(wi!.port, query(K8S, 'A', 0xffff)));
    t.equal(w.id, 0, 'ID + 1, wrapping');
    t.same(addressesOf(w), ['10.96.0.1']);
    t.equal(decoded(((await tcpExchange(wi!.port, [query(K8S, 'A', 7)])) as Buffer[])[0]).id, 8);
  });

  t.test('truncate: TC and no answers over UDP, the full answer over TCP', async (t) => {
    const r = await start({ mode: 'truncate' });
    const u = decoded(await udpExchange(r.port, query()));
    t.match(u, { flag_tc: true, rcode: 'NOERROR', answers: [] });
    t.equal(u.questions?.[0]?.name, K8S, 'question echoed');
    const [tcp] = (await tcpExchange(r.port, [query()])) as Buffer[];
    t.match(decoded(tcp), { flag_tc: false });
    t.same(addressesOf(decoded(tcp)), ['10.96.0.1']);
  });

  t.test('garbage never decodes as the reply to the query', async (t) => {
    const r = await start({ mode: 'garbage' });
    for (let i = 0; i < 50; i++) {
      const reply = await udpExchange(r.port, query(K8S, 'A', i));
      t.ok(reply instanceof Buffer && reply.length >= 5);
      if (reply instanceof Buffer) t.not(reply.readUInt16BE(0), i, 'never carries the query ID');
    }
    const frames = (await tcpExchange(r.port, [query(K8S, 'A', 9), query(K8S, 'A', 10)])) as Buffer[];
    t.equal(frames.length, 2, 'garbage is still length-framed over TCP');
  });

  t.test('delay and drop', async (t) => {
    const d = await start({ mode: 'delay', delayMs: 300 });
    const t0 = performance.now();
    t.same(addressesOf(decoded(await udpExchange(d.port, query()))), ['10.96.0.1']);
    t.ok(performance.now() - t0 >= 290, 'answered after the delay');
    t.equal(resolveOptions({ mode: 'delay' }).delayMs, 1000, 'mode delay defaults to 1 s');
    const dr = await start({ mode: 'drop' });
    t.equal(await udpExchange(dr.port, query(), 400), null, 'UDP: no reply');
    t.same(await tcpExchange(dr.port, [query()], 1, 400), [], 'TCP: connection open, no reply');
    t.match(dr.stats, { udp: 1, tcp: 1, replies: 0 });
  });

  t.test('udp-only and tcp-only refuse the other transport', async (t) => {
    const u = await start({ mode: 'udp-only' });
    t.match(u, { udp: true, tcp: false });
    t.same(addressesOf(decoded(await udpExchange(u.port, query()))), ['10.96.0.1']);
    t.match(await tcpExchange(u.port, [query()]), { code: 'ECONNREFUSED' });
    const c = await start({ mode: 'tcp-only' });
    t.match(c, { udp: false, tcp: true });
    t.same(addressesOf(decoded(((await tcpExchange(c.port, [query()])) as Buffer[])[0])), ['10.96.0.1']);
    t.match(await udpExchange(c.port, query()), { code: 'ECONNREFUSED' }, 'ICMP port unreachable');
  });

  t.test('close is idempotent, drops connections and frees the port', async (t) => {
    const r = await startResponder({ mode: 'drop' });
    const sock = net.connect(r.port, '127.0.0.1');
    await new Promise((res) => sock.once('connect', res));
    const closedByServer = new Promise((res) => sock.once('close', res));
    await Promise.all([r.close(), r.close()]);
    await closedByServer;
    const again = await startResponder({ port: r.port });
    t.equal(again.port, r.port, 'same port can be bound again');
    await again.close();
  });

  t.test('options are validated, errors name the field', async (t) => {
    t.throws(() => resolveOptions({ mode: 'flaky' as ResponderMode }), /responder: mode: unknown mode "flaky"/);
    t.throws(() => resolveOptions({ listen: 'localhost' }), /responder: listen: not an IP/);
    t.throws(() => resolveOptions({ port: 70000 }), /responder: port: /);
    t.throws(() => resolveOptions({ addresses: ['10.96.0.300'] }), /responder: addresses: not an IP/);
    t.throws(() => resolveOptions({ delayMs: -1 }), /responder: delayMs/);
    t.throws(() => resolveOptions({ bogus: 1 } as never), /responder: bogus: unknown option/);
    t.match(
      parseResponderArgs([
        '--listen',
        '::1',
        '--port',
        '53',
        '--mode',
        'truncate',
        '--address',
        '10.0.0.1',
        '--address',
        'fd00::1',
        '--delay-ms',
        '5',
        '--log-queries',
      ]),
      {
        listen: '::1',
        port: 53,
        mode: 'truncate',
        addresses: ['10.0.0.1', 'fd00::1'],
        delayMs: 5,
        logQueries: true,
      },
    );
    t.throws(() => parseResponderArgs(['--port', '5x']), /--port/);
    t.throws(() => parseResponderArgs(['--nope']), /nope/);
    t.equal(RESPONDER_MODES.length, 13);
    // hostile-question / hostile-answer: names with control characters, for the hostile-containers tests.
    const query = packet.decode(packet.encode({ type: 'query', id: 7, questions: [{ name: 'kubernetes.default.svc.cluster.local', type: 'A', class: 'IN' }] }));
    const hq = packet.decode(replyFor(resolveOptions({ mode: 'hostile-question' }), query, 'udp')!);
    t.same([hq.id, hq.questions?.[0]?.name], [7, HOSTILE_NAME], 'hostile-question: the query ID, HOSTILE_NAME as the question');
    const ha = packet.decode(replyFor(resolveOptions({ mode: 'hostile-answer' }), query, 'udp')!);
    t.same(
      ha.answers?.map((a) => [a.name, a.type, (a as { data?: unknown }).data]),
      [
        ['kubernetes.default.svc.cluster.local', 'CNAME', HOSTILE_NAME],
        [HOSTILE_NAME, 'A', '10.96.0.1'],
      ],
      'hostile-answer: a CNAME to HOSTILE_NAME and an A record under it',
    );
    // eslint-disable-next-line no-control-regex -- the hostile name carries a raw ESC on purpose
    t.match(HOSTILE_NAME, /\x1b.*\n/s);
  });
});

// ---------- real namespaces (root) ----------

async function leftovers(prefix: string): Promise<string[]> {
  const own = (n: string): boolean => n.startsWith(`${prefix}-`);
  return [...(await listNetns()).filter(own), ...(await listLinks()).filter(own)];
}

t.test('more namespaces than a bridge takes: more bridges joined to the first, one segment, one subnet', async (t) => {
  if (!requireRoot(t, WHY)) return;
  const prefix = randomPrefix('chs');
  // 5 namespaces over bridges of 2 ports stand for 2,000 over bridges of 1,000.
  const topo = await createTopology({ count: 5, prefix, ipv6: false, portsPerBridge: 2, staticNeighbors: true, t });
  const master = async (n: Topology['namespaces'][number]): Promise<string | undefined> =>
    (JSON.parse(await sh(which('ip'), ['-j', 'link', 'show', 'dev', n.hostVeth])) as Array<{ master?: string }>)[0]!.master;
  t.same(await Promise.all(topo.namespaces.map(master)), [`${prefix}-br`, `${prefix}-br`, `${prefix}-br1`, `${prefix}-br1`, `${prefix}-br2`]);
  const r = await spawnResponder({ netns: topo.namespaces[0]!.name, listen: topo.namespaces[0]!.ipv4, port: 53, t });
  for (const n of topo.namespaces.slice(1)) {
    t.match(await dig({ netns: n.name, server: topo.namespaces[0]!.ipv4 }), { status: 'NOERROR' }, `${n.name} reaches the first bridge's namespace`);
  }
  await r.stop();
  await t.rejects(createTopology({ count: 2, prefix: randomPrefix('chs'), portsPerBridge: 0 }), /portsPerBridge/);
  await t.rejects(createTopology({ count: 2000, prefix: 'chswaylong' }), /prefix: .*no room for 2000 interface names/);
  await topo.cleanup();
  t.same(await leftovers(prefix), [], 'the extra bridges and their links are removed too');
});

t.test('topology of 3 namespaces + bridge, with the responder and dnsmasq', async (t) => {
  if (!requireRoot(t, WHY)) return;
  const prefix = randomPrefix('chs');
  const topo: Topology = await createTopology({ count: 3, prefix, t });
  const [a, b, c] = topo.namespaces as [Topology['namespaces'][number], Topology['namespaces'][number], Topology['namespaces'][number]];

  t.test('namespaces, bridge, addresses and routes are in place', async (t) => {
    t.same(
      topo.namespaces.map((n) => n.name),
      [`${prefix}-n0`, `${prefix}-n1`, `${prefix}-n2`],
    );
    t.equal(a.path, `/run/netns/${prefix}-n0`);
    t.same((await listNetns()).filter((n) => n.startsWith(`${prefix}-`)).sort(), topo.namespaces.map((n) => n.name).sort());
    const ports = JSON.parse(await sh(which('ip'), ['-j', 'link', 'show', 'master', topo.bridge.name])) as Array<{ ifname: string }>;
    t.same(ports.map((p) => p.ifname).sort(), topo.namespaces.map((n) => n.hostVeth).sort(), 'every host veth is a bridge port');
    t.equal(topo.bridge.ipv4, host(parseCidr(topo.subnet4), 1));
    const inside = await inNetns(b.name, which('ip'), ['-j', 'addr', 'show', 'dev', 'eth0']);
    const locals = (JSON.parse(inside.stdout) as Array<{ addr_info: Array<{ local: string }> }>)[0]!.addr_info.map((x) => x.local);
    t.ok(locals.includes(b.ipv4) && locals.includes(b.ipv6!), `eth0 in ${b.name} has ${b.ipv4} and ${b.ipv6}`);
    t.match(await sh(which('ip'), ['-n', b.name, 'route', 'show', 'default']), `default via ${topo.bridge.ipv4}`);
    t.match(await sh(which('ip'), ['-n', b.name, '-6', 'route', 'show', 'default']), `default via ${topo.bridge.ipv6}`);
  });

  t.test('dig from one namespace reaches a responder in another (IPv4 and IPv6, UDP and TCP)', async (t) => {
    const r4 = await spawnResponder({ netns: a.name, listen: a.ipv4, port: 53, logQueries: true, t });
    await spawnResponder({ netns: a.name, listen: a.ipv6!, port: 53, addresses: ['10.96.0.1', 'fd00:96::1'], t });
    t.match(r4, { address: a.ipv4, port: 53, mode: 'answer', netns: a.name });
    for (const tcp of [false, true]) {
      const d = await dig({ netns: b.name, server: a.ipv4, tcp });
      t.match(d, { exitCode: 0, status: 'NOERROR', answers: ['10.96.0.1'], transport: tcp ? 'TCP' : 'UDP' });
      t.same((await dig({ netns: c.name, server: a.ipv6!, type: 'AAAA', tcp })).answers, ['fd00:96::1']);
    }
    t.ok(
      r4.queries.some((q) => q.from.startsWith(`${b.ipv4}:`) && q.transport === 'udp') && r4.queries.some((q) => q.transport === 'tcp'),
      'the responder saw the queries from the other namespace',
    );
    await r4.stop();
    const gone = await dig({ netns: b.name, server: a.ipv4 });
    t.equal(gone.exitCode, 9, 'after stop() nothing answers');
  });

  t.test('a responder on 127.0.0.1 inside a namespace', async (t) => {
    const r = await spawnResponder({ netns: c.name, port: 5353, t });
    t.match(await dig({ netns: c.name, server: '127.0.0.1', port: 5353 }), { status: 'NOERROR', answers: ['10.96.0.1'] });
    t.equal((await dig({ netns: b.name, server: '127.0.0.1', port: 5353 })).exitCode, 9, 'not reachable from another namespace');
    t.equal(r.netns, c.name);
  });

  t.test('every responder mode over UDP and TCP, seen by dig from another namespace', async (t) => {
    const base = 5400;
    const responders = new Map<ResponderMode, SpawnedResponder>(
      await Promise.all(
        RESPONDER_MODES.map(async (mode, i): Promise<[ResponderMode, SpawnedResponder]> => [
          mode,
          await spawnResponder({ netns: a.name, listen: a.ipv4, port: base + i, mode, delayMs: mode === 'delay' ? 300 : undefined, logQueries: true, t }),
        ]),
      ),
    );
    type Case = { mode: ResponderMode; tcp: boolean; ignoreTruncation?: boolean };
    const cases: Case[] = RESPONDER_MODES.flatMap((mode) => [
      { mode, tcp: false },
      { mode, tcp: true },
    ]);
    cases.push({ mode: 'truncate', tcp: false, ignoreTruncation: true });
    const results = await mapLimit(cases, 6, async (k) => {
      const t0 = performance.now();
      const d = await dig({ netns: b.name, server: a.ipv4, port: responders.get(k.mode)!.port, tcp: k.tcp, ignoreTruncation: k.ignoreTruncation });
      return { ...k, d, ms: performance.now() - t0 };
    });
    const get = (mode: ResponderMode, tcp: boolean, ignoreTruncation?: boolean): DigResult & { ms: number } => {
      const r = results.find((x) => x.mode === mode && x.tcp === tcp && x.ignoreTruncation === ignoreTruncation)!;
      return { ...r.d, ms: r.ms };
    };
    const ok = { exitCode: 0, status: 'NOERROR', answers: ['10.96.0.1'] };
    for (const tcp of [false, true]) {
      const via = tcp ? 'TCP' : 'UDP';
      t.match(get('answer', tcp), { ...ok, transport: via }, `answer ${via}`);
      t.match(get('delay', tcp), ok, `delay ${via}`);
      t.ok(get('delay', tcp).ms >= 290, `delay ${via} took the delay`);
      t.match(get('drop', tcp), { exitCode: 9, status: undefined, output: /timed out/ }, `drop ${via}`);
      t.match(get('servfail', tcp), { exitCode: 0, status: 'SERVFAIL', answers: [] }, `servfail ${via}`);
      t.match(get('nxdomain', tcp), { exitCode: 0, status: 'NXDOMAIN', answers: [] }, `nxdomain ${via}`);
      t.match(get('wrong-answer', tcp), { exitCode: 0, status: 'NOERROR', answers: ['10.96.0.254'] }, `wrong-answer ${via}`);
      t.match(get('garbage', tcp), { status: undefined, answers: [] }, `garbage ${via}`);
      const wid = get('wrong-id', tcp);
      const m = /ID mismatch: expected ID (\d+), got (\d+)/.exec(wid.output);
      t.ok(m && Number(m[2]) === (Number(m[1]) + 1) % 65536, `wrong-id ${via}: reply carries ID + 1`);
      t.equal(wid.status, undefined);
    }
    t.match(get('udp-only', false), { ...ok, transport: 'UDP' });
    t.match(get('udp-only', true), { exitCode: 9, output: /connection refused/ }, 'udp-only refuses TCP');
    t.match(get('tcp-only', false), { exitCode: 9, output: /connection refused/ }, 'tcp-only: UDP port unreachable');
    t.match(get('tcp-only', true), { ...ok, transport: 'TCP' });
    t.match(get('truncate', false, true), { exitCode: 0, status: 'NOERROR', answers: [], transport: 'UDP' }, 'truncate: UDP reply as is');
    t.ok(get('truncate', false, true).flags.includes('tc'), 'truncate: TC set over UDP');
    t.match(get('truncate', false), { ...ok, transport: 'TCP' }, 'truncate: dig falls back to TCP and gets the answer');
    t.match(get('truncate', true), { ...ok, transport: 'TCP' });
    const dropped = responders.get('drop')!.queries;
    t.ok(
      ['udp', 'tcp'].every((tr) => dropped.some((q) => q.transport === tr && q.from.startsWith(`${b.ipv4}:`))),
      'drop mode received the queries it ignored',
    );
  });

  t.test('dnsmasq in a namespace and on the bridge, local data only', async (t) => {
    const inside = await startDnsmasq({ netns: c.name, listen: '127.0.0.1', t });
    t.match(await dig({ netns: c.name, server: '127.0.0.1' }), { status: 'NOERROR', answers: ['10.96.0.1'] });
    t.match(await dig({ netns: c.name, server: '127.0.0.1', name: 'example.com' }), { status: 'REFUSED', answers: [] }, 'never forwards');
    t.equal(inside.netns, c.name);
    const onBridge = await startDnsmasq({ listen: topo.bridge.ipv4, port: 5353, records: { 'svc.test.local': ['10.96.7.7', 'fd00:96::7'] }, t });
    t.match(await dig({ netns: a.name, server: topo.bridge.ipv4, port: 5353, name: 'svc.test.local', tcp: true }), { answers: ['10.96.7.7'] });
    t.match(await dig({ netns: b.name, server: topo.bridge.ipv4, port: 5353, name: 'svc.test.local', type: 'AAAA' }), { answers: ['fd00:96::7'] });
    await onBridge.stop();
    t.equal((await onBridge.service.exited).code, 0, 'dnsmasq exits cleanly on SIGTERM');
    await t.rejects(
      startDnsmasq({ netns: c.name, listen: '127.0.0.1', readyTimeoutMs: 3000 }),
      /dnsmasq \(netns .*\) exited with code 2: .*Address already in use/,
      'a second one on the same port fails clearly, though the first one answers there',
    );
    await t.rejects(
      startDnsmasq({ netns: c.name, listen: a.ipv4, port: 5399, readyTimeoutMs: 3000 }),
      /exited with code 2: .*Cannot assign requested address/,
      'an address the namespace does not have',
    );
    await t.rejects(startDnsmasq({ listen: 'nowhere' }), /listen: not an IP/);
  });

  t.test('nft: UDP to port 53 dropped inside a namespace, TCP still answers', async (t) => {
    await spawnResponder({ netns: a.name, listen: a.ipv4, port: 53, t });
    t.equal((await dig({ netns: c.name, server: a.ipv4 })).status, 'NOERROR', 'UDP works before the rule');
    await nft(c.name, blockPortRuleset({ table: `${prefix.replace(/-/g, '_')}_block`, protocol: 'udp' }));
    t.match(await sh(which('ip'), ['netns', 'exec', c.name, which('nft'), 'list', 'ruleset']), /udp dport 53 drop/);
    const udp = await dig({ netns: c.name, server: a.ipv4 });
    t.not(udp.exitCode, 0, 'UDP query blocked');
    t.equal(udp.status, undefined);
    t.match(await dig({ netns: c.name, server: a.ipv4, tcp: true }), { status: 'NOERROR', answers: ['10.96.0.1'] }, 'TCP still answers');
    t.equal((await dig({ netns: b.name, server: a.ipv4 })).status, 'NOERROR', 'other namespaces are unaffected');
    await t.rejects(nft(c.name, 'table inet x { chain y { nonsense } }'), CommandError);
  });
});

t.test('cleanup leaves nothing behind, is idempotent and sweeps leftovers by prefix', async (t) => {
  if (!requireRoot(t, WHY)) return;
  const prefix = randomPrefix('chs');
  const topo = await createTopology({ count: 3, prefix, ipv6: false, t });
  t.equal(topo.subnet6, undefined);
  t.equal(topo.namespaces[0]!.ipv6, undefined);
  // leftovers: a stray namespace with a process in it, and a stray host link
  const stray = `${prefix}-stray`;
  await createNetns(stray);
  t.equal(await sh(which('ip'), ['-n', stray, '-br', 'link', 'show', 'lo']).then((s) => /UNKNOWN|UP/.test(s)), true, 'createNetns brings lo up');
  await run(which('ip'), ['link', 'add', `${prefix}-x`, 'type', 'veth', 'peer', 'name', `${prefix}-y`]);
  const sleeper = spawnService('sleep', ['600'], { netns: stray });
  t.teardown(() => sleeper.stop());
  await spawnResponder({ netns: topo.namespaces[1]!.name, listen: topo.namespaces[1]!.ipv4, port: 53 });
  t.equal((await leftovers(prefix)).length, 3 + 3 + 1 + 1 + 2, 'namespaces, veths, bridge, stray netns, stray veth pair');

  await Promise.all([topo.cleanup(), topo.cleanup()]);
  t.same(await leftovers(prefix), [], 'no namespace or link with the prefix');
  const exit = await sleeper.exited;
  t.equal(exit.signal, 'SIGTERM', 'processes inside the namespaces were ended');
  await topo.cleanup();
  t.same(await leftovers(prefix), [], 'a second cleanup is a no-op');
  t.notMatch(await sh(which('ip'), ['-o', 'link']), prefix);
  t.notMatch(await sh(which('ip'), ['netns', 'list']), prefix);

  await t.resolves(deleteNetns(`${prefix}-never-existed`), 'deleting a missing netns is fine');
  await t.resolves(removeByPrefix(prefix));
});

t.test('a topology whose builder was killed (SIGKILL, no cleanup) is removed by the next builder', async (t) => {
  if (!requireRoot(t, WHY)) return;
  const prefix = randomPrefix('chk');
  t.teardown(() => removeByPrefix(prefix));
  // A separate process builds a topology and is killed before it can clean up, as a bench stopped with kill -9.
  const script = `import { createTopology } from ${JSON.stringify(new URL('../support/netns.js', import.meta.url).href)};
const topo = await createTopology({ count: 2, prefix: ${JSON.stringify(prefix)}, ipv6: false });
process.stdout.write('built ' + topo.subnet4 + '\\n');
setInterval(() => {}, 1000);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const built = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      if (out.includes('\n')) resolve(out.trim());
    });
    child.once('exit', (code) => reject(new Error(`the builder exited (${code}) before building: ${out}`)));
  });
  t.match(built, /^built 10\.\d+\.0\.0\/16$/);
  t.equal((await leftovers(prefix)).length, 2 + 2 + 1, 'its namespaces, veths and bridge exist');
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  t.equal((await leftovers(prefix)).length, 5, 'nothing cleaned them up');

  t.same(await removeStaleTopologies(), [prefix], 'the dead builder’s prefix is swept');
  t.same(await leftovers(prefix), []);
  t.same(await removeStaleTopologies(), [], 'nothing left to sweep');
  // A live builder's topology is never touched.
  const live = await createTopology({ count: 1, prefix: randomPrefix('chl'), ipv6: false, t });
  t.same(await removeStaleTopologies(), []);
  t.equal((await leftovers(live.prefix)).length, 3);
});
