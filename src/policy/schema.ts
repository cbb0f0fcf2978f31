/**
 * The wire policy document: what users write in YAML or JSON. This schema is the single source of
 * the wire type (`PolicyDocument`), of the defaults, and of docs/policy.schema.json.
 * Objects are strict, so a misspelt key is an error instead of a silently ignored setting.
 * Cross-references (a route naming an unknown backend, ...) are checked by `compile.ts`.
 */
import * as z from 'zod';
import { parseSelector } from './selector.js';
import { BanditSchema } from './bandit-schema.js';
import { backendName, ENV_NAME_PATTERN, headerName, NAME_PATTERN, routeName, splitWeights } from './names.js';
import { ruleSchema } from './rule-schema.js';
import { LOCALITY_MODES } from './types.js';

/** Defaults, in one place so docs and tests can refer to them. */
export const DEFAULTS = {
  timeouts: { connectMs: 2000, firstByteMs: 60000, idleMs: 30000 },
  objective: { latency: 1, errors: 4, cost: 0, load: 1 },
  signals: { intervalMs: 1000 },
  affinity: { prefixChars: 2048, maxLoadFactor: 1.5 },
  overBudget: 'refuse',
  defaultMaxTokens: 256,
  sticky: 'none',
  failover: { maxAttempts: 3 },
  breaker: {
    errorThresholdPercentage: 50,
    volumeThreshold: 10,
    resetTimeoutMs: 15000,
    consecutiveFailures: 5,
  },
  window: { sizeMs: 60000, buckets: 12 },
  classifier: { timeoutMs: 100, cacheSize: 10000 },
} as const;

/** Headers a backend's static `headers` may not set: routecar sets them per request. */
const RESERVED_HEADERS: ReadonlySet<string> = new Set([
  'host',
  'content-length',
  'content-type',
  'transfer-encoding',
  'connection',
]);

const millis = (what: string) => z.int().positive(`${what} must be a positive whole number of milliseconds`);

const baseUrl = z
  .string()
  .superRefine((text, ctx) => {
    let url: URL;
    try {
      url = new URL(text);
    } catch {
      ctx.addIssue({ code: 'custom', message: `not a valid URL: "${text}"` });
      return;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      ctx.addIssue({ code: 'custom', message: `must be an http:// or https:// URL, got "${url.protocol}"` });
    } else if (url.search !== '' || url.hash !== '') {
      ctx.addIssue({ code: 'custom', message: 'must not contain a query string or fragment' });
    }
  })
  .meta({ format: 'uri', description: 'OpenAI-compatible base URL, e.g. http://llama:8000/v1.' });

