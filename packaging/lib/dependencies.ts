// The production dependencies that ship under /usr/lib/coredns-healthd/node_modules:
// the packages package-lock.json marks neither dev nor optional (what
// `npm ci --omit=dev --omit=optional` would install), copied from the
// node_modules `npm ci` made (no network), without what Node never loads.
import fs from 'node:fs/promises';
import path from 'node:path';

export interface LockPackage {
  version?: string;
  license?: string;
  dev?: boolean;
  optional?: boolean;
  devOptional?: boolean;
  link?: boolean;
}

export interface Dependency {
  /** "node_modules/a" or "node_modules/a/node_modules/b", as in package-lock.json. */
  lockPath: string;
  name: string;
  version: string;
  /** SPDX expression from the package's package.json. */
  license: string;
  /** Copyright lines from its licence file, else its author. */
  copyright: string[];
}

/** Lock paths of the packages a production install holds, sorted. */
export function productionPaths(lock: { lockfileVersion?: number; packages?: Record<string, LockPackage> }): string[] {
  if (!lock.packages || (lock.lockfileVersion ?? 0) < 2) {
    throw new Error('package-lock.json: expected lockfileVersion 2 or 3 with a "packages" map (npm 7 or later)');
  }
  const out: string[] = [];
  for (const [key, pkg] of Object.entries(lock.packages)) {
    if (key === '' || !key.startsWith('node_modules/')) continue;
    if (pkg.dev || pkg.optional || pkg.devOptional) continue;
    if (pkg.link) throw new Error(`package-lock.json: ${key} is a link (npm link / workspace); a package must hold real files`);
    out.push(key);
  }
  return out.sort();
}

/** The package name of a lock path: the part after its last node_modules/. */
export function packageName(lockPath: string): string {
  return lockPath.slice(lockPath.lastIndexOf('node_modules/') + 'node_modules/'.length);
}

const LICENSE_FILE = /^(licen[cs]e|copying|notice|authors)([.-].*)?$/i;
/** Files dropped from dependencies: source maps, type declarations, docs. */
const DROP_FILE = /(\.map|\.d\.ts|\.d\.mts|\.d\.cts|\.tsbuildinfo|\.md|\.markdown)$/i;
/** Native code and its sources: the package ships none from dependencies (see dropReason). */
const NATIVE_FILE = /\.(node|o|a|so|bare|gyp|gypi|c|cc|cpp|h|hh|hpp)$|^CMakeLists\.txt$/i;
/** Directories at a package's top level that only its own development uses. */
const DEV_DIRS = new Set(['test', 'tests', '__tests__', 'example', 'examples', 'benchmark', 'benchmarks']);

/**
 * Packages in "dependencies" that only building needs: node-addon-api is the
 * addon's C++ headers, and the package ships the addon compiled.
 */
export const BUILD_ONLY = new Set(['node-addon-api']);

/**
 * Why a file or directory of a dependency is not shipped, or null to ship it.
 * `rel` is relative to the package directory; `bins` are its package.json "bin"
 * targets (command-line tools nothing here runs) other than its main module.
 */
export function dropReason(rel: string, isDir: boolean, opts: { gypOutput?: boolean; bins?: ReadonlySet<string> } = {}): string | null {
  const base = path.posix.basename(rel);
  if (base.startsWith('.')) return 'hidden (editor, CI and VCS files)';
  if (isDir) {
    if (base === 'node_modules') return 'nested packages are copied on their own';
    if (!rel.includes('/') && DEV_DIRS.has(base)) return "the package's own tests and examples";
    // Prebuilt binaries (bare-* packages carry them for the Bare runtime, not Node).
    if (base === 'prebuilds') return 'prebuilt native code';
    // node-gyp's output of an optional native speed-up (ssh2's crypto binding):
    // built for this build host, and the package falls back to JavaScript without it.
    if (base === 'build' && opts.gypOutput) return 'node-gyp build output';
    return null;
  }
  if (LICENSE_FILE.test(base)) return null;
  if (opts.bins?.has(rel)) return 'a command-line tool of the dependency';
  if (DROP_FILE.test(base)) return 'not needed at run time';
  if (NATIVE_FILE.test(base)) return 'native code from a dependency';
  return null;
}

