/**
 * The bandit's state as gauges, read at each collection from the bandit feed: each arm's expected
 * share of first attempts (`routecar.bandit.share`) and its posterior mean reward
 * (`routecar.bandit.reward.mean`), by route and backend. Built fresh each time, so an arm that
 * leaves the policy leaves the scrape.
 */
import { ValueType, type HrTime } from '@opentelemetry/api';
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

/** What the producer reads: route → backend → figures (src/feedback/bandit-feed.ts `snapshot`). */
export interface BanditSource {
  snapshot(): Record<string, Record<string, { readonly meanReward: number; readonly share: number }>>;
}

export class BanditMetrics implements MetricProducer {
  private source: BanditSource | undefined;

  constructor(
    private readonly resource: Resource,
    private readonly now: () => number = Date.now,
  ) {}

  attach(source: BanditSource): void {
    this.source = source;
  }

  collect(): Promise<CollectionResult> {
    const metrics = this.source ? build(this.source, hrTimeOf(this.now())) : [];
    return Promise.resolve({
      resourceMetrics: { resource: this.resource, scopeMetrics: [{ scope: { name: SCOPE }, metrics }] },
      errors: [],
    });
  }
}

function build(source: BanditSource, now: HrTime): MetricData[] {
  const share: DataPoint<number>[] = [];
  const mean: DataPoint<number>[] = [];
  for (const [route, arms] of Object.entries(source.snapshot())) {
    for (const [backend, a] of Object.entries(arms)) {
      const attributes = { [ATTR.route]: route, [ATTR.backend]: backend };
      share.push({ startTime: now, endTime: now, attributes, value: a.share });
      mean.push({ startTime: now, endTime: now, attributes, value: a.meanReward });
    }
  }
  if (share.length === 0) return [];
  const gauge = (name: string, description: string, dataPoints: DataPoint<number>[]): MetricData => ({
    descriptor: { name, unit: '1', description, valueType: ValueType.DOUBLE },
    aggregationTemporality: AggregationTemporality.CUMULATIVE,
    dataPointType: DataPointType.GAUGE,
    dataPoints,
  });
  return [
    gauge(ROUTECAR.banditShare, "Bandit routes: each arm's expected share of first attempts.", share),
    gauge(ROUTECAR.banditRewardMean, "Bandit routes: each arm's posterior mean reward (0..1).", mean),
  ];
}
