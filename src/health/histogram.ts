/**
 * Log-spaced latency bins shared by every rolling window. Recording is one Math.log and an
 * array increment; a quantile is one walk over the bins. No sample is kept, nothing is sorted.
 */
import type { Quantiles } from './types.js';

/** Lower edge of the first regular bin, ms; anything faster lands in the underflow bin. */
export const HISTOGRAM_MIN_MS = 0.1;
/** Upper edge of the last regular bin, ms (10 minutes); anything slower lands in the overflow bin. */
export const HISTOGRAM_MAX_MS = 600_000;
/** Each bin is 5% wider than the previous one: a reported value is within ±2.5% of the samples in its bin. */
export const HISTOGRAM_GROWTH = 1.05;

const LOG_GROWTH = Math.log(HISTOGRAM_GROWTH);
const REGULAR_BINS = Math.ceil(Math.log(HISTOGRAM_MAX_MS / HISTOGRAM_MIN_MS) / LOG_GROWTH);

/** Bins per histogram: underflow, the regular log-spaced bins, overflow. */
export const HISTOGRAM_BINS = REGULAR_BINS + 2;

const OVERFLOW = HISTOGRAM_BINS - 1;

/** Bin for a latency in ms. Bin i (1 ≤ i ≤ REGULAR_BINS) holds [MIN·G^(i-1), MIN·G^i). */
export function binOf(ms: number): number {
  if (!(ms >= HISTOGRAM_MIN_MS)) return 0; // also catches NaN
  const i = Math.floor(Math.log(ms / HISTOGRAM_MIN_MS) / LOG_GROWTH) + 1;
  return i > REGULAR_BINS ? OVERFLOW : i;
}

/** Value reported for a bin: the geometric middle of its edges, clamped at both ends. */
export function binValue(bin: number): number {
  if (bin <= 0) return HISTOGRAM_MIN_MS;
  if (bin >= OVERFLOW) return HISTOGRAM_MAX_MS;
  return HISTOGRAM_MIN_MS * Math.pow(HISTOGRAM_GROWTH, bin - 0.5);
}

/** A zeroed histogram. */
export function newHistogram(): Uint32Array {
  return new Uint32Array(HISTOGRAM_BINS);
}

/**
 * p50/p95/p99 of `total` samples in one pass (nearest rank: the smallest value with at least
 * q·total samples at or below it). Undefined when there are no samples.
 */
export function quantilesOf(bins: Uint32Array, total: number): Quantiles | undefined {
  if (total <= 0) return undefined;
  const r50 = Math.ceil(0.5 * total);
  const r95 = Math.ceil(0.95 * total);
  const r99 = Math.ceil(0.99 * total);
  let p50 = -1;
  let p95 = -1;
  let seen = 0;
  for (let i = 0; i < bins.length; i++) {
    const n = bins[i] ?? 0;
    if (n === 0) continue;
    seen += n;
    if (p50 < 0 && seen >= r50) p50 = binValue(i);
    if (p95 < 0 && seen >= r95) p95 = binValue(i);
    if (seen >= r99) return { p50, p95, p99: binValue(i) };
  }
  // Only reached when `total` overstates the bins; report what is there.
  const last = binValue(bins.length - 1);
  return { p50: p50 < 0 ? last : p50, p95: p95 < 0 ? last : p95, p99: last };
}
