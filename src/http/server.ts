// The daemon's HTTP server: listen on the configured address, move to a new
// one on reload (bind the new address first, and keep the old server when
// that fails), and close quickly on shutdown (idle keep-alive connections of
// scrapers are closed, not waited for).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseListenAddress } from '../config/formats.js';

export interface BoundAddress {
  /** As configured, e.g. "0.0.0.0:9890". */
  listen: string;
  address: string;
  /** The bound port (the kernel's choice for port 0). */
  port: number;
  family: 4 | 6;
}

export type RequestListener = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** Slow or stuck clients cannot hold the server: whole request within 10 s. */
const REQUEST_TIMEOUT_MS = 10_000;
const HEADERS_TIMEOUT_MS = 5_000;

function listenOn(listener: RequestListener, listen: string): Promise<{ server: http.Server; bound: BoundAddress }> {
  let hp: ReturnType<typeof parseListenAddress>;
  try {
    hp = parseListenAddress(listen);
  } catch (err) {
    return Promise.reject(new Error(`http.listen: ${(err as Error).message}`, { cause: err }));
  }
  const server = http.createServer({ requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: HEADERS_TIMEOUT_MS }, listener);
  server.keepAliveTimeout = 5_000;
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException): void => {
      server.close();
      reject(new Error(`cannot listen on ${listen} (http.listen): ${err.code ?? err.message}`, { cause: err }));
    };
    server.once('error', onError);
    server.listen({ host: hp.address, port: hp.port, ipv6Only: false }, () => {
      server.off('error', onError);
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
  #server: http.Server | null = null;
  #bound: BoundAddress | null = null;

  constructor(listener: RequestListener) {
    this.#listener = listener;
  }

  get bound(): BoundAddress | null {
    return this.#bound;
  }

  /** Starts listening; rejects with an error naming http.listen and the errno code. */
  async listen(listen: string): Promise<BoundAddress> {
    if (this.#server) throw new Error('HttpServer.listen: already listening; use rebind()');
    const { server, bound } = await listenOn(this.#listener, listen);
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
      next = await listenOn(this.#listener, listen);
    } catch (err) {
      // The same port on another address of this host (0.0.0.0:9890 -> 127.0.0.1:9890)
      // conflicts with the old socket: free it first, and take it back on failure.
      const code = ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code;
      if (code !== 'EADDRINUSE' || safePort(listen) !== oldBound.port) throw err;
      this.#server = null;
      this.#bound = null;
      await closeServer(old);
      try {
        next = await listenOn(this.#listener, listen);
      } catch (again) {
        const oldAddress = oldBound.family === 6 ? `[${oldBound.address}]:${oldBound.port}` : `${oldBound.address}:${oldBound.port}`;
        const back = await listenOn(this.#listener, oldAddress).catch((lost: Error) => {
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
