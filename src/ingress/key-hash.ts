/**
 * Short, stable ids for values routecar must be able to match and log but never keep: an app's
 * bearer token (`apiKeyId`) and, in the access log, a user id.
 */
import { createHash } from 'node:crypto';

/** First 16 hex characters of the SHA-256 of `value` (UTF-8). */
export function shortHash(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex').slice(0, 16);
}

/**
 * The `apiKeyId` of an `Authorization` header: the short hash of its bearer token; undefined
 * when there is no header or no token. Rules match on this, so the token itself is never stored.
 */
export function apiKeyIdOf(authorization: string | undefined): string | undefined {
  if (!authorization) return undefined;
  const token = authorization.replace(/^Bearer\s+/i, '').trim();
  if (token === '') return undefined;
  return shortHash(token);
}
