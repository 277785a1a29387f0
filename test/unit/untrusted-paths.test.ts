// Issue 10, "bound and neutralize every untrusted string": hostile values
// (ESC sequences, forged lines, C1 U+009B, bidi U+202E, 1 MB strings,
// 10,000-item lists) fed through every path downstream of the parsers —
// Docker discovery, the /proc scan, the vantage merge, findings and their
// text, Events and log records, DNS probe details, the check table and
// report, /healthz and /status, sd_notify STATUS=, log lines and metric
// labels — must come out capped, and escaped wherever people read text.
import http from 'node:http';
import dnsPacket from 'dns-packet';
import type { DecodedPacket } from 'dns-packet';
import t, { type Test } from 'tap';
import { checkJson, checkText, vantageJson, type CheckContext } from '../../src/cli/check-report.js';
import { table } from '../../src/cli/table.js';
import { findingEvent, findingJson, findingLogRecord, findingsText } from '../../src/diagnose/format.js';
import { MAX_MESSAGE, vantageFinding } from '../../src/diagnose/finding.js';
import { checkInterfaces } from '../../src/diagnose/interfaces.js';
import type { NetInterface } from '../../src/diagnose/netlink.js';
import { checkResolvConf } from '../../src/diagnose/resolv-conf.js';
import { probe, type ExchangeFn } from '../../src/probe/probe.js';
import {
  LABEL_CONTAINER_NAME,
  LABEL_POD_NAME,
  LABEL_POD_NAMESPACE,
  LABEL_POD_UID,
  type LocatedContainer,
  mergeVantages,
  describeVantage,
  vantageLabels,
} from '../../src/discovery/vantage.js';
import { HealthModel } from '../../src/health/model.js';
import { statusDocument } from '../../src/health/status.js';
import { evaluateAll } from '../../src/health/verdict.js';
import { createHandler, type HttpApp } from '../../src/http/routes.js';
import { HttpServer } from '../../src/http/server.js';
import { MAX_LINE_BYTES, createLogger } from '../../src/log.js';
import { DaemonMetrics } from '../../src/metrics/registry.js';
import { classifyDockerError, parseContainerInspect } from '../../src/discovery/docker.js';
import { parseProcStat } from '../../src/netns/proc-stat.js';
import { parseResolvConf } from '../../src/discovery/resolv-conf.js';
import type { ResolvConfRead, SweepReport, SweepRow, VantageReport } from '../../src/model.js';
import { STATUS_MAX, statusLine } from '../../src/daemon/notify.js';
import { MAX_FIELD, MAX_ITEMS, safeJsonStringify } from '../../src/text/untrusted.js';
import { QUERY, row, vantage } from '../support/daemon-fixtures.js';

/** Raw control characters, C1, line separators and bidi controls (the renderer's own \n allowed). */
// eslint-disable-next-line no-control-regex -- finding raw control characters is the point
const UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
/** The same, newline included: for one-line texts (/healthz, STATUS=, a log line without its end). */
// eslint-disable-next-line no-control-regex -- finding raw control characters is the point
const UNSAFE_LINE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;
const FORGED = 'FAKE-LINE';
const ESC = `\x1b[2J\x1b[H\x1b]0;pwn\x07\u009b31m\u202eevil\u2028\n${FORGED} OK: 99 probes`;
const MB = 'M'.repeat(1024 * 1024);
const MANY = Array.from({ length: 10_000 }, (_, i) => `\x1b[2J${i}.example`);

/** Where the first unsafe character is, as an escaped excerpt (for messages). */
function firstUnsafe(text: string, re = UNSAFE): string {
  const m = re.exec(text);
  return m ? safeJsonStringify(text.slice(Math.max(0, m.index - 30), m.index + 30)) : 'none';
}

