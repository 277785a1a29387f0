// The file tree both packages install, assembled in a staging directory:
//
//   usr/lib/coredns-healthd/       node (the bundled runtime), package.json,
//                                  bin/, dist/src/ (compiled), build/Release/healthd.node,
//                                  node_modules/ (production dependencies)
//   usr/bin/coredns-healthd        launcher: the bundled node + the CLI
//   etc/coredns-healthd.json       the configuration (every key at its default)
//   usr/lib/systemd/system/coredns-healthd.service
//   usr/share/man/man8/coredns-healthd.8.gz
//   usr/share/coredns-healthd/     Grafana dashboard, Prometheus rules, Kubernetes manifests
//
// Documentation and licences are added per format (deb.ts, rpm.ts).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { SettingDescription } from '../../src/config/schema.js';
import type { MetricDef } from '../../src/metrics/definitions.js';
import { copyDependencies, licenseText, type Dependency } from './dependencies.js';
import { hasLicenseText, INSTALL_DIR, licenseIds, renderDebianCopyright, rpmLicense } from './copyright.js';
import { isElf, type ElfNeeds } from './elf.js';
import { exec } from './exec.js';
import { collectCommandHelp, renderManPage } from './man-page.js';
import { buildPortableAddon, copyNodeRuntime } from './native.js';

export const PACKAGE_NAME = 'coredns-healthd';
export const CONFIG_FILE = 'etc/coredns-healthd.json';
export const UNIT_FILE = 'usr/lib/systemd/system/coredns-healthd.service';
export const MAN_PAGE = 'usr/share/man/man8/coredns-healthd.8.gz';
export const LAUNCHER = 'usr/bin/coredns-healthd';
export const DATA_DIR = 'usr/share/coredns-healthd';

/**
 * The node flags the packaged launcher (so the systemd unit) runs with: a small
 * young generation, and an old generation that grows by 20 % of what survived
 * a full collection instead of V8's default (up to 4x), so the daemon's RSS
 * stays flat below 100 MiB at 250 vantages at no measurable cost in CPU
 * (`npm run bench -- --daemon` runs the daemon with these).
 */
export const NODE_FLAGS: readonly string[] = ['--max-semi-space-size=2', '--heap-growing-percent=20'];

/**
 * The environment the systemd unit gives the daemon (its Environment= lines;
 * packaging-systemd-unit.test.ts checks they match). MALLOC_ARENA_MAX=2: glibc
 * makes up to 8 malloc arenas per core for the threads that allocate (libuv's
 * pool, V8's workers, the addon's engine thread); each keeps freed memory of
 * its own, and the daemon's RSS crept up outside the JS heap (+0.25 MiB a
 * minute at 250 vantages). Two arenas keep it flat (README, Benchmark).
 * `npm run bench -- --daemon` runs the daemon with it too.
 */
export const DAEMON_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

export const LAUNCHER_SCRIPT = `#!/bin/sh
# coredns-healthd: the CLI and daemon, on the Node.js runtime bundled with the
# package (a Node.js installed on this machine is not used). A small young
# generation and a slowly growing old one keep the daemon's RSS flat under
# 100 MiB at no cost in speed (see "npm run bench -- --daemon").
exec /${INSTALL_DIR}/node ${NODE_FLAGS.join(' ')} /${INSTALL_DIR}/bin/coredns-healthd.js "$@"
`;

export interface StageOptions {
  /** The repository root. */
  root: string;
  /** Scratch space (compiled TypeScript, the addon build); the tree goes to <workDir>/root. */
  workDir: string;
  /** The Node.js binary to bundle. Default: the one running the build. */
  nodeBinary?: string;
  nodeLicense?: string;
  /** A healthd.node to ship as is instead of rebuilding the portable one (development only). */
  addon?: string;
  /** Timestamp of every file (reproducible builds). Default $SOURCE_DATE_EPOCH, else the last commit, else now. */
  sourceDateEpoch?: number;
  log?: (line: string) => void;
}

