// The packages, built, linted, and installed on a stock Debian 12 (debootstrap
// --variant=minbase: no Node.js at all): the *installed* coredns-healthd runs on
// its bundled runtime there (--version, config check of the shipped file,
// check --json against a DNS server in this test's network namespace); an
// upgrade keeps an edited configuration; remove and purge (deb) and erase
// (rpm, installed with rpm --root into a copy of the same system) leave what
// each distribution's conventions say.
//
// Cost (2 shared cores): build ~1.5-3 min (xz level 1), with the two debootstraps
// (~35-120 s: the machine's own apt mirror; $DEBIAN_MIRROR overrides, and
// $COREDNS_HEALTHD_TEST_ROOTFS names a directory to keep the bootstrapped systems
// in between runs) running beside it; then the installs, the systemd boot and the
// rpm (~60-90 s) with lintian (~50 s) and rpmlint running beside them.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import t, { type Test } from 'tap';
import { buildPackages, type BuildResult } from '../../packaging/build.js';
import { BUILD_ONLY } from '../../packaging/lib/dependencies.js';
import { baselineProblems, compareVersions, newestVersions, BASELINE } from '../../packaging/lib/elf.js';
import { describeConfig } from '../../src/config/schema.js';
import { createNetns, removeByPrefix, randomPrefix } from '../support/netns.js';
import { spawnResponder } from '../support/responder-process.js';
import { requireRoot } from '../support/root.js';
import { run, sleep, tryRun, which, type RunResult } from '../support/run.js';
import { REPO } from '../support/paths.js';

const ROOT = REPO;
const VERSION = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const MIRROR = process.env.DEBIAN_MIRROR || aptMirror('bookworm');

/** The machine's own apt source for `suite` (deb822 .sources or one-line sources.list), so debootstrap uses what apt uses. */
function aptMirror(suite: string): string {
  const dir = '/etc/apt/sources.list.d';
  const files = [
    '/etc/apt/sources.list',
    ...(fs.existsSync(dir)
      ? fs
          .readdirSync(dir)
          .filter((f) => /\.(list|sources)$/.test(f))
          .map((f) => path.join(dir, f))
      : []),
  ];
  for (const file of files) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    if (file.endsWith('.sources')) {
      for (const stanza of text.split(/\n\s*\n/)) {
        const field = (k: string) => new RegExp(`^${k}:\\s*(.+)$`, 'mi').exec(stanza)?.[1]?.trim().split(/\s+/) ?? [];
        if (field('Types').includes('deb') && field('Suites').includes(suite) && field('URIs')[0]) return field('URIs')[0]!;
      }
    } else {
      for (const line of text.split('\n')) {
        const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)/.exec(line.trim());
        if (m && m[2] === suite) return m[1]!;
      }
    }
  }
  throw new Error(`no apt source for ${suite} in /etc/apt: set DEBIAN_MIRROR`);
}
const CLEAN_ENV = ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'LANG=C.UTF-8'];

// Longer than the suite's 300 s per file: building and linting ~110 MB of packages on shared cores.
t.setTimeout(1_800_000);

const seconds = (t0: bigint): string => `${(Number(process.hrtime.bigint() - t0) / 1e9).toFixed(1)} s`;

/** Runs argv inside the root with /proc mounted, a clean environment, and the root's own everything. */
function inRoot(root: string, argv: readonly string[], netns?: string): Promise<RunResult> {
  const script = 'root="$1"; shift; mount -t proc proc "$root/proc" && exec chroot "$root" "$@"';
  // `ip netns exec` and `unshare --mount` both give a mount namespace of its own: /proc goes away with it.
  const wrap = netns === undefined ? [which('unshare'), '--mount', '--propagation', 'private'] : [which('ip'), 'netns', 'exec', netns];
  return tryRun('/usr/bin/env', ['-i', ...CLEAN_ENV, ...wrap, '/bin/sh', '-c', script, 'sh', root, ...argv], { timeoutMs: 180_000 });
}

const ok = (t: Test, r: RunResult, what: string): boolean => t.equal(r.code, 0, `${what} (${(r.stderr || r.stdout).trim().slice(0, 2000)})`);

/**
 * A stock Debian 12: minbase (no init; packages are installed into copies of it with chroot),
 * or minbase with systemd as init (booted with systemd-nspawn). procps is in neither.
 */
