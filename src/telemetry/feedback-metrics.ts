/**
 * `routecar.feedback.score` (Prometheus `routecar_feedback_score_{bucket,sum,count}`): a histogram
 * of the scores posted to `/v1/feedback`, by route, backend and variant. Sum over count is an
 * arm's mean feedback, which the canary controller's `minFeedbackDelta` guard reads fleet-wide.
 * A MetricProducer like the others, so it goes out through the same readers.
 */
import type { Resource } from '@opentelemetry/resources';
import type { CollectionResult, MetricProducer } from '@opentelemetry/sdk-metrics';
import type { FeedbackEvent } from '../feedback/feedback.js';
import { hrTimeOf, HistogramFamily } from './aggregates.js';
import { ATTR, ROUTECAR, SCOPE } from './names.js';

/** Tenths: enough to tell a thumbs-up from a thumbs-down and a graded score's spread. */
export const FEEDBACK_BUCKETS: readonly number[] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1];

export class FeedbackMetrics implements MetricProducer {
  private readonly scores: HistogramFamily;

  constructor(
    private readonly resource: Resource,
    private readonly now: () => number = Date.now,
  ) {
    this.scores = new HistogramFamily(
      {
        name: ROUTECAR.feedbackScore,
        unit: '1',
        description: 'Feedback scores (0..1) posted to /v1/feedback, by route, backend and variant.',
      },
      FEEDBACK_BUCKETS,
      () => hrTimeOf(this.now()),
    );
  }

  /** Records one accepted feedback. */
  record(e: FeedbackEvent): void {
    this.scores
      .get(`${e.route}\u0001${e.backend}\u0001${e.variant}`, () => ({
        [ATTR.route]: e.route,
        [ATTR.backend]: e.backend,
        [ATTR.variant]: e.variant,
      }))
      .record(e.score);
  }

  collect(): Promise<CollectionResult> {
    return Promise.resolve({
      resourceMetrics: {
        resource: this.resource,
        scopeMetrics: [{ scope: { name: SCOPE }, metrics: [this.scores.toMetricData()] }],
      },
      errors: [],
    });
  }
}
