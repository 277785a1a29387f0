import t from 'tap';
import { FindingTracker } from '../../src/diagnose/tracker.js';
import { nodeFinding, vantageFinding } from '../../src/diagnose/finding.js';
import { vantage } from '../fixtures/diagnose/sweep-rows.js';

const V = vantage({ pid: 2101 });
const down = vantageFinding(V, { code: 'interfaces/down', severity: 'error', subject: 'eth0', message: 'eth0 down' });
const full = (pct: number) => nodeFinding({ code: 'conntrack/table-filling', severity: 'warning', message: `${pct}% full`, evidence: { pct } });

t.test('reports a finding once when it appears and once when it clears', async (t) => {
  const tr = new FindingTracker();
  let c = tr.update([down, full(91)]);
  t.same(
    c.appeared.map((f) => f.id),
    [down.id, 'node/conntrack/table-filling'],
  );
  t.same(c.cleared, []);
  c = tr.update([down, full(95)]);
  t.same([c.appeared, c.cleared], [[], []], 'still there: nothing to report, even with a new message');
  t.equal(c.active.find((f) => f.code === 'conntrack/table-filling')?.message, '95% full', 'active holds the latest');
  c = tr.update([full(96)]);
  t.same(
    c.cleared.map((f) => f.id),
    [down.id],
  );
  t.same(c.appeared, []);
  c = tr.update([full(96), down, down]);
  t.same(
    c.appeared.map((f) => f.id),
    [down.id],
    'back again: appears again, duplicates counted once',
  );
  t.equal(tr.active().length, 2);
  tr.reset();
  t.same(tr.update([]).cleared, [], 'reset forgets without clearing');
});

t.test('clearAfter: a finding must be absent that many sweeps in a row', async (t) => {
  const tr = new FindingTracker({ clearAfter: 2 });
  tr.update([down]);
  t.same(tr.update([]).cleared, [], 'absent once');
  t.same(tr.update([down]).appeared, [], 'back before clearing: no new report');
  tr.update([]);
  t.same(
    tr.update([]).cleared.map((f) => f.id),
    [down.id],
  );
  t.throws(() => new FindingTracker({ clearAfter: 0 }), /clearAfter: expected an integer of at least 1/);
});
