/**
 * Prometheus names with unit suffixes, as the OpenTelemetry Collector's Prometheus exporters (and
 * Prometheus's own OTLP receiver) name the same OTLP data by default: `gen_ai.client.operation.duration`
 * in seconds becomes `gen_ai_client_operation_duration_seconds`. The JavaScript Prometheus exporter
 * adds no unit suffix itself, so routecar renames its metrics for `/metrics` here; a dashboard then
 * reads the same series whether Prometheus scrapes routecar or a collector that routecar pushes to.
 *
 * The rules are the translator's (prometheus/otlptranslator, "UnderscoreEscapingWithSuffixes"):
 * the unit's Prometheus word is appended unless the name already has it as a word; annotations
 * (`{token}`) and the unit `1` add nothing, except `_ratio` for a gauge in `1`. `_total` is left
 * to the exporter, which adds it to every monotonic sum.
 */
import {
  DataPointType,
  type CollectionResult,
  type MetricData,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';

/** UCUM units and their Prometheus words (the translator's table). */
const MAIN_UNITS: Readonly<Record<string, string>> = {
  d: 'days',
  h: 'hours',
  min: 'minutes',
  s: 'seconds',
  ms: 'milliseconds',
  us: 'microseconds',
  ns: 'nanoseconds',
  By: 'bytes',
  KiBy: 'kibibytes',
  MiBy: 'mebibytes',
  GiBy: 'gibibytes',
  TiBy: 'tibibytes',
  KBy: 'kilobytes',
  MBy: 'megabytes',
  GBy: 'gigabytes',
  TBy: 'terabytes',
  m: 'meters',
  V: 'volts',
  A: 'amperes',
  J: 'joules',
  W: 'watts',
  g: 'grams',
  Cel: 'celsius',
  Hz: 'hertz',
  '1': '',
  '%': 'percent',
};

/** The denominators of `x/y` units. */
const PER_UNITS: Readonly<Record<string, string>> = {
  s: 'second',
  m: 'minute',
  h: 'hour',
  d: 'day',
  w: 'week',
  mo: 'month',
  y: 'year',
};

/**
 * The OTel-style name (dots kept) whose Prometheus form carries the unit suffix, e.g.
 * (`gen_ai.client.operation.duration`, `s`) → `gen_ai.client.operation.duration.seconds`.
 */
export function withUnitSuffix(name: string, unit: string, gauge: boolean): string {
  const words = name.split(/[^a-zA-Z0-9]+/).filter((w) => w !== '');
  const suffixes: string[] = [];
  const [main = '', per] = unit.split('/', 2).map((u) => u.trim());
  if (main !== '' && !/[{}]/.test(main)) {
    const word = clean(MAIN_UNITS[main] ?? main);
    if (word !== '' && !words.includes(word)) suffixes.push(word);
  }
  if (per !== undefined && per !== '' && !/[{}]/.test(per)) {
    const word = clean(PER_UNITS[per] ?? per);
    if (word !== '') suffixes.push(`per_${word}`);
  }
  if (unit === '1' && gauge && words.at(-1) !== 'ratio') suffixes.push('ratio');
  return suffixes.length === 0 ? name : `${name}.${suffixes.join('.')}`;
}

/** A producer whose metrics carry their unit suffix in their names; everything else is as `inner` made it. */
export function withUnitSuffixes(inner: MetricProducer): MetricProducer {
  return {
    async collect(options): Promise<CollectionResult> {
      const result = await inner.collect(options);
      const { resourceMetrics } = result;
      return {
        ...result,
        resourceMetrics: {
          ...resourceMetrics,
          scopeMetrics: resourceMetrics.scopeMetrics.map((sm) => ({
            ...sm,
            metrics: sm.metrics.map(renamed),
          })),
        },
      };
    },
  };
}

function renamed(m: MetricData): MetricData {
  const { name, unit } = m.descriptor;
  const next = withUnitSuffix(name, unit, m.dataPointType === DataPointType.GAUGE);
  return next === name ? m : { ...m, descriptor: { ...m.descriptor, name: next } };
}

/** Characters Prometheus names do not take become `_`; leading and trailing ones are dropped. */
function clean(word: string): string {
  return word.replace(/[^a-zA-Z0-9]+/g, '_').replace(/^_+|_+$/g, '');
}
