/**
 * Validated document (+ split overrides from Consul) -> CompiledPolicy, the immutable snapshot the
 * router reads. Cross-references are checked here, and everything is normalised once: base URLs
 * lose their trailing slash, unset limits become Infinity. Zero-weight split arms are kept: they
 * mean "this arm is off", fallback traffic included (see `checkSplit`).
 */
import { policyError, suggestion, type PolicyError } from './errors.js';
import { compileRules } from './compile-rules.js';
import { canonicalJson, sha256Hex } from './hash.js';
import type { BackendDocument, PolicyDocument, RouteDocument } from './schema.js';
import { checkSplit } from './splits.js';
import type {
  CompiledBackend,
  CompiledBudgets,
  CompiledClassifier,
  CompiledPolicy,
  CompiledRoute,
  SplitWeights,
  StickyKey,
  TenantBudget,
} from './types.js';

/**
 * Per-route split weights that replace the policy's own split (from `routecar/splits/<route>`).
 * Each must already have passed `parseSplitOverride` against the same document.
 */
export type SplitOverrides = ReadonlyMap<string, SplitWeights>;

/** The compiled snapshot, or every cross-reference error found. */
export type CompileResult =
  | { readonly ok: true; readonly policy: CompiledPolicy }
  | { readonly ok: false; readonly errors: PolicyError[] };

/** Length of the version string (hex chars of the SHA-256). */
const VERSION_LENGTH = 12;

/** Checks cross-references and builds the snapshot; never throws for a bad document. */
export function compilePolicy(
  document: PolicyDocument,
  overrides: SplitOverrides = new Map(),
): CompileResult {
  const errors: PolicyError[] = [];
  const backends = new Map<string, CompiledBackend>();
  for (const [name, backend] of Object.entries(document.backends))
    backends.set(name, compileBackend(name, backend));

  const backendNames = new Set(backends.keys());
  const routes = new Map<string, CompiledRoute>();
  for (const [name, route] of Object.entries(document.routes)) {
    const compiled = compileRoute(name, route, backendNames, overrides.get(name), errors);
    routes.set(name, compiled);
  }

  const routeBackends = new Map([...routes].map(([name, route]) => [name, route.backends]));
  const classifiers = compileClassifiers(document.classifiers);
  const rules = compileRules(document.rules, {
    backends: backendNames,
    routes: routeBackends,
    classifiers: new Set(classifiers?.keys()),
  });
  errors.push(...rules.errors);
  if (errors.length > 0) return { ok: false, errors };

  const policy: CompiledPolicy = {
    version: policyVersion(document, overrides),
    backends,
    routes,
    rules: rules.rules,
    ...(classifiers === undefined ? {} : { classifiers }),
    ...(document.budgets === undefined ? {} : { budgets: compileBudgets(document.budgets) }),
    headersRead: headersRead(document.rules, routes),
    breaker: Object.freeze({ ...document.breaker }),
    window: Object.freeze({ ...document.window }),
  };
  return { ok: true, policy: Object.freeze(policy) };
}

function compileBudgets(budgets: NonNullable<PolicyDocument['budgets']>): CompiledBudgets {
  const tenants = new Map<string, TenantBudget>();
  for (const [tenant, b] of Object.entries(budgets.tenants ?? {}))
    tenants.set(tenant, Object.freeze({ ...b }));
  return Object.freeze({
    tenants,
    default: budgets.default === undefined ? undefined : Object.freeze({ ...budgets.default }),
  });
}

/** The request headers rules match and sticky keys hash, lower case, sorted, once each. */
function headersRead(
  rules: PolicyDocument['rules'],
  routes: ReadonlyMap<string, CompiledRoute>,
): readonly string[] {
  const names = new Set<string>();
  for (const rule of rules)
    for (const name of Object.keys(rule.match.header ?? {})) names.add(name.toLowerCase());
  for (const route of routes.values())
    if (route.sticky.kind === 'header') names.add(route.sticky.name.toLowerCase());
  return Object.freeze([...names].sort());
}

/** Short content hash of the document and the overrides; the same inputs always give the same version. */
export function policyVersion(document: PolicyDocument, overrides: SplitOverrides): string {
  const splits = [...overrides].map(([route, weights]) => [route, Object.fromEntries(weights)]);
  return sha256Hex(canonicalJson({ document, splits: Object.fromEntries(splits) })).slice(0, VERSION_LENGTH);
}

