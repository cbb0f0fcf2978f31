/**
 * The fleet's per-arm figures, from a Prometheus-compatible query API (`GET /api/v1/query`; Thanos,
 * Mimir and VictoriaMetrics serve the same), over the series every sidecar already exports
 * (docs/metrics.md). Attempt-level: `gen_ai_client_operation_duration_seconds_count` counts every
 * call to a backend, so a candidate whose failures are hidden from the app by failover still shows.
 */
import { queryVector } from '../fleet/prometheus-query.js';
import type { ArmFigures, FleetFigures } from './step.js';

/** Per query: a slow Prometheus pauses the canary rather than holding its step. */
const QUERY_TIMEOUT_MS = 5_000;

/** A PromQL string literal. */
function literal(value: string): string {
  return JSON.stringify(value);
}

/** The PromQL of each figure, for a route over the last `rangeS` seconds (exported for docs and tests). */
export function figureQueries(route: string, rangeS: number): Record<string, string> {
  const sel = (extra = ''): string => `{routecar_route=${literal(route)}${extra}}`;
  const inc = (series: string, extra = ''): string =>
    `sum by (routecar_backend) (increase(${series}${sel(extra)}[${rangeS}s]))`;
  return {
    attempts: inc('gen_ai_client_operation_duration_seconds_count'),
    errors: inc('gen_ai_client_operation_duration_seconds_count', ',error_type!=""'),
    ttftP95: `histogram_quantile(0.95, sum by (routecar_backend, le) (increase(gen_ai_client_operation_time_to_first_chunk_seconds_bucket${sel()}[${rangeS}s])))`,
    costUsd: inc('routecar_cost_usd_total'),
    answered: inc('routecar_requests_total', ',routecar_outcome="success"'),
    feedbackSum: inc('routecar_feedback_score_sum'),
    feedbackCount: inc('routecar_feedback_score_count'),
    guardBreached: `sum by (routecar_backend) (routecar_canary_guard_breached${sel()})`,
  };
}

/**
 * Both arms' figures over the last `rangeS` seconds. Any failed query makes the whole answer
 * `ok: false`: the controller never judges on half the picture.
 */
export async function readFleetFigures(
  baseUrl: string,
  route: string,
  arms: { readonly baseline: string; readonly candidate: string },
  rangeS: number,
): Promise<FleetFigures> {
  const queries = figureQueries(route, Math.max(1, Math.ceil(rangeS)));
  try {
    const names = Object.keys(queries);
    const results = await Promise.all(
      names.map((n) =>
        queryVector(baseUrl, queries[n]!, 'routecar_backend', AbortSignal.timeout(QUERY_TIMEOUT_MS)),
      ),
    );
    const m = Object.fromEntries(names.map((n, i) => [n, results[i]!]));
    const arm = (backend: string): ArmFigures => {
      const answered = m.answered!.get(backend) ?? 0;
      const cost = m.costUsd!.get(backend);
      const fbCount = m.feedbackCount!.get(backend) ?? 0;
      const breached = m.guardBreached!.get(backend) ?? 0;
      return {
        attempts: m.attempts!.get(backend) ?? 0,
        errors: m.errors!.get(backend) ?? 0,
        ...(m.ttftP95!.has(backend) ? { ttftP95S: m.ttftP95!.get(backend) } : {}),
        ...(cost !== undefined && answered > 0 ? { costPerRequestUsd: cost / answered } : {}),
        ...(fbCount > 0 ? { feedbackMean: (m.feedbackSum!.get(backend) ?? 0) / fbCount } : {}),
        ...(breached > 0 ? { guardBreachedPods: breached } : {}),
      };
    };
    return { ok: true, baseline: arm(arms.baseline), candidate: arm(arms.candidate) };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}
