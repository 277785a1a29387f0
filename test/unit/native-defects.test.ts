// One regression test per native-layer defect of issue 10 that needs no root (the others are in
// test/integration/native-defects.test.ts). Each names its defect number from the issue's
// "Native layer" list. The sanitizer job runs this file against the ASan+UBSan addon
// (COREDNS_HEALTHD_ADDON): the child processes below load the same addon.
//
//   2  a worker_threads Worker terminated with exchanges in flight aborts the process
//   5  bad argument types straight to the addon are queued anyway
//   6  cancelAll() also cancels jobs submitted after it returned
//   9  UDP: wrong-ID / wrong-question / zero-length datagrams taken for the reply
//  10  a throw while settling one result of a batch leaves promises unsettled
import t, { type Test } from 'tap';
import dgram from 'node:dgram';
import packet from 'dns-packet';
import {
  cancelAll,
  engineStats,
  exchange,
  getBinding,
  setBinding,
  type ExchangeReply,
  type ExchangeRequest,
  type NativeBinding,
  type NativeResult,
} from '../../src/netns/binding.js';
import { probe } from '../../src/probe/probe.js';
import { buildQuery } from '../../src/probe/query.js';
import { resolveOptions, spoofsFor, startResponder, type SpoofKind } from '../support/responder.js';
import { CRASH_RE, addonPath, describeChild, runNode } from '../support/native-child.js';

const NAME = 'kubernetes.default.svc.cluster.local';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function udpServer(reply: (msg: Buffer) => Buffer | null) {
  const s = dgram.createSocket('udp4');
  s.on('message', (m, r) => {
    const out = reply(m);
    if (out) s.send(out, r.port, r.address);
  });
  await new Promise<void>((res) => s.bind(0, '127.0.0.1', () => res()));
  return { port: s.address().port, close: () => s.close() };
}

/** Rejects with `what` after ms: a hang fails the test instead of stalling it. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: not settled after ${ms} ms`)), ms);
    }),
  ]);
}

const codeOf = (e: unknown): string => (e as { code?: string }).code ?? String(e);

t.test('defect 2: a Worker terminated 10 times with 200 exchanges in flight never aborts the process', async (t) => {
  // Half the jobs go to a server that never answers, half to one that answers after 0-40 ms,
  // so that results are on their way through the thread-safe function while the worker's
  // environment is torn down. The main thread's engine must still work afterwards.
  const script = String.raw`
    const { Worker } = require('node:worker_threads');
    const dgram = require('node:dgram');
    const ADDON = process.argv[1];
    const bind = (s) => new Promise((r) => s.bind(0, '127.0.0.1', () => r(s.address().port)));
    (async () => {
      const silent = dgram.createSocket('udp4');
      silent.on('message', () => {});
      const slow = dgram.createSocket('udp4');
      let closed = false;
      slow.on('message', (m, r) => setTimeout(() => closed || slow.send(m, r.port, r.address), Math.random() * 40));
      const silentPort = await bind(silent);
      const slowPort = await bind(slow);
      // The main thread asks a server of its own: a late echo from slow to a terminated worker's
      // port, taken again by the main thread's socket, would pass for its reply (a raw payload is
      // not matched like a DNS reply; the connected socket only filters by the server's address).
      const echo = dgram.createSocket('udp4');
      echo.on('message', (m, r) => echo.send(m, r.port, r.address));
      const echoPort = await bind(echo);
      const src = ${'`'}
        const { parentPort, workerData: d } = require('node:worker_threads');
        const b = require(d.addon);
        b.init(() => {});
        for (let i = 0; i < 200; i++) {
          const refused = b.submit(i + 1, -1, 4, '127.0.0.1', i % 2 ? d.silentPort : d.slowPort, false, Buffer.from('q' + i), 60000);
          if (refused) throw new Error('submit refused: ' + JSON.stringify(refused));
        }
        parentPort.postMessage(b.stats().inFlight);${'`'};
      for (let round = 0; round < 10; round++) {
        const w = new Worker(src, { eval: true, workerData: { addon: ADDON, silentPort, slowPort } });
        const inFlight = await new Promise((res, rej) => { w.once('message', res); w.once('error', rej); });
        await new Promise((r) => setTimeout(r, Math.random() * 30));
        await w.terminate();
        console.log('ROUND ' + round + ' ' + inFlight);
      }
      const b = require(ADDON);
      const r = await new Promise((res) => {
        b.init((rs) => res(rs[0]));
        b.submit(1, -1, 4, '127.0.0.1', echoPort, false, Buffer.from('from-main'), 5000);
      });
      console.log('MAIN ' + r.errno + ' ' + (r.reply ? r.reply.toString() : ''));
      closed = true;
      silent.close();
      slow.close();
      echo.close();
    })().catch((e) => { console.error('SCRIPT ' + e.stack); process.exit(3); });`;
  const res = await runNode(script, { args: [addonPath()], timeoutMs: 120_000 });
  t.equal(res.code, 0, `the process exits 0 (${describeChild(res)})`);
  t.equal(res.signal, null, 'not killed by a signal');
  t.notMatch(res.stderr, /FATAL ERROR/, 'no FATAL ERROR on stderr');
  t.notMatch(res.stderr, CRASH_RE, 'no crash or sanitizer report');
  const rounds = [...res.stdout.matchAll(/^ROUND (\d+) (\d+)$/gm)];
  t.equal(rounds.length, 10, 'ten workers started and terminated');
  t.ok(
    rounds.every((m) => Number(m[2]) >= 100),
    `each worker had at least 100 exchanges in flight when terminated (${rounds.map((m) => m[2]).join(', ')})`,
  );
  t.match(res.stdout, /^MAIN 0 from-main$/m, "the main thread's engine still answers");
});

/**
 * The real addon behind a proxy (the setBinding test door) that records every result the addon
 * delivers, so that a test can tell whether a job it submitted straight to the addon ran.
 */
