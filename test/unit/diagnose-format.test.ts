import t from 'tap';
import { eventReason, findingCounts, findingEvent, findingJson, findingLogRecord, findingsText, summaryLine } from '../../src/diagnose/format.js';
import { FINDING_AREAS, FINDING_CODES, SEVERITIES, nodeFinding, sortFindings, vantageFinding } from '../../src/diagnose/finding.js';
import { HOST, vantage } from '../fixtures/diagnose/sweep-rows.js';

const POD = vantage({ pid: 2101, podNamespace: 'shop', podName: 'cart-1', podUid: 'u1' });
const down = vantageFinding(POD, {
  code: 'interfaces/down',
  severity: 'error',
  subject: 'eth0',
  message: 'Interface eth0 is down.',
  evidence: { interface: 'eth0' },
});
const opts = vantageFinding(POD, { code: 'resolv-conf/options', severity: 'info', message: 'Resolver options: ndots 5.' });
const ct = nodeFinding({ code: 'conntrack/table-filling', severity: 'warning', message: 'The conntrack table is 95% full.' });
const hostFw = vantageFinding(HOST, { code: 'firewall/blocked-locally', severity: 'error', subject: 'udp/53', message: 'A rule drops DNS.' });

t.test('every code names a known check and has a description', async (t) => {
  for (const [code, info] of Object.entries(FINDING_CODES)) {
    t.ok(FINDING_AREAS.includes(info.check), `${code}: check ${info.check}`);
    t.ok(code.startsWith(`${info.check}/`), `${code} is under its check`);
    t.ok(info.description.length > 20 && info.description.endsWith('.'), `${code} is documented`);
  }
});

t.test('JSON, text and sorting', async (t) => {
  t.same(findingJson(down), {
    id: `${POD.id}/interfaces/down/eth0`,
    vantage: POD.id,
    where: 'shop/cart-1',
    check: 'interfaces',
    code: 'interfaces/down',
    severity: 'error',
    message: 'Interface eth0 is down.',
    evidence: { interface: 'eth0' },
    pod: { uid: 'u1', namespace: 'shop', name: 'cart-1' },
  });
  t.equal(findingJson(ct).pod, null);
  t.equal(findingJson(hostFw).where, 'host');
  const sorted = sortFindings([opts, down, hostFw, ct], [HOST.id, POD.id]);
  t.same(
    sorted.map((f) => f.code),
    ['conntrack/table-filling', 'firewall/blocked-locally', 'interfaces/down', 'resolv-conf/options'],
  );
  t.equal(summaryLine(sorted), '2 errors, 1 warning, 1 info');
  t.equal(summaryLine([]), 'none');
  const text = findingsText(sorted);
  t.match(text, /^Findings: 2 errors, 1 warning, 1 info\n/);
  t.match(text, /\n {2}ERROR {4}shop\/cart-1 {2}\[interfaces\/down\] Interface eth0 is down\.\n/);
  t.notMatch(findingsText(sorted, { info: false }), /resolv-conf\/options/);
  t.equal(findingsText([]), 'Findings: none\n');
});

t.test('metric counts cover every check and severity, zeros included', async (t) => {
  const counts = findingCounts([down, ct, hostFw]);
  t.equal(counts.length, FINDING_AREAS.length * SEVERITIES.length);
  t.same(
    counts.filter((c) => c.count > 0),
    [
      { check: 'interfaces', severity: 'error', count: 1 },
      { check: 'firewall', severity: 'error', count: 1 },
      { check: 'conntrack', severity: 'warning', count: 1 },
    ],
  );
});

t.test('log records and Events for appear and clear', async (t) => {
  const a = findingLogRecord(down, 'appeared');
  t.same([a.level, a.msg], ['error', 'finding: Interface eth0 is down.']);
  t.match(a.fields, { finding: 'appeared', findingId: down.id, check: 'interfaces', code: 'interfaces/down', pod: { name: 'cart-1' } });
  t.same([findingLogRecord(down, 'cleared').level, findingLogRecord(ct, 'appeared').level, findingLogRecord(opts, 'appeared').level], ['info', 'warn', 'info']);
  t.equal(findingLogRecord(down, 'cleared').msg, 'finding cleared: interfaces/down (shop/cart-1)');
  t.equal(eventReason('resolv-conf/not-cluster-dns'), 'DNSResolvConfNotClusterDns');
  t.same(findingEvent(down, 'appeared'), {
    namespace: 'shop',
    regarding: { apiVersion: 'v1', kind: 'Pod', name: 'cart-1', namespace: 'shop', uid: 'u1' },
    type: 'Warning',
    reason: 'DNSInterfacesDown',
    action: 'Diagnose',
    note: 'Interface eth0 is down.',
  });
  t.match(findingEvent(down, 'cleared'), { type: 'Normal', reason: 'DNSInterfacesDownCleared', note: 'Cleared: Interface eth0 is down.' });
  t.equal(findingEvent(ct, 'appeared'), null, 'node findings have no pod');
  t.equal(findingEvent(hostFw, 'appeared'), null);
  t.equal(findingEvent(opts, 'appeared'), null, 'info findings make no Event');
  const long = vantageFinding(POD, { code: 'interfaces/down', severity: 'error', message: 'é'.repeat(2000) });
  const note = findingEvent(long, 'appeared')!.note;
  t.ok(Buffer.byteLength(note) <= 1024 && note.endsWith('…'), `note cut to 1 kB (${Buffer.byteLength(note)} bytes)`);
});