async function bootstrap(t: Test, kind: 'minbase' | 'systemd'): Promise<string> {
  const cache = process.env.COREDNS_HEALTHD_TEST_ROOTFS;
  const suffix = kind === 'systemd' ? '-systemd' : '';
  const dir = cache ? `${path.resolve(cache)}${suffix}` : fs.mkdtempSync(path.join(os.tmpdir(), `chz-debian12${suffix}-`));
  if (!cache) t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  if (fs.existsSync(path.join(dir, 'var', 'lib', 'dpkg', 'status'))) {
    t.comment(`Debian 12 root (${kind}): reusing ${dir}`);
    return dir;
  }
  const t0 = process.hrtime.bigint();
  const include = kind === 'systemd' ? ['--include=systemd,systemd-sysv,dbus'] : [];
  const r = await tryRun(which('debootstrap', 'debootstrap'), ['--variant=minbase', ...include, 'bookworm', dir, MIRROR], { timeoutMs: 900_000 });
  if (r.code !== 0) throw new Error(`debootstrap bookworm from ${MIRROR} failed (set DEBIAN_MIRROR to a reachable mirror): ${r.stderr.slice(-2000)}`);
  t.comment(`debootstrap --variant=minbase ${include.join(' ')} bookworm: ${seconds(t0)}`);
  return dir;
}

/** Resolves once `check` is true (polls every 200 ms); rejects after `ms` with `what`. */
async function until<T>(what: string, ms: number, check: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(200);
  }
}

/** Parent PID and command name of a process, if it still exists. */
function procInfo(pid: number): { ppid: number; comm: string } | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const open = stat.indexOf('(');
    const close = stat.lastIndexOf(')');
    return { ppid: Number(stat.slice(close + 2).split(' ')[1]), comm: stat.slice(open + 1, close) };
  } catch {
    return undefined; // exited meanwhile
  }
}

/**
 * The container's init under systemd-nspawn `parent`: a descendant named systemd in a PID
 * namespace other than ours (nspawn may fork helpers first), if it runs yet.
 */
function containerInit(parent: number): number | undefined {
  const ours = fs.readlinkSync('/proc/self/ns/pid');
  const pids = fs
    .readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e))
    .map(Number);
  const info = new Map(pids.map((p) => [p, procInfo(p)]));
  const descends = (p: number): boolean => {
    for (let q = info.get(p)?.ppid, hops = 0; q !== undefined && q > 1 && hops < 4; q = info.get(q)?.ppid, hops++) if (q === parent) return true;
    return false;
  };
  return pids.find((p) => {
    if (info.get(p)?.comm !== 'systemd' || !descends(p)) return false;
    try {
      return fs.readlinkSync(`/proc/${p}/ns/pid`) !== ours;
    } catch {
      return false;
    }
  });
}

function copyRoot(t: Test, from: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chz-node-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const r = spawnSync('cp', ['-a', `${from}/.`, dir]);
  if (r.status !== 0) throw new Error(`cp -a ${from} ${dir}: ${String(r.stderr)}`);
  return dir;
}

/** Sets log.level in the root's /etc/coredns-healthd.json: the "edit" an upgrade must keep. */
function editConfig(root: string): string {
  const file = path.join(root, 'etc', 'coredns-healthd.json');
  const c = JSON.parse(fs.readFileSync(file, 'utf8')) as { log: { level: string } };
  c.log.level = 'debug';
  const text = `${JSON.stringify(c, null, 2)}\n`;
  fs.writeFileSync(file, text);
  return text;
}

/** What the installed coredns-healthd must do, wherever it was installed from. */
async function exerciseInstalled(t: Test, root: string, netns: string): Promise<void> {
  const none = await inRoot(root, ['/bin/sh', '-c', 'command -v node nodejs']);
  t.not(none.code, 0, 'the system has no Node.js of its own');

  const v = await inRoot(root, ['/usr/bin/coredns-healthd', '--version']);
  ok(t, v, '--version runs');
  t.equal(v.stdout.trim(), `coredns-healthd ${VERSION}`, '--version prints the package version');

  const cc = await inRoot(root, ['/usr/bin/coredns-healthd', 'config', 'check']);
  ok(t, cc, 'config check of the shipped /etc/coredns-healthd.json');
  t.match(cc.stdout, /\/etc\/coredns-healthd\.json/, 'it names the file it checked');

  // Every production dependency loads on the bundled runtime (node-addon-api is build-time only).
  const load = await inRoot(root, [
    '/bin/sh',
    '-c',
    `cd /usr/lib/coredns-healthd && exec ./node --input-type=module -e '
      import fs from "node:fs";
      const skip = new Set(${JSON.stringify([...BUILD_ONLY])});
      const deps = Object.keys(JSON.parse(fs.readFileSync("package.json", "utf8")).dependencies).filter((d) => !skip.has(d));
      for (const d of deps) await import(d);
      console.log(deps.join(" "));'`,
  ]);
  ok(t, load, `every production dependency loads: ${load.stdout.trim()}`);

  fs.writeFileSync(path.join(root, 'tmp', 'test-resolv.conf'), 'nameserver 127.0.0.1\n');
  const check = await inRoot(
    root,
    ['/usr/bin/coredns-healthd', 'check', '--json', '--host-only', '--no-docker', '--host-resolv-conf', '/tmp/test-resolv.conf'],
    netns,
  );
  ok(t, check, 'check --json --host-only passes against the test DNS server');
  let report: { summary?: { probes: number; ok: number }; results?: { transport: string; ok: boolean; answers: string[] }[] } = {};
  try {
    report = JSON.parse(check.stdout);
  } catch {
    t.fail(`check --json printed no JSON: ${check.stdout.slice(0, 500)}`);
  }
  t.equal(report.summary?.probes, 2, 'the shipped configuration probes over UDP and TCP');
  t.equal(report.summary?.ok, 2, 'both probes passed');
  t.same(report.results?.map((r) => r.answers).flat(), ['10.96.0.1', '10.96.0.1'], 'through the addon, on the bundled runtime');
}

