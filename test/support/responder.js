#!/usr/bin/env node
// The project's fault-injecting DNS responder, in plain ESM JavaScript so that it runs as its
// own process inside a network namespace without a TypeScript loader:
//
//   ip netns exec NS node test/support/responder.js --listen 10.1.0.2 --port 53 --mode servfail
//
// It prints one line `READY {"address":...,"port":...}` on stdout once it listens, and exits 0 on
// SIGTERM or SIGINT. The same server runs in-process with startResponder(opts).
// Types: responder.d.ts. Serves UDP and TCP (2-byte length framing, many queries per connection).
import dgram from 'node:dgram';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import packet from 'dns-packet';

/** Every fault the responder can play (details in responder.d.ts). */
export const RESPONDER_MODES = Object.freeze([
  'answer', // A/AAAA for `name` from `addresses`; other names NXDOMAIN, other types NODATA
  'delay', // like answer, after delayMs (default 1000)
  'drop', // reads queries, never answers (TCP connections stay open)
  'servfail', // rcode SERVFAIL, no answers
  'nxdomain', // rcode NXDOMAIN, no answers
  'wrong-answer', // like answer, with `wrongAddresses` instead of `addresses`
  'udp-only', // like answer, no TCP listener (TCP connect is refused)
  'tcp-only', // like answer, no UDP socket (UDP gets ICMP port unreachable)
  'truncate', // UDP: TC set, question only, no answers; TCP: the full answer
  'garbage', // random bytes (framed over TCP), never a parseable reply with the query's ID
  'wrong-id', // the right answer under another message ID
  'hostile-question', // the query's ID, but the question (and the answer's owner) is HOSTILE_NAME
  'hostile-answer', // the right question; answers: a CNAME to HOSTILE_NAME and an A record under it
]);

/**
 * UDP datagrams the responder can send to the client before each UDP reply (option `spoof`, with
 * `spoofCount` of them; 0, the default, sends none): replies a resolver must ignore while it waits
 * for the real one. They carry `wrongAddresses`, so one taken for the reply shows as a wrong answer.
 */
export const SPOOF_KINDS = Object.freeze([
  'wrong-id', // the query's question under another message ID (a different one each time)
  'wrong-question', // the query's ID, a different name in the question
  'empty', // a zero-length datagram
]);

/** A name whose labels carry control characters, C1 and bidi characters, and a forged line. */
// (dns-packet's encoder drops a dot next to a line break: its trim regex has the m flag.)
export const HOSTILE_NAME = '\x1b[2J\x1b[Hevil.\x1b]0;pwn\x07.x\nFAKE-LINE\rok.\u202eevil.example';

export const RESPONDER_DEFAULTS = Object.freeze({
  listen: '127.0.0.1',
  port: 0,
  mode: 'answer',
  name: 'kubernetes.default.svc.cluster.local',
  addresses: Object.freeze(['10.96.0.1']),
  wrongAddresses: Object.freeze(['10.96.0.254', 'fd00:96::fe']),
  delayMs: 0,
  ttl: 30,
  spoof: 'wrong-id',
  spoofCount: 0,
});

const DEFAULT_DELAY_MS = 1000;
const MAX_TCP_IDLE_MS = 60_000;
const BIND_ATTEMPTS = 20;
// Spoofed datagrams are sent this many at a time, a timer turn apart, and the reply SPOOF_SETTLE_MS
// after the last of them: a flood sent in one burst overruns the client's socket buffer (the kernel
// drops what does not fit), and the real reply must not be among what is dropped.
const SPOOF_BATCH = 64;
const SPOOF_SETTLE_MS = 20;
// Under load the client may still not have drained the flood when the reply comes (a test
// measured 288 of 20,000 flood datagrams dropped, RcvbufErrors in /proc/net/snmp, with the CPUs
// busy), and a reply dropped with them leaves the client waiting until its timeout. So after a
// flood the reply is sent again at these times (ms after the first): the client takes the first
// copy that arrives, and later copies find its socket closed. Without a flood it is sent once.
const REPLY_RESEND_MS = Object.freeze([250, 1000, 3000]);
const RCODE = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3 };

function fail(field, message) {
  throw new Error(`responder: ${field}: ${message}`);
}

function checkAddresses(field, list) {
  if (!Array.isArray(list)) fail(field, `must be an array of IP addresses, got ${JSON.stringify(list)}`);
  for (const a of list) if (net.isIP(a) === 0) fail(field, `not an IP address: ${JSON.stringify(a)}`);
  return [...list];
}

