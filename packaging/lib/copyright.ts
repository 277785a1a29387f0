// Licensing of everything the packages ship: the Debian copyright file
// (machine-readable format 1.0, DEP-5) and the SPDX expression of the RPM
// License: tag. coredns-healthd is Apache-2.0; the bundled Node.js runtime and
// the npm dependencies keep their own licences.
import type { Dependency } from './dependencies.js';

export const PROJECT_LICENSE = 'Apache-2.0';
export const INSTALL_DIR = 'usr/lib/coredns-healthd';

/**
 * Licences of the Node.js binary itself (Node.js is MIT; it links V8, libuv,
 * OpenSSL, ICU, zlib, c-ares, nghttp2, llhttp, brotli, ada, simdutf and more:
 * its LICENSE file, shipped in full, lists each component with its text).
 */
export const NODE_LICENSES = ['MIT', 'Apache-2.0', 'BSD-2-Clause', 'BSD-3-Clause', 'ISC', 'Zlib', 'Unicode-DFS-2016', 'CC0-1.0'];

/** Licences whose full text every Debian system holds in /usr/share/common-licenses. */
const COMMON_LICENSES: Readonly<Record<string, string>> = {
  'Apache-2.0': 'Apache-2.0',
  'CC0-1.0': 'CC0-1.0',
  'MPL-2.0': 'MPL-2.0',
  'GPL-2.0': 'GPL-2',
  'GPL-3.0': 'GPL-3',
  'LGPL-2.1': 'LGPL-2.1',
  'LGPL-3.0': 'LGPL-3',
  'Artistic-2.0': 'Artistic',
};

/** Standard texts of the permissive licences npm packages use (no names in them: holders are in Copyright:). */
const LICENSE_TEXTS: Readonly<Record<string, string>> = {
  MIT: `Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in
all copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN
THE SOFTWARE.`,
  ISC: `Permission to use, copy, modify, and/or distribute this software for any
purpose with or without fee is hereby granted, provided that the above
copyright notice and this permission notice appear in all copies.

THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.`,
  'BSD-2-Clause': `Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are met:

1. Redistributions of source code must retain the above copyright notice,
   this list of conditions and the following disclaimer.
2. Redistributions in binary form must reproduce the above copyright notice,
   this list of conditions and the following disclaimer in the documentation
   and/or other materials provided with the distribution.

THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"
AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE
ARE DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE
LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR
CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF
SUBSTITUTE GOODS OR SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS
INTERRUPTION) HOWEVER CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN
CONTRACT, STRICT LIABILITY, OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE)
ARISING IN ANY WAY OUT OF THE USE OF THIS SOFTWARE, EVEN IF ADVISED OF THE
POSSIBILITY OF SUCH DAMAGE.`,
  'BSD-3-Clause': `Redistribution and use in source and binary forms, with or without
modification, are permitted provided that the following conditions are met:

1. Redistributions of source code must retain the above copyright notice,
   this list of conditions and the following disclaimer.
2. Redistributions in binary form must reproduce the above copyright notice,
   this list of conditions and the following disclaimer in the documentation
   and/or other materials provided with the distribution.
3. Neither the name of the copyright holder nor the names of its
   contributors may be used to endorse or promote products derived from
   this software without specific prior written permission.

THIS SOFTWARE IS PROVIDED BY THE COPYRIGHT HOLDERS AND CONTRIBUTORS "AS IS"
AND ANY EXPRESS OR IMPLIED WARRANTIES, INCLUDING, BUT NOT LIMITED TO, THE
IMPLIED WARRANTIES OF MERCHANTABILITY AND FITNESS FOR A PARTICULAR PURPOSE
ARE DISCLAIMED. IN NO EVENT SHALL THE COPYRIGHT HOLDER OR CONTRIBUTORS BE
LIABLE FOR ANY DIRECT, INDIRECT, INCIDENTAL, SPECIAL, EXEMPLARY, OR
CONSEQUENTIAL DAMAGES (INCLUDING, BUT NOT LIMITED TO, PROCUREMENT OF
SUBSTITUTE GOODS OR SERVICES; LOSS OF USE, DATA, OR PROFITS; OR BUSINESS
INTERRUPTION) HOWEVER CAUSED AND ON ANY THEORY OF LIABILITY, WHETHER IN
CONTRACT, STRICT LIABILITY, OR TORT (INCLUDING NEGLIGENCE OR OTHERWISE)
ARISING IN ANY WAY OUT OF THE USE OF THIS SOFTWARE, EVEN IF ADVISED OF THE
POSSIBILITY OF SUCH DAMAGE.`,
  '0BSD': `Permission to use, copy, modify, and/or distribute this software for any
purpose with or without fee is hereby granted.

THE SOFTWARE IS PROVIDED "AS IS" AND THE AUTHOR DISCLAIMS ALL WARRANTIES
WITH REGARD TO THIS SOFTWARE INCLUDING ALL IMPLIED WARRANTIES OF
MERCHANTABILITY AND FITNESS. IN NO EVENT SHALL THE AUTHOR BE LIABLE FOR
ANY SPECIAL, DIRECT, INDIRECT, OR CONSEQUENTIAL DAMAGES OR ANY DAMAGES
WHATSOEVER RESULTING FROM LOSS OF USE, DATA OR PROFITS, WHETHER IN AN
ACTION OF CONTRACT, NEGLIGENCE OR OTHER TORTIOUS ACTION, ARISING OUT OF
OR IN CONNECTION WITH THE USE OR PERFORMANCE OF THIS SOFTWARE.`,
  Unlicense: `This is free and unencumbered software released into the public domain.

Anyone is free to copy, modify, publish, use, compile, sell, or
distribute this software, either in source code form or as a compiled
binary, for any purpose, commercial or non-commercial, and by any
means.

In jurisdictions that recognize copyright laws, the author or authors
of this software dedicate any and all copyright interest in the
software to the public domain. We make this dedication for the benefit
of the public at large and to the detriment of our heirs and
successors. We intend this dedication to be an overt act of
relinquishment in perpetuity of all present and future rights to this
software under copyright law.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND,
EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF
MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT.
IN NO EVENT SHALL THE AUTHORS BE LIABLE FOR ANY CLAIM, DAMAGES OR
OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE,
ARISING FROM, OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR
OTHER DEALINGS IN THE SOFTWARE.

For more information, please refer to <https://unlicense.org>`,
};