function assertClean(t: Test, text: string, what: string, re = UNSAFE): void {
  t.notOk(re.test(text), `${what}: no raw control character (first: ${firstUnsafe(text, re)})`);
  t.notOk(
    text.split('\n').some((l) => l.trimStart().startsWith(FORGED)),
    `${what}: no forged line`,
  );
}

/** Every string in a JSON value, and the longest array. */
function jsonSizes(v: unknown): { longestString: number; longestArray: number } {
  let longestString = 0;
  let longestArray = 0;
  const walk = (x: unknown): void => {
    if (typeof x === 'string') longestString = Math.max(longestString, x.length);
    else if (Array.isArray(x)) {
      longestArray = Math.max(longestArray, x.length);
      x.forEach(walk);
    } else if (x !== null && typeof x === 'object') {
      for (const [k, y] of Object.entries(x)) {
        longestString = Math.max(longestString, k.length);
        walk(y);
      }
    }
  };
  walk(v);
  return { longestString, longestArray };
}

// A hostile pod: Docker labels with ESC sequences and forged lines, 1 MB of name.
const HOSTILE_POD = vantage(4026532101, { podNamespace: ESC, podName: MB, podUid: ESC, comm: ESC, containerNames: [ESC], source: 'proc+docker' });

t.test('Docker discovery: names, labels, network mode and error details capped as read', async (t) => {
  const labels: Record<string, string> = {};
  for (let i = 0; i < 10_000; i++) labels[`junk.${i}`] = MB;
  labels[LABEL_POD_NAME] = MB + ESC;
  labels[LABEL_POD_NAMESPACE] = ESC;
  labels[LABEL_POD_UID] = 'u'.repeat(100_000);
  labels[LABEL_CONTAINER_NAME] = ESC;
  const c = parseContainerInspect(
    { Id: 'i'.repeat(100_000), Name: `/${MB}`, State: { Running: true, Pid: 42 }, Config: { Labels: labels }, HostConfig: { NetworkMode: MB } },
    'x',
  )!;
  t.ok(c.id.length <= MAX_FIELD + 32 && c.name.length <= MAX_FIELD + 32 && c.networkMode.length <= MAX_FIELD + 32);
  t.ok(Object.keys(c.labels).length <= MAX_ITEMS + 5, `${Object.keys(c.labels).length} labels kept`);
  for (const k of [LABEL_POD_NAME, LABEL_POD_NAMESPACE, LABEL_POD_UID, LABEL_CONTAINER_NAME]) t.ok(k in c.labels, `${k} kept past 10,000 other labels`);
  t.ok(
    Object.values(c.labels).every((v) => v.length <= MAX_FIELD + 32),
    'every value capped',
  );
  t.equal(c.labels[LABEL_POD_NAMESPACE], ESC, 'capped, not escaped: the value is data (text output escapes it)');
  const e = classifyDockerError(Object.assign(new Error(`No such image: ${MB}`), { statusCode: 404 }), '/run/docker.sock', false);
  t.ok(e.message.length < MAX_FIELD + 100, `an Engine error message is capped (${e.message.length} chars)`);
});

t.test('/proc scan: a process name is capped', async (t) => {
  const stat = parseProcStat(`42 (${MB}) S ${'1 '.repeat(18)}777 0`)!;
  t.ok(stat.comm.length <= MAX_FIELD + 32);
  t.equal(stat.startTime, 777);
});

