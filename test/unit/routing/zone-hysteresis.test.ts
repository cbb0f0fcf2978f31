/**
 * Zone return hysteresis: traffic leaves the zone when the best local backend scores under
 * 1 / ZONE_TOLERANCE of the best remote one, and comes back only once it scores 1 /
 * ZONE_RETURN_RATIO. The state is a boolean per route that decide reads and returns (ZoneMemory
 * keeps it between decisions); the scenario is a table of steps on a seeded random source.
 */
import { describe, expect, it } from 'vitest';
import type { BackendHealth } from '../../../src/health/types.js';
import { decide } from '../../../src/routing/decide.js';
import { ZONE_RETURN_RATIO, ZONE_TOLERANCE } from '../../../src/routing/locality.js';
import type { Decision } from '../../../src/routing/types.js';
import { ZoneMemory } from '../../../src/routing/zone-memory.js';
import { buildPolicy, features, healthTable, mulberry32, NOW } from './helpers.js';

const same: Partial<BackendHealth> = { latencyEwmaMs: 100, ttfbEwmaMs: 50, requests: 200 };
const policy = buildPolicy({
  backends: { a1: { zone: 'z1' }, b2: { zone: 'z2' }, c2: { zone: 'z2' }, d: {} },
  routes: { chat: { backends: ['a1', 'b2', 'c2', 'd'] } },
});
/** The local backend `slower` times slower to first byte than its remote peers. */
const health = (slower: number, local: Partial<BackendHealth> = {}) =>
  healthTable({ a1: { ...same, ttfbEwmaMs: 50 * slower, ...local }, b2: same, c2: same, d: same });

function decideWith(h: ReturnType<typeof health>, zoneLeft: boolean, seed = 1): Decision {
  const r = decide({
    policy,
    health: h,
    zone: 'z1',
    zoneLeft: () => zoneLeft,
    features: features(),
    nowMs: NOW,
    random: mulberry32(seed),
  });
  if (!r.ok) throw new Error(r.refusal.message);
  return r.decision;
}

describe('zone return hysteresis', () => {
  it('uses the leave threshold while in the zone and the stricter return threshold once out', () => {
    expect(ZONE_TOLERANCE).toBeGreaterThan(ZONE_RETURN_RATIO);
    // 3x slower: inside the leave threshold (4x), outside the return threshold (2x).
    const inZone = decideWith(health(3), false);
    expect(inZone.attempts[0]).toBe('a1');
    expect(inZone.zoneLeft).toBe(false);
    const out = decideWith(health(3), true);
    expect(out.candidates.find((c) => c.backend === 'a1')?.weight).toBeLessThan(0.15);
    expect(out.zoneLeft).toBe(true);
    expect(out.reason).toMatch(/left zone z1 \(local scores 0\.3\d of remote; returns at 0\.50\)$/);
    // 1.5x slower: back in.
    const back = decideWith(health(1.5), true);
    expect(back.attempts[0]).toBe('a1');
    expect(back.zoneLeft).toBe(false);
  });

  it.each([
    // step: local backend's slowdown (or breaker), whether traffic is in z1 after the step
    [
      'slow degradation and recovery',
      [
        [1, true],
        [3, true], // within the leave threshold
        [5, false], // leaves
        [3, false], // not yet back: needs 2x
        [2.5, false],
        [1.8, true], // back
        [3, true], // stays
      ],
    ],
    [
      'breaker opens, then the backend recovers only partly',
      [
        [1, true],
        ['open', false],
        [3, false], // healthy again but 3x slower: stays out
        [1, true],
      ],
    ],
  ] as [string, [number | 'open', boolean][]][])('%s', (_name, steps) => {
    const memory = new ZoneMemory();
    const random = mulberry32(7);
    steps.forEach(([step, inZone], i) => {
      const h = step === 'open' ? health(1, { breaker: 'open' }) : health(step);
      // Many requests per step: the state is per route, not per draw.
      let local = 0;
      for (let n = 0; n < 50; n++) {
        const r = decide({
          policy,
          health: h,
          zone: 'z1',
          zoneLeft: memory.left,
          features: features(),
          nowMs: NOW,
          random,
        });
        if (!r.ok) throw new Error(r.refusal.message);
        memory.record(r.decision);
        expect(r.decision.zoneLeft, `step ${i} (${step}), request ${n}`).toBe(!inZone);
        if (r.decision.attempts[0] === 'a1') local++;
      }
      expect(memory.left('chat'), `step ${i}`).toBe(!inZone);
      // In the zone every first attempt is local; out of it, a1 only gets its weighted share.
      if (inZone) expect(local, `step ${i}`).toBe(50);
      else expect(local, `step ${i}`).toBeLessThan(10);
    });
  });

  it('keeps no state for routes without a local backend, and changes none for split routes', () => {
    const remoteOnly = buildPolicy({
      backends: { b2: { zone: 'z2' }, d: {} },
      routes: { chat: { backends: ['b2', 'd'] } },
    });
    const r = decide({
      policy: remoteOnly,
      health: healthTable({ b2: same, d: same }),
      zone: 'z1',
      features: features(),
      nowMs: NOW,
      random: mulberry32(1),
    });
    expect(r.ok && r.decision.zoneLeft).toBeUndefined();
    const memory = new ZoneMemory();
    memory.record({ route: 'chat', zoneLeft: true });
    memory.record({ route: 'chat' });
    expect(memory.left('chat')).toBe(true);
    memory.record({ route: 'chat', zoneLeft: false });
    expect(memory.left('chat')).toBe(false);
  });
});
