import { describe, expect, it } from 'vitest';
import {
  DEFAULT_METRIC_EXPORT_INTERVAL_MS,
  DEFAULT_OTLP_PROTOCOL,
  DEFAULT_TENANT_LIMIT,
  telemetrySettings,
} from '../../../src/telemetry/settings.js';

describe('telemetrySettings: metrics', () => {
  it('serves Prometheus and nothing else when no OTEL_* variable is set', () => {
    const s = telemetrySettings({});
    expect(s).toMatchObject({
      enabled: true,
      prometheus: true,
      otlpMetrics: undefined,
      traces: undefined,
      warnings: [],
    });
  });

  it('turns everything off with OTEL_SDK_DISABLED=true, whatever else is set', () => {
    const s = telemetrySettings({
      OTEL_SDK_DISABLED: 'true',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318',
      OTEL_TRACES_EXPORTER: 'otlp',
    });
    expect(s).toMatchObject({ enabled: false, prometheus: false, otlpMetrics: undefined, traces: undefined });
  });

  const otlp: Array<[string, Record<string, string>, boolean]> = [
    ['OTEL_EXPORTER_OTLP_ENDPOINT', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }, true],
    [
      'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT',
      { OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://c:4318/v1/metrics' },
      true,
    ],
    ['OTEL_METRICS_EXPORTER=otlp', { OTEL_METRICS_EXPORTER: 'otlp' }, true],
    ['OTEL_METRICS_EXPORTER=prometheus,otlp', { OTEL_METRICS_EXPORTER: 'prometheus, OTLP' }, true],
    [
      'an endpoint but OTEL_METRICS_EXPORTER=prometheus',
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_METRICS_EXPORTER: 'prometheus' },
      false,
    ],
    ['only a traces endpoint', { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' }, false],
  ];
  it.each(otlp)('OTLP metrics with %s: %s', (_name, env, expected) => {
    expect(telemetrySettings(env).otlpMetrics !== undefined).toBe(expected);
  });

  it('takes the export interval from OTEL_METRIC_EXPORT_INTERVAL, and warns about a bad one', () => {
    expect(
      telemetrySettings({ OTEL_METRICS_EXPORTER: 'otlp', OTEL_METRIC_EXPORT_INTERVAL: '500' }).otlpMetrics
        ?.exportIntervalMillis,
    ).toBe(500);
    const bad = telemetrySettings({ OTEL_METRICS_EXPORTER: 'otlp', OTEL_METRIC_EXPORT_INTERVAL: 'soon' });
    expect(bad.otlpMetrics?.exportIntervalMillis).toBe(DEFAULT_METRIC_EXPORT_INTERVAL_MS);
    expect(bad.warnings).toEqual([expect.stringContaining('OTEL_METRIC_EXPORT_INTERVAL')]);
  });

  it('drops every metric reader with OTEL_METRICS_EXPORTER=none', () => {
    expect(
      telemetrySettings({ OTEL_METRICS_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }),
    ).toMatchObject({
      prometheus: false,
      otlpMetrics: undefined,
    });
  });
});

describe('telemetrySettings: OTLP protocol', () => {
  const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' };
  const protocols = (env: Record<string, string>) => {
    const s = telemetrySettings({ ...endpoint, ...env });
    return [s.otlpMetrics?.protocol, s.traces?.protocol, s.warnings];
  };

  it('is http/protobuf, the specification’s default, when nothing says otherwise', () => {
    expect(DEFAULT_OTLP_PROTOCOL).toBe('http/protobuf');
    expect(protocols({})).toEqual(['http/protobuf', 'http/protobuf', []]);
  });

  const table: Array<[string, Record<string, string>, string, string]> = [
    ['the general variable, grpc', { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, 'grpc', 'grpc'],
    [
      'the general variable, http/json',
      { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' },
      'http/json',
      'http/json',
    ],
    ['in capitals, with spaces', { OTEL_EXPORTER_OTLP_PROTOCOL: ' GRPC ' }, 'grpc', 'grpc'],
    [
      'per signal, over the general one',
      {
        OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
        OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/json',
        OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'http/protobuf',
      },
      'http/json',
      'http/protobuf',
    ],
    ['one signal only', { OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc' }, 'http/protobuf', 'grpc'],
    [
      'an empty per-signal variable',
      { OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: '', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
      'grpc',
      'grpc',
    ],
  ];
  it.each(table)('honours %s', (_name, env, metrics, traces) => {
    expect(protocols(env)).toEqual([metrics, traces, []]);
  });

  it('warns about an unknown protocol and uses the default', () => {
    const [metrics, traces, warnings] = protocols({ OTEL_EXPORTER_OTLP_PROTOCOL: 'http/xml' });
    expect([metrics, traces]).toEqual(['http/protobuf', 'http/protobuf']);
    expect(warnings).toEqual([
      expect.stringContaining('OTEL_EXPORTER_OTLP_PROTOCOL: unknown protocol "http/xml"'),
      expect.stringContaining('OTEL_EXPORTER_OTLP_PROTOCOL: unknown protocol "http/xml"'),
    ]);
  });

  it('reads no protocol, and warns about none, when nothing is exported over OTLP', () => {
    expect(telemetrySettings({ OTEL_EXPORTER_OTLP_PROTOCOL: 'nonsense' }).warnings).toEqual([]);
  });
});

describe('telemetrySettings: traces', () => {
  const table: Array<[string, Record<string, string>, string | undefined]> = [
    ['nothing set', {}, undefined],
    ['OTEL_TRACES_EXPORTER=otlp', { OTEL_TRACES_EXPORTER: 'otlp' }, 'otlp'],
    ['OTEL_TRACES_EXPORTER=console', { OTEL_TRACES_EXPORTER: 'console' }, 'console'],
    ['the general endpoint', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }, 'otlp'],
    ['the traces endpoint', { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' }, 'otlp'],
    [
      'an endpoint but OTEL_TRACES_EXPORTER=none',
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' },
      undefined,
    ],
    ['sampler always_off', { OTEL_TRACES_EXPORTER: 'otlp', OTEL_TRACES_SAMPLER: 'always_off' }, undefined],
    [
      'sampler traceidratio 0',
      { OTEL_TRACES_EXPORTER: 'otlp', OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '0' },
      undefined,
    ],
    // A sampled parent still gets traced: the SDK must load.
    [
      'sampler parentbased_always_off',
      { OTEL_TRACES_EXPORTER: 'otlp', OTEL_TRACES_SAMPLER: 'parentbased_always_off' },
      'otlp',
    ],
  ];
  it.each(table)('%s → %s', (_name, env, exporter) => {
    expect(telemetrySettings(env).traces?.exporter).toBe(exporter);
  });

  it('reads the sampler and its argument', () => {
    const s = telemetrySettings({
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
    });
    expect(s.traces?.sampler).toEqual({ root: 'traceidratio', ratio: 0.25, parentBased: true });
    expect(telemetrySettings({ OTEL_TRACES_EXPORTER: 'otlp' }).traces?.sampler).toEqual({
      root: 'always_on',
      ratio: 1,
      parentBased: true,
    });
  });

  it('falls back to parentbased_always_on for an unknown sampler, with a warning', () => {
    const s = telemetrySettings({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_TRACES_SAMPLER: 'jaeger_remote' });
    expect(s.traces?.sampler).toEqual({ root: 'always_on', ratio: 1, parentBased: true });
    expect(s.warnings).toEqual([expect.stringContaining('jaeger_remote')]);
  });

  it('reads the batch span processor variables', () => {
    const s = telemetrySettings({
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_BSP_MAX_QUEUE_SIZE: '64',
    });
    expect(s.traces).toMatchObject({ scheduleDelayMillis: 100, maxQueueSize: 64, maxExportBatchSize: 512 });
  });
});

describe('telemetrySettings: tenant label', () => {
  it('is off unless ROUTECAR_METRICS_TENANT_LABEL=true, capped at 100 unless told otherwise', () => {
    expect(telemetrySettings({})).toMatchObject({ tenantLabel: false, tenantLimit: DEFAULT_TENANT_LIMIT });
    expect(
      telemetrySettings({ ROUTECAR_METRICS_TENANT_LABEL: 'true', ROUTECAR_METRICS_TENANT_LIMIT: '20' }),
    ).toMatchObject({
      tenantLabel: true,
      tenantLimit: 20,
    });
  });
});