t.test('the vantage merge: pod names, container names and process names capped; names listed at most 16', async (t) => {
  const located: LocatedContainer[] = Array.from({ length: 1000 }, (_, i) => ({
    id: `${i}`.padStart(64, '0'),
    name: `c${i}-${MB}`,
    pid: 5000 + i,
    labels: { [LABEL_POD_NAME]: MB, [LABEL_POD_NAMESPACE]: ESC, [LABEL_CONTAINER_NAME]: `${ESC}${i}` },
    dev: 4,
    inode: 4026532500,
    startTime: 1,
    comm: MB,
  }));
  const [v] = mergeVantages([], located);
  t.ok(v);
  t.equal(v!.containerNames.length, MAX_ITEMS + 1, 'the first 16 names and "…and N more"');
  t.equal(v!.containerNames.at(-1), '…and 984 more');
  t.equal(vantageJson(v!).containerNames.at(-1), '…and 984 more', '--json keeps the count');
  t.ok(v!.podName!.length <= MAX_FIELD + 32 && v!.comm!.length <= MAX_FIELD + 32);
  t.ok(describeVantage(v!).length <= MAX_FIELD + 32, 'the label for people is capped');
  t.ok(describeVantage(HOSTILE_POD).length <= MAX_FIELD + 32);
  const labels = vantageLabels([HOSTILE_POD, { ...HOSTILE_POD, id: 'netns:[1]', inode: 1 }]);
  const [a, b] = [...labels.values()];
  t.ok(a!.length <= MAX_FIELD + 32 && b!.length <= MAX_FIELD + 64, 'metric/status labels capped');
  t.not(a, b, 'and still unique');
});

function read(text: string): ResolvConfRead {
  return { path: '/proc/2101/root/etc/resolv.conf', parsed: parseResolvConf(text) };
}

const FAILING_ROWS = (v: typeof HOSTILE_POD): SweepRow[] => [row(v, '10.96.0.10', 'udp', 'timeout')];

