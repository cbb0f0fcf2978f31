/**
 * Turns the request path's events into metrics: the GenAI histograms per backend call (attempt),
 * and routecar's request, failover and cost counters per app request.
 *
 * Cheap on purpose, since it runs on every request: a series is looked up by a key of its (bounded)
 * label values and recorded into directly (aggregates.ts says why not the SDK's instruments), and
 * nothing request-specific (ids, users, prompts, a route name the app made up) is ever a label.
 */
import diagnostics from 'node:diagnostics_channel';
import type { Attributes, HrTime } from '@opentelemetry/api';
import type { Resource } from '@opentelemetry/resources';
import type { CollectionResult, MetricProducer } from '@opentelemetry/sdk-metrics';
import { CLASSIFIER_CHANNEL, type ClassifierReport } from '../classify/events.js';
import type { Endpoint } from '../ingress/features.js';
import type { Outcome } from '../outcome/classify.js';
import type { AttemptReport, FailoverReport, RequestObserver, RequestReport } from '../proxy/events.js';
import { CounterFamily, HistogramFamily, hrTimeOf, type HistogramSeries } from './aggregates.js';
import { LabelCap } from './label-cap.js';
import {
  ATTR,
  DEFAULT_PROVIDER,
  DURATION_BUCKETS_S,
  GEN_AI,
  ROUTECAR,
  SCOPE,
  CHUNK_BUCKETS_S,
  TOKEN_BUCKETS,
} from './names.js';

/** What the GenAI attributes need to know about a backend. */
export interface BackendInfo {
  /** `server.address`: the host of the backend's base URL. */
  readonly address: string;
  /** `server.port`: its port (the scheme's default when the URL names none). */
  readonly port: number;
  /** `gen_ai.provider.name`. */
  readonly provider: string;
  /** `gen_ai.response.model`: the backend's own model name. */
  readonly model: string;
  /** `routecar.backend.zone` on attempt spans: the backend's `zone` in the policy, when it has one. */
  readonly zone?: string | undefined;
}

/** Looks a backend up in the policy serving now; undefined for one that has left it. */
export type BackendLookup = (backend: string) => BackendInfo | undefined;

export interface RequestMetricsOptions {
  readonly backends: BackendLookup;
  /** Put `routecar.tenant` on the cost counter. */
  readonly tenantLabel: boolean;
  /** Distinct tenants kept before the rest become `other`. */
  readonly tenantLimit: number;
  /** Reported with the data (readers replace it with the SDK's). */
  readonly resource: Resource;
  /** Clock, epoch ms (series start times, collection times). */
  readonly now?: () => number;
}

/**
 * `gen_ai.operation.name` per endpoint. The conventions have no operation of their own for the
 * Responses API: it is a `chat`, told apart from a chat completion by `openai.api.type`.
 */
export const OPERATION: Readonly<Record<Endpoint, string>> = {
  'chat.completions': 'chat',
  completions: 'text_completion',
  embeddings: 'embeddings',
  responses: 'chat',
  // No operation in the conventions for these: each gets its own name, so no two share a series.
  moderations: 'moderation',
  rerank: 'rerank',
  score: 'score',
  'audio.transcriptions': 'transcription',
  messages: 'chat',
};

/**
 * `openai.api.type` per endpoint: the conventions' values `chat_completions` and `responses`, and
 * the endpoint's name for the other two. Every backend speaks the OpenAI API through routecar, so
 * every call carries it, whatever its `gen_ai.provider.name`.
 */
export const API_TYPE: Readonly<Record<Endpoint, string>> = {
  'chat.completions': 'chat_completions',
  completions: 'completions',
  embeddings: 'embeddings',
  responses: 'responses',
  moderations: 'moderations',
  rerank: 'rerank',
  score: 'score',
  'audio.transcriptions': 'audio_transcriptions',
  messages: 'messages',
};

/** Route label of a request for a route the policy does not have (the name is the app's, unbounded). */
export const UNKNOWN_ROUTE = 'unknown';
/** Backend label of a request no backend answered. */
export const NO_BACKEND = 'none';
/** Tenant label of a request without `x-tenant-id`. */
export const NO_TENANT = 'none';

/**
 * The histograms an attempt of one label combination records into: the duration series found at
 * once, the others when first used (a series that never gets a value is never exported).
 */
