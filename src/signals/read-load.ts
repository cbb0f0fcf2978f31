/**
 * Reads a model server's load out of its Prometheus `/metrics` text: requests queued, requests
 * running, and KV-cache usage (0..1). The exposition is parsed with parse-prometheus-text-format
 * (a port of the Prometheus text parser); only the lines of the few families read are handed to
 * it, so a 100 KB vLLM page with its histograms costs a small fraction of a full parse.
 *
 * Metric names, checked against each server's source and docs (November 2026):
 * - vLLM (V1 engine, 0.9+; labels `model_name`, `engine`): `vllm:num_requests_waiting`,
 *   `vllm:num_requests_running`, `vllm:kv_cache_usage_perc`; releases before the rename
 *   (V0, ≤ 0.8, and 0.9–0.10 which export both) have `vllm:gpu_cache_usage_perc`.
 * - SGLang (`--enable-metrics`, 0.4+; label `model_name`, plus `tp_rank`… on newer releases):
 *   `sglang:num_queue_reqs`, `sglang:num_running_reqs`, `sglang:token_usage`.
 * - TGI (router 2.x/3.x, metrics-exporter-prometheus; no labels): `tgi_queue_size`,
 *   `tgi_batch_current_size`. TGI exports no KV-cache gauge.
 *
 * Several series of one family (data-parallel engines, several models on one server) add up for
 * the request counts; the KV-cache usage is the fullest one, since that engine refuses first.
 */
import parsePrometheusTextFormat from 'parse-prometheus-text-format';

/** The model-server kinds whose `/metrics` routecar reads (`backends.<b>.signals.format`). */
export type SignalFormat = 'vllm' | 'sglang' | 'tgi';

/** What one scrape says about a server's load. */
export interface LoadReading {
  /** Requests waiting for a slot in the batch. */
  readonly queued: number;
  /** Requests in the running batch. */
  readonly running: number;
  /** KV-cache usage, 0..1; undefined when the server does not export it. */
  readonly kvCacheUsage: number | undefined;
}

/** Family names per role, in order of preference (the first one present is read). */
export interface FormatNames {
  readonly queued: readonly string[];
  readonly running: readonly string[];
  readonly kvCacheUsage: readonly string[];
}

export const SIGNAL_NAMES: Readonly<Record<SignalFormat, FormatNames>> = {
  vllm: {
    queued: ['vllm:num_requests_waiting'],
    running: ['vllm:num_requests_running'],
    kvCacheUsage: ['vllm:kv_cache_usage_perc', 'vllm:gpu_cache_usage_perc'],
  },
  sglang: {
    queued: ['sglang:num_queue_reqs'],
    running: ['sglang:num_running_reqs'],
    kvCacheUsage: ['sglang:token_usage'],
  },
  tgi: {
    queued: ['tgi_queue_size'],
    running: ['tgi_batch_current_size'],
    kvCacheUsage: [],
  },
};

/** Thrown when a page is not a readable exposition of the expected server. */
export class SignalReadError extends Error {
  readonly code = 'ROUTECAR_SIGNAL_UNREADABLE';
  constructor(message: string) {
    super(message);
    this.name = 'SignalReadError';
  }
}

/**
 * The load in `text`. Throws {@link SignalReadError} when the page is malformed or carries none
 * of the queue and running families of `format` (a wrong `format`, or not a metrics page at all):
 * a reading of zeros there would reward a server routecar knows nothing about.
 */
export function readLoad(text: string, format: SignalFormat): LoadReading {
  const names = SIGNAL_NAMES[format];
  const wanted = new Set([...names.queued, ...names.running, ...names.kvCacheUsage]);
  let families: ReturnType<typeof parsePrometheusTextFormat>;
  try {
    families = parsePrometheusTextFormat(keepFamilies(text, wanted));
  } catch (err) {
    throw new SignalReadError(`malformed Prometheus text: ${(err as Error).message.slice(0, 200)}`);
  }
  const values = new Map<string, number[]>();
  for (const family of families) {
    const out: number[] = [];
    for (const sample of family.metrics) {
      if (!('value' in sample)) continue;
      const v = Number(sample.value);
      if (Number.isFinite(v) && v >= 0) out.push(v);
    }
    if (out.length > 0) values.set(family.name, out);
  }
  const queued = first(values, names.queued);
  const running = first(values, names.running);
  if (queued === undefined && running === undefined) {
    throw new SignalReadError(
      `no ${names.queued.concat(names.running).join(' or ')} in the page (format ${format})`,
    );
  }
  const kv = first(values, names.kvCacheUsage);
  return {
    queued: sum(queued),
    running: sum(running),
    kvCacheUsage: kv === undefined ? undefined : Math.min(1, Math.max(...kv)),
  };
}

function first(values: ReadonlyMap<string, number[]>, names: readonly string[]): number[] | undefined {
  for (const name of names) {
    const v = values.get(name);
    if (v !== undefined) return v;
  }
  return undefined;
}

function sum(values: readonly number[] | undefined): number {
  let total = 0;
  if (values !== undefined) for (const v of values) total += v;
  return total;
}

/**
 * The lines of `text` that belong to the families in `wanted` (their samples and their HELP and
 * TYPE lines), newline-terminated: the parser drops a last sample that has no newline after it.
 * Works on whole lines only; reading each line stays the parser's job.
 */
function keepFamilies(text: string, wanted: ReadonlySet<string>): string {
  let out = '';
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end).trim();
    start = end + 1;
    if (line === '') continue;
    const name = line.startsWith('# ') ? metadataName(line) : sampleName(line);
    if (name !== undefined && wanted.has(name)) out += line + '\n';
  }
  return out;
}

/** The family a `# HELP name …` / `# TYPE name …` line is about; undefined for plain comments. */
function metadataName(line: string): string | undefined {
  if (!line.startsWith('# HELP ') && !line.startsWith('# TYPE ')) return undefined;
  const rest = line.slice(7);
  const space = rest.indexOf(' ');
  return space < 0 ? rest : rest.slice(0, space);
}

function sampleName(line: string): string {
  let i = 0;
  while (i < line.length) {
    const c = line.charCodeAt(i);
    // '{', ' ' or '\t' end the name.
    if (c === 123 || c === 32 || c === 9) break;
    i++;
  }
  return line.slice(0, i);
}
