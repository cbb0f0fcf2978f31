/**
 * `match.prompt.regex` -> a linear-time test. Patterns run on re2js, a pure-JavaScript port of
 * RE2: matching time grows with the text's length, never exponentially, so no pattern an operator
 * writes can stall the request path (the V8 engine backtracks: `(a+)+$` on 32 KiB would hang it).
 * The price is RE2's syntax: no backreferences and no lookarounds; such patterns fail to compile
 * and the policy is refused, naming the rule.
 *
 * Flags: inline as RE2 writes them (`(?i)python`, `(?is)...`), or a JavaScript literal
 * `/python/i` whose flags i, m, s map to RE2's; g and y mean nothing for a yes/no test and are
 * accepted and ignored; u is the default (RE2 reads Unicode). Any other flag is an error.
 */
import { RE2JS } from 're2js';

/** A compiled pattern: true when it matches anywhere in the text. */
export type TextTest = (text: string) => boolean;

export type RegexCompileResult =
  { readonly ok: true; readonly test: TextTest } | { readonly ok: false; readonly message: string };

const LITERAL = /^\/(.*)\/([a-z]*)$/s;

const FLAGS: Readonly<Record<string, number>> = {
  i: RE2JS.CASE_INSENSITIVE,
  m: RE2JS.MULTILINE,
  s: RE2JS.DOTALL,
  g: 0,
  y: 0,
  u: 0,
};

/** Compiles `source` (`pattern` or `/pattern/flags`); never throws. */
export function compileRegex(source: string): RegexCompileResult {
  let pattern = source;
  let flags = 0;
  const literal = LITERAL.exec(source);
  if (literal !== null) {
    pattern = literal[1] as string;
    for (const flag of literal[2] as string) {
      const bit = FLAGS[flag];
      if (bit === undefined) return { ok: false, message: `unknown regex flag "${flag}" (use i, m or s)` };
      flags |= bit;
    }
  }
  try {
    const re = RE2JS.compile(pattern, flags);
    return { ok: true, test: (text) => re.test(text) };
  } catch (err) {
    return { ok: false, message: `invalid regex: ${(err as Error).message}` };
  }
}
