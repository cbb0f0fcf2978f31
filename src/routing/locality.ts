/**
 * Zone locality: which candidates are in this sidecar's zone (`ROUTECAR_ZONE`), and whether the
 * route keeps its traffic there (`routes.<r>.locality`).
 *
 * - `prefer-zone` (the default when the sidecar knows its zone): the first attempt goes to a
 *   same-zone backend while the best of them scores at least 1 / ZONE_TOLERANCE of the best
 *   backend elsewhere; the others stay in the attempt list as failover. Local backends that are
 *   down, at `maxInflight` or over the cost ceiling are not candidates at all, and a local one
 *   that fails, queues or slows down scores itself under the tolerance: traffic then leaves the
 *   zone. It comes back with hysteresis: once out, the best local backend must score at least
 *   1 / ZONE_RETURN_RATIO of the best remote one (twice as close as the leave threshold), so a
 *   local backend hovering at the threshold does not flip the route's traffic at every request.
 *   The route's state (in or out) is a boolean the caller keeps between decisions
 *   (ZoneMemory): decide reads it (`DecideInput.zoneLeft`) and returns the new one
 *   (`Decision.zoneLeft`), so decide itself stays pure.
 * - `zone-only`: backends in other zones are never candidates (`other_zone`).
 * - `any`: zones are ignored.
 * Without a sidecar zone every mode behaves as `any`; a backend without `zone` is never local.
 */
import type { CompiledPolicy, CompiledRoute } from '../policy/types.js';
import type { Candidate } from './candidates.js';

/** Local candidates keep the traffic while the best of them weighs at least 1 / ZONE_TOLERANCE of the best remote one. */
export const ZONE_TOLERANCE = 4;
/** Once the traffic has left the zone, the best local candidate must weigh 1 / ZONE_RETURN_RATIO of the best remote one. */
export const ZONE_RETURN_RATIO = 2;

/**
 * A candidate's zone term: in the sidecar's zone (`same`), elsewhere or without a zone (`other`),
 * or left out by a `zone-only` route (`excluded`, with the exclusion `other_zone`).
 */
export type ZoneTerm = 'same' | 'other' | 'excluded';

/** What the strategies read: the sidecar's zone and which candidates are in it. */
export interface LocalityView {
  readonly zone: string;
  readonly mode: 'prefer-zone' | 'zone-only';
  readonly isLocal: (c: Candidate) => boolean;
  /** The route's traffic had left the zone at its last decision (the return threshold applies). */
  readonly left: boolean;
}

/** The view for this route, or undefined when locality does not apply (no zone, or zones ignored). */
export function localityOf(
  policy: CompiledPolicy,
  route: CompiledRoute,
  zone: string | undefined,
  left = false,
): LocalityView | undefined {
  if (zone === undefined || zone === '') return undefined;
  const mode = route.locality ?? 'prefer-zone';
  if (mode === 'any') return undefined;
  return { zone, mode, left, isLocal: (c) => policy.backends.get(c.name)?.zone === zone };
}

/**
 * Sets every candidate's zone term and, for `zone-only`, marks usable candidates outside the
 * zone as `other_zone`.
 */
export function excludeOtherZones(cands: readonly Candidate[], view: LocalityView | undefined): void {
  if (view === undefined) return;
  for (const c of cands) {
    if (view.isLocal(c)) {
      c.zone = 'same';
    } else if (view.mode === 'zone-only' && c.excluded === undefined) {
      c.excluded = 'other_zone';
      c.zone = 'excluded';
    } else {
      c.zone = view.mode === 'zone-only' ? 'excluded' : 'other';
    }
  }
}

/** What `prefer-zone` made of the scored candidates. */
export interface ZoneChoice {
  /** The local candidates, when they keep the traffic; undefined when it may leave the zone. */
  readonly local: Candidate[] | undefined;
  /**
   * The route's state after this decision: true when the traffic is out of the zone although the
   * route has local backends (all unusable, or outscored). Undefined when zones did not decide
   * (no zone, not `prefer-zone`, or no local backend in the route at all).
   */
  readonly left: boolean | undefined;
  /** Best local weight over best remote weight (0 when no local candidate is usable). */
  readonly ratio: number;
}

const NO_CHOICE: ZoneChoice = { local: undefined, left: undefined, ratio: 0 };

/**
 * `prefer-zone` over scored candidates: the local ones when the best of them is within the
 * threshold of the best remote one (ZONE_TOLERANCE while in the zone, ZONE_RETURN_RATIO once
 * out), else none (traffic leaves the zone). `all` is every candidate of the route, to tell a
 * route whose local backends are all unusable (left) from one that has none (no state).
 */
export function zoneChoice(
  scored: readonly Candidate[],
  all: readonly Candidate[],
  view: LocalityView | undefined,
): ZoneChoice {
  if (view === undefined || view.mode !== 'prefer-zone') return NO_CHOICE;
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
  if (local.length === scored.length) return { local: undefined, left: false, ratio: 1 };
  if (local.length === 0) {
    // Local backends down, saturated or over the ceiling: out of the zone (when the route has backends elsewhere).
    return all.some((c) => c.zone === 'same') ? { local: undefined, left: true, ratio: 0 } : NO_CHOICE;
  }
  const ratio = bestLocal / bestRemote;
  const stay = ratio * (view.left ? ZONE_RETURN_RATIO : ZONE_TOLERANCE) >= 1;
  return { local: stay ? local : undefined, left: !stay, ratio };
}
