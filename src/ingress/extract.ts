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
  const bodyUser = typeof body.user === 'string' && body.user !== '' ? body.user : undefined;
  const budget = outputBudget(endpoint, body);
  const size = promptSize(endpoint, body);
  const fields: EagerFeatures = {
    endpoint,
    route: body.model,
    stream: body.stream === true,
    tenant: headerValue(headers, 'x-tenant-id') || undefined,
    user: headerValue(headers, 'x-user-id') || bodyUser,
    priority: headerValue(headers, 'x-priority') || undefined,
    promptTokens: size.promptTokens,
    promptChars: size.promptChars,
    promptMessages: size.promptMessages,
    maxTokens: budget.maxTokens,
    choices: budget.choices,
    payloadBytes,
    maxCostUsd: maxCost(headerValue(headers, 'x-routecar-max-cost')),
    pin: headerValue(headers, 'x-routecar-backend') || undefined,
    prompt: lazyPrompt(endpoint, body),
    prefix: lazyPrefix(endpoint, body),
    classes: undefined,
  };
  return { features: new IngressFeatures(fields, { headers, keyId: null, view: undefined }), body };
}

/**
 * The features `f` with its route or classes replaced (a rule's route switch, classifier labels).
 * The lazy fields stay lazy and shared: the key is hashed, and the header view built, at most once
 * per request whichever copy reads them first.
 */
export function withFeatures(
  f: RequestFeatures,
  changes: Partial<Pick<RequestFeatures, 'route' | 'classes'>>,
): RequestFeatures {
  return f instanceof IngressFeatures ? f.with(changes) : { ...f, ...changes };
}

/** A request header as one string, repeated lines joined with ", "; undefined when absent. */
export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  return Array.isArray(v) ? v.join(', ') : v;
}

/** Every field but the two computed on first read. */
type EagerFeatures = Omit<RequestFeatures, 'apiKeyId' | 'headers'> & {
  readonly classes: RequestFeatures['classes'];
};

/** What a request's copies of its features share: the headers, and what was computed from them. */
interface LazyFields {
  readonly headers: IncomingHttpHeaders;
  /** null: not hashed yet. */
  keyId: string | undefined | null;
  view: Readonly<Record<string, string | undefined>> | undefined;
}

/**
 * The features ingress builds: plain fields, and two getters on the prototype for what most
 * requests never read. `apiKeyId` is hashed on first read (a rule or the access log asking for
 * it): most requests never pay for the SHA-256. The header view is built on first read too. The
 * request's headers, and so the token, sit in a private field: no enumeration, spread or log of
 * the features reaches them. (An object literal with getters would cost the same laziness a slow
 * runtime path on every request, and leave the object in dictionary mode for every reader.)
 */
class IngressFeatures implements RequestFeatures {
  readonly endpoint: Endpoint;
  readonly route: string;
  readonly stream: boolean;
  readonly tenant: string | undefined;
  readonly user: string | undefined;
  readonly priority: string | undefined;
  readonly promptTokens: number;
  readonly promptChars: number;
  readonly promptMessages: number;
  readonly maxTokens: number | undefined;
  readonly choices: number;
  readonly payloadBytes: number;
  readonly maxCostUsd: number | undefined;
  readonly pin: string | undefined;
  readonly prompt: RequestFeatures['prompt'];
  readonly prefix: RequestFeatures['prefix'];
  readonly classes: RequestFeatures['classes'];
  readonly #lazy: LazyFields;

  constructor(f: EagerFeatures, lazy: LazyFields) {
    this.endpoint = f.endpoint;
    this.route = f.route;
    this.stream = f.stream;
    this.tenant = f.tenant;
    this.user = f.user;
    this.priority = f.priority;
    this.promptTokens = f.promptTokens;
    this.promptChars = f.promptChars;
    this.promptMessages = f.promptMessages;
    this.maxTokens = f.maxTokens;
    this.choices = f.choices;
    this.payloadBytes = f.payloadBytes;
    this.maxCostUsd = f.maxCostUsd;
    this.pin = f.pin;
    this.prompt = f.prompt;
    this.prefix = f.prefix;
    this.classes = f.classes;
    this.#lazy = lazy;
  }

