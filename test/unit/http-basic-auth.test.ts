// Basic authentication against bcrypt hashes, with the real worker thread:
// right and wrong passwords, unknown users, the cache, the bound on queued
// verifications, and an event loop that stays free while bcrypt runs.
import t from 'tap';
import bcrypt from 'bcryptjs';
import { BasicAuth, BcryptWorker, CACHE_SIZE, MAX_QUEUED, parseBasicAuth, type HashComputer } from '../../src/http/basic-auth.js';

/** An htpasswd -nbB hash ($2y$, cost 5) of "s3cret". */
const HASH = '$2y$05$Sb48ykBhBh9Ne6pByVZUdOdhfk0b1bpiAgkG2NarKdo7ArzsLOxUW';
const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/**
 * One worker thread for the tests that are not about the worker's own life: each thread's start
 * costs about 0.3 s of CPU under tap's module hooks.
 */
const shared = new BcryptWorker();
t.teardown(() => shared.close());

/** Counts the computations the shared BcryptWorker does for one BasicAuth (whose close() leaves it running). */
function counted(): HashComputer & { calls: number } {
  const c = {
    calls: 0,
    compute: (p: string, h: string) => {
      c.calls++;
      return shared.compute(p, h);
    },
    close: () => Promise.resolve(),
  };
  return c;
}

t.test('parseBasicAuth', async (t) => {
  t.same(parseBasicAuth(basic('alice', 's3cret')), { user: 'alice', password: 's3cret' });
  t.same(parseBasicAuth(basic('alice', 'a:b:c')), { user: 'alice', password: 'a:b:c' }, 'the password may hold ":"');
  t.same(parseBasicAuth(basic('', '')), { user: '', password: '' });
  t.same(parseBasicAuth(`bAsIc   ${Buffer.from('u:p').toString('base64')}`), { user: 'u', password: 'p' }, 'the scheme is case-insensitive');
  t.same(parseBasicAuth(basic('ünï', 'pässwörd')), { user: 'ünï', password: 'pässwörd' }, 'UTF-8');
  for (const bad of [
    undefined,
    '',
    'Basic',
    'Basic ',
    'Bearer abc',
    `Basic ${Buffer.from('nocolon').toString('base64')}`,
    'Basic a',
    'Basic ab!=',
    `Basic ${'A'.repeat(2000)}`,
  ]) {
    t.equal(parseBasicAuth(bad), null, JSON.stringify(bad)?.slice(0, 40));
  }
});

t.test('right password ok, wrong or missing refused; $2y$ hashes from htpasswd verify', async (t) => {
  const computer = counted();
  const auth = new BasicAuth({ computer });
  t.teardown(() => auth.close());
  const users = new Map([['alice', HASH]]);
  t.equal(await auth.check(basic('alice', 's3cret'), users), 'ok');
  t.equal(await auth.check(basic('alice', 'wrong'), users), 'unauthorized');
  t.equal(await auth.check(basic('alice', 's3cret!'), users), 'unauthorized');
  t.equal(await auth.check(undefined, users), 'unauthorized');
  t.equal(await auth.check('Basic !!!', users), 'unauthorized');
  t.equal(await auth.check(basic('alice', 's3cret'), new Map()), 'unauthorized', 'no users: nobody (the server does not ask then)');
  t.equal(computer.calls, 3, 'one bcrypt computation per well-formed attempt, none for the cached success');
});

t.test('an unknown user costs a verification too, and is refused even with a configured user’s password', async (t) => {
  const computer = counted();
  const auth = new BasicAuth({ computer });
  t.teardown(() => auth.close());
  const users = new Map([['alice', HASH]]);
  t.equal(await auth.check(basic('mallory', 's3cret'), users), 'unauthorized');
  t.equal(await auth.check(basic('mallory', 's3cret'), users), 'unauthorized');
  t.equal(computer.calls, 2, 'each attempt of an unknown user computes bcrypt (no timing difference, nothing cached)');
  t.equal(auth.cached, 0);
});

t.test('the cache: successes only, keyed by user, password and stored hash, bounded', async (t) => {
  const computer = counted();
  const auth = new BasicAuth({ computer, cacheSize: 2 });
  t.teardown(() => auth.close());
  const other = bcrypt.hashSync('other', 4);
  const users = new Map([
    ['alice', HASH],
    ['bob', other],
  ]);
  t.equal(await auth.check(basic('alice', 's3cret'), users), 'ok');
  t.equal(await auth.check(basic('alice', 's3cret'), users), 'ok');
  t.equal(computer.calls, 1, 'the second login is a cache hit');
  t.equal(await auth.check(basic('alice', 's3cret'), new Map([['alice', bcrypt.hashSync('s3cret', 4)]])), 'ok');
  t.equal(computer.calls, 2, 'a new stored hash (password changed in the file) is verified again');
  t.equal(await auth.check(basic('alice', 'nope'), users), 'unauthorized');
  t.equal(await auth.check(basic('alice', 'nope'), users), 'unauthorized');
  t.equal(computer.calls, 4, 'failures are not cached');
  t.equal(await auth.check(basic('bob', 'other'), users), 'ok');
  t.equal(auth.cached, 2, 'at most cacheSize entries');
  t.equal(await auth.check(basic('bob', 'other'), users), 'ok');
  t.equal(computer.calls, 5);
  t.equal(CACHE_SIZE, 64);
});

