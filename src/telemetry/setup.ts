/**
 * Starts routecar's telemetry from its settings: the meter provider with the Prometheus reader
 * (served on the admin listener's /metrics) and, when asked, an OTLP reader (http/protobuf, grpc
 * or http/json); the request
 * path observers; and tracing when configured. The OTLP exporters and the trace SDK are imported
 * only when the settings ask for them: routecar runs in every pod, and what is not configured
 * should cost neither start-up time nor memory.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { diag, DiagLogLevel, type DiagLogger } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import {
  MeterProvider,
  PeriodicExportingMetricReader,
  type IMetricReader,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';
import type { BackendStats, BreakerTransition } from '../health/registry.js';
import type { FeedbackEvent } from '../feedback/feedback.js';
import type { PolicyChange, PolicyStatus } from '../policy/store-types.js';
import type { CompiledPolicy } from '../policy/types.js';
import type { RequestObserver } from '../proxy/events.js';
import type { Logger } from './logger.js';
import { policyBackends } from './backends.js';
import { banditMetrics, type BanditSource } from './bandit-metrics.js';
import { canaryGuardMetrics, type CanaryGuardSource } from './canary-guard-metrics.js';
import { FeedbackMetrics } from './feedback-metrics.js';
import { withUnitSuffixes } from './prometheus-names.js';
import { RequestMetrics } from './request-metrics.js';
import { buildResource, type ResourceFacts } from './resource.js';
import type { TelemetrySettings } from './settings.js';
import type { LocalSpend } from '../budget/ledger.js';
import { StateMetricsProducer } from './state-metrics.js';
import type { Tracing } from './tracing.js';

/** The parts of a running routecar that telemetry reads (the runtime satisfies this). */
export interface TelemetryTarget {
  readonly health: {
    allStats(): readonly BackendStats[];
    onBreakerTransition(listener: (t: BreakerTransition) => void): () => void;
  };
  readonly store: {
    current(): CompiledPolicy | undefined;
    status(): PolicyStatus;
    onChange(listener: (change: PolicyChange) => void): () => void;
  };
  /** This sidecar's spend of the budgeted tenants (see budget/ledger.ts). */
  readonly spend?: { windowSpend(): readonly LocalSpend[] };
}

export interface Telemetry {
  /** Observers to hand to the runtime: request metrics and tracing, as configured. */
  readonly observers: readonly RequestObserver[];
  /** The admin listener's /metrics handler; undefined when Prometheus is off. */
  readonly metricsHandler: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  /** What runs, for the start-up log line. */
  readonly summary: Readonly<Record<string, string | boolean | number>>;
  /** Connects the state metrics and breaker transitions to the running routecar. */
  attach(target: TelemetryTarget): void;
  /** Records one accepted `/v1/feedback` post (`routecar.feedback.score`). */
  recordFeedback(event: FeedbackEvent): void;
  /** Exports the bandit's shares and mean rewards (`routecar.bandit.*`), read at each collection. */
  attachBandit(source: BanditSource): void;
  /** Exports whether each local canary guard drops its candidate (`routecar.canary.guard.breached`). */
  attachCanaryGuards(source: CanaryGuardSource): void;
  /**
   * Pushes what is buffered (OTLP metrics, spans) and stops, giving up after `deadlineMs`
   * (default 3 s: an unreachable collector must not hold a pod's shutdown). Never rejects.
   */
  shutdown(deadlineMs?: number): Promise<void>;
}

