/**
 * What the router sees right now, read at each collection: breaker state, rolling-window
 * quantiles and error ratio, attempts in flight per backend, and the policy's version and reload
 * counts. These are the same numbers decide reads, so a dashboard shows what the router saw.
 * Breaker transitions are counted as they happen.
 *
 * A MetricProducer rather than observable instruments: the SDK keeps reporting an observable's
 * attribute set after it stops being observed, so a backend that left the policy, or the policy
 * version before a reload, would stay in every scrape forever. Built fresh each time, a series
 * disappears with the thing it describes.
 */
import { ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
import {
  AggregationTemporality,
  DataPointType,
  type CollectionResult,
  type DataPoint,
  type MetricData,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';
import type { Resource } from '@opentelemetry/resources';
import type { BackendStats, BreakerTransition } from '../health/registry.js';
import type { BreakerState, Quantiles } from '../health/types.js';
import type { LocalSpend } from '../budget/ledger.js';
import type { PolicyStatus } from '../policy/store-types.js';
import { CounterFamily, hrTimeOf } from './aggregates.js';
import { gaugeData as gauge, pointAt } from './gauge-producer.js';
import { ATTR, ROUTECAR, SCOPE } from './names.js';

/** Where the state comes from; attached once the runtime exists. */
export interface StateSources {
  readonly health: {
    allStats(): readonly BackendStats[];
    onBreakerTransition(listener: (t: BreakerTransition) => void): () => void;
  };
  readonly policy: { status(): PolicyStatus };
  /** This sidecar's spend of the budgeted tenants in their current windows; absent: none. */
  readonly spend?: { windowSpend(): readonly LocalSpend[] };
}

/** Breaker states as label values (snake case, like the rest of the label values). */
export const BREAKER_STATES: readonly (readonly [BreakerState, string])[] = [
  ['closed', 'closed'],
  ['halfOpen', 'half_open'],
  ['open', 'open'],
];

const QUANTILES: readonly (readonly [keyof Quantiles, string])[] = [
  ['p50', '0.5'],
  ['p95', '0.95'],
  ['p99', '0.99'],
];

const STATE_LABEL = new Map(BREAKER_STATES);

export class StateMetricsProducer implements MetricProducer {
  private sources: StateSources | undefined;
  private readonly startTime: HrTime;
  private readonly transitions: CounterFamily;

  /**
   * @param resource reported with the data (readers use the SDK's own and ignore this one)
   * @param now clock, epoch ms
   */
  constructor(
    private readonly resource: Resource,
    private readonly now: () => number = Date.now,
  ) {
    this.startTime = hrTimeOf(now());
    this.transitions = new CounterFamily(
      {
        name: ROUTECAR.breakerTransitions,
        unit: '{transition}',
        description: 'Breaker state changes, by backend and the state entered.',
      },
      () => hrTimeOf(this.now()),
    );
  }

  /** Starts reading from `sources` and counting their breaker transitions. */
  attach(sources: StateSources): void {
    this.sources = sources;
    sources.health.onBreakerTransition((t) => {
      const state = STATE_LABEL.get(t.state) ?? t.state;
      this.transitions
        .get(`${t.backend}\u0001${state}`, () => ({ [ATTR.backend]: t.backend, [ATTR.state]: state }))
        .add(1);
    });
  }

  collect(): Promise<CollectionResult> {
    const metrics = this.sources ? this.build(this.sources, hrTimeOf(this.now())) : [];
    return Promise.resolve({
      resourceMetrics: { resource: this.resource, scopeMetrics: [{ scope: { name: SCOPE }, metrics }] },
      errors: [],
    });
  }

  private build(sources: StateSources, now: HrTime): MetricData[] {
    const stats = sources.health.allStats();
    const breaker: DataPoint<number>[] = [];
    const latency: DataPoint<number>[] = [];
    const ttfb: DataPoint<number>[] = [];
    const errorRatio: DataPoint<number>[] = [];
    const windowRequests: DataPoint<number>[] = [];
    const inflight: DataPoint<number>[] = [];
    const point = (attributes: Attributes, value: number): DataPoint<number> =>
      pointAt(now, attributes, value);
    for (const s of stats) {
      const backend = { [ATTR.backend]: s.backend };
      for (const [state, label] of BREAKER_STATES) {
        breaker.push(point({ ...backend, [ATTR.state]: label }, s.breaker === state ? 1 : 0));
      }
      for (const [q, label] of QUANTILES) {
        if (s.latency) latency.push(point({ ...backend, [ATTR.quantile]: label }, s.latency[q] / 1000));
        if (s.ttfb) ttfb.push(point({ ...backend, [ATTR.quantile]: label }, s.ttfb[q] / 1000));
      }
      errorRatio.push(point(backend, s.errorRatio));
      windowRequests.push(point(backend, s.requests));
      inflight.push(point(backend, s.inflight));
    }
    const spend: DataPoint<number>[] = (sources.spend?.windowSpend() ?? []).map((s) =>
      point(
        { [ATTR.tenant]: s.tenant, [ATTR.window]: s.window, [ATTR.windowStart]: String(s.startMs / 1000) },
        s.usd,
      ),
    );
    const status = sources.policy.status();
    const reloads: DataPoint<number>[] = [
      {
        startTime: this.startTime,
        endTime: now,
        attributes: { [ATTR.result]: 'accepted' },
        value: status.reloads.accepted,
      },
      {
        startTime: this.startTime,
        endTime: now,
        attributes: { [ATTR.result]: 'refused' },
        value: status.reloads.refused,
      },
    ];
    const info: DataPoint<number>[] =
      status.version === undefined
        ? []
        : [
            point(
              {
                [ATTR.policyVersion]: status.version,
                [ATTR.policySource]: status.origin?.source ?? 'unknown',
              },
              1,
            ),
          ];
    return [
      gauge(
        ROUTECAR.breakerState,
        '',
        "1 for the breaker's current state (closed, half_open, open), 0 for the others.",
        breaker,
      ),
      gauge(
        ROUTECAR.windowLatencyQuantileSeconds,
        's',
        'Rolling-window latency quantiles of successful attempts (label routecar_quantile).',
        latency,
      ),
      gauge(
        ROUTECAR.windowTtfbQuantileSeconds,
        's',
        'Rolling-window time-to-first-byte quantiles of successful attempts (label routecar_quantile).',
        ttfb,
      ),
      gauge(ROUTECAR.windowErrorRatio, '1', 'Failed / finished attempts in the rolling window.', errorRatio),
      gauge(ROUTECAR.windowRequests, '{request}', 'Finished attempts in the rolling window.', windowRequests),
      gauge(ROUTECAR.inflightRequests, '{request}', 'Attempts in flight per backend.', inflight),
      counter(ROUTECAR.policyReloads, '{reload}', 'Policy updates accepted and refused.', reloads),
      gauge(
        ROUTECAR.policyInfo,
        '',
        'Always 1; the serving policy version and its source are the attributes.',
        info,
      ),
      gauge(
        ROUTECAR.tenantWindowSpendUsd,
        '{USD}',
        "This sidecar's spend of each budgeted tenant in the current UTC hour and day.",
        spend,
      ),
      this.transitions.toMetricData(),
    ].filter((m) => m.dataPoints.length > 0);
  }
}

function counter(
  name: string,
  unit: string,
  description: string,
  dataPoints: DataPoint<number>[],
): MetricData {
  return {
    descriptor: { name, unit, description, valueType: ValueType.INT },
    aggregationTemporality: AggregationTemporality.CUMULATIVE,
    dataPointType: DataPointType.SUM,
    isMonotonic: true,
    dataPoints,
  };
}
