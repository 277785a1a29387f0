// Basic authentication against bcrypt hashes, with the real worker thread:
// right and wrong passwords, unknown users, the cache, the bound on queued
// verifications, and an event loop that stays free while bcrypt runs.
import t from 'tap';
import bcrypt from 'bcryptjs';
import { BasicAuth, BcryptWorker, CACHE_SIZE, MAX_QUEUED, parseBasicAuth, type HashComputer } from '../../src/http/basic-auth.js';

/** An htpasswd -nbB hash ($2y$, cost 5) of "s3cret". */
const HASH = '$2y$05$Sb48ykBhBh9Ne6pByVZUdOdhfk0b1bpiAgkG2NarKdo7ArzsLOxUW';
const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** Counts the computations a BcryptWorker does. */
function counted(inner = new BcryptWorker()): HashComputer & { calls: number } {
  const c = {
    calls: 0,
    compute: (p: string, h: string) => {
      c.calls++;
      return inner.compute(p, h);
    },
    close: () => inner.close(),
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
  const slow = bcrypt.hashSync('right', 10);
  const users = new Map([['alice', slow]]);
  // Warm the worker (thread start) and measure one verification.
  let t0 = performance.now();
  t.equal(await auth.check(basic('alice', 'right'), users), 'ok');
  const oneMs = performance.now() - t0;
  t.comment(`one bcrypt verification at cost 10 in the worker: ${oneMs.toFixed(0)} ms (thread start included)`);

  let maxStall = 0;
  let last = performance.now();
  const ticker = setInterval(() => {
    const now = performance.now();
    maxStall = Math.max(maxStall, now - last);
    last = now;
  }, 5);
  t0 = performance.now();
  const verdicts = await Promise.all(Array.from({ length: 40 }, (_, i) => auth.check(basic('alice', `wrong-${i}`), users)));
  const floodMs = performance.now() - t0;
  // A scraper whose password is cached is never queued behind the flood.
  const during = auth.check(basic('alice', 'right'), users);
  clearInterval(ticker);
  const busy = verdicts.filter((v) => v === 'busy').length;
  t.equal(verdicts.filter((v) => v === 'unauthorized').length, 1 + MAX_QUEUED, `one running and ${MAX_QUEUED} queued were verified (and refused)`);
  t.equal(busy, 40 - 1 - MAX_QUEUED, 'the rest were refused at once');
  t.equal(await during, 'ok', 'the cached scraper passes');
  t.equal(worker.refused, busy);
  t.comment(`40 wrong passwords at once: ${floodMs.toFixed(0)} ms; longest event loop stall meanwhile ${maxStall.toFixed(1)} ms`);
  // Relative, not a fixed budget: on the event loop, one cost-10 verification alone would stall it
  // for about oneMs; a busy machine slows the ticker and the worker alike.
  t.ok(
    maxStall < Math.max(60, oneMs),
    `the event loop was never blocked by bcrypt (longest gap ${maxStall.toFixed(1)} ms; one verification ${oneMs.toFixed(0)} ms)`,
  );
});

t.test('the worker stops when idle and starts again on demand; a bad stored hash is refused', async (t) => {
  const worker = new BcryptWorker({ idleMs: 50 });
  t.teardown(() => worker.close());
  t.notOk(worker.alive, 'not started before the first verification');
  t.equal(await worker.compute('s3cret', HASH), HASH);
  t.ok(worker.alive);
  await new Promise((r) => setTimeout(r, 300));
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