/** A package's "bin" targets, normalized ("./bin/x.js" → "bin/x.js"), less its main module. */
export function binTargets(pkg: Record<string, unknown>): Set<string> {
  const bin = pkg.bin;
  const targets = typeof bin === 'string' ? [bin] : bin && typeof bin === 'object' ? Object.values(bin as Record<string, unknown>) : [];
  const norm = (p: unknown): string | null => (typeof p === 'string' ? path.posix.normalize(p).replace(/^\.\//, '') : null);
  const main = norm(pkg.main ?? 'index.js');
  return new Set(targets.map(norm).filter((t): t is string => t !== null && t !== main));
}

async function copyTree(src: string, dest: string, rel: string, stats: { files: number; bytes: number }, bins: ReadonlySet<string>): Promise<void> {
  await fs.mkdir(dest, { recursive: true, mode: 0o755 });
  for (const entry of await fs.readdir(src, { withFileTypes: true })) {
    const from = path.join(src, entry.name);
    const to = path.join(dest, entry.name);
    const relPath = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.isDirectory()) {
      const gypOutput = entry.name === 'build' && (await exists(path.join(from, 'config.gypi')));
      if (dropReason(relPath, true, { gypOutput })) continue;
      await copyTree(from, to, relPath, stats, bins);
      // A directory whose every file was dropped (type declarations only, say) is not shipped either.
      if ((await fs.readdir(to)).length === 0) await fs.rmdir(to);
    } else if (entry.isFile()) {
      if (dropReason(relPath, false, { bins })) continue;
      await fs.copyFile(from, to);
      // Nothing under node_modules is executed directly (bin scripts included).
      await fs.chmod(to, 0o644);
      stats.files++;
      stats.bytes += (await fs.stat(to)).size;
    } else if (entry.isSymbolicLink()) {
      const target = await fs.readlink(from);
      if (path.isAbsolute(target) || path.normalize(path.join(relPath, '..', target)).startsWith('..')) {
        throw new Error(`${from}: symbolic link to ${target} points outside its package`);
      }
      await fs.symlink(target, to);
    }
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * A copyright notice: "Copyright (c) 2011 Name", "Copyright Joyent, Inc.", "© 2020 Name". Not
 * licence prose ("copyright license to reproduce", "copyright notice") nor templates ("{yyyy}").
 */
const COPYRIGHT_LINE = /^(?:copyright\b\s*(?:\(c\)|©)?|©)\s*([0-9A-Z].*)$/i;

/** Copyright holders as the licence file states them, else the author, else "the authors of <name>". */
export function copyrightOf(licenseText: string | null, author: unknown, name: string): string[] {
  const lines: string[] = [];
  for (const raw of (licenseText ?? '').split('\n')) {
    const m = COPYRIGHT_LINE.exec(raw.trim());
    if (!m) continue;
    const holder = (m[1] as string).replace(/\s*all rights reserved\.?$/i, '').trim();
    // The case-insensitive match lets "copyright license ..." through: require a year or a capital.
    if (!/^([0-9]|[A-Z])/.test(holder) || /[{}[\]<>]/.test(holder.replace(/<[^<>@\s]+@[^<>\s]+>/g, ''))) continue;
    lines.push(holder);
  }
  if (lines.length) return [...new Set(lines)];
  if (typeof author === 'string' && author.trim()) return [author.trim()];
  if (author && typeof author === 'object' && 'name' in author && typeof author.name === 'string') {
    const email = 'email' in author && typeof author.email === 'string' ? ` <${author.email}>` : '';
    return [`${author.name}${email}`];
  }
  return [`the authors of ${name}`];
}

/** The licence of a package.json: "license": "MIT", or the old "license": {type} / "licenses": [{type}]. */
export function licenseOf(pkg: Record<string, unknown>, where: string): string {
  const lic = pkg.license ?? pkg.licenses;
  if (typeof lic === 'string' && lic.trim()) return lic.trim();
  const types = (Array.isArray(lic) ? lic : [lic])
    .map((l) => (l && typeof l === 'object' && 'type' in l ? (l as { type: unknown }).type : undefined))
    .filter((t): t is string => typeof t === 'string' && t.trim() !== '');
  if (types.length) return types.join(' OR ');
  throw new Error(`${where}: no "license" field; every shipped package must state its licence`);
}

/** The text of a package's licence file, or null when it ships none. */
export async function licenseText(dir: string): Promise<string | null> {
  const files = (await fs.readdir(dir)).filter((f) => /^(licen[cs]e|copying)([.-].*)?$/i.test(f)).sort();
  return files.length ? fs.readFile(path.join(dir, files[0] as string), 'utf8') : null;
}

export interface CopyResult {
  dependencies: Dependency[];
  files: number;
  bytes: number;
}

/** Copies every production package from <root>/node_modules into <dest>/node_modules. */
export async function copyDependencies(root: string, dest: string): Promise<CopyResult> {
  const lock = JSON.parse(await fs.readFile(path.join(root, 'package-lock.json'), 'utf8')) as Parameters<typeof productionPaths>[0];
  const stats = { files: 0, bytes: 0 };
  const dependencies: Dependency[] = [];
  for (const lockPath of productionPaths(lock)) {
    const src = path.join(root, lockPath);
    let pkg: Record<string, unknown>;
    try {
      pkg = JSON.parse(await fs.readFile(path.join(src, 'package.json'), 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new Error(`${lockPath}: cannot read its package.json (${(err as Error).message}); run "npm ci" first`, { cause: err });
    }
    const lockVersion = (lock.packages![lockPath] as LockPackage).version; // productionPaths() threw if there were none
    if (lockVersion !== undefined && pkg.version !== lockVersion) {
      throw new Error(`${lockPath}: node_modules holds ${String(pkg.version)} but package-lock.json says ${lockVersion}; run "npm ci"`);
    }
    const name = packageName(lockPath);
    if (BUILD_ONLY.has(name)) continue;
    await copyTree(src, path.join(dest, lockPath), '', stats, binTargets(pkg));
    dependencies.push({
      lockPath,
      name,
      version: String(pkg.version),
      license: licenseOf(pkg, `${lockPath}/package.json`),
      copyright: copyrightOf(await licenseText(src), pkg.author, name),
    });
  }
  return { dependencies, ...stats };
}
