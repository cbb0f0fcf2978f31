/**
 * The compiled policy: what the router reads. Immutable once built; a new document or a new
 * split from Consul produces a new snapshot that is swapped in whole.
 * The wire type (what users write) is inferred from the schema in `schema.ts`; this file is
 * the runtime shape that `compile.ts` produces from it.
 */
import type { BanditSettings } from './bandit-schema.js';
import type { RequestFeatures } from '../ingress/features.js';

/** Per-backend timeouts, milliseconds. */
export interface BackendTimeouts {
  /** TCP connect (and TLS) budget. */
  readonly connectMs: number;
  /** From the request being sent to the first response byte. */
  readonly firstByteMs: number;
  /** Longest silence between two body chunks once the response has started. */
  readonly idleMs: number;
}

/**
 * Where a backend's load comes from: its own load page (`/metrics`), scraped by this sidecar, or
 * the fleet's Prometheus (ROUTECAR_PROMETHEUS_URL) where that already scrapes the servers.
 */
export interface BackendSignals {
  /** The model server's Prometheus endpoint, e.g. `http://llama:8000/metrics`; absent with `selector`. */
  readonly metricsUrl?: string;
  /** PromQL label matchers picking the backend's servers in the fleet's Prometheus, e.g. `job="llama-70b"`. */
  readonly selector?: string;
  /** Which server's metric names to read. */
  readonly format: 'vllm' | 'sglang' | 'tgi';
  /** Scrape interval (jittered by ±20%); the signal is stale after three of them. */
  readonly intervalMs: number;
}

export interface CompiledBackend {
  readonly name: string;
  /** OpenAI-compatible base URL, e.g. `http://llama:8000/v1` (no trailing slash). */
  readonly baseUrl: string;
  /** The backend's own model name; replaces `body.model` on the way out. */
  readonly model: string;
  /** USD per one million tokens; cached prompt tokens (as the backend reports them) at their own price. */
  readonly price: {
    readonly inputPerMTok: number;
    readonly outputPerMTok: number;
    readonly cachedInputPerMTok: number;
  };
  /** Characters per token of the backend's tokenizer, for prompt estimates. */
  readonly tokenizerFactor: number;
  readonly zone: string | undefined;
  readonly labels: Readonly<Record<string, string>>;
  /** Attempts allowed in flight at once; Infinity when unset. */
  readonly maxInflight: number;
  readonly timeouts: BackendTimeouts;
  /** Name of the environment variable holding the backend's API key (never the key itself). */
  readonly apiKeyEnv: string | undefined;
  /** Load signals scraped from the server's `/metrics`; absent when the policy sets none. */
  readonly signals?: BackendSignals | undefined;
  /** Which API the backend speaks; `openai` when the policy says nothing. */
  readonly api?: BackendApi;
  /** How the `apiKeyEnv` key is sent; absent: `authorization` / `Bearer` (anthropic: `x-api-key` / `none`). */
  readonly auth?: BackendAuthShape;
  /** Static headers added to every request, lower-case names. */
  readonly headers?: Readonly<Record<string, string>>;
  /** Query parameters added to every request (Azure's `api-version`). */
  readonly query?: Readonly<Record<string, string>>;
  /** Tokens the model accepts, prompt plus output; unlimited when unset. */
  readonly contextWindow?: number;
}

/** The API a backend speaks: OpenAI's endpoints, or Anthropic's Messages API (`/v1/messages`). */
export type BackendApi = 'openai' | 'anthropic';

/** The header a backend's key goes in, and whether it is prefixed with `Bearer `. */
export interface BackendAuthShape {
  readonly header: 'authorization' | 'api-key' | 'x-api-key';
  readonly scheme: 'Bearer' | 'none';
}

/** How a route keeps a user on the same split variant. */
export type StickyKey =
  | { readonly kind: 'none' }
  | { readonly kind: 'header'; readonly name: string }
  | { readonly kind: 'body'; readonly field: 'user' };

/** Relative weights of the scoring terms; 0 switches a term off. */
export interface Objective {
  readonly latency: number;
  readonly errors: number;
  readonly cost: number;
  /** Weight of the model server's queue and KV-cache pressure (scraped signals); 1 when unset. */
  readonly load?: number;
}

/** Split weights by backend name, as written (not normalised). A 0 switches the arm off: no traffic, not even as a fallback. */
export type SplitWeights = ReadonlyMap<string, number>;

export interface CompiledRoute {
  readonly name: string;
  /** Backends that may serve the route, in the order written. */
  readonly backends: readonly string[];
  /** Canary / A-B weights; undefined means health and cost scoring. Backends of the route absent from the split are fallbacks only. */
  readonly split: SplitWeights | undefined;
  /** Where the split's weights came from. */
  readonly splitSource: 'policy' | 'consul' | undefined;
  readonly sticky: StickyKey;
  readonly objective: Objective;
  /** USD ceiling per request; a request header may lower it, never raise it. */
  readonly maxCostUsd: number | undefined;
  /** When no backend fits under the ceiling: refuse, or take the cheapest one that is up. */
  readonly overBudget: 'refuse' | 'cheapest';
  /** Output tokens assumed for cost estimates when the request sets no max_tokens. */
  readonly defaultMaxTokens: number;
  /** Most backends tried for one request (first attempt included). */
  readonly maxAttempts: number;
  /**
   * Zone preference against the sidecar's `ROUTECAR_ZONE`: `prefer-zone` (the default when the
   * zone is known), `zone-only` or `any`; undefined means the default.
   */
  readonly locality?: LocalityMode | undefined;
  /** Prompt-prefix affinity; undefined when the route has none. */
  readonly affinity?: PrefixAffinity | undefined;
  /** Thompson sampling over the route's backends (or its split's arms); undefined: split or score. */
  readonly bandit?: BanditSettings;
}

