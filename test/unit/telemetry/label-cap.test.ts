import { describe, expect, it } from 'vitest';
import { LabelCap, OTHER } from '../../../src/telemetry/label-cap.js';

describe('LabelCap', () => {
  it('keeps the first `limit` distinct values and folds every later one into "other"', () => {
    const cap = new LabelCap(3);
    expect(['a', 'b', 'a', 'c', 'd', 'e'].map((v) => cap.label(v))).toEqual([
      'a',
      'b',
      'a',
      'c',
      OTHER,
      OTHER,
    ]);
    expect(cap.size).toBe(3);
  });

  it('keeps a value it already kept after the cap is reached', () => {
    const cap = new LabelCap(2);
    cap.label('a');
    cap.label('b');
    cap.label('c');
    expect(cap.label('a')).toBe('a');
  });

  it('never holds more than `limit` values, however many are offered', () => {
    const cap = new LabelCap(100);
    const labels = new Set<string>();
    for (let i = 0; i < 10_000; i++) labels.add(cap.label(`tenant-${i}`));
    expect(labels.size).toBe(101);
    expect(cap.size).toBe(100);
  });
});
