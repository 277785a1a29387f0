// One regression test per native-layer defect of issue 10 that needs root (network namespaces,
// pidfd_getfd on another process, dropping to an unprivileged user); the others are in
// test/unit/native-defects.test.ts. Each names its defect number from the "Native layer"
// list. The sanitizer job runs this file against the ASan+UBSan addon (COREDNS_HEALTHD_ADDON):
// the child processes below load the same addon, so a report there fails the test.
//
//   1  a late UDP reply after a timeout, while the socket fd is duplicated elsewhere (pidfd_getfd),
//      makes epoll hand back a freed Exchange*
//   3  a failed thread start is std::terminate instead of an error
//   4  a queued job holds its namespace by fd number: close twice, reuse, wrong namespace
//   7  the rtnetlink dump runs synchronously inside the epoll loop and stalls every probe
//   8  NLM_F_DUMP_INTR ignored: an interrupted (possibly partial) dump counted as complete
//      (NLMSG_DONE carrying an error cannot be provoked from outside the kernel: not tested)
import t, { type Test } from 'tap';
import dgram from 'node:dgram';
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import packet from 'dns-packet';
import { ExchangeError, NetnsHandle, dumpInterfaces, engineStats, exchange, hostNetnsInode } from '../../src/netns/binding.js';
import { buildQuery } from '../../src/probe/query.js';
import { NLM_F_DUMP_INTR, NLMSG_HDRLEN, parseInterfaceDump } from '../../src/diagnose/netlink.js';
import { compiled } from '../support/paths.js';
import { requireRoot } from '../support/root.js';
import { createNetns, randomPrefix, removeByPrefix } from '../support/netns.js';
import { spawnResponder } from '../support/responder-process.js';
import { run, tryRun, which } from '../support/run.js';
import { CRASH_RE, addonPath, childEnv, cleanNodeOptionsPrefix, describeChild, startChild, startNode } from '../support/native-child.js';

