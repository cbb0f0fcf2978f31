/**
 * Traces: one SERVER span per app request, parented to the app's `traceparent`, and one CLIENT
 * span per attempt under it, whose context goes upstream as that attempt's `traceparent`. A
 * failover therefore shows as two attempt spans side by side.
 *
 * Loaded only when traces are configured (setup.ts imports this file lazily), so routecar without
 * tracing never loads the trace SDK. Contexts are passed explicitly, so no context manager (and
 * no async_hooks) is needed.
 */
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  createTraceState,
  trace,
  type Attributes,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  TracerProvider,
  type Sampler,
  type SpanExporter,
} from '@opentelemetry/sdk-trace';
import type {
  AttemptReport,
  AttemptScope,
  RequestObserver,
  RequestReport,
  RequestScope,
  RequestStart,
} from '../proxy/events.js';
import { ATTR, SCOPE } from './names.js';
import {
  API_TYPE,
  attemptErrorType,
  OPERATION,
  requestOutcome,
  type BackendLookup,
} from './request-metrics.js';
import type { SamplerSettings, TraceSettings } from './settings.js';
import { formatTraceparent, parseTraceparent } from './traceparent.js';

/** Span attribute keys beyond the metric attributes. */
export const SPAN_ATTR = {
  requestedRoute: 'routecar.requested_route',
  reason: 'routecar.decision.reason',
  rule: 'routecar.rule',
  policyVersion: 'routecar.policy.version',
  requestId: 'routecar.request_id',
  attempt: 'routecar.attempt',
  attempts: 'routecar.attempts',
  costUsd: 'routecar.cost_usd',
  stream: 'gen_ai.request.stream',
  inputTokens: 'gen_ai.usage.input_tokens',
  outputTokens: 'gen_ai.usage.output_tokens',
  status: 'http.response.status_code',
} as const;

export interface Tracing {
  /** Opens the request and attempt spans. */
  readonly observer: RequestObserver;
  /** Exports what is buffered now. */
  flush(): Promise<void>;
  /** Exports what is buffered and stops. */
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  readonly settings: TraceSettings;
  readonly resource: Resource;
  readonly backends: BackendLookup;
  /** Replaces the configured exporter (tests). */
  readonly exporter?: SpanExporter;
}

export async function startTracing(options: TracingOptions): Promise<Tracing> {
  const { settings } = options;
  const exporter = options.exporter ?? (await createExporter(settings));
  const provider = new TracerProvider({
    resource: options.resource,
    sampler: createSampler(settings.sampler),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter,
        scheduledDelayMillis: settings.scheduleDelayMillis,
        maxQueueSize: settings.maxQueueSize,
        maxExportBatchSize: Math.min(settings.maxExportBatchSize, settings.maxQueueSize),
        exportTimeoutMillis: settings.exportTimeoutMillis,
      }),
    ],
  });
  const tracer = provider.getTracer(SCOPE);
  return {
    observer: { requestStarted: (start) => openRequest(tracer, options.backends, start) },
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}

async function createExporter(settings: TraceSettings): Promise<SpanExporter> {
  if (settings.exporter === 'console') return new ConsoleSpanExporter();
  const { createSpanExporter } = await import('./otlp-exporters.js');
  return createSpanExporter(settings.protocol);
}

export function createSampler(s: SamplerSettings): Sampler {
  const root =
    s.root === 'always_on'
      ? new AlwaysOnSampler()
      : s.root === 'always_off'
        ? new AlwaysOffSampler()
        : new TraceIdRatioBasedSampler(s.ratio);
  return s.parentBased ? new ParentBasedSampler({ root }) : root;
}

