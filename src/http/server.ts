// The daemon's HTTP server: listen on the configured address, move to a new
// one on reload (bind the new address first, and keep the old server when
// that fails), and close quickly on shutdown (idle keep-alive connections of
// scrapers are closed, not waited for).
//
// Every client is untrusted, so the server's cost is bounded:
// - at most maxConnections connections: one more is closed as soon as it is
//   accepted (net.Server.maxConnections), so the kernel's accept queue keeps
//   draining and idle sockets cannot pile up file descriptors;
// - a connection that has not sent its request headers within headersTimeoutMs
//   (an idle socket that sends nothing included), or its whole request within
//   requestTimeoutMs, gets 408 and is closed; Node checks these every
//   connectionsCheckingIntervalMs (its default, 30 s, let a slowloris client
//   hold a socket for half a minute more);
// - idle keep-alive connections close after keepAliveTimeoutMs, and a response
//   the client does not read after idleTimeoutMs;
// - request line and headers are at most maxHeaderSize bytes (else 431);
// - request bodies are never read: a request that announces one is answered
//   with Connection: close, so the rest is not drained either.
//
// With a web configuration (./web-config.ts, exporter-toolkit's format) it
// serves HTTPS with the same limits, plus: a TLS handshake must complete
// within handshakeTimeoutMs; client certificates are asked for and checked
// per client_auth_type (policies OpenSSL cannot enforce in the handshake are
// checked right after it, before any request is read); basic authentication
// (./basic-auth.ts: bcrypt off the event loop, bounded, cached); the allowed
// response headers; and exporter-toolkit's rate limit (429). A new web
// configuration applies in place when it can (certificates, keys, CAs,
// versions, ciphers: setSecureContext; users, headers), and rebinds when it
// switches between HTTP and HTTPS or changes the client certificate policy.
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { parseListenAddress } from '../config/format-network.js';
import type { Logger } from '../log.js';
import { BasicAuth } from './basic-auth.js';
import { PLAIN_WEB_CONFIG, type RateLimit, type TlsServerSettings, type WebConfig } from './web-config.js';

export interface BoundAddress {
  /** As configured, e.g. "0.0.0.0:9890". */
  listen: string;
  address: string;
  /** The bound port (the kernel's choice for port 0). */
  port: number;
  family: 4 | 6;
}

export type RequestListener = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export interface HttpLimits {
  /** Connections open at once; one more is closed as soon as it is accepted. 0: no cap. */
  maxConnections: number;
  /** From the connection (or the end of the previous request) to the end of the request headers. */
  headersTimeoutMs: number;
  /** From the same start to the end of the whole request. */
  requestTimeoutMs: number;
  /** How often the two timeouts above are checked. */
  connectionsCheckingIntervalMs: number;
  /** An idle keep-alive connection is closed after this long. */
  keepAliveTimeoutMs: number;
  /** A connection with no I/O for this long while a response is pending (a client that does not read) is closed. */
  idleTimeoutMs: number;
  /** Requests on one connection; the last one is answered with Connection: close. */
  maxRequestsPerSocket: number;
  /** Request line plus headers, in bytes. */
  maxHeaderSize: number;
  /** HTTPS: from the connection to the end of the TLS handshake. */
  handshakeTimeoutMs: number;
}

export const DEFAULT_HTTP_LIMITS: Readonly<HttpLimits> = Object.freeze({
  // The schema's default of http.maxConnections (the daemon always passes the configured value).
  maxConnections: 256,
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  connectionsCheckingIntervalMs: 1_000,
  keepAliveTimeoutMs: 5_000,
  idleTimeoutMs: 30_000,
  maxRequestsPerSocket: 100,
  maxHeaderSize: 16 * 1024,
  handshakeTimeoutMs: 10_000,
});

export interface HttpServerOptions extends Partial<HttpLimits> {
  /** Refused connections, failed TLS handshakes and failed logins are logged here (each at most one line a minute). */
  log?: Logger;
  /** TLS, basic authentication, headers; default plain HTTP. */
  web?: WebConfig;
  /** Checks basic authentication (tests); default one with a bcrypt worker thread. */
  auth?: BasicAuth;
}

