import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { readLoad, SignalReadError } from '../../../src/signals/read-load.js';

const fixture = (name: string) => readFileSync(new URL(`fixtures/${name}`, import.meta.url), 'utf8');

describe('readLoad', () => {
  it('vLLM V1: sums the engines of a data-parallel server, takes the fullest KV cache', () => {
    expect(readLoad(fixture('vllm-v1.txt'), 'vllm')).toEqual({
      queued: 12,
      running: 46,
      kvCacheUsage: 0.9437,
    });
  });

  it('vLLM V0: reads the older vllm:gpu_cache_usage_perc when kv_cache_usage_perc is absent', () => {
    expect(readLoad(fixture('vllm-v0.txt'), 'vllm')).toEqual({ queued: 0, running: 3, kvCacheUsage: 0.0412 });
  });

  it('prefers vllm:kv_cache_usage_perc over the deprecated name when both are there', () => {
    const text =
      'vllm:num_requests_waiting{model_name="m"} 1.0\n' +
      'vllm:gpu_cache_usage_perc{model_name="m"} 0.2\n' +
      'vllm:kv_cache_usage_perc{model_name="m"} 0.7\n';
    expect(readLoad(text, 'vllm').kvCacheUsage).toBe(0.7);
  });

  it('SGLang: num_queue_reqs, num_running_reqs, token_usage', () => {
    expect(readLoad(fixture('sglang.txt'), 'sglang')).toEqual({
      queued: 12,
      running: 57,
      kvCacheUsage: 0.63,
    });
  });

  it('TGI: tgi_queue_size and tgi_batch_current_size, no KV-cache gauge', () => {
    expect(readLoad(fixture('tgi.txt'), 'tgi')).toEqual({ queued: 4, running: 16, kvCacheUsage: undefined });
  });

  it('reads the last sample of a page without a final newline', () => {
    expect(readLoad('vllm:num_requests_waiting{model_name="m"} 9.0', 'vllm').queued).toBe(9);
  });

  it('ignores NaN and negative samples', () => {
    const text =
      'sglang:num_queue_reqs{model_name="a"} NaN\nsglang:num_queue_reqs{model_name="b"} -3\nsglang:num_running_reqs 2\n';
    expect(readLoad(text, 'sglang')).toEqual({ queued: 0, running: 2, kvCacheUsage: undefined });
  });

  it.each([
    ['an HTML error page', '<html><body>502 Bad Gateway</body></html>'],
    ['an empty page', ''],
    ['another server format', fixture('tgi.txt')],
  ])('refuses %s instead of reading zeros', (_what, text) => {
    expect(() => readLoad(text, 'vllm')).toThrow(SignalReadError);
  });

  it('refuses a malformed sample line of a family it reads', () => {
    expect(() => readLoad('vllm:num_requests_waiting{model_name=m} 1\n', 'vllm')).toThrow(/malformed/);
  });
});
