/**
 * Spend per tenant in the current UTC hour and UTC day, checked against the policy's budgets.
 *
 * Each sidecar counts its own answered requests' cost at once, so a tenant cannot overrun its
 * budget through one pod by more than the requests already in flight. With a fleet view (see
 * fleet.ts), the fleet's spend for the window as Prometheus last saw it is added to what this pod
 * spent since that reading: eventually consistent within one query interval, and when Prometheus
 * cannot be read the local count alone applies (never a block).
 *
 * Windows are fixed UTC clock windows, so `Retry-After` is the time to the window's end. Time is
 * passed in; the ledger reads no clock. Tenants are the app's header, so the number tracked is
 * capped (least recently used first out): the cap only forgets a tenant that has been quiet.
 */
import type { CompiledBudgets, TenantBudget } from '../policy/types.js';

export type BudgetWindow = 'hour' | 'day';

export const WINDOW_MS: Readonly<Record<BudgetWindow, number>> = { hour: 3_600_000, day: 86_400_000 };

/** The ledger key of a request without a tenant (they share the default budget). */
export const NO_TENANT = '';

/** Whether a request may spend: ok, or which window is spent and until when. */
export type BudgetVerdict =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly tenant: string;
      readonly window: BudgetWindow;
      readonly spentUsd: number;
      readonly limitUsd: number;
      /** Seconds to the window's end, rounded up. */
      readonly retryAfterS: number;
    };

/** One tenant's window as /admin/state shows it. */
export interface SpendView {
  readonly tenant: string;
  readonly window: BudgetWindow;
  readonly spentUsd: number;
  readonly limitUsd: number;
  /** This pod's share of `spentUsd`. */
  readonly localUsd: number;
  /** The fleet reading in use (its age), when there is one for this window. */
  readonly fleetAgeMs: number | undefined;
}

/** This pod's spend of one named tenant in one window. */
export interface LocalSpend {
  readonly tenant: string;
  readonly window: BudgetWindow;
  /** Start of the window, epoch ms (UTC). */
  readonly startMs: number;
  readonly usd: number;
}

interface WindowSpend {
  start: number;
  local: number;
  /** The fleet's spend for this window as last read, and the local spend at that moment. */
  fleet: { usd: number; localAtReading: number; atMs: number } | undefined;
}

interface TenantSpend {
  readonly hour: WindowSpend;
  readonly day: WindowSpend;
}

const OK: BudgetVerdict = Object.freeze({ ok: true });

export class SpendLedger {
  private readonly tenants = new Map<string, TenantSpend>();

  /** @param maxTenants tenants tracked at once; the least recently active are forgotten past it. */
  constructor(private readonly maxTenants = 10_000) {}

  /** The budget that applies to `tenant`: its own, else the default; undefined when none. */
  static budgetFor(
    budgets: CompiledBudgets | undefined,
    tenant: string | undefined,
  ): TenantBudget | undefined {
    if (budgets === undefined) return undefined;
    return (tenant !== undefined ? budgets.tenants.get(tenant) : undefined) ?? budgets.default;
  }

  /** Counts an answered request's cost against its tenant (only where a budget applies). */
  record(budgets: CompiledBudgets | undefined, tenant: string | undefined, usd: number, nowMs: number): void {
    if (!(usd > 0) || SpendLedger.budgetFor(budgets, tenant) === undefined) return;
    const spend = this.entry(tenant ?? NO_TENANT, nowMs);
    spend.hour.local += usd;
    spend.day.local += usd;
  }

  /** Whether `tenant` may spend now; the first window that is spent, when not. */
  check(budgets: CompiledBudgets | undefined, tenant: string | undefined, nowMs: number): BudgetVerdict {
    const budget = SpendLedger.budgetFor(budgets, tenant);
    if (budget === undefined) return OK;
    const key = tenant ?? NO_TENANT;
    const spend = this.tenants.get(key);
    if (spend === undefined) return OK;
    for (const window of ['hour', 'day'] as const) {
      const limit = window === 'hour' ? budget.usdPerHour : budget.usdPerDay;
      if (limit === undefined) continue;
      const w = current(spend[window], window, nowMs);
      const spent = total(w);
      if (spent >= limit) {
        const retryAfterS = Math.max(1, Math.ceil((w.start + WINDOW_MS[window] - nowMs) / 1000));
        return { ok: false, tenant: key, window, spentUsd: spent, limitUsd: limit, retryAfterS };
      }
    }
    return OK;
  }