function recordingBinding(t: Test) {
  const real = getBinding();
  const delivered = new Set<number>();
  // The addon's own properties are read-only: the proxy defines its init rather than assigning it.
  const init: NativeBinding['init'] = (onResults) =>
    real.init((rs: NativeResult[]) => {
      for (const r of rs) delivered.add(r.id);
      onResults(rs);
    });
  const proxy = Object.create(real, { init: { value: init } }) as NativeBinding;
  const prev = setBinding(proxy);
  t.teardown(() => {
    // Anything a broken addon did queue is failed now, so nothing keeps the process alive.
    real.cancelAll();
    setBinding(prev);
  });
  return { real, delivered };
}

t.test('defect 5: bad argument types straight to the addon throw TypeError and queue nothing', async (t) => {
  const { real, delivered } = recordingBinding(t);
  const echo = await udpServer((m) => m);
  t.teardown(echo.close);
  const ok = Buffer.from('payload');
  // A job that is fine in every way but the one argument under test.
  const good = (id: number): unknown[] => [id, -1, 4, '127.0.0.1', echo.port, false, ok, 2000];
  const bad = (id: number, i: number, v: unknown): unknown[] => {
    const a = good(id);
    a[i] = v;
    return a;
  };
  // Start the engine (and its thread) first, so the counters below are meaningful.
  await exchange({ server: '127.0.0.1', port: echo.port, payload: ok, timeoutMs: 2000 });

  // submitBatch: one packed record (native/addon.cc SubmitBatch), fine but for the fields overridden.
  const rec = (
    n: number,
    o: {
      ns?: number;
      addr?: number;
      family?: number;
      tcp?: number;
      port?: number;
      timeout?: number;
      qend?: number;
      len?: number;
      delay?: number;
      hold?: number;
    } = {},
  ) => {
    const b = Buffer.alloc(36 + ok.length);
    b.writeUInt32LE(n, 0);
    b.writeInt32LE(o.ns ?? -1, 4);
    b.writeUInt32LE(o.addr ?? 0, 8);
    b[12] = o.family ?? 4;
    b[13] = o.tcp ?? 0;
    b.writeUInt16LE(o.port ?? echo.port, 14);
    b.writeUInt32LE(o.timeout ?? 2000, 16);
    b.writeUInt32LE(o.qend ?? 0, 20);
    b.writeUInt32LE(o.len ?? ok.length, 24);
    b.writeUInt32LE(o.delay ?? 0, 28);
    b.writeUInt32LE(o.hold ?? 1, 32);
    ok.copy(b, 36);
    return b;
  };
  const batch = (packed: unknown, fds: unknown = [], addrs: unknown = ['127.0.0.1']): unknown[] => [packed, fds, addrs];

  let id = 0x7ff00000;
  const cases: Array<[string, (id: number) => unknown[], 'submit' | 'submitLinkDump' | 'submitBatch']> = [
    ['batch: packed as a plain array', (n) => batch([...rec(n)]), 'submitBatch'],
    ['batch: a record cut short', (n) => batch(rec(n).subarray(0, 20)), 'submitBatch'],
    ['batch: netns fd index out of range', (n) => batch(rec(n, { ns: 0 })), 'submitBatch'],
    ['batch: netns fd index -2', (n) => batch(rec(n, { ns: -2 })), 'submitBatch'],
    ['batch: address index out of range', (n) => batch(rec(n, { addr: 1 })), 'submitBatch'],
    ['batch: family 5', (n) => batch(rec(n, { family: 5 })), 'submitBatch'],
    ['batch: tcp 2', (n) => batch(rec(n, { tcp: 2 })), 'submitBatch'],
    ['batch: port 0', (n) => batch(rec(n, { port: 0 })), 'submitBatch'],
    ['batch: timeout 0', (n) => batch(rec(n, { timeout: 0 })), 'submitBatch'],
    ['batch: timeout 120001', (n) => batch(rec(n, { timeout: 120_001 })), 'submitBatch'],
    ['batch: payload length past the buffer', (n) => batch(rec(n, { len: ok.length + 1 })), 'submitBatch'],
    ['batch: payload length 0', (n) => batch(rec(n, { len: 0 })), 'submitBatch'],
    ['batch: questionEnd past the payload', (n) => batch(rec(n, { qend: ok.length + 1 })), 'submitBatch'],
    ['batch: startDelayMs 600001', (n) => batch(rec(n, { delay: 600_001 })), 'submitBatch'],
    ['batch: startDelayMs 2^32-1', (n) => batch(rec(n, { delay: 0xffffffff })), 'submitBatch'],
    ['batch: holdMs 1001', (n) => batch(rec(n, { hold: 1001 })), 'submitBatch'],
    ['batch: nsFds holding a string', (n) => batch(rec(n, { ns: 0 }), ['3']), 'submitBatch'],
    ['batch: addresses holding a number', (n) => batch(rec(n), [], [0x7f000001]), 'submitBatch'],
    ['batch: a good record, then a bad one', (n) => batch(Buffer.concat([rec(n), rec(n + 0x100000, { port: 0 })])), 'submitBatch'],
    ['batch: an address that is not one', (n) => batch(rec(n), [], ['not-an-ip']), 'submitBatch'],
    ['port as a string', (n) => bad(n, 4, String(echo.port)), 'submit'],
    ['port 0', (n) => bad(n, 4, 0), 'submit'],
    ['port 70000', (n) => bad(n, 4, 70_000), 'submit'],
    ['timeout NaN', (n) => bad(n, 7, Number.NaN), 'submit'],
    ['timeout -1', (n) => bad(n, 7, -1), 'submit'],
    ['timeout Infinity', (n) => bad(n, 7, Number.POSITIVE_INFINITY), 'submit'],
    ['timeout as a string', (n) => bad(n, 7, '2000'), 'submit'],
    ['payload as a string', (n) => bad(n, 6, 'payload'), 'submit'],
    ['payload as a plain array', (n) => bad(n, 6, [1, 2, 3]), 'submit'],
    ['payload as a Float64Array', (n) => bad(n, 6, new Float64Array(4)), 'submit'],
    ['payload as a DataView', (n) => bad(n, 6, new DataView(new ArrayBuffer(8))), 'submit'],
    ['payload empty', (n) => bad(n, 6, Buffer.alloc(0)), 'submit'],
    ['TCP payload of 70,000 bytes', (n) => [n, -1, 4, '127.0.0.1', echo.port, true, Buffer.alloc(70_000, 1), 2000], 'submit'],
    ['the timeout argument missing', (n) => good(n).slice(0, 7), 'submit'],
    ['every argument but the id missing', (n) => [n], 'submit'],
    ['netns fd as a string', (n) => bad(n, 1, '3'), 'submit'],
    ['netns fd 1.5', (n) => bad(n, 1, 1.5), 'submit'],
    ['family 5', (n) => bad(n, 2, 5), 'submit'],
    ['address as a number', (n) => bad(n, 3, 0x7f000001), 'submit'],
    ['tcp as a string', (n) => bad(n, 5, 'false'), 'submit'],
    ['id as a string', () => bad(0, 0, '42'), 'submit'],
    ['link dump: netns fd as a string', (n) => [n, '3'], 'submitLinkDump'],
    ['link dump: timeout NaN', (n) => [n, -1, Number.NaN], 'submitLinkDump'],
  ];
  const used: number[] = [];
  const before = real.stats();
  for (const [what, args, method] of cases) {
    const n = ++id;
    used.push(n);
    // eslint-disable-next-line @typescript-eslint/unbound-method -- called with fn.apply(real, ...) below
    const fn = real[method] as (...a: unknown[]) => unknown;
    let threw: unknown = null;
    let returned: unknown;
    const s0 = real.stats();
    try {
      returned = fn.apply(real, args(n));
    } catch (err) {
      threw = err;
    }
    const s1 = real.stats();
    const isError = (x: unknown) => x !== null && typeof x === 'object' && typeof (x as { errno?: unknown }).errno === 'number';
    // submitBatch refuses per job: an array with an error for each.
    const refused = isError(returned) || (Array.isArray(returned) && returned.length > 0 && returned.every(isError));
    t.ok(threw instanceof TypeError || refused, `${what}: TypeError or an error returned (threw ${String(threw)}, returned ${JSON.stringify(returned)})`);
    t.equal(s1.inFlight, s0.inFlight, `${what}: nothing in flight`);
    t.equal(s1.queued, s0.queued, `${what}: nothing queued`);
  }
  // A good job after them: once it is back, the engine has seen everything submitted before it.
  const r = await exchange({ server: '127.0.0.1', port: echo.port, payload: ok, timeoutMs: 2000 });
  t.equal(r.reply.toString(), 'payload');
  await sleep(200); // a broken addon's immediate failures (port 0, timeout 0) would be back by now
  const after = real.stats();
  t.same(
    used.filter((n) => delivered.has(n)),
    [],
    'no result was ever delivered for a rejected submit',
  );
  t.equal(after.completed, before.completed + 1, 'the engine completed only the good job');
  t.equal(after.inFlight, before.inFlight, 'nothing left in flight');
  t.equal(after.queued, 0, 'nothing left queued');
});

