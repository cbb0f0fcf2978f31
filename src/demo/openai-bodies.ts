/**
 * Wire shapes of the fake upstream's answers: full JSON bodies, the SSE frames of a stream, and
 * OpenAI-shaped errors. Minimal, but each carries the fields the official client and routecar read
 * (`model`, `choices`, `usage`, `finish_reason`, the Responses API events).
 */
import { estimateTokens, promptText, type Generation } from './generation.js';

/** One server-sent event to write; `token` frames are paced by `tokenDelayMs`. */
export interface SseFrame {
  readonly event?: string;
  readonly data: string;
  readonly token: boolean;
}

/** Identity of one response: ids are `<prefix>-<server>-<sequence>`, so they are unique per server run. */
export interface ResponseIds {
  readonly id: string;
  /** Epoch seconds. */
  readonly created: number;
}

type Json = Record<string, unknown>;

/** `{"error": {...}}` as OpenAI (and vLLM) send it. */
export function openAiError(message: string, type: string, code: string | null): Json {
  return { error: { message, type, param: null, code } };
}

function chatUsage(g: Generation): Json {
  const completion = g.pieces.length;
  return {
    prompt_tokens: g.promptTokens,
    completion_tokens: completion,
    total_tokens: g.promptTokens + completion,
  };
}

function responsesUsage(g: Generation): Json {
  const output = g.pieces.length;
  return {
    input_tokens: g.promptTokens,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: output,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: g.promptTokens + output,
  };
}

function responseObject(g: Generation, ids: ResponseIds, done: boolean): Json {
  const text = g.pieces.join('');
  const incomplete = done && g.finishReason === 'length';
  return {
    id: ids.id,
    object: 'response',
    created_at: ids.created,
    status: done ? (incomplete ? 'incomplete' : 'completed') : 'in_progress',
    incomplete_details: incomplete ? { reason: 'max_output_tokens' } : null,
    error: null,
    model: g.model,
    output: done
      ? [
          {
            type: 'message',
            id: `msg_${ids.id}`,
            status: 'completed',
            role: 'assistant',
            content: [{ type: 'output_text', text, annotations: [] }],
          },
        ]
      : [],
    usage: done ? responsesUsage(g) : null,
  };
}

/** The non-streaming body for a generation. */
export function completionBody(g: Generation, ids: ResponseIds): Json {
  const text = g.pieces.join('');
  switch (g.endpoint) {
    case 'chat.completions':
      return {
        id: ids.id,
        object: 'chat.completion',
        created: ids.created,
        model: g.model,
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: text, refusal: null },
            logprobs: null,
            finish_reason: g.finishReason,
          },
        ],
        usage: chatUsage(g),
      };
    case 'completions':
      return {
        id: ids.id,
        object: 'text_completion',
        created: ids.created,
        model: g.model,
        choices: [{ index: 0, text, logprobs: null, finish_reason: g.finishReason }],
        usage: chatUsage(g),
      };
    case 'responses':
      return responseObject(g, ids, true);
  }
}

/**
 * The frames of a streamed generation: one per token, then the finish frame, then (chat and
 * completions, when `includeUsage`) a usage frame with empty `choices`, then `[DONE]`.
 * The Responses API instead sends typed events and ends with `response.completed`.
 */
export function streamFrames(g: Generation, ids: ResponseIds, includeUsage: boolean): SseFrame[] {
  if (g.endpoint === 'responses') {
    let seq = 0;
    const ev = (type: string, payload: Json, token = false): SseFrame => ({
      event: type,
      data: JSON.stringify({ type, sequence_number: seq++, ...payload }),
      token,
    });
    const at = { item_id: `msg_${ids.id}`, output_index: 0, content_index: 0 };
    return [
      ev('response.created', { response: responseObject(g, ids, false) }),
      ...g.pieces.map((delta) => ev('response.output_text.delta', { ...at, delta }, true)),
      ev('response.output_text.done', { ...at, text: g.pieces.join('') }),
      ev('response.completed', { response: responseObject(g, ids, true) }),
    ];
  }
  const chat = g.endpoint === 'chat.completions';
  const base = {
    id: ids.id,
    object: chat ? 'chat.completion.chunk' : 'text_completion',
    created: ids.created,
    model: g.model,
  };
  const choice = (piece: string | null, first: boolean): Json => {
    const finish = piece === null ? g.finishReason : null;
    if (!chat) return { index: 0, text: piece ?? '', logprobs: null, finish_reason: finish };
    const delta = piece === null ? {} : first ? { role: 'assistant', content: piece } : { content: piece };
    return { index: 0, delta, logprobs: null, finish_reason: finish };
  };
  const frame = (payload: Json, token: boolean): SseFrame => ({ data: JSON.stringify(payload), token });
  const frames = g.pieces.map((p, i) => frame({ ...base, choices: [choice(p, i === 0)] }, true));
  frames.push(frame({ ...base, choices: [choice(null, false)] }, false));
  if (includeUsage) frames.push(frame({ ...base, choices: [], usage: chatUsage(g) }, false));
  frames.push({ data: '[DONE]', token: false });
  return frames;
}

/** Dimensions of the fake embeddings: enough to look like vectors, small enough to be cheap. */
export const EMBEDDING_DIMENSIONS = 8;

/**
 * An embeddings body. Vectors are a deterministic function of (server name, input), and honour
 * `encoding_format: "base64"`, which the official client requests by default.
 */
export function embeddingBody(body: Json, name: string): Json {
  const raw = body['input'];
  const inputs: unknown[] = Array.isArray(raw) && raw.some((x) => typeof x !== 'number') ? raw : [raw];
  const base64 = body['encoding_format'] === 'base64';
  const data = inputs.map((input, index) => {
    const vector = embed(`${name}\u0000${JSON.stringify(input)}`);
    const embedding = base64 ? Buffer.from(vector.buffer).toString('base64') : Array.from(vector);
    return { object: 'embedding', index, embedding };
  });
  const prompt = estimateTokens(promptText('embeddings', body));
  return {
    object: 'list',
    data,
    model: typeof body['model'] === 'string' ? body['model'] : name,
    usage: { prompt_tokens: prompt, total_tokens: prompt },
  };
}

function embed(text: string): Float32Array {
  const vector = new Float32Array(EMBEDDING_DIMENSIONS);
  // FNV-1a, re-mixed per dimension: stable across runs and platforms.
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  for (let d = 0; d < EMBEDDING_DIMENSIONS; d++) {
    h = Math.imul(h ^ (h >>> 13) ^ d, 0x5bd1e995) >>> 0;
    vector[d] = h / 0xffffffff - 0.5;
  }
  return vector;
}
