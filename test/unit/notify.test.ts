// sd_notify: what is sent when, the watchdog settings systemd passes, quiet
// failure, and real datagrams through the addon to a unix datagram socket.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { Notifier, statusLine, watchdogUsec, type NotifySend } from '../../src/daemon/notify.js';
import { createLogger } from '../../src/log.js';
import { startNotifyReceiver } from '../support/notify-receiver.js';

function recorder(fail: () => Error | null = () => null) {
  const sent: Array<[string, string]> = [];
  const send: NotifySend = (socket, message) => {
    const err = fail();
    if (!err) sent.push([socket, message]);
    return err;
  };
  return { sent, send };
}

t.test('outside systemd every call is a no-op', (t) => {
  const r = recorder();
  const n = new Notifier({ env: {}, send: r.send });
  t.notOk(n.enabled);
  n.ready('x');
  n.watchdog('x');
  n.stopping();
  t.same(r.sent, []);
  t.equal(n.watchdogIntervalMs, null);
  t.end();
});

t.test('messages: READY, WATCHDOG, STATUS, RELOADING with MONOTONIC_USEC, STOPPING', (t) => {
  const r = recorder();
  const n = new Notifier({ env: { NOTIFY_SOCKET: '@healthd-test', WATCHDOG_USEC: '20000000' }, send: r.send, pid: 42 });
  t.ok(n.enabled);
  t.equal(n.watchdogUsec, 20_000_000);
  t.equal(n.watchdogIntervalMs, 10_000, 'half of what systemd gives');
  n.ready('ok: 3 checks healthy');
  n.watchdog();
  n.watchdog('two\nlines');
  n.status('just status');
  n.reloading();
  n.stopping('stopping (SIGTERM)');
  t.same(
    r.sent.map(([s]) => s),
    Array(6).fill('@healthd-test'),
  );
  const msgs = r.sent.map(([, m]) => m);
  t.equal(msgs[0], 'READY=1\nSTATUS=ok: 3 checks healthy');
  t.equal(msgs[1], 'WATCHDOG=1');
  t.equal(msgs[2], 'WATCHDOG=1\nSTATUS=two lines', 'a status never spans lines');
  t.equal(msgs[3], 'STATUS=just status');
  t.match(msgs[4], /^RELOADING=1\nMONOTONIC_USEC=\d+$/);
  t.equal(msgs[5], 'STOPPING=1\nSTATUS=stopping (SIGTERM)');
  t.end();
});

t.test('WATCHDOG_USEC: only a positive integer meant for this pid enables the watchdog', (t) => {
  t.equal(watchdogUsec({ WATCHDOG_USEC: '5000000' }, 1), 5_000_000);
  t.equal(watchdogUsec({ WATCHDOG_USEC: '5000000', WATCHDOG_PID: '1' }, 1), 5_000_000);
  t.equal(watchdogUsec({ WATCHDOG_USEC: '5000000', WATCHDOG_PID: '2' }, 1), null, 'meant for another process');
  t.equal(watchdogUsec({ WATCHDOG_USEC: '0' }, 1), null);
  t.equal(watchdogUsec({ WATCHDOG_USEC: 'soon' }, 1), null);
  t.equal(watchdogUsec({}, 1), null);
  const r = recorder();
  const n = new Notifier({ env: { NOTIFY_SOCKET: '/run/x', WATCHDOG_USEC: '5000000', WATCHDOG_PID: '2' }, send: r.send, pid: 1 });
  n.watchdog('status only');
  t.same(r.sent, [['/run/x', 'STATUS=status only']], 'no WATCHDOG=1 without a watchdog; the status still goes');
  t.equal(statusLine('a\r\nb'), 'a b');
  t.equal(statusLine('x'.repeat(600)).length, 512);
  t.end();
});

t.test('a failing socket is logged once, and once more when it works again', (t) => {
  const lines: string[] = [];
  const log = createLogger({ stream: { write: (s: string) => lines.push(s) } });
  let broken = true;
  const r = recorder(() => (broken ? Object.assign(new Error('sendto: ECONNREFUSED'), { code: 'ECONNREFUSED' }) : null));
  const n = new Notifier({ env: { NOTIFY_SOCKET: '/run/gone' }, send: r.send, log });
  t.equal(n.notify(['READY=1']), false);
  n.status('a');
  n.status('b');
  broken = false;
  t.equal(n.notify(['STATUS=c']), true);
  const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  t.same(
    records.map((x) => [x.level, x.msg]),
    [
      ['warn', 'cannot notify systemd'],
      ['info', 'notifying systemd works again'],
    ],
  );
  t.match(records[0], { socket: '/run/gone', message: 'READY=1', err: { message: 'sendto: ECONNREFUSED' } });
  const throwing = new Notifier({
    env: { NOTIFY_SOCKET: '/run/x' },
    send: () => {
      throw new TypeError('bad');
    },
  });
  t.equal(throwing.notify(['READY=1']), false, 'a throwing sender does not throw');
  t.end();
});

t.test('real datagrams through the addon: a socket path and an abstract name', async (t) => {
  // sun_path holds 108 bytes: a short directory, not tap's testdir.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chr-'));
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
  for (const address of [path.join(dir, 'notify.sock'), `@chr-notify-${randomBytes(4).toString('hex')}`]) {
    const rx = await startNotifyReceiver(address, t);
    const n = new Notifier({ env: { NOTIFY_SOCKET: address, WATCHDOG_USEC: '1000000' } });
    n.ready('first sweep done');
    n.watchdog();
    n.stopping();
    t.equal(await rx.waitFor('READY=1'), 'READY=1\nSTATUS=first sweep done', address);
    await rx.waitFor('WATCHDOG=1');
    await rx.waitFor('STOPPING=1');
    t.same(rx.messages, ['READY=1\nSTATUS=first sweep done', 'WATCHDOG=1', 'STOPPING=1'], 'in order, nothing else');
    await rx.stop();
  }
  const lines: string[] = [];
  const n = new Notifier({
    env: { NOTIFY_SOCKET: path.join(dir, 'nobody-listens.sock') },
    log: createLogger({ stream: { write: (s: string) => lines.push(s) } }),
  });
  t.equal(n.notify(['READY=1']), false, 'no listener: a logged failure, no throw');
  t.match(JSON.parse(lines[0]!), { msg: 'cannot notify systemd', err: { code: /ENOENT|ECONNREFUSED/ } });
});
