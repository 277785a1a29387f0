// The binding and the native engine in the host netns, against servers on
// loopback: argument checks, UDP/TCP framing, errors as codes, deadlines,
// cancellation, and that the worker never keeps the process alive.
import t from 'tap';
import dgram from 'node:dgram';
import net from 'node:net';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ArgumentError,
  ExchangeError,
  NetnsHandle,
  cancelAll,
  engineStats,
  exchange,
  getBinding,
  hostNetnsInode,
  statNetnsIds,
} from '../../src/netns/binding.js';
import { REPO } from '../support/paths.js';

const root = REPO;
const payload = Buffer.from('query');

async function udpServer(reply: (msg: Buffer) => Buffer | null, type: 'udp4' | 'udp6' = 'udp4') {
  const s = dgram.createSocket(type);
  s.on('message', (m, r) => {
    const out = reply(m);
    if (out) s.send(out, r.port, r.address);
  });
  await new Promise<void>((res) => s.bind(0, type === 'udp4' ? '127.0.0.1' : '::1', () => res()));
  return { port: s.address().port, close: () => s.close() };
}

async function tcpServer(onConn: (c: net.Socket, body: Buffer) => void) {
  const srv = net.createServer((c) => {
    let buf = Buffer.alloc(0);
    c.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) onConn(c, buf.subarray(2, 2 + buf.readUInt16BE(0)));
    });
    c.on('error', () => {});
  });
  await new Promise<void>((res) => srv.listen(0, '127.0.0.1', () => res()));
  return { port: (srv.address() as net.AddressInfo).port, close: () => srv.close() };
}

const frame = (b: Buffer) => {
  const h = Buffer.alloc(2);
  h.writeUInt16BE(b.length);
  return Buffer.concat([h, b]);
};

t.test('arguments are checked before the native side and name the parameter', async (t) => {
  const base = { server: '127.0.0.1', port: 53, payload, timeoutMs: 100 };
  const cases: [Record<string, unknown>, string][] = [
    [{ server: '300.1.1.1' }, 'server'],
    [{ server: 'localhost' }, 'server'],
    [{ server: 'fe80::1%eth0' }, 'server'],
    [{ port: 0 }, 'port'],
    [{ port: 65536 }, 'port'],
    [{ port: 1.5 }, 'port'],
    [{ timeoutMs: 0 }, 'timeoutMs'],
    [{ timeoutMs: Number.NaN }, 'timeoutMs'],
    [{ timeoutMs: 10_000_000 }, 'timeoutMs'],
    [{ transport: 'sctp' }, 'transport'],
    [{ payload: 'text' }, 'payload'],
    [{ payload: Buffer.alloc(0) }, 'payload'],
    [{ payload: Buffer.alloc(70_000) }, 'payload'],
    [{ netns: 'relative/path' }, 'netns'],
    [{ netns: '/etc/hostname' }, 'netns'],
    [{ netns: 42 }, 'netns'],
    [{ startDelayMs: -1 }, 'startDelayMs'],
    [{ startDelayMs: 1.5 }, 'startDelayMs'],
    [{ startDelayMs: 600_001 }, 'startDelayMs'],
    [{ startDelayMs: '10' }, 'startDelayMs'],
    [{ holdMs: 1001 }, 'holdMs'],
    [{ holdMs: Number.NaN }, 'holdMs'],
  ];
  for (const [patch, param] of cases) {
    const err = await exchange({ ...base, ...patch }).then(
      () => null,
      (e: unknown) => e,
    );
    t.type(err, ArgumentError, `${JSON.stringify(patch)} is an ArgumentError`);
    t.equal((err as ArgumentError).param, param, `${JSON.stringify(patch)} names ${param}`);
    t.match((err as Error).message, param);
  }
});

t.test('UDP: the first datagram back is the reply, with an RTT', async (t) => {
  const srv = await udpServer((m) => Buffer.concat([Buffer.from('re:'), m]));
  t.teardown(srv.close);
  const r = await exchange({ server: '127.0.0.1', port: srv.port, payload, timeoutMs: 1000 });
  t.equal(r.reply.toString(), 're:query');
  t.ok(r.rttNs > 0 && r.rttNs < 1e9, `rtt ${r.rttNs}ns`);
});

