// /proc/<pid>/stat: the fields that identify a process (its name, and its start
// time, which with the pid tells a process from a later one given the same pid).
import { MAX_FIELD, capString } from '../text/untrusted.js';

export interface ProcStat {
  comm: string;
  state: string;
  startTime: number;
}

/**
 * Parses /proc/<pid>/stat. comm (field 2) is in parentheses and may itself
 * hold spaces and parentheses, so the fields after it start at the LAST ")".
 * Returns undefined when the text is not a stat line.
 */
export function parseProcStat(content: string): ProcStat | undefined {
  const open = content.indexOf('(');
  const close = content.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  // Fields 3 (state) to 22 (starttime) after the ")": walked, not split, as
  // this runs for every vantage every sweep (the guard) and the rest of the
  // line is ~30 more fields. Only the two fields used are cut out.
  let state: string | undefined;
  let start: string | undefined;
  let i = close + 1;
  const n = content.length;
  for (let field = 3; field <= 22; field++) {
    while (i < n && isSpace(content.charCodeAt(i))) i++;
    if (i >= n) break;
    const from = i;
    while (i < n && !isSpace(content.charCodeAt(i))) i++;
    if (field === 3) state = content.slice(from, i);
    else if (field === 22) start = content.slice(from, i);
  }
  if (state === undefined || start === undefined || !/^\d+$/.test(start)) return undefined;
  // comm is the process's own choice (prctl PR_SET_NAME, up to 15 bytes from the kernel): capped all the same.
  return { comm: capString(content.slice(open + 1, close), MAX_FIELD), state, startTime: Number(start) };
}

/** What split(/\s+/) splits on, for the characters a stat line can hold. */
const isSpace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d || c === 0x0b || c === 0x0c;
