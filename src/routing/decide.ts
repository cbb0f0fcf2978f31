/**
 * decide: the routing decision for one request, as a pure function of (policy, health snapshots,
 * request features, now, random source). No I/O, no clock, no global state; randomness only from
 * `random`. Called once per request, so it allocates little and sorts only the route's backends.
 *
 * Steps: route lookup → matching rules (the first, and more while rules `continue`; their
 * actions combined: deny, route switch, filters, objective, ceiling, split, pins) → candidates
 * (health, rule filters, cost ceiling) → strategy (split or score) → half-open trial, `prefer`,
 * `maxAttempts` cut.
 */
import type { HealthLookup } from '../health/types.js';
import type { SignalLookup } from '../signals/types.js';
import type { ClassLabel, RequestFeatures } from '../ingress/features.js';
import type { CompiledPolicy, CompiledRoute, Objective, RuleActions } from '../policy/types.js';
import { applyPrefer, cutAttempts, placeHalfOpen } from './attempts.js';
import {
  applyCeiling,
  type Candidate,
  collectCandidates,
  countUsable,
  describeExclusions,
  toReports,
} from './candidates.js';
import { effectiveCeilingUsd, formatUsd } from './cost.js';
import { excludeOtherZones, localityOf } from './locality.js';
import { combineActions, matchRules } from './rules.js';
import { scoreStrategy } from './score.js';
import { splitStrategy } from './split.js';
import { banditStrategy, type BanditView } from './bandit.js';
import { applyLocalGuard, type LocalGuardSpec } from './local-guard.js';
import { selectionFacts, type Selection } from './strategy.js';
import type { CandidateReport, DecideResult, Decision, DecisionRefusal, ExclusionReason } from './types.js';

export interface DecideInput {
  /** The compiled policy snapshot in force. */
  readonly policy: CompiledPolicy;
  /** Health snapshot of a backend, by name. */
  readonly health: HealthLookup;
  /** Fresh model-server load signal of a backend, by name; none when absent. */
  readonly signals?: SignalLookup;
  /** This sidecar's zone (`ROUTECAR_ZONE`); undefined when unknown. */
  readonly zone?: string | undefined;
  /** Whether a route's traffic had left the zone at its last decision (`Decision.zoneLeft`, kept by ZoneMemory). */
  readonly zoneLeft?: (route: string) => boolean;
  readonly features: RequestFeatures;
  /** Epoch milliseconds (compared with `coolingUntilMs`). */
  readonly nowMs: number;
  /** Uniform in [0, 1); the only source of randomness. */
  readonly random: () => number;
  /** The canary spec's local guard of a route, when one is in force (local-guard.ts). */
  readonly localGuard?: (route: string) => LocalGuardSpec | undefined;
  /** What the bandit knows about a route with `bandit` (posteriors); absent: such routes split or score. */
  readonly bandit?: (route: CompiledRoute) => BanditView | undefined;
}

const NO_CANDIDATES: readonly CandidateReport[] = Object.freeze([]);
const NO_RULES: readonly string[] = Object.freeze([]);

