/**
 * Turns a raw request (headers + body bytes) into RequestFeatures and the parsed body.
 * Everything decide and the rules read comes from here, computed once per request.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { RoutecarError } from '../errors/routecar-error.js';
import { describeJsonValue } from './client-text.js';
import type { Endpoint, RequestFeatures } from './features.js';
import { MAX_JSON_DEPTH, nestsDeeperThan } from './json-depth.js';
import { apiKeyIdOf } from './key-hash.js';
import { outputBudget } from './output-budget.js';
import { lazyPrefix } from './prompt-prefix.js';
import { lazyPrompt } from './prompt-text.js';

/** The OpenAI paths routecar serves, by path under the listener root. */
export const ENDPOINT_PATHS: Readonly<Record<string, Endpoint>> = {
  '/v1/chat/completions': 'chat.completions',
  '/v1/completions': 'completions',
  '/v1/embeddings': 'embeddings',
  '/v1/responses': 'responses',
  '/v1/moderations': 'moderations',
  '/v1/rerank': 'rerank',
  '/v1/score': 'score',
  '/v1/messages': 'messages',
};

/**
 * Endpoints whose body is multipart/form-data rather than JSON: routing reads only their `model`
 * part and the body streams through (multipart-model.ts).
 */
export const MULTIPART_PATHS: Readonly<Record<string, Endpoint>> = {
  '/v1/audio/transcriptions': 'audio.transcriptions',
};

/** A parsed request body: a JSON object with a string `model`. */
export type RequestBody = Record<string, unknown> & { model: string };

export interface IngressResult {
  readonly features: RequestFeatures;
  readonly body: RequestBody;
}

export function extractRequest(endpoint: Endpoint, headers: IncomingHttpHeaders, raw: Buffer): IngressResult {
  return extractFromBody(endpoint, headers, parseBody(raw), raw.length);
}

/**
 * The features of a request whose body is already parsed (a multipart form contributes only its
 * `model`); `payloadBytes` is the body's size as sent.
 */
export function extractFromBody(
  endpoint: Endpoint,
  headers: IncomingHttpHeaders,
  body: RequestBody,
  payloadBytes: number,
): IngressResult {
  const header = (name: string): string | undefined => {
    const v = headers[name];
    if (v === undefined) return undefined;
    return Array.isArray(v) ? v.join(', ') : v;
  };
  const bodyUser = typeof body.user === 'string' && body.user !== '' ? body.user : undefined;
  const budget = outputBudget(endpoint, body);
  // apiKeyId is hashed on first read (a rule or the access log asking for it), at most once: most
  // requests never pay for the SHA-256. The token stays only where it already is, in the request's
  // own headers; the features never hold it.
  const authorization = headers.authorization;
  let keyId: string | undefined | null = null; // null: not hashed yet
  const features: RequestFeatures = {
    endpoint,
    route: body.model,
    stream: body.stream === true,
    tenant: header('x-tenant-id') || undefined,
    user: header('x-user-id') || bodyUser,
    priority: header('x-priority') || undefined,
    get apiKeyId(): string | undefined {
      if (keyId === null) keyId = apiKeyIdOf(authorization);
      return keyId;
    },
    ...promptSize(endpoint, body),
    maxTokens: budget.maxTokens,
    choices: budget.choices,
    payloadBytes,
    maxCostUsd: maxCost(header('x-routecar-max-cost')),
    pin: header('x-routecar-backend') || undefined,
    headers: headerView(headers),
    prompt: lazyPrompt(endpoint, body),
    prefix: lazyPrefix(endpoint, body),
  };
  return { features, body };
}