/** `facts` (the sidecar's zone) become resource attributes of every metric and span. */
export async function startTelemetry(
  settings: TelemetrySettings,
  logger: Logger,
  facts: ResourceFacts = {},
): Promise<Telemetry> {
  diag.setLogger(diagToPino(logger), DiagLogLevel.WARN);
  for (const warning of settings.warnings) logger.warn({ component: 'telemetry' }, warning);

  const resource = buildResource(process.env, facts);
  let current: () => CompiledPolicy | undefined = () => undefined;
  const backends = policyBackends(() => current());
  const state = new StateMetricsProducer(resource);
  const requestMetrics = new RequestMetrics({
    backends,
    tenantLabel: settings.tenantLabel,
    tenantLimit: settings.tenantLimit,
    resource,
  });
  const feedback = new FeedbackMetrics(resource);
  const bandit = banditMetrics(resource);
  const guards = canaryGuardMetrics(resource);
  // Every metric comes from these producers; the SDK's MeterProvider only hosts the readers.
  const metricProducers: MetricProducer[] = [requestMetrics, state, feedback, bandit, guards];

  const readers: IMetricReader[] = [];
  const prometheus = settings.prometheus
    ? new PrometheusExporter({
        preventServerStart: true,
        withoutScopeInfo: true,
        // Unit suffixes in the names, as a collector would add them (prometheus-names.ts).
        metricProducers: metricProducers.map(withUnitSuffixes),
      })
    : undefined;
  if (prometheus) readers.push(prometheus);
  if (settings.otlpMetrics) {
    const { createMetricExporter } = await import('./otlp-exporters.js');
    const { protocol, exportIntervalMillis, exportTimeoutMillis } = settings.otlpMetrics;
    readers.push(
      new PeriodicExportingMetricReader({
        exporter: await createMetricExporter(protocol),
        exportIntervalMillis,
        exportTimeoutMillis: Math.min(exportTimeoutMillis, exportIntervalMillis),
        metricProducers,
      }),
    );
  }

  const observers: RequestObserver[] = [];
  const meterProvider = readers.length > 0 ? new MeterProvider({ resource, readers }) : undefined;
  if (meterProvider) observers.push(requestMetrics);

  let tracing: Tracing | undefined;
  if (settings.traces) {
    const { startTracing } = await import('./tracing.js');
    tracing = await startTracing({ settings: settings.traces, resource, backends });
    observers.push(tracing.observer);
  }

  const summary = {
    prometheus: settings.prometheus,
    otlpMetrics: settings.otlpMetrics?.protocol ?? false,
    traces: settings.traces
      ? `${settings.traces.exporter === 'otlp' ? `otlp ${settings.traces.protocol}` : settings.traces.exporter} (${samplerName(settings.traces.sampler)})`
      : 'off',
    tenantLabel: settings.tenantLabel,
    serviceName: String(resource.attributes['service.name'] ?? ''),
  };

  return {
    observers,
    metricsHandler: prometheus ? (req, res) => prometheus.getMetricsRequestHandler(req, res) : undefined,
    summary,
    recordFeedback(event) {
      feedback.record(event);
    },
    attachBandit(source) {
      bandit.attach(source);
    },
    attachCanaryGuards(source) {
      guards.attach(source);
    },
    attach(target) {
      current = () => target.store.current();
      if (!meterProvider) return;
      state.attach({ health: target.health, policy: target.store, spend: target.spend });
      target.store.onChange(() => requestMetrics.policyChanged());
    },
    async shutdown(deadlineMs = 3_000) {
      const settled = Promise.allSettled([meterProvider?.shutdown(), tracing?.shutdown()]);
      const deadline = new Promise<undefined>((resolve) =>
        setTimeout(() => resolve(undefined), deadlineMs).unref(),
      );
      const results = await Promise.race([settled, deadline]);
      if (results === undefined) {
        logger.warn(
          { component: 'telemetry', deadlineMs },
          'telemetry shutdown deadline reached: unsent metrics and spans dropped',
        );
        return;
      }
      for (const r of results) {
        if (r.status === 'rejected')
          logger.warn({ component: 'telemetry', error: String(r.reason) }, 'telemetry shutdown failed');
      }
    },
  };
}

function samplerName(s: { root: string; ratio: number; parentBased: boolean }): string {
  const root = s.root === 'traceidratio' ? `traceidratio ${s.ratio}` : s.root;
  return s.parentBased ? `parentbased_${root}` : root;
}

/** OpenTelemetry's own warnings (an unreachable collector, a dropped metric) go to routecar's log. */
function diagToPino(logger: Logger): DiagLogger {
  const child = logger.child({ component: 'opentelemetry' });
  const noop = (): void => {};
  return {
    error: (message, ...args) =>
      child.error({ args: args.length > 0 ? args.map(String) : undefined }, message),
    warn: (message, ...args) => child.warn({ args: args.length > 0 ? args.map(String) : undefined }, message),
    info: noop,
    debug: noop,
    verbose: noop,
  };
}
