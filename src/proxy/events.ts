/**
 * What the request path reports as it happens. The health registry, telemetry and the request
 * log all consume these same events, so what a dashboard shows is what the router saw.
 */
import type { Endpoint } from '../ingress/features.js';
import type { Outcome } from './classify.js';
import type { TokenUsage } from './usage.js';

/** One backend tried for one request. */
export interface AttemptReport {
  readonly requestId: string;
  readonly route: string;
  readonly backend: string;
  readonly variant: string;
  /** 1-based position in the attempt list. */
  readonly attempt: number;
  readonly outcome: Outcome;
  /** Upstream status, when a response head arrived. */
  readonly status: number | undefined;
  /** Epoch ms when the attempt started. */
  readonly startedAtMs: number;
  /** Time to the response head, ms. */
  readonly ttfbMs: number | undefined;
  /** Time to the end of the attempt, ms. */
  readonly durationMs: number;
}

/** Traffic moved from one backend to the next within a request. */
export interface FailoverReport {
  readonly requestId: string;
  readonly route: string;
  readonly from: string;
  readonly to: string;
  readonly reason: string;
}

/** A request finished (answered, failed, or abandoned by the app). */
export interface RequestReport {
  readonly requestId: string;
  readonly endpoint: Endpoint;
  readonly requestedRoute: string;
  readonly route: string;
  /** Backend that produced the answer, if any. */
  readonly backend: string | undefined;
  /** Backend's own model name, if any. */
  readonly responseModel: string | undefined;
  readonly variant: string;
  readonly attempts: number;
  /** HTTP status sent to the app (0 when the app hung up first). */
  readonly status: number;
  /** routecar's error code when routecar itself answered with an error. */
  readonly errorCode: string | undefined;
  readonly stream: boolean;
  readonly startedAtMs: number;
  readonly durationMs: number;
  /** Time to the first byte sent to the app, ms. */
  readonly ttfbMs: number | undefined;
  readonly usage: TokenUsage | undefined;
  /** USD cost at the serving backend's prices, when usage was seen. */
  readonly costUsd: number | undefined;
  readonly tenant: string | undefined;
  readonly policyVersion: string;
  readonly rule: string | undefined;
  readonly reason: string;
}

/** Anyone interested in the request path's events; every method is optional. */
export interface RequestObserver {
  attemptStarted?(backend: string): void;
  attemptFinished?(report: AttemptReport): void;
  failover?(report: FailoverReport): void;
  requestFinished?(report: RequestReport): void;
}
