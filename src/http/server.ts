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
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseListenAddress } from '../config/format-network.js';
import type { Logger } from '../log.js';

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
});

export interface HttpServerOptions extends Partial<HttpLimits> {
  /** Refused connections are logged here (at most one line a minute). */
  log?: Logger;
}

/** How often refused connections are logged, at most. */
export const DROP_LOG_INTERVAL_MS = 60_000;

/** True when the request announces a body (which the server never reads). */
function hasBody(req: http.IncomingMessage): boolean {
  const te = req.headers['transfer-encoding'];
  if (te !== undefined) return true;
  const cl = req.headers['content-length'];
  return cl !== undefined && cl !== '0';
}

function listenOn(
  listener: RequestListener,
  listen: string,
  limits: HttpLimits,
  onDrop: () => void,
  onAcceptError: (err: NodeJS.ErrnoException) => void,
): Promise<{ server: http.Server; bound: BoundAddress }> {
  let hp: ReturnType<typeof parseListenAddress>;
  try {
    hp = parseListenAddress(listen);
  } catch (err) {
    return Promise.reject(new Error(`http.listen: ${(err as Error).message}`, { cause: err }));
  }
  const server = http.createServer(
    {
      requestTimeout: limits.requestTimeoutMs,
      headersTimeout: limits.headersTimeoutMs,
      connectionsCheckingInterval: limits.connectionsCheckingIntervalMs,
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      maxHeaderSize: limits.maxHeaderSize,
    },
    (req, res) => {
      // Covers the response (a client that stops reading); Node replaces it with the
      // keep-alive timeout once the response is done.
      req.socket.setTimeout(limits.idleTimeoutMs);
      if (hasBody(req)) res.shouldKeepAlive = false;
      listener(req, res);
    },
  );
  server.keepAliveTimeout = limits.keepAliveTimeoutMs;
  server.maxRequestsPerSocket = limits.maxRequestsPerSocket;
  server.maxConnections = limits.maxConnections;
  server.on('drop', onDrop);
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.close();
      reject(new Error(`cannot listen on ${listen} (http.listen): ${err.code ?? err.message}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen({ host: hp.address, port: hp.port, ipv6Only: false }, () => {
      server.off('error', onError);
      // Once listening, errors are accept() failures (ENOBUFS, ENOMEM, ...; libuv absorbs
      // EMFILE itself by closing the connection): that connection is lost, the server goes on.
      // Unhandled, such an 'error' event would end the process.
      server.on('error', onAcceptError);
      const a = server.address() as AddressInfo;
      resolve({ server, bound: { listen, address: a.address, port: a.port, family: a.family === 'IPv6' ? 6 : 4 } });
    });
  });
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
  #server: http.Server | null = null;
  #bound: BoundAddress | null = null;
  #dropped = 0;
  #acceptErrors = 0;
  #unlogged = 0;
  #lastLogAt = -Infinity;

  constructor(listener: RequestListener, options: HttpServerOptions = {}) {
    this.#listener = listener;
    const { log, ...limits } = options;
    this.#log = log;
    this.#limits = { ...DEFAULT_HTTP_LIMITS, ...Object.fromEntries(Object.entries(limits).filter(([, v]) => v !== undefined)) };
  }

  get bound(): BoundAddress | null {
    return this.#bound;
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
    if (this.#server) this.#server.maxConnections = n;
  }

  /** Connections closed at once because maxConnections were open, since start. */
  get dropped(): number {
    return this.#dropped;
  }

  /** accept() failures reported by the server's 'error' event, since start. */
  get acceptErrors(): number {
    return this.#acceptErrors;
  }

  /** Connections open now (0 when not listening). */
  connections(): Promise<number> {
    const s = this.#server;
    if (!s) return Promise.resolve(0);
    return new Promise((resolve, reject) => s.getConnections((err, n) => (err ? reject(err) : resolve(n))));
  }

  #listenOn(listen: string): Promise<{ server: http.Server; bound: BoundAddress }> {
    return listenOn(
      this.#listener,
      listen,
      this.#limits,
      () => {
        this.#dropped++;
        this.#noteRefused();
      },
      (err) => {
        this.#acceptErrors++;
        this.#noteRefused(err);
      },
    );
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
    if (this.#server) throw new Error('HttpServer.listen: already listening; use rebind()');
    const { server, bound } = await this.#listenOn(listen);
    this.#server = server;
    this.#bound = bound;
    return bound;
  }

  /**
   * Moves to another address: the new socket is bound before the old one is
   * closed, so a failure (address in use, not local) leaves the server where
   * it was, and throws.
   */
  async rebind(listen: string): Promise<BoundAddress> {
    if (!this.#server || !this.#bound) return this.listen(listen);
    const old = this.#server;
    const oldBound = this.#bound;
    let next: { server: http.Server; bound: BoundAddress };
    try {
      next = await this.#listenOn(listen);
    } catch (err) {
      // The same port on another address of this host (0.0.0.0:9890 -> 127.0.0.1:9890)
      // conflicts with the old socket: free it first, and take it back on failure.
      const code = ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code;
      if (code !== 'EADDRINUSE' || safePort(listen) !== oldBound.port) throw err;
      this.#server = null;
      this.#bound = null;
      await closeServer(old);
      try {
        next = await this.#listenOn(listen);
      } catch (again) {
        const oldAddress = oldBound.family === 6 ? `[${oldBound.address}]:${oldBound.port}` : `${oldBound.address}:${oldBound.port}`;
        const back = await this.#listenOn(oldAddress).catch((lost: Error) => {
          throw new Error(`${(again as Error).message}; and the old address is lost: ${lost.message}`, { cause: again });
        });
        this.#server = back.server;
        this.#bound = { ...back.bound, listen: oldBound.listen };
        throw again;
      }
      this.#server = next.server;
      this.#bound = next.bound;
      return next.bound;
    }
    this.#server = next.server;
    this.#bound = next.bound;
    await closeServer(old);
    return next.bound;
  }

  async close(): Promise<void> {
    const s = this.#server;
    this.#server = null;
    if (s) await closeServer(s);
  }
}
