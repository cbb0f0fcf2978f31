/**
 * The official OpenAI client against routecar: what the app gets through routecar is what the
 * backend produced (compared with the same request sent to the backend directly), with routecar's
 * headers added, and the backend receives the request rewritten and cleaned up.
 */
import { request as httpRequest } from 'node:http';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.js';
import { useProcesses } from '../support/processes.js';
import { startRoutecar, type Routecar } from '../support/routecar.js';

const procs = useProcesses(afterAll);

const BACKEND_MODEL = 'acme/alpha-7b-instruct';
const API_KEY_ENV = 'ROUTECAR_E2E_ALPHA_KEY';
const API_KEY = 'secret-alpha-key-123';
const MESSAGES = [{ role: 'user' as const, content: 'Tell me something about sidecars.' }];

let upstream: FakeUpstream;
let routecar: Routecar;
/** Through routecar. */
let client: OpenAI;
/** Straight to the upstream, for the reference answers. */
let direct: OpenAI;

beforeAll(async () => {
  upstream = await startFakeUpstream({ name: 'alpha', latencyMs: 2, tokenDelayMs: 2 });
  routecar = await startRoutecar({
    group: procs,
    env: { [API_KEY_ENV]: API_KEY },
    policy: {
      version: 1,
      backends: {
        alpha: {
          url: upstream.baseURL,
          model: BACKEND_MODEL,
          price: { input: 0.2, output: 0.4 },
          apiKeyEnv: API_KEY_ENV,
        },
      },
      routes: {
        chat: { backends: ['alpha'] },
        embed: { backends: ['alpha'] },
      },
    },
  });
  client = new OpenAI({ baseURL: routecar.baseURL, apiKey: 'test', maxRetries: 0 });
  direct = new OpenAI({ baseURL: upstream.baseURL, apiKey: 'test', maxRetries: 0 });
});

afterAll(async () => {
  await routecar?.stop();
  await upstream?.close();
});

describe('with the official openai client', () => {
  it('a chat completion is exactly what the backend produced, with routecar’s headers', async () => {
    const { data, response } = await client.chat.completions
      .create({ model: 'chat', messages: MESSAGES }, { headers: { 'x-request-id': 'e2e-chat-1' } })
      .withResponse();
    const reference = await direct.chat.completions.create({ model: BACKEND_MODEL, messages: MESSAGES });

    // The backend echoes the model it was sent: the backend's own name proves the rewrite.
    expect(data.model).toBe(BACKEND_MODEL);
    expect(data.model).toBe(reference.model);
    expect(data.choices[0]?.message.content).toBe(reference.choices[0]?.message.content);
    expect(data.choices[0]?.message.content).toContain('[alpha] echo: Tell me something');
    expect(data.choices[0]?.finish_reason).toBe(reference.choices[0]?.finish_reason);
    expect(data.usage).toEqual(reference.usage);
    expect(data.usage?.completion_tokens).toBeGreaterThan(0);

    const h = response.headers;
    expect(h.get('x-routecar-backend')).toBe('alpha');
    expect(h.get('x-routecar-route')).toBe('chat');
    expect(h.get('x-routecar-variant')).toBe('default');
    expect(h.get('x-routecar-attempts')).toBe('1');
    const version = await routecar.policyVersion();
    expect(version).toMatch(/^[0-9a-f]{12}$/);
    expect(h.get('x-routecar-policy-version')).toBe(version);
    expect(h.get('x-request-id')).toBe('e2e-chat-1');
  });

  it('a request without x-request-id gets one, and the backend sees the same one', async () => {
    const { response } = await client.chat.completions
      .create({ model: 'chat', messages: MESSAGES })
      .withResponse();
    const id = response.headers.get('x-request-id');
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(upstream.stats.lastRequest?.headers['x-request-id']).toBe(id);
  });

  it('a stream with include_usage carries the same content and usage as the backend’s own stream', async () => {
    const params = {
      messages: MESSAGES,
      stream: true as const,
      stream_options: { include_usage: true },
    };
    const { data: stream, response } = await client.chat.completions
      .create({ ...params, model: 'chat' })
      .withResponse();
    const via = await collect(stream);
    const reference = await collect(
      await direct.chat.completions.create({ ...params, model: BACKEND_MODEL }),
    );

    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(response.headers.get('x-routecar-backend')).toBe('alpha');
    expect(response.headers.get('x-routecar-route')).toBe('chat');
    expect(response.headers.get('x-routecar-attempts')).toBe('1');
    expect(response.headers.get('x-routecar-policy-version')).toBe(await routecar.policyVersion());
    expect(response.headers.get('x-request-id')).toBeTruthy();

    expect(via.chunks).toBeGreaterThan(2);
    expect(via.chunks).toBe(reference.chunks);
    expect(via.content).toBe(reference.content);
    expect(via.content).toContain('[alpha] echo:');
    expect(via.models).toEqual([BACKEND_MODEL]);
    expect(via.finishReason).toBe(reference.finishReason);
    expect(via.usage).toBeDefined();
    expect(via.usage).toEqual(reference.usage);
  });

  it('embeddings work and match the backend’s', async () => {
    const input = ['routecar routes', 'requests to models'];
    const { data, response } = await client.embeddings.create({ model: 'embed', input }).withResponse();
    const reference = await direct.embeddings.create({ model: BACKEND_MODEL, input });

    expect(response.headers.get('x-routecar-route')).toBe('embed');
    expect(response.headers.get('x-routecar-backend')).toBe('alpha');
    expect(data.model).toBe(BACKEND_MODEL);
    expect(data.data).toHaveLength(2);
    expect(data.data[0]?.embedding.length).toBeGreaterThan(0);
    expect(data.data.map((d) => d.embedding)).toEqual(reference.data.map((d) => d.embedding));
    expect(data.usage).toEqual(reference.usage);
    expect(upstream.stats.lastRequest?.path).toBe('/v1/embeddings');
  });

  it('completions work and match the backend’s', async () => {
    const prompt = 'Once upon a time, a sidecar';
    const { data, response } = await client.completions
      .create({ model: 'chat', prompt, max_tokens: 4 })
      .withResponse();
    const reference = await direct.completions.create({ model: BACKEND_MODEL, prompt, max_tokens: 4 });

    expect(response.headers.get('x-routecar-backend')).toBe('alpha');
    expect(data.model).toBe(BACKEND_MODEL);
    expect(data.choices[0]?.text).toBe(reference.choices[0]?.text);
    expect(data.choices[0]?.finish_reason).toBe('length');
    expect(data.choices[0]?.finish_reason).toBe(reference.choices[0]?.finish_reason);
    expect(data.usage).toEqual(reference.usage);
    expect(upstream.stats.lastRequest?.path).toBe('/v1/completions');
  });

  it('models.list() lists the routes', async () => {
    const ids: string[] = [];
    for await (const model of client.models.list()) ids.push(model.id);
    expect(ids.sort()).toEqual(['chat', 'embed']);
  });
});

