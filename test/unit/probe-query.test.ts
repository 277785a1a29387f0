import t from 'tap';
import dnsPacket from 'dns-packet';
import { ArgumentError } from '../../src/netns/binding.js';
import { buildQuery, normalizeName, type QueryOptions } from '../../src/probe/query.js';
import { QUERY_TYPES } from '../../src/model.js';

t.test('a default query: RD set, one IN question, no EDNS, decodable', async (t) => {
  const q = buildQuery({ name: 'Kubernetes.Default.svc.cluster.local.', type: 'a' });
  const p = dnsPacket.decode(q.packet);
  t.equal(p.id, q.id);
  t.equal(p.type, 'query');
  t.equal(p.flag_qr, false);
  t.equal(p.flag_rd, true);
  t.same(p.questions, [{ name: 'kubernetes.default.svc.cluster.local', type: 'A', class: 'IN' }]);
  t.same(p.additionals, []);
  t.same(q.question, { name: 'kubernetes.default.svc.cluster.local', type: 'A', class: 'IN' });
  t.equal(q.maxUdpReply, 512);
});

t.test('options: id, RD off, class CH, EDNS0 payload size', async (t) => {
  const q = buildQuery({ name: 'id.server', type: 'TXT', class: 'ch', recursionDesired: false, id: 4660, edns: { udpPayloadSize: 1232 } });
  const p = dnsPacket.decode(q.packet);
  t.equal(q.id, 4660);
  t.equal(p.id, 4660);
  t.equal(p.flag_rd, false);
  t.same(p.questions, [{ name: 'id.server', type: 'TXT', class: 'CH' }]);
  t.equal(p.additionals?.length, 1);
  const opt = p.additionals![0]!;
  t.equal(opt.type, 'OPT');
  t.equal('udpPayloadSize' in opt && opt.udpPayloadSize, 1232);
  t.equal(q.maxUdpReply, 1232);
  t.equal(buildQuery({ name: 'x', type: 'A', id: 0 }).id, 0, 'ID 0 is a valid ID');
  t.equal(buildQuery({ name: 'x', type: 'A', id: 65535 }).id, 65535);
});

t.test('every supported type and the root name encode', async (t) => {
  for (const type of QUERY_TYPES) {
    const p = dnsPacket.decode(buildQuery({ name: '_dns._udp.example', type }).packet);
    t.equal(p.questions?.[0]?.type, type);
  }
  const root = dnsPacket.decode(buildQuery({ name: '.', type: 'NS' }).packet);
  t.equal(root.questions?.[0]?.name, '.');
});

t.test('IDs are random 16-bit values', async (t) => {
  const ids = new Set<number>();
  const wrong: number[] = [];
  for (let i = 0; i < 500; i++) {
    const { id, packet } = buildQuery({ name: 'a.example', type: 'A' });
    if (!Number.isInteger(id) || id < 0 || id > 0xffff || packet.readUInt16BE(0) !== id) wrong.push(id);
    ids.add(id);
  }
  t.same(wrong, [], 'every ID is a 16-bit integer and is the one in the packet');
  // 500 draws from 65536 values: about 2 collisions are expected, 50 never happen.
  t.ok(ids.size > 450, `${ids.size} distinct IDs of 500`);
});

t.test('a question encoded once: byte for byte what dns-packet encodes, each packet its own buffer', async (t) => {
  const cases: Array<[QueryOptions, boolean, number | null]> = [
    [{ name: 'kubernetes.default.svc.cluster.local', type: 'A' }, true, null],
    [{ name: 'kubernetes.default.svc.cluster.local', type: 'A', recursionDesired: false }, false, null],
    [{ name: 'kubernetes.default.svc.cluster.local', type: 'AAAA', edns: { udpPayloadSize: 1232 } }, true, 1232],
    [{ name: 'id.server', type: 'TXT', class: 'CH' }, true, null],
  ];
  for (const [opts, rd, udp] of cases) {
    for (const id of [0, 1, 4660, 65535]) {
      const q = buildQuery({ ...opts, id });
      const fresh = dnsPacket.encode({
        type: 'query',
        id,
        flags: rd ? dnsPacket.RECURSION_DESIRED : 0,
        questions: [{ name: q.question.name, type: q.question.type, class: q.question.class }],
        additionals:
          udp === null ? [] : [{ type: 'OPT', name: '.', udpPayloadSize: udp, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }],
      });
      t.same(q.packet, fresh, `${opts.name} ${opts.type} rd=${rd} edns=${udp} id=${id}`);
    }
  }
  const a = buildQuery({ name: 'a.example', type: 'A', id: 1 });
  const b = buildQuery({ name: 'a.example', type: 'A', id: 2 });
  a.packet[5] = 0xff; // a caller writing into its packet changes no other packet
  t.equal(b.packet.readUInt16BE(0), 2);
  t.equal(b.packet[5], 1, 'QDCOUNT of the next packet untouched');
  t.equal(buildQuery({ name: 'a.example', type: 'A', id: 3 }).packet[5], 1);
});

