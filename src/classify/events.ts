/**
 * What the classifier client reports: one event per label asked for, on the diagnostics channel
 * {@link CLASSIFIER_CHANNEL} (as undici reports its requests), so classify/ depends on no metrics
 * code and telemetry subscribes when it is on.
 */
import diagnostics from 'node:diagnostics_channel';

/** How asking a classifier ended. Every outcome but `labelled` and `cached` is "no label". */
export type ClassifierOutcome =
  /** The service answered with a valid label. */
  | 'labelled'
  /** The label came from the cache; no call was made. */
  | 'cached'
  /** No answer within `timeoutMs`. */
  | 'timeout'
  /** Connection refused or reset, or a non-2xx status. */
  | 'error'
  /** A 2xx answer that is not `{"label": "<non-empty string>", "score": 0..1}`. */
  | 'malformed';

export interface ClassifierReport {
  /** The classifier's name in the policy. */
  readonly classifier: string;
  readonly outcome: ClassifierOutcome;
  /** Time spent waiting for it (0 for a cache hit), ms. */
  readonly durationMs: number;
}

/** The diagnostics channel every {@link ClassifierReport} is published on. */
export const CLASSIFIER_CHANNEL = 'routecar:classifier';

const channel = diagnostics.channel(CLASSIFIER_CHANNEL);

/** Publishes a report when anyone listens (building it costs nothing otherwise). */
export function reportClassification(
  classifier: string,
  outcome: ClassifierOutcome,
  durationMs: number,
): void {
  if (channel.hasSubscribers) channel.publish({ classifier, outcome, durationMs } satisfies ClassifierReport);
}
