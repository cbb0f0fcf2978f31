/**
 * Local health blended with the fleet's view: the fleet's figures count as a prior worth up to
 * FLEET_PRIOR_REQUESTS requests, added to the local window's own. A new pod (no local samples)
 * starts from what the fleet knows; a busy pod (hundreds of local samples) trusts itself.
 *
 *   requests'  = n + k            failures' = f + r·k            (k = min(FLEET_PRIOR_REQUESTS, N))
 *   ttfbP95'   = (n·p95 + k·P) / (n + k)      ttfbEwma' = local EWMA, else P
 *
 * with n, f the local window's requests and failures, N, r, P the fleet's requests, error ratio
 * and TTFB p95. Breaker, cool-down and in-flight stay local: they are about this sidecar's calls.
 * Pure; snapshots are cached per (local snapshot, fleet figures) pair, so a decision allocates
 * nothing while neither changed.
 */
import type { BackendHealth, HealthLookup } from '../health/types.js';
import type { FleetFigures, FleetLookup } from './fleet-view.js';

/** Most requests' worth of weight the fleet's figures carry against the local window. */
export const FLEET_PRIOR_REQUESTS = 50;

/** One backend's health with the fleet's figures blended in. */
export function blendHealth(local: BackendHealth, fleet: FleetFigures | undefined): BackendHealth {
  if (fleet === undefined || !(fleet.requests > 0)) return local;
  const k = Math.min(FLEET_PRIOR_REQUESTS, fleet.requests);
  const n = local.requests;
  const requests = n + k;
  const failures = local.failures + fleet.errorRatio * k;
  const p95 =
    fleet.ttfbP95Ms === undefined
      ? local.ttfbP95Ms
      : local.ttfbP95Ms === undefined || n === 0
        ? fleet.ttfbP95Ms
        : (n * local.ttfbP95Ms + k * fleet.ttfbP95Ms) / requests;
  return {
    ...local,
    requests,
    failures,
    errorRatio: failures / requests,
    ttfbEwmaMs: local.ttfbEwmaMs ?? fleet.ttfbP95Ms,
    ttfbP95Ms: p95,
  };
}

/** decide's health lookup with the fleet blended in; the local lookup itself when no fleet view. */
export function blendedLookup(local: HealthLookup, fleet: FleetLookup | undefined): HealthLookup {
  if (fleet === undefined) return local;
  const cache = new WeakMap<BackendHealth, { fleet: FleetFigures; blended: BackendHealth }>();
  return (backend) => {
    const h = local(backend);
    const f = fleet(backend);
    if (f === undefined) return h;
    const hit = cache.get(h);
    if (hit !== undefined && hit.fleet === f) return hit.blended;
    const blended = blendHealth(h, f);
    cache.set(h, { fleet: f, blended });
    return blended;
  };
}
