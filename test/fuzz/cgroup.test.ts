// Fuzzing the /proc/<pid>/cgroup parser (a container names its own cgroups):
// never a throw, and whatever the text, only well-formed identifiers and a
// capped path come out.
import t from 'tap';
import fc from 'fast-check';
import { parseCgroup, parseCgroupPath } from '../../src/discovery/cgroup.js';
import { MAX_FIELD } from '../../src/text/untrusted.js';
import { checkProperty, expect, hostileText, hostileToken, hugeToken, randomText, word } from '../support/fuzz.js';

const hex = (n: number): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'.split('')), minLength: n, maxLength: n });
const uid = fc.tuple(hex(8), hex(4), hex(4), hex(4), hex(12), fc.constantFrom('-', '_')).map(([a, b, c, d, e, s]) => [a, b, c, d, e].join(s));
const id = fc.oneof({ arbitrary: hex(64), weight: 4 }, { arbitrary: hex(63), weight: 1 }, { arbitrary: hex(64).map((h) => h.toUpperCase()), weight: 1 });

/** Path segments: the real spellings (with real or near-miss IDs) and hostile ones. */
const segment = fc.oneof(
  {
    arbitrary: fc.constantFrom('kubepods', 'kubepods.slice', 'burstable', 'besteffort', 'docker', 'system.slice', 'machine.slice', 'init.scope', '', '..'),
    weight: 4,
  },
  {
    arbitrary: fc
      .tuple(
        fc.constantFrom('kubepods-pod', 'kubepods-burstable-pod', 'kubepods-besteffort-pod', 'pod'),
        fc.oneof(uid, hex(32), word),
        fc.constantFrom('.slice', ''),
      )
      .map((p) => p.join('')),
    weight: 3,
  },
  {
    arbitrary: fc
      .tuple(fc.constantFrom('cri-containerd-', 'crio-', 'crio-conmon-', 'docker-', 'libpod-', ''), id, fc.constantFrom('.scope', ''))
      .map((p) => p.join('')),
    weight: 3,
  },
  { arbitrary: hostileToken, weight: 2 },
  { arbitrary: hostileText, weight: 1 },
);
const path = fc.array(segment, { maxLength: 10 }).map((s) => `/${s.join('/')}`);
const line = fc.oneof(
  {
    arbitrary: fc
      .tuple(fc.oneof(fc.nat(20).map(String), word), fc.constantFrom('', 'memory', 'cpu,cpuacct', 'name=systemd', 'pids'), path)
      .map(([h, c, p]) => `${h}:${c}:${p}`),
    weight: 8,
  },
  { arbitrary: hostileText, weight: 1 },
);
const text = fc.oneof(
  { arbitrary: fc.array(line, { maxLength: 20 }).map((ls) => ls.join('\n')), weight: 8 },
  { arbitrary: randomText, weight: 2 },
  { arbitrary: fc.tuple(line, fc.integer({ min: 1, max: 2000 })).map(([l, n]) => `${l}\n`.repeat(n)), weight: 1 },
  { arbitrary: hugeToken(70_000).map((h) => `0::/${h}`), weight: 1 },
);

const UID = /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{32})$/;
const KEYS = new Set(['cgroupVersion', 'podUid', 'containerId', 'runtime', 'qosClass', 'path']);

t.test('parseCgroup: never throws; identifiers well-formed, path capped', async (t) => {
  checkProperty(t, 'parseCgroup', text, (input) => {
    const c = parseCgroup(input);
    expect(
      Object.keys(c).every((k) => KEYS.has(k)),
      'known keys only',
    );
    expect(c.cgroupVersion === 1 || c.cgroupVersion === 2, 'version');
    expect(c.podUid === undefined || UID.test(c.podUid), `pod UID ${c.podUid}`);
    expect(c.containerId === undefined || /^[0-9a-f]{64}$/.test(c.containerId), 'container ID');
    expect(c.runtime === undefined || ['containerd', 'cri-o', 'docker', 'podman'].includes(c.runtime), 'runtime');
    expect(c.qosClass === undefined || ['Guaranteed', 'Burstable', 'BestEffort'].includes(c.qosClass), 'QoS class');
    expect(c.path === undefined || c.path.length <= MAX_FIELD + 32, `path of ${c.path?.length} characters`);
    expect(JSON.stringify(c).length <= 6 * (MAX_FIELD + 32) + 400, 'bounded');
  });
});

t.test('parseCgroupPath: never throws on any path', async (t) => {
  checkProperty(t, 'parseCgroupPath', fc.oneof(path, randomText), (p) => {
    const info = parseCgroupPath(p);
    expect(info.podUid === undefined || UID.test(info.podUid), 'pod UID');
    expect(info.containerId === undefined || /^[0-9a-f]{64}$/.test(info.containerId), 'container ID');
  });
});
