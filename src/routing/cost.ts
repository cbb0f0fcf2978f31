/**
 * Cost of one request on one backend, and the ceiling it has to fit under.
 */
import type { RequestFeatures } from '../ingress/features.js';
import type { CompiledBackend, CompiledRoute, RuleActions } from '../policy/types.js';

/**
 * Estimated USD cost of the request on `backend`: prompt tokens at the input price plus the
 * output budget (`max_tokens`, else the route's `defaultMaxTokens`, times the completions
 * generated, `n`) at the output price. The output side is an upper bound, so the estimate errs
 * on the expensive side.
 */
export function estimateCostUsd(
  backend: CompiledBackend,
  route: CompiledRoute,
  features: RequestFeatures,
): number {
  const outputTokens = (features.maxTokens ?? route.defaultMaxTokens) * features.choices;
  return (
    (features.promptTokens * backend.price.inputPerMTok + outputTokens * backend.price.outputPerMTok) / 1e6
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