t.test('defect 6: cancelAll() cancels only the jobs submitted before it', async (t) => {
  const silent = await udpServer(() => null);
  const echo = await udpServer((m) => m);
  t.teardown(() => {
    silent.close();
    echo.close();
  });
  const req = (port: number, timeoutMs: number): ExchangeRequest => ({ server: '127.0.0.1', port, payload: Buffer.from('q'), timeoutMs });
  const outcome = (p: Promise<ExchangeReply>) =>
    within(
      p.then(
        (r) => `ok:${r.reply.toString()}`,
        (e: unknown) => codeOf(e),
      ),
      10_000,
      'exchange',
    );
  // Twenty rounds each way: A still queued in the engine when cancelAll() runs (same tick),
  // and A already in flight (its socket open, waiting for a reply).
  const queued: Array<[string, string]> = [];
  const inFlight: Array<[string, string]> = [];
  for (let i = 0; i < 20; i++) {
    const a = outcome(exchange(req(silent.port, 5000)));
    cancelAll();
    const b = outcome(exchange(req(echo.port, 5000)));
    queued.push([await a, await b]);
  }
  for (let i = 0; i < 20; i++) {
    const a = outcome(exchange(req(silent.port, 5000)));
    await sleep(20);
    cancelAll();
    const b = outcome(exchange(req(echo.port, 5000)));
    inFlight.push([await a, await b]);
  }
  t.same(queued, Array(20).fill(['ECANCELED', 'ok:q']), 'A queued: A cancelled, B (submitted after cancelAll) answered');
  t.same(inFlight, Array(20).fill(['ECANCELED', 'ok:q']), 'A in flight: A cancelled, B answered');
  t.equal(engineStats().inFlight, 0);
});