t.test('UDP over IPv6', async (t) => {
  const srv = await udpServer((m) => m, 'udp6');
  t.teardown(srv.close);
  const r = await exchange({ server: '::1', port: srv.port, payload, timeoutMs: 1000 });
  t.equal(r.reply.toString(), 'query');
});

t.test('TCP: length framing both ways, replies split into pieces', async (t) => {
  const srv = await tcpServer((c, body) => {
    const out = frame(Buffer.concat([Buffer.from('tcp:'), body]));
    // Dribble the reply one byte at a time.
    let i = 0;
    const tick = () => {
      if (i < out.length) {
        c.write(out.subarray(i, i + 1));
        i++;
        setTimeout(tick, 1);
      }
    };
    tick();
  });
  t.teardown(srv.close);
  const r = await exchange({ server: '127.0.0.1', port: srv.port, transport: 'tcp', payload, timeoutMs: 2000 });
  t.equal(r.reply.toString(), 'tcp:query');
});

t.test('TCP: a server that closes before a whole reply gives ECONNRESET', async (t) => {
  const srv = await tcpServer((c) => {
    c.end(Buffer.from([0, 10, 1, 2]));
  });
  t.teardown(srv.close);
  const err = (await exchange({ server: '127.0.0.1', port: srv.port, transport: 'tcp', payload, timeoutMs: 2000 }).catch((e) => e)) as ExchangeError;
  t.type(err, ExchangeError);
  t.equal(err.code, 'ECONNRESET');
  t.equal(err.syscall, 'recv');
});

t.test('TCP: a zero-length message is refused as EBADMSG', async (t) => {
  const srv = await tcpServer((c) => c.write(Buffer.from([0, 0])));
  t.teardown(srv.close);
  const err = (await exchange({ server: '127.0.0.1', port: srv.port, transport: 'tcp', payload, timeoutMs: 2000 }).catch((e) => e)) as ExchangeError;
  t.equal(err.code, 'EBADMSG');
});

t.test('refused ports give ECONNREFUSED for UDP and TCP', async (t) => {
  const srv = await udpServer(() => null);
  const port = srv.port;
  srv.close(); // now nothing listens on this UDP port
  const udp = (await exchange({ server: '127.0.0.1', port, payload, timeoutMs: 1000 }).catch((e) => e)) as ExchangeError;
  t.equal(udp.code, 'ECONNREFUSED');
  t.equal(udp.syscall, 'recv');
  const tsrv = await tcpServer(() => {});
  const tport = tsrv.port;
  tsrv.close();
  const tcp = (await exchange({ server: '127.0.0.1', port: tport, transport: 'tcp', payload, timeoutMs: 1000 }).catch((e) => e)) as ExchangeError;
  t.equal(tcp.code, 'ECONNREFUSED');
  t.equal(tcp.syscall, 'connect');
});

t.test('deadlines are per exchange: silent servers do not delay answering ones', async (t) => {
  const silent = await udpServer(() => null);
  const echo = await udpServer((m) => m);
  t.teardown(() => {
    silent.close();
    echo.close();
  });
  const timeoutMs = 400;
  const started = process.hrtime.bigint();
  const answered: number[] = [];
  const jobs = [];
  for (let i = 0; i < 100; i++) {
    jobs.push(
      exchange({ server: '127.0.0.1', port: silent.port, payload, timeoutMs }).then(
        () => 'ok',
        (e: ExchangeError) => e.code,
      ),
    );
    jobs.push(
      exchange({ server: '127.0.0.1', port: echo.port, payload, timeoutMs }).then(() => {
        answered.push(Number(process.hrtime.bigint() - started) / 1e6);
        return 'ok';
      }),
    );
  }
  const results = await Promise.all(jobs);
  const elapsedMs = Number(process.hrtime.bigint() - started) / 1e6;
  t.equal(results.filter((r) => r === 'ok').length, 100, 'every answering exchange succeeded');
  t.equal(results.filter((r) => r === 'ETIMEDOUT').length, 100, 'every silent one timed out');
  // Answers arrive before the silent ones' deadline, and the whole batch
  // ends after about one deadline, not a hundred.
  t.ok(Math.max(...answered) < timeoutMs, `answers in ${Math.max(...answered).toFixed(1)} ms`);
  t.ok(elapsedMs < timeoutMs * 5, `batch took ${elapsedMs.toFixed(0)} ms`);
});