/** What reconfigure() did. */
export type ReconfigureAction = 'listening' | 'rebound' | 'updated';

/** How often refused connections are logged, at most. */
export const DROP_LOG_INTERVAL_MS = 60_000;

/** True when the request announces a body (which the server never reads). */
function hasBody(req: http.IncomingMessage): boolean {
  const te = req.headers['transfer-encoding'];
  if (te !== undefined) return true;
  const cl = req.headers['content-length'];
  return cl !== undefined && cl !== '0';
}

/** exporter-toolkit's rate_limit: a token bucket, refilled one token per intervalMs, holding at most burst. */
export class TokenBucket {
  #tokens: number;
  #last: number;
  constructor(
    readonly limit: RateLimit,
    readonly now: () => number = () => performance.now(),
  ) {
    this.#tokens = limit.burst;
    this.#last = now();
  }

  take(): boolean {
    const t = this.now();
    this.#tokens = Math.min(this.limit.burst, this.#tokens + (t - this.#last) / this.limit.intervalMs);
    this.#last = t;
    if (this.#tokens < 1) return false;
    this.#tokens -= 1;
    return true;
  }
}

const sameRate = (a: RateLimit | null, b: RateLimit | null): boolean => a?.intervalMs === b?.intervalMs && a?.burst === b?.burst;

/** The SAN values of a peer certificate's subjectaltname ("DNS:a, IP Address:1.2.3.4, URI:..."), IPs canonical. */
export function subjectAltNames(text: string | undefined): string[] {
  const out: string[] = [];
  for (const m of (text ?? '').matchAll(/(DNS|IP Address|email|URI):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/g)) {
    let value = m[2]!;
    if (value.startsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch {
        continue;
      }
    }
    out.push(m[1] === 'IP Address' ? canonicalIp(value) : value);
  }
  return out;
}

/** "0:0:0:0:0:0:0:1" → "::1", as Go prints IPs (client_allowed_sans are compared with these). */
export function canonicalIp(ip: string): string {
  if (!ip.includes(':')) return ip;
  try {
    return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  } catch {
    return ip;
  }
}

/** Why a TLS client may not go on under the configured client certificate policy; null when it may. */
export function clientCertRefusal(socket: TLSSocket, t: TlsServerSettings): string | null {
  if (t.clientAuth === 'NoClientCert') return null;
  const cert = socket.getPeerCertificate();
  const given = cert !== null && typeof cert === 'object' && cert.raw !== undefined;
  if (!given && (t.clientAuth === 'RequireAnyClientCert' || t.clientAuth === 'RequireAndVerifyClientCert' || t.clientAllowedSans !== null)) {
    return 'no client certificate';
  }
  if (given && (t.clientAuth === 'VerifyClientCertIfGiven' || t.clientAuth === 'RequireAndVerifyClientCert') && !socket.authorized) {
    return `client certificate not verified: ${String(socket.authorizationError)}`;
  }
  if (t.clientAllowedSans !== null) {
    const allowed = new Set(t.clientAllowedSans.map(canonicalIp));
    if (!subjectAltNames(cert.subjectaltname).some((san) => allowed.has(san))) return 'the client certificate has none of client_allowed_sans';
  }
  return null;
}

/** The server kind a web configuration needs: a change here means a new server (rebind). */
const transport = (w: WebConfig): string => (w.tls ? `https/${w.tls.clientAuth}` : 'http');

/** A short reply of the server itself (401, 429, 500), with the configured headers already set. */
function reply(req: http.IncomingMessage, res: http.ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
  const buf = Buffer.from(body);
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': String(buf.length),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  res.end(req.method === 'HEAD' ? undefined : buf);
}

/** One warn line for the first event, then at most one a minute with the count since the last line. */
class Throttled {
  #unlogged = 0;
  #lastLogAt = -Infinity;
  /** Events since start. */
  count = 0;

