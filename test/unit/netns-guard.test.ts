// openVantage against this very process: opening one's own /proc/<pid>/ns/net
// needs no privilege, so the checks run without root.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { VantageOpener, openVantage } from '../../src/netns/guard.js';
import { parseProcStat } from '../../src/netns/proc-stat.js';
import { repoPath } from '../support/paths.js';
import { selfVantage } from '../support/self-vantage.js';
import { vantageId } from '../../src/discovery/vantage.js';

const FIXTURES = repoPath('test/fixtures/proc');
const fdCount = (): number => fs.readdirSync('/proc/self/fd').length;

t.test('the discovered process and namespace: an open handle', async (t) => {
  const v = selfVantage();
  const r = openVantage(v);
  t.equal(r.ok, true);
  if (!r.ok) return;
  t.teardown(() => r.handle.close());
  t.equal(r.handle.inode, v.inode);
  t.equal(r.handle.dev, v.dev);
  t.equal(r.handle.path, `/proc/${process.pid}/ns/net`);
});

t.test('a different start time: the pid was reused; the fd is closed', async (t) => {
  const before = fdCount();
  const v = selfVantage();
  const r = openVantage({ ...v, startTime: v.startTime + 1 });
  t.match(r, { ok: false, reason: 'gone', why: 'pid-reused', detail: new RegExp(`pid ${process.pid} now has start time ${v.startTime}`) });
  t.equal(fdCount(), before, 'no fd left open');
});

t.test('same process, other namespace: netns changed', async (t) => {
  const before = fdCount();
  const v = selfVantage();
  const r = openVantage({ ...v, inode: v.inode + 1, id: vantageId(v.inode + 1) });
  t.match(r, { ok: false, reason: 'gone', why: 'netns-changed', detail: /is now in netns:\[\d+\]/ });
  t.equal(fdCount(), before);
});

t.test('an exited process: gone', async (t) => {
  const child = spawn('true', { stdio: 'ignore' });
  const pid = child.pid!;
  await new Promise((resolve) => child.on('exit', resolve));
  const r = openVantage(selfVantage({ pid }));
  t.match(r, { ok: false, reason: 'gone', why: 'exited', detail: new RegExp(`/proc/${pid}/ns/net: ENOENT`) });
});

t.test('the host vantage is opened through thread-self and checked by (dev, inode) only', async (t) => {
  const st = fs.statSync('/proc/thread-self/ns/net');
  const host = selfVantage({ dev: st.dev, inode: st.ino, pid: 999999, startTime: 1, hostNetwork: true, source: 'host' });
  const r = openVantage(host);
  t.equal(r.ok, true, 'a stale representative pid does not matter for the host');
  if (r.ok) {
    t.equal(r.handle.path, '/proc/thread-self/ns/net');
    r.handle.close();
  }
  t.match(openVantage({ ...host, inode: st.ino + 1 }), { ok: false, reason: 'gone', why: 'netns-changed' });
});

t.test('something that is not a namespace is inaccessible, not gone', async (t) => {
  const procRoot = path.join(FIXTURES, 'docker-v1');
  const r = openVantage(selfVantage({ pid: 5000 }), procRoot);
  t.match(r, { ok: false, reason: 'inaccessible', why: 'not-netns', detail: /is not a network namespace/ });
  t.match(openVantage(selfVantage(), 'relative/proc'), { ok: false, reason: 'inaccessible', why: 'not-netns', detail: /absolute path/ });
});

// VantageOpener: the daemon's opener, holding each process's /proc/<pid> across sweeps.
t.test('VantageOpener: one pinned directory per process, reused sweep after sweep, no fd left behind', async (t) => {
  const before = fdCount();
  const opener = new VantageOpener();
  const v = selfVantage();
  for (let i = 0; i < 50; i++) {
    const r = opener.open(v);
    t.equal(r.ok, true);
    if (!r.ok) return;
    if (i === 0) {
      t.equal(r.handle.path, `/proc/${process.pid}/ns/net`, 'messages name the real path, not /proc/self/fd/N');
      t.equal(r.handle.inode, v.inode);
      t.equal(r.handle.dev, v.dev);
    }
    r.handle.close();
  }
  t.equal(opener.pinned, 1);
  t.equal(fdCount(), before + 1, 'only the pinned directory stays open');
  opener.retain([v]);
  t.equal(opener.pinned, 1, 'kept while the process is a vantage');
  opener.retain([]);
  t.equal(opener.pinned, 0, 'closed once it is not');
  t.equal(fdCount(), before);
});

