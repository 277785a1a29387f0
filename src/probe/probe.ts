// One DNS probe: build the query, exchange it from inside a network namespace,
// validate the reply. A probe never throws: every failure, including bad
// options, is a result whose reason comes from ./reasons.ts.
//
// Truncation: a UDP reply with TC set (even one too broken to decode, if its
// header is ours) is retried over TCP to the same server from the same
// namespace, within what is left of the same timeout (at least 1 ms), so a
// probe never takes much longer than one timeout. The result then has
// truncated=true and transport='tcp':
//   - TCP reply valid                 → ok, reason 'ok';
//   - TCP reply fails a check         → that check's reason (rcode, wrong-answer, ...);
//   - TCP exchange fails on the path  → reason 'truncated' (UDP works, the full
//     answer needs TCP and TCP does not work), detail says why;
//   - netns gone / cancelled / local error during the retry → that reason.
// rttSeconds is the sum of the round trips that got a reply, or null when the
// final attempt got none.
import { performance } from 'node:perf_hooks';
import { checkQuery, type QueryInput } from './query-spec.js';
import {
  ArgumentError,
  exchange as nativeExchange,
  MAX_START_DELAY_MS,
  validatePort,
  validateServer,
  validateTimeout,
  type ExchangeReply,
  type ExchangeRequest,
  type NetnsRef,
} from '../netns/binding.js';
import { type ExpectMatch, ProbeResult, type Reason, type Transport } from '../model.js';
import { buildQuery, checkQueryOptions, type BuiltQuery, type QueryOptions } from './query.js';
import type { Pace } from './pacing.js';
import { reasonForCode } from './reasons.js';
import { MAX_DETAIL, MAX_MESSAGE, validateReply, type Expectation, type Verdict } from './validate.js';
import { capString, errorMessage } from '../text/untrusted.js';

/**
 * One probe: where to ask from and whom, and the question (the fields of a
 * Query, checked by checkQuery with its defaults: type A, NOERROR, answers
 * required, expectMatch 'contain').
 */
export interface ProbeOptions extends QueryInput {
  /** 'host' (default), a namespace path, or an open NetnsHandle. */
  netns?: NetnsRef;
  server: string;
  port?: number;
  /** Default 'udp'. */
  transport?: Transport;
  /** Default 'IN'. */
  class?: string;
  timeoutMs: number;
  recursionDesired?: boolean;
  edns?: { udpPayloadSize: number };
}

export type ExchangeFn = (req: ExchangeRequest) => Promise<ExchangeReply>;

export interface ProbeDeps {
  exchange?: ExchangeFn;
  /** Monotonic clock in milliseconds (for the retry's remaining time). */
  now?: () => number;
}

/**
 * Options after validation, without the namespace: what a probe needs, ready
 * to use. One spec serves every namespace it is run from (probeSpec): a sweep
 * checks each (target, transport, query) once, not once per vantage.
 */
export interface ProbeSpec {
  server: string;
  port: number;
  transport: Transport;
  timeoutMs: number;
  query: QueryOptions;
  validRcodes: readonly string[];
  requireAnswers: boolean;
  expectAnswers?: string[];
  expectMatch: ExpectMatch;
}

function checkTransport(t: unknown): Transport {
  if (t !== 'udp' && t !== 'tcp') throw new ArgumentError('transport', `expected "udp" or "tcp", got ${JSON.stringify(t)}`);
  return t;
}

/** Validates probe options; throws ArgumentError naming the field (for config checks). */
export function checkProbeOptions(opts: Omit<ProbeOptions, 'netns'>): ProbeSpec {
  if (opts === null || typeof opts !== 'object') throw new ArgumentError('probe', 'expected an options object');
  const { name, type, validRcodes, requireAnswers, expectAnswers, expectMatch } = opts;
  const q = checkQuery({ name, type, validRcodes, requireAnswers, expectAnswers, expectMatch });
  const query: QueryOptions = { name: q.name, type: q.type, class: opts.class ?? 'IN' };
  if (opts.recursionDesired !== undefined) query.recursionDesired = opts.recursionDesired;
  if (opts.edns !== undefined) query.edns = opts.edns;
  checkQueryOptions(query); // validates class, flags and EDNS now (and encodes the query once)
  validateServer(opts.server);
  const spec: ProbeSpec = {
    server: opts.server,
    port: validatePort(opts.port ?? 53),
    transport: checkTransport(opts.transport ?? 'udp'),
    timeoutMs: validateTimeout(opts.timeoutMs),
    query,
    validRcodes: q.validRcodes,
    requireAnswers: q.requireAnswers,
    expectMatch: q.expectMatch,
  };
  if (q.expectAnswers.length > 0) spec.expectAnswers = [...q.expectAnswers];
  return spec;
}

/** The reason for anything thrown or rejected while probing. */
export function reasonFromError(err: unknown): Reason {
  if (err instanceof ArgumentError) return 'error';
  const code = (err as { code?: unknown } | null)?.code;
  const syscall = (err as { syscall?: unknown } | null)?.syscall;
  if (typeof code !== 'string') return 'error';
  return reasonForCode(code, typeof syscall === 'string' ? syscall : undefined);
}

// A detail may quote a DNS reply (validate.ts caps those) or an error; every
// detail of a result is at most MAX_DETAIL characters, kept raw (text output
// escapes it).
const messageOf = (err: unknown): string => capString(errorMessage(err), MAX_DETAIL);

type Attempt = { replied: true; verdict: Verdict; rttSeconds: number; ignored: number } | { replied: false; reason: Reason; detail: string; ignored: number };

