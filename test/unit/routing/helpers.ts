/**
 * Builders for routing scenario tests: a compact CompiledPolicy builder, features, a health
 * table, and a seeded PRNG so distributions are reproducible.
 */
import type { BackendHealth, HealthLookup } from '../../../src/health/types.js';
import { UNKNOWN_HEALTH } from '../../../src/health/types.js';
import type { RequestFeatures } from '../../../src/ingress/features.js';
import type {
  CompiledBackend,
  CompiledPolicy,
  CompiledRoute,
  CompiledRule,
  RuleActions,
} from '../../../src/policy/types.js';
import { decide } from '../../../src/routing/decide.js';
import type { LoadSignal, SignalLookup } from '../../../src/signals/types.js';
import type { Decision, DecideResult, DecisionRefusal } from '../../../src/routing/types.js';
import { features } from '../../support/features.js';

/** mulberry32: tiny, fast, good enough for test distributions. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface BackendSpec {
  /** USD per 1M tokens, input and output; default 1 and 1. */
  readonly price?: { readonly input: number; readonly output: number };
  readonly maxInflight?: number;
  /** Characters per token; default 4. */
  readonly tokenizerFactor?: number;
  readonly zone?: string;
}

export type RouteSpec = Partial<Omit<CompiledRoute, 'name' | 'split' | 'backends'>> & {
  readonly backends: readonly string[];
  /** Kept as written, zero entries included (to test them). */
  readonly split?: Record<string, number>;
};

export type RuleSpec = Omit<RuleActions, 'split'> & {
  readonly name: string;
  /** Default: matches everything. */
  readonly when?: (f: RequestFeatures) => boolean;
  readonly split?: Record<string, number>;
};

export interface PolicySpec {
  /** Backend names, or specs by name. */
  readonly backends: readonly string[] | Record<string, BackendSpec>;
  readonly routes: Record<string, RouteSpec>;
  readonly rules?: readonly RuleSpec[];
}

export function buildPolicy(spec: PolicySpec): CompiledPolicy {
  const backendSpecs: Record<string, BackendSpec> = Array.isArray(spec.backends)
    ? Object.fromEntries((spec.backends as readonly string[]).map((n) => [n, {}]))
    : (spec.backends as Record<string, BackendSpec>);
  const backends = new Map<string, CompiledBackend>();
  for (const [name, b] of Object.entries(backendSpecs)) {
    backends.set(name, {
      name,
      baseUrl: `http://${name}:8000/v1`,
      model: `model-${name}`,
      price: {
        inputPerMTok: b.price?.input ?? 1,
        outputPerMTok: b.price?.output ?? 1,
        cachedInputPerMTok: b.price?.input ?? 1,
      },
      tokenizerFactor: b.tokenizerFactor ?? 4,
      zone: b.zone,
      labels: {},
      maxInflight: b.maxInflight ?? Infinity,
      timeouts: { connectMs: 1000, firstByteMs: 10000, idleMs: 10000 },
      apiKeyEnv: undefined,
    });
  }
  const routes = new Map<string, CompiledRoute>();
  for (const [name, r] of Object.entries(spec.routes)) {
    routes.set(name, {
      name,
      backends: r.backends,
      split: r.split === undefined ? undefined : new Map(Object.entries(r.split)),
      splitSource: r.split === undefined ? undefined : 'policy',
      sticky: r.sticky ?? { kind: 'none' },
      objective: r.objective ?? { latency: 1, errors: 1, cost: 1 },
      maxCostUsd: r.maxCostUsd,
      overBudget: r.overBudget ?? 'refuse',
      defaultMaxTokens: r.defaultMaxTokens ?? 256,
      maxAttempts: r.maxAttempts ?? 3,
      locality: r.locality,
      affinity: r.affinity,
    });
  }
  const rules: CompiledRule[] = (spec.rules ?? []).map(({ name, when, split, ...actions }) => ({
    name,
    matches: when ?? (() => true),
    actions: split === undefined ? actions : { ...actions, split: new Map(Object.entries(split)) },
  }));
  return {
    version: 'test',
    backends,
    routes,
    rules,
    breaker: {
      errorThresholdPercentage: 50,
      volumeThreshold: 10,
      resetTimeoutMs: 15000,
      consecutiveFailures: 5,
    },
    window: { sizeMs: 60000, buckets: 12 },
  };
}

export { features };

/** Health by backend name; unlisted backends are healthy with no samples. */
export function healthTable(table: Record<string, Partial<BackendHealth>> = {}): HealthLookup {
  const full = new Map<string, BackendHealth>();
  for (const [name, h] of Object.entries(table)) full.set(name, { ...UNKNOWN_HEALTH, ...h });
  return (name) => full.get(name) ?? UNKNOWN_HEALTH;
}

/** Fresh load signals by backend name; unlisted backends have none. */
export function signalTable(table: Record<string, LoadSignal> = {}): SignalLookup {
  const map = new Map(Object.entries(table));
  return (name) => map.get(name);
}

export const NOW = 1_750_000_000_000;

export interface Scenario {
  readonly policy: CompiledPolicy;
  readonly health?: Record<string, Partial<BackendHealth>>;
  readonly features?: Partial<RequestFeatures>;
  readonly seed?: number;
  /** The sidecar's zone. */
  readonly zone?: string;
  /** Fresh load signals by backend. */
  readonly signals?: Record<string, LoadSignal>;
}

export function run(s: Scenario): DecideResult {
  return decide({
    policy: s.policy,
    health: healthTable(s.health),
    signals: signalTable(s.signals),
    zone: s.zone,
    features: features(s.features),
    nowMs: NOW,
    random: mulberry32(s.seed ?? 1),
  });
}

export function decided(s: Scenario): Decision {
  const r = run(s);
  if (!r.ok) throw new Error(`expected a decision, got ${r.refusal.code}: ${r.refusal.message}`);
  return r.decision;
}

export function refused(s: Scenario): DecisionRefusal {
  const r = run(s);
  if (r.ok) throw new Error(`expected a refusal, got attempts ${r.decision.attempts.join(',')}`);
  return r.refusal;
}

/** How often each backend is the first attempt over `n` decisions with one PRNG stream. */
export function firstAttemptShares(
  policy: CompiledPolicy,
  n: number,
  opts: {
    health?: Record<string, Partial<BackendHealth>>;
    signals?: Record<string, LoadSignal>;
    /** The sidecar's zone. */
    zone?: string;
    features?: (i: number) => Partial<RequestFeatures>;
    seed?: number;
  } = {},
): Record<string, number> {
  const random = mulberry32(opts.seed ?? 42);
  const health = healthTable(opts.health);
  const signals = signalTable(opts.signals);
  const counts: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const r = decide({
      policy,
      health,
      signals,
      zone: opts.zone,
      features: features(opts.features?.(i)),
      nowMs: NOW,
      random,
    });
    if (!r.ok) throw new Error(r.refusal.message);
    const first = r.decision.attempts[0] as string;
    counts[first] = (counts[first] ?? 0) + 1;
  }
  for (const k of Object.keys(counts)) counts[k] = (counts[k] as number) / n;
  return counts;
}
