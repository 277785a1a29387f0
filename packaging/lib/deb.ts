// The .deb: the staged tree plus Debian's documentation and control files,
// built with dpkg-deb (no debhelper). Library dependencies come from
// dpkg-shlibdeps, as dh_shlibdeps would compute them.
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { exec, tool } from './exec.js';
import { CONFIG_FILE, gzip, listTree, PACKAGE_NAME, settleTree, type Stage } from './stage.js';

export const DEB_ARCH = 'amd64';
/** deb-systemd-helper's "was-enabled"/"update-state" semantics the maintainer scripts rely on. */
export const INIT_SYSTEM_HELPERS = 'init-system-helpers (>= 1.52)';

export const SYNOPSIS = 'probe cluster DNS from every network namespace on a Kubernetes node';
export const LONG_DESCRIPTION = `coredns-healthd runs on every node of a Kubernetes cluster and answers,
continuously, whether the pods on that node can resolve cluster DNS, and if
not, why. It sends DNS queries over UDP and TCP from inside the host network
namespace and every container network namespace to CoreDNS, exports the
results as Prometheus metrics, diagnoses failing namespaces and, when the
fault is CoreDNS's own and the policy allows it, restarts the broken pod.
This package bundles the Node.js runtime it runs on.`;

export interface DebOptions {
  stage: Stage;
  workDir: string;
  outDir: string;
  /** Debian revision ("1" → 0.1.0-1). */
  revision: string;
  maintainer: string;
  /** Directory of postinst, prerm, postrm and the lintian overrides (packaging/deb). */
  scriptsDir: string;
  /** dpkg-deb -Z. Default xz. */
  compression?: 'xz' | 'gzip' | 'zstd' | 'none';
  compressionLevel?: number;
  /** package.json "homepage", as the Homepage: field. */
  homepage?: string;
}

