import { describe, expect, it } from 'vitest';
import { readSse, sseJson } from '../../support/sse.js';
import { fake, hello, post } from './helpers.js';

describe('fake upstream, mode ok', () => {
  it('answers a chat completion that names the server, echoes model and prompt, and counts usage', async () => {
    const { upstream, client } = await fake();
    const { data, response } = await client.chat.completions
      .create({ model: 'llama-x', messages: hello })
      .withResponse();
    expect(response.headers.get('x-upstream-name')).toBe('alpha');
    expect(data.model).toBe('llama-x');
    expect(data.choices[0]?.message.content).toBe(`[alpha] echo: ${hello[0]!.content.slice(0, 40)}`);
    expect(data.choices[0]?.finish_reason).toBe('stop');
    const tokens = data.choices[0]!.message.content!.match(/\s*\S+/g)!.length;
    expect(data.usage).toEqual({
      prompt_tokens: Math.ceil(hello[0]!.content.length / 4),
      completion_tokens: tokens,
      total_tokens: Math.ceil(hello[0]!.content.length / 4) + tokens,
    });
    expect(upstream.stats).toMatchObject({
      requests: 1,
      completed: 1,
      aborted: 0,
      byPath: { '/v1/chat/completions': 1 },
    });
  });

  it('streams one SSE chunk per token, then a usage chunk with empty choices, then [DONE]', async () => {
    const { client } = await fake({ tokens: 6, tokenDelayMs: 2 });
    const stream = await client.chat.completions.create({
      model: 'm',
      messages: hello,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const tokenChunks = chunks.filter((c) => c.choices[0]?.delta.content);
    expect(tokenChunks).toHaveLength(6);
    expect(tokenChunks.map((c) => c.choices[0]!.delta.content).join('')).toMatch(
      /^\[alpha\] echo: Say hello/,
    );
    expect(chunks.at(-2)?.choices[0]?.finish_reason).toBe('stop');
    expect(chunks.at(-1)?.choices).toEqual([]);
    expect(chunks.at(-1)?.usage?.completion_tokens).toBe(6);
  });

  it('sends real SSE with [DONE] last and no usage chunk unless include_usage is set', async () => {
    const { upstream } = await fake({ tokens: 3 });
    const res = await post(upstream, '/chat/completions', { model: 'm', messages: hello, stream: true });
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const read = await readSse(res);
    expect(read.done).toBe(true);
    expect(read.events.at(-1)?.data).toBe('[DONE]');
    expect(sseJson(read).some((c) => (c as { usage?: unknown }).usage)).toBe(false);
  });

  it('pads with filler to `tokens` and stops at max_tokens with finish_reason length', async () => {
    const { client } = await fake({ tokens: 20 });
    const long = await client.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(long.usage?.completion_tokens).toBe(20);
    expect(long.choices[0]?.message.content).toMatch(/^\[alpha\] echo: hi lorem ipsum/);
    const capped = await client.chat.completions.create({ model: 'm', messages: hello, max_tokens: 2 });
    expect(capped.choices[0]?.message.content).toBe('[alpha] echo:');
    expect(capped.choices[0]?.finish_reason).toBe('length');
  });

  it('serves completions, embeddings (base64 by default in the client), responses and models', async () => {
    const { client } = await fake({ models: ['m1', 'm2'] });
    const completion = await client.completions.create({ model: 'c', prompt: 'complete me' });
    expect(completion.choices[0]?.text).toBe('[alpha] echo: complete me');
    const embedding = await client.embeddings.create({ model: 'e', input: ['one', 'two'] });
    expect(embedding.data).toHaveLength(2);
    expect(embedding.data[0]?.embedding).toHaveLength(8);
    expect(embedding.data[0]?.embedding).not.toEqual(embedding.data[1]?.embedding);
    expect(embedding.usage.prompt_tokens).toBe(2);
    const response = await client.responses.create({ model: 'r', input: 'respond to me' });
    expect(response.output_text).toBe('[alpha] echo: respond to me');
    expect(response.usage?.output_tokens).toBe(5);
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual(['m1', 'm2']);
  });

  it('streams the Responses API as typed events ending with response.completed', async () => {
    const { client } = await fake({ tokens: 3 });
    const stream = await client.responses.create({ model: 'r', input: 'x', stream: true });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    expect(types).toEqual([
      'response.created',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.delta',
      'response.output_text.done',
      'response.completed',
    ]);
  });

  it('waits latencyMs before the first byte and tokenDelayMs between tokens', async () => {
    const { upstream } = await fake({ latencyMs: 60, tokenDelayMs: 25, tokens: 4 });
    const t0 = performance.now();
    const res = await post(upstream, '/chat/completions', { model: 'm', messages: hello, stream: true });
    expect(performance.now() - t0).toBeGreaterThanOrEqual(55);
    const read = await readSse(res);
    const tokens = read.events.slice(0, 4);
    expect(tokens.at(-1)!.at - tokens[0]!.at).toBeGreaterThanOrEqual(3 * 25 - 10);
  });
});

describe('fake upstream, per-request overrides and observability', () => {
  it('x-fake-* headers script a single request', async () => {
    const { upstream } = await fake();
    const limited = await post(
      upstream,
      '/chat/completions',
      { model: 'm', messages: hello },
      {
        'x-fake-mode': 'rateLimit',
        'x-fake-retry-after-sec': '3',
      },
    );
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('3');
    const t0 = performance.now();
    const slow = await post(
      upstream,
      '/chat/completions',
      { model: 'm', messages: hello },
      { 'x-fake-latency-ms': '50' },
    );
    expect(slow.status).toBe(200);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(45);
    const bad = await post(
      upstream,
      '/chat/completions',
      { model: 'm', messages: hello },
      { 'x-fake-mode': 'nope' },
    );
    expect(bad.status).toBe(400);
    expect(upstream.behaviour.mode).toBe('ok');
  });

  it('records the last request headers and body, and requests by path', async () => {
    const { upstream } = await fake();
    await fetch(`${upstream.url}/health`);
    await post(upstream, '/embeddings', { model: 'e', input: 'x' }, { 'x-tenant-id': 'acme' });
    expect(upstream.stats.byPath).toEqual({ '/health': 1, '/v1/embeddings': 1 });
    expect(upstream.stats.lastRequest).toMatchObject({
      method: 'POST',
      path: '/v1/embeddings',
      headers: { 'x-tenant-id': 'acme' },
      body: { model: 'e', input: 'x' },
    });
  });

  it('answers malformed JSON with 400 and unknown paths with 404, both OpenAI-shaped', async () => {
    const { upstream } = await fake();
    const malformed = await fetch(`${upstream.baseURL}/chat/completions`, { method: 'POST', body: '{nope' });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ error: { type: 'invalid_request_error' } });
    const missing = await post(upstream, '/nothing', {});
    expect(missing.status).toBe(404);
  });

  it('configure() validates and reset() restores the starting behaviour', async () => {
    const { upstream } = await fake({ latencyMs: 5 });
    expect(() => upstream.configure({ failureRate: 2 })).toThrow(/failureRate/);
    upstream.configure({ mode: 'error500', latencyMs: 1 });
    await upstream.reset();
    expect(upstream.behaviour).toMatchObject({ mode: 'ok', latencyMs: 5 });
  });
});
