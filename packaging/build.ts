// `npm run package`: builds coredns-healthd_<version>-<rev>_amd64.deb and
// coredns-healthd-<version>-<rev>.x86_64.rpm offline, from this checkout, its
// node_modules (after `npm ci`) and the Node.js that runs this script.
//
//   npm run package -- [options]   (tsc, then node dist/packaging/build.js)
//
// Needs: dpkg-deb and dpkg-shlibdeps (dpkg, dpkg-dev), rpmbuild (rpm), g++,
// make and python3 (node-gyp), binutils (strip, readelf).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { buildDeb } from './lib/deb.js';
import { buildRpm } from './lib/rpm.js';
import { stage, type Stage } from './lib/stage.js';

/** The repository: the first directory above this file with a package.json (packaging/.. for the source, dist/packaging/../.. compiled). */
function repoRoot(): string {
  for (let dir = path.dirname(fileURLToPath(import.meta.url)); ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) throw new Error('package: no package.json above packaging/build');
  }
}

export const ROOT = repoRoot();
export const PACKAGING = path.join(ROOT, 'packaging');

export type Format = 'deb' | 'rpm';

export interface BuildOptions {
  root?: string;
  outDir: string;
  formats?: Format[];
  revision?: string;
  /** Several revisions from one staged tree (tests build an upgrade); default [revision]. */
  revisions?: string[];
  maintainer?: string;
  nodeBinary?: string;
  nodeLicense?: string;
  addon?: string;
  /** Scratch directory; default a fresh one under the system temp dir, removed afterwards. */
  workDir?: string;
  keepWork?: boolean;
  /** xz level 6 (default: what is released) or 1 (tests: same format, a fraction of the time, ~15% larger). */
  compression?: 'release' | 'fast';
  log?: (line: string) => void;
}

export interface BuildResult {
  stage: Stage;
  /** The first revision's packages. */
  deb?: string;
  rpm?: string;
  /** Every revision's, in the order of `revisions`. */
  debs: string[];
  rpms: string[];
  seconds: Record<string, number>;
}

/** "Name <email>": --maintainer, else $DEBFULLNAME/$DEBEMAIL, else package.json author, else git's user. */
export async function resolveMaintainer(root: string, explicit?: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const valid = (s: string): boolean => /^[^<>]+ <[^<>@\s]+@[^<>@\s]+>$/.test(s);
  const check = (s: string, from: string): string => {
    if (!valid(s.trim())) throw new Error(`${from}: expected "Name <email>", got ${JSON.stringify(s)}`);
    return s.trim();
  };
  if (explicit !== undefined) return check(explicit, '--maintainer');
  if (env.DEBFULLNAME && env.DEBEMAIL) return check(`${env.DEBFULLNAME} <${env.DEBEMAIL}>`, 'DEBFULLNAME/DEBEMAIL');
  const pkg = JSON.parse(await fs.readFile(path.join(root, 'package.json'), 'utf8')) as { author?: unknown };
  const a = pkg.author;
  if (typeof a === 'string' && a.trim()) return check(a.replace(/\s*\(.*\)\s*$/, ''), 'package.json author');
  if (a && typeof a === 'object' && 'name' in a && 'email' in a) return check(`${String(a.name)} <${String(a.email)}>`, 'package.json author');
  const git = (key: string): string => spawnSync('git', ['config', key], { cwd: root, encoding: 'utf8' }).stdout?.trim() ?? '';
  const name = git('user.name');
  const email = git('user.email');
  if (name && email) return check(`${name} <${email}>`, 'git config user.name/user.email');
  throw new Error('no maintainer: pass --maintainer "Name <email>", set DEBFULLNAME and DEBEMAIL, or set "author" in package.json');
}

async function projectLicense(root: string): Promise<string> {
  for (const f of [path.join(root, 'LICENSE'), '/usr/share/common-licenses/Apache-2.0']) {
    try {
      await fs.access(f);
      return f;
    } catch {
      // next
    }
  }
  throw new Error('no Apache-2.0 licence text: add LICENSE to the repository (or build on Debian, which has /usr/share/common-licenses/Apache-2.0)');
}

