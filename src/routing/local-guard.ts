/**
 * The local canary guard every sidecar applies, before the fleet-wide controller acts: while a
 * canary spec (`routecar/canary/<route>`) names a candidate and its `maxErrorRatioDelta`, a
 * candidate whose error ratio in this sidecar's rolling window exceeds the baseline's by more
 * than the guard, with at least `minRequests` attempts on each, is left out of this request
 * (`canary_guard`). The controller's rollback then makes it fleet-wide. Once the window has
 * rotated the failures out (too few attempts to judge), the candidate gets traffic again, which
 * is the guard's own half-open trial. Pure: it reads the candidates' health snapshots.
 */
import type { Candidate } from './candidates.js';

/** What a sidecar needs of a route's canary spec. */
export interface LocalGuardSpec {
  readonly baseline: string;
  readonly candidate: string;
  /** Candidate error ratio − baseline error ratio above this drops the candidate. */
  readonly maxErrorRatioDelta: number;
  /** Attempts each arm needs in the window before the guard judges. */
  readonly minRequests: number;
}

/** The window figures the guard compares. */
interface WindowFigures {
  readonly requests: number;
  readonly errorRatio: number;
}

/** Why the guard drops the candidate now; undefined when it holds or cannot judge yet. */
export function localGuardBreach(spec: LocalGuardSpec, all: readonly Candidate[]): string | undefined {
  const cand = all.find((c) => c.name === spec.candidate);
  const base = all.find((c) => c.name === spec.baseline);
  if (!cand || !base) return undefined;
  return guardBreach(spec, cand.health, base.health);
}

/** The same judgement from two health snapshots (for /admin/state and the metric). */
export function guardBreach(spec: LocalGuardSpec, c: WindowFigures, b: WindowFigures): string | undefined {
  if (c.requests < spec.minRequests || b.requests < spec.minRequests) return undefined;
  const delta = c.errorRatio - b.errorRatio;
  if (!(delta > spec.maxErrorRatioDelta)) return undefined;
  return `canary guard: ${spec.candidate} error ratio ${c.errorRatio.toFixed(2)} vs ${spec.baseline} ${b.errorRatio.toFixed(2)} over ${c.requests}/${b.requests} attempts (delta > ${spec.maxErrorRatioDelta})`;
}

/** Marks the candidate `canary_guard` when the guard is breached; returns the reason, if any. */
export function applyLocalGuard(
  spec: LocalGuardSpec | undefined,
  all: readonly Candidate[],
): string | undefined {
  if (spec === undefined) return undefined;
  const breach = localGuardBreach(spec, all);
  if (breach === undefined) return undefined;
  const cand = all.find((c) => c.name === spec.candidate);
  if (cand && cand.excluded === undefined) cand.excluded = 'canary_guard';
  return breach;
}