export function decide(input: DecideInput): DecideResult {
  const { policy, features } = input;
  const requested = features.route;
  let route = policy.routes.get(requested);
  if (route === undefined) {
    return refuse('model_not_found', 404, modelNotFound(policy, requested), requested, requested, NO_RULES);
  }

  // Every rule that applied, in order; `rule` (headers, metrics) is the first of them.
  const applied = matchRules(policy.rules, features);
  const rules = applied.length === 0 ? NO_RULES : applied.map((r) => r.name);
  const actions = combineActions(applied);
  const ruleName = rules[0];
  const ruleNames = rules.join(', ');
  if (actions?.deny !== undefined) {
    return refuse(
      'denied',
      actions.deny.status,
      actions.deny.message,
      requested,
      route.name,
      rules,
      features,
    );
  }
  let reason = '';
  if (applied.length > 0) {
    if (actions?.route !== undefined) {
      const switched = policy.routes.get(actions.route);
      if (switched === undefined) {
        // compile() checks rule targets; kept so a compiler bug cannot crash the request path.
        const message = `rule "${ruleNames}" sends to unknown route "${actions.route}"`;
        return refuse('model_not_found', 404, message, requested, actions.route, rules, features);
      }
      route = switched;
      reason = `rule ${ruleNames} -> route ${route.name}`;
    } else {
      reason = `rule ${ruleNames}`;
    }
  }

  // A pin (`x-routecar-backend`) bypasses the split and the scoring, so it is an override the
  // policy has to grant: only a matching rule with `allowPin` does. Without that grant the header
  // is ignored rather than refused, so clients that always send it keep working on routes that
  // do not allow it; the reason says `pin ignored`.
  let pin: string | undefined;
  if (features.pin !== undefined) {
    if (actions?.allowPin === true) {
      if (!route.backends.includes(features.pin)) {
        const message = `backend "${features.pin}" cannot be pinned: it is not a backend of route "${route.name}" (${route.backends.join(', ')})`;
        return refuse('pin_not_allowed', 400, message, requested, route.name, rules, features);
      }
      pin = features.pin;
    } else {
      reason = join(reason, 'pin ignored');
    }
  }

  const split = pin === undefined ? (actions?.split ?? route.split) : undefined;
  const ceiling = effectiveCeilingUsd(features, route, actions);
  const all = collectCandidates(
    policy,
    route,
    actions,
    split,
    input.health,
    features,
    input.nowMs,
    input.signals,
    ceiling,
  );
  const locality = localityOf(policy, route, input.zone, input.zoneLeft?.(route.name));
  excludeOtherZones(all, locality);
  const guarded = applyLocalGuard(input.localGuard?.(route.name), all);
  if (guarded !== undefined) reason = join(reason, guarded);
  let pool: readonly Candidate[] = all;
  if (pin !== undefined) {
    const pinned = all[route.backends.indexOf(pin)] as Candidate;
    if (pinned.excluded === 'excluded_by_rule' || pinned.excluded === 'not_in_rule_only') {
      const message = `backend "${pin}" cannot be pinned: rule "${ruleNames}" leaves it out (${pinned.excluded})`;
      return refuse('pin_not_allowed', 400, message, requested, route.name, rules, features);
    }
    // The pinned backend is the whole pool: the availability and ceiling checks below apply to it alone.
    pool = [pinned];
  }

  if (countUsable(pool) === 0) {
    // Too long for every window the route offers: the app's to fix, as OpenAI would say it.
    if (pool.every((c) => c.excluded === 'context_window')) {
      const message =
        `the request (about ${features.promptTokens} prompt tokens plus ${features.maxTokens ?? 0} ` +
        `max_tokens) fits no context window of route "${route.name}": ${describeExclusions(pool)}`;
      return refuse('context_length_exceeded', 400, message, requested, route.name, rules, features, all);
    }
    const message = `no healthy backend for route "${route.name}": ${describeExclusions(pool)}`;
    return refuse('no_healthy_backend', 503, message, requested, route.name, rules, features, all);
  }
  const budget = applyCeiling(pool, ceiling, actions?.overBudget ?? route.overBudget);
  if (budget.kind === 'refuse') {
    const cheapest = budget.cheapest;
    const why = describeExclusions(pool);
    // A backend that is down now but whose prompt would fit: that is health, and may pass.
    const downButAffordable = pool.some((c) => isHealthExclusion(c.excluded) && !c.overCeiling);
    if (downButAffordable) {
      const message = `no healthy backend for route "${route.name}" within the cost ceiling ${formatUsd(ceiling ?? 0)}: ${why}`;
      return refuse('no_healthy_backend', 503, message, requested, route.name, rules, features, all);
    }
    // The prompt alone costs the ceiling or more on every backend: no output limit can make it fit.
    const message =
      `the prompt alone (estimated ${formatUsd(cheapest.inputCostUsd)} on ${cheapest.name}, the cheapest) ` +
      `reaches the cost ceiling ${formatUsd(ceiling ?? 0)} of route "${route.name}": ${why}`;
    return refuse('over_budget', 400, message, requested, route.name, rules, features, all);
  }

  const usable = pool.filter(isUsable);
  let selection: Selection;
  if (pin !== undefined) {
    (usable[0] as Candidate).weight = 1;
    const over =
      budget.kind === 'cheapest'
        ? ` (over budget: ${formatUsd(budget.cheapest.costUsd)} > ${formatUsd(ceiling ?? 0)})`
        : '';
    selection = { order: usable, variant: `pin:${pin}`, reason: `pin -> ${pin}${over}` };
  } else if (budget.kind === 'cheapest') {
    budget.cheapest.weight = 1;
    selection = {
      order: [budget.cheapest],
      variant: 'default',
      reason:
        `over budget: cheapest -> ${budget.cheapest.name} ` +
        `(${formatUsd(budget.cheapest.costUsd)} > ${formatUsd(ceiling ?? 0)})`,
    };
  } else {
    const bandit = route.bandit !== undefined ? input.bandit?.(route) : undefined;
    const strategy =
      bandit !== undefined ? banditStrategy(bandit) : split !== undefined ? splitStrategy : scoreStrategy;
    selection = strategy({
      all,
      usable,
      route,
      split,
      objective: objectiveOf(route, actions),
      features,
      random: input.random,
      locality,
    });
  }
  reason = join(reason, selection.reason);

  const order = selection.order;
  const trial = placeHalfOpen(order);
  if (trial !== undefined) reason = join(reason, `half-open trial ${trial.name}`);
  if (actions?.prefer !== undefined && applyPrefer(order, actions.prefer) > 0) {
    reason = join(reason, `prefer ${(order[0] as Candidate).name}`);
  }
  const attempts = cutAttempts(order, route.maxAttempts);
  if (split !== undefined) {
    let fallbacks = 0;
    for (const name of attempts) if (!((split.get(name) ?? 0) > 0)) fallbacks++;
    if (fallbacks > 0) reason = join(reason, `${fallbacks} fallback${fallbacks === 1 ? '' : 's'}`);
  }

  const decision: Decision = {
    requestedRoute: requested,
    route: route.name,
    attempts,
    variant: selection.variant,
    reason,
    rule: ruleName,
    rules,
    // Served over the ceiling by the policy's choice (`overBudget: cheapest`): nothing to clamp to.
    maxCostUsd: budget.kind === 'cheapest' ? undefined : ceiling,
    candidates: toReports(all),
    ...selectionFacts(selection, attempts[0]),
  };
  return { ok: true, decision: withPromptFacts(decision, features) };
}

