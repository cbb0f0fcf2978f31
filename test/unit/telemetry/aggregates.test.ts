import { describe, expect, it } from 'vitest';
import {
  CounterFamily,
  HistogramFamily,
  OVERFLOW_ATTRIBUTES,
  hrTimeOf,
  labelKey,
} from '../../../src/telemetry/aggregates.js';
import { DataPointType, type Histogram } from '@opentelemetry/sdk-metrics';

const now = () => hrTimeOf(1_700_000_000_123);
const desc = { name: 'x', unit: 's', description: 'x' };

describe('HistogramFamily', () => {
  it('puts a value equal to a boundary in that bucket (upper bounds inclusive) and counts overflow past the last', () => {
    const h = new HistogramFamily(desc, [1, 2, 4], now);
    const s = h.get('k', () => ({ a: 'b' }));
    for (const v of [0.5, 1, 1.5, 2, 4, 4.0001, 100]) s.record(v);
    const data = h.toMetricData();
    expect(data.dataPointType).toBe(DataPointType.HISTOGRAM);
    const value = data.dataPoints[0]!.value as Histogram;
    expect(value.buckets).toEqual({ boundaries: [1, 2, 4], counts: [2, 2, 1, 2] });
    expect(value.count).toBe(7);
    expect(value.sum).toBeCloseTo(0.5 + 1 + 1.5 + 2 + 4 + 4.0001 + 100);
    expect([value.min, value.max]).toEqual([0.5, 100]);
  });

  it('returns the same series for the same key and builds its attributes only once', () => {
    const h = new HistogramFamily(desc, [1], now);
    let built = 0;
    const attrs = () => (built++, { k: 'v' });
    expect(h.get('k', attrs)).toBe(h.get('k', attrs));
    expect(built).toBe(1);
  });

  it('sends series past the limit to one overflow series, as the SDK does', () => {
    const c = new CounterFamily(desc, now, 3);
    for (let i = 0; i < 10; i++) c.get(`k${i}`, () => ({ i })).add(1);
    const data = c.toMetricData();
    expect(data.dataPoints).toHaveLength(4);
    expect(data.dataPoints.at(-1)).toMatchObject({ attributes: OVERFLOW_ATTRIBUTES, value: 7 });
  });
});

describe('CounterFamily', () => {
  it('exports a monotonic cumulative sum per series with its start time', () => {
    const c = new CounterFamily(desc, now);
    c.get('a', () => ({ x: 'a' })).add(2);
    c.get('a', () => ({ x: 'a' })).add(0.5);
    c.get('b', () => ({ x: 'b' })).add(1);
    const data = c.toMetricData();
    expect(data).toMatchObject({ dataPointType: DataPointType.SUM, isMonotonic: true });
    expect(data.dataPoints.map((p) => [p.attributes, p.value])).toEqual([
      [{ x: 'a' }, 2.5],
      [{ x: 'b' }, 1],
    ]);
    expect(data.dataPoints[0]!.startTime).toEqual([1_700_000_000, 123_000_000]);
  });
});

describe('series are keyed by their exported attributes', () => {
  it('gives two keys with equal attributes one series, whatever the key order of the attributes', () => {
    const c = new CounterFamily(desc, now);
    c.get('chat.completions|chat', () => ({ op: 'chat', route: 'chat' })).add(1);
    c.get('responses|chat', () => ({ route: 'chat', op: 'chat' })).add(2);
    const data = c.toMetricData();
    expect(data.dataPoints.map((p) => [p.attributes, p.value])).toEqual([[{ op: 'chat', route: 'chat' }, 3]]);
  });

  it('treats label values as Prometheus does: 8000 equals "8000", an empty value equals none', () => {
    const h = new HistogramFamily(desc, [1], now);
    h.get('a', () => ({ port: 8000, error: '' })).record(0.5);
    h.get('b', () => ({ port: '8000' })).record(0.5);
    expect(h.toMetricData().dataPoints).toHaveLength(1);
    expect(labelKey({ b: 1, a: 'x' })).toBe(labelKey({ a: 'x', b: '1', c: undefined }));
  });

  it('counts the limit in exported series, not in keys', () => {
    const c = new CounterFamily(desc, now, 2);
    for (let i = 0; i < 10; i++) c.get(`k${i}`, () => ({ same: 'labels' })).add(1);
    c.get('other', () => ({ other: 'labels' })).add(1);
    expect(c.toMetricData().dataPoints.map((p) => p.value)).toEqual([10, 1]);
  });
});
