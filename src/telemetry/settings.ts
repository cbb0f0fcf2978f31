/**
 * What telemetry to run, read from the standard OTEL_* variables and routecar's own. Pure: the
 * environment is passed in. Nothing here loads an SDK; setup.ts loads only what these ask for.
 */

/**
 * The OTLP transport (OTEL_EXPORTER_OTLP_PROTOCOL and its per-signal variants): protobuf over
 * HTTP, the specification's default (port 4318); gRPC (4317); or JSON over HTTP (4318).
 */
export type OtlpProtocol = 'http/protobuf' | 'grpc' | 'http/json';

/** The specification's default protocol. */
export const DEFAULT_OTLP_PROTOCOL: OtlpProtocol = 'http/protobuf';

const OTLP_PROTOCOLS: readonly OtlpProtocol[] = ['http/protobuf', 'grpc', 'http/json'];

/** How traces are sampled (OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG). */
export interface SamplerSettings {
  /** Root sampling: always, never, or a fraction of trace ids. */
  readonly root: 'always_on' | 'always_off' | 'traceidratio';
  /** For `traceidratio`: the fraction kept, 0..1. */
  readonly ratio: number;
  /** Whether an incoming sampled/unsampled `traceparent` decides instead of `root`. */
  readonly parentBased: boolean;
}

export interface TraceSettings {
  /** Where spans go: an OTLP endpoint, or stdout. */
  readonly exporter: 'otlp' | 'console';
  /** For `otlp`: the transport (OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL). */
  readonly protocol: OtlpProtocol;
  readonly sampler: SamplerSettings;
  /** BatchSpanProcessor options (OTEL_BSP_*). */
  readonly scheduleDelayMillis: number;
  readonly maxQueueSize: number;
  readonly maxExportBatchSize: number;
  readonly exportTimeoutMillis: number;
}

export interface TelemetrySettings {
  /** False with OTEL_SDK_DISABLED=true: no metrics, no traces, no /metrics, no SDK loaded. */
  readonly enabled: boolean;
  /** Prometheus text on the admin listener's /metrics (off only with OTEL_METRICS_EXPORTER=none). */
  readonly prometheus: boolean;
  /** Push metrics over OTLP; undefined when not asked for. */
  readonly otlpMetrics:
    | {
        /** OTEL_EXPORTER_OTLP_METRICS_PROTOCOL, else OTEL_EXPORTER_OTLP_PROTOCOL. */
        readonly protocol: OtlpProtocol;
        readonly exportIntervalMillis: number;
        readonly exportTimeoutMillis: number;
      }
    | undefined;
  /** Traces; undefined when not asked for or when the sampler can never sample. */
  readonly traces: TraceSettings | undefined;
  /** ROUTECAR_METRICS_TENANT_LABEL=true: the cost counter carries `routecar.tenant`. */
  readonly tenantLabel: boolean;
  /** ROUTECAR_METRICS_TENANT_LIMIT: distinct tenants kept as labels; later ones become `other`. */
  readonly tenantLimit: number;
  /** Problems found in the variables, for one warning each at start-up. */
  readonly warnings: readonly string[];
}

export const DEFAULT_TENANT_LIMIT = 100;
/** OTEL_METRIC_EXPORT_INTERVAL's default in the specification. */
export const DEFAULT_METRIC_EXPORT_INTERVAL_MS = 60_000;
export const DEFAULT_METRIC_EXPORT_TIMEOUT_MS = 30_000;

type Env = Readonly<Record<string, string | undefined>>;

export function telemetrySettings(env: Env): TelemetrySettings {
  const warnings: string[] = [];
  const enabled = !isTrue(env.OTEL_SDK_DISABLED);
  const metricsExporters = list(env.OTEL_METRICS_EXPORTER);
  const tracesExporters = list(env.OTEL_TRACES_EXPORTER);

  const metricsOff = metricsExporters?.includes('none') ?? false;
  for (const name of metricsExporters ?? []) {
    if (!['otlp', 'prometheus', 'none'].includes(name))
      warnings.push(`OTEL_METRICS_EXPORTER: unknown exporter "${name}" ignored`);
  }
  // An endpoint alone asks for OTLP, as it does in the SDKs; an explicit exporter list decides otherwise.
  const otlpMetrics = metricsExporters
    ? metricsExporters.includes('otlp')
    : Boolean(env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT);

  return {
    enabled,
    prometheus: enabled && !metricsOff,
    otlpMetrics:
      enabled && otlpMetrics && !metricsOff
        ? {
            protocol: otlpProtocol(env, 'METRICS', warnings),
            exportIntervalMillis: positive(
              env,
              'OTEL_METRIC_EXPORT_INTERVAL',
              DEFAULT_METRIC_EXPORT_INTERVAL_MS,
              warnings,
            ),
            exportTimeoutMillis: positive(
              env,
              'OTEL_METRIC_EXPORT_TIMEOUT',
              DEFAULT_METRIC_EXPORT_TIMEOUT_MS,
              warnings,
            ),
          }
        : undefined,
    traces: enabled ? traceSettings(env, tracesExporters, warnings) : undefined,
    tenantLabel: isTrue(env.ROUTECAR_METRICS_TENANT_LABEL),
    tenantLimit: positive(env, 'ROUTECAR_METRICS_TENANT_LIMIT', DEFAULT_TENANT_LIMIT, warnings),
    warnings,
  };
}

