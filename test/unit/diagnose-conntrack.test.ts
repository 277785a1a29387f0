import t from 'tap';
import fs from 'node:fs';
import { checkConntrack, parseConntrackStat, readConntrack, type ConntrackFacts } from '../../src/diagnose/conntrack.js';
import type { TextRead } from '../../src/diagnose/read.js';
import { repoPath } from '../support/paths.js';

const FILES = repoPath('test/fixtures/diagnose/files') + '/';
const NODE_A = repoPath('test/fixtures/diagnose/node-a/proc');
const text = (path: string, content: string): TextRead => ({ path, text: content });
const missing = (path: string, code = 'ENOENT'): TextRead => ({ path, error: { code, message: `cannot read ${path}: ${code}` } });
const facts = (count: string | null, max: string | null, stat: string | null): ConntrackFacts => ({
  count: count === null ? missing('/p/count') : text('/p/count', count),
  max: max === null ? missing('/p/max') : text('/p/max', max),
  stat: stat === null ? missing('/p/stat') : text('/p/stat', fs.readFileSync(`${FILES}${stat}`, 'utf8')),
});

t.test('parses net/stat/nf_conntrack: per-CPU hex rows summed, entries taken once', async (t) => {
  const p = parseConntrackStat(fs.readFileSync(`${FILES}nf_conntrack-stat`, 'utf8'));
  t.same(p.problems, []);
  t.equal(p.stats.entries, 0x3d090);
  t.equal(p.stats.insert_failed, 7);
  t.equal(p.stats.clashres, 3);
  t.equal(p.stats.drop, 1);
  const bad = parseConntrackStat(fs.readFileSync(`${FILES}nf_conntrack-stat-malformed`, 'utf8'));
  t.same(bad.problems, ['line 3: expected 17 hex values']);
  t.equal(bad.stats.insert_failed, 3, 'good rows still count');
  t.same(parseConntrackStat(fs.readFileSync(`${FILES}nf_conntrack-stat-garbage`, 'utf8')).problems, ['line 1: not the header of net/stat/nf_conntrack']);
  t.same(parseConntrackStat('').problems, ['line 1: not the header of net/stat/nf_conntrack']);
  t.same(parseConntrackStat('entries insert_failed\n').problems, ['no per-CPU rows']);
});

t.test('table filling, full, or fine', async (t) => {
  const opts = { threshold: 0.9, tracking: true, now: 1000 };
  const filling = checkConntrack(facts('250000\n', '262144\n', 'nf_conntrack-stat'), opts);
  t.same(
    filling.findings.map((f) => [f.code, f.severity, f.vantage]),
    [['conntrack/table-filling', 'warning', 'node']],
  );
  t.match(filling.findings[0]!.message, /95% full \(250000 of 262144 entries, threshold 90%\)/);
  t.same(filling.sample, { at: 1000, count: 250000, max: 262144, stats: parseConntrackStat(fs.readFileSync(`${FILES}nf_conntrack-stat`, 'utf8')).stats });
  const full = checkConntrack(facts('262144', '262144', null), opts);
  t.same(
    full.findings.map((f) => [f.code, f.severity]),
    [['conntrack/table-full', 'error']],
  );
  t.same(checkConntrack(facts('1000', '262144', 'nf_conntrack-stat'), opts).findings, []);
  t.same(
    checkConntrack(facts('1000', '262144', 'nf_conntrack-stat'), { ...opts, threshold: 0.001 }).findings.map((f) => f.code),
    ['conntrack/table-filling'],
  );
});

t.test('insert_failed: rising between samples is a warning; a one-shot run reports the total as info', async (t) => {
  const first = checkConntrack(facts('10', '100', 'nf_conntrack-stat'), { threshold: 0.9, tracking: true, now: 0 });
  t.same(first.findings, [], 'the first tracked sample is only a baseline');
  const previous = { ...first.sample!, stats: { ...first.sample!.stats, insert_failed: 2 } };
  const rising = checkConntrack(facts('10', '100', 'nf_conntrack-stat'), { threshold: 0.9, tracking: true, previous, now: 10_000 });
  t.same(
    rising.findings.map((f) => [f.code, f.severity]),
    [['conntrack/insert-failed', 'warning']],
  );
  t.match(rising.findings[0]!.message, /rose by 5 in the last 10 s/);
  t.match(rising.findings[0]!.evidence, { insertFailed: 7, previous: 2, delta: 5 });
  const steady = checkConntrack(facts('10', '100', 'nf_conntrack-stat'), { threshold: 0.9, tracking: true, previous: first.sample!, now: 10_000 });
  t.same(steady.findings, []);
  const reset = checkConntrack(facts('10', '100', 'nf_conntrack-stat'), {
    threshold: 0.9,
    tracking: true,
    previous: { ...previous, stats: { insert_failed: 99 } },
    now: 1,
  });
  t.same(reset.findings, [], 'a counter that went down (module reloaded) is a new baseline');
  const oneShot = checkConntrack(facts('10', '100', 'nf_conntrack-stat'), { threshold: 0.9, tracking: false, now: 0 });
  t.same(
    oneShot.findings.map((f) => [f.code, f.severity]),
    [['conntrack/insert-failed', 'info']],
  );
});

t.test('no conntrack module is no finding; unreadable or malformed counters are a finding about the file', async (t) => {
  const none = checkConntrack(facts(null, null, null), { threshold: 0.9, tracking: true, now: 0 });
  t.same(none, { findings: [], sample: null });
  const bad = checkConntrack(facts('lots', '262144', 'nf_conntrack-stat-malformed'), { threshold: 0.9, tracking: true, now: 0 });
  t.same(
    bad.findings.map((f) => f.code),
    ['conntrack/unreadable'],
  );
  t.match(bad.findings[0]!.message, /\/p\/count: not a number: "lots"/);
  t.same(bad.findings[0]!.evidence.problems, ['/p/count: not a number: "lots"', '/p/stat: line 3: expected 17 hex values']);
  t.equal(bad.sample, null);
  const denied: ConntrackFacts = { count: missing('/p/count', 'EACCES'), max: text('/p/max', '10'), stat: missing('/p/stat', 'EACCES') };
  const d = checkConntrack(denied, { threshold: 0.9, tracking: true, now: 0 });
  t.same(d.findings[0]!.evidence.problems, ['cannot read /p/count: EACCES', 'cannot read /p/stat: EACCES']);
});

t.test('readConntrack reads the files under procRoot', async (t) => {
  const f = await readConntrack(NODE_A);
  t.equal(f.count.text, '250000\n');
  t.equal(f.max.text, '262144\n');
  t.match(f.stat.text, /^entries/);
  const absent = await readConntrack('/nonexistent-proc-root');
  t.equal(absent.count.error?.code, 'ENOENT');
});
