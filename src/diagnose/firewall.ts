// Local firewall: when the kernel of a namespace refuses to send a query
// (EPERM/EACCES on send or connect: the probe reason 'blocked-locally'), a
// rule in that namespace's netfilter output path drops DNS. Say which
// protocol and port, and to which servers.
import type { SweepRow, Vantage } from '../model.js';
import { vantageFinding, type Finding } from './finding.js';
import { groupBy } from './rows.js';

/** The firewall check for one vantage over its rows. One finding per protocol and port. */
export function checkFirewall(v: Vantage, rows: readonly SweepRow[]): Finding[] {
  const blocked = rows.filter((r) => r.result.reason === 'blocked-locally');
  const groups = groupBy(blocked, (r) => `${r.result.transport}/${r.target.port}`);
  const findings: Finding[] = [];
  for (const [key, list] of [...groups.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
    const transport = list[0]!.result.transport;
    const port = list[0]!.target.port;
    const servers = [...new Set(list.map((r) => r.target.server))].sort();
    const details = [...new Set(list.map((r) => r.result.detail).filter((d): d is string => d !== undefined))].slice(0, 5);
    // ExchangeError messages read "<syscall>: <ERRNO> (...)".
    const calls = new Set<string>();
    const codes = new Set<string>();
    for (const d of details) {
      const m = /^(\w+): (E[A-Z]+)\b/.exec(d);
      if (m) {
        calls.add(m[1]!);
        codes.add(m[2]!);
      }
    }
    const syscall = calls.size > 0 ? [...calls].sort().join('/') : transport === 'udp' ? 'send' : 'connect';
    const code = codes.size > 0 ? [...codes].sort().join('/') : 'EPERM';
    const proto = transport.toUpperCase();
    // Same-protocol traffic to the same port that did get out shows the rule is selective.
    const passed = rows.filter((r) => r.result.transport === transport && r.target.port === port && r.result.reason !== 'blocked-locally');
    const selective = passed.length > 0 ? ` (other ${proto} traffic to port ${port} from here got out: the rule matches only some destinations)` : '';
    findings.push(
      vantageFinding(v, {
        code: 'firewall/blocked-locally',
        severity: 'error',
        subject: key,
        message: `A firewall rule in ${v.hostNetwork ? 'the host' : 'this'} network namespace drops DNS over ${proto} to port ${port}: ${syscall} to ${servers.join(', ')} failed with ${code}${selective}.`,
        evidence: { protocol: transport, port, servers, syscall, errno: code, details },
      }),
    );
  }
  return findings;
}
