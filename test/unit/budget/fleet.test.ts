import { describe, expect, it } from 'vitest';
import { FleetSpendReader, fleetSpendQuery } from '../../../src/budget/fleet.js';
import { SpendLedger } from '../../../src/budget/ledger.js';
import type { CompiledBudgets } from '../../../src/policy/types.js';

const T0 = Date.UTC(2026, 10, 29, 10, 30); // 30 minutes into a UTC hour, 10.5 hours into the day
const budgets: CompiledBudgets = {
  tenants: new Map([['acme', { usdPerHour: 1, usdPerDay: 5 }]]),
  default: undefined,
};

describe('FleetSpendReader', () => {
  it('asks for each window since its start, and puts the fleet figures into the ledger', async () => {
    const queries: string[] = [];
    const ledger = new SpendLedger();
    const reader = new FleetSpendReader({
      prometheusUrl: 'http://prom:9090',
      ledger,
      now: () => T0,
      query: async (url, q, by) => {
        expect(url).toBe('http://prom:9090');
        expect(by).toBe('routecar_tenant');
        queries.push(q);
        const usd = q.includes('routecar_window="hour"') ? 1.25 : 3;
        return new Map([
          ['acme', usd],
          ['broken', -1],
        ]);
      },
    });
    await reader.refresh();
    const hourStart = Date.UTC(2026, 10, 29, 10);
    const dayStart = Date.UTC(2026, 10, 29);
    expect(queries).toEqual([fleetSpendQuery('hour', hourStart), fleetSpendQuery('day', dayStart)]);
    expect(queries[0]).toBe(
      `sum by (routecar_tenant) (routecar_tenant_window_spend_usd{routecar_window="hour",routecar_window_start="${hourStart / 1000}"})`,
    );
    expect(ledger.check(budgets, 'acme', T0)).toMatchObject({ ok: false, window: 'hour', spentUsd: 1.25 });
    expect(reader.status()).toEqual({ lastReadAt: new Date(T0).toISOString(), lastError: null });
  });

  it('a failing Prometheus changes nothing but the status: local spend alone applies', async () => {
    const ledger = new SpendLedger();
    const errors: string[] = [];
    const reader = new FleetSpendReader({
      prometheusUrl: 'http://prom:9090',
      ledger,
      now: () => T0,
      query: () => Promise.reject(new Error('connect ECONNREFUSED')),
      onError: (e) => errors.push(e.message),
    });
    await expect(reader.refresh()).resolves.toBeUndefined();
    expect(errors).toEqual(['connect ECONNREFUSED']);
    expect(reader.status()).toEqual({ lastReadAt: null, lastError: 'connect ECONNREFUSED' });
    expect(ledger.check(budgets, 'acme', T0)).toEqual({ ok: true });
    ledger.record(budgets, 'acme', 1, T0);
    expect(ledger.check(budgets, 'acme', T0).ok).toBe(false);
  });
});
