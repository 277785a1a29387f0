// The /proc scan and the race guard on the real /proc: two namespaces this
// test creates, one long-running process in each, each with its own
// resolv.conf through /etc/netns/NAME/resolv.conf. No packets are sent.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { openVantage } from '../../src/netns/guard.js';
import { scanProc } from '../../src/discovery/proc-scan.js';
import { readResolvConf } from '../../src/discovery/resolv-conf.js';
import { mergeVantages } from '../../src/discovery/vantage.js';
import { type Vantage } from '../../src/model.js';
import { createNetns, netnsPath, randomPrefix, removeByPrefix } from '../support/netns.js';
import { requireRoot } from '../support/root.js';
import { sleep, which } from '../support/run.js';

interface Started {
  name: string;
  inode: number;
  child: ChildProcess;
  pid: number;
}

const startTimeOf = (pid: number): number => Number(fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').pop()!.split(' ')[19]);
const commOf = (pid: number): string => fs.readFileSync(`/proc/${pid}/comm`, 'utf8').trim();

/** Starts `cmd 60` inside the namespace; resolves once the process has exec'd `cmd` there. */
async function startIn(name: string, cmd: string, comm: string): Promise<Started> {
  const inode = fs.statSync(netnsPath(name)).ino;
  const child = spawn(which('ip'), ['netns', 'exec', name, cmd, '60'], { stdio: 'ignore' });
  const pid = child.pid!;
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      // ip netns exec setns()es and exec()s in place, so the pid is the command's.
      if (fs.statSync(`/proc/${pid}/ns/net`).ino === inode && commOf(pid) === comm) return { name, inode, child, pid };
    } catch {
      // not there yet, or it failed: the deadline decides
    }
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${cmd} did not start in netns ${name} (exit ${child.exitCode})`);
    await sleep(20);
  }
}

function stop(s: Started): Promise<void> {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    s.child.once('exit', () => resolve());
    s.child.kill('SIGKILL');
  });
}

t.test('scan finds test namespaces; the guard notices a killed process', async (t) => {
  if (!requireRoot(t, 'creates network namespaces and starts processes in them')) return;
  const prefix = randomPrefix('chp');
  const [nameA, nameB] = [`${prefix}-a`, `${prefix}-b`];
  const started: Started[] = [];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'chp-scan-'));
  t.teardown(async () => {
    await Promise.all(started.map(stop));
    await removeByPrefix(prefix);
    for (const n of [nameA, nameB]) fs.rmSync(`/etc/netns/${n}`, { recursive: true, force: true });
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  for (const [name, ns] of [
    [nameA, '192.0.2.10'],
    [nameB, '2001:db8::53'],
  ] as const) {
    await createNetns(name);
    fs.mkdirSync(`/etc/netns/${name}`, { recursive: true });
    fs.writeFileSync(`/etc/netns/${name}/resolv.conf`, `nameserver ${ns}\nsearch ${name}.test\n`);
  }
  // B runs sleep under a name with spaces and parentheses, to exercise the stat parser.
  const oddName = 'chp (x) y';
  const odd = path.join(tmp, oddName);
  fs.copyFileSync(fs.realpathSync(which('sleep')), odd);
  fs.chmodSync(odd, 0o755);
  started.push(await startIn(nameA, 'sleep', 'sleep'));
  started.push(await startIn(nameB, odd, oddName));
  const [a, b] = started as [Started, Started];

  const scan = await scanProc();
  const hostSt = fs.statSync('/proc/thread-self/ns/net');
  t.same(scan.host, { dev: hostSt.dev, inode: hostSt.ino }, 'host netns from /proc/thread-self/ns/net');
  t.match(scan.vantages[0], { hostNetwork: true, inode: hostSt.ino, dev: hostSt.dev }, 'the host vantage comes first');
  t.ok(scan.vantages[0]!.pidCount > 1);
  for (const s of [a, b]) {
    const found = scan.vantages.filter((v) => v.inode === s.inode);
    t.equal(found.length, 1, `netns ${s.name} found once`);
    t.match(found[0], { pid: s.pid, pidCount: 1, hostNetwork: false, startTime: startTimeOf(s.pid) }, `netns ${s.name}: pid and start time`);
    t.equal(found[0]!.podUid, undefined);
    t.same(found[0]!.containerIds, []);
  }
  t.equal(scan.vantages.find((v) => v.inode === b.inode)!.comm, oddName);
  for (const e of scan.errors) t.not(e.pid, a.pid, 'no error for the test processes');

  const vantages = mergeVantages(scan.vantages, [], { hostResolvConf: path.join(tmp, 'host-resolv.conf') });
  const va = vantages.find((v) => v.inode === a.inode) as Vantage;
  const vb = vantages.find((v) => v.inode === b.inode) as Vantage;
  t.equal(va.source, 'proc');
  t.equal(va.comm, 'sleep');
  t.equal(vb.comm, oddName);
  t.same(va.resolvConfFile, { root: `/proc/${a.pid}/root`, path: '/etc/resolv.conf' });
  const confA = await readResolvConf(va.resolvConfFile);
  t.equal(confA.path, `/proc/${a.pid}/root/etc/resolv.conf`);
  t.same(
    confA.parsed.nameservers.map((n) => n.address),
    ['192.0.2.10'],
    "A's own resolv.conf, read through its mount namespace",
  );
  t.same(confA.parsed.search, [`${nameA}.test`]);
  const confB = await readResolvConf(vb.resolvConfFile);
  t.same(
    confB.parsed.nameservers.map((n) => [n.address, n.family]),
    [['2001:db8::53', 6]],
  );

  const openA = openVantage(va);
  t.equal(openA.ok, true, 'a live vantage opens');
  if (openA.ok) {
    t.equal(openA.handle.inode, fs.statSync(netnsPath(nameA)).ino, 'the handle is netns A');
    openA.handle.close();
  }
  const host = vantages[0]!;
  const openHost = openVantage(host);
  t.equal(openHost.ok, true, 'the host vantage opens');
  if (openHost.ok) openHost.handle.close();

  await stop(b);
  const gone = openVantage(vb);
  t.match(gone, { ok: false, reason: 'gone', why: 'exited' }, 'the killed process is reported gone');

  const rescan = await scanProc();
  t.equal(
    rescan.vantages.find((v) => v.inode === b.inode),
    undefined,
    'a namespace with no process left is not a vantage (its /run/netns name does not count)',
  );
  t.ok(rescan.vantages.find((v) => v.inode === a.inode));
});
