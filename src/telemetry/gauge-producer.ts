/**
 * Gauges read from a source at each collection and built fresh each time, so a series disappears
 * with the thing it describes (the SDK's observable instruments keep reporting an attribute set
 * after it stops being observed). The source is attached once the runtime exists; until then the
 * producer reports nothing.
 */
import { ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
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
import { SCOPE } from './names.js';

export class GaugeProducer<Source> implements MetricProducer {
  private source: Source | undefined;

  /**
   * @param build the metrics of one collection, at `now`, from the attached source
   * @param now clock, epoch ms
   */
  constructor(
    private readonly resource: Resource,
    private readonly build: (source: Source, now: HrTime) => MetricData[],
    private readonly now: () => number = Date.now,
  ) {}

  attach(source: Source): void {
    this.source = source;
  }

  collect(): Promise<CollectionResult> {
    const metrics = this.source
      ? this.build(this.source, hrTimeOf(this.now())).filter((m) => m.dataPoints.length > 0)
      : [];
    return Promise.resolve({
      resourceMetrics: { resource: this.resource, scopeMetrics: [{ scope: { name: SCOPE }, metrics }] },
      errors: [],
    });
  }
}

/** One gauge's data (a double). */
export function gaugeData(
  name: string,
  unit: string,
  description: string,
  dataPoints: DataPoint<number>[],
): MetricData {
  return {
    descriptor: { name, unit, description, valueType: ValueType.DOUBLE },
    aggregationTemporality: AggregationTemporality.CUMULATIVE,
    dataPointType: DataPointType.GAUGE,
    dataPoints,
  };
}

/** A point at `now`. */
export function pointAt(now: HrTime, attributes: Attributes, value: number): DataPoint<number> {
  return { startTime: now, endTime: now, attributes, value };
}