const backendSchema = z
  .strictObject({
    url: baseUrl,
    model: z.string().min(1).describe("The backend's own model name; replaces body.model on the way out."),
    price: z
      .strictObject({
        input: z.number().min(0, 'price must be >= 0').describe('USD per 1M prompt tokens.'),
        output: z.number().min(0, 'price must be >= 0').describe('USD per 1M completion tokens.'),
        cachedInput: z
          .number()
          .min(0, 'price must be >= 0')
          .optional()
          .describe(
            'USD per 1M prompt tokens the backend reports as served from its cache; `input` when unset.',
          ),
      })
      .describe('USD per one million tokens.'),
    tokenizerFactor: z
      .number()
      .positive('tokenizerFactor must be > 0')
      .max(100)
      .optional()
      .describe("Characters per token of this backend's tokenizer, for prompt estimates (default 4)."),
    zone: z.string().min(1).optional().describe('Free-form location, e.g. us-east-1a.'),
    labels: z
      .record(z.string().min(1), z.string({ error: "label values are strings (quote numbers: '1')" }))
      .optional()
      .describe('Free-form string labels.'),
    maxInflight: z.int().positive().optional().describe('Attempts in flight at once; unlimited when unset.'),
    timeouts: z
      .strictObject({
        connectMs: millis('connectMs')
          .default(DEFAULTS.timeouts.connectMs)
          .describe('TCP (and TLS) connect budget.'),
        firstByteMs: millis('firstByteMs')
          .default(DEFAULTS.timeouts.firstByteMs)
          .describe('From sending the request to the first response byte.'),
        idleMs: millis('idleMs')
          .default(DEFAULTS.timeouts.idleMs)
          .describe('Longest silence between two body chunks once the response has started.'),
      })
      .default(DEFAULTS.timeouts),
    apiKeyEnv: z
      .string()
      .regex(ENV_NAME_PATTERN, 'not a valid environment variable name')
      .optional()
      .describe('Environment variable holding the API key sent as Authorization: Bearer.'),
    signals: z
      .strictObject({
        metricsUrl: z
          .url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' })
          .optional()
          .describe(
            "The model server's Prometheus endpoint, e.g. http://llama:8000/metrics, scraped by every sidecar.",
          ),
        selector: z
          .string()
          .min(1)
          .superRefine((value, ctx) => {
            const parsed = parseSelector(value);
            if (!parsed.ok) ctx.addIssue({ code: 'custom', message: parsed.error });
          })
          .optional()
          .describe(
            'Instead of metricsUrl: PromQL label matchers picking the backend\'s servers in the fleet\'s Prometheus (ROUTECAR_PROMETHEUS_URL), e.g. job="llama-70b".',
          ),
        format: z
          .enum(['vllm', 'sglang', 'tgi'])
          .describe('Which metric names to read: vllm, sglang or tgi.'),
        intervalMs: z
          .int()
          .min(100, 'intervalMs must be at least 100')
          .default(DEFAULTS.signals.intervalMs)
          .describe('Scrape interval (jittered by ±20%); a signal older than three intervals is ignored.'),
      })
      .refine((s) => (s.metricsUrl === undefined) !== (s.selector === undefined), {
        message:
          'set metricsUrl (scraped by each sidecar) or selector (read from ROUTECAR_PROMETHEUS_URL), not both',
      })
      .optional()
      .describe(
        "Load signals (queue depth, KV-cache usage): scraped from the server's own /metrics, or read from the fleet's Prometheus.",
      ),
    api: z
      .enum(['openai', 'anthropic'])
      .optional()
      .describe(
        'Which API the backend speaks: openai (default) serves the OpenAI endpoints, anthropic serves /v1/messages.',
      ),
    auth: z
      .strictObject({
        header: z
          .enum(['authorization', 'api-key', 'x-api-key'])
          .describe(
            'Header carrying the key: authorization (OpenAI, vLLM), api-key (Azure), x-api-key (Anthropic).',
          ),
        scheme: z.enum(['Bearer', 'none']).describe('Bearer sends "Bearer <key>"; none sends the key alone.'),
      })
      .optional()
      .describe(
        'How the apiKeyEnv key is sent. Default: authorization with Bearer (api: anthropic: x-api-key with none).',
      ),
    headers: z
      .record(headerName, z.string())
      .refine((h) => !Object.keys(h).some((k) => RESERVED_HEADERS.has(k.toLowerCase())), {
        message: 'host, content-length, content-type, transfer-encoding and connection are set by routecar',
      })
      .optional()
      .describe('Static headers added to every request to this backend (e.g. anthropic-version).'),
    query: z
      .record(z.string().min(1), z.string())
      .optional()
      .describe("Query parameters added to every request to this backend (e.g. Azure's api-version)."),
    contextWindow: z
      .int()
      .positive('contextWindow must be a positive number of tokens')
      .optional()
      .describe(
        'Tokens the model accepts (prompt plus output); a request whose estimate does not fit is not sent here.',
      ),
  })
  .describe('One OpenAI-compatible model server.');

