/**
 * The error routecar answers with itself, as a value: a status, a stable code and an OpenAI
 * error type. A leaf module, so every layer can raise one; only the server edge turns it into
 * HTTP (src/server/errors.ts).
 */

/** OpenAI's `error.type` values that routecar uses. */
export type ErrorType =
  'invalid_request_error' | 'not_found_error' | 'permission_error' | 'server_error' | 'rate_limit_error';

export class RoutecarError extends Error {
  /**
   * @param status HTTP status sent to the app
   * @param code stable machine-readable code (`model_not_found`, `no_healthy_backend`, ...)
   * @param type OpenAI error type
   */
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly type: ErrorType = typeForStatus(status),
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = 'RoutecarError';
  }
}

function typeForStatus(status: number): ErrorType {
  if (status === 404) return 'not_found_error';
  if (status === 403 || status === 401) return 'permission_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'server_error';
  return 'invalid_request_error';
}

/** The OpenAI error envelope. */
export function errorBody(err: RoutecarError): string {
  return JSON.stringify({
    error: { message: err.message, type: err.type, code: err.code, param: null, ...(err.details ?? {}) },
  });
}
