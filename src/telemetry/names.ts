/**
 * Every metric routecar exports: name, unit, bucket boundaries and attribute keys, in one place.
 * docs/metrics.md documents the same list; the Prometheus name of each is the OTel name with dots
 * turned into underscores, the unit suffix (`_seconds`) unless the name already ends with it, and
 * `_total` for counters: what an OpenTelemetry Collector's Prometheus exporter makes of the same
 * OTLP data (prometheus-names.ts), so one dashboard fits both paths.
 */

/** GenAI semantic-convention instruments (names, units and boundaries fixed by the convention). */
export const GEN_AI = {
  /** Histogram, seconds: one backend call (one attempt), from sending it to its last byte. */
  operationDuration: 'gen_ai.client.operation.duration',
  /** Histogram, {token}: input and output tokens of one successful call (`gen_ai.token.type`). */
  tokenUsage: 'gen_ai.client.token.usage',
  /** Histogram, seconds: streams only, from sending the call to the first body chunk. */
  timeToFirstChunk: 'gen_ai.client.operation.time_to_first_chunk',
  /**
   * Histogram, seconds: streams with usage only, one value per stream: the mean time per output
   * chunk after the first, (duration − time to first chunk) / (output tokens − 1), taking one
   * token per chunk as OpenAI-compatible servers stream them.
   */
  timePerOutputChunk: 'gen_ai.client.operation.time_per_output_chunk',
} as const;

/** routecar's own instruments. */
export const ROUTECAR = {
  /** Counter: app requests by route, backend, variant and outcome. */
  requests: 'routecar.requests',
  /** Counter: traffic moved from one backend to the next within a request. */
  failovers: 'routecar.failovers',
  /** Counter, USD (unit `{USD}`): cost of answered requests at the serving backend's prices. */
  costUsd: 'routecar.cost.usd',
  /**
   * Counter, USD: spend of the tenants the policy names under `budgets.tenants` (a label the
   * policy bounds); the fleet view sums it across sidecars to enforce fleet-wide budgets.
   */
  tenantSpendUsd: 'routecar.tenant.spend.usd',
  /**
   * Gauge, USD: this sidecar's spend of each budgeted tenant in the current UTC hour and day
   * (labels `routecar.window`, `routecar.window_start`); the fleet view sums it across sidecars.
   */
  tenantWindowSpendUsd: 'routecar.tenant.window.spend.usd',
  /** Counter: breaker state changes, by backend and the state entered. */
  breakerTransitions: 'routecar.breaker.transitions',
  /** Gauge (state set): 1 for the breaker's current state, 0 for the other two. */
  breakerState: 'routecar.breaker.state',
  /**
   * Gauge, seconds: rolling-window latency quantiles of successful attempts, one series per
   * `routecar.quantile` (not `quantile`: Prometheus reserves that label for summaries).
   */
  windowLatencyQuantileSeconds: 'routecar.window.latency.quantile.seconds',
  /** Gauge, seconds: rolling-window time-to-first-byte quantiles of successful attempts, as above. */
  windowTtfbQuantileSeconds: 'routecar.window.ttfb.quantile.seconds',
  /** Gauge, ratio 0..1: failed / finished attempts in the rolling window. */
  windowErrorRatio: 'routecar.window.error_ratio',
  /** Gauge: finished attempts in the rolling window (the error ratio's denominator). */
  windowRequests: 'routecar.window.requests',
  /** Gauge: attempts in flight per backend, as the router counts them. */
  inflightRequests: 'routecar.inflight.requests',
  /** Counter: policy updates accepted (swapped or unchanged) and refused. */
  policyReloads: 'routecar.policy.reloads',
  /** Gauge (info): 1, with the serving policy's version and source as attributes. */
  policyInfo: 'routecar.policy.info',
  /** Histogram, ratio 0..1: feedback scores posted to /v1/feedback, by route, backend and variant. */
  feedbackScore: 'routecar.feedback.score',
  /** Gauge, ratio 0..1: a bandit arm's expected share of first attempts, by route and backend. */
  banditShare: 'routecar.bandit.share',
  /** Gauge, ratio 0..1: a bandit arm's posterior mean reward, by route and backend. */
  banditRewardMean: 'routecar.bandit.reward.mean',
  /** Gauge: 1 while the local canary guard drops a route's candidate, 0 while it holds. */
  canaryGuardBreached: 'routecar.canary.guard.breached',
  /**
   * Counter: requests of routes with prefix affinity, by route and `routecar.affinity.outcome`:
   * `home` (the prompt prefix's home backend took the first attempt), `skipped` (the home was
   * passed over for its load, score or health), `none` (the request had no prefix).
   */
  affinityRequests: 'routecar.affinity.requests',
  /** Counter: labels asked of a classifier, by classifier and outcome (cached, labelled, timeout, error, malformed). */
  classifierCalls: 'routecar.classifier.calls',
} as const;

/** Attribute keys. Prometheus shows them with dots turned into underscores. */
export const ATTR = {
  operation: 'gen_ai.operation.name',
  /** Which OpenAI API was called; tells a Responses call from a chat completion (both `chat`). */
  apiType: 'openai.api.type',
  provider: 'gen_ai.provider.name',
  requestModel: 'gen_ai.request.model',
  responseModel: 'gen_ai.response.model',
  tokenType: 'gen_ai.token.type',
  errorType: 'error.type',
  serverAddress: 'server.address',
  serverPort: 'server.port',
  route: 'routecar.route',
  backend: 'routecar.backend',
  variant: 'routecar.variant',
  outcome: 'routecar.outcome',
  tenant: 'routecar.tenant',
  failoverFrom: 'routecar.failover.from',
  failoverTo: 'routecar.failover.to',
  failoverReason: 'routecar.failover.reason',
  state: 'state',
  quantile: 'routecar.quantile',
  result: 'result',
  policyVersion: 'routecar.policy.version',
  policySource: 'routecar.policy.source',
  classifier: 'routecar.classifier',
  /** `reported` (the backend's usage) or `estimated` (routecar counted: no usage came back). */
  usage: 'routecar.usage',
  /** Prefix affinity's outcome: `home`, `skipped` or `none`. */
  affinityOutcome: 'routecar.affinity.outcome',
  /** A budget window: `hour` or `day` (UTC). */
  window: 'routecar.window',
  /** Start of that window, epoch seconds. */
  windowStart: 'routecar.window_start',
} as const;

/** Recommended by the GenAI conventions for `gen_ai.client.operation.duration`, seconds. */
export const DURATION_BUCKETS_S: readonly number[] = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/** Recommended for `gen_ai.client.token.usage`: powers of 4 from 1 to 67,108,864. */
export const TOKEN_BUCKETS: readonly number[] = Array.from({ length: 14 }, (_, i) => 4 ** i);

/**
 * Recommended for `gen_ai.client.operation.time_to_first_chunk` and `time_per_output_chunk`:
 * the duration boundaries, seconds.
 */
export const CHUNK_BUCKETS_S: readonly number[] = DURATION_BUCKETS_S;

/** `gen_ai.provider.name` when a backend has no `provider` label: the protocol routecar speaks. */
export const DEFAULT_PROVIDER = 'openai';

/** The instrumentation scope routecar's instruments are created under. */
export const SCOPE = 'routecar';
