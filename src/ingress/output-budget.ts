/**
 * The output side of the cost estimate: how many tokens the request lets the backend generate.
 * Every limit field the endpoint honours counts (the largest wins, so a zero in one field cannot
 * hide a large value in another), times the number of completions generated. A value routecar
 * cannot count is refused rather than ignored: ignoring it would let the request through the cost
 * ceiling while the backend, which may read it differently, generates without bound.
 */
import { RoutecarError } from '../server/errors.js';
import { describeJsonValue } from './client-text.js';
import type { Endpoint } from './features.js';

/** Per endpoint: the fields that cap output tokens per completion. */
const LIMIT_FIELDS: Readonly<Record<Endpoint, readonly string[]>> = {
  'chat.completions': ['max_tokens', 'max_completion_tokens'],
  completions: ['max_tokens'],
  embeddings: [],
  responses: ['max_output_tokens'],
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
  throw new RoutecarError(
    400,
    'invalid_value',
    `"${field}" must be ${expected}, got ${describeJsonValue(v)}`,
    undefined,
    { param: field },
  );
}