  note(log: Logger | undefined, msg: string, fields: () => Record<string, unknown>): void {
    this.count++;
    this.#unlogged++;
    const now = Date.now();
    if (!log || now - this.#lastLogAt < DROP_LOG_INTERVAL_MS) return;
    this.#lastLogAt = now;
    log.warn(msg, { count: this.#unlogged, total: this.count, ...fields() });
    this.#unlogged = 0;
  }
}

/** One listening server and the web configuration it serves with. */
interface Listening {
  server: http.Server;
  bound: BoundAddress;
  web: WebConfig;
  bucket: TokenBucket | null;
}

function safePort(listen: string): number | null {
  try {
    return parseListenAddress(listen).port;
  } catch {
    return null;
  }
}

function closeServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
    // Requests still running get a moment to finish (a scrape is milliseconds), then go.
    setTimeout(() => server.closeAllConnections(), 1000).unref();
  });
}

export class HttpServer {
  readonly #listener: RequestListener;
  readonly #limits: HttpLimits;
  readonly #log: Logger | undefined;
  readonly #auth: BasicAuth;
  #web: WebConfig;
  #current: Listening | null = null;
  /** The last address bound: kept after close() and during a rebind, for reports. */
  #bound: BoundAddress | null = null;
  #chain: Promise<unknown> = Promise.resolve();
  #dropped = 0;
  #acceptErrors = 0;
  #unlogged = 0;
  #lastLogAt = -Infinity;
  readonly #tlsErrors = new Throttled();
  readonly #authFailures = new Throttled();

  constructor(listener: RequestListener, options: HttpServerOptions = {}) {
    this.#listener = listener;
    const { log, web, auth, ...limits } = options;
    this.#log = log;
    this.#web = web ?? PLAIN_WEB_CONFIG;
    this.#auth = auth ?? new BasicAuth();
    this.#limits = { ...DEFAULT_HTTP_LIMITS, ...Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined)) };
  }

  get bound(): BoundAddress | null {
    return this.#bound;
  }

  /** The web configuration served now (the one of the listening server). */
  get web(): WebConfig {
    return this.#current?.web ?? this.#web;
  }

  /** The limits in force (maxConnections as last set). */
  get limits(): Readonly<HttpLimits> {
    return { ...this.#limits };
  }

  get maxConnections(): number {
    return this.#limits.maxConnections;
  }

  /** Applies at once to new connections (open ones beyond a lowered cap are not closed) and to later rebinds. */
  set maxConnections(n: number) {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`HttpServer.maxConnections: a non-negative integer, got ${String(n)}`);
    this.#limits.maxConnections = n;
    if (this.#current) this.#current.server.maxConnections = n;
  }

  /** Connections closed at once because maxConnections were open, since start. */
  get dropped(): number {
    return this.#dropped;
  }

  /** accept() failures reported by the server's 'error' event, since start. */
  get acceptErrors(): number {
    return this.#acceptErrors;
  }

  /** TLS connections that failed: handshake errors and timeouts, refused client certificates. */
  get tlsErrors(): number {
    return this.#tlsErrors.count;
  }

  /** Requests answered 401 or 429 by basic authentication. */
  get authFailures(): number {
    return this.#authFailures.count;
  }

  /** Connections open now (0 when not listening). */
  connections(): Promise<number> {
    const s = this.#current?.server;
    if (!s) return Promise.resolve(0);
    return new Promise((resolve, reject) => s.getConnections((err, n) => (err ? reject(err) : resolve(n))));
  }

  /** Headers, client certificate policy, rate limit and basic authentication, then the routes. */
  #handle(state: Listening, req: http.IncomingMessage, res: http.ServerResponse): void {
    // Covers the response (a client that stops reading); Node replaces it with the
    // keep-alive timeout once the response is done.
    req.socket.setTimeout(this.#limits.idleTimeoutMs);
    if (hasBody(req)) res.shouldKeepAlive = false;
    const web = state.web;
    for (const [name, value] of Object.entries(web.headers)) res.setHeader(name, value);
    if (state.bucket && !state.bucket.take()) {
      reply(req, res, 429, 'too many requests\n', { 'Retry-After': '1' });
      return;
    }
    if (web.users.size === 0) {
      this.#listener(req, res);
      return;
    }
    this.#auth.check(req.headers.authorization, web.users).then(
      (verdict) => {
        if (req.socket.destroyed) return;
        if (verdict === 'ok') {
          this.#listener(req, res);
          return;
        }
        this.#authFailures.note(this.#log, 'http authentication failed', () => ({ verdict, remote: req.socket.remoteAddress }));
        if (verdict === 'busy') reply(req, res, 429, 'too many logins at once: retry\n', { 'Retry-After': '1' });
        else reply(req, res, 401, 'unauthorized\n', { 'WWW-Authenticate': 'Basic realm="coredns-healthd"' });
      },
      (err: unknown) => {
        this.#log?.error('http authentication could not be checked', { err });
        if (!res.headersSent && !req.socket.destroyed) reply(req, res, 500, 'internal error\n');
      },
    );
  }

