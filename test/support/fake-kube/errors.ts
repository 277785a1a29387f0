// An API error as the real API server sends it: an HTTP status and a
// metav1.Status body.

export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** The metav1.Status body. */
  status(): Record<string, unknown> {
    return {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.reason,
      ...(this.details ? { details: this.details } : {}),
      code: this.code,
    };
  }

  static badRequest(message: string): ApiError {
    return new ApiError(400, 'BadRequest', message);
  }

  static unprocessable(message: string): ApiError {
    return new ApiError(422, 'Invalid', message);
  }

  static invalid(kind: string, name: string, causes: StatusCause[]): ApiError {
    const text = causes.map((c) => `${c.field}: ${c.message}`).join(', ');
    return new ApiError(422, 'Invalid', `${kind} "${name}" is invalid: ${text}`, {
      name,
      kind,
      causes: causes.map((c) => ({ reason: 'FieldValueInvalid', ...c })),
    });
  }

  static notFound(resource: string, name: string, group = ''): ApiError {
    const what = group ? `${resource}.${group}` : resource;
    return new ApiError(404, 'NotFound', `${what} "${name}" not found`, { name, ...(group ? { group } : {}), kind: resource });
  }

  static alreadyExists(resource: string, name: string, group = ''): ApiError {
    const what = group ? `${resource}.${group}` : resource;
    return new ApiError(409, 'AlreadyExists', `${what} "${name}" already exists`, { name, ...(group ? { group } : {}), kind: resource });
  }

  static conflict(resource: string, name: string, group = ''): ApiError {
    const what = group ? `${resource}.${group}` : resource;
    return new ApiError(
      409,
      'Conflict',
      `Operation cannot be fulfilled on ${what} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      {
        name,
        ...(group ? { group } : {}),
        kind: resource,
      },
    );
  }

  static gone(message = 'too old resource version'): ApiError {
    return new ApiError(410, 'Expired', message);
  }

  static unauthorized(): ApiError {
    return new ApiError(401, 'Unauthorized', 'Unauthorized');
  }

  static forbidden(user: string, verb: string, resource: string, group: string, namespace: string | undefined, name?: string): ApiError {
    const what = group ? `${resource}" in API group "${group}` : `${resource}" in API group "`;
    const where = namespace ? ` in the namespace "${namespace}"` : ' at the cluster scope';
    const named = name ? ` "${name}"` : '';
    return new ApiError(403, 'Forbidden', `${resource.split('/')[0]}${named} is forbidden: User "${user}" cannot ${verb} resource "${what}"${where}`, {
      ...(name ? { name } : {}),
      ...(group ? { group } : {}),
      kind: resource.split('/')[0]!, // split always returns at least one element
    });
  }

  static internal(message: string): ApiError {
    return new ApiError(500, 'InternalError', `Internal error occurred: ${message}`, { causes: [{ message }] });
  }

  static methodNotAllowed(method: string): ApiError {
    return new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource (${method})`);
  }
}
