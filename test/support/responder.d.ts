// Types for responder.js, the fault-injecting DNS responder (plain ESM JavaScript so that it can
// run as its own process inside a network namespace). Mode behaviour, UDP and TCP alike unless said:
//   answer        A/AAAA for `name` from `addresses` (by family); other names NXDOMAIN, other types NODATA
//   delay         answer, after delayMs (default 1000 in this mode)
//   drop          never answers (TCP connections are accepted and left open)
//   servfail      rcode SERVFAIL, no answers      nxdomain   rcode NXDOMAIN, no answers
//   wrong-answer  answer with `wrongAddresses` instead of `addresses`
//   udp-only      answer; no TCP listener (TCP connect is refused)
//   tcp-only      answer; no UDP socket (UDP gets ICMP port unreachable)
//   truncate      UDP: TC set, question only, no answers; TCP: the full answer
//   garbage       random bytes (length-framed over TCP), never starting with the query's ID
//   wrong-id      the right answer under another message ID (query ID + 1)
//   hostile-question  the query's ID, but question and answer owner are HOSTILE_NAME (control characters)
//   hostile-answer    the right question; a CNAME to HOSTILE_NAME and an A record under it
// spoof/spoofCount: before each UDP reply, spoofCount datagrams of kind spoof (SPOOF_KINDS) go to the client;
// after such a flood the reply is sent again 250 ms, 1 s and 3 s later (the kernel may drop it with the flood).
// delayMs applies in every mode that replies. Replies have AA and RA set and RD copied.

export type ResponderMode =
  | 'answer'
  | 'delay'
  | 'drop'
  | 'servfail'
  | 'nxdomain'
  | 'wrong-answer'
  | 'udp-only'
  | 'tcp-only'
  | 'truncate'
  | 'garbage'
  | 'wrong-id'
  | 'hostile-question'
  | 'hostile-answer';

/** A DNS name with ESC sequences, BEL, a newline and a forged line, CR and U+202E in its labels. */
export declare const HOSTILE_NAME: string;

/** Datagrams sent before a UDP reply: another ID, another question (same ID), or zero bytes. */
export type SpoofKind = 'wrong-id' | 'wrong-question' | 'empty';

export interface ResponderOptions {
  /** IPv4 or IPv6 address to bind. Default 127.0.0.1. */
  listen?: string;
  /** Port for both UDP and TCP; 0 (default) picks a free one. */
  port?: number;
  mode?: ResponderMode;
  /** The one name answered. Default kubernetes.default.svc.cluster.local. */
  name?: string;
  /** Answer addresses, IPv4 for A and IPv6 for AAAA. Default ['10.96.0.1']. */
  addresses?: string[];
  /** Addresses used by mode wrong-answer. Default ['10.96.0.254', 'fd00:96::fe']. */
  wrongAddresses?: string[];
  /** Delay before every reply, in ms. Default 0 (1000 in mode delay). */
  delayMs?: number | undefined;
  /** TTL of answer records. Default 30. */
  ttl?: number;
  /** What to send before each UDP reply (answers carry wrongAddresses). Default 'wrong-id'. */
  spoof?: SpoofKind;
  /** How many spoofed datagrams before each UDP reply (paced in small batches). Default 0: none. */
  spoofCount?: number;
  /** Print `QUERY <json>` on stdout for every query (process mode). */
  logQueries?: boolean;
  /** Called for every query received (in-process mode). */
  onQuery?: (query: QueryRecord) => void;
}

export interface QueryRecord {
  transport: 'udp' | 'tcp';
  /** "address:port" of the client. */
  from: string;
  id: number;
  name: string;
  type: string;
}

export interface ResponderStats {
  /** Well-formed queries received per transport. */
  udp: number;
  tcp: number;
  /** Datagrams or frames that did not decode as a DNS query. */
  malformed: number;
  replies: number;
  /** Spoofed datagrams sent (see spoof). */
  spoofed: number;
}

/** What a READY line carries (plus the process id). */
export interface ResponderInfo {
  address: string;
  port: number;
  mode: ResponderMode;
  /** Whether a UDP socket / TCP listener is open in this mode. */
  udp: boolean;
  tcp: boolean;
}

export interface Responder extends ResponderInfo {
  stats: ResponderStats;
  /** Stops listening, drops open TCP connections and pending delayed replies. Idempotent. */
  close(): Promise<void>;
}

export interface ResolvedResponderOptions {
  listen: string;
  port: number;
  mode: ResponderMode;
  name: string;
  addresses: string[];
  wrongAddresses: string[];
  delayMs: number;
  ttl: number;
  spoof: SpoofKind;
  spoofCount: number;
  logQueries: boolean;
  onQuery: ((query: QueryRecord) => void) | undefined;
}

export const RESPONDER_MODES: readonly ResponderMode[];
export const SPOOF_KINDS: readonly SpoofKind[];
/** The spoofed datagrams sent before the UDP reply to `query` (count defaults to opts.spoofCount). */
export function spoofsFor(opts: ResolvedResponderOptions, query: import('dns-packet').DecodedPacket, count?: number): Buffer[];
export const RESPONDER_DEFAULTS: Readonly<Required<Omit<ResponderOptions, 'logQueries' | 'onQuery'>>>;
/** Applies defaults and validates; the error message names the bad field. */
export function resolveOptions(opts?: ResponderOptions): ResolvedResponderOptions;
/** The reply bytes for one decoded query, or null when the mode gives no reply. */
export function replyFor(opts: ResolvedResponderOptions, query: import('dns-packet').DecodedPacket, transport: 'udp' | 'tcp'): Buffer | null;
/** Command-line flags (--listen --port --mode --name --address --wrong-address --delay-ms --ttl --spoof --spoof-count --log-queries). */
export function parseResponderArgs(argv: string[]): ResponderOptions;
export function startResponder(opts?: ResponderOptions): Promise<Responder>;