t.test('a timeout names the step it waited in', async (t) => {
  // A listening TCP server that never replies: connect succeeds, recv times out.
  const srv = await tcpServer(() => {});
  t.teardown(srv.close);
  const err = (await exchange({ server: '127.0.0.1', port: srv.port, transport: 'tcp', payload, timeoutMs: 150 }).catch((e) => e)) as ExchangeError;
  t.equal(err.code, 'ETIMEDOUT');
  t.equal(err.syscall, 'recv');
});

t.test('cancelAll fails in-flight exchanges with ECANCELED', async (t) => {
  const silent = await udpServer(() => null);
  t.teardown(silent.close);
  const jobs = Array.from({ length: 5 }, () =>
    exchange({ server: '127.0.0.1', port: silent.port, payload, timeoutMs: 30_000 }).catch((e: ExchangeError) => e.code),
  );
  await new Promise((r) => setTimeout(r, 50));
  cancelAll();
  t.same(await Promise.all(jobs), Array(5).fill('ECANCELED'));
  t.equal(engineStats().inFlight, 0);
});

t.test('startDelayMs: the engine starts the exchange no sooner, and its RTT and timeout count from the start', async (t) => {
  const arrived: number[] = [];
  const echo = await udpServer((m) => {
    arrived.push(performance.now());
    return m;
  });
  const silent = await udpServer(() => null);
  t.teardown(() => {
    echo.close();
    silent.close();
  });
  const delayMs = 300;
  const t0 = performance.now();
  const [late, now, timedOut] = await Promise.all([
    exchange({ server: '127.0.0.1', port: echo.port, payload, timeoutMs: 1000, startDelayMs: delayMs }).then((r) => ({ r, at: performance.now() })),
    exchange({ server: '127.0.0.1', port: echo.port, payload, timeoutMs: 1000 }),
    exchange({ server: '127.0.0.1', port: silent.port, payload, timeoutMs: 100, startDelayMs: delayMs }).then(
      () => null,
      (e: ExchangeError) => ({ code: e.code, at: performance.now() }),
    ),
  ]);
  t.equal(now.reply.toString(), 'query', 'an exchange without a delay is not held back by a scheduled one');
  t.equal(late.r.reply.toString(), 'query');
  t.equal(arrived.length, 2);
  t.ok(Math.max(...arrived) - t0 >= delayMs, `the delayed query reached the server ${(Math.max(...arrived) - t0).toFixed(1)} ms after the call`);
  // Sent no sooner than t0 + delay and answered before `late.at`: its RTT fits in between.
  t.ok(late.r.rttNs / 1e6 <= late.at - t0 - delayMs + 1, `RTT ${(late.r.rttNs / 1e6).toFixed(2)} ms counts from the start`);
  t.equal(timedOut?.code, 'ETIMEDOUT');
  t.ok(timedOut!.at - t0 >= delayMs + 100, `a silent server times out ${(timedOut!.at - t0).toFixed(0)} ms after the call: delay, then the full timeout`);
  t.equal(engineStats().scheduled, 0, 'nothing left scheduled');
});

