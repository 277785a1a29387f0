// Request routing for the daemon's HTTP server (node:http, no framework).
//
//   GET /metrics          Prometheus text format
//   GET /healthz          200 "ok: ..." or 503 "<why>", one line of text
//   GET /healthz/host     the host network namespace only
//   GET /healthz/pods     the pods' network namespaces only
//   GET /healthz/udp      UDP checks only
//   GET /healthz/tcp      TCP checks only
//   GET /status           JSON: every vantage and check
//   GET /                 a short index of these; for a browser (Accept prefers
//                         text/html) the status page (./status-page.ts)
// HEAD is answered like GET without a body; other methods get 405 with
// Allow; other paths 404. Query strings are ignored. Bodies of 1 KiB and more
// are gzipped when the client accepts it (Prometheus asks for it).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { hostname } from 'node:os';
import zlib from 'node:zlib';
import { GROUP_PATHS, GROUPS, type Group, type Verdict } from '../health/verdict.js';
import type { Logger } from '../log.js';
import { capString, escapeControl, safeJsonStringify, safeText } from '../text/untrusted.js';
import { prefersHtml, renderStatusPage, STATUS_PAGE_CSP } from './status-page.js';

export interface HttpApp {
  metrics(): Promise<{ contentType: string; body: string }>;
  health(group: Group): Verdict;
  status(): unknown;
}

const TEXT = 'text/plain; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';

const BY_PATH: ReadonlyMap<string, Group> = new Map(GROUPS.map((g) => [GROUP_PATHS[g], g]));

export const INDEX = `coredns-healthd

/metrics        Prometheus metrics
/healthz        200 when cluster DNS works from every vantage on this node, else 503 and why
${GROUPS.filter((g) => g !== 'all')
  .map(
    (g) =>
      `${GROUP_PATHS[g].padEnd(16)}the same, ${g === 'host' ? 'host network namespace only' : g === 'pods' ? 'pod network namespaces only' : `${g.toUpperCase()} checks only`}`,
  )
  .join('\n')}
/status         JSON: every vantage, target and result
`;

/** Bodies at least this long are gzipped for a client that accepts it (shorter ones gain nothing). */
export const GZIP_MIN_BYTES = 1024;

/**
 * True when an Accept-Encoding header accepts gzip: `gzip` (or `x-gzip`), or `*` without an
 * explicit `gzip`, with a q-value above 0 (RFC 9110 12.5.3).
 */
export function acceptsGzip(header: string | string[] | undefined): boolean {
  const value = Array.isArray(header) ? header.join(',') : (header ?? '');
  let gzip: number | undefined;
  let star: number | undefined;
  for (const part of value.slice(0, 1024).split(',')) {
    const [coding = '', ...params] = part.split(';').map((p) => p.trim().toLowerCase());
    const qParam = params.find((p) => p.startsWith('q='));
    const q = qParam === undefined ? 1 : Number(qParam.slice(2));
    const weight = Number.isFinite(q) ? q : 0;
    if (coding === 'gzip' || coding === 'x-gzip') gzip = Math.max(gzip ?? 0, weight);
    else if (coding === '*') star = weight;
  }
  return (gzip ?? star ?? 0) > 0;
}

function send(req: IncomingMessage, res: ServerResponse, status: number, contentType: string, body: string, headers: Record<string, string> = {}): void {
  const buf = Buffer.from(body, 'utf8');
  const head: Record<string, string> = {
    'Content-Type': contentType,
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  };
  const plain = (): void => {
    res.writeHead(status, { ...head, 'Content-Length': String(buf.length) });
    res.end(req.method === 'HEAD' ? undefined : buf);
  };
  if (buf.length < GZIP_MIN_BYTES) {
    plain();
    return;
  }
  // The body may be gzipped: caches must key on Accept-Encoding.
  head.Vary = head.Vary === undefined ? 'Accept-Encoding' : `${head.Vary}, Accept-Encoding`;
  if (!acceptsGzip(req.headers['accept-encoding'])) {
    plain();
    return;
  }
  // Off the event loop's critical path (a /metrics body of a busy node is hundreds of KiB).
  zlib.gzip(buf, { level: 6 }, (err, gz) => {
    if (res.destroyed) return;
    if (err) {
      plain();
      return;
    }
    res.writeHead(status, { ...head, 'Content-Encoding': 'gzip', 'Content-Length': String(gz.length) });
    res.end(req.method === 'HEAD' ? undefined : gz);
  });
}

/** The path without query string; null when the target is not an origin-form path. */
export function requestPath(url: string | undefined): string | null {
  if (url === undefined || !url.startsWith('/')) return null;
  const q = url.search(/[?#]/);
  return q === -1 ? url : url.slice(0, q);
}

export function createHandler(app: HttpApp, log?: Logger): (req: IncomingMessage, res: ServerResponse) => void {
  const route = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = requestPath(req.url);
    const known = path !== null && (path === '/' || path === '/metrics' || path === '/status' || BY_PATH.has(path));
    if (!known) {
      send(req, res, 404, TEXT, `not found: ${safeText(path ?? String(req.url))}\n\n${INDEX}`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(req, res, 405, TEXT, `method ${safeText(req.method ?? '', 32)} not allowed: use GET or HEAD\n`, { Allow: 'GET, HEAD' });
      return;
    }
    if (path === '/') {
      // One URL, two representations: caches must key on Accept.
      if (prefersHtml(req.headers.accept)) {
        send(req, res, 200, 'text/html; charset=utf-8', renderStatusPage(app.status(), { hostname: hostname() }), {
          Vary: 'Accept',
          'Content-Security-Policy': STATUS_PAGE_CSP,
          'X-Frame-Options': 'DENY',
          'Referrer-Policy': 'no-referrer',
        });
      } else {
        send(req, res, 200, TEXT, INDEX, { Vary: 'Accept' });
      }
    } else if (path === '/metrics') {
      const m = await app.metrics();
      send(req, res, 200, m.contentType, m.body);
    } else if (path === '/status') {
      // Values are capped where they enter; C1 controls and bidi marks (raw in JSON.stringify's output) are escaped here.
      send(req, res, 200, JSON_TYPE, `${safeJsonStringify(app.status(), 2)}\n`);
    } else {
      const v = app.health(BY_PATH.get(path)!);
      // One line whatever the reason quotes (pod names, details of DNS replies): control characters escaped.
      send(req, res, v.status, TEXT, `${escapeControl(v.reason)}\n`);
    }
  };
  return (req, res) => {
    route(req, res).catch((err: unknown) => {
      log?.error('http request failed', { method: capString(req.method, 32), url: capString(req.url), err });
      if (!res.headersSent) send(req, res, 500, TEXT, 'internal error\n');
      else res.destroy();
    });
  };
}