function parseBody(raw: Buffer): RequestBody {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch (err) {
    throw new RoutecarError('invalid_json', `request body is not valid JSON: ${(err as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new RoutecarError('invalid_json', 'request body must be a JSON object');
  }
  // Before anything walks the body: past the limit, JSON.stringify and the estimate would overflow.
  if (nestsDeeperThan(parsed, MAX_JSON_DEPTH)) {
    throw new RoutecarError(
      'json_too_deep',
      `request body nests arrays and objects more than ${MAX_JSON_DEPTH} levels deep`,
    );
  }
  const model = (parsed as Record<string, unknown>).model;
  if (model === undefined || model === null || model === '') {
    throw new RoutecarError('missing_model', 'request body must name a route in "model"');
  }
  if (typeof model !== 'string') {
    throw new RoutecarError(
      'invalid_value',
      `"model" must be a string naming a route, got ${describeJsonValue(model)}`,
      { details: { param: 'model' } },
    );
  }
  return parsed as RequestBody;
}

function maxCost(value: string | undefined): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) {
    throw new RoutecarError(
      'invalid_max_cost',
      `x-routecar-max-cost must be a non-negative number of USD, got "${value}"`,
    );
  }
  return n;
}

/**
 * Headers that carry an app's credentials. They stay out of the features' header view, so no rule,
 * sticky key, log or explanation can read a raw key from the features: rules match a key by its
 * `apiKeyId`.
 */
const CREDENTIAL_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'proxy-authorization',
  'api-key',
  'x-api-key',
  'cookie',
]);

/**
 * Lower-case names (Node already lower-cases them), multi-valued headers joined, credentials left
 * out. Without a prototype, so a rule or sticky key naming `constructor` reads an absent header,
 * not a function.
 */
function headerView(headers: IncomingHttpHeaders): Readonly<Record<string, string | undefined>> {
  const view = Object.create(null) as Record<string, string | undefined>;
  for (const name in headers) {
    if (CREDENTIAL_HEADERS.has(name)) continue;
    const v = headers[name];
    view[name] = Array.isArray(v) ? v.join(', ') : v;
  }
  return view;
}

/**
 * About four characters per token, plus a few tokens of framing per message: close enough to
 * compare costs and match "short prompt" rules, and far cheaper than a tokenizer on every request.
 */
/** Prompt size: characters of text, messages, and the default-tokenizer token estimate. */
export function promptSize(
  endpoint: Endpoint,
  body: Record<string, unknown>,
): Pick<RequestFeatures, 'promptTokens' | 'promptChars' | 'promptMessages'> {
  let chars = 0;
  let messages = 0;
  const addText = (v: unknown): void => {
    if (typeof v === 'string') chars += v.length;
    else if (Array.isArray(v)) for (const part of v) addPart(part);
  };
  const addPart = (part: unknown): void => {
    if (typeof part === 'string') chars += part.length;
    else if (typeof part === 'number') chars += 4;
    else if (part !== null && typeof part === 'object') {
      const p = part as Record<string, unknown>;
      if (typeof p.text === 'string') chars += p.text.length;
      if (p.content !== undefined) {
        messages++;
        addText(p.content);
      }
    }
  };
  switch (endpoint) {
    case 'chat.completions':
      if (Array.isArray(body.messages)) for (const m of body.messages) addPart(m);
      break;
    case 'completions':
      addText(body.prompt);
      break;
    case 'embeddings':
      addText(body.input);
      break;
    case 'responses':
      addText(body.instructions);
      addText(body.input);
      break;
    case 'messages':
      addText(body.system);
      if (Array.isArray(body.messages)) for (const m of body.messages) addPart(m);
      break;
    case 'moderations':
      addText(body.input);
      break;
    case 'rerank':
      // vLLM and TEI: `query` with `documents` (vLLM, Cohere/Jina shape) or `texts` (TEI).
      addText(body.query);
      addText(body.documents);
      addText(body.texts);
      break;
    case 'score':
      // vLLM: `text_1` against `text_2` (also `queries`/`documents` in newer versions).
      addText(body.text_1);
      addText(body.text_2);
      addText(body.queries);
      addText(body.documents);
      break;
    case 'audio.transcriptions':
      // Multipart: the audio is never read, so there is no prompt to estimate.
      break;
  }
  return { promptTokens: promptTokensFor(chars, messages, 4), promptChars: chars, promptMessages: messages };
}

/**
 * Tokens of a prompt of `chars` characters in `messages` chat messages, for a tokenizer of
 * `charsPerToken`: the text, plus about four tokens of framing per message.
 */
export function promptTokensFor(chars: number, messages: number, charsPerToken: number): number {
  return Math.ceil(chars / charsPerToken) + messages * 4;
}
