import { REASONS, Reason } from '../model.js';
// The one fixed set of reasons a probe result can carry. Metrics use them as
// label values and the docs list them, so the set only grows by adding an
// entry here (with its description), never by inventing a string elsewhere.

/** One line per reason: what it means and where the fault most likely is. */
export const REASON_DESCRIPTIONS: Readonly<Record<Reason, string>> = {
  ok: 'A valid reply arrived and passed every check.',
  timeout: 'No reply before the deadline (packets dropped on the way, or the server is overloaded or down).',
  refused: 'Connection refused: an ICMP port-unreachable (UDP) or a TCP reset to the connect; nothing listens on the server port.',
  reset: 'The server reset or closed the TCP connection before a complete reply.',
  unreachable: 'No route to the server from this network namespace (host or network unreachable, no usable source address or address family).',
  'blocked-locally': 'The kernel of this network namespace refused to send (EPERM/EACCES): a local firewall rule or security policy.',
  'netns-gone': 'The network namespace no longer exists (its last process exited before the probe ran).',
  'bad-reply':
    'The reply is not a valid answer to the query: malformed, truncated bytes, oversized, trailing bytes, not a response, or a wrong ID or question.',
  rcode: 'The server answered with a response code outside the allowed set (e.g. SERVFAIL, NXDOMAIN, or the REFUSED rcode).',
  'no-answer': 'The reply had an allowed response code but no record of the queried type, and answers are required.',
  'wrong-answer': "The reply's addresses differ from the expected addresses.",
  truncated: 'The UDP reply was truncated (TC) and the TCP retry did not complete, or a TCP reply itself was truncated.',
  cancelled: 'The probe was cancelled before it completed (shutdown).',
  error: 'A local error unrelated to the server: bad probe options, missing privilege to enter the namespace, exhausted resources, or an addon failure.',
};

export function isReason(value: unknown): value is Reason {
  return typeof value === 'string' && (REASONS as readonly string[]).includes(value);
}

// Syscalls that only touch the namespace itself (opening, checking, entering
// it). A permission error there is our missing privilege, not a firewall.
const NAMESPACE_SYSCALLS = new Set(['open', 'fstat', 'setns']);

const BY_CODE: Readonly<Record<string, Reason>> = {
  ETIMEDOUT: 'timeout',
  ETIME: 'timeout',
  ECONNREFUSED: 'refused',
  ECONNRESET: 'reset',
  ECONNABORTED: 'reset',
  EPIPE: 'reset',
  EHOSTUNREACH: 'unreachable',
  ENETUNREACH: 'unreachable',
  ENETDOWN: 'unreachable',
  EHOSTDOWN: 'unreachable',
  EADDRNOTAVAIL: 'unreachable',
  EAFNOSUPPORT: 'unreachable',
  EPROTONOSUPPORT: 'unreachable',
  EPERM: 'blocked-locally',
  EACCES: 'blocked-locally',
  ENOENT: 'netns-gone',
  ESRCH: 'netns-gone',
  EPROTO: 'bad-reply',
  EBADMSG: 'bad-reply',
  EMSGSIZE: 'bad-reply',
  ECANCELED: 'cancelled',
};

/**
 * The reason for a failed exchange, from its errno name (ExchangeError.code)
 * and, when known, the syscall that failed. EPERM/EACCES while opening or
 * entering the namespace is a local privilege problem ('error'); on a socket
 * call it is a firewall rule ('blocked-locally'). Unknown codes are 'error'.
 */
export function reasonForCode(code: string, syscall?: string): Reason {
  const reason = BY_CODE[code] ?? 'error';
  if (reason === 'blocked-locally' && syscall !== undefined && NAMESPACE_SYSCALLS.has(syscall)) return 'error';
  return reason;
}
