/**
 * The request observer that fills the feedback memory: every request a backend answered is
 * remembered under its `x-request-id` with its route, backend and variant. Refused requests (no
 * backend) are not: there is nothing to attribute feedback to.
 */
import type { RequestObserver } from '../proxy/events.js';
import type { RequestMemory } from './memory.js';

export function rememberRequests(memory: RequestMemory, now: () => number = Date.now): RequestObserver {
  return {
    requestFinished(r) {
      if (r.backend !== undefined) memory.remember(r.requestId, r.route, r.backend, r.variant, now());
    },
  };
}