function compileClassifiers(
  classifiers: PolicyDocument['classifiers'],
): ReadonlyMap<string, CompiledClassifier> | undefined {
  if (classifiers === undefined || Object.keys(classifiers).length === 0) return undefined;
  const out = new Map<string, CompiledClassifier>();
  for (const [name, c] of Object.entries(classifiers)) {
    out.set(name, Object.freeze({ name, url: c.url, timeoutMs: c.timeoutMs, cacheSize: c.cacheSize }));
  }
  return out;
}

/** Characters per token assumed for prompt estimates when a backend does not say. */
export const DEFAULT_TOKENIZER_FACTOR = 4;

function compileBackend(name: string, backend: BackendDocument): CompiledBackend {
  return Object.freeze({
    name,
    baseUrl: backend.url.replace(/\/+$/, ''),
    model: backend.model,
    price: Object.freeze({
      inputPerMTok: backend.price.input,
      outputPerMTok: backend.price.output,
      cachedInputPerMTok: backend.price.cachedInput ?? backend.price.input,
    }),
    tokenizerFactor: backend.tokenizerFactor ?? DEFAULT_TOKENIZER_FACTOR,
    zone: backend.zone,
    labels: Object.freeze({ ...backend.labels }),
    maxInflight: backend.maxInflight ?? Infinity,
    timeouts: Object.freeze({ ...backend.timeouts }),
    apiKeyEnv: backend.apiKeyEnv,
    signals: backend.signals === undefined ? undefined : Object.freeze({ ...backend.signals }),
    api: backend.api ?? 'openai',
    auth: Object.freeze(
      backend.auth ??
        (backend.api === 'anthropic'
          ? { header: 'x-api-key', scheme: 'none' }
          : { header: 'authorization', scheme: 'Bearer' }),
    ),
    headers:
      backend.headers === undefined
        ? undefined
        : Object.freeze(
            Object.fromEntries(Object.entries(backend.headers).map(([k, v]) => [k.toLowerCase(), v])),
          ),
    query: backend.query === undefined ? undefined : Object.freeze({ ...backend.query }),
    contextWindow: backend.contextWindow,
  });
}

function compileRoute(
  name: string,
  route: RouteDocument,
  backendNames: ReadonlySet<string>,
  override: SplitWeights | undefined,
  errors: PolicyError[],
): CompiledRoute {
  const at = (...rest: PropertyKey[]) => ['routes', name, ...rest];
  const members = new Set<string>();
  route.backends.forEach((backend, i) => {
    if (!backendNames.has(backend)) {
      errors.push(
        policyError(at('backends', i), `unknown backend "${backend}"${suggestion(backend, backendNames)}`),
      );
    } else if (members.has(backend)) {
      errors.push(policyError(at('backends', i), `duplicate backend "${backend}"`));
    }
    members.add(backend);
  });

  let split: SplitWeights | undefined;
  if (route.split !== undefined) {
    const checked = checkSplit(route.split, members, (b) =>
      backendNames.has(b) ? `backend "${b}" is not in this route's backends` : `unknown backend "${b}"`,
    );
    for (const p of checked.problems) {
      errors.push(policyError(p.backend === undefined ? at('split') : at('split', p.backend), p.message));
    }
    split = checked.weights;
  }

  return Object.freeze({
    name,
    backends: Object.freeze([...route.backends]),
    split: override ?? split,
    splitSource: override !== undefined ? 'consul' : split !== undefined ? 'policy' : undefined,
    sticky: parseSticky(route.sticky),
    ...(route.bandit !== undefined ? { bandit: route.bandit } : {}),
    objective: Object.freeze({ ...route.objective }),
    maxCostUsd: route.maxCostUsd,
    overBudget: route.overBudget,
    defaultMaxTokens: route.defaultMaxTokens,
    maxAttempts: route.failover.maxAttempts,
    locality: route.locality,
    affinity:
      route.affinity === undefined
        ? undefined
        : Object.freeze({
            prefixChars: route.affinity.prefixChars,
            maxLoadFactor: route.affinity.maxLoadFactor,
          }),
  });
}

/** The schema has already checked the grammar: `none`, `body:user` or `header:NAME`. */
function parseSticky(sticky: string): StickyKey {
  if (sticky.startsWith('header:'))
    return { kind: 'header', name: sticky.slice('header:'.length).toLowerCase() };
  if (sticky === 'body:user') return { kind: 'body', field: 'user' };
  return { kind: 'none' };
}
