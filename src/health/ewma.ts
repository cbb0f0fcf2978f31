/**
 * A time-decayed moving average: the fast-reacting latency signal the router scores with
 * (the rolling window's quantiles are the slower, steadier view).
 */

/** Default half-life: a sample's weight halves every 5 s. */
export const DEFAULT_EWMA_HALF_LIFE_MS = 5_000;

/**
 * Exponentially weighted mean whose decay depends on elapsed time, not on the number of
 * samples. Each sample enters with weight 1; all weights halve every `halfLifeMs`. The value
 * is Σ wᵢxᵢ / Σ wᵢ, so
 * - a backend sampled once a minute follows its latest sample almost fully, while one sampled
 *   a thousand times a second needs about one half-life to move halfway to a new level;
 * - samples that share a clock tick all count (a per-sample α of 1 - 2^(-Δt/h) would drop
 *   every sample after the first one in the same millisecond);
 * - there is no start-up bias toward zero.
 * The clock is passed in; nothing here reads time.
 */
export class Ewma {
  private weightedSum = 0;
  private weight = 0;
  private lastMs = 0;

  constructor(readonly halfLifeMs: number = DEFAULT_EWMA_HALF_LIFE_MS) {
    if (!(halfLifeMs > 0)) throw new RangeError(`EWMA half-life must be positive, got ${halfLifeMs}`);
  }

  /** Adds a sample observed at `nowMs`. */
  update(sample: number, nowMs: number): void {
    const elapsed = nowMs - this.lastMs;
    // A clock that steps backwards decays nothing rather than inflating old weight.
    if (this.weight > 0 && elapsed > 0) {
      const decay = Math.pow(2, -elapsed / this.halfLifeMs);
      this.weightedSum *= decay;
      this.weight *= decay;
    }
    if (this.weight === 0 || elapsed > 0) this.lastMs = nowMs;
    this.weightedSum += sample;
    this.weight += 1;
  }

  /** The current average; undefined before the first sample. Decay scales sum and weight alike, so reading needs no clock. */
  get value(): number | undefined {
    return this.weight > 0 ? this.weightedSum / this.weight : undefined;
  }

  /** Forgets every sample. */
  reset(): void {
    this.weightedSum = 0;
    this.weight = 0;
    this.lastMs = 0;
  }
}