t.test('cancelAll fails scheduled exchanges too, before they start', async (t) => {
  let got = 0;
  const echo = await udpServer((m) => {
    got++;
    return m;
  });
  t.teardown(echo.close);
  // A minute ahead: if cancelAll missed them, this test would time out.
  const jobs = Array.from({ length: 3 }, () =>
    exchange({ server: '127.0.0.1', port: echo.port, payload, timeoutMs: 1000, startDelayMs: 60_000 }).catch((e: ExchangeError) => e.code),
  );
  await new Promise((r) => setTimeout(r, 50));
  t.equal(engineStats().scheduled, 3, 'the worker holds them');
  cancelAll();
  t.same(await Promise.all(jobs), Array(3).fill('ECANCELED'));
  t.equal(got, 0, 'none was sent');
  t.equal(engineStats().scheduled, 0);
  t.equal(engineStats().inFlight, 0);
});

t.test('holdMs: a finished result waits for the others, and they settle in one delivery', async (t) => {
  const echo = await udpServer((m) => m);
  const slow = dgram.createSocket('udp4');
  slow.on('message', (m, r) => setTimeout(() => slow.send(m, r.port, r.address), 300));
  await new Promise<void>((res) => slow.bind(0, '127.0.0.1', () => res()));
  t.teardown(() => {
    echo.close();
    slow.close();
  });
  const settled: string[] = [];
  const run = async (hold: number | undefined) => {
    settled.length = 0;
    const before = engineStats().deliveries!;
    await Promise.all([
      exchange({ server: '127.0.0.1', port: echo.port, payload, timeoutMs: 2000, ...(hold === undefined ? {} : { holdMs: hold }) }).then(() =>
        settled.push('fast'),
      ),
      exchange({ server: '127.0.0.1', port: slow.address().port, payload, timeoutMs: 2000, ...(hold === undefined ? {} : { holdMs: hold }) }).then(() =>
        settled.push('slow'),
      ),
    ]);
    return engineStats().deliveries! - before;
  };
  t.equal(await run(undefined), 2, 'by default (1 ms) the fast reply crosses on its own');
  t.same(settled, ['fast', 'slow']);
  t.equal(await run(1000), 1, 'held: both cross together once the slow one is in (nothing else is running)');
  t.same(settled, ['fast', 'slow'], 'each promise settled, in submission order');
});

t.test('an open handle on the host netns runs the setns path and comes back', async (t) => {
  const srv = await udpServer((m) => m);
  t.teardown(srv.close);
  const h = NetnsHandle.open('/proc/thread-self/ns/net');
  t.teardown(() => h.close());
  t.equal(h.inode, hostNetnsInode().inode);
  const r = await exchange({ netns: h, server: '127.0.0.1', port: srv.port, payload, timeoutMs: 1000 });
  t.equal(r.reply.toString(), 'query');
  const s = engineStats();
  t.equal(s.workerNetnsInode, hostNetnsInode().inode, 'worker thread is back in the host netns');
  t.equal(s.hostNetnsInode, hostNetnsInode().inode);
  t.ok(s.workerTid > 0 && s.workerTid !== process.pid, 'the engine runs on its own thread');
  t.equal(s.pendingPromises, 0);
});

t.test('a netns path that does not exist rejects with ENOENT', async (t) => {
  const err = (await exchange({
    netns: '/proc/2147483646/ns/net',
    server: '127.0.0.1',
    payload,
    timeoutMs: 100,
  }).catch((e) => e)) as ExchangeError;
  t.type(err, ExchangeError);
  t.equal(err.code, 'ENOENT');
});

t.test('NetnsHandle.open refuses what is not a network namespace, without blocking on a FIFO', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chw-open-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const fifo = path.join(dir, 'net');
  execFileSync('mkfifo', [fifo]);
  // A FIFO with no writer would block a plain open(2) forever (and this test with it).
  t.throws(() => NetnsHandle.open(fifo), { name: 'ArgumentError', message: /is not a network namespace \(not a namespace file\)/ });
  t.throws(() => NetnsHandle.open(dir), { name: 'ArgumentError', message: /is not a network namespace \(a directory\)/ });
  t.throws(() => NetnsHandle.open('/proc/thread-self/ns/mnt'), { name: 'ArgumentError', message: /a namespace of type 0x20000/ });
  t.throws(() => NetnsHandle.open('/proc/thread-self/ns/nope'), { name: 'ExchangeError', code: 'ENOENT', syscall: 'open' });
  const before = fs.readdirSync('/proc/self/fd').length;
  for (let i = 0; i < 50; i++) t.throws(() => NetnsHandle.open(fifo));
  t.equal(fs.readdirSync('/proc/self/fd').length, before, 'a refused file is closed');
});

