/**
 * Cost of one request on one backend, the ceiling it has to fit under, and the output the
 * ceiling affords there. A ceiling is a bound, not a hope: the forwarder sends each backend an
 * output limit no larger than what the ceiling pays for at that backend's prices (see
 * `capOf`), so only a prompt that is too expensive on its own is refused.
 */
import { promptTokensFor } from '../ingress/extract.js';
import type { RequestFeatures } from '../ingress/features.js';
import type { CompiledBackend, CompiledRoute, RuleActions } from '../policy/types.js';

/** Prompt tokens on `backend`, estimated with its own characters-per-token. */
export function promptTokensOn(backend: CompiledBackend, features: RequestFeatures): number {
  return promptTokensFor(features.promptChars, features.promptMessages, backend.tokenizerFactor);
}

/** USD the prompt alone costs on `backend`. */
export function inputCostUsd(backend: CompiledBackend, features: RequestFeatures): number {
  return (promptTokensOn(backend, features) * backend.price.inputPerMTok) / 1e6;
}

/** What one request costs on one backend, worked out once per candidate. */
export interface CostOn {
  /** USD the prompt alone costs there. */
  readonly inputUsd: number;
  /** Output tokens per completion the ceiling affords there (see `affordableOutputTokens`). */
  readonly affordable: number | undefined;
  /** The estimate (see `estimateCostUsd`). */
  readonly estimateUsd: number;
}

/** The prompt's cost, what the ceiling affords, and the estimate, on `backend`. */
export function costOn(
  backend: CompiledBackend,
  route: CompiledRoute,
  features: RequestFeatures,
  ceilingUsd: number | undefined,
): CostOn {
  const inputUsd = inputCostUsd(backend, features);
  const affordable = affordableAfter(inputUsd, backend, features, ceilingUsd);
  let perCompletion = features.maxTokens ?? route.defaultMaxTokens;
  if (affordable !== undefined && affordable < perCompletion) perCompletion = affordable;
  const estimateUsd = inputUsd + (perCompletion * features.choices * backend.price.outputPerMTok) / 1e6;
  return { inputUsd, affordable, estimateUsd };
}

/**
 * Output tokens per completion that `ceilingUsd` pays for on `backend` once the prompt is paid,
 * across the request's completions (`n`); 0 when the prompt alone reaches the ceiling, undefined
 * when nothing limits it (no ceiling, or free output).
 */
export function affordableOutputTokens(
  backend: CompiledBackend,
  features: RequestFeatures,
  ceilingUsd: number | undefined,
): number | undefined {
  return affordableAfter(inputCostUsd(backend, features), backend, features, ceilingUsd);
}

function affordableAfter(
  inputUsd: number,
  backend: CompiledBackend,
  features: RequestFeatures,
  ceilingUsd: number | undefined,
): number | undefined {
  if (ceilingUsd === undefined || backend.price.outputPerMTok === 0) return undefined;
  const left = ceilingUsd - inputUsd;
  if (left <= 0) return 0;
  return Math.floor((left * 1e6) / backend.price.outputPerMTok / features.choices);
}

/**
 * The output limit per completion to send a backend, from the tokens the ceiling affords there
 * (`affordableOutputTokens`): those, when less than the request's own limit or the request sets
 * none; undefined when the ceiling does not bind (the request's own limit, if any, is sent
 * unchanged).
 */
export function capOf(affordable: number | undefined, features: RequestFeatures): number | undefined {
  if (affordable === undefined) return undefined;
  // Without a limit of its own the request is capped at what it may spend, never left unbounded.
  if (features.maxTokens === undefined) return affordable;
  return affordable < features.maxTokens ? affordable : undefined;
}

/**
 * Estimated USD cost of the request on `backend`: prompt tokens (at the backend's own
 * characters-per-token) at the input price, plus the output the request may generate (its
 * limit, else the route's `defaultMaxTokens`, capped by what the ceiling affords, times `n`) at
 * the output price. The output side is an upper bound, so the estimate errs on the expensive side.
 */
export function estimateCostUsd(
  backend: CompiledBackend,
  route: CompiledRoute,
  features: RequestFeatures,
  ceilingUsd?: number,
): number {
  return costOn(backend, route, features, ceilingUsd).estimateUsd;
}

/**
 * What a served request cost on `backend`: uncached prompt tokens at the input price, cached
 * ones at `cachedInput`, output at the output price.
 */
export function usageCostUsd(
  backend: CompiledBackend,
  usage: { readonly inputTokens: number; readonly outputTokens: number; readonly cachedInputTokens?: number },
): number {
  const cached = usage.cachedInputTokens ?? 0;
  const p = backend.price;
  return (
    ((usage.inputTokens - cached) * p.inputPerMTok +
      cached * p.cachedInputPerMTok +
      usage.outputTokens * p.outputPerMTok) /
    1e6
  );
}

/**
 * The lowest of the request header's, the rule's and the route's ceilings; undefined when none
 * is set. Taking the minimum is what lets the `x-routecar-max-cost` header lower the policy's
 * ceiling but never raise it.
 */
export function effectiveCeilingUsd(
  features: RequestFeatures,
  route: CompiledRoute,
  actions: RuleActions | undefined,
): number | undefined {
  let ceiling = route.maxCostUsd;
  const fromRule = actions?.maxCostUsd;
  if (fromRule !== undefined && (ceiling === undefined || fromRule < ceiling)) ceiling = fromRule;
  const fromHeader = features.maxCostUsd;
  if (fromHeader !== undefined && (ceiling === undefined || fromHeader < ceiling)) ceiling = fromHeader;
  return ceiling;
}

/** `$0.0042`: three significant digits, for messages and reasons. */
export function formatUsd(usd: number): string {
  return `$${Number(usd.toPrecision(3))}`;
}
