// The pure parts of the package build (packaging/lib/): which npm packages and
// files ship, licences and copyright, ELF requirements, control and spec files.
// No root, no build: packaging.test.ts builds and installs the real packages.
import t from 'tap';
import { licenseIds, renderDebianCopyright, rpmLicense } from '../../packaging/lib/copyright.js';
import { debianChangelog, renderControl, rfc2822 } from '../../packaging/lib/deb.js';
import { binTargets, copyrightOf, dropReason, licenseOf, packageName, productionPaths, type Dependency } from '../../packaging/lib/dependencies.js';
import { baselineProblems, compareVersions, newestVersions, parseReadelf } from '../../packaging/lib/elf.js';
import { renderSpec, rpmChangelogDate } from '../../packaging/lib/rpm.js';
import { minNodeMajor } from '../../packaging/lib/stage.js';
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { repoPath } from '../support/paths.js';

t.test('productionPaths: what npm ci --omit=dev --omit=optional installs', async (t) => {
  const lock = {
    lockfileVersion: 3,
    packages: {
      '': { version: '0.1.0' },
      'node_modules/a': { version: '1.0.0' },
      'node_modules/a/node_modules/b': { version: '2.0.0' },
      'node_modules/dev': { version: '1.0.0', dev: true },
      'node_modules/opt': { version: '1.0.0', optional: true },
      'node_modules/devopt': { version: '1.0.0', devOptional: true },
    },
  };
  t.same(productionPaths(lock), ['node_modules/a', 'node_modules/a/node_modules/b']);
  t.throws(() => productionPaths({ lockfileVersion: 1 }), /lockfileVersion 2 or 3/);
  t.throws(() => productionPaths({ lockfileVersion: 3, packages: { 'node_modules/x': { link: true } } }), /is a link/);
  t.equal(packageName('node_modules/a/node_modules/@scope/b'), '@scope/b');
});

t.test('dropReason: what of a dependency is not shipped', async (t) => {
  const ship = (rel: string, dir = false, opts = {}): boolean => dropReason(rel, dir, opts) === null;
  t.ok(ship('index.js'));
  t.ok(ship('lib/x.cjs'));
  t.ok(ship('LICENSE'), 'licence files stay');
  t.ok(ship('LICENSE.md'), 'even in markdown');
  t.ok(ship('lib/test', true), 'a "test" directory below the top level may be code');
  t.notOk(ship('test', true), 'top-level tests');
  t.notOk(ship('index.d.ts'));
  t.notOk(ship('index.js.map'));
  t.notOk(ship('README.md'));
  t.notOk(ship('.eslintrc.json'), 'hidden files');
  t.notOk(ship('.github', true));
  t.notOk(ship('prebuilds', true));
  t.notOk(ship('build', true, { gypOutput: true }), 'node-gyp output');
  t.ok(ship('build', true), 'a build/ directory of JavaScript');
  t.notOk(ship('lib/binding.c'));
  t.notOk(ship('x.node'));
  t.notOk(ship('CMakeLists.txt'));
  t.notOk(ship('bin/cli.js', false, { bins: new Set(['bin/cli.js']) }), 'command-line tools');
});

t.test('binTargets: the bin scripts, less the main module', async (t) => {
  t.same([...binTargets({ bin: { a: './bin/a.js', b: 'bin/b.js' } })].sort(), ['bin/a.js', 'bin/b.js']);
  t.same([...binTargets({ bin: './cli.js', main: 'cli.js' })], [], 'a bin that is also the main module stays');
  t.same([...binTargets({})], []);
});

t.test('copyrightOf: holders from the licence file, not licence prose', async (t) => {
  t.same(
    copyrightOf(
      'The MIT License\n\nCopyright (c) 2011 Einar Otto Stangvik <einaros@gmail.com>\nCopyright (c) 2013 Arnout Kazemier and contributors\n\nPermission...',
      undefined,
      'ws',
    ),
    ['2011 Einar Otto Stangvik <einaros@gmail.com>', '2013 Arnout Kazemier and contributors'],
  );
  const apache =
    'copyright license to reproduce, prepare Derivative Works of,\n(c) You must retain, in the Source form\nCopyright {yyyy} {name of copyright owner}\nCopyright [yyyy] [name of copyright owner]\n';
  t.same(copyrightOf(apache, 'Jane Doe <jane@example.org>', 'x'), ['Jane Doe <jane@example.org>'], 'Apache prose and templates are not holders: the author is');
  t.same(copyrightOf('© 2020 Someone. All rights reserved.', undefined, 'x'), ['2020 Someone.']);
  t.same(copyrightOf(null, { name: 'A', email: 'a@b.c' }, 'x'), ['A <a@b.c>']);
  t.same(copyrightOf(null, undefined, 'x'), ['the authors of x']);
});

