// Fuzzing the /proc/<pid>/stat parser (a process names itself: comm may hold
// spaces, parentheses and control characters): never a throw, and the walk
// over the fields finds what splitting the rest of the line on white space
// finds. The kernel writes the fields after comm in ASCII: white space here
// is ASCII's (split(/\s+/) also split on U+00A0 and the like, which cannot
// occur there).
import t from 'tap';
import fc from 'fast-check';
import { parseProcStat } from '../../src/netns/proc-stat.js';
import { MAX_FIELD, capString } from '../../src/text/untrusted.js';
import { checkProperty } from '../support/fuzz.js';

/** The parser before it walked the fields: split on (ASCII) white space. */
function bySplit(content: string): { comm: string; state: string; startTime: number } | undefined {
  const open = content.indexOf('(');
  const close = content.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const rest = content
    .slice(close + 1)
    .replace(/^[ \t\n\r\v\f]+|[ \t\n\r\v\f]+$/g, '')
    .split(/[ \t\n\r\v\f]+/);
  const start = rest[19];
  if (rest[0] === undefined || rest[0] === '' || start === undefined || !/^\d+$/.test(start)) return undefined;
  return { comm: capString(content.slice(open + 1, close), MAX_FIELD), state: rest[0], startTime: Number(start) };
}

const space = fc.constantFrom(' ', '  ', '\t', '\n', ' \n');
const field = fc.oneof(fc.nat().map(String), fc.constantFrom('S', 'R', 'Z', '-1', '18446744073709551615', ''), fc.string({ maxLength: 4 }));
const statLine = fc
  .tuple(fc.nat(), fc.string({ maxLength: 20 }), fc.array(fc.tuple(space, field), { maxLength: 40 }), fc.constantFrom('', '\n'))
  .map(([pid, comm, fields, end]) => `${pid} (${comm})${fields.map(([s, f]) => s + f).join('')}${end}`);

t.test('parseProcStat agrees with splitting on white space, and never throws', async (t) => {
  checkProperty(t, 'walk = split', fc.oneof({ arbitrary: statLine, weight: 4 }, { arbitrary: fc.string({ maxLength: 300 }), weight: 1 }), (line) => {
    const got = JSON.stringify(parseProcStat(line));
    const want = JSON.stringify(bySplit(line));
    if (got !== want) throw new Error(`parsed ${got}, splitting gives ${want}`);
  });
});
