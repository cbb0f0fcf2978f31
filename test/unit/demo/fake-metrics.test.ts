import { describe, expect, it } from 'vitest';
import { readLoad, SignalReadError } from '../../../src/signals/read-load.js';
import { fake, hello } from './helpers.js';

async function metrics(url: string): Promise<Response> {
  return fetch(`${url}/metrics`);
}

describe('fake upstream GET /metrics (vLLM format)', () => {
  it('serves the load set through the control API, in vLLM text format, uncounted', async () => {
    const { upstream } = await fake({ models: ['meta-llama/Llama-3.1-8B-Instruct'] });
    const set = await fetch(`${upstream.url}/__control`, {
      method: 'POST',
      body: JSON.stringify({ queueDepth: 12, kvCacheUsage: 0.97 }),
    });
    expect(set.status).toBe(200);
    const res = await metrics(upstream.url);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(text).toContain('# TYPE vllm:num_requests_waiting gauge\n');
    expect(text).toContain(
      'vllm:num_requests_waiting{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 12.0\n',
    );
    expect(text).toContain(
      'vllm:gpu_cache_usage_perc{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.97\n',
    );
    expect(readLoad(text, 'vllm')).toEqual({ queued: 12, running: 0, kvCacheUsage: 0.97 });
    expect(upstream.stats.requests).toBe(0);
  });

  it('reports the requests in flight as running', async () => {
    const { upstream, client } = await fake({ latencyMs: 400 });
    const pending = client.chat.completions.create({ model: 'alpha', messages: hello });
    await upstream.waitForRequests(1);
    expect(readLoad(await (await metrics(upstream.url)).text(), 'vllm').running).toBe(1);
    await pending;
  });

  it('can fail in the ways a scraper must survive', async () => {
    const { upstream } = await fake();
    upstream.configure({ metricsMode: 'error500' });
    expect((await metrics(upstream.url)).status).toBe(500);
    upstream.configure({ metricsMode: 'garbage' });
    const garbage = await (await metrics(upstream.url)).text();
    expect(() => readLoad(garbage, 'vllm')).toThrow(SignalReadError);
    upstream.configure({ metricsMode: 'hang' });
    await expect(fetch(`${upstream.url}/metrics`, { signal: AbortSignal.timeout(200) })).rejects.toThrow();
  });

  it('refuses bad load settings', async () => {
    const { upstream } = await fake();
    expect(() => upstream.configure({ kvCacheUsage: 1.5 })).toThrow(/kvCacheUsage/);
    expect(() => upstream.configure({ queueDepth: 1.5 })).toThrow(/queueDepth/);
  });
});
