import { describe, expect, it } from 'vitest';
import { DEFAULT_EWMA_HALF_LIFE_MS, Ewma } from '../../../src/health/ewma.js';

describe('Ewma', () => {
  it('is undefined before the first sample and equal to it after', () => {
    const e = new Ewma();
    expect(e.halfLifeMs).toBe(DEFAULT_EWMA_HALF_LIFE_MS);
    expect(e.value).toBeUndefined();
    e.update(120, 1_000);
    expect(e.value).toBe(120);
  });

  it('halves an old sample’s weight per half-life of elapsed time', () => {
    const e = new Ewma(5_000);
    e.update(100, 0);
    e.update(200, 5_000);
    // weights 0.5 and 1: (50 + 200) / 1.5
    expect(e.value).toBeCloseTo(250 / 1.5, 9);
    const f = new Ewma(5_000);
    f.update(100, 0);
    f.update(200, 10_000);
    // weights 0.25 and 1
    expect(f.value).toBeCloseTo(225 / 1.25, 9);
  });

  it('counts every sample that shares a clock tick', () => {
    const e = new Ewma(5_000);
    e.update(100, 7);
    e.update(200, 7);
    e.update(300, 7);
    expect(e.value).toBeCloseTo(200, 9);
  });

  it('lets old history fade by elapsed time: twelve half-lives make 10,000 samples weigh about 1.3', () => {
    const one = new Ewma(5_000);
    one.update(100, 0);
    one.update(1_000, 60_000);
    expect(one.value).toBeGreaterThan(999);

    const many = new Ewma(5_000);
    for (let t = 0; t < 10_000; t++) many.update(100, t);
    for (let i = 0; i < 10; i++) many.update(1_000, 70_000);
    // (≈1.32 × 100 + 10 × 1000) / ≈11.32
    expect(many.value).toBeGreaterThan(890);
    expect(many.value).toBeLessThan(900);
  });

  it('moves halfway to a new level after one half-life at a steady rate', () => {
    const e = new Ewma(5_000);
    let t = 0;
    for (; t < 60_000; t++) e.update(100, t);
    for (const end = t + 5_000; t < end; t++) e.update(200, t);
    expect(e.value).toBeGreaterThan(148);
    expect(e.value).toBeLessThan(152);
  });

  it('reacts at the same speed whatever the sample rate', () => {
    const dense = new Ewma(5_000);
    const sparse = new Ewma(5_000);
    for (let t = 0; t < 60_000; t += 1) dense.update(100, t);
    for (let t = 0; t < 60_000; t += 100) sparse.update(100, t);
    for (let t = 60_000; t < 65_000; t += 1) dense.update(200, t);
    for (let t = 60_000; t < 65_000; t += 100) sparse.update(200, t);
    expect(Math.abs(dense.value! - sparse.value!)).toBeLessThan(2);
  });

  it('does not inflate old weight when the clock steps back', () => {
    const e = new Ewma(5_000);
    e.update(100, 10_000);
    e.update(300, 0);
    expect(e.value).toBeCloseTo(200, 9);
    e.update(100, 15_000);
    // decayed from 10_000, the latest reading: weights 0.5, 0.5, 1
    expect(e.value).toBeCloseTo((50 + 150 + 100) / 2, 9);
  });

  it('resets and refuses a non-positive half-life', () => {
    const e = new Ewma(1_000);
    e.update(5, 0);
    e.reset();
    expect(e.value).toBeUndefined();
    expect(() => new Ewma(0)).toThrow(RangeError);
  });
});
