/**
 * The output side of the cost estimate: how many tokens the request lets the backend generate.
 * Every limit field the endpoint honours counts (the largest wins, so a zero in one field cannot
 * hide a large value in another), times the number of completions generated. A value routecar
 * cannot count is refused rather than ignored: ignoring it would let the request through the cost
 * ceiling while the backend, which may read it differently, generates without bound.
 */
import { RoutecarError } from '../errors/routecar-error.js';
import { describeJsonValue } from './client-text.js';
import type { Endpoint } from './features.js';

/** Per endpoint: the fields that cap output tokens per completion. */
const LIMIT_FIELDS: Readonly<Record<Endpoint, readonly string[]>> = {
  'chat.completions': ['max_tokens', 'max_completion_tokens'],
  completions: ['max_tokens'],
  embeddings: [],
  responses: ['max_output_tokens'],
  moderations: [],
  rerank: [],
  score: [],
  'audio.transcriptions': [],
  messages: ['max_tokens'],
};

/**
 * Per endpoint: the fields that multiply the completions generated. `best_of` (legacy
 * completions) generates that many server-side and returns `n` of them, so the larger counts.
 */
const CHOICE_FIELDS: Readonly<Record<Endpoint, readonly string[]>> = {
  'chat.completions': ['n'],
  completions: ['n', 'best_of'],
  embeddings: [],
  responses: [],
  moderations: [],
  rerank: [],
  score: [],
  'audio.transcriptions': [],
  messages: [],
};

export interface OutputBudget {
  /** The largest per-completion limit the request sets; undefined when it sets none. */
  readonly maxTokens: number | undefined;
  /** Completions generated: `n` (or `best_of`), 1 when not sent. */
  readonly choices: number;
}

/** Reads and checks the limit fields; throws a 400 `invalid_value` naming the first bad one. */
export function outputBudget(endpoint: Endpoint, body: Readonly<Record<string, unknown>>): OutputBudget {
  let maxTokens: number | undefined;
  for (const field of LIMIT_FIELDS[endpoint]) {
    const v = integerField(body, field, 0);
    if (v !== undefined && (maxTokens === undefined || v > maxTokens)) maxTokens = v;
  }
  let choices = 1;
  for (const field of CHOICE_FIELDS[endpoint]) {
    const v = integerField(body, field, 1);
    if (v !== undefined && v > choices) choices = v;
  }
  return { maxTokens, choices };
}

/** The field as an integer of at least `min`; undefined when absent or null (OpenAI's "unset"). */
function integerField(
  body: Readonly<Record<string, unknown>>,
  field: string,
  min: 0 | 1,
): number | undefined {
  const v = body[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'number' && Number.isInteger(v) && v >= min) return v;
  const expected = min === 0 ? 'a non-negative integer' : 'a positive integer';
  throw new RoutecarError('invalid_value', `"${field}" must be ${expected}, got ${describeJsonValue(v)}`, {
    details: { param: field },
  });
}

/** The field an output limit is written to when the request sent none (the most widely served one). */
const PRIMARY_LIMIT_FIELD: Readonly<Record<Endpoint, string | undefined>> = {
  'chat.completions': 'max_tokens',
  completions: 'max_tokens',
  embeddings: undefined,
  responses: 'max_output_tokens',
  moderations: undefined,
  rerank: undefined,
  score: undefined,
  'audio.transcriptions': undefined,
  // Anthropic's Messages API requires max_tokens, so a request always sent one.
  messages: 'max_tokens',
};

/** The limit fields the request set, with their values as sent (read once, before any attempt). */
export function sentLimits(
  endpoint: Endpoint,
  body: Readonly<Record<string, unknown>>,
): ReadonlyMap<string, number> {
  const out = new Map<string, number>();
  for (const field of LIMIT_FIELDS[endpoint]) {
    const v = body[field];
    if (typeof v === 'number') out.set(field, v);
  }
  return out;
}

/**
 * Writes one attempt's output limit into the body: every limit field the request sent, capped at
 * `cap` (per completion), or the endpoint's usual field when it sent none. `cap` undefined puts
 * back what the request sent, so a failover to a cheaper backend is not held to a pricier one's cap.
 */
export function writeOutputLimit(
  endpoint: Endpoint,
  body: Record<string, unknown>,
  sent: ReadonlyMap<string, number>,
  cap: number | undefined,
): void {
  const primary = PRIMARY_LIMIT_FIELD[endpoint];
  if (primary === undefined) return;
  for (const [field, value] of sent) body[field] = cap === undefined ? value : Math.min(value, cap);
  if (sent.size > 0) return;
  if (cap === undefined) delete body[primary];
  else body[primary] = cap;
}

/**
 * For a stream on an endpoint that reports usage in a final chunk only when asked
 * (`stream_options.include_usage`), asks for it. Returns whether routecar added the request, in
 * which case the usage-only chunk is routecar's to drop before the app sees it.
 */
export function askForStreamUsage(endpoint: Endpoint, body: Record<string, unknown>): boolean {
  if (body.stream !== true || (endpoint !== 'chat.completions' && endpoint !== 'completions')) return false;
  const options = body.stream_options;
  if (
    options !== null &&
    typeof options === 'object' &&
    (options as Record<string, unknown>).include_usage === true
  ) {
    return false;
  }
  body.stream_options = {
    ...(options !== null && typeof options === 'object' ? options : {}),
    include_usage: true,
  };
  return true;
}
