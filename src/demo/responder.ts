/**
 * Answers one API request of a fake upstream according to its (possibly overridden) behaviour:
 * the OpenAI endpoints, `/v1/models` and `/health`.
 */
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FakeBehaviour } from './behaviour.js';
import { estimateTokens, planGeneration, type FakeEndpoint } from './generation.js';
import { isRecord, sendJson, sleep, writeAndFlush } from './http-util.js';
import { extraBody, EXTRA_ENDPOINTS, type ExtraEndpoint } from './extra-bodies.js';
import { completionBody, embeddingBody, openAiError, streamFrames, type SseFrame } from './openai-bodies.js';
import type { FakeOutcome } from './stats.js';

/** Everything `respond` needs about one request; built by the server. */
export interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly path: string;
  /** Parsed JSON body, undefined when empty. */
  readonly body: unknown;
  /** The server's behaviour with this request's `x-fake-*` overrides applied. */
  readonly behaviour: FakeBehaviour;
  readonly name: string;
  readonly models: readonly string[];
  /** Largest prompt-plus-output the fake accepts, tokens; unlimited when undefined. */
  readonly contextWindow: number | undefined;
  /** 1-based request number, used in response ids. */
  readonly sequence: number;
  readonly random: () => number;
  /** Aborted when the connection closes, for whatever reason. */
  readonly signal: AbortSignal;
  /** Counts how the request is answered. */
  outcome(o: FakeOutcome): void;
  /** Destroys the connection: `graceful` closes it (FIN), otherwise it is reset (RST). */
  kill(graceful: boolean): void;
}

const ENDPOINTS: Readonly<Record<string, FakeEndpoint>> = {
  '/v1/chat/completions': 'chat.completions',
  '/v1/completions': 'completions',
  '/v1/embeddings': 'embeddings',
  '/v1/responses': 'responses',
};

const ID_PREFIX: Readonly<Record<FakeEndpoint, string>> = {
  'chat.completions': 'chatcmpl',
  completions: 'cmpl',
  embeddings: 'emb',
  responses: 'resp',
};

/** Answers the request; resolves when the fake is done with it (which, for `hang`, is at once). */
export async function respond(x: Exchange): Promise<void> {
  const { req, res, behaviour: b } = x;
  if (req.method === 'GET' && x.path === '/health') {
    x.outcome('ok');
    return sendJson(res, 200, { status: 'ok', name: x.name });
  }
  if (req.method === 'GET' && x.path === '/v1/models') {
    x.outcome('ok');
    const data = x.models.map((id) => ({ id, object: 'model', created: 0, owned_by: x.name }));
    return sendJson(res, 200, { object: 'list', data });
  }
  const extra = (EXTRA_ENDPOINTS as Readonly<Record<string, ExtraEndpoint>>)[x.path];
  const endpoint = ENDPOINTS[x.path];
  const known = endpoint ?? extra;
  if (known === undefined || req.method !== 'POST' || !isRecord(x.body)) {
    x.outcome('badRequest');
    const message =
      known === undefined ? `no route ${req.method} ${x.path}` : 'expected a POST with a JSON object body';
    return sendJson(
      res,
      known === undefined ? 404 : 400,
      openAiError(message, 'invalid_request_error', null),
    );
  }
  const body = x.body;

  if (b.mode === 'resetBeforeHeaders') {
    x.outcome('resetBeforeHeaders');
    return x.kill(false);
  }
  if (b.mode === 'hang') return x.outcome('hang');

  // Draw before any await, so concurrent requests consume the random source in arrival order.
  const randomFailure = b.mode === 'ok' && b.failureRate > 0 && x.random() < b.failureRate;
  const latency = b.latencyMs + (b.jitterMs > 0 ? x.random() * b.jitterMs : 0);
  if (!(await sleep(latency, x.signal))) return;

  if (b.mode === 'error500' || randomFailure) {
    x.outcome(randomFailure ? 'randomFailure' : 'error500');
    const message = `fake upstream ${x.name}: injected server error`;
    return sendJson(res, 500, openAiError(message, 'server_error', 'internal_error'));
  }
  if (b.mode === 'rateLimit') {
    x.outcome('rateLimit');
    const message = `fake upstream ${x.name}: rate limited, retry after ${b.retryAfterSec}s`;
    return sendJson(res, 429, openAiError(message, 'rate_limit_error', 'rate_limit_exceeded'), {
      'retry-after': String(b.retryAfterSec),
    });
  }
  const overflow = x.contextWindow === undefined ? undefined : contextOverflow(x.path, body, x.contextWindow);
  if (overflow !== undefined) {
    x.outcome('badRequest');
    return sendJson(res, 400, openAiError(overflow, 'invalid_request_error', 'context_length_exceeded'));
  }
  x.outcome(b.mode);
  if (extra !== undefined) {
    const answer = extraBody(extra, body, x.name, `${x.name}-${x.sequence}`);
    return sendWhole(x, answer);
  }
  if (endpoint === undefined) return;
  const ids = {
    id: `${ID_PREFIX[endpoint]}-${x.name}-${x.sequence}`,
    created: Math.floor(Date.now() / 1000),
  };

  if (endpoint === 'embeddings') return sendWhole(x, embeddingBody(body, x.name));
  const generation = planGeneration(endpoint, body, x.name, b.tokens);
  if (body['stream'] !== true) return sendWhole(x, completionBody(generation, ids));
  const options = body['stream_options'];
  const includeUsage = isRecord(options) && options['include_usage'] === true;
  await stream(x, streamFrames(generation, ids, includeUsage));
}