export interface Stage {
  /** The filesystem tree (usr/, etc/). */
  dir: string;
  /** Upstream version (package.json). */
  version: string;
  nodeVersion: string;
  dependencies: Dependency[];
  /** The DEP-5 copyright file (deb: /usr/share/doc/<pkg>/copyright; rpm: a %license file). */
  copyright: string;
  rpmLicense: string;
  /** Sum of file sizes, KiB. */
  installedSizeKiB: number;
  elf: ElfNeeds[];
  sourceDateEpoch: number;
  /** The upstream CHANGELOG.md text. */
  changelog: string;
}

interface PackageJson {
  name: string;
  version: string;
  description?: string;
  license?: string;
  engines?: { node?: string };
  dependencies?: Record<string, string>;
}

/** $SOURCE_DATE_EPOCH, else the last commit's time, else now. */
export function defaultSourceDateEpoch(root: string, env: NodeJS.ProcessEnv = process.env): number {
  if (env.SOURCE_DATE_EPOCH !== undefined) {
    if (!/^\d+$/.test(env.SOURCE_DATE_EPOCH))
      throw new Error(`SOURCE_DATE_EPOCH: expected seconds since the epoch, got ${JSON.stringify(env.SOURCE_DATE_EPOCH)}`);
    return Number(env.SOURCE_DATE_EPOCH);
  }
  const git = spawnSync('git', ['log', '-1', '--format=%ct'], { cwd: root, encoding: 'utf8' });
  if (git.status === 0 && /^\d+$/.test(git.stdout.trim())) return Number(git.stdout.trim());
  return Math.floor(Date.now() / 1000);
}

/** The minimum Node.js major of package.json engines.node (">=20" → 20). */
export function minNodeMajor(engines: string | undefined): number {
  const m = /(\d+)/.exec(engines ?? '');
  if (!m) throw new Error('package.json: engines.node must name the minimum Node.js version (e.g. ">=20")');
  return Number(m[1]);
}

async function walk(dir: string, rel = ''): Promise<{ rel: string; kind: 'file' | 'dir' | 'link' }[]> {
  const out: { rel: string; kind: 'file' | 'dir' | 'link' }[] = [];
  for (const e of (await fs.readdir(path.join(dir, rel), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) {
      out.push({ rel: r, kind: 'dir' });
      out.push(...(await walk(dir, r)));
    } else if (e.isSymbolicLink()) out.push({ rel: r, kind: 'link' });
    else if (e.isFile()) out.push({ rel: r, kind: 'file' });
    else throw new Error(`${path.join(dir, r)}: not a file, directory or symbolic link`);
  }
  return out;
}

/** Every entry of a tree, depth first, sorted (the order packages list them in). */
export const listTree = walk;

async function writeFile(file: string, content: string | Buffer, mode = 0o644): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
  await fs.writeFile(file, content);
  await fs.chmod(file, mode);
}

/** gzip -9n: no name, no timestamp (lintian and reproducible builds want neither). */
export const gzip = (data: string | Buffer): Buffer => gzipSync(data, { level: 9 });

async function copyCompiled(from: string, to: string): Promise<void> {
  for (const { rel, kind } of await walk(from)) {
    if (kind === 'file' && rel.endsWith('.js')) {
      await fs.mkdir(path.dirname(path.join(to, rel)), { recursive: true, mode: 0o755 });
      await fs.copyFile(path.join(from, rel), path.join(to, rel));
      await fs.chmod(path.join(to, rel), 0o644);
    }
  }
}

