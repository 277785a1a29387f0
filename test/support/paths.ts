// Where the repository is, from wherever a test runs: tests run compiled, from
// dist/test/ (see run-suites.js), and their fixtures and scripts stay under
// test/. Tests name fixtures and scripts from here, never from import.meta.url.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findRepo(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg) && (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name === 'coredns-healthd') return dir;
    if (path.dirname(dir) === dir) throw new Error(`no coredns-healthd package.json above ${from}`);
  }
}

/** The repository root (where package.json is). */
export const REPO = findRepo(path.dirname(fileURLToPath(import.meta.url)));

/** A path inside the repository: repoPath('test/fixtures/proc'). */
export const repoPath = (...parts: string[]): string => path.join(REPO, ...parts);

/**
 * The compiled JavaScript of a TypeScript file of the repository: compiled('src/log.ts') is
 * <repo>/dist/src/log.js. A child process runs this (`npm test` compiles first): tests run
 * without a TypeScript loader.
 */
export const compiled = (tsPath: string): string => path.join(REPO, 'dist', tsPath.replace(/\.ts$/, '.js'));
