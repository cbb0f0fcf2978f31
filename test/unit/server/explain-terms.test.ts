/**
 * /admin/explain and `policy explain` show, per candidate, the zone term and the affinity term
 * next to the scoring terms (latency, TTFB p95, errors, cost, load), and the reason names the
 * term that decided.
 */
import { describe, expect, it } from 'vitest';
import { UNKNOWN_HEALTH, type BackendHealth } from '../../../src/health/types.js';
import { parsePolicy } from '../../../src/policy/parse.js';
import type { CompiledPolicy } from '../../../src/policy/types.js';
import { explainRequest } from '../../../src/server/explain.js';
import { NO_SIGNALS } from '../../../src/signals/types.js';

const price = { input: 1, output: 1 };
function compile(locality: string): CompiledPolicy {
  const result = parsePolicy(
    JSON.stringify({
      version: 1,
      backends: {
        a: { url: 'http://a.local/v1', model: 'm', price, zone: 'z1' },
        b: { url: 'http://b.local/v1', model: 'm', price, zone: 'z2' },
        c: { url: 'http://c.local/v1', model: 'm', price, zone: 'z2' },
      },
      routes: { chat: { backends: ['a', 'b', 'c'], locality, affinity: { by: 'prefix' } } },
    }),
  );
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.policy;
}

const warm: BackendHealth = {
  ...UNKNOWN_HEALTH,
  requests: 200,
  ttfbEwmaMs: 50,
  ttfbP95Ms: 80,
  latencyEwmaMs: 100,
};
const body = {
  model: 'chat',
  messages: [
    { role: 'system', content: 'You are a careful assistant.' },
    { role: 'user', content: 'hello' },
  ],
};

function explain(locality: string, health: Record<string, BackendHealth>, zoneLeft?: boolean) {
  const e = explainRequest(
    compile(locality),
    (name) => health[name] ?? warm,
    Buffer.from(JSON.stringify(body)),
    {},
    () => 0.5,
    NO_SIGNALS,
    'z1',
    zoneLeft === undefined ? undefined : () => zoneLeft,
  );
  if (!e.result.ok) throw new Error(e.result.refusal.message);
  return e.result.decision;
}

describe('explain: zone and affinity terms', () => {
  it('shows each candidate’s zone, its affinity term next to latency, p95, errors, cost and load', () => {
    const d = explain('prefer-zone', {});
    const [a, b, c] = d.candidates;
    expect(a).toMatchObject({
      backend: 'a',
      zone: 'same',
      terms: {
        latency: 1,
        ttfbP95Ms: 80,
        errors: 0,
        cost: 1,
        load: 1,
        affinity: { home: true, loadFactor: 0 },
      },
    });
    // Remote backends keep their zone term and scores; they were not eligible for the home.
    expect(b).toMatchObject({ backend: 'b', zone: 'other', weight: 0, terms: { ttfbP95Ms: 80 } });
    expect(c?.zone).toBe('other');
    expect(b?.terms?.affinity).toBeUndefined();
    expect(d.reason).toBe('affinity prefix -> a (weight 1.00, zone z1)');
    expect(d.affinity).toBe('home');
  });

  it('zone-only: other zones show as excluded', () => {
    const d = explain('zone-only', {});
    expect(d.candidates.map((c) => [c.backend, c.zone, c.excluded])).toEqual([
      ['a', 'same', undefined],
      ['b', 'excluded', 'other_zone'],
      ['c', 'excluded', 'other_zone'],
    ]);
  });

  it('a skipped home names its load; left traffic names the zone term and its return threshold', () => {
    const home = explain('any', {}).attempts[0]!;
    const d = explain('any', { [home]: { ...warm, inflight: 30 } });
    expect(d.candidates.every((c) => c.zone === undefined)).toBe(true);
    const skipped = d.candidates.find((c) => c.backend === home);
    // Mean in flight 10 (30 / 3): the home is at 3x, over maxLoadFactor 1.5.
    expect(skipped?.terms?.affinity).toEqual({ home: false, loadFactor: 3, skipped: 'load' });
    expect(d.reason).toContain(`(${home} (load 3.0x mean) skipped; `);
    expect(d.affinity).toBe('skipped');
    const slowA = { a: { ...warm, ttfbEwmaMs: 150, ttfbP95Ms: 240 } };
    expect(explain('prefer-zone', slowA, false).reason).toContain(', zone z1)');
    const out = explain('prefer-zone', slowA, true);
    expect(out.reason).toMatch(/left zone z1 \(local scores 0\.\d\d of remote; returns at 0\.50\)/);
    expect(out.zoneLeft).toBe(true);
  });
});