export async function buildPackages(o: BuildOptions): Promise<BuildResult> {
  const root = o.root ?? ROOT;
  const log = o.log ?? (() => undefined);
  const formats = o.formats ?? ['deb', 'rpm'];
  const revisions = o.revisions ?? [o.revision ?? '1'];
  const fast = o.compression === 'fast';
  for (const revision of revisions) {
    if (!/^[0-9][0-9a-z.~+]*$/i.test(revision)) throw new Error(`revision: expected e.g. "1", got ${JSON.stringify(revision)}`);
  }
  const maintainer = await resolveMaintainer(root, o.maintainer);
  const workDir = o.workDir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'coredns-healthd-pkg-')));
  const seconds: Record<string, number> = {};
  const timed = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = process.hrtime.bigint();
    try {
      return await fn();
    } finally {
      seconds[what] = Number(process.hrtime.bigint() - t0) / 1e9;
      log(`${what}: ${seconds[what]?.toFixed(1)} s`);
    }
  };
  try {
    const staged = await timed('stage', () =>
      stage({
        root,
        workDir,
        log,
        ...(o.nodeBinary ? { nodeBinary: o.nodeBinary } : {}),
        ...(o.nodeLicense ? { nodeLicense: o.nodeLicense } : {}),
        ...(o.addon ? { addon: o.addon } : {}),
      }),
    );
    const result: BuildResult = { stage: staged, debs: [], rpms: [], seconds };
    const { homepage } = JSON.parse(await fs.readFile(path.join(root, 'package.json'), 'utf8')) as { homepage?: unknown };
    const site = typeof homepage === 'string' && /^https?:\/\/\S+$/.test(homepage) ? { homepage } : {};
    const licenseFile = formats.includes('rpm') ? await projectLicense(root) : '';
    for (const revision of revisions) {
      if (formats.includes('deb')) {
        const deb = await timed(`deb ${revision}`, () =>
          buildDeb({
            stage: staged,
            workDir,
            outDir: o.outDir,
            revision,
            maintainer,
            scriptsDir: path.join(PACKAGING, 'deb'),
            compression: 'xz',
            compressionLevel: fast ? 1 : 6,
            ...site,
          }),
        );
        result.debs.push(deb);
        result.deb ??= deb;
      }
      if (formats.includes('rpm')) {
        const rpm = await timed(`rpm ${revision}`, () =>
          buildRpm({
            stage: staged,
            workDir,
            outDir: o.outDir,
            release: revision,
            packager: maintainer,
            specTemplate: path.join(PACKAGING, 'rpm', 'coredns-healthd.spec.in'),
            licenseFile,
            payload: fast ? 'w1.xzdio' : 'w6.xzdio',
            ...site,
          }),
        );
        result.rpms.push(rpm);
        result.rpm ??= rpm;
      }
    }
    return result;
  } finally {
    if (!o.keepWork && !o.workDir) await fs.rm(workDir, { recursive: true, force: true });
  }
}

const USAGE = `Usage: npm run package -- [options]

Builds the .deb and .rpm of coredns-healthd into dist/packages/.

Options:
  --out DIR              output directory (default dist/packages)
  --format deb|rpm       build only this format (repeatable; default both)
  --revision N           package revision: the "1" of 0.1.0-1 (default 1)
  --maintainer "N <E>"   Maintainer/Packager (default $DEBFULLNAME <$DEBEMAIL>,
                         package.json author, git user)
  --node FILE            the Node.js binary to bundle (default: the one running this)
  --node-license FILE    its LICENSE file (default: found next to it)
  --keep-work            keep the scratch directory and print its path
  --fast                 xz level 1 instead of 6 (same formats; for trying things)
  -h, --help             this text
`;

async function cli(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        out: { type: 'string' },
        format: { type: 'string', multiple: true },
        revision: { type: 'string' },
        maintainer: { type: 'string' },
        node: { type: 'string' },
        'node-license': { type: 'string' },
        'keep-work': { type: 'boolean' },
        fast: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    process.stderr.write(`package: ${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const bad = (values.format ?? []).find((f) => f !== 'deb' && f !== 'rpm');
  if (bad !== undefined) {
    process.stderr.write(`package: --format: expected deb or rpm, got ${JSON.stringify(bad)}\n\n${USAGE}`);
    return 2;
  }
  const formats = (values.format ?? ['deb', 'rpm']) as Format[];
  const workDir = values['keep-work'] ? await fs.mkdtemp(path.join(os.tmpdir(), 'coredns-healthd-pkg-')) : undefined;
  const result = await buildPackages({
    outDir: path.resolve(values.out ?? path.join(ROOT, 'dist', 'packages')),
    formats,
    ...(values.revision ? { revision: values.revision } : {}),
    ...(values.maintainer ? { maintainer: values.maintainer } : {}),
    ...(values.node ? { nodeBinary: path.resolve(values.node) } : {}),
    ...(values['node-license'] ? { nodeLicense: path.resolve(values['node-license']) } : {}),
    ...(workDir ? { workDir } : {}),
    ...(values.fast ? { compression: 'fast' as const } : {}),
    log: (line) => process.stderr.write(`package: ${line}\n`),
  });
  for (const f of [result.deb, result.rpm]) if (f) process.stdout.write(`${f}\n`);
  if (workDir) process.stderr.write(`package: scratch directory kept: ${workDir}\n`);
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  cli(process.argv.slice(2)).then(
    (code) => (process.exitCode = code),
    (err: Error) => {
      process.stderr.write(`package: ${err.message}\n`);
      process.exitCode = 1;
    },
  );
}