  /**
   * The fleet's spend for the current `window`, per tenant, as read at `nowMs` (it includes what
   * this pod had spent up to about then, so only what it spends after is added on top).
   */
  setFleetSpend(window: BudgetWindow, byTenant: ReadonlyMap<string, number>, nowMs: number): void {
    for (const [tenant, usd] of byTenant) {
      const w = current(this.entry(tenant, nowMs)[window], window, nowMs);
      w.fleet = { usd, localAtReading: w.local, atMs: nowMs };
    }
  }

  /** Every tracked tenant's windows that have a limit, for /admin/state. */
  view(budgets: CompiledBudgets | undefined, nowMs: number): SpendView[] {
    const out: SpendView[] = [];
    for (const [tenant, spend] of this.tenants) {
      const budget = SpendLedger.budgetFor(budgets, tenant === NO_TENANT ? undefined : tenant);
      if (budget === undefined) continue;
      for (const window of ['hour', 'day'] as const) {
        const limit = window === 'hour' ? budget.usdPerHour : budget.usdPerDay;
        if (limit === undefined) continue;
        const w = current(spend[window], window, nowMs);
        out.push({
          tenant,
          window,
          spentUsd: total(w),
          limitUsd: limit,
          localUsd: w.local,
          fleetAgeMs: w.fleet === undefined ? undefined : nowMs - w.fleet.atMs,
        });
      }
    }
    return out;
  }

  /**
   * This pod's own spend in the current windows of the tenants `budgets` names (never the
   * default's: those tenants are the app's header, not a bounded label set). Exported as a gauge,
   * summed across pods by the fleet view.
   */
  localSpend(budgets: CompiledBudgets | undefined, nowMs: number): LocalSpend[] {
    const out: LocalSpend[] = [];
    if (budgets === undefined) return out;
    for (const tenant of budgets.tenants.keys()) {
      const spend = this.tenants.get(tenant);
      if (spend === undefined) continue;
      for (const window of ['hour', 'day'] as const) {
        const w = current(spend[window], window, nowMs);
        out.push({ tenant, window, startMs: w.start, usd: w.local });
      }
    }
    return out;
  }

  private entry(tenant: string, nowMs: number): TenantSpend {
    let spend = this.tenants.get(tenant);
    if (spend !== undefined) {
      // Most recently active last: the first entry is the one to forget.
      this.tenants.delete(tenant);
    } else {
      spend = { hour: fresh('hour', nowMs), day: fresh('day', nowMs) };
      if (this.tenants.size >= this.maxTenants) this.tenants.delete(this.tenants.keys().next().value!);
    }
    this.tenants.set(tenant, spend);
    current(spend.hour, 'hour', nowMs);
    current(spend.day, 'day', nowMs);
    return spend;
  }
}

function startOf(window: BudgetWindow, nowMs: number): number {
  return Math.floor(nowMs / WINDOW_MS[window]) * WINDOW_MS[window];
}

function fresh(window: BudgetWindow, nowMs: number): WindowSpend {
  return { start: startOf(window, nowMs), local: 0, fleet: undefined };
}

/** The window as of `nowMs`: a new one starts from zero. */
function current(w: WindowSpend, window: BudgetWindow, nowMs: number): WindowSpend {
  const start = startOf(window, nowMs);
  if (w.start !== start) {
    w.start = start;
    w.local = 0;
    w.fleet = undefined;
  }
  return w;
}

/** Fleet reading plus what this pod spent since it; never less than this pod's own count. */
function total(w: WindowSpend): number {
  if (w.fleet === undefined) return w.local;
  return Math.max(w.local, w.fleet.usd + (w.local - w.fleet.localAtReading));
}