/** A JSON body; in `resetMidStream` mode only its first half is sent before the socket closes. */
async function sendWhole(x: Exchange, body: unknown): Promise<void> {
  if (x.behaviour.mode !== 'resetMidStream') return sendJson(x.res, 200, body);
  const bytes = Buffer.from(JSON.stringify(body));
  x.res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(bytes.length) });
  await writeAndFlush(x.res, bytes.subarray(0, bytes.length >> 1));
  x.kill(true);
}

/** Writes SSE frames, pacing token frames by `tokenDelayMs`; `resetMidStream` cuts it short. */
async function stream(x: Exchange, frames: readonly SseFrame[]): Promise<void> {
  const { res, behaviour: b } = x;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    connection: 'keep-alive',
  });
  res.flushHeaders();
  const midStream = b.mode === 'resetMidStream';
  const eol = b.sseFormat === 'sse-starlette' ? '\r\n' : '\n';
  const space = b.sseFormat === 'axum' ? '' : ' ';
  const tokenFrames = frames.filter((f) => f.token).length;
  const cutAfter = Math.min(b.midStreamChunks, tokenFrames);
  let sent = 0;
  for (const frame of frames) {
    if (midStream && sent >= cutAfter) return x.kill(true);
    if (frame.token && sent > 0 && !(await sleep(b.tokenDelayMs, x.signal))) return;
    if (x.signal.aborted) return;
    const text = `${frame.event === undefined ? '' : `event:${space}${frame.event}${eol}`}data:${space}${frame.data}${eol}${eol}`;
    // In resetMidStream mode each frame must reach the socket before it is destroyed.
    if (midStream) await writeAndFlush(res, text);
    else if (!res.write(text)) await once(res, 'drain', { signal: x.signal }).catch(() => undefined);
    if (frame.token) sent++;
  }
  res.end();
}

/** vLLM's wording when prompt plus output exceed the window; undefined when the request fits. */
function contextOverflow(path: string, body: Record<string, unknown>, window: number): string | undefined {
  const prompt = estimateTokens(JSON.stringify(body['messages'] ?? body['prompt'] ?? body['input'] ?? ''));
  const output = typeof body['max_tokens'] === 'number' ? body['max_tokens'] : 0;
  if (prompt + output <= window) return undefined;
  return (
    `This model's maximum context length is ${window} tokens. However, you requested ` +
    `${prompt + output} tokens (${prompt} in the messages, ${output} in the completion). ` +
    `Please reduce the length of the messages or completion. (${path})`
  );
}