/** Exclusions that say the backend is unavailable right now, not unsuited to the request. */
function isHealthExclusion(reason: ExclusionReason | undefined): boolean {
  return reason === 'breaker_open' || reason === 'cooling_down' || reason === 'at_max_inflight';
}

/** Adds what the rules read of the prompt (its hash and length, never the text) and the classifier labels. */
function withPromptFacts<T extends Decision | DecisionRefusal>(result: T, features: RequestFeatures): T {
  const prompt = features.prompt?.summary();
  const classes = features.classes;
  if (prompt === undefined && classes === undefined) return result;
  const out: { -readonly [K in keyof T]: T[K] } = { ...result };
  if (prompt !== undefined) out.prompt = prompt;
  if (classes !== undefined) {
    const shown: Record<string, ClassLabel | null> = {};
    for (const [name, label] of classes) shown[name] = label ?? null;
    out.classes = shown;
  }
  return out;
}

function objectiveOf(route: CompiledRoute, actions: RuleActions | undefined): Objective {
  const o = actions?.objective;
  if (o === undefined) return route.objective;
  return {
    latency: o.latency ?? route.objective.latency,
    errors: o.errors ?? route.objective.errors,
    cost: o.cost ?? route.objective.cost,
    load: o.load ?? route.objective.load,
  };
}

function isUsable(c: Candidate): boolean {
  return c.excluded === undefined;
}

function join(reason: string, part: string): string {
  return reason === '' ? part : `${reason}; ${part}`;
}

function modelNotFound(policy: CompiledPolicy, requested: string): string {
  const known = [...policy.routes.keys()].join(', ');
  return `The model "${requested}" does not exist: it is not a route of this routecar (routes: ${known})`;
}

function refuse(
  code: DecisionRefusal['code'],
  status: number,
  message: string,
  requestedRoute: string,
  route: string,
  rules: readonly string[],
  features?: RequestFeatures,
  candidates?: readonly Candidate[],
): DecideResult {
  const refusal: DecisionRefusal = {
    code,
    message,
    status,
    requestedRoute,
    route,
    rule: rules[0],
    rules,
    candidates: candidates === undefined ? NO_CANDIDATES : toReports(candidates),
  };
  return { ok: false, refusal: features === undefined ? refusal : withPromptFacts(refusal, features) };
}
