/**
 * Reports as the forwarder sends them, with overridable fields, and helpers to read the metric
 * data a producer collects.
 */
import type { Attributes } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  DataPointType,
  type Histogram,
  type MetricData,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';
import type { AttemptReport, RequestReport } from '../../../src/proxy/events.js';

export const RESOURCE = resourceFromAttributes({ 'service.name': 'routecar' });

export function attempt(over: Partial<AttemptReport> = {}): AttemptReport {
  return {
    requestId: 'req-1',
    route: 'chat',
    backend: 'alpha',
    variant: 'alpha',
    attempt: 1,
    outcome: { kind: 'success' },
    status: 200,
    startedAtMs: 1_000,
    ttfbMs: 20,
    durationMs: 250,
    endpoint: 'chat.completions',
    stream: false,
    firstChunkMs: 30,
    usage: { inputTokens: 120, outputTokens: 40 },
    ...over,
  };
}

export function request(over: Partial<RequestReport> = {}): RequestReport {
  return {
    requestId: 'req-1',
    endpoint: 'chat.completions',
    requestedRoute: 'chat',
    route: 'chat',
    backend: 'alpha',
    responseModel: 'model-alpha',
    variant: 'alpha',
    attempts: 1,
    status: 200,
    errorCode: undefined,
    stream: false,
    startedAtMs: 1_000,
    durationMs: 260,
    ttfbMs: 20,
    usage: { inputTokens: 120, outputTokens: 40 },
    costUsd: 0.0001,
    tenant: undefined,
    policyVersion: 'v1',
    rule: undefined,
    reason: 'split -> alpha',
    outcome: { kind: 'success' },
    ...over,
  };
}

/** Every metric a producer collects, by name. */
export async function collect(producer: MetricProducer): Promise<Map<string, MetricData>> {
  const { resourceMetrics } = await producer.collect();
  const out = new Map<string, MetricData>();
  for (const sm of resourceMetrics.scopeMetrics) for (const m of sm.metrics) out.set(m.descriptor.name, m);
  return out;
}

/** The data points of one metric as `[attributes, value]`; histograms give their Histogram. */
export function points(m: MetricData | undefined): [Attributes, number | Histogram][] {
  if (!m) return [];
  return (m.dataPoints as { attributes: Attributes; value: number | Histogram }[]).map((p) => [
    p.attributes,
    p.value,
  ]);
}

/** The value of the one point of `m` whose attributes include `match`; throws unless exactly one. */
export function only(m: MetricData | undefined, match: Attributes = {}): number | Histogram {
  const found = points(m).filter(([a]) => Object.entries(match).every(([k, v]) => a[k] === v));
  if (found.length !== 1)
    throw new Error(`expected one point matching ${JSON.stringify(match)}, got ${JSON.stringify(points(m))}`);
  return found[0]![1];
}

export function isHistogram(m: MetricData | undefined): boolean {
  return m?.dataPointType === DataPointType.HISTOGRAM;
}
