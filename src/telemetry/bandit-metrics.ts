/**
 * The bandit's state as gauges, read at each collection from the bandit feed: each arm's expected
 * share of first attempts (`routecar.bandit.share`) and its posterior mean reward
 * (`routecar.bandit.reward.mean`), by route and backend. An arm that leaves the policy leaves the
 * scrape.
 */
import type { HrTime } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { DataPoint, MetricData } from '@opentelemetry/sdk-metrics';
import { GaugeProducer, gaugeData, pointAt } from './gauge-producer.js';
import { ATTR, ROUTECAR } from './names.js';

/** What the producer reads: route → backend → figures (src/feedback/bandit-feed.ts `snapshot`). */
export interface BanditSource {
  snapshot(): Record<string, Record<string, { readonly meanReward: number; readonly share: number }>>;
}

export function banditMetrics(resource: Resource, now?: () => number): GaugeProducer<BanditSource> {
  return new GaugeProducer(resource, build, now);
}

function build(source: BanditSource, now: HrTime): MetricData[] {
  const share: DataPoint<number>[] = [];
  const mean: DataPoint<number>[] = [];
  for (const [route, arms] of Object.entries(source.snapshot())) {
    for (const [backend, a] of Object.entries(arms)) {
      const attributes = { [ATTR.route]: route, [ATTR.backend]: backend };
      share.push(pointAt(now, attributes, a.share));
      mean.push(pointAt(now, attributes, a.meanReward));
    }
  }
  return [
    gaugeData(
      ROUTECAR.banditShare,
      '1',
      "Bandit routes: each arm's expected share of first attempts.",
      share,
    ),
    gaugeData(
      ROUTECAR.banditRewardMean,
      '1',
      "Bandit routes: each arm's posterior mean reward (0..1).",
      mean,
    ),
  ];
}