t.test('findings: evidence and messages bounded, the search list no longer copied whole; text escaped', async (t) => {
  // A 1 MB search line of hostile domains, and 10,000 of them on another.
  const big = read(`nameserver 10.96.0.10\nsearch ${MANY.join(' ')} ${MB}\noptions ndots:5 ${ESC.replace(/\s/g, '_')}\n${ESC}\n`);
  const findings = checkResolvConf(HOSTILE_POD, big, FAILING_ROWS(HOSTILE_POD), { nodeLocalDns: [] });
  t.ok(findings.length >= 3, `${findings.length} findings (malformed, search-too-many, search-too-long, options)`);
  const json = safeJsonStringify(findings.map(findingJson));
  t.ok(json.length < 64 * 1024, `all findings of a 1 MB search line: ${json.length} bytes of JSON`);
  for (const f of findings) {
    const search = f.evidence.search as string[];
    t.ok(search.length <= MAX_ITEMS + 1, `${f.code}: ${search.length} search domains in evidence`);
    t.match(search.at(-1), /^…and \d+ more$/);
    t.ok(f.message.length <= MAX_MESSAGE + 32, `${f.code}: message ${f.message.length} chars`);
    t.ok(f.where.length <= MAX_FIELD + 32);
    const sizes = jsonSizes(findingJson(f));
    t.ok(sizes.longestString <= 1024 + 32 && sizes.longestArray <= 32, `${f.code}: longest string ${sizes.longestString}, array ${sizes.longestArray}`);
  }
  t.notOk(UNSAFE.test(json), 'the JSON holds no raw control character (C0 by JSON, C1 and bidi by safeJsonStringify)');
  t.same(JSON.parse(json)[0].where, findings[0]!.where, 'and parses back to the capped value');
  const text = findingsText(findings);
  assertClean(t, text, 'findings text');
  t.equal(text.split('\n').length, findings.length + 2, 'one line per finding, nothing forged');
  t.match(text, /\\x1b\[2J/, 'shown escaped');

  // A hand-made finding with a huge message and evidence (what any check might pass).
  const f = vantageFinding(HOSTILE_POD, {
    code: 'interfaces/down',
    severity: 'error',
    subject: MB,
    message: `${ESC} ${MB}`,
    evidence: { list: MANY, huge: MB, nested: { deeper: { deepest: { bottom: { x: MB } } } } },
  });
  t.ok(f.message.length <= MAX_MESSAGE + 32 && f.id.length < 2 * MAX_FIELD);
  t.ok(safeJsonStringify(findingJson(f)).length < 16 * 1024, 'a hostile finding stays small');
  const ev = findingEvent(f, 'appeared')!;
  t.ok(ev, 'an Event for the pod');
  t.ok(Buffer.byteLength(ev.note) <= 1024);
  assertClean(t, ev.note, 'Event note', UNSAFE_LINE);
  t.ok(ev.regarding.name.length <= MAX_FIELD + 32, 'the pod name of the Event is capped');
});

function iface(index: number, name: string, over: Partial<NetInterface> = {}): NetInterface {
  return {
    index,
    name,
    flags: 0,
    up: false,
    lowerUp: false,
    running: false,
    loopback: false,
    operstate: 'down',
    kind: 'veth',
    link: null,
    linkNetnsId: null,
    master: null,
    mtu: 1500,
    addresses: [],
    ...over,
  };
}

t.test('interfaces named with escapes: findings text and table escaped', async (t) => {
  const names = ['\x1b[2J', '\x1b]0;pwn\x07', '\u202eevil', 'x\x7fy', '\u009b31m', `a\n${FORGED}`];
  const interfaces = [iface(1, 'lo', { loopback: true, up: true, lowerUp: true }), ...names.map((n, i) => iface(i + 2, n))];
  const findings = checkInterfaces(HOSTILE_POD, {
    dump: { ok: true, parsed: { interfaces, interrupted: false, problems: [], problemCount: 0 } },
    peers: new Map(),
    hostRouteIfaces: new Set(),
    routeIfaces: new Set(names),
    loopbackServer: false,
    failing: true,
  });
  t.equal(findings.length, names.length, 'one finding per interface that is down');
  const text = findingsText(findings);
  assertClean(t, text, 'interfaces findings text');
  t.match(text, /Interface \\x1b\[2J is administratively down/);
  t.match(text, /\\u202eevil/);
  const tbl = table(
    ['NAME'],
    names.map((n) => [n]),
  );
  assertClean(t, tbl, 'table');
  t.equal(tbl.split('\n').length, names.length + 1, 'one line per row');
});

/** A reply whose question is not ours: a hostile name (as over TCP, where nothing filters it). */
function hostileReply(query: DecodedPacket): Buffer {
  return dnsPacket.encode({
    type: 'response',
    id: query.id!,
    flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE,
    questions: [{ name: `\x1b[2J\u009b31m.${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}`, type: 'A', class: 'IN' }],
    answers: [],
  });
}

t.test('DNS replies: a hostile question name gives a capped detail, escaped in every text that shows it', async (t) => {
  const exchange: ExchangeFn = async (req) => ({ reply: hostileReply(dnsPacket.decode(Buffer.from(req.payload))), rttNs: 1000 });
  const r = await probe({ server: '10.96.0.10', name: 'kubernetes.default.svc.cluster.local', timeoutMs: 1000, transport: 'tcp' }, { exchange });
  t.equal(r.reason, 'bad-reply');
  t.ok(r.detail && r.detail.length <= 512 + 32, `detail: ${r.detail?.length} chars`);
  // Through the health model into /healthz and STATUS=.
  const v = HOSTILE_POD;
  const rep: SweepReport = {
    startedAt: new Date(0),
    durationSeconds: 0.1,
    vantages: [{ vantage: v, label: vantageLabels([v]).get(v.id)!, status: 'probed' }],
    rows: [{ vantage: v, target: { server: '10.96.0.10', port: 53, source: 'resolv.conf' }, transport: 'tcp', query: QUERY, attempts: 1, result: r }],
  };
  const model = new HealthModel({ failureThreshold: 1, successThreshold: 1 });
  model.update(rep, new Date(1000));
  const verdicts = evaluateAll({ checks: model.checks(), lastSweepAt: new Date(1000), now: new Date(1000), staleAfterMs: 60_000, override: 'none' });
  t.equal(verdicts.all.status, 503);
  t.ok(verdicts.all.reason.length < 4096, `the reason is bounded (${verdicts.all.reason.length} chars)`);
  const status = statusLine(verdicts.all.reason);
  assertClean(t, status, 'STATUS=', UNSAFE_LINE);
  t.ok(status.length <= STATUS_MAX);

  const doc = statusDocument({
    version: 'x',
    startedAt: new Date(0),
    now: new Date(1000),
    override: 'none',
    staleAfterMs: 60_000,
    sweeps: 1,
    lastSweep: null,
    sweepRunning: false,
    vantages: rep.vantages,
    checks: model.checks(),
    verdicts,
    discovery: { docker: 'ok', scanErrors: 0 },
    config: { file: null, lastReloadAt: new Date(0), lastReloadOk: true },
  });
  const appStub: HttpApp = {
    metrics: async () => ({ contentType: 'text/plain', body: '' }),
    health: (g) => verdicts[g],
    status: () => doc,
  };
  const server = new HttpServer(createHandler(appStub));
  const { port } = await server.listen('127.0.0.1:0');
  t.teardown(() => server.close());
  const healthz = await get(port, '/healthz');
  t.equal(healthz.status, 503);
  assertClean(t, healthz.body.replace(/\n$/, ''), '/healthz body', UNSAFE_LINE);
  t.match(healthz.body, /\\x1b\[2J/, 'the pod label shows escaped');
  const st = await get(port, '/status');
  assertClean(t, st.body, '/status');
  const parsed = JSON.parse(st.body) as { vantages: Array<{ pod: string; comm: string }> };
  t.ok(parsed.vantages[0]!.pod.length <= MAX_FIELD + 32, 'capped pod in /status');
  t.ok(st.body.length < 64 * 1024, `/status of a hostile pod: ${st.body.length} bytes`);
  const nf = await get(port, `/${encodeURIComponent('\x1b[2J')}%0a${FORGED}`);
  t.equal(nf.status, 404);
  assertClean(t, nf.body.split('\n')[0]!, '404 body', UNSAFE_LINE);
});

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      })
      .on('error', reject);
  });
}

