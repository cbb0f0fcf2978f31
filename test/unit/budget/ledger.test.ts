import { describe, expect, it } from 'vitest';
import { NO_TENANT, SpendLedger } from '../../../src/budget/ledger.js';
import type { CompiledBudgets } from '../../../src/policy/types.js';

const HOUR = 3_600_000;
/** 2026-11-29T10:00:00Z: the start of a UTC hour. */
const T0 = Date.UTC(2026, 10, 29, 10);

const budgets: CompiledBudgets = {
  tenants: new Map([
    ['acme', { usdPerHour: 1 }],
    ['globex', { usdPerDay: 10 }],
  ]),
  default: { usdPerHour: 0.5, usdPerDay: 2 },
};

describe('SpendLedger', () => {
  it('lets a tenant spend up to its hourly budget, then refuses until the hour ends', () => {
    const l = new SpendLedger();
    l.record(budgets, 'acme', 0.6, T0 + 1_000);
    expect(l.check(budgets, 'acme', T0 + 2_000)).toEqual({ ok: true });
    l.record(budgets, 'acme', 0.4, T0 + 3_000);
    expect(l.check(budgets, 'acme', T0 + 30 * 60_000)).toEqual({
      ok: false,
      tenant: 'acme',
      window: 'hour',
      spentUsd: 1,
      limitUsd: 1,
      retryAfterS: 1800,
    });
    // The next UTC hour starts from zero.
    expect(l.check(budgets, 'acme', T0 + HOUR)).toEqual({ ok: true });
  });

  it('keeps other tenants unaffected', () => {
    const l = new SpendLedger();
    l.record(budgets, 'acme', 5, T0);
    expect(l.check(budgets, 'acme', T0).ok).toBe(false);
    expect(l.check(budgets, 'globex', T0).ok).toBe(true);
    expect(l.check(budgets, 'initech', T0).ok).toBe(true);
  });

  it('gives every unnamed tenant (and requests without one) its own default budget, hourly and daily', () => {
    const l = new SpendLedger();
    l.record(budgets, 'initech', 0.5, T0);
    l.record(budgets, undefined, 0.2, T0);
    expect(l.check(budgets, 'initech', T0)).toMatchObject({ ok: false, window: 'hour', limitUsd: 0.5 });
    expect(l.check(budgets, undefined, T0)).toEqual({ ok: true });
    // Four hours at 0.45: under each hour's 0.5, over the day's 2 in the fifth.
    const m = new SpendLedger();
    for (let h = 0; h < 5; h++) m.record(budgets, 'hooli', 0.45, T0 + h * HOUR);
    const verdict = m.check(budgets, 'hooli', T0 + 4 * HOUR + 60_000);
    expect(verdict).toMatchObject({ ok: false, window: 'day', limitUsd: 2 });
    expect(verdict.ok === false && verdict.retryAfterS).toBe(
      (Date.UTC(2026, 10, 30) - (T0 + 4 * HOUR + 60_000)) / 1000,
    );
  });

  it('records and refuses nothing where no budget applies', () => {
    const named: CompiledBudgets = { tenants: new Map([['acme', { usdPerHour: 1 }]]), default: undefined };
    const l = new SpendLedger();
    l.record(named, 'other', 100, T0);
    expect(l.check(named, 'other', T0)).toEqual({ ok: true });
    expect(l.view(named, T0)).toEqual([]);
    l.record(undefined, 'acme', 100, T0);
    expect(l.check(undefined, 'acme', T0)).toEqual({ ok: true });
  });

  it('adds what this pod spent since the fleet reading to it, and never counts less than its own spend', () => {
    const l = new SpendLedger();
    l.record(budgets, 'acme', 0.2, T0);
    // The fleet (this pod included) had spent 0.7 when Prometheus was read.
    l.setFleetSpend('hour', new Map([['acme', 0.7]]), T0 + 10_000);
    expect(l.check(budgets, 'acme', T0 + 11_000).ok).toBe(true);
    l.record(budgets, 'acme', 0.3, T0 + 12_000);
    expect(l.check(budgets, 'acme', T0 + 13_000)).toMatchObject({ ok: false, spentUsd: 1 });
    // A reading lower than this pod's own count (Prometheus lagging) does not lower it.
    const m = new SpendLedger();
    m.record(budgets, 'acme', 0.9, T0);
    m.setFleetSpend('hour', new Map([['acme', 0.1]]), T0 + 1_000);
    expect(m.view(budgets, T0 + 2_000)).toEqual([
      { tenant: 'acme', window: 'hour', spentUsd: 0.9, limitUsd: 1, localUsd: 0.9, fleetAgeMs: 1_000 },
    ]);
  });

  it('drops a fleet reading when its window ends', () => {
    const l = new SpendLedger();
    l.setFleetSpend('hour', new Map([['acme', 5]]), T0 + 1_000);
    expect(l.check(budgets, 'acme', T0 + 2_000).ok).toBe(false);
    expect(l.check(budgets, 'acme', T0 + HOUR).ok).toBe(true);
  });

  it('tracks at most maxTenants, forgetting the least recently active', () => {
    const l = new SpendLedger(2);
    l.record(budgets, 'a', 0.5, T0);
    l.record(budgets, 'b', 0.5, T0);
    l.record(budgets, 'a', 0.01, T0); // a is now the most recent
    l.record(budgets, 'c', 0.5, T0); // b is forgotten
    expect(l.view(budgets, T0).map((v) => v.tenant)).toEqual(['a', 'a', 'c', 'c']);
    expect(l.check(budgets, 'b', T0).ok).toBe(true);
  });

  it('reports its own spend of the named tenants per window, for the fleet gauge', () => {
    const l = new SpendLedger();
    l.record(budgets, 'acme', 0.25, T0 + 1_000);
    l.record(budgets, 'initech', 0.1, T0 + 1_000); // default budget: not a label
    l.setFleetSpend('hour', new Map([['acme', 3]]), T0 + 2_000); // the fleet's share is not its own
    expect(l.localSpend(budgets, T0 + 3_000)).toEqual([
      { tenant: 'acme', window: 'hour', startMs: T0, usd: 0.25 },
      { tenant: 'acme', window: 'day', startMs: Date.UTC(2026, 10, 29), usd: 0.25 },
    ]);
    expect(l.localSpend(budgets, T0 + HOUR)[0]).toEqual({
      tenant: 'acme',
      window: 'hour',
      startMs: T0 + HOUR,
      usd: 0,
    });
  });

  it('keys requests without a tenant apart from any tenant name', () => {
    expect(NO_TENANT).toBe('');
    const l = new SpendLedger();
    l.record(budgets, undefined, 0.5, T0);
    expect(l.check(budgets, undefined, T0)).toMatchObject({ ok: false, tenant: NO_TENANT });
  });
});
