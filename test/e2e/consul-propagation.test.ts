/**
 * Propagation from Consul to traffic, end to end: routecar watches Consul (the emulator, or a real
 * agent when CONSUL_HTTP_ADDR is set); a PUT of `routecar/splits/<route>` moves the traffic
 * within a second, and a PUT of `routecar/policy` with a new document is picked up.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ConsulUnderTest,
  quantile,
  removeStateDirs,
  sleep,
  startConsulRoutecar,
  type Answer,
  type ConsulRoutecar,
} from '../support/consul-routecar.js';
import { useFakeUpstreams, type FakeUpstream } from '../support/fake-upstream.js';
import { useProcesses } from '../support/processes.js';

const procs = useProcesses(afterAll);
const fakeUpstream = useFakeUpstreams(afterAll);

const CHANGES = 20;
/** A PUT must be followed by the traffic within this. */
const PROPAGATION_LIMIT_MS = 1_000;
/**
 * Between two changes: lets routecar's Consul token bucket (burst 10, 4/s) refill, so each figure
 * is the propagation of one change, not the rate limiter's queue under a burst (that case is
 * exercised, and its delay reported, by consul-under-load.test.ts).
 */
const GAP_MS = 300;

let consul: ConsulUnderTest;
let routecar: ConsulRoutecar;
let a: FakeUpstream;
let b: FakeUpstream;

function backend(u: FakeUpstream): object {
  return { url: u.baseURL, model: `${u.name}-model`, price: { input: 0.1, output: 0.1 } };
}

function policy(extraRoutes: Record<string, object> = {}): string {
  return JSON.stringify(
    {
      version: 1,
      backends: { a: backend(a), b: backend(b) },
      routes: { chat: { backends: ['a', 'b'], split: { a: 100, b: 0 } }, ...extraRoutes },
    },
    null,
    2,
  );
}

beforeAll(async () => {
  [a, b] = await Promise.all([fakeUpstream({ name: 'a' }), fakeUpstream({ name: 'b' })]);
  consul = await ConsulUnderTest.start('propagation');
  await consul.write('policy', policy());
  routecar = await startConsulRoutecar({ consul, group: procs });
});

afterAll(async () => {
  await procs.killAll();
  await consul?.close();
  await removeStateDirs();
});

/**
 * Sends a request every ~10 ms until one is served by `arm`; returns that answer and when it
 * arrived. Every answer must be a 200 (the change never fails a request).
 */
async function firstServedBy(arm: string, deadlineMs: number): Promise<{ answer: Answer; at: number }> {
  const deadline = performance.now() + deadlineMs;
  for (;;) {
    const answer = await routecar.chat('chat');
    const at = performance.now();
    expect(answer.status, answer.body).toBe(200);
    if (answer.backend === arm) return { answer, at };
    if (at > deadline)
      throw new Error(`no request reached "${arm}" within ${deadlineMs} ms (last: ${answer.backend})`);
    await sleep(10);
  }
}

