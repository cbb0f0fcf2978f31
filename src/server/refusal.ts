/**
 * Maps a routing refusal to the error the app receives.
 */
import type { DecisionRefusal } from '../routing/types.js';
import { RoutecarError } from './errors.js';

export function refusalError(refusal: DecisionRefusal): RoutecarError {
  const candidates = refusal.candidates
    .filter((c) => c.excluded !== undefined)
    .map((c) => ({ backend: c.backend, reason: c.excluded }));
  return new RoutecarError(
    refusal.status,
    refusal.code,
    refusal.message,
    undefined,
    candidates.length ? { candidates } : undefined,
  );
}
