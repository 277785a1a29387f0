// This very test process as a vantage: its own network namespace opens without root.
import fs from 'node:fs';
import { vantageId } from '../../src/discovery/vantage.js';
import type { Vantage } from '../../src/model.js';
import { parseProcStat } from '../../src/netns/proc-stat.js';

export function selfVantage(over: Partial<Vantage> = {}): Vantage {
  const st = fs.statSync(`/proc/${process.pid}/ns/net`);
  const { startTime, comm } = parseProcStat(fs.readFileSync(`/proc/${process.pid}/stat`, 'utf8'))!;
  return {
    id: vantageId(st.ino),
    dev: st.dev,
    inode: st.ino,
    pid: process.pid,
    startTime,
    comm,
    source: 'proc',
    hostNetwork: false,
    containerIds: [],
    containerNames: [],
    resolvConfFile: { root: `/proc/${process.pid}/root`, path: '/etc/resolv.conf' },
    ...over,
  };
}
