import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import {
  startDemoFleet,
  startFakeUpstream,
  type DemoFleet,
  type FakeUpstream,
} from '../../support/fake-upstream.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

async function fake(options: { controlPort?: number } = {}): Promise<FakeUpstream> {
  const upstream = await startFakeUpstream({ name: 'beta', ...options });
  cleanups.push(() => upstream.close());
  return upstream;
}

function control(url: string, body?: unknown): Promise<Response> {
  return fetch(url, body === undefined ? { method: 'POST' } : { method: 'POST', body: JSON.stringify(body) });
}

async function chatStatus(baseURL: string): Promise<number | string> {
  try {
    const res = await fetch(`${baseURL}/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] }),
    });
    await res.body?.cancel();
    return res.status;
  } catch (err) {
    return ((err as Error).cause as { code?: string } | undefined)?.code ?? 'error';
  }
}

describe('control API on the upstream port', () => {
  it('GET returns behaviour and stats; control requests are not counted', async () => {
    const upstream = await fake();
    await chatStatus(upstream.baseURL);
    const state = (await (await fetch(`${upstream.url}/__control`)).json()) as Record<string, unknown>;
    expect(state).toMatchObject({
      name: 'beta',
      listening: true,
      behaviour: { mode: 'ok' },
      stats: { requests: 1 },
    });
  });

  it('POST merges a behaviour patch, rejects bad values, and reset restores everything', async () => {
    const upstream = await fake();
    const res = await control(`${upstream.url}/__control`, { mode: 'rateLimit', retryAfterSec: 9 });
    expect(res.status).toBe(200);
    expect(upstream.behaviour).toMatchObject({ mode: 'rateLimit', retryAfterSec: 9 });
    expect(await chatStatus(upstream.baseURL)).toBe(429);
    expect((await control(`${upstream.url}/__control`, { failureRate: 3 })).status).toBe(400);
    expect((await control(`${upstream.url}/__control`, { lateny: 3 })).status).toBe(400);
    expect((await control(`${upstream.url}/__control`, { sseFormat: 'crlf' })).status).toBe(400);
    expect((await control(`${upstream.url}/__control`, { sseFormat: 'sse-starlette' })).status).toBe(200);
    expect(upstream.behaviour.sseFormat).toBe('sse-starlette');
    expect((await control(`${upstream.url}/__control/reset`)).status).toBe(200);
    expect(upstream.behaviour.sseFormat).toBe('openai');
    expect(upstream.behaviour.mode).toBe('ok');
    expect(upstream.stats.requests).toBe(0);
  });

  it('mode down answers, then refuses connections; the control port brings it back on the same port', async () => {
    const upstream = await fake({ controlPort: 0 });
    const port = upstream.port;
    const res = await control(`${upstream.url}/__control`, { mode: 'down' });
    expect(await res.json()).toMatchObject({ listening: false });
    expect(await chatStatus(upstream.baseURL)).toBe('ECONNREFUSED');
    expect(upstream.controlUrl).toBeDefined();
    await control(upstream.controlUrl!, { mode: 'up' });
    expect(upstream.port).toBe(port);
    expect(await chatStatus(upstream.baseURL)).toBe(200);
  });

  it('down drops in-flight requests without counting them as client aborts', async () => {
    const upstream = await fake();
    upstream.configure({ mode: 'hang' });
    const pending = chatStatus(upstream.baseURL);
    await upstream.waitForRequests(1);
    await upstream.down();
    expect(await pending).not.toBe(200);
    expect(upstream.stats).toMatchObject({ aborted: 0, inflight: 0 });
  });
});

describe('demo fleet', () => {
  async function fleet(): Promise<DemoFleet> {
    const f = await startDemoFleet(
      [
        { name: 'fast', port: 0, latencyMs: 1, description: 'fast one' },
        { name: 'flaky', port: 0, failureRate: 1, description: 'always fails' },
      ],
      { controlPort: 0 },
    );
    cleanups.push(() => f.close());
    return f;
  }

  it('starts every backend with its own behaviour', async () => {
    const f = await fleet();
    const fast = new OpenAI({ baseURL: f.get('fast').baseURL, apiKey: 'k', maxRetries: 0 });
    const reply = await fast.chat.completions.create({
      model: 'm',
      messages: [{ role: 'user', content: 'hi' }],
    });
    expect(reply.choices[0]?.message.content).toBe('[fast] echo: hi');
    expect(await chatStatus(f.get('flaky').baseURL)).toBe(500);
    expect(() => f.get('nope')).toThrow(/nope/);
  });

  it('describes the backends and prints curl commands that take one down and bring it back', async () => {
    const f = await fleet();
    expect(f.description).toContain(f.get('fast').baseURL);
    expect(f.description).toContain('always fails');
    const commands = [...f.description.matchAll(/curl -s -X POST (\S+) -d '([^']+)'/g)];
    const down = commands.find((c) => c[2] === '{"mode":"down"}');
    const up = commands.find((c) => c[2] === '{"mode":"up"}');
    expect(down?.[1]).toBe(`${f.controlUrl}/fast`);
    await control(down![1]!, JSON.parse(down![2]!));
    expect(await chatStatus(f.get('fast').baseURL)).toBe('ECONNREFUSED');
    await control(up![1]!, JSON.parse(up![2]!));
    expect(await chatStatus(f.get('fast').baseURL)).toBe(200);
  });

  it('GET on the fleet control URL lists every upstream; unknown names are 404', async () => {
    const f = await fleet();
    const all = (await (await fetch(f.controlUrl)).json()) as { upstreams: { name: string }[] };
    expect(all.upstreams.map((u) => u.name)).toEqual(['fast', 'flaky']);
    expect((await fetch(`${f.controlUrl}/ghost`)).status).toBe(404);
  });

  it('stops what it started when a port is taken', async () => {
    const blocker = await fake();
    await expect(
      startDemoFleet(
        [
          { name: 'a', port: 0, description: '' },
          { name: 'b', port: blocker.port, description: '' },
        ],
        { controlPort: 0 },
      ),
    ).rejects.toThrow(/EADDRINUSE/);
  });
});
