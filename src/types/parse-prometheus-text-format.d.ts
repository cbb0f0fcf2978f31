/**
 * Types for parse-prometheus-text-format 1.1.1 (it ships none), checked against
 * node_modules/parse-prometheus-text-format/dist/parse-prometheus-text-format.esm.js.
 * The output follows prom2json: values stay strings, as written in the exposition.
 */
declare module 'parse-prometheus-text-format' {
  namespace parsePrometheusTextFormat {
    /** One sample of a counter, gauge or untyped family. */
    interface ValueSample {
      readonly value: string;
      readonly labels?: Readonly<Record<string, string>>;
      readonly timestamp_ms?: string;
    }
    /** One labelled series of a histogram (`buckets`) or summary (`quantiles`). */
    interface DistributionSample {
      readonly buckets?: Readonly<Record<string, string>>;
      readonly quantiles?: Readonly<Record<string, string>>;
      readonly count: string;
      readonly sum: string;
      readonly labels?: Readonly<Record<string, string>>;
    }
    interface MetricFamily {
      readonly name: string;
      readonly help: string;
      readonly type: 'COUNTER' | 'GAUGE' | 'UNTYPED' | 'HISTOGRAM' | 'SUMMARY';
      readonly metrics: readonly (ValueSample | DistributionSample)[];
    }
  }
  /** Parses Prometheus text exposition; lines it cannot read are skipped, so garbage gives `[]`. */
  function parsePrometheusTextFormat(text: string): parsePrometheusTextFormat.MetricFamily[];
  export default parsePrometheusTextFormat;
}
