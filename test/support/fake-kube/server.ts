// The fake API server's HTTPS front: authentication (bearer tokens, client
// certificates signed by the test CA), optional RBAC, injectable faults, the
// REST verbs on /api/v1 and /apis/<group>/<version> paths, subresources
// (status, eviction), watch streams of JSON lines, legacy discovery and
// server-side tables for kubectl.
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { isDeepStrictEqual } from 'node:util';
import type { Cluster } from './cluster.js';
import { ApiError } from './errors.js';
import { Faults, reasonForStatus, type FaultRule, type RequestAttributes } from './faults.js';
import { applyPatch } from './patch.js';
import type { Pki } from './pki.js';
import { allows, isDiscoveryPath, type Grant } from './rbac.js';
import { apiGroup, apiGroupList, apiResourceList, apiVersionOf, apiVersions, findResource, resourceKey, type ResourceDef } from './resources.js';
import { parseFieldSelector, parseLabelSelector } from './selectors.js';
import type { KubeObject, Store, WatchEventType } from './store.js';
import { toTable, wantsTable } from './tables.js';
import { validate } from './validate.js';

export interface User {
  name: string;
  groups: string[];
}

export interface RequestRecord extends RequestAttributes {
  query: Record<string, string>;
  status: number;
  contentType?: string;
  userAgent?: string;
  /** The request body for create/update/patch (parsed JSON when possible). */
  body?: unknown;
}

export interface ServerOptions {
  store: Store;
  cluster: Cluster;
  pki: Pki;
  tokens: Map<string, User>;
  /** Per user; a user without an entry may do anything. */
  grants: Map<string, Grant[]>;
  faults: Faults;
  /** Send a BOOKMARK on watches that allow them, this often. 0: never. */
  bookmarkIntervalMs?: number;
}

interface Parsed {
  def: ResourceDef;
  namespace?: string;
  name?: string;
  subresource: string;
}

const MAX_BODY = 4 * 1024 * 1024;
const UNAUTHENTICATED_PATHS = new Set(['/version', '/healthz', '/livez', '/readyz']);

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent || res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-cache, private' });
  res.end(text);
}

function sendError(res: ServerResponse, err: unknown): number {
  const e = err instanceof ApiError ? err : ApiError.internal((err as Error)?.message ?? String(err));
  sendJson(res, e.code, e.status());
  return e.code;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let size = 0;
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) reject(new ApiError(413, 'RequestEntityTooLarge', 'request entity too large'));
      else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseJson(text: string): KubeObject {
  try {
    return JSON.parse(text) as KubeObject;
  } catch (err) {
    throw ApiError.badRequest(`error decoding body: ${(err as Error).message}`);
  }
}

/** "/apis/apps/v1/namespaces/x/deployments/y/status" → the resource, namespace, name, subresource. */
function parsePath(path: string): Parsed | 'discovery' | undefined {
  const parts = path
    .split('/')
    .filter((p) => p !== '')
    .map(decodeURIComponent);
  let group: string;
  let version: string;
  let rest: string[];
  if (parts[0] === 'api' && parts[1]) [group, version, rest] = ['', parts[1], parts.slice(2)];
  else if (parts[0] === 'apis' && parts[1] && parts[2]) [group, version, rest] = [parts[1], parts[2], parts.slice(3)];
  else return undefined;
  if (rest.length === 0) return 'discovery';
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const def = findResource(group, version, rest[0]!);
  if (!def || rest.length > 3) return undefined;
  if (def.namespaced !== (namespace !== undefined) && !(def.namespaced && rest.length === 1)) return undefined;
  const subresource = rest[2] ?? '';
  if (subresource && !def.subresources?.some((s) => s.name === subresource)) return undefined;
  return { def, ...(namespace !== undefined ? { namespace } : {}), ...(rest[1] !== undefined ? { name: rest[1] } : {}), subresource };
}

function verbOf(method: string, p: Parsed, query: URLSearchParams): string {
  const watch = query.get('watch');
  switch (method) {
    case 'GET':
      if (watch === 'true' || watch === '1') return 'watch';
      return p.name ? 'get' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return p.name ? 'delete' : 'deletecollection';
    default:
      return method.toLowerCase();
  }
}

const withKind = (def: ResourceDef, o: KubeObject): KubeObject => ({ ...o, apiVersion: apiVersionOf(def), kind: def.kind });

function listBody(def: ResourceDef, items: KubeObject[], rv: string): unknown {
  return {
    kind: `${def.kind}List`,
    apiVersion: apiVersionOf(def),
    metadata: { resourceVersion: rv },
    items: items.map(({ apiVersion: _a, kind: _k, ...rest }) => rest),
  };
}