describe(`Consul propagation (${process.env.CONSUL_HTTP_ADDR ? 'real Consul' : 'emulator'})`, () => {
  it('serves the policy from Consul: split {a: 100, b: 0} sends everything to a', async () => {
    for (let i = 0; i < 5; i++) expect((await routecar.chat('chat')).backend).toBe('a');
    const p = await routecar.policy();
    expect(p.origin).toMatchObject({ source: 'consul', location: consul.key('policy') });
  });

  it(`a PUT of routecar/splits/<route> moves the traffic within ${PROPAGATION_LIMIT_MS} ms (${CHANGES} changes)`, async () => {
    const latencies: number[] = [];
    let last: Answer | undefined;
    for (let i = 0; i < CHANGES; i++) {
      const [from, to] = i % 2 === 0 ? ['a', 'b'] : ['b', 'a'];
      const weights = to === 'b' ? { a: 0, b: 100 } : { a: 100, b: 0 };
      // Traffic is on the old arm right before the change.
      expect((await routecar.chat('chat')).backend).toBe(from);
      const { ok, respondedAt } = await consul.put('splits/chat', weights);
      expect(ok).toBe(true);
      const seen = await firstServedBy(to, 5_000);
      latencies.push(seen.at - respondedAt);
      last = seen.answer;
      // Once the new arm is seen, no request goes back to the old one (weight 0 is an instant rollback).
      for (let k = 0; k < 3; k++) expect((await routecar.chat('chat')).backend).toBe(to);
      await sleep(GAP_MS);
    }

    const p50 = quantile(latencies, 0.5);
    const p99 = quantile(latencies, 0.99);
    console.log(
      `consul propagation (${consul.real ? 'real Consul' : 'emulator'}): ${CHANGES} split changes, PUT response -> first request on the new arm: ` +
        `p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${Math.max(...latencies).toFixed(1)} ms (polling every ~10 ms)`,
    );
    for (const [i, ms] of latencies.entries())
      expect(ms, `change ${i + 1} took ${ms.toFixed(0)} ms`).toBeLessThan(PROPAGATION_LIMIT_MS);

    // /admin/policy shows the version the traffic carries, the policy key's ModifyIndex and the override.
    const [policyKey, splitKey] = await Promise.all([
      consul.mustGet('policy'),
      consul.mustGet('splits/chat'),
    ]);
    const p = await routecar.policy();
    expect(p.version).toBe(last!.version);
    expect(p.origin).toEqual({
      source: 'consul',
      location: consul.key('policy'),
      modifyIndex: policyKey.modifyIndex,
    });
    expect(p.contentHash).toBe(createHash('sha256').update(policyKey.value!).digest('hex'));
    expect(p.splitOverrides).toEqual({ chat: { a: 100, b: 0 } }); // the 20th change sent it back to a
    expect(p.splitsOrigin).toMatchObject({ source: 'consul', modifyIndex: splitKey.modifyIndex });
    expect(p.refusedSplits).toEqual([]);
  });

  it('each split change is a new policy version, shown by the responses and /admin/policy', async () => {
    const before = await routecar.policy();
    const answerBefore = await routecar.chat('chat');
    expect(answerBefore.version).toBe(before.version);
    await consul.put('splits/chat', { a: 0, b: 100 });
    const after = await routecar.waitForPolicy(
      (p) => p.version !== before.version,
      'a new version',
      PROPAGATION_LIMIT_MS,
    );
    expect(after.splitOverrides).toEqual({ chat: { a: 0, b: 100 } });
    const answerAfter = await routecar.chat('chat');
    expect(answerAfter).toMatchObject({ backend: 'b', variant: 'b', version: after.version });
    expect(Date.parse(after.loadedAt!)).toBeGreaterThan(Date.parse(before.loadedAt!));
  });

  it('a PUT of routecar/policy with a new document is picked up: a new route is listed and served', async () => {
    const before = await routecar.policy();
    expect(await routecar.models()).toEqual(['chat']);
    expect((await routecar.chat('chat-b')).status).toBe(404);

    const text = policy({ 'chat-b': { backends: ['b'] } });
    const { ok, respondedAt } = await consul.put('policy', text);
    expect(ok).toBe(true);
    const modifyIndex = (await consul.mustGet('policy')).modifyIndex;
    for (;;) {
      if ((await routecar.models()).includes('chat-b')) break;
      expect(performance.now() - respondedAt, 'the new route is listed within 1 s').toBeLessThan(
        PROPAGATION_LIMIT_MS,
      );
      await sleep(10);
    }
    expect(await routecar.models()).toEqual(['chat', 'chat-b']);
    const answer = await routecar.chat('chat-b');
    expect(answer).toMatchObject({ status: 200, backend: 'b' });

    const p = await routecar.policy();
    expect(p.version).not.toBe(before.version);
    expect(answer.version).toBe(p.version);
    expect(p.origin).toEqual({ source: 'consul', location: consul.key('policy'), modifyIndex });
    expect(p.contentHash).toBe(createHash('sha256').update(text).digest('hex'));
    expect(p.document?.routes).toHaveProperty('chat-b');
    // The split override is checked again against the new document and stays in force.
    expect(p.splitOverrides).toEqual({ chat: { a: 0, b: 100 } });
    expect((await routecar.chat('chat')).backend).toBe('b');
    expect(p.reloads.refused).toBe(0);
  });

  it('deleting routecar/splits/<route> falls back to the policy split', async () => {
    expect((await routecar.chat('chat')).backend).toBe('b');
    await consul.delete('splits/chat');
    const respondedAt = performance.now();
    const seen = await firstServedBy('a', 5_000);
    expect(seen.at - respondedAt).toBeLessThan(PROPAGATION_LIMIT_MS);
    const p = await routecar.policy();
    expect(p.splitOverrides).toEqual({});
  });
});
