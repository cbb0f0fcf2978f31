/**
 * Plans what a fake upstream "generates" for one request: a deterministic completion that names
 * the server and echoes the prompt, split into tokens, plus the usage numbers. Pure: the same
 * request to the same server always yields the same text, so tests can assert on it.
 */

/** The OpenAI endpoints a fake upstream serves. */
export type FakeEndpoint = 'chat.completions' | 'completions' | 'embeddings' | 'responses';

/** One planned completion. */
export interface Generation {
  readonly endpoint: Exclude<FakeEndpoint, 'embeddings'>;
  /** `body.model`, echoed back (the backend name when the request had none). */
  readonly model: string;
  /** About a quarter of the prompt's characters, like routecar's own estimate. */
  readonly promptTokens: number;
  /** The completion, one element per token; joined they form the full text. */
  readonly pieces: readonly string[];
  /** `length` when `max_tokens` (or its aliases) cut the completion short. */
  readonly finishReason: 'stop' | 'length';
}

/** Characters of the last user message echoed in the completion. */
export const ECHO_CHARS = 40;

const FILLER = [' lorem', ' ipsum', ' dolor', ' sit', ' amet', ' consectetur', ' adipiscing', ' elit'];

type Json = Record<string, unknown>;

/**
 * Plans the completion `[<name>] echo: <first 40 chars of the last user message>`.
 * `tokens` (from the behaviour) pads it with filler words or truncates it; `max_tokens` caps it.
 */
export function planGeneration(
  endpoint: Generation['endpoint'],
  body: Json,
  name: string,
  tokens: number | null,
): Generation {
  const echo = `[${name}] echo: ${lastUserText(endpoint, body).slice(0, ECHO_CHARS)}`;
  const words = echo.match(/\s*\S+/g) ?? [];
  const wanted = tokens ?? words.length;
  const cap = maxTokens(body);
  const count = cap === undefined ? wanted : Math.min(wanted, cap);
  const pieces: string[] = [];
  for (let i = 0; i < count; i++) pieces.push(words[i] ?? FILLER[(i - words.length) % FILLER.length]!);
  return {
    endpoint,
    model: typeof body['model'] === 'string' ? body['model'] : name,
    promptTokens: estimateTokens(promptText(endpoint, body)),
    pieces,
    finishReason: count < wanted ? 'length' : 'stop',
  };
}

/** Token estimate used for prompts and embedding inputs: ceil(chars / 4). */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** All prompt text of a request, for the token estimate. */
export function promptText(endpoint: FakeEndpoint, body: Json): string {
  switch (endpoint) {
    case 'chat.completions':
      return asArray(body['messages'])
        .map((m) => contentText(isObject(m) ? m['content'] : undefined))
        .join('\n');
    case 'completions':
      return asArray(body['prompt']).map(contentText).join('\n');
    case 'embeddings':
      return asArray(body['input']).map(contentText).join('\n');
    case 'responses':
      return [contentText(body['instructions']), ...asArray(body['input']).map(itemText)].join('\n');
  }
}

function lastUserText(endpoint: Generation['endpoint'], body: Json): string {
  if (endpoint === 'completions') return contentText(asArray(body['prompt']).at(-1));
  const items = asArray(endpoint === 'chat.completions' ? body['messages'] : body['input']);
  for (let i = items.length - 1; i >= 0; i--) {
    const item = items[i];
    if (typeof item === 'string') return item;
    if (isObject(item) && (item['role'] ?? 'user') === 'user') return contentText(item['content']);
  }
  return '';
}

function itemText(item: unknown): string {
  return isObject(item) ? contentText(item['content']) : contentText(item);
}

/** A message content: a string, or an array of parts of which the text ones count. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content.map((p) => (isObject(p) && typeof p['text'] === 'string' ? p['text'] : '')).join('');
  }
  return '';
}

function maxTokens(body: Json): number | undefined {
  for (const key of ['max_completion_tokens', 'max_tokens', 'max_output_tokens']) {
    const v = body[key];
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  }
  return undefined;
}

function asArray(v: unknown): unknown[] {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
