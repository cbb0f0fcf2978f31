/**
 * The bandit on the real routecar process, with fake model servers as processes: a failing arm
 * loses its first attempts but keeps its minimum share; a cost reward favours the cheaper of two
 * equal arms; a feedback reward favours the arm users score 1. First attempts are counted from
 * `x-routecar-variant` (the arm the bandit picked), so failover does not blur them.
 * Skips with a reason while the policy schema does not know `routes.<r>.bandit` (wiring pending).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useProcesses } from '../support/processes.js';
import { startRoutecar, type Routecar } from '../support/routecar.js';
import { UpstreamProcess } from '../support/upstream-process.js';

const procs = useProcesses(afterAll);
let ok: UpstreamProcess;
let flaky: UpstreamProcess;

const backend = (u: UpstreamProcess, price = 1) => ({
  url: u.baseURL,
  model: u.name,
  price: { input: price, output: price },
});
// The breaker stays closed: the bandit, not the breaker, is under test.
const breaker = {
  errorThresholdPercentage: 99,
  volumeThreshold: 100000,
  resetTimeoutMs: 1000,
  consecutiveFailures: 0,
};

async function start(routes: Record<string, unknown>, backends: Record<string, unknown>): Promise<Routecar> {
  return startRoutecar({ group: procs, policy: { version: 1, backends, routes, breaker } });
}

interface Served {
  variant: string;
  status: number;
  requestId: string;
}
async function chat(r: Routecar, route: string): Promise<Served> {
  const res = await fetch(`${r.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: route,
      messages: [{ role: 'user', content: 'hello there' }],
      max_tokens: 16,
    }),
  });
  await res.arrayBuffer();
  return {
    variant: res.headers.get('x-routecar-variant') ?? '',
    status: res.status,
    requestId: res.headers.get('x-request-id') ?? '',
  };
}
const share = (served: readonly Served[], variant: string): number =>
  served.filter((s) => s.variant === variant).length / served.length;

describe('bandit routes on the real process', () => {
  beforeAll(async () => {
    [ok, flaky] = await Promise.all([
      UpstreamProcess.start(procs, 'ok', []),
      UpstreamProcess.start(procs, 'flaky', ['--failure-rate', '0.4']),
    ]);
  }, 30_000);

  it('a 40%-failing arm falls to ≤ 15% of first attempts within 300 requests, and keeps ≥ minShare', async () => {
    const r = await start(
      { chat: { backends: ['ok', 'flaky'], bandit: { minShare: 0.05 }, failover: { maxAttempts: 2 } } },
      { ok: backend(ok), flaky: backend(flaky) },
    );
    const served: Served[] = [];
    for (let i = 0; i < 1000; i++) served.push(await chat(r, 'chat'));
    expect(share(served.slice(200, 300), 'flaky')).toBeLessThanOrEqual(0.15);
    expect(share(served.slice(300), 'flaky')).toBeLessThanOrEqual(0.15);
    // minShare 5% in expectation: over 700 picks, 2.5% is more than 3 sd below.
    expect(share(served.slice(300), 'flaky')).toBeGreaterThanOrEqual(0.025);
    expect(served.filter((s) => s.status !== 200)).toEqual([]);
    // Posteriors and shares are in /admin/state and in the metrics.
    const state = (await (await fetch(`${r.adminUrl}/admin/state`)).json()) as {
      bandit: Record<
        string,
        Record<string, { alpha: number; beta: number; meanReward: number; share: number }>
      >;
    };
    const arms = state.bandit.chat!;
    expect(arms.flaky!.share).toBeLessThanOrEqual(0.15);
    expect(arms.flaky!.share).toBeGreaterThanOrEqual(0.05 / 2);
    expect(arms.ok!.meanReward).toBeGreaterThan(arms.flaky!.meanReward);
    const metrics = await (await fetch(`${r.adminUrl}/metrics`)).text();
    expect(metrics).toMatch(/^routecar_bandit_share_ratio\{.*routecar_backend="flaky".*\} 0\.\d+/m);
    expect(metrics).toMatch(/^routecar_bandit_reward_mean_ratio\{.*routecar_backend="ok".*\} 0\.\d+/m);
    await r.stop();
  }, 120_000);

  it('with a cost reward the cheaper of two equal arms takes ≥ 70%', async () => {
    const r = await start(
      { chat: { backends: ['cheap', 'dear'], bandit: { reward: { costWeight: 1 } } } },
      { cheap: backend(ok, 1), dear: { ...backend(ok, 5), model: 'dear' } },
    );
    const served: Served[] = [];
    for (let i = 0; i < 600; i++) served.push(await chat(r, 'chat'));
    expect(share(served.slice(300), 'cheap')).toBeGreaterThanOrEqual(0.7);
    await r.stop();
  }, 120_000);

  it('with a feedback reward the arm users score 1 takes ≥ 70% once 200 feedback posts arrived', async () => {
    const r = await start(
      { chat: { backends: ['liked', 'disliked'], bandit: { reward: { costWeight: 0, feedbackWeight: 2 } } } },
      { liked: backend(ok), disliked: { ...backend(ok), model: 'disliked' } },
    );
    let posts = 0;
    const after: Served[] = [];
    for (let i = 0; posts < 200 || after.length < 100; i++) {
      const s = await chat(r, 'chat');
      if (posts >= 200) after.push(s);
      const res = await fetch(`${r.baseURL}/feedback`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ request_id: s.requestId, score: s.variant === 'liked' ? 1 : 0 }),
      });
      expect(res.status).toBe(204);
      posts++;
    }
    expect(share(after, 'liked')).toBeGreaterThanOrEqual(0.7);
    await r.stop();
  }, 120_000);
});
