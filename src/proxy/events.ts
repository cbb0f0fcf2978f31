/**
 * What the request path reports as it happens. The health registry, telemetry and the request
 * log all consume these same events, so what a dashboard shows is what the router saw.
 */
import type { ClassLabel, Endpoint, PromptSummary, RequestFeatures } from '../ingress/features.js';
import type { Outcome } from '../outcome/classify.js';
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
  /** Which OpenAI endpoint the request called. */
  readonly endpoint: Endpoint;
  /** Whether the app asked for a stream. */
  readonly stream: boolean;
  /**
   * Time from the attempt's start to the first body chunk after the response head, ms. For a
   * stream this is the time to the first token as routecar can see it (the first SSE event).
   */
  readonly firstChunkMs: number | undefined;
  /** Token usage read off a successful response (JSON `usage`, or a stream's final usage chunk). */
  readonly usage: TokenUsage | undefined;
}

/** Traffic moved from one backend to the next within a request. */
export interface FailoverReport {
  readonly requestId: string;
  readonly route: string;
  readonly from: string;
  readonly to: string;
  /** Human-readable, e.g. `server_error (HTTP 503)`; for logs. */
  readonly reason: string;
  /** The classified outcome of the attempt that was given up (a failure, or a breaker refusal). */
  readonly outcome: Outcome;
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
  /** The tenant, when the policy names it under `budgets.tenants` (a bounded label for spend). */
  readonly budgetTenant?: string | undefined;
  readonly policyVersion: string;
  /** The first rule that applied (Decision.rule). */
  readonly rule: string | undefined;
  readonly reason: string;
  /** The request's features as rules saw them (the access log records them for `policy replay`). */
  readonly features?: RequestFeatures;
  /** Every rule that applied, in order (Decision.rules / DecisionRefusal.rules). */
  readonly rules?: readonly string[];
  /** Labels of the classifiers asked, null for no label (Decision.classes). */
  readonly classes?: Readonly<Record<string, ClassLabel | null>>;
  /** Hash and length of the prompt text when a rule read it (Decision.prompt); never the text. */
  readonly prompt?: PromptSummary;
  /**
   * Outcome of the attempt that answered, when one committed a response; a stream that broke
   * after its head went out reports status 200 and a failure here.
   */
  readonly outcome?: Outcome | undefined;
  /** Prefix affinity's outcome for the first attempt (Decision.affinity); absent on routes without affinity. */
  readonly affinity?: 'home' | 'skipped' | 'none' | undefined;
}

/** What is known when forwarding starts: the decision is made, no attempt has been sent yet. */
export interface RequestStart {
  readonly requestId: string;
  readonly endpoint: Endpoint;
  readonly requestedRoute: string;
  readonly route: string;
  readonly variant: string;
  readonly stream: boolean;
  /** Epoch ms when the request arrived. */
  readonly startedAtMs: number;
  readonly policyVersion: string;
  readonly rule: string | undefined;
  /** The decision's one-line reason. */
  readonly reason: string;
  /** The app's W3C `traceparent` header, when it sent one. */
  readonly traceparent: string | undefined;
  /** The app's W3C `tracestate` header, when it sent one. */
  readonly tracestate: string | undefined;
}

/**
 * A per-request scope an observer may open when forwarding starts (tracing opens one span per
 * request here). The forwarder calls `attempt` before each attempt and `end` once at the end.
 */
export interface RequestScope {
  /** Attempt number `attempt` (1-based) is about to go to `backend`. */
  attempt(backend: string, attempt: number): AttemptScope;
  /** The request finished; called once, with the report `requestFinished` receives. */
  end(report: RequestReport): void;
}

/** The scope of one attempt. */
export interface AttemptScope {
  /** Headers to set on this attempt's upstream request (e.g. `traceparent`); may be empty. */
  readonly headers: Readonly<Record<string, string>>;
  /** The attempt ended; `undefined` when it never ran (the breaker refused it, or the backend left the policy). */
  end(report: AttemptReport | undefined): void;
}

/** Anyone interested in the request path's events; every method is optional. */
export interface RequestObserver {
  /**
   * Forwarding starts (after the decision). An observer that wants to follow the request's
   * attempts returns a scope; most return nothing. Refused requests never get here.
   */
  requestStarted?(start: RequestStart): RequestScope | undefined;
  attemptFinished?(report: AttemptReport): void;
  failover?(report: FailoverReport): void;
  requestFinished?(report: RequestReport): void;
}
