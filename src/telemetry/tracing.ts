/**
 * Traces: one SERVER span per app request, parented to the app's `traceparent`, and one CLIENT
 * span per attempt under it, whose context goes upstream as that attempt's `traceparent`. A
 * failover therefore shows as two attempt spans side by side.
 *
 * Loaded only when traces are configured (setup.ts imports this file lazily), so routecar without
 * tracing never loads the trace SDK. Contexts are passed explicitly, so no context manager (and
 * no async_hooks) is needed.
 *
 * Sampling is decided first, before anything is allocated (`sampled`): an unsampled request gets
 * no scope, so no ids, attribute objects or spans are made for it, and no `traceparent` is
 * injected; the app's own `traceparent`, if it sent one, goes upstream unchanged with its other
 * headers, as W3C Trace Context asks of a participant that does not record. The SDK's sampler is
 * then always-on: it only sees the requests already chosen.
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
  AlwaysOnSampler,
  BatchSpanProcessor,
  ConsoleSpanExporter,
  TracerProvider,
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
import { formatTraceparent, parseTraceparent, type TraceParent } from './traceparent.js';

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
  /**
   * The attempt's backend zone (`backends.<b>.zone`). The conventions' `cloud.availability_zone`
   * describes where the resource itself runs (routecar's zone is on the resource), so the
   * called backend's zone gets routecar's own key.
   */
  backendZone: 'routecar.backend.zone',
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
  /** Uniform draws in [0, 1) for ratio sampling of new traces; Math.random by default (tests inject). */
  readonly random?: () => number;
}

export async function startTracing(options: TracingOptions): Promise<Tracing> {
  const { settings } = options;
  const exporter = options.exporter ?? (await createExporter(settings));
  const provider = new TracerProvider({
    resource: options.resource,
    // `sampled` has already chosen every request that reaches the SDK.
    sampler: new AlwaysOnSampler(),
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
  const sampler = settings.sampler;
  const random = options.random ?? Math.random;
  return {
    observer: {
      requestStarted(start) {
        const parent = start.traceparent === undefined ? undefined : parseTraceparent(start.traceparent);
        if (!sampled(sampler, parent, random)) return undefined;
        return openRequest(tracer, options.backends, start, parent);
      },
    },
    flush: () => provider.forceFlush(),
    shutdown: () => provider.shutdown(),
  };
}

async function createExporter(settings: TraceSettings): Promise<SpanExporter> {
  if (settings.exporter === 'console') return new ConsoleSpanExporter();
  const { createSpanExporter } = await import('./otlp-exporters.js');
  return createSpanExporter(settings.protocol);
}

/**
 * The sampling decision, made before anything is allocated for the request. With `parentBased`, a
 * valid incoming `traceparent` decides (its sampled flag); otherwise the root sampler does. The
 * ratio is applied to the parent's trace id when there is one, exactly as the SDK's
 * TraceIdRatioBasedSampler does (so every service keeps the same traces), and to a random draw for
 * a new trace, whose id is random anyway.
 */
export function sampled(s: SamplerSettings, parent: TraceParent | undefined, random: () => number): boolean {
  if (parent !== undefined && s.parentBased) return (parent.traceFlags & 1) === 1;
  if (s.root === 'always_on') return true;
  if (s.root === 'always_off') return false;
  if (parent !== undefined) return traceIdBucket(parent.traceId) < ratioBound(s.ratio);
  return random() < s.ratio;
}

/** The SDK's TraceIdRatioBasedSampler bound for `ratio` (0..1) over 32-bit buckets. */
function ratioBound(ratio: number): number {
  return ratio >= 1 ? 4294967296 : ratio <= 0 ? 0 : Math.floor(ratio * 4294967295);
}

/** The SDK's TraceIdRatioBasedSampler bucket: the four 32-bit words of the trace id XORed. */
export function traceIdBucket(traceId: string): number {
  let acc = 0;
  for (let i = 0; i < 32; i += 8) acc = (acc ^ parseInt(traceId.slice(i, i + 8), 16)) >>> 0;
  return acc;
}

function openRequest(
  tracer: Tracer,
  backends: BackendLookup,
  start: RequestStart,
  parent: TraceParent | undefined,
): RequestScope {
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
    if (info.zone !== undefined) attributes[SPAN_ATTR.backendZone] = info.zone;
  }
  // Epoch time on both ends, like the request span, so the two never disagree about the clock.
  const span = tracer.startSpan(name, { kind: SpanKind.CLIENT, startTime: Date.now(), attributes }, parent);
  // The attempt's span goes upstream as the parent, so the backend's spans join this trace.
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
