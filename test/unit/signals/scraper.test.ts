import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  fetchMetricsText,
  SIGNAL_JITTER,
  SignalScraper,
  type FetchText,
} from '../../../src/signals/scraper.js';
import type { SignalSource } from '../../../src/signals/store.js';

const VLLM = (queued: number) =>
  `# TYPE vllm:num_requests_waiting gauge\nvllm:num_requests_waiting{model_name="m"} ${queued}.0\n` +
  `vllm:num_requests_running{model_name="m"} 1.0\nvllm:kv_cache_usage_perc{model_name="m"} 0.5\n`;

const SOURCE: SignalSource = { metricsUrl: 'http://a/metrics', format: 'vllm', intervalMs: 1000 };

function policy(sources: Record<string, SignalSource | undefined>) {
  return { backends: new Map(Object.entries(sources).map(([name, signals]) => [name, { signals }])) };
}

describe('SignalScraper (fake clock)', () => {
  beforeEach(() => {
    vi.useFakeTimers({ now: 1_700_000_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function scraper(fetchText: FetchText, random = () => 0.5) {
    return new SignalScraper({ now: Date.now, random, fetchText });
  }

  it('scrapes on a jittered interval and feeds the lookup', async () => {
    const calls: number[] = [];
    const s = scraper(async () => {
      calls.push(Date.now());
      return VLLM(calls.length);
    });
    s.reconcile(policy({ a: SOURCE, b: undefined }));
    // First scrape after random() × interval = 500 ms, then every interval × (1 ± jitter) = 1000 ms at 0.5.
    await vi.advanceTimersByTimeAsync(499);
    expect(calls).toHaveLength(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toHaveLength(1);
    expect(s.lookup('a')).toEqual({ queued: 1, running: 1, kvCacheUsage: 0.5 });
    expect(s.lookup('b')).toBeUndefined();
    await vi.advanceTimersByTimeAsync(2000);
    expect(calls).toHaveLength(3);
    s.close();
  });

  it('keeps waits within interval × (1 ± jitter)', async () => {
    const calls: number[] = [];
    let r = 0;
    const draws = [0, 0, 0.999, 0, 0.999];
    const s = scraper(
      async () => {
        calls.push(Date.now());
        return VLLM(0);
      },
      () => draws[r++ % draws.length]!,
    );
    s.reconcile(policy({ a: SOURCE }));
    await vi.advanceTimersByTimeAsync(5000);
    const gaps = calls.slice(1).map((t, i) => t - calls[i]!);
    expect(gaps.length).toBeGreaterThanOrEqual(3);
    for (const g of gaps) {
      expect(g).toBeGreaterThanOrEqual(1000 * (1 - SIGNAL_JITTER));
      expect(g).toBeLessThanOrEqual(1000 * (1 + SIGNAL_JITTER));
    }
    s.close();
  });

  it('never has two scrapes of one backend in flight, and cuts a slow one off before the next is due', async () => {
    let inflight = 0;
    let most = 0;
    let aborted = 0;
    const s = scraper(
      (_url, signal) =>
        new Promise<string>((_resolve, reject) => {
          inflight++;
          most = Math.max(most, inflight);
          signal.addEventListener('abort', () => {
            inflight--;
            aborted++;
            reject(signal.reason as Error);
          });
        }),
    );
    s.reconcile(policy({ a: SOURCE }));
    await vi.advanceTimersByTimeAsync(10_000);
    expect(most).toBe(1);
    expect(aborted).toBeGreaterThanOrEqual(5);
    const [stats] = s.stats();
    expect(stats).toMatchObject({ state: 'pending', scrapes: 0, lastError: 'timed out' });
    expect(stats!.failures).toBe(aborted);
    s.close();
  });

  it('a failing scrape only ages the signal until it is stale', async () => {
    let fail = false;
    const s = scraper(async () => {
      if (fail) throw new Error('connect ECONNREFUSED');
      return VLLM(3);
    });
    s.reconcile(policy({ a: SOURCE }));
    await vi.advanceTimersByTimeAsync(600);
    expect(s.lookup('a')?.queued).toBe(3);
    fail = true;
    await vi.advanceTimersByTimeAsync(2900);
    expect(s.lookup('a')?.queued).toBe(3);
    await vi.advanceTimersByTimeAsync(200);
    expect(s.lookup('a')).toBeUndefined();
    expect(s.stats()[0]).toMatchObject({
      state: 'stale',
      staleTransitions: 1,
      lastError: 'connect ECONNREFUSED',
    });
    s.close();
  });

  it('stops scraping a backend that loses its signals or leaves the policy', async () => {
    const urls: string[] = [];
    const s = scraper(async (url) => {
      urls.push(url);
      return VLLM(0);
    });
    s.reconcile(policy({ a: SOURCE, b: { ...SOURCE, metricsUrl: 'http://b/metrics' } }));
    await vi.advanceTimersByTimeAsync(1000);
    s.reconcile(policy({ a: undefined }));
    const seen = urls.length;
    await vi.advanceTimersByTimeAsync(5000);
    expect(urls.length).toBe(seen);
    expect(s.stats()).toEqual([]);
    expect(s.lookup('a')).toBeUndefined();
    s.close();
  });
});

describe('fetchMetricsText (real sockets)', () => {
  let server: http.Server;
  let base: string;
  beforeEach(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/ok') res.end(VLLM(2));
      else if (req.url === '/error') res.writeHead(503).end('unavailable');
      // /hang: never answers.
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('returns the page, refuses a non-2xx status, and gives up when aborted', async () => {
    expect(await fetchMetricsText(`${base}/ok`, new AbortController().signal)).toContain(
      'vllm:num_requests_waiting',
    );
    await expect(fetchMetricsText(`${base}/error`, new AbortController().signal)).rejects.toThrow('HTTP 503');
    await expect(fetchMetricsText(`${base}/hang`, AbortSignal.timeout(100))).rejects.toThrow();
  });
});