export async function stage(opts: StageOptions): Promise<Stage> {
  const log = opts.log ?? (() => undefined);
  const root = path.resolve(opts.root);
  const nodeBinary = opts.nodeBinary ?? process.execPath;
  const dir = path.join(opts.workDir, 'root');
  await fs.rm(dir, { recursive: true, force: true });
  const app = path.join(dir, INSTALL_DIR);
  await fs.mkdir(app, { recursive: true, mode: 0o755 });

  const pkg = JSON.parse(await fs.readFile(path.join(root, 'package.json'), 'utf8')) as PackageJson;
  if (!/^\d+\.\d+\.\d+([~+.][0-9A-Za-z.]+)?$/.test(pkg.version)) {
    throw new Error(`package.json: version ${JSON.stringify(pkg.version)} is not a plain x.y.z a deb and an rpm can both carry`);
  }

  log('typescript: tsc (fresh output directory)');
  const tscOut = path.join(opts.workDir, 'tsc');
  await fs.rm(tscOut, { recursive: true, force: true });
  await exec(
    nodeBinary,
    [
      path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'),
      '-p',
      path.join(root, 'tsconfig.json'),
      '--outDir',
      tscOut,
      '--tsBuildInfoFile',
      path.join(tscOut, '.tsbuildinfo'),
      '--sourceMap',
      'false',
    ],
    {
      cwd: root,
    },
  );
  await copyCompiled(path.join(tscOut, 'src'), path.join(app, 'dist', 'src'));
  await fs.mkdir(path.join(app, 'bin'), { recursive: true, mode: 0o755 });
  // The launcher runs it with the bundled node: no "#!/usr/bin/env node" (which would find another node).
  const entry = (await fs.readFile(path.join(root, 'bin', 'coredns-healthd.js'), 'utf8')).replace(/^#!.*\n/, '');
  await writeFile(path.join(app, 'bin', 'coredns-healthd.js'), entry);
  const shipped: PackageJson & { type: string; private: boolean } = {
    name: pkg.name,
    version: pkg.version,
    ...(pkg.description ? { description: pkg.description } : {}),
    license: pkg.license ?? 'Apache-2.0',
    type: 'module',
    private: true,
    ...(pkg.engines ? { engines: pkg.engines } : {}),
    ...(pkg.dependencies ? { dependencies: pkg.dependencies } : {}),
  };
  await writeFile(path.join(app, 'package.json'), `${JSON.stringify(shipped, null, 2)}\n`);

  const elf: ElfNeeds[] = [];
  const addonDest = path.join(app, 'build', 'Release', 'healthd.node');
  await fs.mkdir(path.dirname(addonDest), { recursive: true, mode: 0o755 });
  if (opts.addon) {
    log(`addon: ${opts.addon} as is`);
    await fs.copyFile(opts.addon, addonDest);
  } else {
    const built = await buildPortableAddon(root, opts.workDir, nodeBinary, log);
    await fs.copyFile(built.file, addonDest);
    elf.push({ ...built.needs, file: `/${INSTALL_DIR}/build/Release/healthd.node` });
  }
  await fs.chmod(addonDest, 0o644);

  log(`runtime: ${nodeBinary}`);
  const runtime = await copyNodeRuntime(nodeBinary, path.join(app, 'node'), minNodeMajor(pkg.engines?.node), opts.nodeLicense);
  elf.push({ ...runtime.needs, file: `/${INSTALL_DIR}/node` });

  log('dependencies: production packages from package-lock.json');
  const deps = await copyDependencies(root, app);
  log(`dependencies: ${deps.dependencies.length} packages, ${deps.files} files, ${(deps.bytes / 1e6).toFixed(1)} MB`);

  await writeFile(path.join(dir, LAUNCHER), LAUNCHER_SCRIPT, 0o755);
  await writeFile(path.join(dir, CONFIG_FILE), await fs.readFile(path.join(root, 'packaging', 'coredns-healthd.json')));
  await writeFile(path.join(dir, UNIT_FILE), await fs.readFile(path.join(root, 'systemd', 'coredns-healthd.service')));
  const data = path.join(dir, DATA_DIR);
  await writeFile(path.join(data, 'grafana', 'coredns-healthd.json'), await fs.readFile(path.join(root, 'packaging', 'grafana', 'coredns-healthd.json')));
  await writeFile(path.join(data, 'prometheus', 'alerts.yml'), await fs.readFile(path.join(root, 'packaging', 'prometheus', 'alerts.yml')));
  const k8s = path.join(root, 'packaging', 'kubernetes');
  const manifests = (await fs.readdir(k8s).catch(() => [] as string[])).filter((f) => /\.ya?ml$/.test(f)).sort();
  for (const f of manifests) await writeFile(path.join(data, 'kubernetes', f), await fs.readFile(path.join(k8s, f)));

  // The staged CLI on the bundled runtime: proves the tree runs, and documents itself.
  // eslint-disable-next-line @typescript-eslint/require-await -- the man-page builder takes an async runner; this one is spawnSync
  const runCli = async (argv: string[]): Promise<{ code: number | null; stdout: string }> => {
    const r = spawnSync(path.join(app, 'node'), [path.join(app, 'bin', 'coredns-healthd.js'), ...argv], {
      encoding: 'utf8',
      env: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8' },
      timeout: 60_000,
    });
    if (r.error) throw new Error(`staged CLI ${argv.join(' ')}: ${r.error.message}`, { cause: r.error });
    return { code: r.status, stdout: r.stdout };
  };
  const shown = await runCli(['version']);
  if (shown.code !== 0 || shown.stdout.trim() !== `coredns-healthd ${pkg.version}`) {
    throw new Error(`the staged CLI does not run: "coredns-healthd version" exited ${shown.code} and printed ${JSON.stringify(shown.stdout)}`);
  }
  const sourceDateEpoch = opts.sourceDateEpoch ?? defaultSourceDateEpoch(root);
  const schema = (await import(pathToFileURL(path.join(app, 'dist', 'src', 'config', 'schema.js')).href)) as {
    describeConfig: () => SettingDescription[];
  };
  const metrics = (await import(pathToFileURL(path.join(app, 'dist', 'src', 'metrics', 'definitions.js')).href)) as {
    METRICS: Record<string, MetricDef>;
  };
  const decisions = (await import(pathToFileURL(path.join(app, 'dist', 'src', 'remedy', 'decision.js')).href)) as {
    DECISION_REASON_DESCRIPTIONS: Record<string, string>;
  };
  const man = renderManPage({
    decisionReasons: decisions.DECISION_REASON_DESCRIPTIONS,
    version: pkg.version,
    date: new Date(sourceDateEpoch * 1000).toISOString().slice(0, 10),
    commands: await collectCommandHelp(runCli),
    settings: schema.describeConfig(),
    metrics: Object.values(metrics.METRICS),
  });
  await writeFile(path.join(dir, MAN_PAGE), gzip(man));

  // Licences: texts this build has no copy of come from the package that uses them.
  const extraTexts: Record<string, string> = {};
  for (const dep of deps.dependencies) {
    for (const id of licenseIds(dep.license)) {
      if (hasLicenseText(id) || extraTexts[id] !== undefined) continue;
      const text = await licenseText(path.join(app, dep.lockPath));
      if (text !== null) extraTexts[id] = text;
    }
  }
  const copyright = renderDebianCopyright({
    version: pkg.version,
    nodeLicense: runtime.license,
    nodeVersion: runtime.version,
    dependencies: deps.dependencies,
    extraTexts,
  });

  // Only the runtime and the addon may be native code.
  const entries = await walk(dir);
  let bytes = 0;
  for (const { rel, kind } of entries) {
    if (kind !== 'file') continue;
    const full = path.join(dir, rel);
    bytes += (await fs.stat(full)).size;
    if (rel !== `${INSTALL_DIR}/node` && rel !== `${INSTALL_DIR}/build/Release/healthd.node` && (await isElf(full))) {
      throw new Error(`${rel}: an ELF file from a dependency; the package ships no native code but Node.js and its own addon`);
    }
  }
  await settleTree(dir, entries, sourceDateEpoch);
  return {
    dir,
    version: pkg.version,
    nodeVersion: runtime.version,
    dependencies: deps.dependencies,
    copyright,
    rpmLicense: rpmLicense(deps.dependencies),
    installedSizeKiB: Math.ceil(bytes / 1024),
    elf,
    sourceDateEpoch,
    changelog: await fs.readFile(path.join(root, 'CHANGELOG.md'), 'utf8'),
  };
}

/**
 * Makes a tree ready to archive: every directory 0755 (whatever the umask was when it was made)
 * and every entry's mtime the epoch (deepest first, so that setting an entry does not touch its
 * directory afterwards).
 */
export async function settleTree(dir: string, entries: { rel: string; kind?: string }[], epoch: number): Promise<void> {
  for (const { rel, kind } of entries) if (kind === 'dir') await fs.chmod(path.join(dir, rel), 0o755);
  await fs.chmod(dir, 0o755);
  for (const { rel } of [...entries].reverse()) await fs.lutimes(path.join(dir, rel), epoch, epoch);
  await fs.utimes(dir, epoch, epoch);
}
