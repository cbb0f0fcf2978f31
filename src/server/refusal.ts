/**
 * Maps a routing refusal to the error and the headers the app receives. The requested model
 * name is the app's text: it is quoted in the message only bounded and JSON-escaped, and never
 * goes into a header (a CR/LF or non-Latin-1 character would make Node throw, and a long name
 * would overflow the client's header limit).
 */
import { quoteClientText } from '../ingress/client-text.js';
import type { CompiledPolicy } from '../policy/types.js';
import type { DecisionRefusal } from '../routing/types.js';
import { RoutecarError } from './errors.js';

export function refusalError(refusal: DecisionRefusal): RoutecarError {
  const candidates = refusal.candidates
    .filter((c) => c.excluded !== undefined)
    .map((c) => ({ backend: c.backend, reason: c.excluded }));
  return new RoutecarError(refusal.code, boundedMessage(refusal), {
    status: refusal.status,
    details: candidates.length ? { candidates } : undefined,
  });
}

/**
 * routecar's headers on a refusal: the policy version, and `x-routecar-route` only when the
 * refusal's route is one the policy knows (route names follow the policy's name grammar, so
 * they are safe header values).
 */
export function refusalHeaders(refusal: DecisionRefusal, policy: CompiledPolicy): Record<string, string> {
  return policy.routes.has(refusal.route)
    ? { 'x-routecar-route': refusal.route, 'x-routecar-policy-version': policy.version }
    : { 'x-routecar-policy-version': policy.version };
}

/** decide quotes the requested name as sent; here it becomes a bounded JSON literal. */
function boundedMessage(refusal: DecisionRefusal): string {
  if (refusal.code !== 'model_not_found') return refusal.message;
  const requested = refusal.requestedRoute;
  return refusal.message.replace(`"${requested}"`, () => quoteClientText(requested));
}