const NAME = 'kubernetes.default.svc.cluster.local';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Namespaces named `${prefix}-*`, removed in teardown (even after a failure). */
function namespaces(t: Test, base: string) {
  const prefix = randomPrefix(base);
  t.teardown(() => removeByPrefix(prefix));
  return {
    prefix,
    async create(suffix: string): Promise<{ name: string; path: string }> {
      const name = `${prefix}-${suffix}`;
      return { name, path: await createNetns(name) };
    },
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

t.test('defect 1: a late reply to a timed-out exchange whose socket fd lives on elsewhere is harmless', async (t) => {
  if (!requireRoot(t, 'duplicates the fds of another process with pidfd_getfd')) return;
  // A child engine sends 100 datagrams to a server that answers 3 s later; each exchange
  // times out after 2 s and its socket is closed. Meanwhile another process (python, with
  // pidfd_open + pidfd_getfd) holds duplicates of those sockets, so they stay open and stay
  // in the engine's epoll set unless the engine removed them (EPOLL_CTL_DEL) before closing:
  // the late replies then wake epoll for objects that are gone.
  const late = dgram.createSocket('udp4');
  let lateSent = 0;
  late.on('message', (m, r) =>
    setTimeout(() => {
      late.send(m, r.port, r.address);
      lateSent++;
    }, 3000),
  );
  const echo = dgram.createSocket('udp4');
  echo.on('message', (m, r) => echo.send(m, r.port, r.address));
  await Promise.all([late, echo].map((s) => new Promise<void>((res) => s.bind(0, '127.0.0.1', () => res()))));
  t.teardown(() => {
    late.close();
    echo.close();
  });
  const N = 100;
  const TIMEOUT_MS = 2000;
  const child = startNode(
    String.raw`
      const b = require(process.argv[1]);
      const latePort = Number(process.argv[2]);
      const echoPort = Number(process.argv[3]);
      const results = new Map();
      let wake = () => {};
      b.init((rs) => { for (const r of rs) results.set(r.id, r); wake(); });
      const until = (pred) => new Promise((res) => { const check = () => (pred() ? res() : (wake = check)); check(); });
      const line = () => new Promise((res) => process.stdin.once('data', res));
      (async () => {
        await line(); // the fd grabber is ready
        for (let i = 1; i <= ${N}; i++) b.submit(i, -1, 4, '127.0.0.1', latePort, false, Buffer.from('late-' + i), ${TIMEOUT_MS});
        console.log('SUBMITTED');
        await until(() => results.size === ${N});
        const codes = {};
        for (const r of results.values()) codes[r.errno] = (codes[r.errno] || 0) + 1;
        console.log('TIMEDOUT ' + JSON.stringify(codes));
        await line(); // the late replies have arrived and the duplicates are closed
        for (let i = 1; i <= 10; i++) b.submit(1000 + i, -1, 4, '127.0.0.1', echoPort, false, Buffer.from('after-' + i), 2000);
        await until(() => results.size === ${N} + 10);
        const ok = [...results.values()].filter((r) => r.id > 1000 && r.errno === 0 && r.reply.toString() === 'after-' + (r.id - 1000)).length;
        console.log('AFTER ' + ok);
        process.stdin.pause();
      })();`,
    { args: [addonPath(), String(late.address().port), String(echo.address().port)], timeoutMs: 60_000 },
  );
  t.teardown(() => child.kill());
  // The grabber (started first: python may take a while to start on a loaded machine) duplicates
  // every UDP socket of the child connected to the late server (found by inode in
  // /proc/PID/net/udp) when told, holds them until told again, then reports how many have data
  // waiting.
  const grab = startChild([
    which('python3'),
    '-c',
    String.raw`
import ctypes, os, select, sys, time
pid, port = int(sys.argv[1]), int(sys.argv[2])
libc = ctypes.CDLL(None, use_errno=True)
SYS_pidfd_getfd = 438  # the same number on every architecture
print('READY', flush=True)
want = int(sys.stdin.readline())
def connected():
    found = set()
    with open(f'/proc/{pid}/net/udp') as f:
        for row in f.readlines()[1:]:
            col = row.split()
            if int(col[2].split(':')[1], 16) == port:
                found.add(col[9])
    return found
# The engine's thread creates the sockets a moment after the submits: wait for them (1 s at most).
deadline = time.monotonic() + 1
inodes = connected()
while len(inodes) < want and time.monotonic() < deadline:
    time.sleep(0.005)
    inodes = connected()
pidfd = os.pidfd_open(pid)
held = []
for fd in os.listdir(f'/proc/{pid}/fd'):
    try:
        link = os.readlink(f'/proc/{pid}/fd/{fd}')
    except OSError:
        continue
    if link.startswith('socket:[') and link[8:-1] in inodes:
        dup = libc.syscall(SYS_pidfd_getfd, pidfd, int(fd), 0)
        if dup >= 0:
            held.append(dup)
print('GRABBED', len(held), 'of', len(inodes), flush=True)
sys.stdin.readline()
ready, _, _ = select.select(held, [], [], 0)
print('READABLE', len(ready), flush=True)
`,
    String(child.pid),
    String(late.address().port),
  ]);
  t.teardown(() => grab.kill());
  const failed = (e: Error) => e.message;
  t.match(await grab.line(/^READY$/).catch(failed), 'READY', 'the fd grabber runs');
  child.write('submit\n');
  await child.line(/^SUBMITTED$/);
  grab.write(`${N}\n`);
  const grabbedLine = await grab.line(/^GRABBED /).catch(failed);
  const grabbed = Number(/^GRABBED (\d+)/.exec(grabbedLine)?.[1] ?? 0);
  t.ok(grabbed >= N / 2, `another process holds duplicates of ${grabbed} of the ${N} exchange sockets (${grabbedLine})`);

  const timedOut = await child.line(/^TIMEDOUT /).catch(failed);
  t.equal(timedOut, `TIMEDOUT {"110":${N}}`, 'every exchange timed out (ETIMEDOUT) before its reply came');
  // The late replies land in the duplicated sockets.
  for (let i = 0; i < 500 && lateSent < N; i++) await sleep(10);
  t.equal(lateSent, N, 'the server sent every late reply');
  await sleep(300); // let the engine see them, if it still watches those sockets
  grab.write('done\n');
  const readableLine = await grab.line(/^READABLE /).catch(failed);
  const readable = Number(/^READABLE (\d+)/.exec(readableLine)?.[1] ?? -1);
  t.ok(readable > 0, `late replies are waiting in ${readable} of the duplicated sockets: the race was exercised`);
  const grabExit = await grab.exited;
  t.equal(grabExit.code, 0, `the grabber exits 0 (${describeChild(grabExit)})`);

  child.write('go\n');
  const res = await child.exited;
  t.equal(res.code, 0, `the process survives (${describeChild(res)})`);
  t.equal(res.signal, null, 'no signal');
  t.notMatch(res.stderr, CRASH_RE, 'no crash or sanitizer report');
  t.match(res.stdout, /^AFTER 10$/m, 'later exchanges work');
});

t.test('defect 3: a thread that cannot be created is an EAGAIN pthread_create error, not an abort', async (t) => {
  if (!requireRoot(t, 'runs a child as the unprivileged user nobody under a tight RLIMIT_NPROC')) return;
  // Root ignores RLIMIT_NPROC (CAP_SYS_ADMIN), so the child runs as nobody (setpriv). It starts
  // everything Node needs first (libuv's pool), then lowers its own RLIMIT_NPROC soft limit to 1
  // with prlimit: the engine's thread is then the one thread that cannot start. (prlimit from
  // the test on the child would need CAP_SYS_RESOURCE over another user's process, which root
  // may lack in a container; the child's own user may lower it, and later raise it again.)
  // The child uses the real binding (compiled, as the daemon runs it).
  const binding = new URL(`file://${compiled('src/netns/binding.ts')}`).href;
  const child = startNode(
    String.raw`
      import fs from 'node:fs';
      import dgram from 'node:dgram';
      import { execFileSync } from 'node:child_process';
      const { exchange } = await import(${JSON.stringify(binding)});
      await fs.promises.stat('/'); // libuv's thread pool starts now, not under the limit
      const echo = dgram.createSocket('udp4');
      echo.on('message', (m, r) => echo.send(m, r.port, r.address));
      await new Promise((res) => echo.bind(0, '127.0.0.1', res));
      const req = { server: '127.0.0.1', port: echo.address().port, payload: Buffer.from('ping'), timeoutMs: 2000 };
      const limits = () => fs.readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max processes')).split(/\s+/);
      execFileSync('prlimit', ['--pid', String(process.pid), '--nproc=1:']);
      console.log('LIMITED ' + JSON.stringify({ uid: process.getuid(), soft: limits()[2], hard: limits()[3] }));
      const outcome = (p) => p.then((r) => ({ ok: r.reply.toString() }), (e) => ({ name: e.name, code: e.code, errno: e.errno, syscall: e.syscall }));
      console.log('FIRST ' + JSON.stringify(await outcome(exchange(req))));
      await new Promise((res) => process.stdin.once('data', res)); // the limit is lifted
      console.log('SECOND ' + JSON.stringify(await outcome(exchange(req))));
      echo.close();
      process.stdin.pause();`,
    {
      prefix: [...cleanNodeOptionsPrefix(which('env')), which('setpriv'), '--reuid=nobody', '--regid=nogroup', '--clear-groups'],
      nodeArgs: ['--input-type=module'],
      env: childEnv(),
      timeoutMs: 60_000,
    },
  );
  t.teardown(() => child.kill());
  const limited = JSON.parse((await child.line(/^LIMITED /)).slice(8)) as { uid: number; soft: string; hard: string };
  t.same([limited.uid, limited.soft], [65534, '1'], 'the child runs as nobody with RLIMIT_NPROC 1');
  const first = await child.line(/^FIRST /).catch((e: Error) => e.message);
  t.match(first, /^FIRST /, 'the first exchange settles and the process is still there');
  if (!first.startsWith('FIRST ')) {
    const res = await child.exited;
    t.fail(`the child died: ${describeChild(res)}`);
    return;
  }
  const e = JSON.parse(first.slice(6)) as Record<string, unknown>;
  t.match(e, { name: 'ExchangeError', errno: 11, syscall: 'pthread_create' }, 'it rejects: errno 11 from pthread_create');
  t.equal(e.code, 'EAGAIN', 'its code is EAGAIN');
  // The same user raises the soft limit back; the next exchange starts the thread.
  await run(which('setpriv'), [
    '--reuid=nobody',
    '--regid=nogroup',
    '--clear-groups',
    which('prlimit'),
    '--pid',
    String(child.pid),
    `--nproc=${limited.hard}:`,
  ]);
  child.write('go\n');
  const second = await child.line(/^SECOND /).catch((e: Error) => e.message);
  t.equal(second, 'SECOND {"ok":"ping"}', 'once threads can be created again, a later exchange works');
  const res = await child.exited;
  t.equal(res.code, 0, `the process exits 0 (${describeChild(res)})`);
  t.notMatch(res.stderr, CRASH_RE, 'no abort, no terminate');
});

t.test('defect 4: jobs queued for a handle closed twice still run in its namespace, not in the one that reuses the fd number', async (t) => {
  if (!requireRoot(t, 'creates network namespaces')) return;
  const ns = namespaces(t, 'ndc');
  const [a, b] = [await ns.create('a'), await ns.create('b')];
  const port = 20000 + Math.floor(Math.random() * 20000);
  // The same address and port in both namespaces; each server answers with its own address.
  const ra = await spawnResponder({ netns: a.name, listen: '127.0.0.1', port, addresses: ['10.96.0.1'], logQueries: true, t });
  const rb = await spawnResponder({ netns: b.name, listen: '127.0.0.1', port, addresses: ['10.96.0.2'], logQueries: true, t });

  const answerOf = (reply: Buffer): string => {
    const p = packet.decode(reply);
    return (p.answers ?? []).map((x) => String((x as { data: unknown }).data)).join(',');
  };
  const ask = (h: NetnsHandle, id: number) =>
    exchange({ netns: h, server: '127.0.0.1', port, payload: buildQuery({ name: NAME, type: 'A', class: 'IN', id }).packet, timeoutMs: 3000 }).then(
      (r) => answerOf(r.reply),
      (e: unknown) => `error:${(e as ExchangeError).code ?? String(e)}`,
    );
  const rounds = 10;
  const perRound = 20;
  let reused = 0;
  const gotA: string[] = [];
  const gotB: string[] = [];
  let next = 1;
  const idsA = new Set<number>();
  const idsB = new Set<number>();
  for (let round = 0; round < rounds; round++) {
    const ha = NetnsHandle.open(a.path);
    const jobsA: Array<Promise<string>> = [];
    // Submitted and then, in the same turn of the event loop, the handle is closed twice and
    // another namespace opened: the jobs are still queued in the engine.
    for (let i = 0; i < perRound; i++) {
      idsA.add(next);
      jobsA.push(ask(ha, next++));
    }
    ha.close();
    ha.close();
    const hb = NetnsHandle.open(b.path);
    if (hb.fd === ha.fd) reused++;
    const jobsB: Array<Promise<string>> = [];
    for (let i = 0; i < perRound; i++) {
      idsB.add(next);
      jobsB.push(ask(hb, next++));
    }
    gotA.push(...(await Promise.all(jobsA)));
    gotB.push(...(await Promise.all(jobsB)));
    hb.close();
  }
  // How often B got A's old number depends on whether the engine's thread had made A's sockets by
  // then (the addon's table keeps the file open until it has): a count to read, not a condition.
  t.comment(`the namespace opened after the double close got the same fd number in ${reused} of ${rounds} rounds`);
  t.same([...new Set(gotA)], ['10.96.0.1'], `all ${gotA.length} jobs for A were answered by A's server`);
  t.same([...new Set(gotB)], ['10.96.0.2'], `all ${gotB.length} jobs for B were answered by B's server`);
  await sleep(100);
  t.same(
    ra.queries.filter((q) => !idsA.has(q.id)).map((q) => q.id),
    [],
    "A's server saw no query meant for B",
  );
  t.same(
    rb.queries.filter((q) => !idsB.has(q.id)).map((q) => q.id),
    [],
    "B's server saw no query meant for A",
  );
  t.equal(engineStats().workerNetnsInode, hostNetnsInode().inode, 'the worker is back in the host namespace');

  // A second close() is a no-op: it does not close whatever now has that fd number.
  const h = NetnsHandle.open(a.path);
  h.close();
  const other = fs.openSync('/dev/null', 'r');
  t.comment(`handle fd ${h.fd}, the next open got ${other}`);
  h.close();
  t.doesNotThrow(() => fs.fstatSync(other), 'the fd that reused the number is still open after the second close()');
  fs.closeSync(other);
});

/** Creates `count` interfaces in a namespace: dummies, or veth pairs where there is no dummy driver. */
async function manyInterfaces(nsName: string, count: number): Promise<string> {
  const ip = which('ip');
  const probe = await tryRun(ip, ['-n', nsName, 'link', 'add', 'probe0', 'type', 'dummy']);
  const lines: string[] = [];
  let kind: string;
  if (probe.code === 0) {
    kind = 'dummy';
    lines.push('link del probe0');
    for (let i = 0; i < count; i++) lines.push(`link add d${i} type dummy`);
  } else {
    kind = 'veth';
    for (let i = 0; i < count / 2; i++) lines.push(`link add d${2 * i} type veth peer name d${2 * i + 1}`);
  }
  await run(ip, ['-n', nsName, '-batch', '-'], { input: `${lines.join('\n')}\n`, timeoutMs: 120_000 });
  return kind;
}

/** Interface names of a dump, and whether any message carries NLM_F_DUMP_INTR. */
function readDump(reply: Buffer): { names: string[]; interruptedFlag: boolean } {
  let interruptedFlag = false;
  for (let o = 0; o + NLMSG_HDRLEN <= reply.length;) {
    const len = reply.readUInt32LE(o);
    if (reply.readUInt16LE(o + 6) & NLM_F_DUMP_INTR) interruptedFlag = true;
    if (len < NLMSG_HDRLEN) break;
    o += (len + 3) & ~3;
  }
  const parsed = parseInterfaceDump(reply);
  return { names: parsed.interfaces.map((i) => i.name), interruptedFlag: interruptedFlag || parsed.interrupted };
}

t.test('defect 7: a 2,000-interface dump does not hold up probes in flight beside it', async (t) => {
  if (!requireRoot(t, 'creates network namespaces with 2,000 interfaces')) return;
  const ns = namespaces(t, 'ndd');
  const [big, srv] = [await ns.create('big'), await ns.create('srv')];
  const kind = await manyInterfaces(big.name, 2000);
  const port = 20000 + Math.floor(Math.random() * 20000);
  await spawnResponder({ netns: srv.name, listen: '127.0.0.1', port, t });
  const hBig = NetnsHandle.open(big.path);
  const hSrv = NetnsHandle.open(srv.path);
  t.teardown(() => {
    hBig.close();
    hSrv.close();
  });
  const payload = buildQuery({ name: NAME, type: 'A', class: 'IN', id: 7 }).packet;
  const probeOnce = async () => {
    const start = performance.now();
    const r = await exchange({ netns: hSrv, server: '127.0.0.1', port, payload, timeoutMs: 5000 });
    return { start, end: performance.now(), rttMs: r.rttNs / 1e6 };
  };
  // Warm up both paths.
  await probeOnce();
  const first = readDump(await dumpInterfaces(hBig));
  t.equal(first.names.filter((n) => /^d\d+$/.test(n)).length, 2000, `the dump lists all 2,000 ${kind} interfaces`);

  // Four probe loops run back to back while ten dumps run one after another.
  const samples: Array<{ start: number; end: number; rttMs: number }> = [];
  const dumps: Array<{ start: number; end: number; reply: Buffer }> = [];
  let stop = false;
  const loops = Array.from({ length: 4 }, async () => {
    while (!stop) {
      samples.push(await probeOnce());
      await sleep(1);
    }
  });
  await sleep(50);
  for (let i = 0; i < 10; i++) {
    const start = performance.now();
    const reply = await dumpInterfaces(hBig);
    const end = performance.now();
    dumps.push({ start, end, reply }); // parsed later: parsing here would hold up this thread, not the engine's
    await sleep(30);
  }
  stop = true;
  await Promise.all(loops);
  // Concurrent: in flight at some moment while a dump ran (sent before it and answered during
  // it, or sent during it). A dump run synchronously on the engine's thread holds all of them.
  const during = samples.filter((s) => dumps.some((d) => s.start < d.end && s.end > d.start));
  const apart = samples.filter((s) => dumps.every((d) => s.end < d.start || s.start > d.end));
  const latency = (xs: typeof samples) => xs.map((s) => s.end - s.start);
  const dumpMs = dumps.map((d) => d.end - d.start);
  t.comment(
    `dumps: median ${median(dumpMs).toFixed(1)} ms (max ${Math.max(...dumpMs).toFixed(1)}); ` +
      `probes sent during a dump: ${during.length}, latency median ${median(latency(during)).toFixed(2)} ms ` +
      `(max ${Math.max(...latency(during)).toFixed(1)}), engine RTT median ${median(during.map((s) => s.rttMs)).toFixed(2)} ms ` +
      `(max ${Math.max(...during.map((s) => s.rttMs)).toFixed(1)}); probes apart from dumps: ${apart.length}, ` +
      `latency median ${median(latency(apart)).toFixed(2)} ms`,
  );
  t.same(
    dumps.map((d) => readDump(d.reply).names.filter((n) => /^d\d+$/.test(n)).length),
    Array(10).fill(2000),
    'every dump returned all 2,000 interfaces',
  );
  t.ok(during.length >= 20, `${during.length} probes were in flight while a dump ran`);
  // A dump run synchronously on the engine's thread holds every concurrent probe for about the
  // whole dump: measured here (veth pairs), concurrent probes took 1.0-1.1x the median dump time
  // (22-28 ms against 21-27 ms dumps) with the synchronous dump, and 0.11-0.19x (3-10 ms against
  // 26-52 ms) without it, the machine loaded or not. Half the dump time separates the two; a
  // ratio holds however slow the machine (or the sanitizers) make both.
  const dumpMedian = median(dumpMs);
  const latencyMedian = median(latency(during));
  t.ok(
    latencyMedian < dumpMedian / 2,
    `probes concurrent with a dump settle in ${latencyMedian.toFixed(2)} ms (median), less than half a dump (${dumpMedian.toFixed(1)} ms)`,
  );
  // The engine's own RTT of those probes, against the same half dump: a reply that arrived during a
  // synchronous dump waits for its end. (A fixed 20 ms failed at 29 ms with the load at 10.)
  const rttMedian = median(during.map((s) => s.rttMs));
  t.ok(rttMedian < dumpMedian / 2, `and their RTT stays small: ${rttMedian.toFixed(2)} ms (median), less than half a dump (${dumpMedian.toFixed(1)} ms)`);
});

t.test('defect 8: a dump interrupted by interface changes is never reported as complete', async (t) => {
  if (!requireRoot(t, 'creates network namespaces with 2,000 interfaces and changes them during dumps')) return;
  // Interfaces are added and deleted beside 2,000 fixed ones while the namespace is dumped: the
  // kernel marks such dumps NLM_F_DUMP_INTR. A dump may then fail (the engine gives up after a
  // few restarts) or succeed, but a success never carries the interrupted flag and lists every
  // fixed interface.
  const ns = namespaces(t, 'ndi');
  const big = await ns.create('big');
  const kind = await manyInterfaces(big.name, 2000);
  const h = NetnsHandle.open(big.path);
  t.teardown(() => h.close());
  const churnLines: string[] = [];
  for (let i = 0; i < 20_000; i++) {
    const n = `x${i % 8}`;
    churnLines.push(kind === 'dummy' ? `link add ${n} type dummy` : `link add ${n} type veth peer name y${i % 8}`, `link del ${n}`);
  }
  const churn = spawn(which('ip'), ['-force', '-n', big.name, '-batch', '-'], { stdio: ['pipe', 'ignore', 'ignore'] });
  churn.stdin.on('error', () => undefined);
  churn.stdin.end(`${churnLines.join('\n')}\n`);
  const churnExit = new Promise((res) => churn.once('close', res));
  t.teardown(() => {
    churn.kill('SIGKILL');
    return churnExit;
  });
  await sleep(100);
  let ok = 0;
  let flagged = 0;
  let incomplete = 0;
  const errors = new Map<string, number>();
  for (let i = 0; i < 30 && churn.exitCode === null; i++) {
    try {
      const d = readDump(await dumpInterfaces(h));
      ok++;
      if (d.interruptedFlag) flagged++;
      if (d.names.filter((n) => /^d\d+$/.test(n)).length !== 2000) incomplete++;
    } catch (err) {
      if (!(err instanceof ExchangeError)) throw err;
      const key = `${err.errno}/${err.syscall}`;
      errors.set(key, (errors.get(key) ?? 0) + 1);
    }
  }
  t.comment(`dumps under churn: ${ok} complete, errors ${JSON.stringify([...errors])}`);
  t.ok(ok + [...errors.values()].reduce((a, b) => a + b, 0) > 0, 'dumps ran while the interfaces changed');
  t.equal(flagged, 0, 'no dump reported as complete carries NLM_F_DUMP_INTR');
  t.equal(incomplete, 0, 'every dump reported as complete lists all 2,000 fixed interfaces');
});
