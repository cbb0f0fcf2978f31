/**
 * Policy errors: every problem found in a policy names the place in the document it comes from,
 * as a dot path (`routes.chat.split`, `rules.2.match`), so `routecar policy validate` output points
 * straight at the line to fix.
 */

/** One problem in a policy document or a split override. */
export interface PolicyError {
  /**
   * Where in the document: dot-separated keys, array indices as numbers (`rules.2.match.header`).
   * Empty for the document as a whole; `splits/<route>` for a Consul split override.
   */
  readonly path: string;
  /** What is wrong, in lower case, without the path (`weights sum to 0`). */
  readonly message: string;
  /** 1-based line in the source text, when known (YAML/JSON text only). */
  readonly line?: number;
}

/** Renders an error the way the CLI and the admin API show it: `routes.chat.split: weights sum to 0`. */
export function formatPolicyError(error: PolicyError): string {
  return `${error.path === '' ? '(document)' : error.path}: ${error.message}`;
}

/** Joins path segments into the dot form used in every error. */
export function joinPath(segments: readonly PropertyKey[]): string {
  return segments.map((s) => String(s)).join('.');
}

/** Shorthand used by the checks: an error at `segments`. */
export function policyError(segments: readonly PropertyKey[], message: string): PolicyError {
  return { path: joinPath(segments), message };
}

/**
 * The closest of `candidates` to `word`, if it is close enough to be a plausible typo
 * (edit distance at most 2, and less than half the word).
 */
export function closest(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of candidates) {
    const d = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return bestDistance <= 2 && bestDistance < word.length / 2 ? best : undefined;
}

/** ` (did you mean "x"?)` or nothing. */
export function suggestion(word: string, candidates: Iterable<string>): string {
  const near = closest(word, candidates);
  return near === undefined ? '' : ` (did you mean "${near}"?)`;
}

/** Optimal-string-alignment distance: insertions, deletions, substitutions, adjacent swaps ("chta"). */
function editDistance(a: string, b: string): number {
  const rows: number[][] = [Array.from({ length: b.length + 1 }, (_, j) => j)];
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      const above = rows[i - 1] ?? [];
      let best = Math.min((above[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (above[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, (rows[i - 2]?.[j - 2] ?? 0) + 1);
      }
      row[j] = best;
    }
    rows.push(row);
  }
  return rows[a.length]?.[b.length] ?? 0;
}
