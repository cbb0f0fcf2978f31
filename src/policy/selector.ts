/**
 * PromQL label matchers (`job="llama-70b", namespace=~"models-.*"`), as `signals.selector` writes
 * them: parsed when the policy compiles, matched against the label sets of the series the fleet
 * view reads. `=`, `!=`, `=~` and `!~`; regular expressions are anchored as in PromQL (RE2
 * syntax; routecar matches them with JavaScript's engine, which agrees on the common subset).
 */

/** One matcher: a label, how it is compared, and the value. */
export interface LabelMatcher {
  readonly label: string;
  readonly op: '=' | '!=' | '=~' | '!~';
  readonly value: string;
  /** For `=~` and `!~`: the anchored expression. */
  readonly regex?: RegExp;
}

export type ParsedSelector =
  | { readonly ok: true; readonly matchers: readonly LabelMatcher[] }
  | { readonly ok: false; readonly error: string };

const MATCHER = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(?:,|$)/;

/** Parses `a="x", b=~"y.*"` (braces optional); at least one matcher. */
export function parseSelector(text: string): ParsedSelector {
  let rest = text.trim();
  if (rest.startsWith('{') && rest.endsWith('}')) rest = rest.slice(1, -1);
  const matchers: LabelMatcher[] = [];
  while (rest.trim() !== '') {
    const m = MATCHER.exec(rest);
    if (!m)
      return {
        ok: false,
        error: `expected label matchers like job="llama-70b", got ${JSON.stringify(rest.trim().slice(0, 60))}`,
      };
    const [whole, label, op, raw] = m as unknown as [string, string, LabelMatcher['op'], string];
    const value = raw.replace(/\\(.)/g, '$1');
    if (op === '=~' || op === '!~') {
      try {
        matchers.push({ label, op, value, regex: new RegExp(`^(?:${value})$`) });
      } catch (err) {
        return { ok: false, error: `${label}${op}"${value}": ${(err as Error).message}` };
      }
    } else {
      matchers.push({ label, op, value });
    }
    rest = rest.slice(whole.length);
  }
  if (matchers.length === 0) return { ok: false, error: 'expected at least one label matcher' };
  return { ok: true, matchers };
}

/** Whether a series' labels satisfy every matcher (a missing label reads as ""). */
export function matchesSelector(
  matchers: readonly LabelMatcher[],
  labels: Readonly<Record<string, string>>,
): boolean {
  for (const m of matchers) {
    const v = labels[m.label] ?? '';
    const ok =
      m.op === '=' ? v === m.value : m.op === '!=' ? v !== m.value : m.regex!.test(v) === (m.op === '=~');
    if (!ok) return false;
  }
  return true;
}