function traceSettings(
  env: Env,
  exporters: readonly string[] | undefined,
  warnings: string[],
): TraceSettings | undefined {
  for (const name of exporters ?? []) {
    if (!['otlp', 'console', 'none'].includes(name))
      warnings.push(`OTEL_TRACES_EXPORTER: unknown exporter "${name}" ignored`);
  }
  let exporter: TraceSettings['exporter'] | undefined;
  if (exporters) {
    if (exporters.includes('none')) exporter = undefined;
    else if (exporters.includes('otlp')) exporter = 'otlp';
    else if (exporters.includes('console')) exporter = 'console';
  } else if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT) {
    exporter = 'otlp';
  }
  if (!exporter) return undefined;
  const sampler = samplerSettings(env, warnings);
  // A sampler that can never sample makes tracing pure cost: leave it off entirely.
  if (
    !sampler.parentBased &&
    (sampler.root === 'always_off' || (sampler.root === 'traceidratio' && sampler.ratio === 0))
  ) {
    return undefined;
  }
  return {
    exporter,
    protocol: exporter === 'otlp' ? otlpProtocol(env, 'TRACES', warnings) : DEFAULT_OTLP_PROTOCOL,
    sampler,
    scheduleDelayMillis: positive(env, 'OTEL_BSP_SCHEDULE_DELAY', 5_000, warnings),
    maxQueueSize: positive(env, 'OTEL_BSP_MAX_QUEUE_SIZE', 2_048, warnings),
    maxExportBatchSize: positive(env, 'OTEL_BSP_MAX_EXPORT_BATCH_SIZE', 512, warnings),
    exportTimeoutMillis: positive(env, 'OTEL_BSP_EXPORT_TIMEOUT', 30_000, warnings),
  };
}

export function samplerSettings(env: Env, warnings: string[] = []): SamplerSettings {
  const name = (env.OTEL_TRACES_SAMPLER || 'parentbased_always_on').trim().toLowerCase();
  const parentBased = name.startsWith('parentbased_');
  const root = parentBased ? name.slice('parentbased_'.length) : name;
  let ratio = 1;
  if (root === 'traceidratio') {
    const arg = env.OTEL_TRACES_SAMPLER_ARG;
    const n = arg === undefined || arg.trim() === '' ? 1 : Number(arg);
    if (!Number.isFinite(n) || n < 0 || n > 1) {
      warnings.push(`OTEL_TRACES_SAMPLER_ARG: expected a number in 0..1, got "${arg}"; using 1`);
    } else {
      ratio = n;
    }
  }
  if (root !== 'always_on' && root !== 'always_off' && root !== 'traceidratio') {
    warnings.push(`OTEL_TRACES_SAMPLER: unsupported sampler "${name}"; using parentbased_always_on`);
    return { root: 'always_on', ratio: 1, parentBased: true };
  }
  return { root, ratio, parentBased };
}

/**
 * The protocol of one signal: its own variable, else the general one, else `http/protobuf`. An
 * unknown value is warned about and replaced by the default, as the SDKs do.
 */
export function otlpProtocol(env: Env, signal: 'METRICS' | 'TRACES', warnings: string[] = []): OtlpProtocol {
  for (const name of [`OTEL_EXPORTER_OTLP_${signal}_PROTOCOL`, 'OTEL_EXPORTER_OTLP_PROTOCOL']) {
    const raw = env[name]?.trim();
    if (raw === undefined || raw === '') continue;
    const value = raw.toLowerCase() as OtlpProtocol;
    if (OTLP_PROTOCOLS.includes(value)) return value;
    warnings.push(
      `${name}: unknown protocol "${raw}" (expected ${OTLP_PROTOCOLS.join(', ')}); using ${DEFAULT_OTLP_PROTOCOL}`,
    );
    return DEFAULT_OTLP_PROTOCOL;
  }
  return DEFAULT_OTLP_PROTOCOL;
}

/** A comma-separated list, lower-cased; undefined when the variable is unset or empty. */
function list(value: string | undefined): string[] | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  return value
    .split(',')
    .map((v) => v.trim().toLowerCase())
    .filter((v) => v !== '');
}

function isTrue(value: string | undefined): boolean {
  return value !== undefined && value.trim().toLowerCase() === 'true';
}

function positive(env: Env, name: string, fallback: number, warnings: string[]): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0) {
    warnings.push(`${name}: expected a positive integer, got "${raw}"; using ${fallback}`);
    return fallback;
  }
  return n;
}