/** `routes.<r>.affinity: {by: prefix}`: requests with the same leading text go to the same backend. */
export interface PrefixAffinity {
  /** Leading characters of the prompt that make the key. */
  readonly prefixChars: number;
  /** A backend above this multiple of the candidates' mean load is skipped. */
  readonly maxLoadFactor: number;
}

/** What a matching rule changes. Every field is optional; a rule names only what it changes. */
export interface RuleActions {
  /** Send the request to another route. */
  readonly route?: string;
  /** Try these backends first, in this order (when they are available). */
  readonly prefer?: readonly string[];
  /** Restrict the candidates to these backends. */
  readonly only?: readonly string[];
  /** Remove these backends from the candidates. */
  readonly exclude?: readonly string[];
  /** Override some objective weights. */
  readonly objective?: Partial<Objective>;
  /** Cost ceiling for matching requests (the lower of this and any other ceiling wins). */
  readonly maxCostUsd?: number;
  /** What to do when nothing fits under the ceiling. */
  readonly overBudget?: 'refuse' | 'cheapest';
  /** Replace the route's split for matching requests. */
  readonly split?: SplitWeights;
  /** Honour `x-routecar-backend` for matching requests. */
  readonly allowPin?: boolean;
  /** Refuse matching requests with this message (HTTP 403 unless a status is given). */
  readonly deny?: { readonly message: string; readonly status: number };
}

export interface CompiledRule {
  readonly name: string;
  /** Pure predicate compiled from the rule's `match` clause (an unasked classifier: no match). */
  readonly matches: (features: RequestFeatures) => boolean;
  readonly actions: RuleActions;
  /** `continue: true`: after this rule applies, later rules are still matched and refine it. */
  readonly continue?: boolean;
  /** Classifiers the rule's `match.class` reads; absent or empty when it reads none. */
  readonly classifiers?: readonly string[];
  /** The rule's match without its `class` clause: when false, no classifier needs asking for it. */
  readonly prefilter?: (features: RequestFeatures) => boolean;
}

/** An external prompt classifier (`classifiers.<name>`). */
export interface CompiledClassifier {
  readonly name: string;
  /** Where `{"text": ...}` is POSTed. */
  readonly url: string;
  /** Longest wait for an answer, connection included; past it the request goes on without a label. */
  readonly timeoutMs: number;
  /** Labels kept, by hash of the text; 0 keeps none. */
  readonly cacheSize: number;
}

/** Options handed to each backend's opossum breaker. */
export interface BreakerSettings {
  readonly errorThresholdPercentage: number;
  readonly volumeThreshold: number;
  readonly resetTimeoutMs: number;
  /**
   * Failures in a row that open the breaker whatever the window says; 0 disables. A backend that
   * just died still has its earlier successes in the window, and scoring steers traffic away from
   * it, so the percentage alone may never get there.
   */
  readonly consecutiveFailures: number;
}

/** Rolling window geometry. */
export interface WindowSettings {
  readonly sizeMs: number;
  readonly buckets: number;
}

/**
 * `routes.<r>.locality`: keep traffic in the sidecar's zone while it can be served there
 * (`prefer-zone`), never leave it (`zone-only`), or ignore zones (the third mode).
 */
export const LOCALITY_MODES = ['prefer-zone', 'zone-only', 'any'] as const;
export type LocalityMode = (typeof LOCALITY_MODES)[number];

export interface CompiledPolicy {
  /** Short content hash of the document (plus split overrides); shown in `x-routecar-policy-version`. */
  readonly version: string;
  readonly backends: ReadonlyMap<string, CompiledBackend>;
  readonly routes: ReadonlyMap<string, CompiledRoute>;
  /** Ordered; the first rule that matches is applied (and, while rules say `continue`, the next). */
  readonly rules: readonly CompiledRule[];
  /** External prompt classifiers by name; absent when the policy declares none. */
  readonly classifiers?: ReadonlyMap<string, CompiledClassifier>;
  /**
   * Request headers the policy reads (rules' `match.header`, routes' `sticky: header:NAME`), lower
   * case, sorted, each once: what the access log records so that traffic can be replayed against
   * another policy. Absent in hand-built policies (tests): read as none.
   */
  readonly headersRead?: readonly string[];
  /** Spend budgets per tenant; absent when the policy sets none. */
  readonly budgets?: CompiledBudgets;
  readonly breaker: BreakerSettings;
  readonly window: WindowSettings;
}

/** One tenant's spend limits (at least one is set). */
export interface TenantBudget {
  /** USD per UTC clock hour. */
  readonly usdPerHour?: number;
  /** USD per UTC day. */
  readonly usdPerDay?: number;
}

/** `budgets`: named tenants' budgets, and the one every other tenant gets. */
export interface CompiledBudgets {
  readonly tenants: ReadonlyMap<string, TenantBudget>;
  readonly default: TenantBudget | undefined;
}
