/**
 * `routecar.canary.guard.breached` (Prometheus `routecar_canary_guard_breached`): 1 while this
 * sidecar's local canary guard drops a route's candidate, 0 while the guard is armed and holds,
 * by route and candidate backend; absent without a canary spec. Read at each collection.
 */
import type { HrTime } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { MetricData } from '@opentelemetry/sdk-metrics';
import { GaugeProducer, gaugeData, pointAt } from './gauge-producer.js';
import { ATTR, ROUTECAR } from './names.js';

/** route → the guard's candidate and whether it is dropped now (src/canary/guard-watch.ts `status`). */
export interface CanaryGuardSource {
  status(): Record<string, { readonly candidate: string; readonly breached: string | null }>;
}

export function canaryGuardMetrics(resource: Resource, now?: () => number): GaugeProducer<CanaryGuardSource> {
  return new GaugeProducer(resource, build, now);
}

function build(source: CanaryGuardSource, now: HrTime): MetricData[] {
  const points = Object.entries(source.status()).map(([route, g]) =>
    pointAt(now, { [ATTR.route]: route, [ATTR.backend]: g.candidate }, g.breached === null ? 0 : 1),
  );
  return [
    gaugeData(
      ROUTECAR.canaryGuardBreached,
      '',
      "1 while this sidecar's local canary guard drops the route's candidate, else 0.",
      points,
    ),
  ];
}
