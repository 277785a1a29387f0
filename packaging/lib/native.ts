// The two native files the package ships: the Node.js runtime (copied from
// the build host, stripped) and the addon, rebuilt for the package: hardened,
// and with libstdc++ linked in statically, because a GCC 12+ build needs
// GLIBCXX_3.4.30 (std::condition_variable::wait) which RHEL 9's libstdc++
// (GCC 11) lacks. --gc-sections keeps the parts of libstdc++.a the addon does
// not use (std::random_device → arc4random, GLIBC_2.36) out of it; libgcc stays
// dynamic, since the static unwinder of GCC 12 needs _dl_find_object (GLIBC_2.35).
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { baselineProblems, elfNeeds, isElf, type ElfNeeds } from './elf.js';
import { exec, tool } from './exec.js';

/** Compiler flags of the packaged addon: Debian's hardening set, no debug info. */
export const ADDON_CXXFLAGS =
  '-O2 -g0 -ffunction-sections -fdata-sections -fstack-protector-strong -fstack-clash-protection -fcf-protection -D_FORTIFY_SOURCE=2 -Wformat -Werror=format-security';
/** Full RELRO + BIND_NOW; the C++ library linked in, trimmed, and kept private to the addon. */
export const ADDON_LDFLAGS = '-Wl,-z,relro -Wl,-z,now -Wl,--as-needed -Wl,--gc-sections -static-libstdc++ -Wl,--exclude-libs,ALL';

/** What dh_strip does to shared objects and executables. */
const STRIP_ARGS = ['--remove-section=.comment', '--remove-section=.note', '--strip-unneeded'];

/** Node's headers for node-gyp: $npm_config_nodedir, else the prefix of the running node when it has include/node. */
export async function findNodeDir(nodeBinary: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const candidates = [env.npm_config_nodedir, path.resolve(path.dirname(nodeBinary), '..')].filter((c): c is string => Boolean(c));
  for (const dir of candidates) {
    try {
      await fs.access(path.join(dir, 'include', 'node', 'node_api.h'));
      return dir;
    } catch {
      // next
    }
  }
  throw new Error(
    `no Node.js headers (include/node/node_api.h) under ${candidates.join(' or ')}: set npm_config_nodedir to the prefix of a Node.js installation with headers`,
  );
}

export interface AddonBuild {
  file: string;
  needs: ElfNeeds;
}

/**
 * Rebuilds the addon from <root>/binding.gyp and native/ in a scratch copy
 * (never touching <root>/build), strips it and checks it against the baseline.
 */
export async function buildPortableAddon(root: string, workDir: string, nodeBinary: string, log: (s: string) => void): Promise<AddonBuild> {
  const src = path.join(workDir, 'addon');
  await fs.mkdir(src, { recursive: true });
  await fs.copyFile(path.join(root, 'binding.gyp'), path.join(src, 'binding.gyp'));
  await fs.cp(path.join(root, 'native'), path.join(src, 'native'), { recursive: true });
  const nodeDir = await findNodeDir(nodeBinary);
  const gyp = path.join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  log(`addon: node-gyp rebuild (headers ${nodeDir}, static libstdc++, hardened)`);
  await exec(nodeBinary, [gyp, 'rebuild', `--nodedir=${nodeDir}`, `--jobs=${Math.max(1, Math.min(4, os.availableParallelism()))}`], {
    cwd: src,
    env: {
      ...process.env,
      // binding.gyp asks node for node-addon-api's include dir from the scratch copy.
      NODE_PATH: path.join(root, 'node_modules'),
      CXXFLAGS: ADDON_CXXFLAGS,
      LDFLAGS: ADDON_LDFLAGS,
      npm_config_nodedir: nodeDir,
    },
    timeoutMs: 900_000,
  });
  const file = path.join(src, 'build', 'Release', 'healthd.node');
  await exec(tool('strip', 'binutils'), STRIP_ARGS.concat(file));
  const needs = await elfNeeds(file);
  const problems = baselineProblems(needs);
  if (problems.length) throw new Error(`the packaged addon would not load everywhere:\n${problems.join('\n')}`);
  return { file, needs };
}

export interface RuntimeCopy {
  version: string;
  needs: ElfNeeds;
  license: string;
}

/** Where Node.js distributions put LICENSE relative to the binary, and where Debian-style packages do. */
export function nodeLicenseCandidates(nodeBinary: string): string[] {
  const prefix = path.resolve(path.dirname(nodeBinary), '..');
  return [
    path.join(prefix, 'LICENSE'),
    path.join(prefix, 'share', 'doc', 'node', 'LICENSE'),
    path.join(prefix, 'share', 'doc', 'nodejs', 'LICENSE'),
    '/usr/share/doc/nodejs/LICENSE',
  ];
}

/** Copies and strips the Node.js binary; checks its version, its libraries and that its LICENSE is at hand. */
export async function copyNodeRuntime(nodeBinary: string, dest: string, minMajor: number, licenseFile?: string): Promise<RuntimeCopy> {
  if (!(await isElf(nodeBinary))) throw new Error(`${nodeBinary}: not an ELF executable (a wrapper script?); pass the real Node.js binary`);
  const version = (await exec(nodeBinary, ['-p', 'process.versions.node'])).trim();
  const major = Number(version.split('.')[0]);
  if (!(major >= minMajor)) throw new Error(`${nodeBinary} is Node.js ${version}; the package needs ${minMajor} or later (package.json engines)`);
  const license = await readFirst(licenseFile ? [licenseFile] : nodeLicenseCandidates(nodeBinary));
  if (license === null) {
    throw new Error(`Node.js LICENSE not found (looked in ${nodeLicenseCandidates(nodeBinary).join(', ')}); pass --node-license FILE`);
  }
  if (!license.includes('Node.js is licensed for use as follows')) throw new Error("the Node.js LICENSE file found does not look like Node.js's");
  await fs.copyFile(nodeBinary, dest);
  await exec(tool('strip', 'binutils'), STRIP_ARGS.concat(dest));
  await fs.chmod(dest, 0o755);
  const needs = await elfNeeds(dest);
  const problems = baselineProblems(needs);
  if (problems.length) {
    throw new Error(
      `${nodeBinary} cannot be bundled: it needs libraries a stock node may lack or not have in that version ` +
        `(a distribution's own nodejs links libnode, OpenSSL and ICU dynamically; use an official Node.js build, which needs only glibc 2.28 and libstdc++):\n${problems.join('\n')}`,
    );
  }
  return { version, needs, license };
}

async function readFirst(files: string[]): Promise<string | null> {
  for (const f of files) {
    try {
      return await fs.readFile(f, 'utf8');
    } catch {
      // next
    }
  }
  return null;
}
