// Bounded reads of /proc, /sys and root's own files (src/netns/bounded-read.ts)
// and the readers built on them: never more than the cap, truncation
// reported, non-regular files refused before a byte is read.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import {
  NotRegularFileError,
  SMALL_FILE_MAX,
  TABLE_FILE_MAX,
  boundedText,
  formatBytes,
  readBounded,
  readBoundedSync,
  readBoundedText,
  readBoundedTextSync,
} from '../../src/netns/bounded-read.js';
import { readText } from '../../src/diagnose/read.js';
import { parseRouteFacts, readRoutes } from '../../src/diagnose/routes.js';
import { openVantage } from '../../src/netns/guard.js';
import { readProcStat, scanProc } from '../../src/discovery/proc-scan.js';
import { vantageId } from '../../src/discovery/vantage.js';
import { type Vantage } from '../../src/model.js';

const HANG_MS = 5_000;

function tmpDir(t: Test): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chd-bounded-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function noHang<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not return within ${HANG_MS} ms`)), HANG_MS);
  });
  return Promise.race([p, hang]).finally(() => clearTimeout(timer));
}

t.test('reads at most maxBytes and says when there was more', async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'f');
  fs.writeFileSync(file, '0123456789');
  for (const [max, data, truncated] of [
    [10, '0123456789', false],
    [11, '0123456789', false],
    [9, '012345678', true],
    [0, '', true],
  ] as const) {
    const a = await readBounded(file, max);
    t.same([a.data.toString(), a.truncated, a.size], [data, truncated, 10], `async, max ${max}`);
    const s = readBoundedSync(file, max);
    t.same([s.data.toString(), s.truncated, s.size], [data, truncated, 10], `sync, max ${max}`);
  }
  // Larger than the first chunk: the buffer grows, the cap still holds.
  const big = path.join(dir, 'big');
  fs.writeFileSync(big, Buffer.alloc(3 * 1024 * 1024, 'y'));
  const r = await readBounded(big, TABLE_FILE_MAX);
  t.equal(r.data.length, TABLE_FILE_MAX);
  t.equal(r.truncated, true);
  t.equal(readBoundedSync(big, 100_000).data.length, 100_000);
  t.equal((await readBounded(big, 5 * 1024 * 1024)).data.length, 3 * 1024 * 1024, 'a file under the cap is read whole');
  await t.rejects(readBounded(file, -1), RangeError);
  await t.rejects(readBounded(path.join(dir, 'nope'), 10), { code: 'ENOENT' });
  t.throws(() => readBoundedSync(path.join(dir, 'nope'), 10), { code: 'ENOENT' });
});

t.test('/proc files (st_size 0) are read to their end, within the cap', async (t) => {
  const stat = await readBoundedText(`/proc/${process.pid}/stat`, SMALL_FILE_MAX);
  t.equal(stat.truncated, false);
  t.match(stat.text, new RegExp(`^${process.pid} \\(`));
  t.equal(readBoundedTextSync('/proc/self/status', SMALL_FILE_MAX).truncated, false);
  const cut = await readBounded('/proc/self/status', 100);
  t.equal(cut.truncated, true);
  t.equal(cut.size, 0, 'st_size of a /proc file is 0: the size comes from reading');
});

t.test('non-regular files are refused before reading: FIFO, character device, directory, socket', async (t) => {
  const dir = tmpDir(t);
  const fifo = path.join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  await t.rejects(noHang(readBounded(fifo, 10), 'a FIFO'), { code: 'ENOTREG', fileType: 'fifo', message: `${fifo} is a FIFO, not a regular file` });
  t.throws(() => readBoundedSync(fifo, 10), NotRegularFileError);
  await t.rejects(readBounded('/dev/zero', 10), { code: 'ENOTREG', fileType: 'char-device' });
  t.throws(() => readBoundedSync('/dev/urandom', 10), { code: 'ENOTREG', fileType: 'char-device' });
  await t.rejects(readBounded(dir, 10), { code: 'ENOTREG', fileType: 'directory' });
  const sock = path.join(dir, 'sock');
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(sock, resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  await t.rejects(readBounded(sock, 10), { code: 'ENOTREG', fileType: 'socket' });
  t.throws(() => readBoundedSync(sock, 10), { code: 'ENOTREG', fileType: 'socket' });
});

t.test('text: a truncated read keeps whole lines only', async (t) => {
  t.same(boundedText({ data: Buffer.from('a\nb\nc'), truncated: true, size: 0 }), { text: 'a\nb\n', truncated: true });
  t.same(boundedText({ data: Buffer.from('abc'), truncated: true, size: 0 }), { text: '', truncated: true });
  t.same(boundedText({ data: Buffer.from('a\nb'), truncated: false, size: 3 }), { text: 'a\nb', truncated: false });
  t.same(boundedText({ data: Buffer.from('a\nb'), truncated: true, size: 0 }, false), { text: 'a\nb', truncated: true });
  t.equal(formatBytes(64 * 1024), '64 KiB');
  t.equal(formatBytes(1024 * 1024), '1 MiB');
  t.equal(formatBytes(1000), '1000 bytes');
});

t.test('readText (diagnose): capped, truncation reported, a FIFO is an error naming the file', async (t) => {
  const dir = tmpDir(t);
  const file = path.join(dir, 'f');
  fs.writeFileSync(file, 'line 1\nline 2\nline 3\n');
  t.same(await readText(file), { path: file, text: 'line 1\nline 2\nline 3\n' });
  t.same(await readText(file, 10), { path: file, text: 'line 1\n', truncated: true });
  const fifo = path.join(dir, 'fifo');
  execFileSync('mkfifo', [fifo]);
  t.same(await noHang(readText(fifo), 'readText of a FIFO'), {
    path: fifo,
    error: { code: 'ENOTREG', message: `cannot read ${fifo} is a FIFO, not a regular file` },
  });
  t.same(await readText(path.join(dir, 'nope')), { path: path.join(dir, 'nope'), error: { code: 'ENOENT', message: `cannot read ${dir}/nope: ENOENT` } });
});

t.test('route tables larger than 1 MiB: the first 1 MiB of whole lines, and a problem saying so', async (t) => {
  const dir = tmpDir(t);
  // The kernel pads each line of /proc/net/route to 127 characters.
  const pad = (s: string): string => `${s.padEnd(127)}\n`;
  const header = pad('Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT');
  const line = pad('eth0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0');
  const n = Math.ceil((2 * TABLE_FILE_MAX) / line.length);
  fs.writeFileSync(path.join(dir, 'route'), header + line.repeat(n));
  const facts = await readRoutes(dir);
  if (facts.v4.error) throw new Error(facts.v4.error.message);
  t.equal(facts.v4.truncated, true);
  t.ok(facts.v4.text.length <= TABLE_FILE_MAX && facts.v4.text.endsWith('\n'));
  const tables = parseRouteFacts(facts);
  t.equal(tables.v4!.routes.length, Math.floor((TABLE_FILE_MAX - header.length) / line.length), 'whole lines only, none half-parsed');
  t.same(tables.v4!.problems, [], 'no partial last line');
  t.same(tables.problems, [`${dir}/route is larger than 1 MiB: only its first 1 MiB were read`]);

  fs.writeFileSync(path.join(dir, 'route'), header + line);
  const small = parseRouteFacts(await readRoutes(dir));
  t.same(small.problems, []);
  t.equal(small.v4!.routes.length, 1);
});

t.test('proc scan and guard: an oversized stat or cgroup file is an error, not a read', async (t) => {
  const proc = tmpDir(t);
  const stat = (pid: number, comm: string): string =>
    `${pid} (${comm}) S 1 ${pid} ${pid} 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 777 0 0 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n`;
  const mkpid = (pid: number, over: { stat?: string; cgroup?: string } = {}): void => {
    fs.mkdirSync(path.join(proc, String(pid), 'ns'), { recursive: true });
    fs.writeFileSync(path.join(proc, String(pid), 'ns/net'), `net:[${4026532000 + pid}]\n`);
    fs.writeFileSync(path.join(proc, String(pid), 'stat'), over.stat ?? stat(pid, 'app'));
    fs.writeFileSync(path.join(proc, String(pid), 'cgroup'), over.cgroup ?? '0::/\n');
  };
  fs.mkdirSync(path.join(proc, 'thread-self/ns'), { recursive: true });
  fs.writeFileSync(path.join(proc, 'thread-self/ns/net'), 'net:[4026531840]\n');
  mkpid(100);
  mkpid(101, { stat: stat(101, 'x'.repeat(SMALL_FILE_MAX)) });
  mkpid(102, { cgroup: `0::/${'d/'.repeat(SMALL_FILE_MAX)}\n` });
  const fifoPid = 103;
  mkpid(fifoPid);
  fs.rmSync(path.join(proc, String(fifoPid), 'cgroup'));
  execFileSync('mkfifo', [path.join(proc, String(fifoPid), 'cgroup')]);

  t.equal((await readProcStat(proc, 100)).startTime, 777);
  await t.rejects(readProcStat(proc, 101), { code: 'EFBIG', path: `${proc}/101/stat` });
  const scan = await noHang(scanProc({ procRoot: proc, identify: 'link-text' }), 'a scan with a FIFO cgroup file');
  t.same(
    scan.errors.map((e) => [e.pid, path.basename(e.path), e.code]),
    [
      [101, 'stat', 'EFBIG'],
      [102, 'cgroup', 'EFBIG'],
      [103, 'cgroup', 'ENOTREG'],
    ],
  );
  t.same(scan.vantages.map((v) => v.pid).sort(), [100, 102, 103], 'a process with an unreadable cgroup still counts, without its pod');

  // openVantage re-reads <pid>/stat after opening the namespace: bounded too.
  const st = fs.statSync(`/proc/${process.pid}/ns/net`);
  const fake = path.join(tmpDir(t), 'proc');
  fs.mkdirSync(path.join(fake, String(process.pid)), { recursive: true });
  fs.symlinkSync(`/proc/${process.pid}/ns`, path.join(fake, String(process.pid), 'ns'));
  fs.writeFileSync(path.join(fake, String(process.pid), 'stat'), stat(process.pid, 'y'.repeat(SMALL_FILE_MAX)));
  const v: Vantage = {
    id: vantageId(st.ino),
    dev: st.dev,
    inode: st.ino,
    pid: process.pid,
    startTime: 777,
    source: 'proc',
    hostNetwork: false,
    containerIds: [],
    containerNames: [],
    resolvConfFile: { root: `/proc/${process.pid}/root`, path: '/etc/resolv.conf' },
  };
  const opened = openVantage(v, fake);
  t.match(opened, { ok: false, reason: 'inaccessible', why: 'error', detail: /larger than 64 KiB/ });
  fs.writeFileSync(path.join(fake, String(process.pid), 'stat'), stat(process.pid, 'node'));
  const ok = openVantage(v, fake);
  t.equal(ok.ok, true, 'a normal stat still opens');
  if (ok.ok) ok.handle.close();
});