/** The man page renders without a groff warning and documents every setting and command. */
function checkManPage(t: Test, root: string): void {
  const roff = gunzipSync(fs.readFileSync(path.join(root, 'usr', 'share', 'man', 'man8', 'coredns-healthd.8.gz'))).toString('utf8');
  const r = spawnSync(which('groff', 'groff-base'), ['-man', '-Tutf8', '-ww', '-z'], { input: roff, encoding: 'utf8' });
  t.equal(r.status, 0, 'groff renders it');
  t.equal(r.stderr.trim(), '', 'without a warning');
  const text = spawnSync(which('groff', 'groff-base'), ['-man', '-Tascii', '-P-c', '-P-b', '-P-u'], { input: roff, encoding: 'utf8' }).stdout;
  const missing = describeConfig().filter((s) => !text.includes(s.key) || !text.includes(s.env));
  t.same(
    missing.map((s) => s.key),
    [],
    'every setting is documented with its environment variable',
  );
  for (const cmd of ['run', 'check', 'config', 'netns', 'version']) t.match(text, new RegExp(`\\b${cmd}\\b`), `command ${cmd}`);
  t.match(text, /--host-resolv-conf/, 'the options of each command');
}

t.test('packages: build, lint, install on a stock Debian 12, upgrade, remove', async (t) => {
  if (!requireRoot(t, 'installs packages into chroots, mounts /proc there, and creates a network namespace')) return;
  for (const [bin, pkg] of [
    ['dpkg-deb', 'dpkg'],
    ['dpkg-shlibdeps', 'dpkg-dev'],
    ['rpmbuild', 'rpm'],
    ['lintian', 'lintian'],
    ['rpmlint', 'rpmlint'],
    ['debootstrap', 'debootstrap'],
    ['readelf', 'binutils'],
    ['systemd-nspawn', 'systemd-container'],
    ['curl', 'curl'],
  ] as const) {
    which(bin, pkg);
  }
  // The two Debian roots are bootstrapped while the packages build (mostly downloads and unpacking).
  const roots = { minbase: bootstrap(t, 'minbase'), systemd: bootstrap(t, 'systemd') };
  roots.minbase.catch(() => undefined); // awaited below; a failure is reported there
  roots.systemd.catch(() => undefined);
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'chz-packages-'));
  t.teardown(() => fs.rmSync(out, { recursive: true, force: true }));

  let built: BuildResult;
  {
    const t0 = process.hrtime.bigint();
    built = await buildPackages({ outDir: out, revisions: ['1', '2'], compression: 'fast', log: (l) => t.comment(`build: ${l}`) });
    t.comment(`build (stage + 2 revisions x 2 formats): ${seconds(t0)}`);
  }
  const [deb1, deb2] = built.debs as [string, string];
  const [rpm1, rpm2] = built.rpms as [string, string];
  // lintian (~50 s) and rpmlint run in the background while the packages are installed and
  // booted; their subtests come last.
  const timed = async (p: Promise<RunResult>): Promise<RunResult & { seconds: string }> => {
    const t0 = process.hrtime.bigint();
    const r = await p;
    return { ...r, seconds: seconds(t0) };
  };
  const linters = {
    lintian: timed(tryRun(which('lintian', 'lintian'), ['--tag-display-limit', '0', '--display-info', deb1], { timeoutMs: 600_000 })),
    rpmlint: timed(
      tryRun(
        which('rpmlint', 'rpmlint'),
        ['-c', path.join(ROOT, 'packaging', 'rpm', 'rpmlint.toml'), '-r', path.join(ROOT, 'packaging', 'rpm', 'coredns-healthd.rpmlintrc'), rpm1],
        { timeoutMs: 600_000 },
      ),
    ),
  };
  linters.lintian.catch(() => undefined); // awaited in its subtest; a failure is reported there
  linters.rpmlint.catch(() => undefined);

  await t.test('file names', async (t) => {
    t.equal(path.basename(deb1), `coredns-healthd_${VERSION}-1_amd64.deb`);
    t.equal(path.basename(rpm1), `coredns-healthd-${VERSION}-1.x86_64.rpm`);
    t.comment(
      `sizes: deb ${(fs.statSync(deb1).size / 1e6).toFixed(1)} MB, rpm ${(fs.statSync(rpm1).size / 1e6).toFixed(1)} MB (xz -1; the release build uses xz -6)`,
    );
  });

  await t.test('the runtime and the addon need nothing newer than RHEL 9, the oldest target, has', async (t) => {
    t.same(
      built.stage.elf.map((e) => path.basename(e.file)),
      ['healthd.node', 'node'],
      'the only ELF files: the addon and Node.js',
    );
    for (const e of built.stage.elf) {
      t.same(baselineProblems(e), [], `${e.file}: needs ${JSON.stringify(newestVersions(e.versions))}, ${e.needed.join(' ')}`);
    }
  });

  await t.test('deb: control data, conffile, contents', async (t) => {
    const field = (f: string): string => spawnSync('dpkg-deb', ['-f', deb1, f], { encoding: 'utf8' }).stdout.trim();
    t.equal(field('Package'), 'coredns-healthd');
    t.equal(field('Version'), `${VERSION}-1`);
    t.equal(field('Architecture'), 'amd64');
    const depends = field('Depends');
    t.match(depends, /libc6 \(>= [\d.]+\)/, `Depends: ${depends}`);
    const libc = /libc6 \(>= ([\d.]+)\)/.exec(depends)?.[1] ?? '99';
    t.ok(compareVersions(libc, BASELINE.GLIBC as string) <= 0, `libc6 >= ${libc} is met by RHEL 9 / Debian 12 and later`);
    t.match(depends, /libstdc\+\+6/);
    t.match(depends, /init-system-helpers/);
    t.notMatch(depends, /nodejs/, 'no dependency on a Node.js package');
    const ctrl = fs.mkdtempSync(path.join(os.tmpdir(), 'chz-ctrl-'));
    t.teardown(() => fs.rmSync(ctrl, { recursive: true, force: true }));
    await run('dpkg-deb', ['-e', deb1, ctrl]);
    t.equal(fs.readFileSync(path.join(ctrl, 'conffiles'), 'utf8'), '/etc/coredns-healthd.json\n', 'conffiles');
    for (const s of ['postinst', 'prerm', 'postrm']) t.ok(fs.statSync(path.join(ctrl, s)).mode & 0o100, `${s} is executable`);
    const list = (await run('dpkg-deb', ['-c', deb1])).stdout;
    for (const want of [
      /^-rwxr-xr-x root\/root .* \.\/usr\/bin\/coredns-healthd$/m,
      /^-rwxr-xr-x root\/root .* \.\/usr\/lib\/coredns-healthd\/node$/m,
      / \.\/usr\/lib\/coredns-healthd\/build\/Release\/healthd\.node$/m,
      / \.\/usr\/lib\/coredns-healthd\/dist\/src\/cli\/main\.js$/m,
      / \.\/usr\/lib\/coredns-healthd\/node_modules\/@kubernetes\/client-node\/package\.json$/m,
      / \.\/usr\/lib\/systemd\/system\/coredns-healthd\.service$/m,
      / \.\/usr\/share\/man\/man8\/coredns-healthd\.8\.gz$/m,
      / \.\/etc\/coredns-healthd\.json$/m,
      / \.\/usr\/share\/doc\/coredns-healthd\/copyright$/m,
      / \.\/usr\/share\/coredns-healthd\/grafana\/coredns-healthd\.json$/m,
      / \.\/usr\/share\/coredns-healthd\/prometheus\/alerts\.yml$/m,
    ]) {
      t.match(list, want, `contains ${want.source}`);
    }
    t.notMatch(list, /node_modules\/node-addon-api\//, 'no build-time dependency');
    t.notMatch(list, /\.(js\.map|d\.ts)$/m, 'no source maps or type declarations');
    t.notMatch(list, /node_modules\/[^ ]*\.node$/m, 'no native code from dependencies');
  });

  await t.test('rpm: header, config file, scriptlets, requirements', async (t) => {
    const q = async (...args: string[]): Promise<string> => (await run('rpm', ['-qp', ...args, rpm1])).stdout;
    t.equal((await q('--qf', '%{NAME} %{VERSION} %{RELEASE} %{ARCH}')).trim(), `coredns-healthd ${VERSION} 1 x86_64`);
    t.match(await q('--qf', '%{LICENSE}'), /^Apache-2\.0 AND /, 'License: SPDX, coredns-healthd first');
    t.equal((await q('-c')).trim(), '/etc/coredns-healthd.json', '%config file');
    t.match(await q('--qf', '[%{FILEFLAGS:fflags} %{FILENAMES}\n]'), /^cn \/etc\/coredns-healthd\.json$/m, '%config(noreplace)');
    const scripts = await q('--scripts');
    t.match(scripts, /systemctl --no-reload preset coredns-healthd\.service/, '%post presets the unit on first install');
    t.match(scripts, /systemctl --no-reload disable --now coredns-healthd\.service/, '%preun disables and stops it on erase');
    t.match(scripts, /systemctl try-restart coredns-healthd\.service/, '%postun restarts it after an upgrade');
    const requires = (await q('--requires')).split('\n').filter(Boolean);
    t.notOk(
      requires.some((r) => /node/i.test(r)),
      'no requirement on a Node.js package',
    );
    const glibc = requires.map((r) => /GLIBC_([\d.]+)/.exec(r)?.[1]).filter((v): v is string => Boolean(v));
    const newest = glibc.sort(compareVersions).at(-1) ?? '0';
    t.ok(compareVersions(newest, BASELINE.GLIBC as string) <= 0, `newest glibc symbol version required: ${newest} (RHEL 9 has 2.34)`);
    t.notOk(/\(GLIBCXX_3\.4\.(3\d)\)/.test(requires.join('\n')), 'no libstdc++ symbol newer than GCC 11 (RHEL 9)');
  });

  const prefix = randomPrefix('chz');
  t.teardown(() => removeByPrefix(prefix));
  const netns = `${prefix}-pkg`;
  await createNetns(netns);
  await spawnResponder({ netns, listen: '127.0.0.1', port: 53, name: 'kubernetes.default.svc.cluster.local', addresses: ['10.96.0.1'], t });
  const debian = await roots.minbase;

  await t.test('deb on a stock Debian 12: install, run, upgrade, remove, purge', async (t) => {
    const root = copyRoot(t, debian);
    fs.copyFileSync(deb1, path.join(root, 'tmp', 'r1.deb'));
    fs.copyFileSync(deb2, path.join(root, 'tmp', 'r2.deb'));
    const dpkg = (...args: string[]): Promise<RunResult> =>
      tryRun('/usr/bin/env', ['-i', ...CLEAN_ENV, 'chroot', root, 'dpkg', ...args], { timeoutMs: 300_000 });

    ok(t, await dpkg('-i', '/tmp/r1.deb'), 'dpkg -i (the stock system meets every dependency)');
    const wants = path.join(root, 'etc', 'systemd', 'system', 'multi-user.target.wants', 'coredns-healthd.service');
    t.ok(fs.lstatSync(wants, { throwIfNoEntry: false })?.isSymbolicLink(), 'postinst enabled the unit (deb-systemd-helper)');
    await exerciseInstalled(t, root, netns);
    checkManPage(t, root);

    const edited = editConfig(root);
    ok(t, await dpkg('-i', '/tmp/r2.deb'), 'upgrade to revision 2');
    t.match((await dpkg('-s', 'coredns-healthd')).stdout, new RegExp(`^Version: ${VERSION}-2$`, 'm'), 'revision 2 is installed');
    t.equal(fs.readFileSync(path.join(root, 'etc', 'coredns-healthd.json'), 'utf8'), edited, 'the edited configuration survived the upgrade');
    const print = await inRoot(root, ['/usr/bin/coredns-healthd', 'config', 'print']);
    ok(t, print, 'config print');
    t.match(print.stdout, /"level": "debug"/, 'and is the one in force');
    t.ok(fs.lstatSync(wants, { throwIfNoEntry: false })?.isSymbolicLink(), 'the unit is still enabled');

    ok(t, await dpkg('-r', 'coredns-healthd'), 'dpkg -r');
    t.notOk(fs.existsSync(path.join(root, 'usr', 'lib', 'coredns-healthd')), 'remove: the application is gone');
    t.notOk(fs.existsSync(path.join(root, 'usr', 'bin', 'coredns-healthd')), 'remove: the command is gone');
    t.equal(fs.readFileSync(path.join(root, 'etc', 'coredns-healthd.json'), 'utf8'), edited, 'remove: the configuration stays');
    t.match((await dpkg('-s', 'coredns-healthd')).stdout, /^Status: deinstall ok config-files$/m, 'remove: only the conffile is left');

    ok(t, await dpkg('-P', 'coredns-healthd'), 'dpkg -P');
    t.notOk(fs.existsSync(path.join(root, 'etc', 'coredns-healthd.json')), 'purge: the configuration is gone');
    const leftovers = spawnSync('find', [path.join(root, 'etc', 'systemd'), path.join(root, 'var', 'lib', 'systemd'), '-name', '*coredns-healthd*'], {
      encoding: 'utf8',
    }).stdout.trim();
    t.equal(leftovers, '', 'purge: no enablement link, mask or deb-systemd-helper state is left');
    t.not((await dpkg('-s', 'coredns-healthd')).code, 0, 'purge: dpkg no longer knows the package');
  });

  await t.test('deb under systemd (systemd-nspawn -b): start after a sweep, reload, journal priorities, metrics, stop', async (t) => {
    const root = copyRoot(t, await roots.systemd);
    fs.copyFileSync(deb1, path.join(root, 'tmp', 'r1.deb'));
    ok(t, await tryRun('/usr/bin/env', ['-i', ...CLEAN_ENV, 'chroot', root, 'dpkg', '-i', '/tmp/r1.deb'], { timeoutMs: 300_000 }), 'dpkg -i');
    t.notOk(fs.existsSync(path.join(root, 'bin', 'kill')), 'no /bin/kill (procps is not installed): reload must not need it');
    // Enabled by postinst; started below with `systemctl enable --now`, once the DNS server runs.
    fs.rmSync(path.join(root, 'etc', 'systemd', 'system', 'multi-user.target.wants', 'coredns-healthd.service'));
    // The host vantage probes the test's DNS server on the container's loopback; no Docker.
    const configFile = path.join(root, 'etc', 'coredns-healthd.json');
    const shipped = JSON.parse(fs.readFileSync(configFile, 'utf8')) as Record<string, Record<string, unknown>> & {
      discovery: { docker: { enabled: boolean } };
    };
    const good = { ...shipped, interval: '2s', hostResolvConf: '/etc/chz-resolv.conf', http: { ...shipped.http, listen: '127.0.0.1:9890' } };
    good.discovery.docker.enabled = false;
    const writeConfig = (c: unknown) => fs.writeFileSync(configFile, `${JSON.stringify(c, null, 2)}\n`);
    writeConfig(good);
    fs.writeFileSync(path.join(root, 'etc', 'chz-resolv.conf'), 'nameserver 127.0.0.1\n');

    const t0 = process.hrtime.bigint();
    const nspawn = spawn(which('systemd-nspawn', 'systemd-container'), ['-q', '-D', root, '-b', '--private-network', '--register=no', '--keep-unit'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let nspawnErr = '';
    nspawn.stderr.setEncoding('utf8').on('data', (d: string) => (nspawnErr += d.slice(0, 4000)));
    const gone = new Promise<void>((resolve) => nspawn.once('exit', () => resolve()));
    let leader = 0;
    // The container must never outlive the test: systemd-nspawn killed with SIGKILL leaves its
    // init running (reparented to PID 1), and a leftover container keeps the next one's boot
    // from finishing. So: a clean poweroff, then SIGKILL to the container's init (which ends its
    // whole PID namespace) and to systemd-nspawn.
    t.teardown(async () => {
      if (leader) await tryRun(which('nsenter'), ['-t', String(leader), '-a', 'systemctl', 'poweroff'], { timeoutMs: 10_000 });
      const exited = await Promise.race([gone.then(() => true), sleep(15_000).then(() => false)]);
      if (!exited) {
        if (leader) {
          try {
            process.kill(leader, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        nspawn.kill('SIGKILL');
        await gone;
      }
      if (leader) await until('the container to end', 10_000, () => (procInfo(leader) === undefined ? true : undefined)).catch(() => undefined);
    });
    leader = await until("the container's init", 60_000, () =>
      nspawn.exitCode !== null ? Promise.reject(new Error(`systemd-nspawn exited: ${nspawnErr}`)) : containerInit(nspawn.pid!),
    );
    const inside = (...args: string[]): Promise<RunResult> =>
      tryRun('/usr/bin/env', ['-i', ...CLEAN_ENV, which('nsenter'), '-t', String(leader), '-a', ...args], { timeoutMs: 60_000 });
    // systemd answers once its manager runs: "starting" while boot jobs run, then "running" (or
    // "degraded"). A busy machine can hold an unrelated boot job for long (seen in the full
    // suite, never alone): the daemon's unit does not wait for it, so 20 s of "starting" is
    // enough, and what is still queued is printed.
    let last = '';
    const bootDeadline = Date.now() + 20_000;
    const state = await until('systemd to answer', 120_000, async () => {
      const r = await inside('systemctl', 'is-system-running');
      last = `${r.stdout.trim()} ${r.stderr.trim()}`.trim();
      const st = r.stdout.trim();
      return /^(running|degraded)$/.test(st) || (st === 'starting' && Date.now() > bootDeadline) ? st : undefined;
    }).catch((err: Error) => {
      throw new Error(`${err.message}; is-system-running said: ${last}; systemd-nspawn: ${nspawnErr.slice(-1000)}`);
    });
    t.comment(`booted (${state}) in ${seconds(t0)}`);
    if (state === 'starting') t.comment(`boot jobs still queued:\n${(await inside('systemctl', 'list-jobs', '--no-pager')).stdout.trim()}`);

    // The container's network namespace, named for `ip netns exec` (unnamed again in teardown).
    const netnsName = `${prefix}-boot`;
    await run(which('ip'), ['netns', 'attach', netnsName, String(leader)]);
    t.teardown(() => tryRun(which('ip'), ['netns', 'delete', netnsName]));
    await spawnResponder({ netns: netnsName, listen: '127.0.0.1', port: 53, name: 'kubernetes.default.svc.cluster.local', addresses: ['10.96.0.1'], t });
    const curl = (urlPath: string) =>
      tryRun(which('ip'), ['netns', 'exec', netnsName, which('curl', 'curl'), '-sS', '--max-time', '10', `http://127.0.0.1:9890${urlPath}`]);
    const show = async (prop: string) => (await inside('systemctl', 'show', '-p', prop, '--value', 'coredns-healthd')).stdout.trim();
    const journal = async (...args: string[]) => (await inside('journalctl', '-u', 'coredns-healthd', '--no-pager', '-o', 'cat', ...args)).stdout;

    const t1 = process.hrtime.bigint();
    const enabled = await inside('systemctl', 'enable', '--now', 'coredns-healthd');
    ok(t, enabled, 'systemctl enable --now (returns once the daemon said READY=1)');
    if (enabled.code !== 0) t.comment(`jobs:\n${(await inside('systemctl', 'list-jobs', '--no-pager')).stdout.trim()}`);
    t.comment(`started in ${seconds(t1)}`);
    t.equal(await show('ActiveState'), 'active', 'active');
    t.match(await show('StatusText'), /^ok: .*\(1 vantage, [1-9]\d* sweeps\)$/, 'READY=1 came after a completed sweep (STATUS= counts it)');
    const mainPid = await show('MainPID');
    const metrics = await curl('/metrics');
    ok(t, metrics, 'curl :9890/metrics');
    t.match(metrics.stdout, /^coredns_healthd_check_healthy\{vantage="host",target="127\.0\.0\.1:53",transport="udp",.*\} 1$/m, 'the host vantage is healthy');
    t.match((await curl('/healthz/host')).stdout, /^ok/, '/healthz/host');

    // systemctl reload: a good file is applied (config check, then SIGHUP from the shell's kill).
    writeConfig({ ...good, log: { level: 'debug' } });
    const reload = await inside('systemctl', 'reload', 'coredns-healthd');
    ok(t, reload, 'systemctl reload with a good file');
    await until('the reload in the journal', 15_000, async () => ((await journal()).includes('"msg":"configuration reloaded"') ? true : undefined));
    t.equal(await show('MainPID'), mainPid, 'the same process (reloaded, not restarted)');
    t.equal(await show('ActiveState'), 'active');

    // A bad file: `systemctl reload` fails and says why; the daemon keeps running.
    fs.writeFileSync(configFile, '{ "interval": ');
    const bad = await inside('systemctl', 'reload', 'coredns-healthd');
    t.not(bad.code, 0, 'systemctl reload with a bad file fails');
    t.match(await journal(), /coredns-healthd\.json/, 'the journal names the file (ExecReload=config check)');
    t.equal(await show('ActiveState'), 'active', 'still active');
    t.equal(await show('MainPID'), mainPid, 'still the same process');

    // A SIGHUP that bypasses the check: the daemon logs an error, at priority err in the journal.
    ok(t, await inside('/bin/sh', '-c', `kill -HUP ${mainPid}`), 'SIGHUP to the main process');
    const errors = await until('an error in the journal', 15_000, async () => {
      const text = await journal('-p', 'err');
      return text.includes('configuration reload failed') ? text : undefined;
    });
    const errLines = errors.split('\n').filter((l) => l.startsWith('{'));
    t.ok(errLines.length >= 1, `journalctl -p err shows the daemon's error: ${errLines[0] ?? ''}`);
    t.ok(
      errLines.every((l) => /"level":"error"/.test(l)),
      'and only errors (info lines are priority 6)',
    );
    t.match(await journal('-p', 'info'), /"level":"info"/, 'info lines are in the journal at priority info');
    t.notMatch(await journal(), /^<\d>/m, 'journald stripped the priority prefixes');
    writeConfig(good);
    ok(t, await inside('systemctl', 'reload', 'coredns-healthd'), 'a good file again');
    const mem = await inside('/bin/sh', '-c', `grep -E '^(VmRSS|VmHWM)' /proc/${mainPid}/status`);
    t.comment(`daemon memory under systemd after ${(await show('StatusText')).replace(/.*\((.*)\)$/, '$1')}: ${mem.stdout.replace(/\s+/g, ' ').trim()}`);

    const t2 = process.hrtime.bigint();
    ok(t, await inside('systemctl', 'stop', 'coredns-healthd'), 'systemctl stop');
    const stopMs = Number(process.hrtime.bigint() - t2) / 1e6;
    t.comment(`stopped in ${stopMs.toFixed(0)} ms`);
    t.ok(stopMs < 2000, `stopped within 2 s (${stopMs.toFixed(0)} ms): SIGTERM is handled, not waited out`);
    t.equal(await show('Result'), 'success', 'exit 0 on SIGTERM');
    t.equal(await show('ActiveState'), 'inactive');
  });

  await t.test('rpm with rpm --root: install, run, upgrade, erase', async (t) => {
    const root = copyRoot(t, debian);
    const rpm = (...args: string[]): Promise<RunResult> => tryRun('rpm', ['--root', root, '--dbpath', '/var/lib/rpm', ...args], { timeoutMs: 300_000 });
    ok(t, await rpm('--initdb'), 'rpm --initdb');

    // The root's libraries belong to dpkg, so rpm's database does not know them: check by hand
    // that each requirement resolves there (library present, with the symbol version), then --nodeps.
    const unmet: string[] = [];
    for (const req of (await run('rpm', ['-qp', '--requires', rpm1])).stdout.split('\n').filter(Boolean)) {
      if (/^(rpmlib\(|rtld\(|config\(coredns-healthd\))/.test(req)) continue;
      if (req.startsWith('/')) {
        if (!fs.existsSync(path.join(root, req))) unmet.push(req);
        continue;
      }
      const m = /^([^()]+)\(([^)]*)\)\(64bit\)$/.exec(req);
      if (!m) {
        unmet.push(req);
        continue;
      }
      const lib = ['usr/lib/x86_64-linux-gnu', 'lib/x86_64-linux-gnu', 'usr/lib64', 'lib64']
        .map((d) => path.join(root, d, m[1] as string))
        .find((f) => fs.existsSync(f));
      if (!lib) {
        unmet.push(req);
        continue;
      }
      if (m[2] && !spawnSync('readelf', ['--version-info', '--wide', lib], { encoding: 'utf8' }).stdout.includes(`Name: ${m[2]}`)) unmet.push(req);
    }
    t.same(unmet, [], "every requirement (libraries and symbol versions, /bin/sh) is met by the stock system's files");

    ok(t, await rpm('-i', '--nodeps', rpm1), 'rpm -i');
    t.match((await rpm('-q', 'coredns-healthd')).stdout, `coredns-healthd-${VERSION}-1.x86_64`);
    await exerciseInstalled(t, root, netns);

    const edited = editConfig(root);
    ok(t, await rpm('-U', '--nodeps', rpm2), 'rpm -U to release 2');
    t.match((await rpm('-q', 'coredns-healthd')).stdout, `coredns-healthd-${VERSION}-2.x86_64`);
    t.equal(fs.readFileSync(path.join(root, 'etc', 'coredns-healthd.json'), 'utf8'), edited, 'the edited configuration survived the upgrade');
    t.notOk(fs.existsSync(path.join(root, 'etc', 'coredns-healthd.json.rpmnew')), 'no .rpmnew: the packaged file did not change');
    ok(t, await inRoot(root, ['/usr/bin/coredns-healthd', 'config', 'check']), 'config check after the upgrade');

    ok(t, await rpm('-e', 'coredns-healthd'), 'rpm -e');
    t.notOk(fs.existsSync(path.join(root, 'usr', 'lib', 'coredns-healthd')), 'erase: the application is gone');
    t.notOk(fs.existsSync(path.join(root, 'etc', 'coredns-healthd.json')), 'erase: the configuration is moved aside');
    t.equal(fs.readFileSync(path.join(root, 'etc', 'coredns-healthd.json.rpmsave'), 'utf8'), edited, 'erase: the edited configuration is kept as .rpmsave');
    t.not((await rpm('-q', 'coredns-healthd')).code, 0, 'erase: rpm no longer knows the package');
  });

  // The linters ran beside the installs (started after the build): here are their verdicts.
  await t.test('lintian: no errors', async (t) => {
    const r = await linters.lintian;
    const lines = `${r.stdout}${r.stderr}`.split('\n').filter((l) => /^[EWIXPO]: /.test(l));
    for (const l of lines) t.comment(l);
    t.same(
      lines.filter((l) => l.startsWith('E: ')),
      [],
      'no E: tags (the overrides in packaging/deb/lintian-overrides explain the rest)',
    );
    t.notOk(/^E: /m.test(r.stdout), 'lintian found no error');
    t.comment(`lintian: ${lines.length} tags not overridden, ${r.seconds}`);
  });

  await t.test('rpmlint: no errors', async (t) => {
    const r = await linters.rpmlint;
    for (const l of r.stdout.split('\n').filter((l) => /: [EW]: /.test(l))) t.comment(l);
    const m = /(\d+) errors, (\d+) warnings/.exec(r.stdout);
    t.ok(m, `rpmlint printed its summary (${r.stderr.trim()})`);
    t.equal(m?.[1], '0', 'no errors (packaging/rpm/coredns-healthd.rpmlintrc explains what it filters)');
  });
});
