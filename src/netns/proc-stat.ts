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
  const rest = content
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  // rest[0] is field 3 (state), so field 22 (starttime) is rest[19].
  const start = rest[19];
  if (rest[0] === undefined || start === undefined || !/^\d+$/.test(start)) return undefined;
  // comm is the process's own choice (prctl PR_SET_NAME, up to 15 bytes from the kernel): capped all the same.
  return { comm: capString(content.slice(open + 1, close), MAX_FIELD), state: rest[0], startTime: Number(start) };
}
