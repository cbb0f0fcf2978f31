/**
 * Cumulative counters and explicit-bucket histograms for the request path, exported through the
 * SDK's MetricProducer interface (so the Prometheus and OTLP readers export them like any other
 * instrument).
 *
 * Why not the SDK's own synchronous instruments: each `add`/`record` there hashes its attribute
 * set (sort the keys, JSON.stringify), about 3 µs for the ten GenAI attributes, and a request
 * records half a dozen values. Here the caller looks a series up once per distinct combination
 * of label values by a key it builds anyway, and recording is a few array updates.
 *
 * Semantics follow the SDK's: a histogram bucket i holds values in (boundaries[i-1], boundaries[i]];
 * a family keeps at most `maxSeries` attribute sets, later ones go to one overflow series marked
 * `otel.metric.overflow=true`, as the SDK's cardinality limit does.
 *
 * A series is what is exported: its attribute set. The caller's key only finds it fast; two keys
 * whose attributes come out equal share one series (the first time a key is seen, its attributes
 * are looked up by value), so no two exported points of a family ever carry the same attributes,
 * whatever the caller's key leaves out.
 */
import { ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
import { AggregationTemporality, DataPointType, type MetricData } from '@opentelemetry/sdk-metrics';

export interface FamilyDescriptor {
  readonly name: string;
  readonly unit: string;
  readonly description: string;
}

/** The SDK's default cardinality limit per instrument. */
export const DEFAULT_MAX_SERIES = 2_000;
/** The attribute set overflowing values are recorded under, as in the SDK. */
export const OVERFLOW_ATTRIBUTES: Attributes = Object.freeze({ 'otel.metric.overflow': true });

export class CounterSeries {
  value = 0;
  constructor(
    readonly attributes: Attributes,
    readonly startTime: HrTime,
  ) {}

  add(value: number): void {
    this.value += value;
  }
}

export class HistogramSeries {
  readonly counts: number[];
  count = 0;
  sum = 0;
  min = Infinity;
  max = -Infinity;
  constructor(
    readonly attributes: Attributes,
    readonly startTime: HrTime,
    private readonly boundaries: readonly number[],
  ) {
    this.counts = new Array<number>(boundaries.length + 1).fill(0);
  }

  record(value: number): void {
    const b = this.boundaries;
    // First bucket whose upper bound is >= value (bounds are inclusive, as in OTel and Prometheus).
    let lo = 0;
    let hi = b.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (b[mid]! < value) lo = mid + 1;
      else hi = mid;
    }
    this.counts[lo]!++;
    this.count++;
    this.sum += value;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
  }
}

abstract class Family<S> {
  /** The caller's keys: several may lead to one series. */
  private readonly byKey = new Map<string, S>();
  /** One entry per exported series, by `labelKey` of its attributes, in creation order. */
  private readonly byLabels = new Map<string, S>();
  private overflow: S | undefined;

  constructor(
    readonly descriptor: FamilyDescriptor,
    protected readonly now: () => HrTime,
    private readonly maxSeries: number,
  ) {}

  /**
   * The series for `key`. The first time a key is seen, `attributes()` is built and the series
   * with exactly those attributes is found or created; later calls with the key cost one map
   * lookup.
   */
  get(key: string, attributes: () => Attributes): S {
    const found = this.byKey.get(key);
    if (found !== undefined) return found;
    const attrs = attributes();
    const labels = labelKey(attrs);
    let s = this.byLabels.get(labels);
    if (s === undefined) {
      if (this.byLabels.size >= this.maxSeries) {
        // Not remembered under `key`: the overflow series is shared by every key past the limit.
        return (this.overflow ??= this.create(OVERFLOW_ATTRIBUTES));
      }
      s = this.create(attrs);
      this.byLabels.set(labels, s);
    }
    this.byKey.set(key, s);
    return s;
  }

  /** Every series, the overflow one last. */
  protected all(): S[] {
    const out = [...this.byLabels.values()];
    if (this.overflow) out.push(this.overflow);
    return out;
  }

  protected abstract create(attributes: Attributes): S;
  abstract toMetricData(): MetricData;
}

export class CounterFamily extends Family<CounterSeries> {
  constructor(descriptor: FamilyDescriptor, now: () => HrTime, maxSeries = DEFAULT_MAX_SERIES) {
    super(descriptor, now, maxSeries);
  }

  protected create(attributes: Attributes): CounterSeries {
    return new CounterSeries(attributes, this.now());
  }

  toMetricData(): MetricData {
    const end = this.now();
    return {
      descriptor: { ...this.descriptor, valueType: ValueType.DOUBLE },
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.SUM,
      isMonotonic: true,
      dataPoints: this.all().map((s) => ({
        startTime: s.startTime,
        endTime: end,
        attributes: s.attributes,
        value: s.value,
      })),
    };
  }
}

export class HistogramFamily extends Family<HistogramSeries> {
  constructor(
    descriptor: FamilyDescriptor,
    readonly boundaries: readonly number[],
    now: () => HrTime,
    maxSeries = DEFAULT_MAX_SERIES,
  ) {
    super(descriptor, now, maxSeries);
  }

  protected create(attributes: Attributes): HistogramSeries {
    return new HistogramSeries(attributes, this.now(), this.boundaries);
  }

  toMetricData(): MetricData {
    const end = this.now();
    return {
      descriptor: { ...this.descriptor, valueType: ValueType.DOUBLE },
      aggregationTemporality: AggregationTemporality.CUMULATIVE,
      dataPointType: DataPointType.HISTOGRAM,
      dataPoints: this.all().map((s) => ({
        startTime: s.startTime,
        endTime: end,
        attributes: s.attributes,
        value: {
          buckets: { boundaries: [...this.boundaries], counts: [...s.counts] },
          count: s.count,
          sum: s.sum,
          ...(s.count > 0 ? { min: s.min, max: s.max } : {}),
        },
      })),
    };
  }
}

/**
 * An attribute set as one string, as Prometheus will see it: key order does not matter, values
 * are compared as text (`8000` and `"8000"` are one label value there), and an empty value is
 * no label at all. Equal strings, one exported series.
 */
export function labelKey(attributes: Attributes): string {
  const pairs: string[] = [];
  for (const k of Object.keys(attributes).sort()) {
    const v = attributes[k];
    if (v === undefined || v === null || v === '') continue;
    pairs.push(k, String(v));
  }
  return JSON.stringify(pairs);
}

/** Epoch milliseconds as an OTel HrTime. */
export function hrTimeOf(epochMs: number): HrTime {
  const seconds = Math.floor(epochMs / 1000);
  return [seconds, Math.round((epochMs - seconds * 1000) * 1e6)];
}
