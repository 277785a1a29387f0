// openVantage against this very process: opening one's own /proc/<pid>/ns/net
// needs no privilege, so the checks run without root.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { openVantage } from '../../src/netns/guard.js';
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