function openRequest(tracer: Tracer, backends: BackendLookup, start: RequestStart): RequestScope {
  const parent = parseTraceparent(start.traceparent);
  const parentContext = parent
    ? trace.setSpanContext(ROOT_CONTEXT, {
        ...parent,
        isRemote: true,
        traceState: start.tracestate ? createTraceState(start.tracestate) : undefined,
      })
    : ROOT_CONTEXT;
  const operation = OPERATION[start.endpoint];
  const attributes: Attributes = {
    [ATTR.operation]: operation,
    [ATTR.apiType]: API_TYPE[start.endpoint],
    [ATTR.requestModel]: start.route,
    [ATTR.route]: start.route,
    [ATTR.variant]: start.variant,
    [SPAN_ATTR.reason]: start.reason,
    [SPAN_ATTR.policyVersion]: start.policyVersion,
    [SPAN_ATTR.requestId]: start.requestId,
    [SPAN_ATTR.stream]: start.stream,
  };
  if (start.requestedRoute !== start.route) attributes[SPAN_ATTR.requestedRoute] = start.requestedRoute;
  if (start.rule !== undefined) attributes[SPAN_ATTR.rule] = start.rule;
  const name = `${operation} ${start.route}`;
  const span = tracer.startSpan(
    name,
    { kind: SpanKind.SERVER, startTime: start.startedAtMs, attributes },
    parentContext,
  );
  const spanContext = trace.setSpan(ROOT_CONTEXT, span);
  return {
    attempt: (backend, n) => openAttempt(tracer, backends, spanContext, name, start, backend, n),
    end: (report) => endRequest(span, report),
  };
}

function openAttempt(
  tracer: Tracer,
  backends: BackendLookup,
  parent: ReturnType<typeof trace.setSpan>,
  name: string,
  start: RequestStart,
  backend: string,
  n: number,
): AttemptScope {
  const info = backends(backend);
  const attributes: Attributes = {
    [ATTR.operation]: OPERATION[start.endpoint],
    [ATTR.apiType]: API_TYPE[start.endpoint],
    [ATTR.requestModel]: start.route,
    [ATTR.backend]: backend,
    [ATTR.variant]: start.variant,
    [SPAN_ATTR.attempt]: n,
    [SPAN_ATTR.stream]: start.stream,
  };
  if (info) {
    attributes[ATTR.provider] = info.provider;
    attributes[ATTR.responseModel] = info.model;
    attributes[ATTR.serverAddress] = info.address;
    attributes[ATTR.serverPort] = info.port;
  }
  // Epoch time on both ends, like the request span, so the two never disagree about the clock.
  const span = tracer.startSpan(name, { kind: SpanKind.CLIENT, startTime: Date.now(), attributes }, parent);
  // Sampled or not, the attempt's context goes upstream, so the backend's spans join this trace.
  const headers = { traceparent: formatTraceparent(span.spanContext()) };
  return { headers, end: (report) => endAttempt(span, report) };
}

function endAttempt(span: Span, report: AttemptReport | undefined): void {
  if (!span.isRecording()) return span.end();
  if (report === undefined) {
    span.setAttribute(ATTR.errorType, 'breaker_rejected');
    span.setStatus({ code: SpanStatusCode.ERROR, message: 'the breaker refused the call' });
    return span.end();
  }
  if (report.status !== undefined) span.setAttribute(SPAN_ATTR.status, report.status);
  if (report.usage) {
    span.setAttribute(SPAN_ATTR.inputTokens, report.usage.inputTokens);
    span.setAttribute(SPAN_ATTR.outputTokens, report.usage.outputTokens);
  }
  const errorType = attemptErrorType(report.outcome, report.status);
  if (errorType !== undefined) {
    span.setAttribute(ATTR.errorType, errorType);
    if (report.outcome.kind === 'failure') span.setStatus({ code: SpanStatusCode.ERROR, message: errorType });
  }
  span.end(report.startedAtMs + report.durationMs);
}

function endRequest(span: Span, report: RequestReport): void {
  if (!span.isRecording()) return span.end();
  const [outcome, errorType] = requestOutcome(report);
  const attributes: Attributes = {
    [SPAN_ATTR.status]: report.status,
    [SPAN_ATTR.attempts]: report.attempts,
    [ATTR.outcome]: outcome,
  };
  if (report.backend !== undefined) attributes[ATTR.backend] = report.backend;
  if (report.responseModel !== undefined) attributes[ATTR.responseModel] = report.responseModel;
  if (report.usage) {
    attributes[SPAN_ATTR.inputTokens] = report.usage.inputTokens;
    attributes[SPAN_ATTR.outputTokens] = report.usage.outputTokens;
  }
  if (report.costUsd !== undefined) attributes[SPAN_ATTR.costUsd] = report.costUsd;
  if (errorType !== undefined) attributes[ATTR.errorType] = errorType;
  span.setAttributes(attributes);
  if (outcome === 'error' || outcome === 'refused')
    span.setStatus({ code: SpanStatusCode.ERROR, message: errorType });
  span.end(report.startedAtMs + report.durationMs);
}
