import OpenAI from 'openai';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../support/fake-upstream.js';
import { fake, hello, post } from './helpers.js';

/** Error codes along an error's `cause` chain (fetch wraps the socket error). */
function causeCodes(err: unknown): string[] {
  const codes: string[] = [];
  for (let e = err; e instanceof Error; e = e.cause) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') codes.push(code);
  }
  return codes;
}

describe('fake upstream, failure modes', () => {
  it('error500 answers 500 with an OpenAI-shaped error', async () => {
    const { client } = await fake({ mode: 'error500' });
    const err = await client.chat.completions
      .create({ model: 'm', messages: hello })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.InternalServerError);
    expect((err as InstanceType<typeof OpenAI.InternalServerError>).status).toBe(500);
    expect((err as InstanceType<typeof OpenAI.InternalServerError>).message).toMatch(/injected server error/);
  });

  it('rateLimit surfaces as RateLimitError carrying the Retry-After header', async () => {
    const { client, upstream } = await fake({ mode: 'rateLimit', retryAfterSec: 7 });
    const err = await client.chat.completions
      .create({ model: 'm', messages: hello })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.RateLimitError);
    expect((err as InstanceType<typeof OpenAI.RateLimitError>).headers.get('retry-after')).toBe('7');
    expect(upstream.stats.byOutcome).toEqual({ rateLimit: 1 });
  });

  it('failureRate fails exactly the requests the seeded random says', async () => {
    const { upstream } = await fake({ failureRate: 0.5, seed: 42 });
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++)
      statuses.push((await post(upstream, '/chat/completions', { model: 'm', messages: hello })).status);
    const draws = seededRandom(42);
    const expected = statuses.map(() => (draws() < 0.5 ? 500 : 200));
    expect(statuses).toEqual(expected);
    expect(statuses).toContain(500);
    expect(statuses).toContain(200);
    expect(upstream.stats.byOutcome.randomFailure).toBe(expected.filter((s) => s === 500).length);
  });

  it('uses an injected random source', async () => {
    const { upstream } = await fake({ failureRate: 0.3, random: () => 0.29 });
    expect((await post(upstream, '/chat/completions', { model: 'm', messages: hello })).status).toBe(500);
    upstream.configure({ failureRate: 0.29 });
    expect((await post(upstream, '/chat/completions', { model: 'm', messages: hello })).status).toBe(200);
  });

  it('hang never answers; the client giving up is counted as an abort', async () => {
    const { client, upstream } = await fake({ mode: 'hang' });
    const err = await client.chat.completions
      .create({ model: 'm', messages: hello }, { timeout: 100 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIConnectionTimeoutError);
    const stats = await upstream.waitForAbort(1);
    expect(stats).toMatchObject({ aborted: 1, completed: 0, inflight: 0, byOutcome: { hang: 1 } });
  });

  it('counts a client abort in the middle of a stream', async () => {
    const { client, upstream } = await fake({ tokens: 50, tokenDelayMs: 20 });
    const controller = new AbortController();
    const stream = await client.chat.completions.create(
      { model: 'm', messages: hello, stream: true },
      { signal: controller.signal },
    );
    let seen = 0;
    for await (const _chunk of stream) if (++seen === 2) controller.abort();
    await upstream.waitForAbort(1);
    expect(upstream.stats).toMatchObject({ aborted: 1, completed: 0 });
  });

  it('resetBeforeHeaders destroys the connection: a connection error, not counted as a client abort', async () => {
    const { client, upstream } = await fake({ mode: 'resetBeforeHeaders' });
    const err = await client.chat.completions
      .create({ model: 'm', messages: hello })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIConnectionError);
    await upstream.waitFor((s) => s.inflight === 0);
    expect(upstream.stats).toMatchObject({ aborted: 0, completed: 0, byOutcome: { resetBeforeHeaders: 1 } });
  });

  it('resetMidStream sends headers and a few chunks, then the stream iteration throws', async () => {
    const { client, upstream } = await fake({ mode: 'resetMidStream', midStreamChunks: 2, tokens: 10 });
    const stream = await client.chat.completions.create({ model: 'm', messages: hello, stream: true });
    const seen: string[] = [];
    const iterate = async (): Promise<void> => {
      for await (const chunk of stream) seen.push(chunk.choices[0]?.delta.content ?? '');
    };
    await expect(iterate()).rejects.toThrow();
    expect(seen).toEqual(['[alpha]', ' echo:']);
    expect(upstream.stats.aborted).toBe(0);
  });

  it('resetMidStream cuts a non-streaming body short', async () => {
    const { client } = await fake({ mode: 'resetMidStream' });
    const err = await client.chat.completions
      .create({ model: 'm', messages: hello })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
  });

  it('down refuses connections; up listens again on the same port', async () => {
    const { client, upstream } = await fake();
    const port = upstream.port;
    await upstream.down();
    const err = await client.chat.completions
      .create({ model: 'm', messages: hello })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(OpenAI.APIConnectionError);
    expect(causeCodes(err)).toContain('ECONNREFUSED');
    await upstream.up();
    expect(upstream.port).toBe(port);
    const ok = await client.chat.completions.create({ model: 'm', messages: hello });
    expect(ok.choices[0]?.message.content).toMatch(/^\[alpha\]/);
  });

  it('close() destroys sockets of requests still hanging', async () => {
    const { upstream } = await fake({ mode: 'hang' });
    const pending = post(upstream, '/chat/completions', { model: 'm', messages: hello });
    await upstream.waitForRequests(1);
    await upstream.close();
    await expect(pending).rejects.toThrow();
  });
});