t.test('sd_notify STATUS=: one line, escaped, at most 512 characters', async (t) => {
  for (const s of [ESC, MB, `${ESC}${MB}`, '\u009b'.repeat(10_000)]) {
    const line = statusLine(`unhealthy: ${s}`);
    assertClean(t, line, 'STATUS', UNSAFE_LINE);
    t.ok(line.length <= STATUS_MAX, `${line.length} chars`);
  }
  t.equal(statusLine('a\x1bb'), 'a\\x1bb');
});

t.test('the check table and report: every cell and note escaped, JSON capped', async (t) => {
  const goneV = { ...HOSTILE_POD, id: 'netns:[9]', inode: 9 };
  const labels = vantageLabels([HOSTILE_POD, goneV]);
  const vr: VantageReport = {
    vantage: HOSTILE_POD,
    label: labels.get(HOSTILE_POD.id)!,
    status: 'probed',
    resolvConf: { path: '/proc/2101/root/etc/resolv.conf', nameservers: ['10.96.0.10'], warnings: [`line 3: ${ESC}`], error: ESC },
  };
  const gone: VantageReport = { vantage: goneV, label: labels.get(goneV.id)!, status: 'gone', detail: ESC };
  const rows = [row(HOSTILE_POD, '10.96.0.10', 'udp', 'timeout')];
  rows[0]!.result = { ...rows[0]!.result, detail: ESC, answers: MANY.slice(0, 17) };
  const rep: SweepReport = { startedAt: new Date(0), durationSeconds: 0.1, vantages: [vr, gone], rows };
  const findings = checkResolvConf(HOSTILE_POD, read(`nameserver 10.96.0.10\nsearch ${MANY.join(' ')}\n`), rows, { nodeLocalDns: [] });
  const ctx: CheckContext = { queries: [QUERY], mode: 'discovery', notes: [`Docker: ${ESC}`], findings };
  const text = checkText(rep, ctx);
  assertClean(t, text, 'check text');
  t.match(text, /note: Docker: \\x1b\[2J/);
  t.ok(text.length < 64 * 1024, `check text: ${text.length} chars`);
  const json = safeJsonStringify(checkJson(rep, ctx), 2);
  assertClean(t, json, 'check --json');
  const sizes = jsonSizes(JSON.parse(json));
  t.ok(sizes.longestString <= 1024 + 32, `longest JSON string ${sizes.longestString}`);
  t.ok(json.length < 128 * 1024, `check --json: ${json.length} bytes`);
});

t.test('logs: one bounded JSON line, C1, separators and bidi escaped', async (t) => {
  const lines: string[] = [];
  const log = createLogger({ stream: { write: (l: string) => lines.push(l) }, now: () => new Date(0) });
  const f = vantageFinding(HOSTILE_POD, { code: 'interfaces/down', severity: 'error', message: `Interface ${ESC} is down`, evidence: { list: MANY } });
  const r = findingLogRecord(f, 'appeared');
  log[r.level](r.msg, r.fields);
  log.warn(`msg ${MB}${ESC}`, { a: MB, b: MANY, c: Object.fromEntries(MANY.map((m, i) => [`${m}${i}`, MB])), err: new Error(`${ESC}${MB}`) });
  log.info(ESC, { deep: JSON.parse(`${'['.repeat(500)}${']'.repeat(500)}`) });
  log.info('many fields', Object.fromEntries(Array.from({ length: 5000 }, (_, i) => [`f${i}`, '\u009b'.repeat(2000)])));
  t.equal(lines.length, 4);
  for (const line of lines) {
    t.ok(Buffer.byteLength(line) <= MAX_LINE_BYTES, `${Buffer.byteLength(line)} bytes`);
    t.ok(line.endsWith('\n'));
    assertClean(t, line.slice(0, -1), 'log line', UNSAFE_LINE);
    t.doesNotThrow(() => JSON.parse(line), 'valid JSON');
  }
  const rec = JSON.parse(lines[1]!) as { msg: string; b: string[] };
  t.ok(rec.msg.startsWith('msg MMM'), 'the message is kept, capped');
  t.match(rec.b.at(-1), /^…and 99\d\d more$/, 'a list is cut, with a count');
  // eslint-disable-next-line no-control-regex -- the raw ESC is what is checked
  t.match(JSON.parse(lines[2]!).msg, /^\x1b\[2J/, 'parsed back, the value is the raw (capped) text');
});

t.test('metric labels: capped and escaped, no raw control character in the scrape', async (t) => {
  const metrics = new DaemonMetrics({ version: 'x', processMetrics: false });
  const model = new HealthModel({ failureThreshold: 1, successThreshold: 1 });
  const rep: SweepReport = {
    startedAt: new Date(0),
    durationSeconds: 0.1,
    vantages: [{ vantage: HOSTILE_POD, label: vantageLabels([HOSTILE_POD]).get(HOSTILE_POD.id)!, status: 'probed' }],
    rows: [row(HOSTILE_POD, '10.96.0.10', 'udp', 'ok')],
  };
  model.update(rep, new Date(0));
  metrics.recordSweep(rep, model.checks(), new Date(0), true); // metrics.perVantageDetail: every per-vantage series
  const text = await metrics.scrape();
  assertClean(t, text, '/metrics');
  const line = text.split('\n').find((l) => l.startsWith('coredns_healthd_probe_success{'))!;
  t.ok(line, 'the per-check series is there');
  t.ok(line.length < 2048, `its line: ${line.length} chars`);
  t.match(line, /vantage="\\\\x1b\[2J/, 'the pod label shows escaped (and the exposition escapes its backslash)');
});