t.test('licenseOf: the forms package.json files use', async (t) => {
  t.equal(licenseOf({ license: 'MIT' }, 'p'), 'MIT');
  t.equal(licenseOf({ license: { type: 'BSD-3-Clause' } }, 'p'), 'BSD-3-Clause');
  t.equal(licenseOf({ licenses: [{ type: 'MIT' }, { type: 'Apache-2.0' }] }, 'p'), 'MIT OR Apache-2.0');
  t.throws(() => licenseOf({}, 'node_modules/x/package.json'), /node_modules\/x\/package\.json: no "license" field/);
  t.same(licenseIds('(MIT OR Apache-2.0) AND BSD-3-Clause'), ['MIT', 'Apache-2.0', 'BSD-3-Clause']);
});

const dep = (name: string, license: string): Dependency => ({
  lockPath: `node_modules/${name}`,
  name,
  version: '1.0.0',
  license,
  copyright: [`2020 ${name} authors`],
});

t.test('the Debian copyright file', async (t) => {
  const text = renderDebianCopyright({
    version: '0.1.0',
    nodeLicense: 'Node.js is licensed for use as follows:\n\nCopyright Node.js contributors.\n',
    nodeVersion: '20.0.0',
    dependencies: [dep('a', 'MIT'), dep('b', 'Apache-2.0'), dep('c', '(MIT OR Apache-2.0)')],
  });
  t.match(text, /^Format: https:\/\/www\.debian\.org\/doc\/packaging-manuals\/copyright-format\/1\.0\/$/m);
  t.match(text, /^Files: usr\/lib\/coredns-healthd\/node_modules\/a\/\*\nCopyright: 2020 a authors\nLicense: MIT$/m);
  t.match(text, /^License: MIT or Apache-2\.0$/m, 'DEP-5 writes "or"');
  t.match(text, /^License: MIT\n Permission is hereby granted/m, 'MIT text');
  t.match(text, /^License: Apache-2\.0\n On Debian systems, .*\n "\/usr\/share\/common-licenses\/Apache-2\.0"\.$/m, 'Apache-2.0 by reference');
  t.match(text, /^License: Node\.js\n Node\.js is licensed for use as follows:\n \.\n/m, 'Node.js licence verbatim, blank lines as " ."');
  t.notMatch(text, /\n\n\n/, 'paragraphs are separated by one empty line');
  t.throws(
    () => renderDebianCopyright({ version: '0', nodeLicense: 'x', nodeVersion: '20', dependencies: [dep('p', 'Python-2.0')] }),
    /no licence text for Python-2\.0 \(used by p\)/,
  );
  t.match(
    renderDebianCopyright({
      version: '0',
      nodeLicense: 'x',
      nodeVersion: '20',
      dependencies: [dep('p', 'Python-2.0')],
      extraTexts: { 'Python-2.0': 'PSF LICENSE' },
    }),
    /^License: Python-2\.0\n PSF LICENSE$/m,
    'a licence text taken from the package that uses it',
  );
});

t.test('the RPM License tag', async (t) => {
  const spdx = rpmLicense([dep('a', 'MIT'), dep('b', 'ISC'), dep('c', '(MIT OR Apache-2.0)')]);
  t.match(spdx, /^Apache-2\.0 AND /, 'the project first');
  t.match(spdx, / AND ISC AND /);
  t.match(spdx, / AND \(MIT OR Apache-2\.0\)$/, 'choices kept as such');
  t.equal(spdx.split(' AND ').filter((x) => x === 'MIT').length, 1, 'each licence once');
});

