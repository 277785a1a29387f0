// What a shipped ELF file needs from the system it runs on: its NEEDED
// libraries and the newest symbol version of each (GLIBC_2.28, GLIBCXX_3.4.21).
// The package runs on every node whose libraries meet BASELINE.
import { open } from 'node:fs/promises';
import { exec, tool } from './exec.js';

export interface ElfNeeds {
  file: string;
  /** DT_NEEDED sonames, in file order. */
  needed: string[];
  /** Every required symbol version, e.g. "GLIBC_2.28", sorted. */
  versions: string[];
}

/**
 * The oldest libraries of the distributions the package supports: RHEL 9
 * (glibc 2.34, libstdc++ of GCC 11: GLIBCXX_3.4.29, CXXABI_1.3.13) is older
 * than Debian 12 (2.36, GCC 12), Ubuntu 24.04 (2.39, GCC 14) and Debian 13
 * (2.41, GCC 14). libgcc_s has had GCC_12.0.0 since GCC 12; GCC 11 tops at GCC_7.0.0.
 */
export const BASELINE: Readonly<Record<string, string>> = {
  GLIBC: '2.34',
  GLIBCXX: '3.4.29',
  CXXABI: '1.3.13',
  GCC: '7.0.0',
};

/** Libraries every supported distribution installs in its minimal base (glibc, libgcc, libstdc++). */
export const BASE_LIBRARIES: readonly string[] = [
  'libc.so.6',
  'libm.so.6',
  'libdl.so.2',
  'libpthread.so.0',
  'librt.so.1',
  'libgcc_s.so.1',
  'libstdc++.so.6',
  'ld-linux-x86-64.so.2',
];

const ELF_MAGIC = Buffer.from([0x7f, 0x45, 0x4c, 0x46]);

/** True when the file starts with the ELF magic. */
export async function isElf(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await fh.read(buf, 0, 4, 0);
    return bytesRead === 4 && buf.equals(ELF_MAGIC);
  } finally {
    await fh.close();
  }
}

/** Parses `readelf --dynamic --version-info --wide` output. */
export function parseReadelf(file: string, text: string): ElfNeeds {
  const needed = [...text.matchAll(/\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g)].map((m) => m[1] as string);
  // Only the version-needs section ("Name: GLIBC_2.28  Flags: ..."), not the definitions.
  const needsStart = text.indexOf("Version needs section '.gnu.version_r'");
  const versions = new Set<string>();
  if (needsStart >= 0) {
    for (const m of text.slice(needsStart).matchAll(/Name: ([A-Z][A-Z0-9_]*_[0-9][0-9.]*)\s+Flags:/g)) versions.add(m[1] as string);
  }
  return { file, needed, versions: [...versions].sort() };
}

export async function elfNeeds(file: string): Promise<ElfNeeds> {
  return parseReadelf(file, await exec(tool('readelf', 'binutils'), ['--dynamic', '--version-info', '--wide', file]));
}

/** -1, 0, 1 for dotted numeric versions ("2.28" < "2.34"). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}

/** The newest version required per family: { GLIBC: "2.28", GLIBCXX: "3.4.21" }. */
export function newestVersions(versions: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of versions) {
    const at = v.lastIndexOf('_');
    const family = v.slice(0, at);
    const num = v.slice(at + 1);
    if (out[family] === undefined || compareVersions(num, out[family]) > 0) out[family] = num;
  }
  return out;
}

/** What keeps the file from running on every supported distribution; empty when nothing does. */
export function baselineProblems(needs: ElfNeeds): string[] {
  const problems: string[] = [];
  for (const lib of needs.needed) {
    if (!BASE_LIBRARIES.includes(lib)) problems.push(`${needs.file}: needs ${lib}, which is not in the base system of every supported distribution`);
  }
  for (const [family, newest] of Object.entries(newestVersions(needs.versions))) {
    const limit = BASELINE[family];
    if (limit === undefined) problems.push(`${needs.file}: needs symbol version ${family}_${newest} of an unknown library family`);
    else if (compareVersions(newest, limit) > 0) {
      problems.push(`${needs.file}: needs ${family}_${newest}, newer than ${family}_${limit} (RHEL 9, the oldest supported distribution)`);
    }
  }
  return problems;
}