class AttemptSeries {
  private inputSeries: HistogramSeries | undefined;
  private outputSeries: HistogramSeries | undefined;
  private ttfcSeries: HistogramSeries | undefined;
  private tpocSeries: HistogramSeries | undefined;
  readonly duration: HistogramSeries;

  constructor(
    private readonly families: {
      duration: HistogramFamily;
      tokens: HistogramFamily;
      ttfc: HistogramFamily;
      tpoc: HistogramFamily;
    },
    private readonly key: string,
    private readonly attributes: Attributes,
  ) {
    this.duration = families.duration.get(key, () => attributes);
  }

  get input(): HistogramSeries {
    return (this.inputSeries ??= this.families.tokens.get(`${this.key}\u0001input`, () => ({
      ...this.attributes,
      [ATTR.tokenType]: 'input',
    })));
  }
  get output(): HistogramSeries {
    return (this.outputSeries ??= this.families.tokens.get(`${this.key}\u0001output`, () => ({
      ...this.attributes,
      [ATTR.tokenType]: 'output',
    })));
  }
  get ttfc(): HistogramSeries {
    return (this.ttfcSeries ??= this.families.ttfc.get(this.key, () => this.attributes));
  }
  get tpoc(): HistogramSeries {
    return (this.tpocSeries ??= this.families.tpoc.get(this.key, () => this.attributes));
  }
}

export class RequestMetrics implements RequestObserver, MetricProducer {
  private readonly duration: HistogramFamily;
  private readonly tokens: HistogramFamily;
  private readonly ttfc: HistogramFamily;
  private readonly tpoc: HistogramFamily;
  private readonly requests: CounterFamily;
  private readonly failovers: CounterFamily;
  private readonly cost: CounterFamily;
  private readonly tenantSpend: CounterFamily;
  private readonly classifications: CounterFamily;
  private readonly affinity: CounterFamily;
  private readonly tenants: LabelCap | undefined;
  private readonly attempts = new Map<string, AttemptSeries>();
  private readonly now: () => HrTime;

  constructor(private readonly options: RequestMetricsOptions) {
    const clock = options.now ?? Date.now;
    this.now = () => hrTimeOf(clock());
    this.duration = new HistogramFamily(
      {
        name: GEN_AI.operationDuration,
        unit: 's',
        description: 'Duration of one call to a model backend (one attempt), to its last byte.',
      },
      DURATION_BUCKETS_S,
      this.now,
    );
    this.tokens = new HistogramFamily(
      {
        name: GEN_AI.tokenUsage,
        unit: '{token}',
        description: 'Input and output tokens of one successful call, from the response usage.',
      },
      TOKEN_BUCKETS,
      this.now,
    );
    this.ttfc = new HistogramFamily(
      {
        name: GEN_AI.timeToFirstChunk,
        unit: 's',
        description: 'Streams: time from sending the call to the first streamed chunk.',
      },
      CHUNK_BUCKETS_S,
      this.now,
    );
    this.tpoc = new HistogramFamily(
      {
        name: GEN_AI.timePerOutputChunk,
        unit: 's',
        description:
          'Streams with usage: mean time per output chunk after the first one, one value per stream.',
      },
      CHUNK_BUCKETS_S,
      this.now,
    );
    this.requests = new CounterFamily(
      {
        name: ROUTECAR.requests,
        unit: '{request}',
        description: 'App requests by route, backend, variant and outcome.',
      },
      this.now,
    );
    this.failovers = new CounterFamily(
      {
        name: ROUTECAR.failovers,
        unit: '{failover}',
        description: 'Traffic moved from one backend to the next within a request.',
      },
      this.now,
    );
    this.cost = new CounterFamily(
      {
        name: ROUTECAR.costUsd,
        // An annotation, not a UCUM unit (UCUM has no currencies): no unit suffix is added for it.
        unit: '{USD}',
        description: "Cost of answered requests at the serving backend's prices (only when usage was seen).",
      },
      this.now,
    );
    this.tenantSpend = new CounterFamily(
      {
        name: ROUTECAR.tenantSpendUsd,
        unit: '{USD}',
        description: 'Spend of the tenants named in the policy budgets, at the serving backends prices.',
      },
      this.now,
    );
    this.classifications = new CounterFamily(
      {
        name: ROUTECAR.classifierCalls,
        unit: '{call}',
        description:
          'Labels asked of a classifier, by outcome; every outcome but labelled and cached is no label.',
      },
      this.now,
    );
    this.affinity = new CounterFamily(
      {
        name: ROUTECAR.affinityRequests,
        unit: '{request}',
        description:
          'Requests of routes with prefix affinity, by outcome: home (the prefix home served first), skipped, none (no prefix).',
      },
      this.now,
    );
    this.tenants = options.tenantLabel ? new LabelCap(options.tenantLimit) : undefined;
    subscribeClassifications(this);
  }

