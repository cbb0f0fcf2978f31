/**
 * Every error routecar itself answers with, and the one place where they become HTTP.
 * The body is OpenAI-shaped so the official clients raise their usual typed errors.
 */
import type { ServerResponse } from 'node:http';

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

/**
 * Answers with the error unless a response is already under way (then the connection is cut,
 * because a half-sent body followed by an error body would be worse than a visible failure).
 */
export function sendError(
  res: ServerResponse,
  err: RoutecarError,
  extraHeaders?: Record<string, string>,
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = errorBody(err);
  res.statusCode = err.status;
  res.setHeader('content-type', 'application/json');
  res.setHeader('content-length', Buffer.byteLength(body));
  if (extraHeaders) for (const [k, v] of Object.entries(extraHeaders)) res.setHeader(k, v);
  res.end(body);
}
