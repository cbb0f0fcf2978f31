/**
 * Zone locality: which candidates are in this sidecar's zone (`ROUTECAR_ZONE`), and whether the
 * route keeps its traffic there (`routes.<r>.locality`).
 *
 * - `prefer-zone` (the default when the sidecar knows its zone): the first attempt goes to a
 *   same-zone backend while the best of them scores at least 1 / ZONE_TOLERANCE of the best
 *   backend elsewhere; the others stay in the attempt list as failover. Local backends that are
 *   down, at `maxInflight` or over the cost ceiling are not candidates at all, and a local one
 *   that fails, queues or slows down scores itself under the tolerance: traffic then leaves the
 *   zone, and comes back as its score recovers (its errors leave the window, its signals drain).
 * - `zone-only`: backends in other zones are never candidates (`other_zone`).
 * - `any`: zones are ignored.
 * Without a sidecar zone every mode behaves as `any`; a backend without `zone` is never local.
 */
import type { CompiledPolicy, CompiledRoute } from '../policy/types.js';
import type { Candidate } from './candidates.js';

/** Local candidates keep the traffic while the best of them weighs at least 1 / ZONE_TOLERANCE of the best remote one. */
export const ZONE_TOLERANCE = 4;

/** The route's locality mode, resolved against the sidecar's zone. */
export type LocalityMode = 'prefer-zone' | 'zone-only' | 'any';

/** What the strategies read: the sidecar's zone and which candidates are in it. */
export interface LocalityView {
  readonly zone: string;
  readonly mode: 'prefer-zone' | 'zone-only';
  readonly isLocal: (c: Candidate) => boolean;
}

/** The view for this route, or undefined when locality does not apply (no zone, or `any`). */
export function localityOf(
  policy: CompiledPolicy,
  route: CompiledRoute,
  zone: string | undefined,
): LocalityView | undefined {
  if (zone === undefined || zone === '') return undefined;
  const mode = route.locality ?? 'prefer-zone';
  if (mode === 'any') return undefined;
  return { zone, mode, isLocal: (c) => policy.backends.get(c.name)?.zone === zone };
}

/** `zone-only`: marks usable candidates outside the zone as `other_zone`. */
export function excludeOtherZones(cands: readonly Candidate[], view: LocalityView | undefined): void {
  if (view === undefined || view.mode !== 'zone-only') return;
  for (const c of cands) if (c.excluded === undefined && !view.isLocal(c)) c.excluded = 'other_zone';
}

/**
 * `prefer-zone` over scored candidates: the local ones when the best of them is within the
 * tolerance of the best remote one, else undefined (traffic may leave the zone).
 */
export function preferredLocal(
  scored: readonly Candidate[],
  view: LocalityView | undefined,
): Candidate[] | undefined {
  if (view === undefined || view.mode !== 'prefer-zone') return undefined;
  const local: Candidate[] = [];
  let bestLocal = 0;
  let bestRemote = 0;
  for (const c of scored) {
    if (view.isLocal(c)) {
      local.push(c);
      if (c.weight > bestLocal) bestLocal = c.weight;
    } else if (c.weight > bestRemote) {
      bestRemote = c.weight;
    }
  }
  if (local.length === 0 || local.length === scored.length) return undefined;
  return bestLocal * ZONE_TOLERANCE >= bestRemote ? local : undefined;
}
