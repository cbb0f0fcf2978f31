import { describe, expect, it } from 'vitest';
import { PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { GEN_AI, ROUTECAR } from '../../../src/telemetry/names.js';
import { withUnitSuffix, withUnitSuffixes } from '../../../src/telemetry/prometheus-names.js';
import { RequestMetrics } from '../../../src/telemetry/request-metrics.js';
import { attempt, request, RESOURCE } from './fixtures.js';

describe('withUnitSuffix: the collector’s names for the same data', () => {
  // What the OpenTelemetry Collector's prometheus / prometheusremotewrite exporters, with their
  // default suffixes, make of these (name, unit) pairs (before `_total`, which both add).
  const cases: [name: string, unit: string, gauge: boolean, prometheus: string][] = [
    ['gen_ai.client.operation.duration', 's', false, 'gen_ai.client.operation.duration.seconds'],
    ['gen_ai.client.token.usage', '{token}', false, 'gen_ai.client.token.usage'],
    ['routecar.window.latency.quantile.seconds', 's', true, 'routecar.window.latency.quantile.seconds'],
    ['routecar.window.error_ratio', '1', true, 'routecar.window.error_ratio'],
    ['queue.fill', '1', true, 'queue.fill.ratio'],
    ['hits', '1', false, 'hits'],
    ['routecar.cost.usd', '{USD}', false, 'routecar.cost.usd'],
    ['cost', 'USD', false, 'cost.USD'],
    ['payload', 'By', false, 'payload.bytes'],
    ['throughput', 'By/s', false, 'throughput.bytes.per_second'],
    ['routecar.breaker.state', '', true, 'routecar.breaker.state'],
  ];
  it.each(cases)('%s in %s', (name, unit, gauge, expected) => {
    expect(withUnitSuffix(name, unit, gauge)).toBe(expected);
  });
});

describe('every routecar metric on /metrics', () => {
  it('already has the name a collector with default suffixes would give it', async () => {
    const requests = new RequestMetrics({
      backends: () => ({ address: 'h', port: 1, provider: 'openai', model: 'm' }),
      tenantLabel: false,
      tenantLimit: 1,
      resource: RESOURCE,
    });
    requests.attemptFinished(attempt({ stream: true, firstChunkMs: 5, durationMs: 50 }));
    requests.requestFinished(request());
    const { resourceMetrics } = await withUnitSuffixes(requests).collect();
    const names = resourceMetrics.scopeMetrics.flatMap((sm) => sm.metrics.map((m) => m.descriptor.name));
    expect(names).toEqual([
      `${GEN_AI.operationDuration}.seconds`,
      GEN_AI.tokenUsage,
      `${GEN_AI.timeToFirstChunk}.seconds`,
      `${GEN_AI.timePerOutputChunk}.seconds`,
      ROUTECAR.requests,
      ROUTECAR.costUsd,
    ]);
    // Renamed twice, nothing changes: the suffix is a word of the name now.
    for (const sm of resourceMetrics.scopeMetrics)
      for (const m of sm.metrics)
        expect(withUnitSuffix(m.descriptor.name, m.descriptor.unit, false)).toBe(m.descriptor.name);
  });

  it('serializes the renamed histogram with the suffix before _bucket', async () => {
    const requests = new RequestMetrics({
      backends: () => undefined,
      tenantLabel: false,
      tenantLimit: 1,
      resource: RESOURCE,
    });
    requests.attemptFinished(attempt());
    const text = new PrometheusSerializer('', false).serialize(
      (await withUnitSuffixes(requests).collect()).resourceMetrics,
    );
    expect(text).toContain('# TYPE gen_ai_client_operation_duration_seconds histogram');
    expect(text).toMatch(/^gen_ai_client_operation_duration_seconds_bucket\{/m);
  });
});
