// One query type, one check, one set of defaults: a config `queries[]` item and
// a probe's options become the same Query, and expectMatch defaults to
// 'contain' everywhere.
import t from 'tap';
import dnsPacket from 'dns-packet';
import { ArgumentError, type ExchangeRequest } from '../../src/netns/binding.js';
import { loadConfigResult } from '../../src/config/load.js';
import { ConfigError } from '../../src/config/errors.js';
import { checkProbeOptions, probe, type ExchangeFn } from '../../src/probe/probe.js';
import { QUERY_DEFAULTS, checkQuery, queryLabel } from '../../src/probe/query-spec.js';

const NAME = 'kubernetes.default.svc.cluster.local';

t.test('the defaults: A, NOERROR, answers required, no expected addresses, expectMatch contain', async (t) => {
  t.same(QUERY_DEFAULTS, { type: 'A', validRcodes: ['NOERROR'], requireAnswers: true, expectAnswers: [], expectMatch: 'contain' });
  t.same(checkQuery({ name: NAME }), { name: NAME, ...QUERY_DEFAULTS });
  t.equal(checkQuery({ name: NAME, expectAnswers: ['10.96.0.1'] }).expectMatch, 'contain');
  const spec = checkProbeOptions({ server: '10.96.0.10', name: NAME, timeoutMs: 500, expectAnswers: ['10.96.0.1'] });
  t.equal(spec.expectMatch, 'contain', 'a probe gets the same default');
  t.equal(spec.requireAnswers, true);
});

t.test('the configuration and a probe turn the same input into the same Query', async (t) => {
  const inputs = [
    { name: 'Kubernetes.Default.SVC.cluster.local.' },
    { name: NAME, type: 'aaaa', expectAnswers: ['FD00:0:0::1'] },
    { name: NAME, validRcodes: ['noerror', 'nxdomain'], requireAnswers: false },
    { name: NAME, expectAnswers: ['10.96.0.1', '10.96.0.2'], expectMatch: 'equal' as const },
  ];
  for (const input of inputs) {
    const { config } = loadConfigResult({ file: false, env: {}, flags: { queries: JSON.stringify([input]) } });
    const q = checkQuery(input);
    t.same(config.queries, [q], `config: ${JSON.stringify(input)}`);
    const spec = checkProbeOptions({ server: '10.96.0.10', timeoutMs: 500, ...input });
    t.same(
      {
        name: spec.query.name,
        type: spec.query.type,
        validRcodes: spec.validRcodes,
        requireAnswers: spec.requireAnswers,
        expectAnswers: spec.expectAnswers ?? [],
        expectMatch: spec.expectMatch,
      },
      q,
      `probe: ${JSON.stringify(input)}`,
    );
  }
  t.equal(queryLabel(checkQuery({ name: 'Example.ORG.', type: 'txt' })), 'example.org TXT');
});

t.test('one check, one error: the field is named in the configuration and in a probe', async (t) => {
  const bad: Array<[Record<string, unknown>, string]> = [
    [{ name: 'bad..name' }, 'name'],
    [{ name: NAME, type: 'AXFR' }, 'type'],
    [{ name: NAME, validRcodes: ['OK'] }, 'validRcodes[0]'],
    [{ name: NAME, validRcodes: [] }, 'validRcodes'],
    [{ name: NAME, requireAnswers: 'yes' }, 'requireAnswers'],
    [{ name: NAME, type: 'A', expectAnswers: ['fd00::1'] }, 'expectAnswers[0]'],
    [{ name: NAME, type: 'TXT', expectAnswers: ['10.0.0.1'] }, 'expectAnswers'],
    [{ name: NAME, expectMatch: 'some' }, 'expectMatch'],
    [{ name: NAME, expect: ['10.0.0.1'] }, 'expect'],
  ];
  for (const [input, field] of bad) {
    let detail = '';
    t.throws(
      () => {
        try {
          checkQuery(input);
        } catch (err) {
          detail = (err as ArgumentError).detail;
          throw err;
        }
      },
      { name: 'ArgumentError', param: field },
      `checkQuery names ${field}`,
    );
    let message = '';
    try {
      loadConfigResult({ file: false, env: {}, flags: { queries: JSON.stringify([input]) } });
    } catch (err) {
      t.type(err, ConfigError);
      message = (err as Error).message;
    }
    t.match(message, `[0].${field}: ${detail}`, `the configuration says "queries[0].${field}: ${detail}"`);
    if (field === 'expect') continue; // a probe's options have more keys than a query
    const r = await probe(
      { server: '10.96.0.10', timeoutMs: 500, ...(input as { name: string }) },
      { exchange: async () => t.fail('nothing is sent') as never },
    );
    t.match(r, { ok: false, reason: 'error', detail: `${field}: ${detail}` }, `a probe's result names ${field}`);
  }
  t.same(checkQuery({ name: NAME, expectAnswers: [] }).expectAnswers, [], 'no expected addresses checks none');
});

t.test("'contain' passes a reply with more addresses than expected; 'equal' does not", async (t) => {
  const exchange: ExchangeFn = async (req: ExchangeRequest) => {
    const q = dnsPacket.decode(Buffer.from(req.payload));
    const answers = ['10.96.0.1', '10.96.0.2'].map((ip) => ({ type: 'A' as const, name: q.questions![0]!.name, ttl: 5, class: 'IN' as const, data: ip }));
    return { reply: dnsPacket.encode({ type: 'response', id: q.id!, flags: dnsPacket.RECURSION_DESIRED, questions: q.questions!, answers }), rttNs: 1_000_000 };
  };
  const base = { server: '10.96.0.10', name: NAME, timeoutMs: 500, expectAnswers: ['10.96.0.1'] };
  t.match(await probe(base, { exchange }), { ok: true, reason: 'ok' }, 'the default (contain)');
  t.match(await probe({ ...base, expectMatch: 'equal' }, { exchange }), { ok: false, reason: 'wrong-answer' }, 'equal');
  t.match(
    await probe({ ...base, expectAnswers: ['10.96.0.3'] }, { exchange }),
    { ok: false, reason: 'wrong-answer' },
    'contain still needs every expected address',
  );
});
