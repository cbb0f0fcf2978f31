/**
 * The `/metrics` page of a fake upstream, in vLLM's exact text format (V1 engine, as
 * prometheus_client writes it: HELP and TYPE lines, `engine` and `model_name` labels, floats with
 * a decimal point, counters with `_total` and their `_created` gauges). Both KV-cache gauges are
 * there, as vLLM 0.9–0.10 exports them: the current `vllm:kv_cache_usage_perc` and the older
 * `vllm:gpu_cache_usage_perc`.
 */

/** The load the page reports. */
export interface FakeLoad {
  /** `vllm:num_requests_waiting`. */
  readonly waiting: number;
  /** `vllm:num_requests_running`. */
  readonly running: number;
  /** KV-cache usage, 0..1. */
  readonly kvCacheUsage: number;
  /** Requests served so far (`vllm:request_success_total`). */
  readonly served: number;
}

/** The page for `model`, started at `createdSec` (epoch seconds). */
export function vllmMetricsPage(model: string, load: FakeLoad, createdSec: number): string {
  const labels = `engine="0",model_name="${escapeLabel(model)}"`;
  const gauge = (name: string, help: string, value: number) =>
    `# HELP ${name} ${help}\n# TYPE ${name} gauge\n${name}{${labels}} ${float(value)}\n`;
  const counter = (name: string, help: string, value: number) =>
    `# HELP ${name}_total ${help}\n# TYPE ${name}_total counter\n${name}_total{${labels}} ${float(value)}\n` +
    `# HELP ${name}_created ${help}\n# TYPE ${name}_created gauge\n${name}_created{${labels}} ${float(createdSec)}\n`;
  return (
    gauge('vllm:num_requests_running', 'Number of requests in model execution batches.', load.running) +
    gauge('vllm:num_requests_waiting', 'Number of requests waiting to be processed.', load.waiting) +
    gauge(
      'vllm:gpu_cache_usage_perc',
      'GPU KV-cache usage. 1 means 100 percent usage.DEPRECATED: Use vllm:kv_cache_usage_perc instead.',
      load.kvCacheUsage,
    ) +
    gauge('vllm:kv_cache_usage_perc', 'KV-cache usage. 1 means 100 percent usage.', load.kvCacheUsage) +
    counter('vllm:request_success', 'Count of successfully processed requests.', load.served)
  );
}

/** prometheus_client writes every sample as a float: `3.0`, `0.75`, `1.7e+09`. */
function float(n: number): string {
  if (Number.isInteger(n) && Math.abs(n) < 1e16) return `${n}.0`;
  return String(n);
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}