  #listenOn(listen: string, web: WebConfig): Promise<Listening> {
    let hp: ReturnType<typeof parseListenAddress>;
    try {
      hp = parseListenAddress(listen);
    } catch (err) {
      return Promise.reject(new Error(`http.listen: ${(err as Error).message}`, { cause: err }));
    }
    const limits = this.#limits;
    const common: http.ServerOptions = {
      requestTimeout: limits.requestTimeoutMs,
      headersTimeout: limits.headersTimeoutMs,
      connectionsCheckingInterval: limits.connectionsCheckingIntervalMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      maxHeaderSize: limits.maxHeaderSize,
    };
    const state: Listening = {
      server: null as unknown as http.Server,
      bound: null as unknown as BoundAddress,
      web,
      bucket: web.rateLimit ? new TokenBucket(web.rateLimit) : null,
    };
    const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => this.#handle(state, req, res);
    let server: http.Server;
    if (web.tls) {
      const t = web.tls;
      const ask = t.clientAuth !== 'NoClientCert';
      const s = https.createServer(
        {
          ...common,
          ...t.context,
          requestCert: ask,
          // Only RequireAndVerifyClientCert is enforced by OpenSSL in the handshake; the rest right after it.
          rejectUnauthorized: t.clientAuth === 'RequireAndVerifyClientCert',
          handshakeTimeout: limits.handshakeTimeoutMs,
        },
        handler,
      );
      // Before the HTTP layer sees the connection: a refused client never gets a request read.
      s.prependListener('secureConnection', (socket: TLSSocket) => {
        const settings = state.web.tls;
        const why = settings ? clientCertRefusal(socket, settings) : null;
        if (why === null) return;
        this.#tlsErrors.note(this.#log, 'https connections failed', () => ({ reason: why, remote: socket.remoteAddress }));
        socket.destroy();
      });
      s.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
        this.#tlsErrors.note(this.#log, 'https connections failed', () => ({ reason: err.code ?? err.message, remote: socket.remoteAddress }));
      });
      server = s;
    } else {
      server = http.createServer(common, handler);
    }
    state.server = server;
    server.keepAliveTimeout = limits.keepAliveTimeoutMs;
    server.maxRequestsPerSocket = limits.maxRequestsPerSocket;
    server.maxConnections = limits.maxConnections;
    server.on('drop', () => {
      this.#dropped++;
      this.#noteRefused();
    });
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        server.close();
        reject(new Error(`cannot listen on ${listen} (http.listen): ${err.code ?? err.message}`, { cause: err }));
      };
      server.once('error', onError);
      // ":PORT" (address null): Node's default, :: dual-stack when the host has IPv6, else 0.0.0.0.
      server.listen({ ...(hp.address === null ? {} : { host: hp.address }), port: hp.port, ipv6Only: false }, () => {
        server.off('error', onError);
        // Once listening, errors are accept() failures (ENOBUFS, ENOMEM, ...; libuv absorbs
        // EMFILE itself by closing the connection): that connection is lost, the server goes on.
        // Unhandled, such an 'error' event would end the process.
        server.on('error', (err: NodeJS.ErrnoException) => {
          this.#acceptErrors++;
          this.#noteRefused(err);
        });
        const a = server.address() as AddressInfo;
        state.bound = { listen, address: a.address, port: a.port, family: a.family === 'IPv6' ? 6 : 4 };
        resolve(state);
      });
    });
  }

  /** One warn line for the first refused connection, then at most one a minute with the count. */
  #noteRefused(err?: NodeJS.ErrnoException): void {
    this.#unlogged++;
    const now = Date.now();
    if (!this.#log || now - this.#lastLogAt < DROP_LOG_INTERVAL_MS) return;
    this.#lastLogAt = now;
    this.#log.warn('http connections refused', {
      refused: this.#unlogged,
      maxConnections: this.#limits.maxConnections,
      dropped: this.#dropped,
      acceptErrors: this.#acceptErrors,
      ...(err ? { acceptError: err.code ?? err.message } : {}),
    });
    this.#unlogged = 0;
  }

  /** Starts listening; rejects with an error naming http.listen and the errno code. */
  async listen(listen: string): Promise<BoundAddress> {
    if (this.#current) throw new Error('HttpServer.listen: already listening; use rebind()');
    const next = await this.#listenOn(listen, this.#web);
    this.#use(next);
    return next.bound;
  }

  /**
   * Moves to another address: the new socket is bound before the old one is
   * closed, so a failure (address in use, not local) leaves the server where
   * it was, and throws.
   */
  rebind(listen: string): Promise<BoundAddress> {
    return this.#serialized(() => this.#rebind(listen, this.web));
  }

  /**
   * Applies a listen address and a web configuration (a reload): in place when
   * the address and the kind of server stay (new certificates through
   * setSecureContext, new users and headers at once), else a rebind. On a
   * failure the server keeps its address and configuration, and this throws.
   * Calls run one after the other.
   */
  reconfigure(listen: string, web: WebConfig): Promise<{ bound: BoundAddress; action: ReconfigureAction }> {
    return this.#serialized(async () => {
      const cur = this.#current;
      if (!cur) {
        this.#web = web;
        return { bound: await this.listen(listen), action: 'listening' as const };
      }
      if (listen !== cur.bound.listen || transport(web) !== transport(cur.web)) {
        return { bound: await this.#rebind(listen, web), action: 'rebound' as const };
      }
      if (web.tls) {
        try {
          (cur.server as https.Server).setSecureContext(web.tls.context);
        } catch (err) {
          throw new Error(`cannot use the TLS settings of ${web.file ?? 'the web configuration'}: ${(err as Error).message}`, { cause: err });
        }
      }
      if (!sameRate(cur.web.rateLimit, web.rateLimit)) cur.bucket = web.rateLimit ? new TokenBucket(web.rateLimit) : null;
      cur.web = web;
      this.#web = web;
      return { bound: cur.bound, action: 'updated' as const };
    });
  }

  #use(l: Listening): void {
    this.#current = l;
    this.#bound = l.bound;
    this.#web = l.web;
  }

  #serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#chain.then(fn);
    this.#chain = run.catch(() => undefined);
    return run;
  }

  async #rebind(listen: string, web: WebConfig): Promise<BoundAddress> {
    if (!this.#current) {
      this.#web = web;
      return this.listen(listen);
    }
    const old = this.#current;
    let next: Listening;
    try {
      next = await this.#listenOn(listen, web);
    } catch (err) {
      // The same port on another address of this host (0.0.0.0:9890 -> 127.0.0.1:9890), or the
      // same address with another kind of server, conflicts with the old socket: free it first,
      // and take it back on failure.
      const code = ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code;
      if (code !== 'EADDRINUSE' || safePort(listen) !== old.bound.port) throw err;
      this.#current = null;
      this.#bound = null;
      await closeServer(old.server);
      try {
        next = await this.#listenOn(listen, web);
      } catch (again) {
        const oldAddress = old.bound.family === 6 ? `[${old.bound.address}]:${old.bound.port}` : `${old.bound.address}:${old.bound.port}`;
        const back = await this.#listenOn(oldAddress, old.web).catch((lost: Error) => {
          throw new Error(`${(again as Error).message}; and the old address is lost: ${lost.message}`, { cause: again });
        });
        back.bound = { ...back.bound, listen: old.bound.listen };
        this.#use(back);
        throw again;
      }
      this.#use(next);
      return next.bound;
    }
    this.#use(next);
    await closeServer(old.server);
    return next.bound;
  }

  async close(): Promise<void> {
    const cur = this.#current;
    this.#current = null;
    await this.#auth.close();
    if (cur) await closeServer(cur.server);
  }
}