t.test('defect 9: UDP datagrams that are not the reply are ignored while the exchange waits for it', async (t) => {
  const cases: Array<[SpoofKind, number]> = [
    ['wrong-id', 20_000],
    ['empty', 1],
    ['wrong-question', 1],
    ['wrong-question', 500],
  ];
  // The spoofed datagrams are what they claim to be (else the test below proves nothing).
  const query = packet.decode(buildQuery({ name: NAME, type: 'A', class: 'IN', id: 0xfffe }).packet);
  const wrongIds = spoofsFor(resolveOptions({ spoof: 'wrong-id' }), query, 70_000).map((b) => b.readUInt16BE(0));
  t.notOk(wrongIds.includes(0xfffe), 'wrong-id: never the query ID, across a whole wrap of the ID space');
  t.equal(new Set(wrongIds).size, 0xffff, 'wrong-id: every other ID in turn');
  const [wq] = spoofsFor(resolveOptions({ spoof: 'wrong-question' }), query, 1).map((b) => packet.decode(b));
  t.equal(wq!.id, 0xfffe, 'wrong-question: the query ID');
  t.not(wq!.questions?.[0]?.name.toLowerCase(), NAME, 'wrong-question: another name (even ignoring case)');
  t.same(
    spoofsFor(resolveOptions({ spoof: 'empty' }), query, 2).map((b) => b.length),
    [0, 0],
    'empty: zero-length datagrams',
  );
  for (const [spoof, spoofCount] of cases) {
    const r = await startResponder({ spoof, spoofCount, addresses: ['10.96.0.1'], wrongAddresses: ['10.96.0.254'] });
    t.teardown(() => r.close());
    let ignored = -1;
    const result = await within(
      probe(
        { server: '127.0.0.1', port: r.port, name: NAME, timeoutMs: 20_000, expectAnswers: ['10.96.0.1'] },
        {
          exchange: async (req) => {
            const reply = await exchange(req);
            ignored = reply.ignored ?? 0;
            return reply;
          },
        },
      ),
      30_000,
      'probe',
    );
    const what = `${spoofCount} ${spoof} datagram(s) then the reply`;
    t.equal(r.stats.spoofed, spoofCount, `${what}: the responder sent them all`);
    t.equal(result.reason, 'ok', `${what}: ok (${result.detail ?? ''})`);
    t.same(result.answers, ['10.96.0.1'], `${what}: the answer is the real reply's`);
    t.ok(ignored >= 1 && ignored <= spoofCount, `${what}: ${ignored} datagram(s) counted as ignored`);
    t.comment(`${what}: ${ignored} of ${spoofCount} seen and ignored (the rest dropped by the kernel, if any)`);
  }
  // The exchange API itself: the reply it resolves with carries the query's ID.
  const r = await startResponder({ spoof: 'wrong-id', spoofCount: 100 });
  t.teardown(() => r.close());
  const q = buildQuery({ name: NAME, type: 'A', class: 'IN', id: 0x1234 });
  const reply = await exchange({ server: '127.0.0.1', port: r.port, payload: q.packet, timeoutMs: 10_000 });
  t.equal(reply.reply.readUInt16BE(0), 0x1234, 'exchange() resolves with the datagram carrying the query ID');
});