export class FakeApiServer {
  readonly #o: ServerOptions;
  readonly #server: https.Server;
  readonly #sockets = new Set<Socket>();
  /** TCP connections accepted so far (each one a TLS handshake). */
  connections = 0;
  readonly #watches = new Set<{ res: ServerResponse; end: () => void }>();
  readonly requests: RequestRecord[] = [];
  #port = 0;
  #host = '127.0.0.1';

  constructor(o: ServerOptions) {
    this.#o = o;
    this.#server = https.createServer(
      { key: o.pki.server.key, cert: o.pki.server.cert, ca: [o.pki.ca.cert], requestCert: true, rejectUnauthorized: false },
      (req, res) => {
        this.#handle(req, res).catch((err) => sendError(res, err));
      },
    );
    this.#server.on('connection', (s: Socket) => {
      this.connections++;
      this.#sockets.add(s);
      s.on('close', () => this.#sockets.delete(s));
    });
    this.#server.on('tlsClientError', () => undefined);
  }

  get port(): number {
    return this.#port;
  }

  get url(): string {
    return `https://${this.#host.includes(':') ? `[${this.#host}]` : this.#host}:${this.#port}`;
  }

  /** Listens (again) on host:port; port 0 picks one the first time, later calls reuse it. */
  listen(port = this.#port, host = this.#host): Promise<void> {
    this.#host = host;
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        this.#port = (this.#server.address() as { port: number }).port;
        resolve();
      });
    });
  }

  /** Stops listening and cuts every connection (the API server is down). */
  close(): Promise<void> {
    for (const w of this.#watches) w.end();
    for (const s of this.#sockets) s.destroy();
    return new Promise((resolve) => {
      if (!this.#server.listening) resolve();
      else this.#server.close(() => resolve());
    });
  }

  get listening(): boolean {
    return this.#server.listening;
  }

  /** Ends every open watch stream cleanly (the server side closing it). */
  dropWatches(): number {
    const n = this.#watches.size;
    for (const w of [...this.#watches]) w.end();
    return n;
  }

  get openWatches(): number {
    return this.#watches.size;
  }

  #authenticate(req: IncomingMessage): User | undefined {
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ')) return this.#o.tokens.get(auth.slice(7).trim());
    const socket = req.socket as TLSSocket;
    if (socket.authorized) {
      const subject = socket.getPeerCertificate()?.subject;
      if (subject?.CN) {
        const o = subject.O;
        return { name: String(subject.CN), groups: o === undefined ? [] : Array.isArray(o) ? o.map(String) : [String(o)] };
      }
    }
    return undefined;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://fake');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const method = req.method ?? 'GET';
    const body = ['POST', 'PUT', 'PATCH', 'DELETE'].includes(method) ? await readBody(req) : '';
    const user = this.#authenticate(req);
    const parsed = parsePath(path);
    const attrs: RequestAttributes = {
      verb: parsed && parsed !== 'discovery' ? verbOf(method, parsed, url.searchParams) : method.toLowerCase(),
      group: parsed && parsed !== 'discovery' ? parsed.def.group : '',
      version: parsed && parsed !== 'discovery' ? parsed.def.version : '',
      resource: parsed && parsed !== 'discovery' ? parsed.def.resource : '',
      subresource: parsed && parsed !== 'discovery' ? parsed.subresource : '',
      ...(parsed && parsed !== 'discovery' && parsed.namespace !== undefined ? { namespace: parsed.namespace } : {}),
      ...(parsed && parsed !== 'discovery' && parsed.name !== undefined ? { name: parsed.name } : {}),
      user: user?.name ?? 'system:anonymous',
      method,
      path,
    };
    let parsedBody: unknown = body;
    try {
      if (body) parsedBody = JSON.parse(body);
    } catch {
      // recorded as text
    }
    const record: RequestRecord = {
      ...attrs,
      query: Object.fromEntries(url.searchParams),
      status: 0,
      ...(req.headers['content-type'] ? { contentType: req.headers['content-type'] } : {}),
      ...(req.headers['user-agent'] ? { userAgent: req.headers['user-agent'] } : {}),
      ...(body ? { body: parsedBody } : {}),
    };
    this.requests.push(record);
    res.on('finish', () => (record.status = res.statusCode));

    if (!user && !UNAUTHENTICATED_PATHS.has(path)) {
      sendError(res, ApiError.unauthorized());
      return;
    }
    const fault = this.#o.faults.take(attrs);
    if (fault) {
      if (fault.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs));
      if (fault.reset) {
        req.socket.destroy();
        return;
      }
      if (fault.status) {
        sendError(res, new ApiError(fault.status, fault.reason ?? reasonForStatus(fault.status), fault.message ?? `injected fault: ${fault.status}`));
        return;
      }
    }
    if (path === '/version') {
      sendJson(res, 200, {
        major: '1',
        minor: '32',
        gitVersion: 'v1.32.4',
        gitCommit: 'fake',
        gitTreeState: 'clean',
        buildDate: '2025-01-01T00:00:00Z',
        goVersion: 'go1.23',
        compiler: 'gc',
        platform: 'linux/amd64',
      });
      return;
    }
    if (['/healthz', '/livez', '/readyz'].includes(path)) {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ok');
      return;
    }
    if (parsed === undefined || parsed === 'discovery') {
      this.#discovery(path, res);
      return;
    }
    const grants = this.#o.grants.get(attrs.user);
    if (grants && !isDiscoveryPath(path)) {
      // RBAC's resourceNames cover a list/watch narrowed to one object by a field selector.
      const named = attrs.name ?? /^metadata\.name=([^,]+)$/.exec(url.searchParams.get('fieldSelector') ?? '')?.[1];
      if (!allows(grants, { ...attrs, ...(named !== undefined ? { name: named } : {}) })) {
        sendError(
          res,
          ApiError.forbidden(
            attrs.user,
            attrs.verb,
            attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource,
            attrs.group,
            attrs.namespace,
            attrs.name,
          ),
        );
        return;
      }
    }
    await this.#resource(req, res, parsed, attrs.verb, url.searchParams, body, fault);
  }

  #discovery(path: string, res: ServerResponse): void {
    let doc: unknown;
    if (path === '/api') doc = apiVersions(`127.0.0.1:${this.#port}`);
    else if (path === '/apis') doc = apiGroupList();
    else {
      const m = /^\/(?:api\/(v1)|apis\/([^/]+)(?:\/([^/]+))?)$/.exec(path);
      if (m?.[1]) doc = apiResourceList('', m[1]);
      else if (m?.[2] && m[3]) doc = apiResourceList(m[2], m[3]);
      else if (m?.[2]) doc = apiGroup(m[2]);
    }
    if (doc === undefined) {
      res
        .writeHead(404, { 'Content-Type': 'application/json' })
        .end(JSON.stringify(new ApiError(404, 'NotFound', 'the server could not find the requested resource').status()));
      return;
    }
    sendJson(res, 200, doc);
  }

  async #resource(
    req: IncomingMessage,
    res: ServerResponse,
    p: Parsed,
    verb: string,
    query: URLSearchParams,
    body: string,
    fault: FaultRule | undefined,
  ): Promise<void> {
    const { store, cluster } = this.#o;
    const key = resourceKey(p.def.group, p.def.resource);
    const filter = {
      ...(p.namespace !== undefined ? { namespace: p.namespace } : {}),
      labels: parseLabelSelector(query.get('labelSelector')),
      fields: parseFieldSelector(query.get('fieldSelector')),
    };
    switch (verb) {
      case 'get': {
        if (p.subresource && p.subresource !== 'status') throw ApiError.methodNotAllowed('GET');
        const o = store.mustGet(key, p.namespace, p.name!);
        sendJson(res, 200, wantsTable(req.headers.accept) ? toTable(key, [o], o.metadata.resourceVersion) : withKind(p.def, o));
        return;
      }
      case 'list': {
        const rv = query.get('resourceVersion');
        if (rv && query.get('resourceVersionMatch') === 'Exact' && Number(rv) < store.compactedResourceVersion) throw ApiError.gone();
        const items = store.list(key, filter);
        sendJson(res, 200, wantsTable(req.headers.accept) ? toTable(key, items, store.resourceVersion) : listBody(p.def, items, store.resourceVersion));
        return;
      }
      case 'watch':
        this.#watch(req, res, p.def, key, filter, query, fault);
        return;
      case 'create': {
        const obj = parseJson(body);
        if (p.subresource === 'eviction') {
          cluster.evict(p.namespace!, p.name!, obj);
          sendJson(res, 201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 });
          return;
        }
        if (p.name || p.subresource) throw ApiError.methodNotAllowed('POST');
        obj.metadata ??= {} as KubeObject['metadata'];
        if (p.def.namespaced) {
          if (obj.metadata.namespace && obj.metadata.namespace !== p.namespace)
            throw ApiError.badRequest('the namespace of the provided object does not match the namespace sent on the request');
          obj.metadata.namespace = p.namespace;
        }
        if (obj.apiVersion !== apiVersionOf(p.def) || obj.kind !== p.def.kind)
          throw ApiError.badRequest(`expected ${apiVersionOf(p.def)} ${p.def.kind}, got ${obj.apiVersion} ${obj.kind}`);
        validate(key, obj);
        const created = store.create(key, obj);
        sendJson(res, 201, withKind(p.def, created));
        return;
      }
      case 'update': {
        const obj = parseJson(body);
        if (obj.metadata?.name !== p.name)
          throw ApiError.badRequest(`the name of the object (${obj.metadata?.name}) does not match the name on the URL (${p.name})`);
        obj.metadata.namespace = p.namespace;
        const current = store.mustGet(key, p.namespace, p.name);
        const next = this.#scopeToSubresource(p, current, obj);
        validate(key, next);
        sendJson(res, 200, withKind(p.def, store.update(key, next, obj.metadata.resourceVersion)));
        return;
      }
      case 'patch': {
        const current = store.mustGet(key, p.namespace, p.name!);
        const patched = applyPatch(req.headers['content-type'] ?? '', withKind(p.def, current), body) as unknown as KubeObject;
        if (patched?.metadata?.name !== p.name) throw ApiError.badRequest('a patch may not change the object name');
        const expected = patched.metadata.resourceVersion !== current.metadata.resourceVersion ? patched.metadata.resourceVersion : undefined;
        const next = this.#scopeToSubresource(p, current, patched);
        validate(key, next);
        sendJson(res, 200, withKind(p.def, store.update(key, next, expected)));
        return;
      }
      case 'delete': {
        if (p.subresource) throw ApiError.methodNotAllowed('DELETE');
        let grace: number | undefined;
        if (query.get('gracePeriodSeconds') !== null) grace = Number(query.get('gracePeriodSeconds'));
        if (body) {
          const opts = parseJson(body) as { gracePeriodSeconds?: number; preconditions?: { uid?: string; resourceVersion?: string } };
          if (opts.gracePeriodSeconds !== undefined) grace = opts.gracePeriodSeconds;
          const cur = store.mustGet(key, p.namespace, p.name!);
          if (opts.preconditions?.uid && opts.preconditions.uid !== cur.metadata.uid) throw ApiError.conflict(p.def.resource, p.name!, p.def.group);
          if (opts.preconditions?.resourceVersion && opts.preconditions.resourceVersion !== cur.metadata.resourceVersion)
            throw ApiError.conflict(p.def.resource, p.name!, p.def.group);
        }
        const out = key === '/pods' ? cluster.deletePod(p.namespace!, p.name!, grace) : store.remove(key, p.namespace, p.name!);
        sendJson(res, 200, withKind(p.def, out));
        return;
      }
      default:
        throw ApiError.methodNotAllowed(req.method ?? '');
    }
  }

  /** The status subresource changes only status; the main resource never changes status (for kinds with a status subresource). */
  #scopeToSubresource(p: Parsed, current: KubeObject, next: KubeObject): KubeObject {
    const hasStatus = p.def.subresources?.some((s) => s.name === 'status');
    if (p.subresource === 'status') return { ...current, status: next.status };
    if (p.subresource) throw ApiError.methodNotAllowed(p.subresource);
    if (hasStatus && !isDeepStrictEqual(next.status, current.status)) return { ...next, status: current.status };
    return next;
  }

  #watch(
    req: IncomingMessage,
    res: ServerResponse,
    rdef: ResourceDef,
    key: string,
    filter: Parameters<Store['watch']>[1],
    query: URLSearchParams,
    fault: FaultRule | undefined,
  ): void {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
    let ended = false;
    const timers: NodeJS.Timeout[] = [];
    let unsubscribe: () => void = () => undefined;
    const end = (): void => {
      if (ended) return;
      ended = true;
      for (const t of timers) {
        clearTimeout(t);
        clearInterval(t);
      }
      unsubscribe();
      this.#watches.delete(entry);
      if (!res.destroyed) res.end();
    };
    const entry = { res, end };
    this.#watches.add(entry);
    const send = (type: WatchEventType | 'ERROR' | 'BOOKMARK', object: unknown): void => {
      if (ended || res.destroyed) return;
      const obj = type === 'ERROR' || type === 'BOOKMARK' ? object : withKind(rdef, object as KubeObject);
      res.write(`${JSON.stringify({ type, object: obj })}\n`);
    };
    res.on('close', end);
    req.on('close', end);
    try {
      unsubscribe = this.#o.store.watch(key, filter, query.get('resourceVersion') ?? undefined, { event: send });
    } catch (err) {
      const e = err instanceof ApiError ? err : ApiError.internal(String(err));
      send('ERROR', e.status());
      end();
      return;
    }
    const timeout = Number(query.get('timeoutSeconds') ?? '0');
    if (timeout > 0) timers.push(setTimeout(end, timeout * 1000));
    if (fault?.dropWatchAfterMs !== undefined) timers.push(setTimeout(end, fault.dropWatchAfterMs));
    const every = this.#o.bookmarkIntervalMs ?? 0;
    if (every > 0 && query.get('allowWatchBookmarks') === 'true') {
      timers.push(
        setInterval(
          () => send('BOOKMARK', { kind: rdef.kind, apiVersion: apiVersionOf(rdef), metadata: { resourceVersion: this.#o.store.resourceVersion } }),
          every,
        ),
      );
    }
  }
}
