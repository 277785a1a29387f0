import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import t from 'tap';
import { createLogger, isJournalStream, serializeError, type Level } from '../../src/log.js';
import { compiled } from '../support/paths.js';

/** A logger writing into an array of parsed records. */
function capture(level?: Level) {
  const lines: string[] = [];
  const log = createLogger({ level, stream: { write: (s: string) => lines.push(s) }, now: () => new Date('2024-05-01T12:00:00.000Z') });
  const records = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { log, lines, records };
}

t.test('one JSON object per line: time, level, msg, fields', (t) => {
  const { log, lines, records } = capture();
  log.info('sweep done', { vantages: 12, durationSeconds: 0.012 });
  log.warn('target unhealthy', { vantage: 'pod default/web-1', target: '10.96.0.10:53', transport: 'udp' });
  t.equal(lines.length, 2);
  t.ok(
    lines.every((l) => l.endsWith('\n') && !l.slice(0, -1).includes('\n')),
    'one line each',
  );
  t.same(records(), [
    { time: '2024-05-01T12:00:00.000Z', level: 'info', msg: 'sweep done', vantages: 12, durationSeconds: 0.012 },
    { time: '2024-05-01T12:00:00.000Z', level: 'warn', msg: 'target unhealthy', vantage: 'pod default/web-1', target: '10.96.0.10:53', transport: 'udp' },
  ]);
  t.same(Object.keys(records()[0]!).slice(0, 3), ['time', 'level', 'msg'], 'the record keys come first');
  t.end();
});

t.test('levels filter; the default is info; setLevel reaches children', (t) => {
  const { log, records } = capture();
  const child = log.child({ component: 'probe' });
  log.debug('hidden');
  child.debug('hidden too');
  log.setLevel('debug');
  child.debug('shown');
  child.setLevel('error');
  log.warn("hidden by the child's change");
  log.error('shown');
  t.same(
    records().map((r) => r.msg),
    ['shown', 'shown'],
  );
  t.equal(log.level, 'error');
  t.notOk(log.isLevelEnabled('warn'));
  t.throws(() => log.setLevel('verbose' as Level), /log level must be one of debug, info, warn, error/);
  t.throws(() => createLogger({ level: 'trace' as Level }), TypeError);
  t.end();
});

t.test('child loggers add fields; call fields win; reserved names are kept apart', (t) => {
  const { log, records } = capture();
  const a = log.child({ component: 'discovery', node: 'n1' });
  const b = a.child({ component: 'docker' });
  b.info('containers listed', { node: 'n2', count: 3, skipped: undefined });
  a.info('x', { msg: 'field', level: 'field', time: 'field' });
  t.same(records(), [
    { time: '2024-05-01T12:00:00.000Z', level: 'info', msg: 'containers listed', component: 'docker', node: 'n2', count: 3 },
    { time: '2024-05-01T12:00:00.000Z', level: 'info', msg: 'x', component: 'discovery', node: 'n1', msg_: 'field', level_: 'field', time_: 'field' },
  ]);
  t.end();
});

t.test('errors are serialised under err with type, message, code, stack and cause', (t) => {
  const { log, records } = capture();
  const cause = Object.assign(new Error('connect ENOENT /var/run/docker.sock'), { code: 'ENOENT', errno: -2, syscall: 'connect' });
  const err = new TypeError('docker discovery failed', { cause });
  log.error('discovery degraded', { err });
  const [r] = records();
  const e = r!.err as Record<string, unknown>;
  t.equal(e.type, 'TypeError');
  t.equal(e.message, 'docker discovery failed');
  t.match(e.stack, /^TypeError: docker discovery failed\n\s+at /);
  t.match(e.cause, { type: 'Error', message: 'connect ENOENT /var/run/docker.sock', code: 'ENOENT', errno: -2, syscall: 'connect' });
  t.end();
});

t.test('a thrown non-Error under err, an Error in another field', (t) => {
  const { log, records } = capture();
  log.error('odd throw', { err: 'just a string' });
  log.warn('other', { reason: new RangeError('out of range') });
  const [a, b] = records();
  t.same(a!.err, { type: 'string', message: 'just a string' });
  t.match(b!.reason, { type: 'RangeError', message: 'out of range' });
  t.end();
});

t.test('what JSON cannot hold does not break a line', (t) => {
  const { log, records } = capture();
  const cyclic: Record<string, unknown> = { name: 'loop' };
  cyclic.self = cyclic;
  const shared = { x: 1 };
  log.info('odd values', { big: 2n ** 64n, map: new Map([['a', 1]]), set: new Set([1, 2]), cyclic });
  log.info('shared values', { a: shared, b: shared });
  const [odd, sharedRec] = records();
  t.equal(odd!.big, '18446744073709551616');
  t.same(odd!.map, { a: 1 });
  t.same(odd!.set, [1, 2]);
  t.same(odd!.cyclic, { name: 'loop', self: '[Circular]' });
  t.same(sharedRec, { time: '2024-05-01T12:00:00.000Z', level: 'info', msg: 'shared values', a: { x: 1 }, b: { x: 1 } }, 'a repeated object is not a cycle');
  t.end();
});

