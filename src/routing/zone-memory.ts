/**
 * The one piece of zone-locality state that outlives a decision: which routes have their traffic
 * out of the sidecar's zone. decide stays pure: it reads the state (`DecideInput.zoneLeft`) and
 * returns the next one (`Decision.zoneLeft`); the edge keeps it here between requests, so the
 * return threshold (locality.ts ZONE_RETURN_RATIO) applies only once traffic has left.
 */
export class ZoneMemory {
  private readonly out = new Set<string>();

  /** Whether the route's traffic was out of the zone at its last decision. */
  readonly left = (route: string): boolean => this.out.has(route);

  /** Keeps the state a decision returned; a decision without one (zones did not decide) changes nothing. */
  record(decision: { readonly route: string; readonly zoneLeft?: boolean }): void {
    if (decision.zoneLeft === true) this.out.add(decision.route);
    else if (decision.zoneLeft === false) this.out.delete(decision.route);
  }
}
