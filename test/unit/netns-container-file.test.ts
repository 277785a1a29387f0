// Container files are read as the container would read them, and only
// regular files (src/netns/container-file.ts over the addon's readFileInRoot):
// fixture roots holding every kind of hostile resolv.conf, each read with the
// openat2 path and with the in-root component walk.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import t, { type Test } from 'tap';
import {
  CONTAINER_FILE_MAX,
  describeFile,
  displayPath,
  readContainerFile,
  readFileRef,
  readHostFile,
  type FileReadResult,
  type InRootReader,
} from '../../src/netns/container-file.js';
import { readResolvConf } from '../../src/discovery/resolv-conf.js';
import { isRoot, requireRoot } from '../support/root.js';

const RESOLV = '/etc/resolv.conf';
/** A safety bound for a hang (a FIFO opened for reading blocks forever), not a timing assertion. */
const HANG_MS = 5_000;

function tmpDir(t: Test, prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A fixture root with an etc/ directory. */
function fixtureRoot(t: Test): string {
  const root = path.join(tmpDir(t, 'chd-root-'), 'root');
  fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
  return root;
}

/** Resolves with the result or rejects after HANG_MS: a hang fails the test instead of stalling it. */
function bounded(p: Promise<FileReadResult>, what: string): Promise<FileReadResult> {
  let timer: NodeJS.Timeout;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not return within ${HANG_MS} ms`)), HANG_MS);
  });
  return Promise.race([p, hang]).finally(() => clearTimeout(timer));
}

const text = (r: FileReadResult): string | undefined => (r.status === 'ok' ? r.text : undefined);

/** peak RSS (VmHWM) in bytes; writing 5 to clear_refs resets it to the current RSS. */
function resetPeakRss(): boolean {
  try {
    fs.writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}
function peakRss(): number {
  const m = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return Number(m![1]) * 1024;
}
function currentRss(): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
  return Number(m![1]) * 1024;
}

t.test('names and display paths', async (t) => {
  t.equal(displayPath({ root: '/proc/123/root', path: RESOLV }), '/proc/123/root/etc/resolv.conf');
  t.equal(displayPath({ root: '/proc/123/root/', path: RESOLV }), '/proc/123/root/etc/resolv.conf');
  t.equal(displayPath({ root: null, path: '/etc/resolv.conf' }), '/etc/resolv.conf');
  t.equal(describeFile({ root: '/proc/123/root', path: RESOLV }), '/etc/resolv.conf in container root /proc/123/root');
  t.equal(CONTAINER_FILE_MAX, 64 * 1024);
});

for (const walk of [false, true]) {
  const mode = walk ? 'in-root walk' : 'openat2';

  t.test(`${mode}: a regular file, and a missing one`, async (t) => {
    const root = fixtureRoot(t);
    fs.writeFileSync(path.join(root, 'etc/resolv.conf'), 'nameserver 10.96.0.10\n');
    const r = await readContainerFile(root, RESOLV, { walk });
    t.match(r, { status: 'ok', text: 'nameserver 10.96.0.10\n', bytes: 22, path: `${root}/etc/resolv.conf`, file: { root, path: RESOLV } });
    const missing = await readContainerFile(root, '/etc/hosts', { walk });
    t.match(missing, { status: 'error', code: 'ENOENT', message: `/etc/hosts in container root ${root} does not exist` });
  });

  t.test(`${mode}: an absolute symlink out of the root reads the root's own file, never the host's`, async (t) => {
    const root = fixtureRoot(t);
    const hostDir = tmpDir(t, 'chd-host-');
    const canary = `HOST-CANARY-${crypto.randomBytes(8).toString('hex')}`;
    const hostFile = path.join(hostDir, 'shadow');
    fs.writeFileSync(hostFile, `nameserver 192.0.2.66 # ${canary}\n`, { mode: 0o600 });
    // The container's own file at the same absolute path.
    fs.mkdirSync(path.join(root, hostDir), { recursive: true });
    fs.writeFileSync(path.join(root, hostFile), 'nameserver 10.0.0.53 # in-root\n');
    fs.symlinkSync(hostFile, path.join(root, 'etc/resolv.conf'));

    const r = await readContainerFile(root, RESOLV, { walk });
    t.equal(text(r), 'nameserver 10.0.0.53 # in-root\n', "the root's own file");
    t.notMatch(JSON.stringify(r), canary, 'the host canary appears nowhere');

    // Through readResolvConf, as the sweep reads it.
    const rc = await readResolvConf({ root, path: RESOLV }, { walk });
    t.same(
      rc.parsed.nameservers.map((n) => n.address),
      ['10.0.0.53'],
    );
    t.notMatch(JSON.stringify(rc), canary);

    // A symlink to /etc/shadow: the container's own /etc/shadow, or nothing; never the host's.
    fs.unlinkSync(path.join(root, 'etc/resolv.conf'));
    fs.symlinkSync('/etc/shadow', path.join(root, 'etc/resolv.conf'));
    const none = await readContainerFile(root, RESOLV, { walk });
    t.match(none, { status: 'error', code: 'ENOENT' }, 'no /etc/shadow in the root: ENOENT, not the host file');
    fs.writeFileSync(path.join(root, 'etc/shadow'), 'root:in-root-hash:1::::::\n');
    t.equal(text(await readContainerFile(root, RESOLV, { walk })), 'root:in-root-hash:1::::::\n');
  });

  t.test(`${mode}: relative ../../.. symlinks and .. in the path stay inside the root`, async (t) => {
    const root = fixtureRoot(t);
    const hostDir = tmpDir(t, 'chd-host-');
    const canary = `HOST-CANARY-${crypto.randomBytes(8).toString('hex')}`;
    fs.writeFileSync(path.join(hostDir, 'secret'), `${canary}\n`, { mode: 0o600 });
    fs.mkdirSync(path.join(root, hostDir), { recursive: true });
    fs.writeFileSync(path.join(root, hostDir, 'secret'), 'nameserver 10.0.0.54\n');
    const up = '../'.repeat(20);
    fs.symlinkSync(`${up}${hostDir.slice(1)}/secret`, path.join(root, 'etc/resolv.conf'));
    const r = await readContainerFile(root, RESOLV, { walk });
    t.equal(text(r), 'nameserver 10.0.0.54\n', '.. at the root stays at the root');
    t.notMatch(JSON.stringify(r), canary);

    const dotdot = await readContainerFile(root, `/../../../../${hostDir.slice(1)}/secret`, { walk });
    t.equal(text(dotdot), 'nameserver 10.0.0.54\n', '.. in the path itself too');
    t.notMatch(JSON.stringify(dotdot), canary);
  });

  t.test(`${mode}: a symlink loop is ELOOP`, async (t) => {
    const root = fixtureRoot(t);
    fs.symlinkSync('/etc/b', path.join(root, 'etc/a'));
    fs.symlinkSync('a', path.join(root, 'etc/b'));
    fs.symlinkSync('/etc/a', path.join(root, 'etc/resolv.conf'));
    const r = await bounded(readContainerFile(root, RESOLV, { walk }), 'a symlink loop');
    t.match(r, { status: 'error', code: 'ELOOP' });
    t.match(r.status === 'error' ? r.message : '', `cannot read /etc/resolv.conf in container root ${root}: ELOOP`);
  });

  t.test(`${mode}: a directory is refused, its type named`, async (t) => {
    const root = fixtureRoot(t);
    fs.mkdirSync(path.join(root, 'etc/resolv.conf'));
    const r = await readContainerFile(root, RESOLV, { walk });
    t.match(r, {
      status: 'error',
      code: 'ENOTREG',
      fileType: 'directory',
      message: `/etc/resolv.conf in container root ${root} is a directory, not a regular file`,
    });
  });

  t.test(`${mode}: a FIFO is refused at once, never opened for reading`, async (t) => {
    const root = fixtureRoot(t);
    execFileSync('mkfifo', [path.join(root, 'etc/resolv.conf')]);
    const r = await bounded(readContainerFile(root, RESOLV, { walk }), 'reading a FIFO');
    t.match(r, { status: 'error', code: 'ENOTREG', fileType: 'fifo', message: `/etc/resolv.conf in container root ${root} is a FIFO, not a regular file` });
    // Through a symlink too.
    fs.renameSync(path.join(root, 'etc/resolv.conf'), path.join(root, 'etc/fifo'));
    fs.symlinkSync('/etc/fifo', path.join(root, 'etc/resolv.conf'));
    t.match(await bounded(readContainerFile(root, RESOLV, { walk }), 'reading a FIFO through a symlink'), { status: 'error', fileType: 'fifo' });
  });

  t.test(`${mode}: a symlink to /dev/zero resolves inside the root; a real device node is refused`, async (t) => {
    const root = fixtureRoot(t);
    fs.symlinkSync('/dev/zero', path.join(root, 'etc/resolv.conf'));
    t.match(
      await bounded(readContainerFile(root, RESOLV, { walk }), 'a symlink to /dev/zero'),
      { status: 'error', code: 'ENOENT' },
      'no /dev/zero in the root',
    );
  });

  t.test(`${mode}: a character device node in the root is refused`, async (t) => {
    if (!requireRoot(t, 'mknod of a character device in the fixture root')) return;
    const root = fixtureRoot(t);
    fs.symlinkSync('/dev/zero', path.join(root, 'etc/resolv.conf'));
    fs.mkdirSync(path.join(root, 'dev'));
    execFileSync('mknod', [path.join(root, 'dev/zero'), 'c', '1', '5']);
    const r = await bounded(readContainerFile(root, RESOLV, { walk }), 'a char device');
    t.match(r, { status: 'error', code: 'ENOTREG', fileType: 'char-device', message: /is a character device, not a regular file$/ });
  });

  t.test(`${mode}: a socket is refused`, async (t) => {
    const root = fixtureRoot(t);
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(path.join(root, 'etc/resolv.conf'), resolve));
    t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const r = await bounded(readContainerFile(root, RESOLV, { walk }), 'a socket');
    t.match(r, { status: 'error', code: 'ENOTREG', fileType: 'socket', message: /is a socket, not a regular file$/ });
  });

  t.test(`${mode}: a 10 MB file is too large: not read, and memory stays flat`, async (t) => {
    const root = fixtureRoot(t);
    const size = 10 * 1024 * 1024;
    fs.writeFileSync(path.join(root, 'etc/resolv.conf'), Buffer.alloc(size, 'nameserver 10.0.0.1\n'));
    // The cap itself: exactly 64 KiB reads, one byte more does not.
    fs.writeFileSync(path.join(root, 'etc/exact'), Buffer.alloc(CONTAINER_FILE_MAX, 'a'));
    fs.writeFileSync(path.join(root, 'etc/over'), Buffer.alloc(CONTAINER_FILE_MAX + 1, 'a'));
    t.match(await readContainerFile(root, '/etc/exact', { walk }), { status: 'ok', bytes: CONTAINER_FILE_MAX });
    t.match(await readContainerFile(root, '/etc/over', { walk }), { status: 'too-large', size: CONTAINER_FILE_MAX + 1 });

    const tracked = resetPeakRss();
    const before = currentRss();
    const r = await readContainerFile(root, RESOLV, { walk });
    const grown = peakRss() - before;
    t.match(r, {
      status: 'too-large',
      code: 'EFBIG',
      size,
      maxBytes: CONTAINER_FILE_MAX,
      message: `/etc/resolv.conf in container root ${root} is larger than 64 KiB (${size} bytes) and was not read`,
    });
    t.notOk('text' in r, 'no partial content');
    if (tracked) t.ok(grown < 8 * 1024 * 1024, `peak RSS grew by ${grown} bytes, less than the 10 MB file`);
    const rc = await readResolvConf({ root, path: RESOLV }, { walk });
    t.match(rc.error, { code: 'EFBIG', size });
    t.same(rc.parsed.nameservers, [], 'nothing parsed from a file that was not read');
  });

  t.test(`${mode}: a file bind-mounted over resolv.conf (as the kubelet does) is read`, async (t) => {
    if (!requireRoot(t, 'mount --bind over a fixture file')) return;
    const root = fixtureRoot(t);
    const src = path.join(tmpDir(t, 'chd-bind-'), 'resolv.conf');
    fs.writeFileSync(src, 'nameserver 10.96.0.10\nsearch default.svc.cluster.local\n');
    const target = path.join(root, 'etc/resolv.conf');
    fs.writeFileSync(target, 'nameserver 192.0.2.1\n');
    execFileSync('mount', ['--bind', src, target]);
    let mounted = true;
    // Unmounted before the fixture directories are removed (teardowns run last-in, first-out).
    t.teardown(() => {
      if (mounted) execFileSync('umount', [target]);
    });
    t.equal(text(await readContainerFile(root, RESOLV, { walk })), 'nameserver 10.96.0.10\nsearch default.svc.cluster.local\n');
    execFileSync('umount', [target]);
    mounted = false;
    t.equal(text(await readContainerFile(root, RESOLV, { walk })), 'nameserver 192.0.2.1\n', 'the file under the mount once it is gone');
  });

  t.test(`${mode}: a real /proc/<pid>/root`, async (t) => {
    const dir = tmpDir(t, 'chd-procroot-');
    fs.writeFileSync(path.join(dir, 'resolv.conf'), 'nameserver 10.96.0.10\n');
    const r = await readContainerFile(`/proc/${process.pid}/root`, path.join(dir, 'resolv.conf'), { walk });
    t.match(r, { status: 'ok', text: 'nameserver 10.96.0.10\n', path: `/proc/${process.pid}/root${dir}/resolv.conf` });
  });
}

