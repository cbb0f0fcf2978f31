/**
 * What a fake upstream does with the next request, and how that is changed at runtime: from code,
 * from the control API (JSON), from the command line, and per request from `x-fake-*` headers.
 * One parser serves all four, so a field means the same thing wherever it is set.
 */

/**
 * How requests are answered.
 * - `ok`: a normal completion (subject to `failureRate`)
 * - `error500`: 500 with an OpenAI-shaped error body
 * - `rateLimit`: 429 with `Retry-After: <retryAfterSec>`
 * - `hang`: the request is accepted and never answered
 * - `resetBeforeHeaders`: the socket is destroyed as soon as the request arrived
 * - `resetMidStream`: headers and `midStreamChunks` chunks are sent, then the socket is destroyed
 */
export type FakeMode = 'ok' | 'error500' | 'rateLimit' | 'hang' | 'resetBeforeHeaders' | 'resetMidStream';

/**
 * How `GET /metrics` answers (the model-server load page routecar scrapes).
 * - `ok`: vLLM's text format, with `queueDepth`, `kvCacheUsage` and the requests in flight
 * - `error500`: 500 with a short text body
 * - `garbage`: 200 with a page that is not Prometheus text
 * - `hang`: accepted and never answered
 */
export type FakeMetricsMode = 'ok' | 'error500' | 'garbage' | 'hang';

export const FAKE_METRICS_MODES: readonly FakeMetricsMode[] = ['ok', 'error500', 'garbage', 'hang'];

/**
 * How a stream's events are written, as the servers routecar fronts write them:
 * - `openai`: `data: {...}` lines ending in LF (OpenAI, vLLM, SGLang, llama.cpp's server)
 * - `sse-starlette`: `data: {...}` lines ending in CRLF (llama-cpp-python's server, and others
 *   built on sse-starlette)
 * - `axum`: `data:{...}` with no space after the colon, lines ending in LF (TGI)
 */
export type FakeSseFormat = 'openai' | 'sse-starlette' | 'axum';

export const FAKE_SSE_FORMATS: readonly FakeSseFormat[] = ['openai', 'sse-starlette', 'axum'];

export const FAKE_MODES: readonly FakeMode[] = [
  'ok',
  'error500',
  'rateLimit',
  'hang',
  'resetBeforeHeaders',
  'resetMidStream',
];

/** The scriptable behaviour of a fake upstream. */
export interface FakeBehaviour {
  /** How requests are answered. */
  readonly mode: FakeMode;
  /** Delay before the response head is written (time to first byte). */
  readonly latencyMs: number;
  /** Uniform random extra delay in [0, jitterMs) added to `latencyMs`. */
  readonly jitterMs: number;
  /** Delay between two streamed token chunks. */
  readonly tokenDelayMs: number;
  /** Completion length in tokens; `null` = as many as the echo text has. `max_tokens` caps it. */
  readonly tokens: number | null;
  /** Fraction (0..1) of `ok` requests answered with a 500 instead, drawn from the injected random. */
  readonly failureRate: number;
  /** `Retry-After` seconds sent with a 429 in `rateLimit` mode. */
  readonly retryAfterSec: number;
  /** Chunks sent by `resetMidStream` before the socket is destroyed. */
  readonly midStreamChunks: number;
  /** `vllm:num_requests_waiting` served on `/metrics` (the server's queue, as set). */
  readonly queueDepth: number;
  /** `vllm:kv_cache_usage_perc` served on `/metrics`, 0..1. */
  readonly kvCacheUsage: number;
  /** How `/metrics` answers. */
  readonly metricsMode: FakeMetricsMode;
  /** How the events of a streamed answer are written. */
  readonly sseFormat: FakeSseFormat;
}

export const DEFAULT_BEHAVIOUR: FakeBehaviour = {
  mode: 'ok',
  latencyMs: 0,
  jitterMs: 0,
  tokenDelayMs: 0,
  tokens: null,
  failureRate: 0,
  retryAfterSec: 1,
  midStreamChunks: 2,
  queueDepth: 0,
  kvCacheUsage: 0,
  metricsMode: 'ok',
  sseFormat: 'openai',
};

/** A partial behaviour, as accepted by `configure()`, the control API and the headers. */
export type BehaviourPatch = { -readonly [K in keyof FakeBehaviour]?: FakeBehaviour[K] };

