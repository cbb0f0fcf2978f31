/**
 * The fleet's spend per budgeted tenant, read from a Prometheus-compatible query API every few
 * seconds into the ledger. Every sidecar exports, for the tenants the policy names under
 * `budgets.tenants`, its own spend in the current UTC hour and day as a gauge
 * (`routecar_tenant_window_spend_usd{routecar_tenant, routecar_window}`); their sum is the fleet's
 * spend. A gauge rather than `increase()` over a counter: a counter's first value (a pod's spend
 * before its first scrape) never shows in an increase, and the windows are clock windows anyway. A failed or slow query changes nothing but the reading's age: the ledger keeps
 * enforcing on what it has (the last reading plus local spend), never blocking on Prometheus.
 */
import { queryVector } from '../fleet/prometheus-query.js';
import { SpendLedger, WINDOW_MS, type BudgetWindow } from './ledger.js';

export interface FleetSpendOptions {
  readonly prometheusUrl: string;
  readonly ledger: SpendLedger;
  /** Clock, epoch ms. */
  readonly now: () => number;
  /** Between queries; default 10 s. */
  readonly intervalMs?: number;
  /** Per query; default 3 s. */
  readonly timeoutMs?: number;
  /** Told about a failed query (for the log); the reader goes on. */
  readonly onError?: (err: Error) => void;
  /** The query function (tests inject one); default: Prometheus's `/api/v1/query`. */
  readonly query?: typeof queryVector;
}

/** The gauge every sidecar exports for budgeted tenants, as Prometheus names it. */
export const WINDOW_SPEND_SERIES = 'routecar_tenant_window_spend_usd';

/**
 * The PromQL of a window's fleet spend per tenant. Only samples of the current window count
 * (`routecar_window_start`), so a pod still reporting the last hour adds nothing to this one.
 */
export function fleetSpendQuery(window: BudgetWindow, windowStartMs: number): string {
  return `sum by (routecar_tenant) (${WINDOW_SPEND_SERIES}{routecar_window="${window}",routecar_window_start="${windowStartMs / 1000}"})`;
}

export class FleetSpendReader {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private lastOkMs: number | undefined;
  private lastError: string | undefined;

  constructor(private readonly o: FleetSpendOptions) {}

  /** Queries now and then every interval; one query at a time. */
  start(): void {
    const tick = (): void => {
      void this.refresh().finally(() => {
        if (this.running) this.timer = setTimeout(tick, this.o.intervalMs ?? 10_000).unref();
      });
    };
    this.running = true;
    tick();
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
  }

  /** One reading of both windows. Never throws. */
  async refresh(): Promise<void> {
    const query = this.o.query ?? queryVector;
    try {
      for (const window of ['hour', 'day'] as const) {
        const now = this.o.now();
        const start = Math.floor(now / WINDOW_MS[window]) * WINDOW_MS[window];
        const byTenant = await query(
          this.o.prometheusUrl,
          fleetSpendQuery(window, start),
          'routecar_tenant',
          AbortSignal.timeout(this.o.timeoutMs ?? 3_000),
        );
        this.o.ledger.setFleetSpend(window as BudgetWindow, nonNegative(byTenant), this.o.now());
      }
      this.lastOkMs = this.o.now();
      this.lastError = undefined;
    } catch (err) {
      this.lastError = (err as Error).message;
      this.o.onError?.(err as Error);
    }
  }

  /** For /admin/state: when the fleet was last read, and the last error since. */
  status(): { readonly lastReadAt: string | null; readonly lastError: string | null } {
    return {
      lastReadAt: this.lastOkMs === undefined ? null : new Date(this.lastOkMs).toISOString(),
      lastError: this.lastError ?? null,
    };
  }
}

/** Spend is never negative; a series that says so is dropped. */
function nonNegative(byTenant: ReadonlyMap<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [tenant, usd] of byTenant) if (usd >= 0) out.set(tenant, usd);
  return out;
}
