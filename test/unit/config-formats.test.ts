import t from 'tap';
import { FORMATS } from '../../src/config/formats.js';
import { parseDuration } from '../../src/config/format-scalars.js';
import { parseListenAddress, parseServerTarget } from '../../src/config/format-network.js';
import { parseObjectRef, parseQuantity } from '../../src/config/format-kube.js';
import { SETTINGS } from '../../src/config/schema.js';

t.test('parseDuration', (t) => {
  const cases: [unknown, number | null][] = [
    [250, 250],
    ['250', 250],
    ['500ms', 500],
    ['10s', 10_000],
    [' 5m ', 300_000],
    ['1h30m', 5_400_000],
    ['1.5s', 1_500],
    ['1m30s250ms', 90_250],
    ['', null],
    ['10', 10],
    ['10 s', null],
    ['5x', null],
    ['-5s', null],
    ['s', null],
    [Number.NaN, null],
    [true, null],
  ];
  for (const [input, want] of cases) t.equal(parseDuration(input), want, JSON.stringify(input));
  t.end();
});

t.test('parseServerTarget', (t) => {
  t.same(parseServerTarget('10.96.0.10', 53), { address: '10.96.0.10', port: 53, family: 4 });
  t.same(parseServerTarget('10.96.0.10:5353', 53), { address: '10.96.0.10', port: 5353, family: 4 });
  t.same(parseServerTarget('[fd00::10]:54', 53), { address: 'fd00::10', port: 54, family: 6 });
  t.same(parseServerTarget('fd00::10', 1053), { address: 'fd00::10', port: 1053, family: 6 });
  t.same(parseServerTarget('[fd00::10]', 53), { address: 'fd00::10', port: 53, family: 6 });
  t.throws(() => parseServerTarget('10.0.0.1:0', 53), /port must be a number from 1 to 65535/);
  t.throws(() => parseServerTarget('10.0.0.1:65536', 53), /port must be a number from 1 to 65535/);
  t.throws(() => parseServerTarget('kube-dns:53', 53), /host names are not accepted/);
  t.throws(() => parseServerTarget('[10.0.0.1]:53', 53), /in brackets is not an IPv6 address/);
  t.throws(() => parseServerTarget('[fe80::1%eth0]:53', 53), /not an IPv6 address/);
  t.end();
});

t.test('parseListenAddress', (t) => {
  t.same(parseListenAddress('0.0.0.0:9890'), { address: '0.0.0.0', port: 9890, family: 4 });
  t.same(parseListenAddress('127.0.0.1:0'), { address: '127.0.0.1', port: 0, family: 4 }, 'port 0: any free port');
  t.same(parseListenAddress('[::]:9890'), { address: '::', port: 9890, family: 6 });
  t.throws(() => parseListenAddress('0.0.0.0'), /has no port/);
  t.throws(() => parseListenAddress('::'), /has no port/);
  t.same(parseListenAddress(':9890'), { address: null, port: 9890, family: null }, '":PORT": every address, as Go reads it');
  t.same(parseListenAddress(' :0 '), { address: null, port: 0, family: null });
  t.throws(() => parseListenAddress(':'), /port must be a number from 0 to 65535/);
  t.throws(() => parseListenAddress(':65536'), /port must be a number/);
  t.throws(() => parseListenAddress(':x'), /port must be a number/);
  t.throws(() => parseListenAddress('localhost:9890'), /is not IP:PORT, \[IPv6\]:PORT or :PORT \(host names are not accepted\)/);
  t.end();
});

t.test('parseQuantity', (t) => {
  t.equal(parseQuantity('170Mi'), 170 * 2 ** 20);
  t.equal(parseQuantity('1Gi'), 2 ** 30);
  t.equal(parseQuantity('500M'), 500e6);
  t.equal(parseQuantity('1.5Gi'), 1.5 * 2 ** 30);
  t.equal(parseQuantity('1048576'), 1_048_576);
  for (const bad of ['1GB', 'Mi', '-1Gi', '1 Gi', '']) t.equal(parseQuantity(bad), null, bad);
  t.end();
});

t.test('parseObjectRef', (t) => {
  t.same(parseObjectRef('kube-system/kube-dns'), { namespace: 'kube-system', name: 'kube-dns' });
  t.same(parseObjectRef('a/b.c'), { namespace: 'a', name: 'b.c' });
  for (const bad of ['kube-dns', 'a/b/c', 'Kube/x', 'a/', '/b', 'a_b/c']) t.equal(parseObjectRef(bad), null, bad);
  t.end();
});

t.test('every format accepts its own defaults and rejects what the file type check lets through', (t) => {
  for (const s of SETTINGS) {
    const value = s.format.coerce && typeof s.default === 'string' ? s.format.coerce(s.default) : s.default;
    t.doesNotThrow(() => s.format.validate(value), `${s.key} default ${JSON.stringify(s.default)}`);
  }
  for (const f of FORMATS.values()) {
    t.throws(() => f.validate({ not: 'a value' }), Error, `${f.name} rejects an object`);
  }
  t.end();
});
