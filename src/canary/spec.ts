/**
 * The canary contract in Consul: the spec an operator writes at `routecar/canary/<route>` and the
 * status the controller writes at `routecar/canary-status/<route>` (names fixed in DESIGN.md).
 */
import * as z from 'zod';

/** Guards checked against the baseline once both arms have `minRequests` attempts in the step. */
const GuardsSchema = z
  .object({
    /** Candidate error ratio minus baseline error ratio (attempt level) may not exceed this (0..1). */
    maxErrorRatioDelta: z.number().min(0).max(1).optional(),
    /** Candidate TTFT p95 / baseline TTFT p95 may not exceed this. */
    maxTtftP95Ratio: z.number().positive().optional(),
    /** Candidate cost per answered request / baseline's may not exceed this. */
    maxCostRatio: z.number().positive().optional(),
    /** Candidate mean feedback minus baseline's may not fall below this (e.g. -0.1). */
    minFeedbackDelta: z.number().min(-1).max(1).optional(),
  })
  .strict();

/** `routecar/canary/<route>`, as JSON. */
export const CanarySpecSchema = z
  .object({
    /** The backend serving today. */
    baseline: z.string().min(1),
    /** The backend being rolled out. */
    candidate: z.string().min(1),
    /** Candidate weights in percent, increasing, the last one 100 (promotion). */
    steps: z
      .array(z.number().int().min(1).max(100))
      .min(1)
      .refine((s) => s.every((w, i) => i === 0 || w > s[i - 1]!), 'steps must increase')
      .refine((s) => s[s.length - 1] === 100, 'the last step must be 100'),
    /** Seconds each step holds before the next, if the guards hold. */
    intervalS: z.number().positive(),
    /** Attempts each arm needs in the step before the guards are judged. */
    minRequests: z.number().int().min(1),
    guards: GuardsSchema.default({}),
  })
  .strict()
  .refine((s) => s.baseline !== s.candidate, 'baseline and candidate must differ');

export type CanarySpec = z.infer<typeof CanarySpecSchema>;
export type CanaryGuards = CanarySpec['guards'];

/** Parses a spec key's value; the error names the field (`steps: the last step must be 100`). */
export function parseCanarySpec(text: string): { ok: true; spec: CanarySpec } | { ok: false; error: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, error: `not JSON: ${(err as Error).message}` };
  }
  const parsed = CanarySpecSchema.safeParse(raw);
  if (parsed.success) return { ok: true, spec: parsed.data };
  const error = parsed.error.issues
    .map((i) => `${i.path.length > 0 ? `${i.path.join('.')}: ` : ''}${i.message}`)
    .join('; ');
  return { ok: false, error };
}

export const CANARY_STATES = ['waiting', 'progressing', 'promoted', 'rolled_back'] as const;
export type CanaryState = (typeof CANARY_STATES)[number];

/**
 * `routecar/canary-status/<route>`. The first four fields are the contract; the rest is the
 * controller's memory, so a replica that takes over the lock carries on where the last one was.
 */
export interface CanaryStatus {
  readonly state: CanaryState;
  /** The candidate's weight in percent, as last written to `routecar/splits/<route>`. */
  readonly weight: number;
  /** Why the controller is where it is (the guard that broke, what it waits for, why it paused). */
  readonly reason: string;
  /** ISO time of this status. */
  readonly updatedAt: string;
  /** Epoch ms when the current weight was written: the step's figures count from here. */
  readonly stepStartedAt: number;
  /** The ModifyIndex of the split the controller last wrote: anything else is a person's change. */
  readonly splitIndex: number;
  /** Hash of the spec this status belongs to: a changed spec starts the canary again. */
  readonly specHash: string;
  /** Set when the controller stopped acting until restarted (a CAS conflict): the reason. */
  readonly paused?: string;
}

/** Parses a status key's value; undefined when absent or not a status (the canary starts over). */
export function parseCanaryStatus(text: string | undefined): CanaryStatus | undefined {
  if (text === undefined) return undefined;
  try {
    const raw = JSON.parse(text) as Partial<CanaryStatus>;
    if (!CANARY_STATES.includes(raw.state as CanaryState)) return undefined;
    if (typeof raw.weight !== 'number' || typeof raw.specHash !== 'string') return undefined;
    return {
      state: raw.state as CanaryState,
      weight: raw.weight,
      reason: typeof raw.reason === 'string' ? raw.reason : '',
      updatedAt: typeof raw.updatedAt === 'string' ? raw.updatedAt : '',
      stepStartedAt: typeof raw.stepStartedAt === 'number' ? raw.stepStartedAt : 0,
      splitIndex: typeof raw.splitIndex === 'number' ? raw.splitIndex : 0,
      specHash: raw.specHash,
      ...(typeof raw.paused === 'string' ? { paused: raw.paused } : {}),
    };
  } catch {
    return undefined;
  }
}