/** Debian changelog date: "Thu, 20 Nov 2025 12:00:00 +0000". */
export function rfc2822(epochSeconds: number): string {
  const d = new Date(epochSeconds * 1000);
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${days[d.getUTCDay()]}, ${p(d.getUTCDate())} ${months[d.getUTCMonth()]} ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

export function debianChangelog(version: string, fullVersion: string, maintainer: string, epoch: number): string {
  return `${PACKAGE_NAME} (${fullVersion}) unstable; urgency=medium

  * Upstream release ${version}; its changes are in
    /usr/share/doc/${PACKAGE_NAME}/changelog.gz.

 -- ${maintainer}  ${rfc2822(epoch)}
`;
}

/** A control field's long description: each line indented, blank lines as " .". */
const controlDescription = (text: string): string =>
  text
    .split('\n')
    .map((l) => (l.trim() ? ` ${l}` : ' .'))
    .join('\n');

export function renderControl(o: { version: string; maintainer: string; installedSizeKiB: number; depends: string[]; homepage?: string }): string {
  return [
    `Package: ${PACKAGE_NAME}`,
    `Version: ${o.version}`,
    `Architecture: ${DEB_ARCH}`,
    `Maintainer: ${o.maintainer}`,
    `Installed-Size: ${o.installedSizeKiB}`,
    `Depends: ${o.depends.join(', ')}`,
    'Section: net',
    'Priority: optional',
    ...(o.homepage ? [`Homepage: ${o.homepage}`] : []),
    `Description: ${SYNOPSIS}`,
    controlDescription(LONG_DESCRIPTION),
    '',
  ].join('\n');
}

/** dpkg-shlibdeps' Depends for the ELF files (run in a scratch dir holding the debian/control it insists on). */
export async function shlibDepends(workDir: string, pkgRoot: string, elfFiles: string[]): Promise<string[]> {
  const dir = path.join(workDir, 'shlibdeps');
  await fs.mkdir(path.join(dir, 'debian'), { recursive: true });
  await fs.writeFile(path.join(dir, 'debian', 'control'), `Source: ${PACKAGE_NAME}\n\nPackage: ${PACKAGE_NAME}\nArchitecture: ${DEB_ARCH}\n`);
  const out = await exec(tool('dpkg-shlibdeps', 'dpkg-dev'), ['-O', ...elfFiles.map((f) => path.join(pkgRoot, f))], { cwd: dir });
  const m = /^shlibs:Depends=(.*)$/m.exec(out);
  if (!m) throw new Error(`dpkg-shlibdeps printed no shlibs:Depends: ${out}`);
  return (m[1] as string)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** Builds <outDir>/coredns-healthd_<version>-<revision>_amd64.deb; returns its path. */
export async function buildDeb(o: DebOptions): Promise<string> {
  const { stage } = o;
  const fullVersion = `${stage.version}-${o.revision}`;
  const pkgRoot = path.join(o.workDir, `deb-${fullVersion}`);
  await fs.rm(pkgRoot, { recursive: true, force: true });
  // Hard links: the stage is shared with the rpm build, and nothing below rewrites a staged file.
  await exec(tool('cp', 'coreutils'), ['-al', stage.dir, pkgRoot]);

  const docDir = path.join(pkgRoot, 'usr', 'share', 'doc', PACKAGE_NAME);
  await fs.mkdir(docDir, { recursive: true, mode: 0o755 });
  await fs.writeFile(path.join(docDir, 'copyright'), stage.copyright);
  await fs.writeFile(path.join(docDir, 'changelog.Debian.gz'), gzip(debianChangelog(stage.version, fullVersion, o.maintainer, stage.sourceDateEpoch)));
  await fs.writeFile(path.join(docDir, 'changelog.gz'), gzip(stage.changelog));
  const overrides = path.join(pkgRoot, 'usr', 'share', 'lintian', 'overrides');
  await fs.mkdir(overrides, { recursive: true, mode: 0o755 });
  await fs.copyFile(path.join(o.scriptsDir, 'lintian-overrides'), path.join(overrides, PACKAGE_NAME));
  for (const f of [
    path.join(docDir, 'copyright'),
    path.join(docDir, 'changelog.Debian.gz'),
    path.join(docDir, 'changelog.gz'),
    path.join(overrides, PACKAGE_NAME),
  ]) {
    await fs.chmod(f, 0o644);
  }

  const entries = await listTree(pkgRoot);
  const md5: string[] = [];
  let bytes = 0;
  for (const { rel, kind } of entries) {
    if (kind !== 'file') continue;
    const data = await fs.readFile(path.join(pkgRoot, rel));
    bytes += data.length;
    if (`${rel}` !== CONFIG_FILE) md5.push(`${createHash('md5').update(data).digest('hex')}  ${rel}`);
  }

  const control = path.join(pkgRoot, 'DEBIAN');
  await fs.mkdir(control, { mode: 0o755 });
  const depends = [
    ...(await shlibDepends(
      o.workDir,
      pkgRoot,
      stage.elf.map((e) => e.file.replace(/^\//, '')),
    )),
    INIT_SYSTEM_HELPERS,
  ];
  await fs.writeFile(
    path.join(control, 'control'),
    renderControl({
      version: fullVersion,
      maintainer: o.maintainer,
      installedSizeKiB: Math.ceil(bytes / 1024),
      depends,
      ...(o.homepage ? { homepage: o.homepage } : {}),
    }),
  );
  await fs.writeFile(path.join(control, 'conffiles'), `/${CONFIG_FILE}\n`);
  await fs.writeFile(path.join(control, 'md5sums'), `${md5.join('\n')}\n`);
  for (const f of ['control', 'conffiles', 'md5sums']) await fs.chmod(path.join(control, f), 0o644);
  for (const s of ['postinst', 'prerm', 'postrm']) {
    await fs.copyFile(path.join(o.scriptsDir, s), path.join(control, s));
    await fs.chmod(path.join(control, s), 0o755);
  }
  await settleTree(pkgRoot, await listTree(pkgRoot), stage.sourceDateEpoch);

  await fs.mkdir(o.outDir, { recursive: true });
  const out = path.join(o.outDir, `${PACKAGE_NAME}_${fullVersion}_${DEB_ARCH}.deb`);
  const compression = o.compression ?? 'xz';
  const level = o.compressionLevel === undefined ? [] : [`-z${o.compressionLevel}`];
  await exec(tool('dpkg-deb', 'dpkg'), ['--root-owner-group', `-Z${compression}`, ...level, '--build', pkgRoot, out], {
    env: { ...process.env, SOURCE_DATE_EPOCH: String(stage.sourceDateEpoch) },
    timeoutMs: 1_800_000,
  });
  await fs.rm(pkgRoot, { recursive: true, force: true });
  return out;
}