/** Whether this module can cite the licence without a text from the package itself. */
export const hasLicenseText = (id: string): boolean => id in COMMON_LICENSES || id in LICENSE_TEXTS;

/** SPDX licence ids in an expression ("(MIT OR Apache-2.0)" → MIT, Apache-2.0). */
export function licenseIds(expression: string): string[] {
  return expression
    .replace(/[()]/g, ' ')
    .split(/\s+/)
    .filter((w) => w && !/^(AND|OR|WITH)$/i.test(w));
}

/** DEP-5 writes "OR"/"AND" in lower case ("MIT or Apache-2.0"). */
const dep5Expression = (spdx: string): string =>
  spdx
    .replace(/[()]/g, '')
    .replace(/\bOR\b/g, 'or')
    .replace(/\bAND\b/g, 'and')
    .trim();

/** A field value over several lines: continuation lines start with a space, empty lines are " .". */
function multiline(text: string): string {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => (l.trim() === '' ? ' .' : ` ${l.trimEnd()}`))
    .join('\n');
}

export interface CopyrightInput {
  version: string;
  /** The full text of Node.js's LICENSE file (from the runtime that is bundled). */
  nodeLicense: string;
  nodeVersion: string;
  dependencies: readonly Dependency[];
  /** Licence texts for ids this module has none for: id → text (e.g. Python-2.0 from the package that uses it). */
  extraTexts?: Readonly<Record<string, string>>;
}

/** /usr/share/doc/coredns-healthd/copyright. Throws when a licence has no text to cite. */
export function renderDebianCopyright(input: CopyrightInput): string {
  const paragraphs: string[] = [
    [
      'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/',
      'Upstream-Name: coredns-healthd',
      'Comment: The package bundles the Node.js runtime and the npm packages',
      ' coredns-healthd needs, each under its own licence (below). Every npm',
      ` package keeps its own licence file under /${INSTALL_DIR}/node_modules.`,
    ].join('\n'),
    ['Files: *', `Copyright: coredns-healthd contributors`, `License: ${PROJECT_LICENSE}`].join('\n'),
    [
      `Files: ${INSTALL_DIR}/node`,
      'Copyright: Node.js contributors',
      ' Joyent, Inc. and other Node contributors',
      'License: Node.js',
      `Comment: The Node.js ${input.nodeVersion} runtime, bundled so that the package runs on`,
      ' nodes without Node.js 20 or later. Its licence, and that of each',
      ' component it includes, is the Node.js paragraph below.',
    ].join('\n'),
  ];
  const used = new Set<string>([PROJECT_LICENSE]);
  for (const dep of input.dependencies) {
    for (const id of licenseIds(dep.license)) used.add(id);
    paragraphs.push(
      [
        `Files: ${INSTALL_DIR}/${dep.lockPath}/*`,
        `Copyright: ${dep.copyright[0]}`,
        ...dep.copyright.slice(1).map((c) => ` ${c}`),
        `License: ${dep5Expression(dep.license)}`,
        `Comment: npm package ${dep.name} ${dep.version}`,
      ].join('\n'),
    );
  }
  const missing: string[] = [];
  for (const id of [...used].sort()) {
    const common = COMMON_LICENSES[id];
    if (common) {
      paragraphs.push(`License: ${id}\n On Debian systems, the complete text of the ${id} licence can be found in\n "/usr/share/common-licenses/${common}".`);
      continue;
    }
    const text = LICENSE_TEXTS[id] ?? input.extraTexts?.[id];
    if (text === undefined) {
      missing.push(id);
      continue;
    }
    paragraphs.push(`License: ${id}\n${multiline(text)}`);
  }
  if (missing.length) {
    const users = input.dependencies.filter((d) => licenseIds(d.license).some((id) => missing.includes(id))).map((d) => d.name);
    throw new Error(`copyright: no licence text for ${missing.join(', ')} (used by ${users.join(', ')}); add it to packaging/lib/copyright.ts`);
  }
  paragraphs.push(`License: Node.js\n${multiline(input.nodeLicense)}`);
  return `${paragraphs.join('\n\n')}\n`;
}

/** The RPM License: tag: every licence of what the package holds, as one SPDX AND expression. */
export function rpmLicense(dependencies: readonly Dependency[]): string {
  const ids = new Set<string>([PROJECT_LICENSE, ...NODE_LICENSES]);
  const choices: string[] = [];
  for (const dep of dependencies) {
    if (/\bOR\b/.test(dep.license)) choices.push(`(${dep.license.replace(/[()]/g, '')})`);
    else for (const id of licenseIds(dep.license)) ids.add(id);
  }
  return [PROJECT_LICENSE, ...[...ids].filter((i) => i !== PROJECT_LICENSE).sort(), ...[...new Set(choices)].sort()].join(' AND ');
}