export type PatchResult =
  { readonly ok: true; readonly patch: BehaviourPatch } | { readonly ok: false; readonly error: string };

/** Every behaviour field, in one order: the flags, headers and control API take each of them. */
export const BEHAVIOUR_FIELDS = Object.keys(DEFAULT_BEHAVIOUR) as readonly (keyof FakeBehaviour)[];

/** The fields that take one of a few names, with those names. */
const ENUM_FIELDS = {
  mode: FAKE_MODES,
  metricsMode: FAKE_METRICS_MODES,
  sseFormat: FAKE_SSE_FORMATS,
} as const;

type NumericField = Exclude<keyof FakeBehaviour, keyof typeof ENUM_FIELDS | 'tokens'>;
const NUMERIC_FIELDS: readonly NumericField[] = [
  'latencyMs',
  'jitterMs',
  'tokenDelayMs',
  'failureRate',
  'retryAfterSec',
  'midStreamChunks',
  'queueDepth',
  'kvCacheUsage',
];

/** The behaviour fields of `source` (which may carry other options too). */
export function pickBehaviour(source: BehaviourPatch): BehaviourPatch {
  const picked: Record<string, unknown> = {};
  for (const field of BEHAVIOUR_FIELDS) {
    const value = (source as Record<string, unknown>)[field];
    if (value !== undefined) picked[field] = value;
  }
  return picked as BehaviourPatch;
}

/** Field name → `x-fake-*` header / `--flag` name: `latencyMs` → `latency-ms`. */
export function kebab(field: keyof FakeBehaviour): string {
  return field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/**
 * Validates untrusted input (JSON, headers, argv). Numbers may arrive as numeric strings.
 * Unknown keys are errors, so a typo in a test or a curl command is not silently ignored.
 */
export function parseBehaviourPatch(input: Readonly<Record<string, unknown>>): PatchResult {
  const patch: BehaviourPatch = {};
  for (const [key, raw] of Object.entries(input)) {
    if (raw === undefined) continue;
    if (Object.hasOwn(ENUM_FIELDS, key)) {
      const allowed: readonly string[] = ENUM_FIELDS[key as keyof typeof ENUM_FIELDS];
      if (typeof raw !== 'string' || !allowed.includes(raw)) {
        return { ok: false, error: `${key}: expected one of ${allowed.join(', ')}` };
      }
      (patch as Record<string, unknown>)[key] = raw;
    } else if (key === 'tokens') {
      if (raw === null || raw === 'null') {
        patch.tokens = null;
        continue;
      }
      const n = toNumber(raw);
      if (n === undefined || !Number.isInteger(n) || n < 0)
        return { ok: false, error: 'tokens: expected an integer >= 0 or null' };
      patch.tokens = n;
    } else if ((NUMERIC_FIELDS as readonly string[]).includes(key)) {
      const field = key as NumericField;
      const n = toNumber(raw);
      if (n === undefined || n < 0) return { ok: false, error: `${field}: expected a number >= 0` };
      if ((field === 'failureRate' || field === 'kvCacheUsage') && n > 1)
        return { ok: false, error: `${field}: expected a number in 0..1` };
      if ((field === 'midStreamChunks' || field === 'queueDepth') && !Number.isInteger(n))
        return { ok: false, error: `${field}: expected an integer` };
      patch[field] = n;
    } else {
      return { ok: false, error: `${key}: unknown field` };
    }
  }
  return { ok: true, patch };
}

/** Per-request overrides from `x-fake-mode`, `x-fake-latency-ms`, `x-fake-tokens`, ... */
export function patchFromHeaders(
  headers: Readonly<Record<string, string | string[] | undefined>>,
): PatchResult {
  const input: Record<string, unknown> = {};
  for (const field of BEHAVIOUR_FIELDS) {
    const value = headers[`x-fake-${kebab(field)}`];
    if (value !== undefined) input[field] = Array.isArray(value) ? value[0] : value;
  }
  return parseBehaviourPatch(input);
}

function toNumber(raw: unknown): number | undefined {
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && raw.trim() !== '' ? Number(raw) : NaN;
  return Number.isFinite(n) ? n : undefined;
}
