// Protocol comparison across a sweep: a server that answers over TCP but not
// over UDP (the exact blind spot of CoreDNS's HTTP health check), or over UDP
// but not TCP. From every vantage at once it is the server's fault; from some
// vantages only, it is on their path.
import type { SweepRow, Transport, Vantage } from '../model.js';
import { nodeFinding, plural, vantageFinding, type Finding } from './finding.js';
import { allPassed, byTarget, byVantage, describeTarget, ofTransport, outcome, reasonSummary } from './rows.js';

interface Split {
  vantage: Vantage;
  failing: SweepRow[];
}

function compare(rows: readonly SweepRow[], broken: Transport): Finding[] {
  const working: Transport = broken === 'udp' ? 'tcp' : 'udp';
  const code = broken === 'udp' ? 'protocol/udp-fails-tcp-answers' : 'protocol/tcp-fails-udp-answers';
  const B = broken.toUpperCase();
  const W = working.toUpperCase();
  const findings: Finding[] = [];
  for (const [key, targetRows] of byTarget(rows)) {
    const target = targetRows[0]!.target;
    let both = 0;
    const hits: Split[] = [];
    for (const vRows of byVantage(targetRows).values()) {
      const b = ofTransport(vRows, broken);
      const w = ofTransport(vRows, working);
      if (b.length === 0 || w.length === 0) continue;
      both++;
      if (outcome(b) === 'fail' && outcome(w) === 'ok') hits.push({ vantage: vRows[0]!.vantage, failing: b });
    }
    if (hits.length === 0) continue;
    const consequence =
      broken === 'udp'
        ? "CoreDNS's HTTP health check does not see this, and pods (which query over UDP) cannot resolve"
        : 'answers too large for UDP (truncated) cannot be fetched';
    if (hits.length === both && both >= 2) {
      const all = hits.flatMap((h) => h.failing);
      findings.push(
        nodeFinding({
          code,
          severity: broken === 'udp' ? 'error' : 'warning',
          subject: key,
          message: `DNS server ${describeTarget(target)} answers over ${W} but not over ${B} from every vantage (${both}; ${B}: ${reasonSummary(all)}): the server's ${B} side is broken; ${consequence}.`,
          evidence: { server: target.server, port: target.port, broken, reasons: reasonSummary(all), vantages: both },
        }),
      );
      continue;
    }
    for (const h of hits) {
      findings.push(
        vantageFinding(h.vantage, {
          code,
          severity: broken === 'udp' ? 'error' : 'warning',
          subject: key,
          message: `DNS server ${describeTarget(target)} answers over ${W} but not over ${B} from this vantage (${B}: ${reasonSummary(h.failing)})${both > 1 ? `, unlike from ${plural(both - hits.length, 'other vantage')}` : ''}: ${B} is dropped on this path (a firewall, or conntrack); ${consequence}.`,
          evidence: { server: target.server, port: target.port, broken, reasons: reasonSummary(h.failing) },
        }),
      );
    }
  }
  return findings;
}

/** The protocol comparison over every row of a sweep. */
export function checkProtocol(rows: readonly SweepRow[]): Finding[] {
  // A finding needs a transport whose every probe failed somewhere: none when every probe passed.
  if (allPassed(rows)) return [];
  return [...compare(rows, 'udp'), ...compare(rows, 'tcp')];
}
