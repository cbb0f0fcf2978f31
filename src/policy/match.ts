/**
 * `match` clause -> pure predicate over RequestFeatures. Everything that can be computed once
 * (lower-cased header names, value sets) is computed here, so a request pays only for lookups.
 */
import type { PromptSource, RequestFeatures } from '../ingress/features.js';
import type { TextTest } from './regex.js';
import type {
  ClassMatchDocument,
  MatchDocument,
  PromptMatchDocument,
  RangeDocument,
  StringMatcherDocument,
} from './rule-schema.js';

type Predicate = (features: RequestFeatures) => boolean;
type ValueTest = (value: string | undefined) => boolean;

/**
 * Compiles a match clause; every clause given must hold, and `{}` matches every request.
 * `class` is left out (see {@link compileClass}): the rule walk needs to test the other clauses
 * before it decides to call a classifier. The prompt clause comes last, after the cheap ones.
 * `regex` is `match.prompt.regex`, compiled by the caller (which reports a bad pattern).
 */
export function compileMatch(match: MatchDocument, regex?: TextTest): Predicate {
  const tests: Predicate[] = [];
  for (const [name, matcher] of Object.entries(match.header ?? {})) {
    // features.headers has lower-case names; the policy may be written in any case.
    const lower = name.toLowerCase();
    const test = stringTest(matcher);
    tests.push((f) => test(f.headers[lower]));
  }
  addString(tests, match.tenant, (f) => f.tenant);
  addString(tests, match.user, (f) => f.user);
  addString(tests, match.apiKeyId, (f) => f.apiKeyId);
  addString(tests, match.route, (f) => f.route);
  addString(tests, match.endpoint, (f) => f.endpoint);
  addString(tests, match.priority, (f) => f.priority);
  if (match.stream !== undefined) {
    const stream = match.stream;
    tests.push((f) => f.stream === stream);
  }
  addRange(tests, match.promptTokens, (f) => f.promptTokens);
  addRange(tests, match.maxTokens, (f) => f.maxTokens);
  addRange(tests, match.payloadBytes, (f) => f.payloadBytes);
  if (match.prompt !== undefined) addPrompt(tests, match.prompt, regex);

  if (tests.length === 0) return () => true;
  if (tests.length === 1) return tests[0] ?? (() => true);
  return (features) => tests.every((test) => test(features));
}

function addString(
  tests: Predicate[],
  matcher: StringMatcherDocument | undefined,
  read: (f: RequestFeatures) => string | undefined,
): void {
  if (matcher === undefined) return;
  const test = stringTest(matcher);
  tests.push((f) => test(read(f)));
}

/** An absent value (header not sent) never matches. */
function stringTest(matcher: StringMatcherDocument): ValueTest {
  if (typeof matcher === 'string') return (v) => v === matcher;
  if (Array.isArray(matcher)) {
    const values = new Set(matcher);
    return (v) => v !== undefined && values.has(v);
  }
  const prefix = matcher.prefix;
  return (v) => v !== undefined && v.startsWith(prefix);
}

function addRange(
  tests: Predicate[],
  range: RangeDocument | undefined,
  read: (f: RequestFeatures) => number | undefined,
): void {
  if (range === undefined) return;
  const { lt, lte, gt, gte } = range;
  tests.push((f) => {
    const v = read(f);
    if (v === undefined) return false;
    return (
      (lt === undefined || v < lt) &&
      (lte === undefined || v <= lte) &&
      (gt === undefined || v > gt) &&
      (gte === undefined || v >= gte)
    );
  });
}

/**
 * `contains` (any entry, ignoring case) or `regex`: the clause holds when any of its text tests
 * does, so `{contains: ["```", "def "], regex: "(?i)\\bpython\\b"}` reads "looks like code". A
 * request without text reads as "".
 */
function addPrompt(tests: Predicate[], prompt: PromptMatchDocument, regex: TextTest | undefined): void {
  const needles = prompt.contains === undefined ? [] : [prompt.contains].flat().map((s) => s.toLowerCase());
  if (prompt.regex !== undefined && regex === undefined) {
    throw new Error('match.prompt.regex needs its compiled pattern');
  }
  const scan = (prompt: PromptSource | undefined): boolean => {
    if (needles.length > 0) {
      const text = prompt?.lower() ?? '';
      for (const needle of needles) if (text.includes(needle)) return true;
    }
    return regex !== undefined && regex(prompt?.text() ?? '');
  };
  // The edge walks the rules before deciding when the policy has classifiers, and decide walks
  // them again: remembering the answer per prompt keeps the scan to once per request.
  const seen = new WeakMap<PromptSource, boolean>();
  tests.push((f) => {
    const prompt = f.prompt;
    if (prompt === undefined) return scan(undefined);
    let hit = seen.get(prompt);
    if (hit === undefined) seen.set(prompt, (hit = scan(prompt)));
    return hit;
  });
}

/** A compiled `match.class` clause. */
export interface ClassTest {
  /** Classifiers the clause reads, in the order written. */
  readonly classifiers: readonly string[];
  /** True when every classifier gave one of its labels (with at least `minScore`); an unasked one never matches. */
  readonly test: Predicate;
}

export function compileClass(clause: ClassMatchDocument): ClassTest {
  const minScore = clause.minScore ?? 0;
  const wanted: Array<readonly [string, ReadonlySet<string>]> = [];
  for (const [name, labels] of Object.entries(clause)) {
    if (name === 'minScore') continue;
    wanted.push([name, new Set([labels as string | string[]].flat())]);
  }
  return {
    classifiers: wanted.map(([name]) => name),
    test: (f) => {
      const classes = f.classes;
      if (classes === undefined) return false;
      for (const [name, labels] of wanted) {
        const got = classes.get(name);
        if (got === undefined || got.score < minScore || !labels.has(got.label)) return false;
      }
      return true;
    },
  };
}
