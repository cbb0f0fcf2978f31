/**
 * Reads Prometheus text exposition (what routecar's /metrics serves) into samples, for tests that
 * check metric values without a Prometheus server.
 */

/** One sample line: `name{labels} value`. */
export interface PromSample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

export function parsePromText(text: string): PromSample[] {
  const out: PromSample[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) {
      labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    }
    const v = m[3]!;
    out.push({ name: m[1]!, labels, value: v === '+Inf' ? Infinity : v === '-Inf' ? -Infinity : Number(v) });
  }
  return out;
}

/** GET `url` (a /metrics endpoint) and parse it. */
export async function scrape(url: string): Promise<PromSample[]> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return parsePromText(await res.text());
}

/** Samples named `name` whose labels include every pair of `match`. */
export function select(
  samples: readonly PromSample[],
  name: string,
  match: Record<string, string> = {},
): PromSample[] {
  return samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
}

/** The sum of the values `select` finds (0 when none). */
export function total(
  samples: readonly PromSample[],
  name: string,
  match: Record<string, string> = {},
): number {
  return select(samples, name, match).reduce((sum, s) => sum + s.value, 0);
}
