// Request routing for the daemon's HTTP server (node:http, no framework).
//
//   GET /metrics          Prometheus text format
//   GET /healthz          200 "ok: ..." or 503 "<why>", one line of text
//   GET /healthz/host     the host network namespace only
//   GET /healthz/pods     the pods' network namespaces only
//   GET /healthz/udp      UDP checks only
//   GET /healthz/tcp      TCP checks only
//   GET /status           JSON: every vantage and check
//   GET /                 a short index of these
// HEAD is answered like GET without a body; other methods get 405 with
// Allow; other paths 404. Query strings are ignored.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { GROUP_PATHS, GROUPS, type Group, type Verdict } from '../health/verdict.js';
import type { Logger } from '../log.js';
import { capString, escapeControl, safeJsonStringify, safeText } from '../text/untrusted.js';

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

function send(req: IncomingMessage, res: ServerResponse, status: number, contentType: string, body: string, headers: Record<string, string> = {}): void {
  const buf = Buffer.from(body, 'utf8');
  res.writeHead(status, {
    'Content-Type': contentType,
    'Content-Length': String(buf.length),
    'Cache-Control': 'no-store',
    'X-Content-Type-Options': 'nosniff',
    ...headers,
  });
  res.end(req.method === 'HEAD' ? undefined : buf);
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
      send(req, res, 200, TEXT, INDEX);
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