t.test('defect 10: a result whose settlement throws does not leave the rest of its batch, or itself, unsettled', async (t) => {
  // A fake addon (the setBinding test door) that delivers one batch: a poisoned result (reading
  // its errno throws), an answer and a timeout.
  let deliver: ((rs: NativeResult[]) => void) | undefined;
  const ids: number[] = [];
  const fake: NativeBinding = {
    init: (cb) => {
      deliver = cb;
    },
    submit: (id) => {
      ids.push(id);
      return undefined;
    },
    submitLinkDump: () => ({ errno: 95, syscall: 'fake' }),
    cancelAll: () => undefined,
    stats: () => ({
      running: true,
      inFlight: 0,
      queued: 0,
      completed: 0,
      workerTid: 0,
      hostNetnsInode: 0,
      workerNetnsInode: 0,
      fatalErrno: 0,
      fatalSyscall: '',
    }),
    notify: () => undefined,
    openNetns: () => ({ errno: 95, syscall: 'fake' }),
    closeNetns: () => false,
    statNetnsIds: () => undefined,
    readFileInRoot: () => Promise.reject(new Error('fake')),
  };
  const prev = setBinding(fake);
  t.teardown(() => {
    setBinding(prev);
  });
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  process.on('warning', onWarning);
  t.teardown(() => {
    process.off('warning', onWarning);
  });
  const req: ExchangeRequest = { server: '127.0.0.1', port: 53, payload: Buffer.from('q'), timeoutMs: 1000 };
  const settled = [exchange(req), exchange(req), exchange(req)].map((p, i) =>
    within(
      p.then(
        (r) => `ok:${r.reply.toString()}`,
        (e: unknown) => `rejected:${codeOf(e)}`,
      ),
      2000,
      `promise ${i}`,
    ).catch((e: Error) => e.message),
  );
  // Exchanges reach the binding together at the next microtask (binding.ts flushQueued).
  await Promise.resolve();
  t.equal(ids.length, 3);
  const poisoned = {
    id: ids[0]!,
    get errno(): number {
      throw new Error('poisoned result');
    },
    syscall: '',
    reply: null,
    rttNs: 0,
    ignored: 0,
  } as NativeResult;
  deliver!([
    poisoned,
    { id: ids[1]!, errno: 0, syscall: '', reply: Buffer.from('answer'), rttNs: 1000, ignored: 0 },
    { id: ids[2]!, errno: 110, syscall: 'recv', reply: null, rttNs: 0, ignored: 0 },
  ]);
  const [first, second, third] = await Promise.all(settled);
  t.equal(second, 'ok:answer', 'the result after the poisoned one is settled');
  t.equal(third, 'rejected:ETIMEDOUT', 'and the one after that');
  t.match(first, /^rejected:/, 'the poisoned one is settled too (rejected), not left hanging');
});
