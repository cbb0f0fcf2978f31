/**
 * Split weights: checked once when the distribution is built, so the router never sees a negative
 * weight, an unknown arm or an all-zero split. Shared by route splits, rule splits and the
 * per-route overrides that come from Consul (`routecar/splits/<route>`).
 */
import { closest, type PolicyError } from './errors.js';
import type { PolicyDocument } from './schema.js';
import type { SplitWeights } from './types.js';

/**
 * Largest weight one arm may have. Weights are relative, so this limits nothing a split can
 * express (1,000,000 to 1 is a 0.0001% canary); it keeps every sum finite; two arms at 1.7e308
 * would add up to Infinity and the draw would then give the first arm everything.
 */
export const MAX_SPLIT_WEIGHT = 1_000_000;

/** One problem with a set of weights; `backend` is set when it concerns a single entry. */
export interface SplitProblem {
  readonly backend?: string;
  readonly message: string;
}

/**
 * Checks weights against the backends they may name. Returns every valid entry, zeros included:
 * a zero means "this arm is off" (an instant canary rollback), and routing must see it to keep
 * that backend out entirely, even as a fallback. Also returns every problem found.
 * @param allowed backends the split may name
 * @param unknownMessage what to say about a name outside `allowed`
 */
export function checkSplit(
  weights: Readonly<Record<string, number>>,
  allowed: ReadonlySet<string>,
  unknownMessage: (backend: string) => string,
): { readonly weights: SplitWeights; readonly problems: readonly SplitProblem[] } {
  const kept = new Map<string, number>();
  const problems: SplitProblem[] = [];
  const entries = Object.entries(weights);
  for (const [backend, weight] of entries) {
    if (!allowed.has(backend)) {
      const near = closest(backend, allowed);
      problems.push({
        backend,
        message: unknownMessage(backend) + (near ? ` (did you mean "${near}"?)` : ''),
      });
    } else if (!Number.isFinite(weight) || weight < 0) {
      problems.push({ backend, message: `weight of "${backend}" must be a number >= 0, got ${weight}` });
    } else if (weight > MAX_SPLIT_WEIGHT) {
      problems.push({
        backend,
        message: `weight of "${backend}" must be at most ${MAX_SPLIT_WEIGHT}, got ${weight}`,
      });
    } else {
      kept.set(backend, weight);
    }
  }
  const positive = [...kept.values()].some((w) => w > 0);
  if (entries.length === 0) problems.push({ message: 'split names no backend' });
  else if (problems.length === 0 && !positive) problems.push({ message: 'weights sum to 0' });
  return { weights: kept, problems };
}

/** The weights of an override (zero arms kept: they switch the arm off), or why it is refused. */
export type SplitOverrideResult =
  | { readonly ok: true; readonly weights: SplitWeights }
  | { readonly ok: false; readonly errors: PolicyError[] };

/**
 * Validates the raw value of `routecar/splits/<route>` (JSON such as `{"llama-70b": 95, "llama-70b-next": 5}`)
 * against the route in `document`. Errors have the path `splits/<route>`. An invalid override is
 * refused on its own; what serves its route instead is the store's business (`SplitOverrideState`).
 */
export function parseSplitOverride(
  document: PolicyDocument,
  route: string,
  text: string,
): SplitOverrideResult {
  const path = `splits/${route}`;
  const fail = (message: string): SplitOverrideResult => ({ ok: false, errors: [{ path, message }] });
  const routeDoc = document.routes[route];
  if (routeDoc === undefined || !Object.hasOwn(document.routes, route)) {
    return fail(`unknown route "${route}"`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return fail(`not valid JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return fail('expected a JSON object of backend weights, e.g. {"a": 90, "b": 10}');
  }
  const numeric: Record<string, number> = {};
  const errors: PolicyError[] = [];
  for (const [backend, weight] of Object.entries(value)) {
    if (typeof weight === 'number') numeric[backend] = weight;
    else
      errors.push({
        path,
        message: `weight of "${backend}" must be a number, got ${JSON.stringify(weight)}`,
      });
  }
  const checked = checkSplit(
    numeric,
    new Set(routeDoc.backends),
    (b) => `backend "${b}" is not in route "${route}"`,
  );
  // With entries already refused above, "names no backend" would only repeat them.
  const problems =
    errors.length > 0 ? checked.problems.filter((p) => p.backend !== undefined) : checked.problems;
  errors.push(...problems.map((p) => ({ path, message: p.message })));
  return errors.length > 0 ? { ok: false, errors } : { ok: true, weights: checked.weights };
}