  /** One classifier answer (or its absence), from classify/events.ts. */
  classified(r: ClassifierReport): void {
    this.classifications
      .get(`${r.classifier}\u0001${r.outcome}`, () => ({
        [ATTR.classifier]: r.classifier,
        [ATTR.outcome]: r.outcome,
      }))
      .add(1);
  }

  attemptFinished(r: AttemptReport): void {
    const errorType = attemptErrorType(r.outcome, r.status);
    const series = this.attemptSeries(r, errorType);
    series.duration.record(r.durationMs / 1000);
    if (errorType !== undefined) return;
    // The GenAI token figures are the backend's own; routecar's estimates only price the request.
    const usage = r.usage?.estimated === true ? undefined : r.usage;
    if (usage) {
      series.input.record(usage.inputTokens);
      // Embeddings have no output tokens; the conventions record input only.
      if (r.endpoint !== 'embeddings') series.output.record(usage.outputTokens);
    }
    if (r.stream && r.firstChunkMs !== undefined) {
      series.ttfc.record(r.firstChunkMs / 1000);
      if (usage && usage.outputTokens > 1)
        series.tpoc.record((r.durationMs - r.firstChunkMs) / 1000 / (usage.outputTokens - 1));
    }
  }

  failover(f: FailoverReport): void {
    const reason =
      f.outcome.kind === 'failure'
        ? f.outcome.failure
        : f.outcome.kind === 'ignored'
          ? f.outcome.reason
          : 'success';
    const key = `${f.route}\u0001${f.from}\u0001${f.to}\u0001${reason}`;
    this.failovers
      .get(key, () => ({
        [ATTR.route]: f.route,
        [ATTR.failoverFrom]: f.from,
        [ATTR.failoverTo]: f.to,
        [ATTR.failoverReason]: reason,
      }))
      .add(1);
  }

  requestFinished(r: RequestReport): void {
    const route = r.errorCode === 'model_not_found' ? UNKNOWN_ROUTE : r.route;
    const backend = r.backend ?? NO_BACKEND;
    const [outcome, errorType] = requestOutcome(r);
    const key = `${route}\u0001${backend}\u0001${r.variant}\u0001${outcome}\u0001${errorType ?? ''}`;
    this.requests
      .get(key, () => {
        const a: Attributes = {
          [ATTR.route]: route,
          [ATTR.backend]: backend,
          [ATTR.variant]: r.variant,
          [ATTR.outcome]: outcome,
        };
        if (errorType !== undefined) a[ATTR.errorType] = errorType;
        return a;
      })
      .add(1);
    if (r.affinity !== undefined) {
      const outcome = r.affinity;
      this.affinity
        .get(`${route}\u0001${outcome}`, () => ({ [ATTR.route]: route, [ATTR.affinityOutcome]: outcome }))
        .add(1);
    }
    if (r.costUsd === undefined) return;
    if (r.budgetTenant !== undefined) {
      const t = r.budgetTenant;
      this.tenantSpend.get(t, () => ({ [ATTR.tenant]: t })).add(r.costUsd);
    }
    // "none" is one fixed value, not a tenant: it never takes a place under the cap.
    const tenant = this.tenants && (r.tenant === undefined ? NO_TENANT : this.tenants.label(r.tenant));
    const usage = r.usage?.estimated === true ? 'estimated' : 'reported';
    const costKey = `${route}\u0001${backend}\u0001${r.variant}\u0001${tenant ?? ''}\u0001${usage}`;
    this.cost
      .get(costKey, () => {
        const a: Attributes = {
          [ATTR.route]: route,
          [ATTR.backend]: backend,
          [ATTR.variant]: r.variant,
          [ATTR.usage]: usage,
        };
        if (tenant !== undefined) a[ATTR.tenant] = tenant;
        return a;
      })
      .add(r.costUsd);
  }

  /** Forget which series an attempt records into: a new policy may have moved a backend to another address. */
  policyChanged(): void {
    this.attempts.clear();
  }