  get apiKeyId(): string | undefined {
    const lazy = this.#lazy;
    if (lazy.keyId === null) lazy.keyId = apiKeyIdOf(lazy.headers.authorization);
    return lazy.keyId;
  }

  get headers(): Readonly<Record<string, string | undefined>> {
    const lazy = this.#lazy;
    return (lazy.view ??= headerView(lazy.headers));
  }

  with(changes: Partial<Pick<RequestFeatures, 'route' | 'classes'>>): IngressFeatures {
    return new IngressFeatures({ ...this, ...changes }, this.#lazy);
  }
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
 * Every header in which an app may carry a credential: the OpenAI bearer token, Azure's and
 * Anthropic's key headers, a proxy's, and cookies. They stay out of the features' header view, so
 * no rule, sticky key, log or explanation can read a raw key from the features (rules match a key
 * by its `apiKeyId`); and none reaches a backend that has its own key (proxy/headers.ts).
 */
export const APP_CREDENTIAL_HEADERS: ReadonlySet<string> = new Set([
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
    if (APP_CREDENTIAL_HEADERS.has(name)) continue;
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
  const size: PromptCount = { chars: 0, messages: 0 };
  switch (endpoint) {
    case 'chat.completions':
      if (Array.isArray(body.messages)) for (const m of body.messages) countPart(size, m);
      break;
    case 'completions':
      countText(size, body.prompt);
      break;
    case 'embeddings':
      countText(size, body.input);
      break;
    case 'responses':
      countText(size, body.instructions);
      countText(size, body.input);
      break;
    case 'messages':
      countText(size, body.system);
      if (Array.isArray(body.messages)) for (const m of body.messages) countPart(size, m);
      break;
    case 'moderations':
      countText(size, body.input);
      break;
    case 'rerank':
      // vLLM and TEI: `query` with `documents` (vLLM, Cohere/Jina shape) or `texts` (TEI).
      countText(size, body.query);
      countText(size, body.documents);
      countText(size, body.texts);
      break;
    case 'score':
      // vLLM: `text_1` against `text_2` (also `queries`/`documents` in newer versions).
      countText(size, body.text_1);
      countText(size, body.text_2);
      countText(size, body.queries);
      countText(size, body.documents);
      break;
    case 'audio.transcriptions':
      // Multipart: the audio is never read, so there is no prompt to estimate.
      break;
  }
  const { chars, messages } = size;
  return { promptTokens: promptTokensFor(chars, messages, 4), promptChars: chars, promptMessages: messages };
}

interface PromptCount {
  chars: number;
  messages: number;
}

/** A string, or a list of parts. */
function countText(size: PromptCount, v: unknown): void {
  if (typeof v === 'string') size.chars += v.length;
  else if (Array.isArray(v)) for (const part of v) countPart(size, part);
}

/** A string, a token id (about four characters), or a message or content part. */
function countPart(size: PromptCount, part: unknown): void {
  if (typeof part === 'string') size.chars += part.length;
  else if (typeof part === 'number') size.chars += 4;
  else if (part !== null && typeof part === 'object') {
    const p = part as Record<string, unknown>;
    if (typeof p.text === 'string') size.chars += p.text.length;
    if (p.content !== undefined) {
      size.messages++;
      countText(size, p.content);
    }
  }
}

/**
 * Tokens of a prompt of `chars` characters in `messages` chat messages, for a tokenizer of
 * `charsPerToken`: the text, plus about four tokens of framing per message.
 */
export function promptTokensFor(chars: number, messages: number, charsPerToken: number): number {
  return Math.ceil(chars / charsPerToken) + messages * 4;
}