t.test('openNetns, closeNetns and statNetnsIds check their arguments in C++', async (t) => {
  const b = getBinding();
  const out = new Float64Array(4);
  t.throws(() => b.openNetns('relative/ns/net', -1, out), { name: 'TypeError', message: /absolute/ }, 'a relative path needs a dirFd');
  t.throws(() => b.openNetns('/proc/thread-self/ns/net', -1, new Float64Array(2)), { name: 'TypeError', message: /out/ });
  t.throws(() => b.openNetns('/proc/thread-self/ns/net', 1.5, out), { name: 'TypeError', message: /dirFd/ });
  t.equal(b.closeNetns(2147483647), false, 'an fd the table does not hold: nothing is closed');
  t.throws(() => b.statNetnsIds('proc', new Int32Array(1), new Float64Array(3)), { name: 'TypeError', message: /absolute/ });
  t.throws(() => b.statNetnsIds('/proc', new Int32Array(2), new Float64Array(3)), { name: 'TypeError', message: /3 numbers per pid/ });
  t.throws(() => b.statNetnsIds('/proc', [1] as unknown as Int32Array, new Float64Array(3)), { name: 'TypeError', message: /Int32Array/ });
  const ids = statNetnsIds('/proc', [process.pid, 2147483646, -1]);
  t.same([ids[0], ids[1], ids[2]], [hostNetnsInode().dev, hostNetnsInode().inode, 0], 'this process: the host namespace');
  t.same([ids[3], ids[4], ids[5]], [0, 0, 2], 'no such process: ENOENT');
  t.same([ids[6], ids[7], ids[8]], [0, 0, 22], 'not a pid: EINVAL');
});

t.test('a closed handle keeps its namespace open for the jobs still holding it, then closes it', async (t) => {
  const srv = await udpServer((m) => m);
  t.teardown(srv.close);
  const h = NetnsHandle.open('/proc/thread-self/ns/net');
  const link = `/proc/self/fd/${h.fd}`;
  t.match(fs.readlinkSync(link), /^net:\[\d+\]$/);
  const jobs = [];
  for (let i = 0; i < 20; i++) jobs.push(exchange({ netns: h, server: '127.0.0.1', port: srv.port, payload, timeoutMs: 1000 }));
  h.close();
  h.close();
  const replies = await Promise.all(jobs);
  t.same(new Set(replies.map((r) => r.reply.toString())), new Set(['query']), 'every job ran after its handle was closed');
  t.throws(() => fs.readlinkSync(link), { code: 'ENOENT' }, 'the fd is closed once no job holds it');
  await t.rejects(exchange({ netns: h, server: '127.0.0.1', payload, timeoutMs: 10 }), { name: 'ArgumentError' }, 'a closed handle submits nothing');

  // A scheduled job holds the namespace too, from its submission to its start.
  const h2 = NetnsHandle.open('/proc/thread-self/ns/net');
  const link2 = `/proc/self/fd/${h2.fd}`;
  const later = exchange({ netns: h2, server: '127.0.0.1', port: srv.port, payload, timeoutMs: 1000, startDelayMs: 200 });
  await new Promise((r) => setTimeout(r, 50));
  h2.close();
  t.match(fs.readlinkSync(link2), /^net:\[\d+\]$/, 'closed while scheduled: the fd stays until the job has started');
  t.equal((await later).reply.toString(), 'query', 'the scheduled job ran in its namespace');
  t.throws(() => fs.readlinkSync(link2), { code: 'ENOENT' }, 'then it is closed');
});