describe('what the backend receives', () => {
  it('body.model rewritten, hop-by-hop headers stripped, x-request-id forwarded, Authorization from apiKeyEnv', async () => {
    const body = JSON.stringify({ model: 'chat', messages: MESSAGES, max_tokens: 5 });
    const res = await rawPost(`${routecar.url}/v1/chat/completions`, body, {
      'content-type': 'application/json',
      authorization: 'Bearer the-apps-own-key',
      connection: 'keep-alive, x-hop-named',
      'x-hop-named': 'named in Connection, so hop-by-hop',
      'keep-alive': 'timeout=5',
      te: 'trailers',
      'proxy-authorization': 'Basic cHJveHk6c2VjcmV0',
      'x-routecar-max-cost': '1',
      'x-tenant-id': 'tenant-7',
      'x-request-id': 'e2e-upstream-view',
    });
    expect(res.status).toBe(200);
    expect(res.headers['x-request-id']).toBe('e2e-upstream-view');

    const seen = upstream.stats.lastRequest;
    expect(seen?.path).toBe('/v1/chat/completions');
    const sent = seen?.body as Record<string, unknown>;
    expect(sent.model).toBe(BACKEND_MODEL);
    // Everything else in the body goes through untouched.
    expect(sent.messages).toEqual(MESSAGES);
    expect(sent.max_tokens).toBe(5);

    const h = seen!.headers;
    expect(h['x-request-id']).toBe('e2e-upstream-view');
    expect(h.authorization).toBe(`Bearer ${API_KEY}`);
    for (const name of ['x-hop-named', 'keep-alive', 'te', 'proxy-authorization', 'x-routecar-max-cost']) {
      expect(h[name], name).toBeUndefined();
    }
    // An ordinary end-to-end header is forwarded.
    expect(h['x-tenant-id']).toBe('tenant-7');
    // The length is the rewritten body's.
    expect(Number(h['content-length'])).toBe(Buffer.byteLength(JSON.stringify(sent)));
  });
});

interface Collected {
  chunks: number;
  content: string;
  models: string[];
  finishReason: string | null | undefined;
  usage: OpenAI.CompletionUsage | null | undefined;
}

async function collect(stream: AsyncIterable<OpenAI.ChatCompletionChunk>): Promise<Collected> {
  const out: Collected = { chunks: 0, content: '', models: [], finishReason: undefined, usage: undefined };
  for await (const chunk of stream) {
    out.chunks++;
    if (!out.models.includes(chunk.model)) out.models.push(chunk.model);
    const choice = chunk.choices[0];
    if (choice?.delta.content) out.content += choice.delta.content;
    if (choice?.finish_reason) out.finishReason = choice.finish_reason;
    if (chunk.usage) out.usage = chunk.usage;
  }
  return out;
}

/** node:http, because fetch refuses to send Connection, Keep-Alive, TE and Proxy-Authorization. */
function rawPost(
  url: string,
  body: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: 'POST', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body: Buffer.concat(chunks).toString(),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}
