import t from 'tap';
import { isReason, REASON_DESCRIPTIONS, reasonForCode } from '../../src/probe/reasons.js';
import { REASONS, type Reason } from '../../src/model.js';

t.test('every reason is documented with one line, and nothing else is', async (t) => {
  t.same(Object.keys(REASON_DESCRIPTIONS).sort(), [...REASONS].sort());
  for (const r of REASONS) {
    const d = REASON_DESCRIPTIONS[r];
    t.ok(typeof d === 'string' && d.length > 20 && !d.includes('\n') && d.endsWith('.'), `${r}: ${d}`);
    t.match(r, /^[a-z]+(-[a-z]+)*$/, `${r} is a valid metric label value`);
  }
  t.equal(new Set(REASONS).size, REASONS.length, 'no duplicates');
});

t.test('the reasons the issue asks for are all there', async (t) => {
  for (const r of ['ok', 'timeout', 'refused', 'unreachable', 'blocked-locally', 'netns-gone', 'bad-reply', 'rcode', 'wrong-answer', 'truncated']) {
    t.ok(isReason(r), r);
  }
  t.notOk(isReason('OK'));
  t.notOk(isReason(undefined));
});

t.test('errno name to reason', async (t) => {
  const table: Array<[string, Reason]> = [
    ['ETIMEDOUT', 'timeout'],
    ['ETIME', 'timeout'],
    ['ECONNREFUSED', 'refused'],
    ['ECONNRESET', 'reset'],
    ['ECONNABORTED', 'reset'],
    ['EPIPE', 'reset'],
    ['EHOSTUNREACH', 'unreachable'],
    ['ENETUNREACH', 'unreachable'],
    ['ENETDOWN', 'unreachable'],
    ['EHOSTDOWN', 'unreachable'],
    ['EADDRNOTAVAIL', 'unreachable'],
    ['EAFNOSUPPORT', 'unreachable'],
    ['EPROTONOSUPPORT', 'unreachable'],
    ['EPERM', 'blocked-locally'],
    ['EACCES', 'blocked-locally'],
    ['ENOENT', 'netns-gone'],
    ['ESRCH', 'netns-gone'],
    ['EPROTO', 'bad-reply'],
    ['EBADMSG', 'bad-reply'],
    ['EMSGSIZE', 'bad-reply'],
    ['ECANCELED', 'cancelled'],
    ['ENOMEM', 'error'],
    ['EMFILE', 'error'],
    ['EBADF', 'error'],
    ['EINVAL', 'error'],
    ['ERR_INVALID_ARG_VALUE', 'error'],
    ['E12345', 'error'],
  ];
  for (const [code, reason] of table) t.equal(reasonForCode(code), reason, code);
  for (const [code, reason] of table) t.equal(reasonForCode(code, 'sendto'), reason, `${code} on a socket call`);
});

t.test('a permission error entering the namespace is our privilege, not a firewall', async (t) => {
  for (const syscall of ['open', 'fstat', 'setns']) {
    t.equal(reasonForCode('EPERM', syscall), 'error', `EPERM on ${syscall}`);
    t.equal(reasonForCode('EACCES', syscall), 'error', `EACCES on ${syscall}`);
    t.equal(reasonForCode('ENOENT', syscall), 'netns-gone', `ENOENT on ${syscall}`);
  }
  for (const syscall of ['send', 'connect', 'socket']) t.equal(reasonForCode('EPERM', syscall), 'blocked-locally', `EPERM on ${syscall}`);
});