const ignoredOf = (x: unknown): number => {
  const n = (x as { ignored?: unknown } | null)?.ignored;
  return typeof n === 'number' && Number.isFinite(n) && n > 0 ? n : 0;
};

async function attempt(
  ex: ExchangeFn,
  spec: ProbeSpec,
  netns: NetnsRef,
  q: BuiltQuery,
  transport: Transport,
  timeoutMs: number,
  startDelayMs: number,
  holdMs: number | undefined,
): Promise<Attempt> {
  let reply: ExchangeReply;
  try {
    const req: ExchangeRequest = { netns, server: spec.server, port: spec.port, transport, payload: q.packet, timeoutMs };
    if (startDelayMs > 0) req.startDelayMs = startDelayMs;
    if (holdMs !== undefined) req.holdMs = holdMs;
    reply = await ex(req);
  } catch (err) {
    return { replied: false, reason: reasonFromError(err), detail: messageOf(err), ignored: ignoredOf(err) };
  }
  const exp: Expectation = {
    id: q.id,
    question: q.question,
    validRcodes: spec.validRcodes,
    requireAnswers: spec.requireAnswers,
    expectMatch: spec.expectMatch,
    maxBytes: transport === 'udp' ? q.maxUdpReply : MAX_MESSAGE,
  };
  if (spec.expectAnswers) exp.expectAnswers = spec.expectAnswers;
  return { replied: true, verdict: validateReply(reply.reply, exp), rttSeconds: reply.rttNs / 1e9, ignored: ignoredOf(reply) };
}

function fromAttempt(a: Attempt, transport: Transport, truncated: boolean, rttBefore: number, ignoredBefore = 0): ProbeResult {
  const ignored = ignoredBefore + a.ignored;
  const extra = ignored > 0 ? { ignoredReplies: ignored } : {};
  if (!a.replied) return { ok: false, reason: a.reason, rcode: null, answers: [], rttSeconds: null, transport, truncated, detail: a.detail, ...extra };
  const v = a.verdict;
  const result: ProbeResult = {
    ok: v.ok,
    reason: v.reason,
    rcode: v.rcode,
    answers: v.answers,
    rttSeconds: rttBefore + a.rttSeconds,
    transport,
    truncated,
    ...extra,
  };
  if (v.detail !== undefined) result.detail = capString(v.detail, MAX_DETAIL);
  return result;
}

// Failures of the path to the server: after a truncated UDP reply they mean
// "the full answer cannot be fetched over TCP".
const PATH_REASONS: ReadonlySet<Reason> = new Set(['timeout', 'refused', 'reset', 'unreachable', 'blocked-locally']);

const performanceNow = (): number => performance.now();

/** The result of a probe that threw `err` before or instead of an exchange. */
export const failedProbe = (err: unknown, transport: Transport): ProbeResult => ({
  ok: false,
  reason: reasonFromError(err),
  rcode: null,
  answers: [],
  rttSeconds: null,
  transport,
  truncated: false,
  detail: messageOf(err),
});

/** Probes one server once. Never throws and never rejects. */
export async function probe(opts: ProbeOptions, deps: ProbeDeps = {}): Promise<ProbeResult> {
  let transport: Transport = 'udp';
  try {
    if ((opts as Partial<ProbeOptions> | null)?.transport === 'tcp') transport = 'tcp';
    const spec = checkProbeOptions(opts);
    return await probeSpec(spec, opts.netns ?? 'host', undefined, deps);
  } catch (err) {
    return failedProbe(err, transport);
  }
}

/**
 * Probes with a spec checkProbeOptions made, from `netns` ('host', a path or
 * an open handle): what probe() does after its check. Never throws and never
 * rejects. (One async function around the exchanges: a sweep runs it for every probe.)
 * With `pace` the engine starts the first exchange at pace.startAt (on
 * deps.now's clock; at once when that has passed) and may hold each result
 * pace.holdMs (see pacing.ts paceOf); the timeout counts from the start.
 */
export async function probeSpec(spec: ProbeSpec, netns: NetnsRef, pace?: Pace, deps: ProbeDeps = {}): Promise<ProbeResult> {
  try {
    const ex = deps.exchange ?? nativeExchange;
    const now = deps.now ?? performanceNow;
    const q = buildQuery(spec.query);
    let started = now();
    let delayMs = 0;
    if (pace !== undefined && pace.startAt > started) {
      delayMs = Math.min(MAX_START_DELAY_MS, Math.round(pace.startAt - started));
      started += delayMs;
    }
    const holdMs = pace?.holdMs;
    const first = await attempt(ex, spec, netns, q, spec.transport, spec.timeoutMs, delayMs, holdMs);
    if (spec.transport !== 'udp' || !first.replied || !first.verdict.tc) {
      return fromAttempt(first, spec.transport, false, 0);
    }
    const remaining = Math.max(1, Math.floor(spec.timeoutMs - (now() - started)));
    const retry = await attempt(ex, spec, netns, q, 'tcp', remaining, 0, holdMs);
    if (retry.replied) return fromAttempt(retry, 'tcp', true, first.rttSeconds, first.ignored);
    return {
      ok: false,
      reason: PATH_REASONS.has(retry.reason) ? 'truncated' : retry.reason,
      rcode: first.verdict.rcode,
      answers: [],
      rttSeconds: null,
      transport: 'tcp',
      truncated: true,
      ...(first.ignored > 0 ? { ignoredReplies: first.ignored } : {}),
      detail: capString(`UDP reply truncated; TCP retry failed (${retry.reason}): ${retry.detail}`, MAX_DETAIL),
    };
  } catch (err) {
    return failedProbe(err, spec.transport);
  }
}