t.test('a flood of wrong passwords: one verification at a time, a few queued, the rest refused at once; the event loop stays free', async (t) => {
  const worker = new BcryptWorker();
  const auth = new BasicAuth({ computer: worker });
  t.teardown(() => auth.close());
  // Cost 8 (bcrypt on the event loop would hold it for tens of ms per verification, all of
  // the flood's time): what is tested is where and how many verifications run, not how long.
  const slow = bcrypt.hashSync('right', 8);
  const users = new Map([['alice', slow]]);
  // Start the thread (a cost-5 hash), then one verification at cost 8, which the cache keeps.
  t.equal(await worker.compute('s3cret', HASH), HASH);
  let t0 = performance.now();
  t.equal(await auth.check(basic('alice', 'right'), users), 'ok');
  const oneMs = performance.now() - t0;

  let maxStall = 0;
  let last = performance.now();
  const ticker = setInterval(() => {
    const now = performance.now();
    maxStall = Math.max(maxStall, now - last);
    last = now;
  }, 5);
  const elu0 = performance.eventLoopUtilization();
  t0 = performance.now();
  const verdicts = await Promise.all(Array.from({ length: 40 }, (_, i) => auth.check(basic('alice', `wrong-${i}`), users)));
  const floodMs = performance.now() - t0;
  const elu = performance.eventLoopUtilization(elu0);
  // A scraper whose password is cached is never queued behind the flood.
  const during = auth.check(basic('alice', 'right'), users);
  clearInterval(ticker);
  const busy = verdicts.filter((v) => v === 'busy').length;
  t.equal(verdicts.filter((v) => v === 'unauthorized').length, 1 + MAX_QUEUED, `one running and ${MAX_QUEUED} queued were verified (and refused)`);
  t.equal(busy, 40 - 1 - MAX_QUEUED, 'the rest were refused at once');
  t.equal(await during, 'ok', 'the cached scraper passes');
  t.equal(worker.refused, busy);
  t.equal(worker.computed, 3 + MAX_QUEUED, 'every verification was computed by the worker thread');
  t.comment(
    `one verification at cost 8 in the worker: ${oneMs.toFixed(0)} ms; 40 wrong passwords at once: ${floodMs.toFixed(0)} ms; ` +
      `longest event loop stall meanwhile ${maxStall.toFixed(1)} ms`,
  );
  // The share of the flood's time the event loop spent running code rather than waiting for
  // events: about 1 if bcrypt ran on it, a few % when it only waits for the worker's answers. A
  // busy machine slows the worker and the loop alike and does not move it (waiting is waiting).
  t.ok(elu.utilization < 0.5, `the event loop was idle while bcrypt ran: utilization ${(elu.utilization * 100).toFixed(1)} % of ${floodMs.toFixed(0)} ms`);
});

t.test('the worker stops when idle and starts again on demand; a bad stored hash is refused', async (t) => {
  const worker = new BcryptWorker({ idleMs: 50 });
  t.teardown(() => worker.close());
  t.notOk(worker.alive, 'not started before the first verification');
  t.equal(await worker.compute('s3cret', HASH), HASH);
  t.ok(worker.alive);
  // Polled (every 10 ms, for up to 10 s): when the thread has ended depends on the machine's load.
  for (let waited = 0; worker.alive && waited < 10_000; waited += 10) await new Promise((r) => setTimeout(r, 10));
  t.notOk(worker.alive, 'stopped after idleMs');
  t.equal(await worker.compute('x', '$2y$05$tooshort'), null, 'an unusable hash computes to null');
  t.ok(worker.alive, 'started again');
  t.equal(worker.pending, 0);
  await worker.close();
  t.notOk(worker.alive);
});

t.test('a worker that dies fails its jobs, and the next job starts a new one', async (t) => {
  const worker = new BcryptWorker({ workerUrl: new URL('data:text/javascript,process.exit(3)') });
  t.teardown(() => worker.close());
  await t.rejects(worker.compute('x', HASH), /exited|worker/);
  t.notOk(worker.alive);
  const auth = new BasicAuth({ computer: worker });
  await t.rejects(auth.check(basic('alice', 'x'), new Map([['alice', HASH]])), /worker/);
});