t.test('name normalization and limits', async (t) => {
  t.equal(normalizeName('A.B.'), 'a.b');
  t.equal(normalizeName('.'), '.');
  const label63 = 'a'.repeat(63);
  const longest = [label63, label63, label63, 'a'.repeat(61)].join('.'); // 253 characters
  t.equal(longest.length, 253);
  t.equal(normalizeName(longest), longest);
  t.throws(() => normalizeName(longest + 'a'), { name: 'ArgumentError', param: 'name' });
});

t.test('bad options throw ArgumentError naming the field', async (t) => {
  const base: QueryOptions = { name: 'a.example', type: 'A' };
  const cases: Array<[string, unknown, string]> = [
    ['empty name', { ...base, name: '' }, 'name'],
    ['not a string', { ...base, name: 42 }, 'name'],
    ['empty label', { ...base, name: 'a..example' }, 'name'],
    ['leading dot', { ...base, name: '.example' }, 'name'],
    ['space', { ...base, name: 'a b.example' }, 'name'],
    ['label of 64', { ...base, name: `${'a'.repeat(64)}.example` }, 'name'],
    ['unknown type', { ...base, type: 'BOGUS' }, 'type'],
    ['type not a string', { ...base, type: 1 }, 'type'],
    ['unknown class', { ...base, class: 'XX' }, 'class'],
    ['negative id', { ...base, id: -1 }, 'id'],
    ['id too big', { ...base, id: 65536 }, 'id'],
    ['fractional id', { ...base, id: 1.5 }, 'id'],
    ['RD not a boolean', { ...base, recursionDesired: 'yes' }, 'recursionDesired'],
    ['EDNS not an object', { ...base, edns: 1232 }, 'edns'],
    ['EDNS size too small', { ...base, edns: { udpPayloadSize: 100 } }, 'edns.udpPayloadSize'],
    ['EDNS size too big', { ...base, edns: { udpPayloadSize: 70000 } }, 'edns.udpPayloadSize'],
    ['not an object', null, 'query'],
  ];
  for (const [what, opts, param] of cases) {
    t.throws(() => buildQuery(opts as QueryOptions), { name: 'ArgumentError', param, code: 'ERR_INVALID_ARG_VALUE' }, what);
    try {
      buildQuery(opts as QueryOptions);
    } catch (err) {
      t.ok(err instanceof ArgumentError && err.message.startsWith(`${param}: `), `${what}: message names ${param}`);
    }
  }
});

t.test('a query is encoded once per options and copied with its ID patched', async (t) => {
  const opts: QueryOptions = { name: 'a.example', type: 'AAAA', edns: { udpPayloadSize: 1232 } };
  const first = buildQuery({ ...opts, id: 0x1234 });
  first.packet.fill(0xff); // the caller's copy: changing it changes no later query
  first.question.name = 'changed';
  const second = buildQuery({ ...opts, id: 0xabcd });
  const p = dnsPacket.decode(second.packet);
  t.equal(p.id, 0xabcd);
  t.same(p.questions, [{ name: 'a.example', type: 'AAAA', class: 'IN' }]);
  t.equal(second.question.name, 'a.example');
  t.equal(second.maxUdpReply, 1232);
  // Options that differ in any field get their own message.
  t.equal(dnsPacket.decode(buildQuery({ ...opts, id: 1, recursionDesired: false }).packet).flag_rd, false);
  t.same(dnsPacket.decode(buildQuery({ name: 'a.example', type: 'AAAA', id: 1 }).packet).additionals, []);
  // A bad option still throws after good ones were cached.
  t.throws(() => buildQuery({ ...opts, edns: { udpPayloadSize: 100 } }), ArgumentError);
  t.throws(() => buildQuery({ ...opts, id: 70000 }), ArgumentError);
});