  collect(): Promise<CollectionResult> {
    const metrics = [
      this.duration,
      this.tokens,
      this.ttfc,
      this.tpoc,
      this.requests,
      this.failovers,
      this.cost,
      this.tenantSpend,
      this.classifications,
      this.affinity,
    ]
      .map((f) => f.toMetricData())
      .filter((m) => m.dataPoints.length > 0);
    return Promise.resolve({
      resourceMetrics: {
        resource: this.options.resource,
        scopeMetrics: [{ scope: { name: SCOPE }, metrics }],
      },
      errors: [],
    });
  }

  /** The series of an attempt's label combination, with `error.type` when it failed. */
  private attemptSeries(r: AttemptReport, errorType: string | undefined): AttemptSeries {
    const key = `${r.endpoint}\u0001${r.route}\u0001${r.backend}\u0001${r.variant}\u0001${errorType ?? ''}`;
    let series = this.attempts.get(key);
    if (series !== undefined) return series;
    const info = this.options.backends(r.backend);
    const base: Attributes = {
      [ATTR.operation]: OPERATION[r.endpoint],
      [ATTR.apiType]: API_TYPE[r.endpoint],
      [ATTR.provider]: info?.provider ?? DEFAULT_PROVIDER,
      [ATTR.requestModel]: r.route,
      [ATTR.route]: r.route,
      [ATTR.backend]: r.backend,
      [ATTR.variant]: r.variant,
    };
    if (info) {
      base[ATTR.responseModel] = info.model;
      base[ATTR.serverAddress] = info.address;
      base[ATTR.serverPort] = info.port;
    }
    // The family key includes the backend's address, model and provider, so a backend that
    // changed gets new series (the families key by exported labels anyway: this only keeps the
    // fast path exact).
    const familyKey = `${r.endpoint}\u0001${r.route}\u0001${r.backend}\u0001${r.variant}\u0001${info?.address ?? ''}\u0001${info?.port ?? ''}\u0001${info?.model ?? ''}\u0001${info?.provider ?? ''}`;
    if (errorType !== undefined) base[ATTR.errorType] = errorType;
    const families = { duration: this.duration, tokens: this.tokens, ttfc: this.ttfc, tpoc: this.tpoc };
    series = new AttemptSeries(families, `${familyKey}\u0001${errorType ?? ''}`, base);
    // Bounded by the policy's routes × backends × variants × outcomes; cleared on every policy change.
    this.attempts.set(key, series);
    return series;
  }
}

/**
 * Feeds the classifier channel to `metrics` for as long as it lives: the subscriber holds it
 * weakly, so a dropped RequestMetrics (tests make many) stops counting and unsubscribes.
 */
function subscribeClassifications(metrics: RequestMetrics): void {
  const ref = new WeakRef(metrics);
  const onMessage = (message: unknown): void => {
    const target = ref.deref();
    if (target === undefined) diagnostics.unsubscribe(CLASSIFIER_CHANNEL, onMessage);
    else target.classified(message as ClassifierReport);
  };
  diagnostics.subscribe(CLASSIFIER_CHANNEL, onMessage);
}

/** `error.type` of an attempt: the failure class, the status of a 4xx, or why it did not count. */
export function attemptErrorType(outcome: Outcome, status: number | undefined): string | undefined {
  switch (outcome.kind) {
    case 'success':
      return undefined;
    case 'failure':
      return outcome.failure;
    case 'ignored':
      if (outcome.reason === 'client_error') return String(status ?? 400);
      return outcome.reason === 'client_gone' ? 'cancelled' : outcome.reason;
  }
}

/** `routecar.outcome` (and `error.type`) of an app request. */
export function requestOutcome(r: RequestReport): [outcome: string, errorType: string | undefined] {
  if (r.status === 0) return ['cancelled', 'cancelled'];
  // A committed response that broke: its class, whatever code the request log shows.
  if (r.outcome?.kind === 'failure') return ['error', r.outcome.failure];
  // routecar answered itself: refused before any attempt, or every attempt failed.
  if (r.errorCode !== undefined) return [r.attempts === 0 ? 'refused' : 'error', r.errorCode];
  if (r.status >= 500) return ['error', String(r.status)];
  if (r.status >= 400) return ['client_error', String(r.status)];
  return ['success', undefined];
}
