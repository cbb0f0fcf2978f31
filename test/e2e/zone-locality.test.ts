/**
 * Zone locality end to end: a routecar process told it runs in z1 (ROUTECAR_ZONE), in front of one
 * fake upstream in z1 and two in z2, each its own process so the z1 one can be killed like a
 * crashed model server.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { countByBackend, failuresOf, runLoad } from '../support/load.js';
import { useProcesses } from '../support/processes.js';
import { startRoutecar, type Routecar } from '../support/routecar.js';
import { UpstreamProcess } from '../support/upstream-process.js';

const procs = useProcesses(afterAll);
const routecars: Routecar[] = [];
afterAll(async () => {
  await Promise.all(routecars.map((r) => r.stop()));
});

const CHAT = { model: 'chat', messages: [{ role: 'user', content: 'hello' }] };

describe('zone locality (ROUTECAR_ZONE=z1)', () => {
  it('keeps ≥ 90% of the traffic in z1, and killing the z1 backend moves all of it out with 0 client errors', async () => {
    const ups = {
      near: await UpstreamProcess.start(procs, 'near', ['--latency-ms', '10']),
      far1: await UpstreamProcess.start(procs, 'far1', ['--latency-ms', '10']),
      far2: await UpstreamProcess.start(procs, 'far2', ['--latency-ms', '10']),
    };
    const zones = { near: 'z1', far1: 'z2', far2: 'z2' };
    const backends = Object.fromEntries(
      Object.entries(ups).map(([name, u]) => [
        name,
        {
          url: u.baseURL,
          model: name,
          price: { input: 1, output: 1 },
          zone: zones[name as keyof typeof zones],
        },
      ]),
    );
    const r = await startRoutecar({
      policy: {
        version: 1,
        backends,
        routes: { chat: { backends: ['near', 'far1', 'far2'] } },
        breaker: { volumeThreshold: 5, resetTimeoutMs: 60_000 },
      },
      env: { ROUTECAR_ZONE: 'z1' },
    });
    routecars.push(r);
    const url = `${r.baseURL}/chat/completions`;
    const explain = async () => {
      const res = await fetch(`${r.adminUrl}/admin/explain`, { method: 'POST', body: JSON.stringify(CHAT) });
      const e = (await res.json()) as {
        result: {
          decision: {
            reason: string;
            zoneLeft?: boolean;
            candidates: { backend: string; zone?: string; excluded?: string }[];
          };
        };
      };
      return e.result.decision;
    };
    // The zone term per candidate, and the reason naming the zone.
    const before = await explain();
    expect(before.candidates.map((c) => [c.backend, c.zone])).toEqual([
      ['near', 'same'],
      ['far1', 'other'],
      ['far2', 'other'],
    ]);
    expect(before.reason).toContain(', zone z1)');

    const steady = await runLoad({ url, body: CHAT, total: 200, concurrency: 4 });
    expect(failuresOf(steady)).toEqual([]);
    expect((countByBackend(steady).near ?? 0) / steady.length).toBeGreaterThanOrEqual(0.9);

    let killedAt = Infinity;
    const outcomes = await runLoad({
      url,
      body: CHAT,
      total: 300,
      concurrency: 4,
      before: async (i) => {
        if (i !== 50) return;
        await ups.near.crash();
        killedAt = Date.now();
      },
    });
    expect(failuresOf(outcomes)).toEqual([]);
    const after = outcomes.filter((o) => o.at > killedAt + 100);
    expect(after.length).toBeGreaterThan(200);
    expect(countByBackend(after).near ?? 0).toBe(0);
    // Out of the zone: the route's state says so, and the reason says why.
    const out = await explain();
    expect(out.candidates[0]).toMatchObject({ backend: 'near', zone: 'same', excluded: 'breaker_open' });
    expect(out.reason).toContain('left zone z1 (no usable local backend)');
    expect(out.zoneLeft).toBe(true);
  });
});
