// The .rpm: packaging/rpm/coredns-healthd.spec.in filled in, and rpmbuild
// (Debian's rpm package works) copying the staged tree plus the RPM-style
// documentation and licence files.
import fs from 'node:fs/promises';
import path from 'node:path';
import { exec, tool } from './exec.js';
import { listTree, PACKAGE_NAME, settleTree, type Stage } from './stage.js';

export const RPM_ARCH = 'x86_64';

export interface RpmOptions {
  stage: Stage;
  workDir: string;
  outDir: string;
  release: string;
  packager: string;
  /** The spec template (packaging/rpm/coredns-healthd.spec.in). */
  specTemplate: string;
  /** The project's licence text (LICENSE, else Debian's /usr/share/common-licenses/Apache-2.0). */
  licenseFile: string;
  homepage?: string;
  /** Payload compression, rpm's w<level>.<io> syntax. Default w6.xzdio (RHEL 8 and later read it). */
  payload?: string;
}

/** "Thu Nov 20 2025", the %changelog date. */
export function rpmChangelogDate(epochSeconds: number): string {
  const d = new Date(epochSeconds * 1000);
  const days = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
  const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
  return `${days[d.getUTCDay()]} ${months[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, '0')} ${d.getUTCFullYear()}`;
}

/** The spec: every @FIELD@ of the template replaced; a field left over is an error. */
export function renderSpec(template: string, fields: Record<string, string>): string {
  const out = template.replace(/@([A-Z_]+)@/g, (whole, key: string) => {
    if (key === 'NAME') return whole; // the header comment mentions the syntax
    const v = fields[key];
    if (v === undefined) throw new Error(`spec template: no value for @${key}@`);
    if (/[\n%]/.test(v) && key !== 'URL_LINE') throw new Error(`spec template: @${key}@ value ${JSON.stringify(v)} holds a newline or %`);
    return v;
  });
  return out;
}

/** Builds <outDir>/coredns-healthd-<version>-<release>.x86_64.rpm; returns its path. */
export async function buildRpm(o: RpmOptions): Promise<string> {
  const { stage } = o;
  const top = path.join(o.workDir, `rpm-${stage.version}-${o.release}`);
  await fs.rm(top, { recursive: true, force: true });
  const tree = path.join(top, 'tree');
  await fs.mkdir(top, { recursive: true });
  await exec(tool('cp', 'coreutils'), ['-al', stage.dir, tree]);
  const doc = path.join(tree, 'usr', 'share', 'doc', PACKAGE_NAME);
  const lic = path.join(tree, 'usr', 'share', 'licenses', PACKAGE_NAME);
  await fs.mkdir(doc, { recursive: true, mode: 0o755 });
  await fs.mkdir(lic, { recursive: true, mode: 0o755 });
  await fs.writeFile(path.join(doc, 'CHANGELOG.md'), stage.changelog);
  await fs.copyFile(o.licenseFile, path.join(lic, 'LICENSE'));
  await fs.writeFile(path.join(lic, 'COPYRIGHT'), stage.copyright);
  for (const f of [path.join(doc, 'CHANGELOG.md'), path.join(lic, 'LICENSE'), path.join(lic, 'COPYRIGHT')]) await fs.chmod(f, 0o644);
  await settleTree(tree, await listTree(tree), stage.sourceDateEpoch);

  const spec = renderSpec(await fs.readFile(o.specTemplate, 'utf8'), {
    VERSION: stage.version,
    RELEASE: o.release,
    LICENSE: stage.rpmLicense,
    PACKAGER: o.packager,
    URL_LINE: o.homepage ? `URL:            ${o.homepage}\n` : '',
    STAGE: tree,
    CHANGELOG_DATE: rpmChangelogDate(stage.sourceDateEpoch),
  });
  const specFile = path.join(top, `${PACKAGE_NAME}.spec`);
  await fs.writeFile(specFile, spec);
  await exec(
    tool('rpmbuild', 'rpm'),
    [
      '-bb',
      '--nodeps', // BuildRequires are checked against an rpm database this Debian host does not have
      '--define',
      `_topdir ${top}`,
      '--define',
      `_binary_payload ${o.payload ?? 'w6.xzdio'}`,
      '--define',
      `_buildhost ${PACKAGE_NAME}-build`,
      '--define',
      'use_source_date_epoch_as_buildtime 1',
      '--define',
      'clamp_mtime_to_source_date_epoch 1',
      '--target',
      RPM_ARCH,
      specFile,
    ],
    { env: { ...process.env, SOURCE_DATE_EPOCH: String(stage.sourceDateEpoch) }, timeoutMs: 1_800_000 },
  );
  const built = path.join(top, 'RPMS', RPM_ARCH, `${PACKAGE_NAME}-${stage.version}-${o.release}.${RPM_ARCH}.rpm`);
  await fs.mkdir(o.outDir, { recursive: true });
  const out = path.join(o.outDir, path.basename(built));
  await fs.copyFile(built, out);
  await fs.rm(top, { recursive: true, force: true });
  return out;
}
