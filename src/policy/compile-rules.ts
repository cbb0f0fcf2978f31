/**
 * `rules[]` -> CompiledRule[]: checks every name a rule refers to and builds its predicate once.
 */
import type { RequestFeatures } from '../ingress/features.js';
import { policyError, suggestion, type PolicyError } from './errors.js';
import { compileClass, compileMatch } from './match.js';
import { compileRegex, type TextTest } from './regex.js';
import type { RuleDocument } from './rule-schema.js';
import { checkSplit } from './splits.js';
import type { CompiledRule, Objective, RuleActions } from './types.js';

/** Names the rules may refer to. */
export interface RuleContext {
  readonly backends: ReadonlySet<string>;
  /** Each route's backends, by route name. */
  readonly routes: ReadonlyMap<string, readonly string[]>;
  /** Names under `classifiers`. */
  readonly classifiers?: ReadonlySet<string>;
}

/** A rule's target route when it can only ever apply to one: its `route` action, or a single `match.route`. */
interface Target {
  readonly name: string;
  readonly members: ReadonlySet<string>;
}

/** Compiles the rules in order; every error names its rule by index (`rules.2.prefer.0`). */
export function compileRules(
  rules: readonly RuleDocument[],
  context: RuleContext,
): { readonly rules: readonly CompiledRule[]; readonly errors: readonly PolicyError[] } {
  const errors: PolicyError[] = [];
  const compiled: CompiledRule[] = [];
  const firstIndex = new Map<string, number>();
  rules.forEach((rule, index) => {
    const at = (...rest: PropertyKey[]) => ['rules', index, ...rest];
    const earlier = firstIndex.get(rule.name);
    if (earlier !== undefined) {
      errors.push(policyError(at('name'), `duplicate rule name "${rule.name}" (also rules.${earlier})`));
    } else {
      firstIndex.set(rule.name, index);
    }
    const routeNames = rule.match.route === undefined ? [] : [rule.match.route].flat();
    routeNames.forEach((route, i) => {
      if (!context.routes.has(route)) {
        const path = Array.isArray(rule.match.route) ? at('match', 'route', i) : at('match', 'route');
        errors.push(policyError(path, `unknown route "${route}"${suggestion(route, context.routes.keys())}`));
      }
    });
    errors.push(...checkActions(rule, context, at));
    let regex: TextTest | undefined;
    if (rule.match.prompt?.regex !== undefined) {
      const result = compileRegex(rule.match.prompt.regex);
      if (result.ok) regex = result.test;
      else errors.push(policyError(at('match', 'prompt', 'regex'), result.message));
    }
    const classifiers = context.classifiers ?? new Set<string>();
    for (const name of Object.keys(rule.match.class ?? {})) {
      if (name !== 'minScore' && !classifiers.has(name)) {
        const message = `unknown classifier "${name}"${suggestion(name, classifiers)} (declare it under classifiers)`;
        errors.push(policyError(at('match', 'class', name), message));
      }
    }
    // A pattern that did not compile leaves the rule uncompiled: the errors refuse the policy anyway.
    if (rule.match.prompt?.regex !== undefined && regex === undefined) return;
    compiled.push(compileRule(rule, regex));
  });
  return { rules: Object.freeze(compiled), errors };
}

function compileRule(rule: RuleDocument, regex: TextTest | undefined): CompiledRule {
  const prefilter = compileMatch(rule.match, regex);
  const base = { name: rule.name, actions: actionsOf(rule), continue: rule.continue === true };
  if (rule.match.class === undefined) return Object.freeze({ ...base, matches: prefilter });
  const cls = compileClass(rule.match.class);
  const test = cls.test;
  return Object.freeze({
    ...base,
    matches: (f: RequestFeatures) => prefilter(f) && test(f),
    prefilter,
    classifiers: Object.freeze([...cls.classifiers]),
  });
}