t.test('VantageOpener: another start time when pinning is a reused pid; nothing is held', async (t) => {
  const before = fdCount();
  const opener = new VantageOpener();
  const v = selfVantage();
  const r = opener.open({ ...v, startTime: v.startTime + 1 });
  t.match(r, { ok: false, reason: 'gone', why: 'pid-reused', detail: new RegExp(`pid ${process.pid} now has start time ${v.startTime}`) });
  t.equal(opener.pinned, 0);
  t.equal(fdCount(), before);
});

t.test('VantageOpener: a process that exits after it was pinned is gone (the held directory fails, whatever its pid becomes)', async (t) => {
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  t.teardown(() => child.kill('SIGKILL'));
  const pid = child.pid!;
  await new Promise((resolve) => child.once('spawn', resolve));
  // Wait until the child is sleep itself (not the forked node between fork and exec).
  let v = selfVantage({ pid });
  for (let i = 0; i < 200 && !fs.readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('sleep'); i++) await new Promise((r) => setTimeout(r, 10));
  const { startTime } = parseProcStat(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'))!;
  v = { ...v, startTime };
  const before = fdCount();
  const opener = new VantageOpener();
  const first = opener.open(v);
  t.equal(first.ok, true, 'alive: opens');
  if (first.ok) first.handle.close();
  t.equal(opener.pinned, 1);
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  const r = opener.open(v);
  t.match(r, { ok: false, reason: 'gone', why: 'exited', detail: new RegExp(`/proc/${pid}/ns/net: (ESRCH|ENOENT), the process has exited`) });
  t.equal(opener.pinned, 0, 'the dead process is let go');
  t.equal(fdCount(), before);
});

t.test('VantageOpener: same process, other namespace; the host through thread-self; closed means nothing held', async (t) => {
  const opener = new VantageOpener();
  const v = selfVantage();
  t.match(opener.open({ ...v, inode: v.inode + 1, id: vantageId(v.inode + 1) }), {
    ok: false,
    reason: 'gone',
    why: 'netns-changed',
    detail: /is now in netns:\[\d+\]/,
  });
  t.equal(opener.pinned, 1, 'the process is still the one discovered: its directory stays');
  const st = fs.statSync('/proc/thread-self/ns/net');
  const host = opener.open(selfVantage({ dev: st.dev, inode: st.ino, pid: 999999, startTime: 1, hostNetwork: true, source: 'host' }));
  t.equal(host.ok, true);
  if (host.ok) {
    t.equal(host.handle.path, '/proc/thread-self/ns/net');
    host.handle.close();
  }
  t.equal(opener.pinned, 1, 'the host holds no directory');
  opener.close();
  t.equal(opener.pinned, 0);
  const after = opener.open(v);
  t.equal(after.ok, true, 'a closed opener still opens, one-shot');
  if (after.ok) after.handle.close();
  t.equal(opener.pinned, 0);
  t.throws(() => new VantageOpener('relative/proc'), /procRoot: expected an absolute path/);
});

t.test('VantageOpener: not a namespace is inaccessible, as with openVantage', async (t) => {
  const procRoot = path.join(FIXTURES, 'docker-v1');
  const { startTime } = parseProcStat(fs.readFileSync(path.join(procRoot, '5000/stat'), 'utf8'))!;
  const opener = new VantageOpener(procRoot);
  const r = opener.open(selfVantage({ pid: 5000, startTime }));
  t.match(r, { ok: false, reason: 'inaccessible', why: 'not-netns', detail: /is not a network namespace/ });
  opener.close();
});
