/**
 * The cardinality guard for label values that come from requests (tenants): the first `limit`
 * distinct values are kept as they are, every later one is reported as `other`. A value once
 * kept stays kept, so a tenant's series never changes name mid-life.
 */

export const OTHER = 'other';

export class LabelCap {
  private readonly kept = new Set<string>();

  /** @param limit distinct values kept before the rest are folded into `other`. */
  constructor(readonly limit: number) {}

  /** The label value to report for `value`. */
  label(value: string): string {
    if (this.kept.has(value)) return value;
    if (this.kept.size >= this.limit) return OTHER;
    this.kept.add(value);
    return value;
  }

  /** Distinct values kept so far. */
  get size(): number {
    return this.kept.size;
  }
}
