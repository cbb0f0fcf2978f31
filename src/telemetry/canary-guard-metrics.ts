/**
 * `routecar.canary.guard.breached` (Prometheus `routecar_canary_guard_breached`): 1 while this
 * sidecar's local canary guard drops a route's candidate, 0 while the guard is armed and holds,
 * by route and candidate backend; absent without a canary spec. Read at each collection.
 */
import { ValueType } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  DataPointType,
  type CollectionResult,
  type DataPoint,
  type MetricData,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';
import { hrTimeOf } from './aggregates.js';
import { ATTR, ROUTECAR, SCOPE } from './names.js';

/** route → the guard's candidate and whether it is dropped now (src/canary/guard-watch.ts `status`). */
export interface CanaryGuardSource {
  status(): Record<string, { readonly candidate: string; readonly breached: string | null }>;
}

export class CanaryGuardMetrics implements MetricProducer {
  private source: CanaryGuardSource | undefined;

  constructor(
    private readonly resource: Resource,
    private readonly now: () => number = Date.now,
  ) {}

  attach(source: CanaryGuardSource): void {
    this.source = source;
  }

  collect(): Promise<CollectionResult> {
    const now = hrTimeOf(this.now());
    const points: DataPoint<number>[] = Object.entries(this.source?.status() ?? {}).map(([route, g]) => ({
      startTime: now,
      endTime: now,
      attributes: { [ATTR.route]: route, [ATTR.backend]: g.candidate },
      value: g.breached === null ? 0 : 1,
    }));
    const metrics: MetricData[] =
      points.length === 0
        ? []
        : [
            {
              descriptor: {
                name: ROUTECAR.canaryGuardBreached,
                unit: '',
                description: "1 while this sidecar's local canary guard drops the route's candidate, else 0.",
                valueType: ValueType.DOUBLE,
              },
              aggregationTemporality: AggregationTemporality.CUMULATIVE,
              dataPointType: DataPointType.GAUGE,
              dataPoints: points,
            },
          ];
    return Promise.resolve({
      resourceMetrics: { resource: this.resource, scopeMetrics: [{ scope: { name: SCOPE }, metrics }] },
      errors: [],
    });
  }
}