const classifierSchema = z
  .strictObject({
    url: z
      .url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' })
      .describe('Where {"text": "..."} is POSTed; the answer is {"label": "...", "score": 0..1}.'),
    timeoutMs: millis('timeoutMs')
      .default(DEFAULTS.classifier.timeoutMs)
      .describe('Longest wait for an answer; past it the request goes on without a label.'),
    cacheSize: z
      .int()
      .min(0)
      .default(DEFAULTS.classifier.cacheSize)
      .describe('Labels kept in memory, by hash of the prompt text; 0 keeps none.'),
  })
  .describe('An external prompt classifier, called only when a rule that reads it is reached.');

const objectiveWeight = z.number().min(0, 'objective weights must be >= 0');

const routeSchema = z
  .strictObject({
    backends: z
      .array(backendName)
      .min(1, 'a route needs at least one backend')
      .describe('Backends that may serve the route, in order.'),
    split: splitWeights
      .optional()
      .describe(
        'Canary / A-B weights. Without it: health and cost scoring. Unlisted backends are fallbacks.',
      ),
    bandit: BanditSchema.optional().describe(
      "Thompson sampling over the route's backends (or its split's arms), learning from outcomes and feedback. `{}` takes every default.",
    ),
    sticky: z
      .string()
      .regex(
        /^(none|body:user|header:[A-Za-z0-9!#$%&'*+.^_`|~-]+)$/,
        'expected header:NAME, body:user or none',
      )
      .default(DEFAULTS.sticky)
      .describe('What keeps a user on the same split arm: header:NAME, body:user or none.'),
    objective: z
      .strictObject({
        latency: objectiveWeight.default(DEFAULTS.objective.latency).describe('Weight of relative latency.'),
        errors: objectiveWeight.default(DEFAULTS.objective.errors).describe('Weight of the error ratio.'),
        cost: objectiveWeight.default(DEFAULTS.objective.cost).describe('Weight of relative price.'),
        load: objectiveWeight
          .default(DEFAULTS.objective.load)
          .describe("Weight of the server's queue and KV-cache pressure (backends with signals)."),
      })
      .default(DEFAULTS.objective)
      .describe('Scoring weights; 0 switches a term off.'),
    maxCostUsd: z.number().positive().optional().describe('USD ceiling per request (estimated).'),
    overBudget: z
      .enum(['refuse', 'cheapest'])
      .default(DEFAULTS.overBudget)
      .describe('When no backend fits under the ceiling: refuse, or use the cheapest healthy one.'),
    defaultMaxTokens: z
      .int()
      .positive()
      .default(DEFAULTS.defaultMaxTokens)
      .describe('Output tokens assumed for cost estimates when the request sets no max_tokens.'),
    locality: z
      .enum(LOCALITY_MODES)
      .optional()
      .describe(
        "Against the sidecar's ROUTECAR_ZONE: prefer-zone (default when it is set), zone-only or any.",
      ),
    affinity: z
      .strictObject({
        by: z.literal('prefix').describe('What makes the key: the leading text of the prompt.'),
        prefixChars: z
          .int()
          .min(1)
          .max(32768)
          .default(DEFAULTS.affinity.prefixChars)
          .describe(
            'Leading characters of the prompt (system prompt and first messages) hashed into the key.',
          ),
        maxLoadFactor: z
          .number()
          .min(1, 'maxLoadFactor must be at least 1')
          .default(DEFAULTS.affinity.maxLoadFactor)
          .describe(
            "A backend above this multiple of the candidates' mean load is skipped for the next one.",
          ),
      })
      .optional()
      .describe(
        'Prompt-prefix affinity: the same leading text goes to the same backend on every pod (KV-cache reuse).',
      ),
    failover: z
      .strictObject({
        maxAttempts: z
          .int()
          .min(1, 'maxAttempts must be at least 1')
          .default(DEFAULTS.failover.maxAttempts)
          .describe('Most backends tried for one request, first attempt included.'),
      })
      .default(DEFAULTS.failover),
  })
  .describe('A name clients send as model, and how its requests are spread over backends.');

/** The whole policy document. */
const usdLimit = z.number().positive('must be > 0').max(1e9, 'must be at most 1e9');

/** One tenant's spend limits: per UTC hour, per UTC day, or both. */
const budgetSchema = z
  .strictObject({
    usdPerHour: usdLimit.optional().describe('USD a tenant may spend per UTC clock hour.'),
    usdPerDay: usdLimit.optional().describe('USD a tenant may spend per UTC day.'),
  })
  .refine(
    (b) => b.usdPerHour !== undefined || b.usdPerDay !== undefined,
    'set usdPerHour, usdPerDay or both',
  );

export const policyDocumentSchema = z
  .strictObject({
    version: z.literal(1, { error: 'unsupported policy version (expected 1)' }).describe('Always 1.'),
    backends: z
      .record(backendName, backendSchema)
      .refine((b) => Object.keys(b).length > 0, 'at least one backend is required')
      .describe('Model servers by name.'),
    routes: z
      .record(routeName, routeSchema)
      .refine((r) => Object.keys(r).length > 0, 'at least one route is required')
      .describe('Routes by the name clients send as model.'),
    classifiers: z
      .record(
        z
          .string()
          .regex(
            NAME_PATTERN,
            'classifier names are letters, digits and . _ : - (starting with a letter or digit)',
          )
          .refine((name) => name !== 'minScore', 'minScore is a key of match.class, not a classifier name'),
        classifierSchema,
      )
      .optional()
      .describe('External prompt classifiers by name, read by rules through match.class.'),
    budgets: z
      .strictObject({
        tenants: z
          .record(z.string().min(1), budgetSchema)
          .optional()
          .describe('Spend budgets by tenant (x-tenant-id, as rules see it).'),
        default: budgetSchema
          .optional()
          .describe(
            'The budget of every tenant not named under tenants (requests without a tenant included).',
          ),
      })
      .optional()
      .describe('USD spend budgets per tenant; a tenant over budget gets 429 budget_exhausted.'),
    rules: z
      .array(ruleSchema)
      .default([])
      .describe('Ordered; the first rule that matches is applied (and, after a continue rule, the next).'),
    breaker: z
      .strictObject({
        errorThresholdPercentage: z
          .number()
          .gt(0, 'must be between 0 and 100')
          .max(100, 'must be between 0 and 100')
          .default(DEFAULTS.breaker.errorThresholdPercentage)
          .describe('Failure percentage in the window that opens the breaker.'),
        volumeThreshold: z
          .int()
          .min(0)
          .default(DEFAULTS.breaker.volumeThreshold)
          .describe('Requests in the window before the breaker may open.'),
        resetTimeoutMs: millis('resetTimeoutMs')
          .default(DEFAULTS.breaker.resetTimeoutMs)
          .describe('How long an open breaker waits before letting a probe through.'),
        consecutiveFailures: z
          .int()
          .min(0)
          .default(DEFAULTS.breaker.consecutiveFailures)
          .describe(
            'Failures in a row that open the breaker whatever the window says (a backend that just died); 0 disables.',
          ),
      })
      .default(DEFAULTS.breaker)
      .describe('Per-backend circuit breaker settings.'),
    window: z
      .strictObject({
        sizeMs: millis('sizeMs').default(DEFAULTS.window.sizeMs).describe('Length of the rolling window.'),
        buckets: z
          .int()
          .min(1)
          .default(DEFAULTS.window.buckets)
          .describe('Buckets the window is divided into.'),
      })
      .refine((w) => w.sizeMs % w.buckets === 0, 'sizeMs must be a multiple of buckets')
      .default(DEFAULTS.window)
      .describe('Rolling window used for latency and error statistics.'),
  })
  .describe('routecar policy document.');

/** The policy document after validation, with every default filled in. */
export type PolicyDocument = z.output<typeof policyDocumentSchema>;
/** The policy document as written (defaults optional). */
export type PolicyDocumentInput = z.input<typeof policyDocumentSchema>;
/** One entry of `backends`, validated. */
export type BackendDocument = PolicyDocument['backends'][string];
/** One entry of `routes`, validated. */
export type RouteDocument = PolicyDocument['routes'][string];
