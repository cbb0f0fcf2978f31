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
