/**
 * The split overrides from Consul (`routecar/splits/<route>`) as the store keeps them: the values
 * last delivered, the override in force for each route, and each route's refusal.
 *
 * A value that is refused (a typo, an unknown backend, weights summing to 0) does not move the
 * route back to the policy's split: the route keeps its last good override, so users stay on the
 * arm of a running canary. Only deleting the key falls back to the policy's split. When a new
 * policy document no longer fits the override in force (it removed a backend the override
 * names), that override is dropped too and the route uses the policy's split; it is reported
 * the same way, and the key's value applies again once a document fits it.
 */
import { formatPolicyError, type PolicyError } from './errors.js';
import type { PolicyDocument } from './schema.js';
import { parseSplitOverride } from './splits.js';
import type { SplitOverrides } from './compile.js';
import type { SplitWeights } from './types.js';

/** Why one route's override is refused, and what serves the route instead. Shown in `/admin/policy`. */
export interface SplitRefusal {
  /** `splits/<route>`. */
  readonly path: string;
  /** One line: the first error, and how many more. */
  readonly message: string;
  /** Every error, with the path `splits/<route>`. */
  readonly errors: readonly PolicyError[];
  /** When this value was first refused for these reasons (ISO 8601). */
  readonly at: string;
  /**
   * last-good-override: the last value that passed keeps serving the route.
   * policy-split: no earlier value fits the policy; the route uses the policy's split (or scoring).
   */
  readonly serving: 'last-good-override' | 'policy-split';
}

/** One override that passed: its raw text (persisted) and its weights. */
interface GoodOverride {
  readonly text: string;
  readonly weights: SplitWeights;
}

/** The outcome of checking every delivered value against one document; adopted only if that document is. */
export interface CheckedSplits {
  /** The weights in force, by route: to compile with the document. */
  readonly overrides: SplitOverrides;
  readonly good: ReadonlyMap<string, GoodOverride>;
  readonly refused: ReadonlyMap<string, SplitRefusal & { readonly text: string }>;
  /** Errors of refusals that are new or changed since the last adopted check (to report once). */
  readonly fresh: readonly PolicyError[];
}

const NONE: CheckedSplits = { overrides: new Map(), good: new Map(), refused: new Map(), fresh: [] };

/** See the file comment. */
export class SplitOverrideState {
  /** Values as last delivered (route -> raw text), valid or not. */
  #raw: ReadonlyMap<string, string> = new Map();
  #adopted: CheckedSplits = NONE;

  /** Replaces the delivered values; takes effect at the next `check` + `adopt`. */
  setRaw(raw: ReadonlyMap<string, string>): void {
    this.#raw = raw;
  }

  /**
   * Checks every delivered value against `document`, without changing anything.
   * @param at the time to stamp on a new refusal (ISO 8601)
   */
  check(document: PolicyDocument, at: string): CheckedSplits {
    const good = new Map<string, GoodOverride>();
    const refused = new Map<string, SplitRefusal & { readonly text: string }>();
    const fresh: PolicyError[] = [];
    for (const [route, text] of [...this.#raw].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const result = parseSplitOverride(document, route, text);
      if (result.ok) {
        good.set(route, { text, weights: result.weights });
        continue;
      }
      const errors = [...result.errors];
      const kept = this.#keep(document, route, text, errors);
      if (kept !== undefined) good.set(route, kept);
      const serving = kept !== undefined ? 'last-good-override' : 'policy-split';
      const message = summary(errors);
      const before = this.#adopted.refused.get(route);
      if (before?.text === text && before.message === message && before.serving === serving) {
        refused.set(route, before);
      } else {
        refused.set(route, { path: `splits/${route}`, message, errors, at, serving, text });
        fresh.push(...errors);
      }
    }
    const overrides = new Map([...good].map(([route, o]) => [route, o.weights]));
    return { overrides, good, refused, fresh };
  }

  /** Makes `checked` the state in force. */
  adopt(checked: CheckedSplits): void {
    this.#adopted = checked;
  }

  /** The weights in force, by route. */
  overrides(): SplitOverrides {
    return this.#adopted.overrides;
  }

  /** The raw texts in force, by route (what is persisted with the last good policy). */
  texts(): Readonly<Record<string, string>> {
    return Object.fromEntries([...this.#adopted.good].map(([route, o]) => [route, o.text]));
  }

  /** The refusals in force, by route. */
  refusals(): Readonly<Record<string, SplitRefusal>> {
    return Object.fromEntries(
      [...this.#adopted.refused].map(([route, { text: _text, ...refusal }]) => [route, refusal]),
    );
  }

  /** Every error of every refusal in force, routes in name order. */
  errors(): readonly PolicyError[] {
    return [...this.#adopted.refused.values()].flatMap((r) => r.errors);
  }

  /**
   * The route's override in force, when `text` is refused and that override still fits
   * `document`; when it no longer fits, says why in `errors`.
   */
  #keep(
    document: PolicyDocument,
    route: string,
    text: string,
    errors: PolicyError[],
  ): GoodOverride | undefined {
    const previous = this.#adopted.good.get(route);
    // The same text refused now (a new document no longer fits it) has nothing older to fall back on.
    if (previous === undefined || previous.text === text) return undefined;
    const again = parseSplitOverride(document, route, previous.text);
    if (again.ok) return { text: previous.text, weights: again.weights };
    const value = JSON.stringify(Object.fromEntries(previous.weights));
    for (const e of again.errors) {
      errors.push({
        ...e,
        message: `the last good override ${value} no longer fits the policy: ${e.message}`,
      });
    }
    return undefined;
  }
}

function summary(errors: readonly PolicyError[]): string {
  const first = errors[0];
  if (first === undefined) return 'refused';
  return formatPolicyError(first) + (errors.length > 1 ? ` (and ${errors.length - 1} more)` : '');
}