t.test('a sink that throws does not throw into the caller', (t) => {
  const log = createLogger({
    stream: {
      write: () => {
        throw new Error('EPIPE');
      },
    },
  });
  t.doesNotThrow(() => log.error('lost'));
  t.end();
});

t.test('setStream redirects every logger of the family', (t) => {
  const { log } = capture();
  const child = log.child({ c: 1 });
  const other: string[] = [];
  child.setStream({ write: (s: string) => other.push(s) });
  log.info('to the new stream');
  t.equal(other.length, 1);
  t.end();
});

t.test('serializeError: AggregateError and the cause depth limit', (t) => {
  const agg = new AggregateError([new Error('a'), new Error('b')], 'both failed');
  t.match(serializeError(agg), { type: 'AggregateError', message: 'both failed', errors: [{ message: 'a' }, { message: 'b' }] });
  let e: Error = new Error('root');
  for (let i = 0; i < 20; i++) e = new Error(`wrap ${i}`, { cause: e });
  let depth = 0;
  for (let s = serializeError(e); s.cause; s = s.cause) depth++;
  t.equal(depth, 5);
  t.end();
});

t.test('process.stdout is the default output', (t) => {
  const written: string[] = [];
  // eslint-disable-next-line @typescript-eslint/unbound-method -- put back on process.stdout below
  const original = process.stdout.write;
  process.stdout.write = (chunk: string) => written.push(chunk) > 0;
  try {
    createLogger().info('to stdout');
  } finally {
    process.stdout.write = original;
  }
  t.equal(written.length, 1);
  t.match(JSON.parse(written[0]!), { level: 'info', msg: 'to stdout' });
  t.end();
});

t.test('a closed stdout (EPIPE) does not end the process', async (t) => {
  const { spawn } = await import('node:child_process');
  const logModule = compiled('src/log.ts');
  // The child logs to its real stdout, whose reading end the parent closes at once.
  const script = `
    const { createLogger } = await import(${JSON.stringify(logModule)});
    const log = createLogger({});
    for (let i = 0; i < 200; i++) { log.info('line', { i, pad: 'x'.repeat(2000) }); await new Promise((r) => setTimeout(r, 2)); }
    process.stderr.write('still alive\\n');`;
  const child = spawn(process.execPath, [...process.execArgv, '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy();
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  t.equal(code, 0, stderr);
  t.match(stderr, /still alive/);
});

t.test('journald: each line starts with its syslog priority, only when stdout is the journal stream', (t) => {
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', priorityPrefix: true, stream: { write: (s: string) => lines.push(s) } });
  log.debug('d');
  log.info('i');
  log.warn('w');
  log.error('e');
  t.same(
    lines.map((l) => l.slice(0, 3)),
    ['<7>', '<6>', '<4>', '<3>'],
  );
  t.same(
    lines.map((l) => (JSON.parse(l.slice(3)) as { msg: string }).msg),
    ['d', 'i', 'w', 'e'],
    'the rest of the line is the JSON record',
  );
  const plain: string[] = [];
  createLogger({ stream: { write: (s: string) => plain.push(s) } }).error('e');
  t.equal(plain[0]![0], '{', 'a stream of its own: no prefix by default');

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'log-journal-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'stream');
  const fd = fs.openSync(file, 'w');
  t.teardown(() => fs.closeSync(fd));
  const st = fs.fstatSync(fd);
  t.ok(isJournalStream(fd, `${st.dev}:${st.ino}`), 'device and inode match');
  t.notOk(isJournalStream(fd, `${st.dev}:${st.ino + 1}`), 'another inode (stdout redirected after systemd set the variable)');
  t.notOk(isJournalStream(fd, undefined), 'no JOURNAL_STREAM');
  t.notOk(isJournalStream(fd, 'garbage'), 'a malformed JOURNAL_STREAM');
  t.notOk(isJournalStream(9999, `${st.dev}:${st.ino}`), 'a closed descriptor');
  t.end();
});

t.test('journald: a process whose stdout is $JOURNAL_STREAM prefixes its lines; another stdout does not', async (t) => {
  const { spawnSync } = await import('node:child_process');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'log-journal-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  const script = `
    const { createLogger } = await import(${JSON.stringify(compiled('src/log.ts'))});
    const log = createLogger({});
    log.error('boom');
    log.info('fine');`;
  const run = (journalStream: (st: fs.Stats) => string) => {
    const file = path.join(dir, `out-${Math.random().toString(36).slice(2)}`);
    const fd = fs.openSync(file, 'w');
    try {
      const res = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
        stdio: ['ignore', fd, 'pipe'],
        env: { ...process.env, JOURNAL_STREAM: journalStream(fs.fstatSync(fd)) },
      });
      t.equal(res.status, 0, res.stderr.toString());
    } finally {
      fs.closeSync(fd);
    }
    return fs.readFileSync(file, 'utf8').split('\n').filter(Boolean);
  };
  const journal = run((st) => `${st.dev}:${st.ino}`);
  t.match(journal, [/^<3>\{.*"msg":"boom"/, /^<6>\{.*"msg":"fine"/]);
  const other = run((st) => `${st.dev}:${st.ino + 1}`);
  t.match(other, [/^\{.*"msg":"boom"/, /^\{.*"msg":"fine"/]);
});
