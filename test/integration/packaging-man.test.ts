// coredns-healthd(8) as the package build generates it: from the CLI's own
// --help texts, the configuration schema and the metric table. groff renders
// it without a warning, and it documents every command, setting, environment
// variable and metric. (packaging.test.ts checks the page inside the package.)
import { spawnSync } from 'node:child_process';
import t from 'tap';
import { collectCommandHelp, parseCommandList, renderManPage, roffText } from '../../packaging/lib/man-page.js';
import { main } from '../../src/cli/main.js';
import { describeConfig } from '../../src/config/schema.js';
import { METRICS } from '../../src/metrics/definitions.js';
import { DECISION_REASON_DESCRIPTIONS } from '../../src/remedy/decision.js';
import { which } from '../support/run.js';

/** The CLI in this process, its output captured. */
async function runCli(argv: string[]): Promise<{ code: number | null; stdout: string }> {
  let stdout = '';
  const code = await main(argv, { stdout: (s) => (stdout += s), stderr: () => undefined });
  return { code, stdout };
}

function groff(roff: string, args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(which('groff', 'groff-base'), ['-man', ...args], { input: roff, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

t.test('parseCommandList reads the "Commands:" section of --help', async (t) => {
  t.same(parseCommandList('Usage: x\n\nCommands:\n  run          probe\n  config       check it\n\nRun "x --help"\n'), [
    { name: 'run', summary: 'probe' },
    { name: 'config', summary: 'check it' },
  ]);
  t.throws(() => parseCommandList('Usage: x\n'), /no "Commands:" section/);
});

t.test('roffText keeps text from being read as requests', async (t) => {
  t.equal(roffText(".hidden\n'quote\nback\\slash"), "\\&.hidden\n\\&'quote\nback\\eslash");
});

t.test('the generated page', async (t) => {
  const commands = await collectCommandHelp(runCli);
  t.same(commands.map((c) => c.name).sort(), ['check', 'config', 'netns', 'run', 'version'], 'every command of coredns-healthd --help');
  t.ok(commands.find((c) => c.name === 'check')?.usage?.includes('--host-resolv-conf'), "check's options come from its --help");
  const settings = describeConfig();
  const metrics = Object.values(METRICS);
  const roff = renderManPage({ version: '0.0.0-test', date: '2025-01-02', commands, settings, metrics, decisionReasons: DECISION_REASON_DESCRIPTIONS });

  const strict = groff(roff, ['-Tutf8', '-ww', '-z']);
  t.equal(strict.status, 0, 'groff renders it');
  if (!t.equal(strict.stderr.trim(), '', 'without a warning (groff -ww)')) {
    const lines = roff.split('\n');
    for (const m of strict.stderr.matchAll(/<standard input>:(\d+):/g)) t.comment(`line ${m[1]}: ${lines[Number(m[1]) - 1]}`);
  }

  const text = groff(roff, ['-Tascii', '-P-c', '-P-b', '-P-u']).stdout;
  t.match(text, /^COREDNS-HEALTHD\(8\)/m, 'title line');
  for (const heading of [
    'NAME',
    'SYNOPSIS',
    'DESCRIPTION',
    'COMMANDS',
    'CONFIGURATION',
    'METRICS',
    'REMEDY DECISIONS',
    'SIGNALS',
    'EXIT STATUS',
    'ENVIRONMENT',
    'FILES',
    'SECURITY',
    'SEE ALSO',
  ]) {
    t.match(text, new RegExp(`^${heading}$`, 'm'), `section ${heading}`);
  }
  t.same(
    settings.filter((s) => !text.includes(s.key) || !text.includes(s.env)).map((s) => s.key),
    [],
    'every setting, with its environment variable',
  );
  t.same(
    metrics.filter((m) => !text.includes(m.name)).map((m) => m.name),
    [],
    'every metric',
  );
  t.same(
    Object.keys(DECISION_REASON_DESCRIPTIONS).filter((r) => !new RegExp(`^ {7}${r}( |$)`, 'm').test(text)),
    [],
    'every remedy decision reason (no-quorum, partition, local-failure, ...) under REMEDY DECISIONS',
  );
  t.match(text, /--host-resolv-conf/, 'option names are plain "--" (typed as shown)');
  t.match(text, /Default: "10s"/, 'defaults as written in the file');
});