t.test('an injected reader: its failures are results, never rejections', async (t) => {
  const calls: unknown[][] = [];
  const r = await readContainerFile('/r', RESOLV, {
    walk: true,
    reader: async (...args) => {
      calls.push(args);
      throw Object.assign(new Error('boom'), { code: 'EACCES' });
    },
  });
  t.same(calls, [['/r', RESOLV, { maxBytes: CONTAINER_FILE_MAX, walk: true }]]);
  t.match(r, { status: 'error', code: 'EACCES', message: 'cannot read /etc/resolv.conf in container root /r: EACCES (permission denied)' });
  // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- a reader rejecting with a non-Error is the case under test
  const odd = await readContainerFile('/r', RESOLV, { reader: async () => Promise.reject('not an error') });
  t.match(odd, { status: 'error', code: 'EIO' });
  const lenient = await readContainerFile('/r', RESOLV, { reader: async () => ({ data: Buffer.from([0x6e, 0xff, 0xfe, 0x0a]), size: 4, truncated: false }) });
  t.equal(text(lenient), 'n\ufffd\ufffd\n', 'invalid UTF-8 is replaced, not thrown');
});

t.test("host files (root's configuration): followed as root reads them, still regular files only, still capped", async (t) => {
  const dir = tmpDir(t, 'chd-hostfile-');
  const file = path.join(dir, 'resolv.conf');
  fs.writeFileSync(file, 'nameserver 127.0.0.53\n');
  fs.symlinkSync(file, path.join(dir, 'link'));
  t.match(
    await readHostFile(path.join(dir, 'link')),
    { status: 'ok', text: 'nameserver 127.0.0.53\n', path: path.join(dir, 'link') },
    'a host symlink is followed (trusted)',
  );
  t.match(await readFileRef({ root: null, path: file }), { status: 'ok' });

  execFileSync('mkfifo', [path.join(dir, 'fifo')]);
  t.match(await bounded(readHostFile(path.join(dir, 'fifo')), 'a host FIFO'), {
    status: 'error',
    code: 'ENOTREG',
    fileType: 'fifo',
    message: `${dir}/fifo is a FIFO, not a regular file`,
  });
  t.match(await bounded(readHostFile('/dev/zero'), '/dev/zero'), { status: 'error', code: 'ENOTREG', fileType: 'char-device' });
  t.match(await readHostFile(dir), { status: 'error', code: 'ENOTREG', fileType: 'directory' });
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(path.join(dir, 'sock'), resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  t.match(await readHostFile(path.join(dir, 'sock')), { status: 'error', code: 'ENOTREG', fileType: 'socket' });

  fs.writeFileSync(path.join(dir, 'big'), Buffer.alloc(10 * 1024 * 1024, 'x'));
  t.match(await readHostFile(path.join(dir, 'big')), {
    status: 'too-large',
    code: 'EFBIG',
    size: 10 * 1024 * 1024,
    message: `${dir}/big is larger than 64 KiB (10485760 bytes) and was not read`,
  });
  t.match(await readHostFile(path.join(dir, 'nope')), { status: 'error', code: 'ENOENT', message: `${dir}/nope does not exist` });
  if (!isRoot()) {
    fs.chmodSync(file, 0);
    t.match(await readHostFile(file), { status: 'error', code: 'EACCES' });
  }
});

t.test('a read that stalls (a FUSE file system in the container) fails with ETIMEDOUT and is not queued twice', async (t) => {
  let calls = 0;
  let release: (() => void) | undefined;
  const reader: InRootReader = () => {
    calls++;
    if (calls > 1) return Promise.resolve({ data: Buffer.from('nameserver 10.0.0.1\n'), size: 20, truncated: false });
    return new Promise((resolve) => {
      release = () => resolve({ data: Buffer.from('late'), size: 4, truncated: false });
    });
  };
  const root = '/proc/999999/root';
  const first = await readContainerFile(root, '/etc/resolv.conf', { reader, timeoutMs: 50 });
  t.match(first, { status: 'error', code: 'ETIMEDOUT' });
  const second = await readContainerFile(root, '/etc/resolv.conf', { reader, timeoutMs: 50 });
  t.match(second, { status: 'error', code: 'ETIMEDOUT' });
  t.equal(calls, 1, 'no second read while the first is stuck');
  release!();
  await new Promise((r) => setImmediate(r));
  const third = await readContainerFile(root, '/etc/resolv.conf', { reader, timeoutMs: 50 });
  t.match(third, { status: 'ok', text: 'nameserver 10.0.0.1\n' });
  t.equal(calls, 2, 'read again once the stuck one ended');
});
