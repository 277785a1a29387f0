// Every failure of a Kubernetes API call becomes a KubeApiError with a reason
// from one small set, so the remedy gate can say why it skipped ("forbidden",
// "api-unreachable") and callers never inspect client library error types.

export const KUBE_ERROR_REASONS = [
  'unauthorized',
  'forbidden',
  'not-found',
  'conflict',
  'invalid',
  'gone',
  'too-many-requests',
  'server-error',
  'timeout',
  'unreachable',
  'tls',
  'bad-response',
] as const;

export type KubeErrorReason = (typeof KUBE_ERROR_REASONS)[number];

export const KUBE_ERROR_DESCRIPTIONS: Readonly<Record<KubeErrorReason, string>> = {
  unauthorized: 'The API server did not accept the credentials (401).',
  forbidden: 'The identity may not do this (403): RBAC does not grant it.',
  'not-found': 'The object does not exist (404).',
  conflict: 'The object changed since it was read, or already exists (409).',
  invalid: 'The API server refused the request as invalid (400, 422).',
  gone: 'The resourceVersion is too old (410 Gone): list again.',
  'too-many-requests': 'Try later (429): a PodDisruptionBudget forbids the eviction now, or the API server is throttling.',
  'server-error': 'The API server failed (5xx).',
  timeout: 'No answer within the request timeout.',
  unreachable: 'The API server could not be reached (connection refused or reset, no route, DNS failure).',
  tls: 'The TLS handshake failed: the server certificate is not trusted or does not match.',
  'bad-response': 'The API server answered with something this client could not use.',
};

export class KubeApiError extends Error {
  readonly reason: KubeErrorReason;
  /** HTTP status, when there was an answer. */
  readonly status?: number;
  /** The Status reason from the API server (e.g. "TooManyRequests", "Conflict"). */
  readonly apiReason?: string;

  constructor(reason: KubeErrorReason, message: string, opts: { status?: number; apiReason?: string; cause?: unknown } = {}) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = 'KubeApiError';
    this.reason = reason;
    if (opts.status !== undefined) this.status = opts.status;
    if (opts.apiReason !== undefined) this.apiReason = opts.apiReason;
  }
}

export function reasonForStatus(status: number): KubeErrorReason {
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not-found';
  if (status === 409) return 'conflict';
  if (status === 410) return 'gone';
  if (status === 429) return 'too-many-requests';
  if (status === 400 || status === 422 || status === 415) return 'invalid';
  if (status === 408 || status === 504) return 'timeout';
  if (status >= 500) return 'server-error';
  return 'bad-response';
}

const TLS_CODES = /^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN|ERR_OSSL_|HOSTNAME_MISMATCH)/;
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
  'ECONNABORTED',
  'ETIMEDOUT',
  'UND_ERR_SOCKET',
]);

/** message and reason of a metav1.Status body (a JSON string or object), when it is one. */
function statusBody(body: unknown): { message?: string; reason?: string } {
  let parsed = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return body.trim() ? { message: body.trim().slice(0, 300) } : {};
    }
  }
  if (typeof parsed === 'object' && parsed !== null) {
    const p = parsed as { message?: unknown; reason?: unknown };
    return { ...(typeof p.message === 'string' ? { message: p.message } : {}), ...(typeof p.reason === 'string' ? { reason: p.reason } : {}) };
  }
  return {};
}

/**
 * Any error thrown by an API call (the client library's ApiException, a
 * fetch error, an abort by the request timeout, a watch's non-200 answer)
 * as a KubeApiError. `what` says what was being done ("evict pod kube-system/x").
 */
export function toKubeApiError(err: unknown, what: string): KubeApiError {
  if (err instanceof KubeApiError) return err;
  const e = (err ?? {}) as { name?: string; code?: unknown; statusCode?: unknown; body?: unknown; message?: string; type?: string; cause?: { code?: unknown } };
  // Before the status: a DOMException (TimeoutError) has a numeric legacy `code` too.
  if (e.name === 'AbortError' || e.name === 'TimeoutError' || e.type === 'aborted')
    return new KubeApiError('timeout', `${what}: no answer in time`, { cause: err });
  const status = typeof e.code === 'number' ? e.code : typeof e.statusCode === 'number' ? e.statusCode : undefined;
  if (status !== undefined) {
    const body = statusBody(e.body);
    const detail = body.message ?? (status === 401 ? 'Unauthorized' : e.message?.split('\n')[0]) ?? '';
    return new KubeApiError(reasonForStatus(status), `${what}: HTTP ${status}${detail ? `: ${detail}` : ''}`, {
      status,
      ...(body.reason ? { apiReason: body.reason } : {}),
      cause: err,
    });
  }
  const code = typeof e.code === 'string' ? e.code : typeof e.cause?.code === 'string' ? e.cause.code : '';
  if (TLS_CODES.test(code)) return new KubeApiError('tls', `${what}: TLS: ${e.message ?? code}`, { cause: err });
  if (NETWORK_CODES.has(code) || e.type === 'system' || e.name === 'FetchError')
    return new KubeApiError('unreachable', `${what}: ${e.message ?? code}`, { cause: err });
  return new KubeApiError('bad-response', `${what}: ${e.message ?? String(err)}`, { cause: err });
}