function checkActions(
  rule: RuleDocument,
  context: RuleContext,
  at: (...rest: PropertyKey[]) => PropertyKey[],
): PolicyError[] {
  const errors: PolicyError[] = [];
  if (rule.route !== undefined && !context.routes.has(rule.route)) {
    const near = suggestion(rule.route, context.routes.keys());
    errors.push(policyError(at('route'), `unknown route "${rule.route}"${near}`));
  }
  // A backend outside the target route would make `only` refuse everything and `prefer` or
  // `split` do nothing: almost certainly a mistake. (`exclude` of such a backend is harmless.)
  const targetName = rule.route ?? (typeof rule.match.route === 'string' ? rule.match.route : undefined);
  const targetBackends = targetName === undefined ? undefined : context.routes.get(targetName);
  const target: Target | undefined =
    targetName === undefined || targetBackends === undefined
      ? undefined
      : { name: targetName, members: new Set(targetBackends) };
  errors.push(...checkBackendList(rule.prefer, context.backends, target, at('prefer')));
  errors.push(...checkBackendList(rule.only, context.backends, target, at('only')));
  errors.push(...checkBackendList(rule.exclude, context.backends, undefined, at('exclude')));
  if (rule.only !== undefined && rule.exclude !== undefined) {
    const excluded = new Set(rule.exclude);
    if (rule.only.every((b) => excluded.has(b))) {
      errors.push(policyError(at('exclude'), 'only and exclude together leave no backend'));
    }
  }
  if (rule.split !== undefined) {
    const checked = checkSplit(rule.split, target?.members ?? context.backends, (b) =>
      context.backends.has(b) && target !== undefined
        ? `backend "${b}" is not in route "${target.name}"`
        : `unknown backend "${b}"`,
    );
    for (const p of checked.problems) {
      errors.push(policyError(p.backend === undefined ? at('split') : at('split', p.backend), p.message));
    }
  }
  return errors;
}

function checkBackendList(
  list: readonly string[] | undefined,
  backends: ReadonlySet<string>,
  target: Target | undefined,
  path: readonly PropertyKey[],
): PolicyError[] {
  const errors: PolicyError[] = [];
  const seen = new Set<string>();
  (list ?? []).forEach((name, i) => {
    if (!backends.has(name)) {
      errors.push(policyError([...path, i], `unknown backend "${name}"${suggestion(name, backends)}`));
    } else if (target !== undefined && !target.members.has(name)) {
      errors.push(policyError([...path, i], `backend "${name}" is not in route "${target.name}"`));
    } else if (seen.has(name)) {
      errors.push(policyError([...path, i], `duplicate backend "${name}"`));
    }
    seen.add(name);
  });
  return errors;
}

/** Copies only the actions the rule names, so `actions` says exactly what the rule changes. */
function actionsOf(rule: RuleDocument): RuleActions {
  const actions: { -readonly [K in keyof RuleActions]: RuleActions[K] } = {};
  if (rule.route !== undefined) actions.route = rule.route;
  if (rule.prefer !== undefined) actions.prefer = Object.freeze([...rule.prefer]);
  if (rule.only !== undefined) actions.only = Object.freeze([...rule.only]);
  if (rule.exclude !== undefined) actions.exclude = Object.freeze([...rule.exclude]);
  if (rule.objective !== undefined) {
    const objective: Partial<Record<keyof Objective, number>> = {};
    for (const key of ['latency', 'errors', 'cost'] as const) {
      const weight = rule.objective[key];
      if (weight !== undefined) objective[key] = weight;
    }
    actions.objective = Object.freeze(objective);
  }
  if (rule.maxCostUsd !== undefined) actions.maxCostUsd = rule.maxCostUsd;
  if (rule.overBudget !== undefined) actions.overBudget = rule.overBudget;
  // Zero arms are kept, as in a route split: routing needs them to keep that arm out entirely
  // (fallback included); dropping them here would turn an arm that is off into a fallback.
  if (rule.split !== undefined) actions.split = new Map(Object.entries(rule.split));
  if (rule.allowPin !== undefined) actions.allowPin = rule.allowPin;
  if (rule.deny !== undefined)
    actions.deny = Object.freeze({ message: rule.deny.message, status: rule.deny.status });
  return Object.freeze(actions);
}
