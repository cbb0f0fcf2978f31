/**
 * The error an attempt's classified failure travels as, through the breaker and the forwarder.
 * A leaf module: the proxy, health and telemetry layers all import it, and it imports only the
 * classification.
 */
import type { FailureClass, Outcome } from './classify.js';

/** A failed outcome, as classify produces it. */
export type FailureOutcome = Extract<Outcome, { kind: 'failure' }>;

/**
 * What an attempt rejects with when classify called it a failure. Only this error counts
 * against the backend's breaker; every other rejection is routecar's own bug and passes through
 * without opening anything.
 */
export class AttemptFailedError extends Error {
  /** Stable code. */
  readonly code = 'ROUTECAR_ATTEMPT_FAILED';
  /** The classified outcome (the same object the registry receives). */
  readonly outcome: FailureOutcome;

  constructor(outcome: FailureOutcome, options?: { cause?: unknown }) {
    super(`attempt failed: ${outcome.failure}`, options);
    this.name = 'AttemptFailedError';
    this.outcome = outcome;
  }

  /** How the attempt failed. */
  get failure(): FailureClass {
    return this.outcome.failure;
  }
}
