/**
 * Which rules apply to a request, and what they change together. Pure, like decide.
 *
 * Rules are tried in order. A matching rule applies; matching stops there unless the rule says
 * `continue: true`, in which case later rules are still tried and those that match apply too.
 * After a continuing rule switched the route, later rules' `match.route` sees the new route.
 *
 * Combined, the applied rules' actions are (docs/policy.md, "Rules that combine"):
 * - filters intersect: `only` keeps the backends every `only` names; `exclude` removes the
 *   backends any `exclude` names;
 * - preferences append: `prefer` lists follow one another, earlier rules' backends first;
 * - the last rule that sets it wins: `route`, `maxCostUsd`, `overBudget`, `split`, `allowPin`,
 *   `deny`, and each `objective` weight.
 */
import { withFeatures } from '../ingress/extract.js';
import type { RequestFeatures } from '../ingress/features.js';
import type { CompiledRule, RuleActions } from '../policy/types.js';

const NONE: readonly CompiledRule[] = Object.freeze([]);

/** The rules that apply to the request, in order (empty when none matches). */
export function matchRules(
  rules: readonly CompiledRule[],
  features: RequestFeatures,
): readonly CompiledRule[] {
  let applied: CompiledRule[] | undefined;
  let f = features;
  for (const rule of rules) {
    if (!rule.matches(f)) continue;
    if (rule.continue !== true) return applied === undefined ? [rule] : (applied.push(rule), applied);
    (applied ??= []).push(rule);
    f = routed(f, rule);
  }
  return applied ?? NONE;
}

/**
 * The classifiers the request needs asked before the rules can be matched: walking the rules as
 * {@link matchRules} does, the unasked classifiers of the first rule whose other clauses hold.
 * Empty when matching ends (a rule without `continue` applied, or no rule is left) before any
 * such rule. The edge asks them, adds their labels to `features.classes`, and calls this again
 * until it is empty; a classifier is therefore called only when a rule that reads it is reached.
 */
export function classifiersNeeded(rules: readonly CompiledRule[], features: RequestFeatures): string[] {
  let f = features;
  for (const rule of rules) {
    const classifiers = rule.classifiers;
    if (classifiers !== undefined && classifiers.length > 0) {
      const missing = classifiers.filter((name) => f.classes?.has(name) !== true);
      if (missing.length > 0 && (rule.prefilter ?? rule.matches)(f)) return missing;
    }
    if (!rule.matches(f)) continue;
    if (rule.continue !== true) return [];
    f = routed(f, rule);
  }
  return [];
}

/** The features later rules see after `rule` applied: its route switch, if any. */
function routed(f: RequestFeatures, rule: CompiledRule): RequestFeatures {
  const route = rule.actions.route;
  return route === undefined || route === f.route ? f : withFeatures(f, { route });
}

/** The applied rules' actions as one; undefined when no rule applied. */
export function combineActions(applied: readonly CompiledRule[]): RuleActions | undefined {
  if (applied.length === 0) return undefined;
  if (applied.length === 1) return (applied[0] as CompiledRule).actions;
  const out: { -readonly [K in keyof RuleActions]: RuleActions[K] } = {};
  for (const { actions: a } of applied) {
    if (a.route !== undefined) out.route = a.route;
    if (a.prefer !== undefined) {
      const prefer = out.prefer === undefined ? [] : [...out.prefer];
      for (const name of a.prefer) if (!prefer.includes(name)) prefer.push(name);
      out.prefer = prefer;
    }
    if (a.only !== undefined) {
      const only = a.only;
      out.only = out.only === undefined ? only : out.only.filter((name) => only.includes(name));
    }
    if (a.exclude !== undefined) {
      const exclude = out.exclude === undefined ? [] : [...out.exclude];
      for (const name of a.exclude) if (!exclude.includes(name)) exclude.push(name);
      out.exclude = exclude;
    }
    if (a.objective !== undefined) out.objective = { ...out.objective, ...a.objective };
    if (a.maxCostUsd !== undefined) out.maxCostUsd = a.maxCostUsd;
    if (a.overBudget !== undefined) out.overBudget = a.overBudget;
    if (a.split !== undefined) out.split = a.split;
    if (a.allowPin !== undefined) out.allowPin = a.allowPin;
    if (a.deny !== undefined) out.deny = a.deny;
  }
  return out;
}
