/**
 * Every error routecar itself answers with, and the one place where they become HTTP.
 * The body is OpenAI-shaped so the official clients raise their usual typed errors.
 */
import type { ServerResponse } from 'node:http';

import { errorBody, RoutecarError } from '../errors/routecar-error.js';

export { errorBody, RoutecarError, type ErrorType } from '../errors/routecar-error.js';

/**
 * Answers with the error unless a response is already under way (then the connection is cut,
 * because a half-sent body followed by an error body would be worse than a visible failure).
 */
export function sendError(
  res: ServerResponse,
  err: RoutecarError,
  extraHeaders?: Record<string, string>,
  shape: ErrorShape = 'openai',
): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = shape === 'anthropic' ? anthropicErrorBody(err) : errorBody(err);
  res.statusCode = err.status;
  res.setHeader('content-type', 'application/json');
  res.setHeader('content-length', Buffer.byteLength(body));
  if (extraHeaders) for (const [k, v] of Object.entries(extraHeaders)) res.setHeader(k, v);
  res.end(body);
}

/** Whose error envelope the client expects: OpenAI's, or Anthropic's on `/v1/messages`. */
export type ErrorShape = 'openai' | 'anthropic';

/**
 * Anthropic's envelope, `{"type": "error", "error": {"type", "message"}}`, for clients of the
 * Messages API; routecar's own code stays in `error.code` so the two shapes carry the same facts.
 */
export function anthropicErrorBody(err: RoutecarError): string {
  return JSON.stringify({
    type: 'error',
    error: { type: anthropicType(err.status), message: err.message, code: err.code, ...(err.details ?? {}) },
  });
}

function anthropicType(status: number): string {
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 413) return 'request_too_large';
  if (status === 429) return 'rate_limit_error';
  if (status === 503) return 'overloaded_error';
  if (status >= 500) return 'api_error';
  return 'invalid_request_error';
}
