/**
 * Wire shapes of the fake upstream's answers beyond generation: OpenAI moderations and audio
 * transcriptions, vLLM's `/v1/rerank` (Jina/Cohere shape) and `/v1/score`, and Anthropic's
 * Messages API. Each carries the fields real servers send and the official clients read.
 */
import { estimateTokens } from './generation.js';

type Json = Record<string, unknown>;

/** The extra endpoints a fake upstream serves, by path. */
export const EXTRA_ENDPOINTS = {
  '/v1/moderations': 'moderations',
  '/v1/rerank': 'rerank',
  '/v1/score': 'score',
  '/v1/messages': 'messages',
  '/v1/audio/transcriptions': 'audio.transcriptions',
} as const;

export type ExtraEndpoint = (typeof EXTRA_ENDPOINTS)[keyof typeof EXTRA_ENDPOINTS];

const CATEGORIES = ['harassment', 'hate', 'self-harm', 'sexual', 'violence'] as const;

function modelOf(body: Json, name: string): string {
  return typeof body['model'] === 'string' ? body['model'] : name;
}

function texts(v: unknown): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.map((x) => (typeof x === 'string' ? x : JSON.stringify(x)));
  return [];
}

/** A score in [0, 1) that depends only on the two texts: stable across runs. */
function similarity(a: string, b: string): number {
  let h = 0x811c9dc5;
  const s = `${a}\u0000${b}`;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h / 0x100000000;
}

/** The answer body of `endpoint` for `body` (a multipart body's fields for transcriptions). */
export function extraBody(endpoint: ExtraEndpoint, body: Json, name: string, id: string): Json {
  const model = modelOf(body, name);
  switch (endpoint) {
    case 'moderations': {
      // Flags any input containing "kill", so tests can see both answers.
      const results = texts(body['input']).map((text) => {
        const flagged = /\bkill\b/i.test(text);
        const categories = Object.fromEntries(CATEGORIES.map((c) => [c, flagged && c === 'violence']));
        const scores = Object.fromEntries(
          CATEGORIES.map((c) => [c, flagged && c === 'violence' ? 0.9 : 0.01]),
        );
        return { flagged, categories, category_scores: scores };
      });
      return { id: `modr-${id}`, model, results };
    }
    case 'rerank': {
      const query = texts(body['query'])[0] ?? '';
      const docs = texts(body['documents']);
      const results = docs
        .map((text, index) => ({ index, document: { text }, relevance_score: similarity(query, text) }))
        .sort((a, b) => b.relevance_score - a.relevance_score);
      const topN = typeof body['top_n'] === 'number' ? body['top_n'] : results.length;
      const tokens = estimateTokens(query + docs.join(''));
      return { id: `rerank-${id}`, model, usage: { total_tokens: tokens }, results: results.slice(0, topN) };
    }
    case 'score': {
      const first = texts(body['text_1']);
      const second = texts(body['text_2']);
      const pairs = second.map((t, i) => [first.length === 1 ? first[0]! : (first[i] ?? ''), t] as const);
      const tokens = estimateTokens(first.join('') + second.join(''));
      return {
        id: `score-${id}`,
        object: 'list',
        created: Math.floor(Date.now() / 1000),
        model,
        data: pairs.map(([a, b], index) => ({ index, object: 'score', score: similarity(a, b) })),
        usage: { prompt_tokens: tokens, total_tokens: tokens, completion_tokens: 0 },
      };
    }
    case 'messages': {
      const text = `[${name}] echo: ${lastMessageText(body['messages']).slice(0, 40)}`;
      const input = estimateTokens(texts(body['system']).join('') + messagesText(body['messages']));
      return {
        id: `msg_${id}`,
        type: 'message',
        role: 'assistant',
        model,
        content: [{ type: 'text', text }],
        stop_reason: 'end_turn',
        stop_sequence: null,
        usage: { input_tokens: input, output_tokens: estimateTokens(text) },
      };
    }
    case 'audio.transcriptions': {
      const bytes = typeof body['file_bytes'] === 'number' ? body['file_bytes'] : 0;
      return {
        text: `[${name}] heard ${bytes} bytes of ${String(body['file_name'] ?? 'audio')}`,
        usage: { type: 'duration', seconds: 1 },
      };
    }
  }
}

function messagesText(messages: unknown): string {
  if (!Array.isArray(messages)) return '';
  return messages.map((m) => lastMessageText([m])).join('');
}

function lastMessageText(messages: unknown): string {
  if (!Array.isArray(messages) || messages.length === 0) return '';
  const last = messages[messages.length - 1] as Json | undefined;
  const content = last?.['content'];
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .map((p) =>
        p !== null && typeof p === 'object' && typeof (p as Json)['text'] === 'string'
          ? (p as Json)['text']
          : '',
      )
      .join('');
  }
  return '';
}

/** `{"type": "error", "error": {...}}` as Anthropic sends it. */
export function anthropicError(message: string, type: string): Json {
  return { type: 'error', error: { type, message } };
}
