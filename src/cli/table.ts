// Plain-text tables for people: columns padded to their widest cell.
//
// Cells hold names that containers choose (pod and container names from
// Docker labels, process names) and text from files and DNS replies: every
// cell is shown escaped (`\x1b`, `\n`: see src/text/untrusted.ts), so no
// cell can move the cursor, forge a line or reorder what follows it.
import { escapeControl } from '../text/untrusted.js';

export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const cells = rows.map((r) => r.map((c) => escapeControl(String(c))));
  const widths = header.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  return [line(header), ...cells.map(line)].join('\n');
}
