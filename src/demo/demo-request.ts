/**
 * The request the `npm start` banner tells people to send in a loop, and which backend it goes to
 * under the loaded policy: the backend the banner then suggests taking down, so the demo shows a
 * failover rather than a backend nobody was using going quiet.
 */
import { extractRequest } from '../ingress/extract.js';
import type { HealthLookup } from '../health/types.js';
import type { CompiledPolicy } from '../policy/types.js';
import { decide } from '../routing/decide.js';

/** The loop's body (as JSON text, for the shell command and for the decision alike). */
export const DEMO_REQUEST_BODY = '{"model":"chat","messages":[{"role":"user","content":"hi"}]}';

/**
 * The first backend the policy would send the demo request to now, or undefined when it would
 * refuse it (no `chat` route, every backend down).
 */
export function demoServingBackend(
  policy: CompiledPolicy,
  health: HealthLookup,
  nowMs: number,
): string | undefined {
  const { features } = extractRequest(
    'chat.completions',
    { 'content-type': 'application/json' },
    Buffer.from(DEMO_REQUEST_BODY),
  );
  // A fixed draw: the banner names one backend, the one the middle of the distribution picks.
  const result = decide({ policy, health, features, nowMs, random: () => 0.5 });
  return result.ok ? result.decision.attempts[0] : undefined;
}
