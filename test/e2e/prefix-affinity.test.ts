/**
 * Prompt-prefix affinity end to end: two routecar processes (two "pods") in front of three fake
 * upstreams; 30 distinct system prompts, each sent with varying user messages through both.
 * Every pod must send a prompt to the same backend, and the prompts must spread; each pod's
 * /metrics counts the requests that went to their prompt's home.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startFakeUpstream, type FakeUpstream } from '../support/fake-upstream.js';
import { startRoutecar, type Routecar } from '../support/routecar.js';

const upstreams: FakeUpstream[] = [];
const routecars: Routecar[] = [];
afterAll(async () => {
  await Promise.all(routecars.map((r) => r.stop()));
  await Promise.all(upstreams.map((u) => u.close()));
});

const PROMPTS = 30;
const PER_PROMPT = 8;

function system(i: number): string {
  return `You are support agent #${i} for product line ${String.fromCharCode(65 + (i % 26))}. ${'Follow the style guide. '.repeat(20)}`;
}

async function send(r: Routecar, prompt: number, turn: number): Promise<string> {
  const res = await fetch(`${r.baseURL}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      model: 'chat',
      messages: [
        { role: 'system', content: system(prompt) },
        { role: 'user', content: `question ${turn} about order ${prompt * 100 + turn}` },
      ],
    }),
  });
  await res.text();
  if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
  return res.headers.get('x-routecar-backend') ?? '';
}

describe('prefix affinity across two routecar processes', () => {
  it('30 system prompts each land on one backend (the same from both pods) ≥ 90% of the time, no backend above 60%', async () => {
    for (const name of ['a', 'b', 'c']) upstreams.push(await startFakeUpstream({ name, latencyMs: 5 }));
    const backends = Object.fromEntries(
      upstreams.map((u) => [u.name, { url: u.baseURL, model: u.name, price: { input: 1, output: 1 } }]),
    );
    const policy = {
      version: 1,
      backends,
      routes: {
        chat: {
          backends: ['a', 'b', 'c'],
          affinity: { by: 'prefix', prefixChars: 2048, maxLoadFactor: 1.5 },
        },
      },
    };
    const pods = await Promise.all([
      startRoutecar({ policy, name: 'pod-1' }),
      startRoutecar({ policy, name: 'pod-2' }),
    ]);
    routecars.push(...pods);

    // prompt → backend → count; two requests in flight at a time, alternating pods.
    const seen = Array.from({ length: PROMPTS }, () => new Map<string, number>());
    const byPod = Array.from({ length: PROMPTS }, () => [
      new Map<string, number>(),
      new Map<string, number>(),
    ]);
    const jobs: [number, number][] = [];
    for (let turn = 0; turn < PER_PROMPT; turn++) for (let p = 0; p < PROMPTS; p++) jobs.push([p, turn]);
    let next = 0;
    const worker = async () => {
      for (;;) {
        const job = jobs[next++];
        if (job === undefined) return;
        const [p, turn] = job;
        const pod = turn % 2;
        const backend = await send(pods[pod]!, p, turn);
        seen[p]!.set(backend, (seen[p]!.get(backend) ?? 0) + 1);
        byPod[p]![pod]!.set(backend, (byPod[p]![pod]!.get(backend) ?? 0) + 1);
      }
    };
    await Promise.all([worker(), worker()]);

    const modal = (m: Map<string, number>) => [...m.entries()].sort((x, y) => y[1] - x[1])[0]!;
    let onHome = 0;
    const totals: Record<string, number> = {};
    for (let p = 0; p < PROMPTS; p++) {
      const [home, n] = modal(seen[p]!);
      onHome += n;
      // Both pods agree on the home.
      expect(modal(byPod[p]![0]!)[0]).toBe(home);
      expect(modal(byPod[p]![1]!)[0]).toBe(home);
      for (const [b, c] of seen[p]!) totals[b] = (totals[b] ?? 0) + c;
    }
    const total = PROMPTS * PER_PROMPT;
    expect(onHome / total).toBeGreaterThanOrEqual(0.9);
    for (const b of ['a', 'b', 'c']) expect((totals[b] ?? 0) / total).toBeLessThanOrEqual(0.6);

    // The hit share is on /metrics: routecar_affinity_requests_total by route and outcome, summed over the pods.
    const outcomes: Record<string, number> = {};
    for (const pod of pods) {
      const text = await (await fetch(`${pod.adminUrl}/metrics`)).text();
      for (const m of text.matchAll(/^routecar_affinity_requests_total\{([^}]*)\} (\S+)$/gm)) {
        expect(m[1]).toContain('routecar_route="chat"');
        const outcome = /routecar_affinity_outcome="(\w+)"/.exec(m[1]!)![1]!;
        outcomes[outcome] = (outcomes[outcome] ?? 0) + Number(m[2]);
      }
    }
    expect((outcomes.home ?? 0) + (outcomes.skipped ?? 0)).toBe(total);
    expect(outcomes.none ?? 0).toBe(0);
    expect((outcomes.home ?? 0) / total).toBeGreaterThanOrEqual(0.9);
  });
});
