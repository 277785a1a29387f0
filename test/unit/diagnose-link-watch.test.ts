// HostLinkWatch with a stand-in for the addon's watch: two overlapping watches, the changed
// ifindexes, lost changes as "all", take/restore. The real watch on the host's rtnetlink is
// checked in test/integration/diagnose.test.ts.
import t from 'tap';
import { HostLinkWatch, touched } from '../../src/diagnose/link-watch.js';

const RTM_NEWLINK = 16;
const align = (n: number): number => (n + 3) & ~3;
/** One RTM_NEWLINK for ifindex `index`, named. */
function newlink(index: number, name: string): Buffer {
  const ifname = Buffer.from(`${name}\0`);
  const attr = Buffer.alloc(align(4 + ifname.length));
  attr.writeUInt16LE(4 + ifname.length, 0);
  attr.writeUInt16LE(3, 2); // IFLA_IFNAME
  ifname.copy(attr, 4);
  const ifi = Buffer.alloc(16);
  ifi.writeInt32LE(index, 4);
  const hdr = Buffer.alloc(16);
  hdr.writeUInt32LE(16 + ifi.length + attr.length, 0);
  hdr.writeUInt16LE(RTM_NEWLINK, 4);
  return Buffer.concat([hdr, ifi, attr]);
}

interface Call {
  timeoutMs: number;
  resolve: (b: Buffer | null) => void;
  reject: (e: unknown) => void;
}

function fakeWatch(): { calls: Call[]; watch: (ms: number) => Promise<Buffer | null> } {
  const calls: Call[] = [];
  return {
    calls,
    watch: (timeoutMs) => new Promise((resolve, reject) => calls.push({ timeoutMs, resolve, reject })),
  };
}
const tick = () => new Promise((r) => setImmediate(r));

t.test('two watches overlap, half a period apart; each restarts when it ends', async (t) => {
  const f = fakeWatch();
  const w = new HostLinkWatch({ watch: f.watch, periodMs: 60_000 });
  w.start();
  w.start();
  t.same(
    f.calls.map((c) => c.timeoutMs),
    [60_000, 30_000],
    'both listen from the start; a second start() adds none',
  );
  f.calls[1]!.resolve(null); // the short one times out: quiet
  await tick();
  t.equal(f.calls.length, 3);
  t.equal(f.calls[2]!.timeoutMs, 60_000, 'then runs whole periods');
  t.same(w.take(), { all: false, indexes: new Set() }, 'no change');
  f.calls[0]!.resolve(Buffer.concat([newlink(7, 'veth7'), newlink(9, 'veth9')]));
  f.calls[2]!.resolve(newlink(7, 'veth7')); // the other watch sees the same change
  await tick();
  t.equal(f.calls.length, 5, 'both restarted');
  t.same(w.take(), { all: false, indexes: new Set([7, 9]) });
  t.same(w.take(), { all: false, indexes: new Set() }, 'take() forgets');
  t.equal(w.changes, 3);
  w.stop();
  for (const c of f.calls.slice(3)) c.resolve(null);
  await w.ended;
  t.equal(f.calls.length, 5, 'stopped: no new watch');
});

t.test('a failed watch or unparsable messages: every vantage counts as changed; restore() puts changes back', async (t) => {
  const f = fakeWatch();
  const errors: string[] = [];
  const w = new HostLinkWatch({ watch: f.watch, periodMs: 1000, retryMs: 5, onError: (m) => errors.push(m) });
  w.start();
  f.calls[0]!.reject(Object.assign(new Error('recvmsg: ENOBUFS'), { code: 'ENOBUFS' }));
  await new Promise((r) => setTimeout(r, 30));
  t.same(errors, ['recvmsg: ENOBUFS']);
  t.equal(f.calls.length, 3, 'it waits retryMs, then watches again');
  const c = w.take();
  t.equal(c.all, true);
  t.equal(w.take().all, false);
  w.restore(c);
  t.equal(w.take().all, true, 'restored');
  w.restore({ all: false, indexes: new Set([4]) });
  t.same([...w.take().indexes], [4]);
  f.calls[1]!.resolve(Buffer.from([1, 2, 3]));
  await tick();
  t.equal(w.take().all, true, 'bytes that are not link messages still mean "something changed"');
  w.stop();
  f.calls[2]!.reject(new Error('cancelled'));
  f.calls[3]?.resolve(null);
  await w.ended;
  t.same(errors, ['recvmsg: ENOBUFS'], 'a failure after stop() is not reported');
});

t.test('a watch that keeps failing (not ENOBUFS): nothing counts as changed, and it backs off', async (t) => {
  let calls = 0;
  const errors: string[] = [];
  const w = new HostLinkWatch({
    watch: () => {
      calls++;
      return Promise.reject(Object.assign(new Error('socket: EPERM'), { code: 'EPERM' }));
    },
    periodMs: 60_000,
    retryMs: 10,
    onError: (m) => errors.push(m),
  });
  w.start();
  await new Promise((r) => setTimeout(r, 300));
  w.stop();
  t.same(w.take(), { all: false, indexes: new Set() }, 'a failing watch does not make every vantage due');
  // Two loops, each waiting 10, 20, 40, 80, 160 ms: at most 5 tries each in 300 ms (20+ without backoff).
  t.ok(calls >= 2 && calls <= 12, `${calls} tries in 300 ms`);
  t.equal(errors.length, calls);
});

t.test('touched()', async (t) => {
  t.equal(touched(undefined, [1]), false);
  t.equal(touched({ all: true, indexes: new Set() }, undefined), true);
  t.equal(touched({ all: false, indexes: new Set([2]) }, [1, 2]), true);
  t.equal(touched({ all: false, indexes: new Set([3]) }, [1, 2]), false);
  t.equal(touched({ all: false, indexes: new Set([3]) }, undefined), false);
});
