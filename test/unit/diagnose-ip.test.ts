import t from 'tap';
import { canonicalIp, formatIp, inPrefix, isLoopback, maskLength, parseIp } from '../../src/diagnose/ip.js';

t.test('parses and formats IPv4 and IPv6', async (t) => {
  t.same(parseIp('10.96.0.10'), { family: 4, value: 0x0a60000an });
  t.equal(formatIp(parseIp('10.96.0.10')!), '10.96.0.10');
  for (const [input, canonical] of [
    ['fd00:10:200::1', 'fd00:10:200::1'],
    ['FD00:0000:0000:0000:0000:0000:0000:0001', 'fd00::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['1:0:2:0:3:0:4:0', '1:0:2:0:3:0:4:0'],
    ['::ffff:10.0.0.1', '::ffff:a00:1'],
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
    ['1:2:3:4:5:6:1.2.3.4', '1:2:3:4:5:6:102:304'],
  ] as const) {
    t.equal(canonicalIp(input), canonical, input);
  }
  for (const bad of ['', '10.0.0', '10.0.0.256', '1::2::3', 'fe80::1%eth0', 'example.com', '1:2:3:4:5:6:7:8:9']) {
    t.equal(parseIp(bad), null, `rejects ${JSON.stringify(bad)}`);
    t.equal(canonicalIp(bad), bad);
  }
});

t.test('prefix matching, masks and loopback', async (t) => {
  const ip = parseIp('10.96.0.10')!;
  t.ok(inPrefix(ip, parseIp('10.96.0.0')!, 12));
  t.ok(inPrefix(ip, parseIp('0.0.0.0')!, 0), 'default route covers all');
  t.notOk(inPrefix(ip, parseIp('10.244.0.0')!, 16));
  t.notOk(inPrefix(ip, parseIp('::')!, 0), 'families never match');
  t.ok(inPrefix(parseIp('fd00:244:1::5')!, parseIp('fd00:244:1::')!, 64));
  t.equal(maskLength(0xffffff00n, 4), 24);
  t.equal(maskLength(0n, 4), 0);
  t.equal(maskLength(0xffffffffn, 4), 32);
  t.equal(maskLength(0xff00ff00n, 4), null, 'non-contiguous mask');
  t.ok(isLoopback('127.0.0.53'));
  t.ok(isLoopback('::1'));
  t.ok(isLoopback('::ffff:127.0.0.1'));
  t.notOk(isLoopback('10.96.0.10'));
  t.notOk(isLoopback('not an ip'));
});
