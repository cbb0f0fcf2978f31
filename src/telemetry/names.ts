/**
 * Every metric routecar exports: name, unit, bucket boundaries and attribute keys, in one place.
 * docs/metrics.md documents the same list; the Prometheus name of each is the OTel name with dots
 * turned into underscores, plus `_total` for counters (the exporter adds no unit suffix, so
 * routecar's own names carry their unit).
 */

/** GenAI semantic-convention instruments (names, units and boundaries fixed by the convention). */
export const GEN_AI = {
  /** Histogram, seconds: one backend call (one attempt), from sending it to its last byte. */
  operationDuration: 'gen_ai.client.operation.duration',
  /** Histogram, {token}: input and output tokens of one successful call (`gen_ai.token.type`). */
  tokenUsage: 'gen_ai.client.token.usage',
  /** Histogram, seconds: streams only, from sending the call to the first body chunk. */
  timeToFirstToken: 'gen_ai.server.time_to_first_token',
  /** Histogram, seconds: streams only, (duration − time to first token) / (output tokens − 1). */
  timePerOutputToken: 'gen_ai.server.time_per_output_token',
} as const;

/** routecar's own instruments. */
export const ROUTECAR = {
  /** Counter: app requests by route, backend, variant and outcome. */
  requests: 'routecar.requests',
  /** Counter: traffic moved from one backend to the next within a request. */
  failovers: 'routecar.failovers',
  /** Counter, USD: cost of answered requests at the serving backend's prices. */
  costUsd: 'routecar.cost.usd',
  /** Counter: breaker state changes, by backend and the state entered. */
  breakerTransitions: 'routecar.breaker.transitions',
  /** Gauge (state set): 1 for the breaker's current state, 0 for the other two. */
  breakerState: 'routecar.breaker.state',
  /** Gauge, seconds: rolling-window latency quantiles of successful attempts. */
  windowLatencySeconds: 'routecar.window.latency.seconds',
  /** Gauge, seconds: rolling-window time-to-first-byte quantiles of successful attempts. */
  windowTtfbSeconds: 'routecar.window.ttfb.seconds',
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
} as const;

/** Attribute keys. Prometheus shows them with dots turned into underscores. */
export const ATTR = {
  operation: 'gen_ai.operation.name',
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
  quantile: 'quantile',
  result: 'result',
  policyVersion: 'routecar.policy.version',
  policySource: 'routecar.policy.source',
} as const;

/** Recommended by the GenAI conventions for `gen_ai.client.operation.duration`, seconds. */
export const DURATION_BUCKETS_S: readonly number[] = [
  0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
];

/** Recommended for `gen_ai.client.token.usage`: powers of 4 from 1 to 67,108,864. */
export const TOKEN_BUCKETS: readonly number[] = Array.from({ length: 14 }, (_, i) => 4 ** i);

/** Recommended for `gen_ai.server.time_to_first_token`, seconds. */
export const TTFT_BUCKETS_S: readonly number[] = [
  0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10,
];

/** Recommended for `gen_ai.server.time_per_output_token`, seconds. */
export const TPOT_BUCKETS_S: readonly number[] = [
  0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5,
];

/** `gen_ai.provider.name` when a backend has no `provider` label: the protocol routecar speaks. */
export const DEFAULT_PROVIDER = 'openai';

/** The instrumentation scope routecar's instruments are created under. */
export const SCOPE = 'routecar';
