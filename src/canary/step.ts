/**
 * The canary controller's decision, pure: given the spec, what the controller last wrote, the
 * split key's current ModifyIndex, the fleet's per-arm figures and the time, what to do next.
 * No I/O and no clock: controller.ts reads Consul and Prometheus and carries the action out.
 */
import type { CanaryGuards, CanarySpec, CanaryState, CanaryStatus } from './spec.js';

/** One arm's fleet-wide figures since the current step began (attempt level). */
export interface ArmFigures {
  /** Attempts sent to the arm (a request that failed over counts one per backend tried). */
  readonly attempts: number;
  /** Attempts that failed (`error.type` set). */
  readonly errors: number;
  /** p95 time to first chunk of successful streams, seconds; undefined without samples. */
  readonly ttftP95S?: number;
  /** USD per answered request; undefined without answered requests that carried usage. */
  readonly costPerRequestUsd?: number;
  /** Mean feedback score 0..1; undefined without feedback. */
  readonly feedbackMean?: number;
  /** Sidecars whose local canary guard drops this arm right now (`routecar_canary_guard_breached`). */
  readonly guardBreachedPods?: number;
}

/** Both arms, or why they could not be read (a Prometheus outage: never act blind). */
export type FleetFigures =
  | { readonly ok: true; readonly baseline: ArmFigures; readonly candidate: ArmFigures }
  | { readonly ok: false; readonly error: string };

export interface StepInput {
  readonly spec: CanarySpec;
  /** Identifies the spec's content: a new hash starts the canary from its first step. */
  readonly specHash: string;
  /** What the controller wrote last time, if anything. */
  readonly status: CanaryStatus | undefined;
  /** The split key's ModifyIndex now (0 when absent). */
  readonly splitIndex: number;
  /** Needed unless the canary is starting, finished or paused. */
  readonly figures: FleetFigures | undefined;
  /** Epoch ms. */
  readonly now: number;
}

/**
 * What to do:
 * - `none`: nothing to write (finished, paused, or nothing new);
 * - `status`: write this status only;
 * - `split`: write `{baseline: 100 - weight, candidate: weight}` with `?cas=<casIndex>`, then the
 *   status (its `splitIndex` is filled in with the new ModifyIndex by the caller).
 */
export type StepAction =
  | { readonly kind: 'none' }
  | { readonly kind: 'status'; readonly status: CanaryStatus }
  | {
      readonly kind: 'split';
      readonly weight: number;
      readonly casIndex: number;
      readonly status: CanaryStatus;
    };

/** Whether the step needs fleet figures (so the caller queries Prometheus only then). */
export function needsFigures(input: Omit<StepInput, 'figures' | 'now'>): boolean {
  const { status } = input;
  if (!status || status.specHash !== input.specHash) return false;
  if (status.state === 'promoted' || status.state === 'rolled_back' || status.paused) return false;
  return status.splitIndex === input.splitIndex;
}

