import { describe, expect, it } from 'vitest';
import { FleetView } from '../../../src/fleet/fleet-view.js';
import type { VectorSeries } from '../../../src/fleet/prometheus-query.js';
import { parseSelector } from '../../../src/policy/selector.js';

const matchers = (text: string) => {
  const p = parseSelector(text);
  if (!p.ok) throw new Error(p.error);
  return p.matchers;
};

describe('FleetView: model-server load read from Prometheus (signals.selector)', () => {
  it('sums queued and running over a backend’s servers, takes the fullest KV cache, one query per family', async () => {
    const asked: string[] = [];
    const series: Record<string, VectorSeries[]> = {
      'vllm:num_requests_waiting': [
        { labels: { job: 'big', pod: 'big-1' }, value: 3 },
        { labels: { job: 'big', pod: 'big-2' }, value: 5 },
        { labels: { job: 'small', pod: 'small-1' }, value: 1 },
      ],
      'vllm:num_requests_running': [
        { labels: { job: 'big', pod: 'big-1' }, value: 10 },
        { labels: { job: 'big', pod: 'big-2' }, value: 12 },
      ],
      // The newer gauge where present; an older server's gpu_cache_usage_perc otherwise.
      'vllm:kv_cache_usage_perc': [
        { labels: { job: 'big', pod: 'big-1' }, value: 0.4 },
        { labels: { job: 'big', pod: 'big-2' }, value: 0.9 },
      ],
      'vllm:gpu_cache_usage_perc': [{ labels: { job: 'small', pod: 'small-1' }, value: 0.2 }],
    };
    let now = 1_000_000;
    const view = new FleetView({
      url: 'http://prom:9090',
      now: () => now,
      random: () => 0.5,
      intervalMs: 1000,
      query: async () => new Map(),
      querySeries: async (_url, q) => {
        asked.push(q);
        return series[q] ?? [];
      },
      signalSources: () => [
        { backend: 'big', format: 'vllm', matchers: matchers('job="big"') },
        { backend: 'small', format: 'vllm', matchers: matchers('job="small"') },
        { backend: 'absent', format: 'vllm', matchers: matchers('job="absent"') },
      ],
    });
    await view.refresh();
    expect(asked.sort()).toEqual([
      'vllm:gpu_cache_usage_perc',
      'vllm:kv_cache_usage_perc',
      'vllm:num_requests_running',
      'vllm:num_requests_waiting',
    ]);
    expect(view.signalLookup('big')).toEqual({ queued: 8, running: 22, kvCacheUsage: 0.9 });
    expect(view.signalLookup('small')).toEqual({ queued: 1, running: 0, kvCacheUsage: 0.2 });
    expect(view.signalLookup('absent')).toBeUndefined();
    expect(view.stats().signals).toHaveProperty('big');
    // Stale after three intervals without a good round: ignored, like a scraped signal.
    now += 3_001;
    expect(view.signalLookup('big')).toBeUndefined();
  });

  it('asks nothing more when no backend reads its load from Prometheus', async () => {
    const asked: string[] = [];
    const view = new FleetView({
      url: 'http://prom:9090',
      now: () => 0,
      random: () => 0.5,
      query: async () => new Map(),
      querySeries: async (_u, q) => {
        asked.push(q);
        return [];
      },
    });
    await view.refresh();
    expect(asked).toEqual([]);
  });
});