t.test('the worker never keeps the process alive, and results still arrive', async (t) => {
  const addon = process.env.COREDNS_HEALTHD_ADDON || path.join(root, 'build/Release/healthd.node');
  const script = `
    const dgram = require('node:dgram');
    const b = require(${JSON.stringify(addon)});
    const s = dgram.createSocket('udp4');
    s.on('message', (m, r) => s.send(m, r.port, r.address));
    s.bind(0, '127.0.0.1', () => {
      b.init((rs) => { console.log('got', rs[0].reply.toString()); s.close(); });
      b.submit(1, -1, 4, '127.0.0.1', s.address().port, false, Buffer.from('ping'), 1000);
    });`;
  const started = Date.now();
  const res = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 10_000 });
  t.equal(res.status, 0, res.stderr);
  t.equal(res.stdout.trim(), 'got ping');
  t.ok(Date.now() - started < 5000, 'exited on its own once the work was done');
  // An idle started engine does not hold the loop either.
  const idle = spawnSync(
    process.execPath,
    ['-e', `const b=require(${JSON.stringify(addon)}); b.init(()=>{}); b.submit(1,-1,4,'127.0.0.1',9,false,Buffer.from('x'),50);`],
    { encoding: 'utf8', timeout: 10_000 },
  );
  t.equal(idle.status, 0, idle.stderr);
  t.notOk(idle.error, 'did not hang');
});

t.test('a worker thread gets its own engine, joined when the worker ends', async (t) => {
  const addon = process.env.COREDNS_HEALTHD_ADDON || path.join(root, 'build/Release/healthd.node');
  const script = `
    const { Worker } = require('node:worker_threads');
    const dgram = require('node:dgram');
    const s = dgram.createSocket('udp4');
    s.on('message', (m, r) => s.send(m, r.port, r.address));
    s.bind(0, '127.0.0.1', async () => {
      const port = s.address().port;
      const src = \`
        const { parentPort } = require('node:worker_threads');
        const b = require(\${JSON.stringify(${JSON.stringify(addon)})});
        // A batch may hold several results (job 2's ECONNREFUSED with job 1's reply): job 1's is the one.
        b.init((rs) => { const r = rs.find((x) => x.id === 1); if (r) parentPort.postMessage({ reply: r.reply.toString(), tid: b.stats().workerTid }); });
        b.submit(1, -1, 4, '127.0.0.1', \${port}, false, Buffer.from('from-worker'), 2000);
        // a second job that never completes: the engine must still be joined
        b.submit(2, -1, 4, '127.0.0.1', \${port + 1 === 65536 ? 1 : port + 1}, false, Buffer.from('x'), 60000);
        // and a third scheduled a minute ahead (a submitBatch record, startDelayMs 60000): dropped at the join
        const rec = Buffer.alloc(37);
        rec.writeUInt32LE(3, 0); rec.writeInt32LE(-1, 4); rec.writeUInt32LE(0, 8); rec[12] = 4; rec[13] = 0;
        rec.writeUInt16LE(\${port}, 14); rec.writeUInt32LE(2000, 16); rec.writeUInt32LE(0, 20); rec.writeUInt32LE(1, 24);
        rec.writeUInt32LE(60000, 28); rec.writeUInt32LE(1, 32); rec[36] = 120;
        if (b.submitBatch(rec, [], ['127.0.0.1']) !== undefined) throw new Error('the scheduled job was refused');\`;
      const w = new Worker(src, { eval: true });
      const msg = await new Promise((r) => w.once('message', r));
      await w.terminate();
      const b = require(${JSON.stringify(addon)});
      b.init((rs) => { console.log(JSON.stringify({ worker: msg, main: rs[0].reply.toString(), mainTid: b.stats().workerTid })); s.close(); });
      b.submit(1, -1, 4, '127.0.0.1', port, false, Buffer.from('from-main'), 2000);
    });`;
  const res = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 20_000 });
  t.equal(res.status, 0, res.stderr);
  const out = JSON.parse(res.stdout.trim()) as { worker: { reply: string; tid: number }; main: string; mainTid: number };
  t.equal(out.worker.reply, 'from-worker');
  t.equal(out.main, 'from-main');
  t.not(out.worker.tid, out.mainTid, 'each environment has its own engine thread');
});