/** The next action of one route's canary. */
export function stepCanary(input: StepInput): StepAction {
  const { spec, status, now } = input;
  const make = (
    state: CanaryState,
    weight: number,
    reason: string,
    extra: Partial<CanaryStatus> = {},
  ): CanaryStatus => ({
    state,
    weight,
    reason,
    updatedAt: new Date(now).toISOString(),
    stepStartedAt: status?.stepStartedAt ?? now,
    splitIndex: status?.splitIndex ?? input.splitIndex,
    specHash: input.specHash,
    ...extra,
  });

  if (!status || status.specHash !== input.specHash) {
    const weight = spec.steps[0]!;
    return {
      kind: 'split',
      weight,
      casIndex: input.splitIndex,
      status: make(stateAt(weight), weight, `started: candidate ${spec.candidate} at ${weight}%`, {
        stepStartedAt: now,
      }),
    };
  }
  if (status.state === 'promoted' || status.state === 'rolled_back' || status.paused) return { kind: 'none' };
  if (input.splitIndex !== status.splitIndex) {
    const paused = `paused: routecar/splits changed outside the controller (ModifyIndex ${input.splitIndex}, expected ${status.splitIndex}); delete the status key to restart`;
    return { kind: 'status', status: make(status.state, status.weight, paused, { paused }) };
  }

  const figures = input.figures;
  if (!figures || !figures.ok) {
    const why = figures ? figures.error : 'no figures';
    return changed(
      status,
      make(status.state, status.weight, `paused: Prometheus unavailable (${why}); weight held`),
    );
  }
  const { baseline: b, candidate: c } = figures;
  // Sidecars that already dropped the candidate starve the fleet figures of its failures: their
  // local guard (the same maxErrorRatioDelta on minRequests) is the evidence, so roll back.
  if (spec.guards.maxErrorRatioDelta !== undefined && (c.guardBreachedPods ?? 0) > 0) {
    const reason = `guard maxErrorRatioDelta broken: the local guard drops ${spec.candidate} in ${c.guardBreachedPods} sidecar(s)`;
    return {
      kind: 'split',
      weight: 0,
      casIndex: status.splitIndex,
      status: make('rolled_back', 0, reason, { stepStartedAt: now }),
    };
  }
  if (b.attempts < spec.minRequests || c.attempts < spec.minRequests) {
    const reason = `waiting for ${spec.minRequests} attempts per arm at ${status.weight}% (baseline ${Math.floor(b.attempts)}, candidate ${Math.floor(c.attempts)})`;
    return changed(status, make('waiting', status.weight, reason));
  }
  const broken = brokenGuard(spec.guards, b, c);
  if (broken !== undefined) {
    return {
      kind: 'split',
      weight: 0,
      casIndex: status.splitIndex,
      status: make('rolled_back', 0, broken, { stepStartedAt: now }),
    };
  }
  if (now - status.stepStartedAt < spec.intervalS * 1000) {
    return changed(status, make('progressing', status.weight, `guards hold at ${status.weight}%`));
  }
  const next = spec.steps.find((w) => w > status.weight) ?? 100;
  const reason =
    next === 100 ? `promoted: guards held at every step` : `guards held at ${status.weight}%: now ${next}%`;
  return {
    kind: 'split',
    weight: next,
    casIndex: status.splitIndex,
    status: make(stateAt(next), next, reason, { stepStartedAt: now }),
  };
}

function stateAt(weight: number): CanaryState {
  return weight >= 100 ? 'promoted' : 'progressing';
}

/** A status write only when the state, weight or reason differ from what is stored. */
function changed(before: CanaryStatus, after: CanaryStatus): StepAction {
  const same =
    before.state === after.state && before.weight === after.weight && before.reason === after.reason;
  return same ? { kind: 'none' } : { kind: 'status', status: after };
}

const fmt = (n: number): string => (Number.isFinite(n) ? String(Number(n.toFixed(4))) : String(n));

/** The first guard the candidate breaks, as a reason naming it; undefined when all hold. */
export function brokenGuard(guards: CanaryGuards, b: ArmFigures, c: ArmFigures): string | undefined {
  if (guards.maxErrorRatioDelta !== undefined) {
    const be = b.errors / b.attempts;
    const ce = c.errors / c.attempts;
    if (ce - be > guards.maxErrorRatioDelta)
      return `guard maxErrorRatioDelta broken: candidate error ratio ${fmt(ce)} vs baseline ${fmt(be)} (delta ${fmt(ce - be)} > ${guards.maxErrorRatioDelta})`;
  }
  const ratio = (cv: number, bv: number): number => (bv > 0 ? cv / bv : cv > 0 ? Infinity : 1);
  if (guards.maxTtftP95Ratio !== undefined && b.ttftP95S !== undefined && c.ttftP95S !== undefined) {
    const r = ratio(c.ttftP95S, b.ttftP95S);
    if (r > guards.maxTtftP95Ratio)
      return `guard maxTtftP95Ratio broken: candidate TTFT p95 ${fmt(c.ttftP95S)} s vs baseline ${fmt(b.ttftP95S)} s (ratio ${fmt(r)} > ${guards.maxTtftP95Ratio})`;
  }
  if (
    guards.maxCostRatio !== undefined &&
    b.costPerRequestUsd !== undefined &&
    c.costPerRequestUsd !== undefined
  ) {
    const r = ratio(c.costPerRequestUsd, b.costPerRequestUsd);
    if (r > guards.maxCostRatio)
      return `guard maxCostRatio broken: candidate cost per request ${fmt(c.costPerRequestUsd)} USD vs baseline ${fmt(b.costPerRequestUsd)} USD (ratio ${fmt(r)} > ${guards.maxCostRatio})`;
  }
  if (guards.minFeedbackDelta !== undefined && b.feedbackMean !== undefined && c.feedbackMean !== undefined) {
    const d = c.feedbackMean - b.feedbackMean;
    if (d < guards.minFeedbackDelta)
      return `guard minFeedbackDelta broken: candidate feedback ${fmt(c.feedbackMean)} vs baseline ${fmt(b.feedbackMean)} (delta ${fmt(d)} < ${guards.minFeedbackDelta})`;
  }
  return undefined;
}