function checkInt(field, value, min, max) {
  if (!Number.isInteger(value) || value < min || value > max) {
    fail(field, `must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return value;
}

/** Defaults applied, then every field validated; errors name the field. */
export function resolveOptions(opts = {}) {
  const known = new Set([...Object.keys(RESPONDER_DEFAULTS), 'logQueries', 'onQuery']);
  for (const key of Object.keys(opts)) if (!known.has(key)) fail(key, 'unknown option');
  const o = { ...RESPONDER_DEFAULTS, ...Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined)) };
  if (!RESPONDER_MODES.includes(o.mode)) fail('mode', `unknown mode ${JSON.stringify(o.mode)} (one of ${RESPONDER_MODES.join(', ')})`);
  if (net.isIP(o.listen) === 0) fail('listen', `not an IP address: ${JSON.stringify(o.listen)}`);
  if (typeof o.name !== 'string' || !/^[A-Za-z0-9_.-]+$/.test(o.name)) fail('name', `not a domain name: ${JSON.stringify(o.name)}`);
  if (o.onQuery !== undefined && typeof o.onQuery !== 'function') fail('onQuery', 'must be a function');
  if (!SPOOF_KINDS.includes(o.spoof)) fail('spoof', `unknown kind ${JSON.stringify(o.spoof)} (one of ${SPOOF_KINDS.join(', ')})`);
  const delayGiven = opts.delayMs !== undefined;
  return {
    listen: o.listen,
    port: checkInt('port', o.port, 0, 65535),
    mode: o.mode,
    name: o.name.replace(/\.$/, '').toLowerCase(),
    addresses: checkAddresses('addresses', o.addresses),
    wrongAddresses: checkAddresses('wrongAddresses', o.wrongAddresses),
    delayMs: checkInt('delayMs', o.mode === 'delay' && !delayGiven ? DEFAULT_DELAY_MS : o.delayMs, 0, 3_600_000),
    ttl: checkInt('ttl', o.ttl, 0, 2_147_483_647),
    spoof: o.spoof,
    spoofCount: checkInt('spoofCount', o.spoofCount, 0, 1_000_000),
    logQueries: Boolean(o.logQueries),
    onQuery: o.onQuery,
  };
}

function records(o, question, list) {
  const family = question.type === 'A' ? 4 : question.type === 'AAAA' ? 6 : 0;
  return list.filter((a) => net.isIP(a) === family).map((data) => ({ name: question.name, type: question.type, class: 'IN', ttl: o.ttl, data }));
}

function encodeReply(query, { rcode = RCODE.NOERROR, answers = [], truncated = false, id = query.id }) {
  let flags = packet.AUTHORITATIVE_ANSWER | packet.RECURSION_AVAILABLE | rcode;
  if (query.flag_rd) flags |= packet.RECURSION_DESIRED;
  if (truncated) flags |= packet.TRUNCATED_RESPONSE;
  return packet.encode({ type: 'response', id, flags, questions: query.questions, answers });
}

function garbageFor(id) {
  const bytes = randomBytes(5 + Math.floor(Math.random() * 200));
  if (bytes.readUInt16BE(0) === id) bytes[0] ^= 0xff;
  return bytes;
}

/** The reply to one decoded query, or null for no reply. Pure apart from the random garbage. */
export function replyFor(o, query, transport) {
  const question = query.questions[0];
  const ours = question !== undefined && question.name.toLowerCase() === o.name;
  switch (o.mode) {
    case 'drop':
      return null;
    case 'servfail':
      return encodeReply(query, { rcode: RCODE.SERVFAIL });
    case 'nxdomain':
      return encodeReply(query, { rcode: RCODE.NXDOMAIN });
    case 'garbage':
      return garbageFor(query.id);
    case 'truncate':
      if (transport === 'udp') return encodeReply(query, { truncated: true });
      break;
    case 'hostile-question': {
      const hostile = { name: HOSTILE_NAME, type: 'A', class: 'IN' };
      return packet.encode({
        type: 'response',
        id: query.id,
        flags: packet.AUTHORITATIVE_ANSWER | packet.RECURSION_AVAILABLE | (query.flag_rd ? packet.RECURSION_DESIRED : 0),
        questions: [hostile],
        answers: records(o, hostile, o.addresses),
      });
    }
    case 'hostile-answer':
      if (question === undefined) return encodeReply(query, { rcode: RCODE.NXDOMAIN });
      return encodeReply(query, {
        answers: [
          { name: question.name, type: 'CNAME', class: 'IN', ttl: o.ttl, data: HOSTILE_NAME },
          ...records(o, { name: HOSTILE_NAME, type: question.type }, o.addresses),
        ],
      });
    default:
      break;
  }
  if (!ours) return encodeReply(query, { rcode: RCODE.NXDOMAIN });
  const list = o.mode === 'wrong-answer' ? o.wrongAddresses : o.addresses;
  const id = o.mode === 'wrong-id' ? (query.id + 1) & 0xffff : query.id;
  return encodeReply(query, { answers: records(o, question, list), id });
}

/** The `count` spoofed datagrams sent before the UDP reply to `query` (see SPOOF_KINDS). */
export function spoofsFor(o, query, count = o.spoofCount) {
  if (count === 0) return [];
  if (o.spoof === 'empty') return Array.from({ length: count }, () => Buffer.alloc(0));
  const q = query.questions[0] ?? { name: o.name, type: 'A', class: 'IN' };
  if (o.spoof === 'wrong-question') {
    // Same length, another first letter: not the same name, even ignoring case.
    const other = { ...q, name: `${/^[xX]/.test(q.name) ? 'y' : 'x'}${q.name.slice(1)}` };
    const bytes = encodeReply({ ...query, questions: [other] }, { answers: records(o, other, o.wrongAddresses) });
    return Array.from({ length: count }, () => bytes);
  }
  const template = encodeReply(query, { answers: records(o, q, o.wrongAddresses) });
  return Array.from({ length: count }, (_, i) => {
    const b = Buffer.from(template);
    b.writeUInt16BE((query.id + 1 + (i % 0xffff)) & 0xffff, 0); // never the query's ID
    return b;
  });
}

function decodeQuery(bytes) {
  try {
    const query = packet.decode(bytes);
    return query.type === 'query' ? query : null;
  } catch {
    return null;
  }
}

function listen(bind) {
  return new Promise((resolve, reject) => {
    bind((err) => (err ? reject(err) : resolve()));
  });
}

/**
 * Starts the responder in this process. Resolves once UDP and/or TCP (per mode) listen.
 * @returns {Promise<import('./responder.js').Responder>}
 */
export async function startResponder(opts = {}) {
  const o = resolveOptions(opts);
  const wantUdp = o.mode !== 'tcp-only';
  const wantTcp = o.mode !== 'udp-only';
  const stats = { udp: 0, tcp: 0, malformed: 0, replies: 0, spoofed: 0 };
  const timers = new Set();
  const connections = new Set();
  let closed = false;

  const handle = (bytes, transport, from, send) => {
    const query = decodeQuery(bytes);
    if (!query) {
      stats.malformed++;
      return;
    }
    stats[transport]++;
    const q = query.questions[0];
    const record = { transport, from, id: query.id, name: q?.name ?? '', type: q?.type ?? '' };
    if (o.logQueries) process.stdout.write(`QUERY ${JSON.stringify(record)}\n`);
    o.onQuery?.(record);
    const reply = replyFor(o, query, transport);
    if (!reply) return;
    const deliver = () => {
      if (closed) return;
      stats.replies++;
      send(reply, query);
    };
    if (o.delayMs === 0) return deliver();
    const timer = setTimeout(() => {
      timers.delete(timer);
      deliver();
    }, o.delayMs);
    timers.add(timer);
  };

  const serveTcp = (socket) => {
    connections.add(socket);
    socket.setTimeout(MAX_TCP_IDLE_MS, () => socket.destroy());
    socket.on('close', () => connections.delete(socket));
    socket.on('error', () => socket.destroy());
    const from = `${socket.remoteAddress}:${socket.remotePort}`;
    let pending = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      pending = Buffer.concat([pending, chunk]);
      while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
        const message = pending.subarray(2, 2 + pending.readUInt16BE(0));
        pending = pending.subarray(2 + message.length);
        handle(message, 'tcp', from, (reply) => {
          if (socket.destroyed) return;
          const len = Buffer.alloc(2);
          len.writeUInt16BE(reply.length);
          socket.write(Buffer.concat([len, reply]));
        });
      }
    });
  };

  const family = net.isIPv6(o.listen) ? 'udp6' : 'udp4';
  let udp = null;
  let tcp = null;
  let port = o.port;
  for (let attempt = 1; ; attempt++) {
    tcp = wantTcp ? net.createServer(serveTcp) : null;
    udp = wantUdp ? dgram.createSocket({ type: family, reuseAddr: false }) : null;
    try {
      if (tcp) {
        await listen((cb) => {
          tcp.once('error', cb);
          tcp.listen({ host: o.listen, port, exclusive: true }, () => {
            tcp.off('error', cb);
            cb();
          });
        });
        port = tcp.address().port;
      }
      if (udp) {
        await listen((cb) => {
          udp.once('error', cb);
          udp.bind({ address: o.listen, port, exclusive: true }, () => {
            udp.off('error', cb);
            cb();
          });
        });
        port = udp.address().port;
      }
      break;
    } catch (err) {
      if (tcp?.listening) tcp.close();
      try {
        udp?.close();
      } catch {
        // never bound: nothing to close
      }
      // With port 0, TCP picked a port whose UDP twin is taken: try another pair.
      if (o.port !== 0 || err.code !== 'EADDRINUSE' || attempt >= BIND_ATTEMPTS) {
        throw new Error(`responder: cannot listen on ${o.listen} port ${port}: ${err.message}`, { cause: err });
      }
      port = 0;
    }
  }

  // The spoofed datagrams first (in batches, see SPOOF_BATCH), then the reply.
  const sendUdp = async (reply, query, rinfo) => {
    const spoofs = spoofsFor(o, query);
    for (let i = 0; i < spoofs.length && !closed; i += SPOOF_BATCH) {
      const batch = spoofs.slice(i, i + SPOOF_BATCH);
      await new Promise((resolve) => {
        batch.forEach((b, k) => udp.send(b, rinfo.port, rinfo.address, k === batch.length - 1 ? () => resolve() : undefined));
      });
      stats.spoofed += batch.length;
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    if (spoofs.length > 0) await new Promise((resolve) => setTimeout(resolve, SPOOF_SETTLE_MS));
    if (closed) return;
    udp.send(reply, rinfo.port, rinfo.address);
    if (spoofs.length === 0) return;
    for (const ms of REPLY_RESEND_MS) {
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (!closed) udp.send(reply, rinfo.port, rinfo.address);
      }, ms);
      timers.add(timer);
    }
  };
  udp?.on('message', (msg, rinfo) => {
    handle(msg, 'udp', `${rinfo.address}:${rinfo.port}`, (reply, query) => {
      if (closed) return;
      if (o.spoofCount === 0) udp.send(reply, rinfo.port, rinfo.address);
      else void sendUdp(reply, query, rinfo);
    });
  });
  udp?.on('error', () => {
    // A send to a vanished peer is not the responder's problem; keep serving.
  });

  const close = async () => {
    if (closed) return;
    closed = true;
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
    for (const socket of connections) socket.destroy();
    await Promise.all([tcp ? new Promise((resolve) => tcp.close(() => resolve())) : null, udp ? new Promise((resolve) => udp.close(() => resolve())) : null]);
  };

  return { address: o.listen, port, mode: o.mode, udp: wantUdp, tcp: wantTcp, stats, close };
}

const CLI_OPTIONS = {
  listen: { type: 'string' },
  port: { type: 'string' },
  mode: { type: 'string' },
  name: { type: 'string' },
  address: { type: 'string', multiple: true },
  'wrong-address': { type: 'string', multiple: true },
  'delay-ms': { type: 'string' },
  ttl: { type: 'string' },
  spoof: { type: 'string' },
  'spoof-count': { type: 'string' },
  'log-queries': { type: 'boolean' },
};

function cliInt(flag, text) {
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text)) throw new Error(`responder: --${flag}: not a non-negative integer: ${JSON.stringify(text)}`);
  return Number(text);
}

/** argv (without node and script) → startResponder options. Throws on unknown flags. */
export function parseResponderArgs(argv) {
  const { values } = parseArgs({ args: argv, options: CLI_OPTIONS, strict: true, allowPositionals: false });
  return {
    listen: values.listen,
    port: cliInt('port', values.port),
    mode: values.mode,
    name: values.name,
    addresses: values.address,
    wrongAddresses: values['wrong-address'],
    delayMs: cliInt('delay-ms', values['delay-ms']),
    ttl: cliInt('ttl', values.ttl),
    spoof: values.spoof,
    spoofCount: cliInt('spoof-count', values['spoof-count']),
    logQueries: values['log-queries'],
  };
}

async function main() {
  let responder;
  try {
    responder = await startResponder(parseResponderArgs(process.argv.slice(2)));
  } catch (err) {
    const message = err.message.startsWith('responder:') ? err.message : `responder: ${err.message}`;
    process.stderr.write(`${message}\n`);
    process.exit(2);
  }
  const stop = async () => {
    await responder.close();
    process.exit(0);
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  const { address, port, mode, udp, tcp } = responder;
  process.stdout.write(`READY ${JSON.stringify({ address, port, mode, udp, tcp, pid: process.pid })}\n`);
}

function invokedDirectly() {
  try {
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedDirectly()) await main();