t.test('ELF requirements against the RHEL 9 baseline', async (t) => {
  const readelf = `
Dynamic section at offset 0x1 contains 30 entries:
 0x0000000000000001 (NEEDED)             Shared library: [libstdc++.so.6]
 0x0000000000000001 (NEEDED)             Shared library: [libc.so.6]

Version symbols section '.gnu.version' contains 10 entries:

Version definition section '.gnu.version_d' contains 2 entries:
  000000: Rev: 1  Flags: BASE  Index: 1  Cnt: 1  Name: healthd.node

Version needs section '.gnu.version_r' contains 2 entries:
 Addr: 0x0000000000000000  Offset: 0x000010  Link: 5 (.dynstr)
  000000: Version: 1  File: libstdc++.so.6  Cnt: 2
  0x0010:   Name: GLIBCXX_3.4.30  Flags: none  Version: 4
  0x0020:   Name: CXXABI_1.3  Flags: none  Version: 3
  0x0030: Version: 1  File: libc.so.6  Cnt: 2
  0x0040:   Name: GLIBC_2.2.5  Flags: none  Version: 2
  0x0050:   Name: GLIBC_2.36  Flags: none  Version: 5
`;
  const needs = parseReadelf('x.node', readelf);
  t.same(needs.needed, ['libstdc++.so.6', 'libc.so.6']);
  t.same(needs.versions, ['CXXABI_1.3', 'GLIBCXX_3.4.30', 'GLIBC_2.2.5', 'GLIBC_2.36']);
  t.same(newestVersions(needs.versions), { CXXABI: '1.3', GLIBCXX: '3.4.30', GLIBC: '2.36' });
  const problems = baselineProblems(needs);
  t.equal(problems.length, 2, problems.join('\n'));
  t.match(problems.join('\n'), /GLIBCXX_3\.4\.30, newer than GLIBCXX_3\.4\.29/);
  t.match(problems.join('\n'), /GLIBC_2\.36, newer than GLIBC_2\.34/);
  t.same(baselineProblems({ file: 'y', needed: ['libssl.so.3'], versions: [] }).length, 1, 'a library outside the base system');
  t.same(baselineProblems({ file: 'z', needed: ['libc.so.6'], versions: ['GLIBC_2.28'] }), []);
  t.equal(compareVersions('2.9', '2.28'), -1, 'numeric, not lexical');
  t.equal(compareVersions('3.4.21', '3.4.21'), 0);
});

t.test('control file, changelogs, spec', async (t) => {
  const control = renderControl({
    version: '0.1.0-1',
    maintainer: 'A B <a@b.c>',
    installedSizeKiB: 120000,
    depends: ['libc6 (>= 2.34)', 'init-system-helpers (>= 1.52)'],
  });
  t.match(control, /^Package: coredns-healthd\nVersion: 0\.1\.0-1\nArchitecture: amd64\n/);
  t.match(control, /^Depends: libc6 \(>= 2\.34\), init-system-helpers \(>= 1\.52\)$/m);
  t.match(control, /^Description: [a-z].{0,78}\n( \S.*\n)+$/m, 'synopsis under 80 columns, then indented lines');
  t.notMatch(control, /^Homepage:/m, 'no Homepage: without one in package.json');
  t.match(
    renderControl({ version: '1-1', maintainer: 'A <a@b.c>', installedSizeKiB: 1, depends: ['x'], homepage: 'https://example.org/x' }),
    /^Homepage: https:\/\/example\.org\/x$/m,
  );
  t.equal(rfc2822(0), 'Thu, 01 Jan 1970 00:00:00 +0000');
  t.equal(rpmChangelogDate(86400 * 31), 'Sun Feb 01 1970');
  t.match(
    debianChangelog('0.1.0', '0.1.0-1', 'A B <a@b.c>', 0),
    /^coredns-healthd \(0\.1\.0-1\) unstable; urgency=medium\n\n {2}\* .*\n.*\n\n -- A B <a@b\.c> {2}Thu, 01 Jan 1970 00:00:00 \+0000\n$/,
  );
  t.equal(renderSpec('Version: @VERSION@\n# @NAME@ fields\n', { VERSION: '1.2.3' }), 'Version: 1.2.3\n# @NAME@ fields\n');
  t.throws(() => renderSpec('Release: @RELEASE@\n', {}), /no value for @RELEASE@/);
  t.throws(() => renderSpec('Packager: @PACKAGER@\n', { PACKAGER: '%(rm -rf /)' }), /holds a newline or %/, 'no macro injection');
  t.equal(minNodeMajor('>=20'), 20);
  t.throws(() => minNodeMajor(undefined), /engines\.node/);
});

t.test('npm run package runs the compiled build script, which finds the repository from dist/', async (t) => {
  const pkg = JSON.parse(fs.readFileSync(repoPath('package.json'), 'utf8')) as { scripts: Record<string, string> };
  t.equal(pkg.scripts.package, 'tsc -p tsconfig.json && node dist/packaging/build.js');
  t.notMatch(pkg.scripts.package, /ts-node|--loader/, 'no TypeScript loader');
  const r = spawnSync(process.execPath, [repoPath('dist/packaging/build.js'), '--help'], { encoding: 'utf8', timeout: 30_000 });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /Usage: npm run package/);
  const { ROOT } = (await import(pathToFileURL(repoPath('dist/packaging/build.js')).href)) as { ROOT: string };
  t.equal(ROOT, repoPath(), 'ROOT is the repository, not dist/');
});
