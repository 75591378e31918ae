/**
 * Latency samples and the summaries the benchmark reports: percentiles and medians.
 *
 * @module
 */

/**
 * A growable list of numbers (latencies in ms), kept in a typed array so that recording one costs
 * no allocation.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Samples } from "./stats.ts";
 *
 * const samples = new Samples();
 * for (let i = 1; i <= 100; i++) samples.add(i);
 * assert.equal(samples.percentile(50), 50);
 * assert.equal(samples.percentile(99), 99);
 * assert.equal(samples.max(), 100);
 * ```
 */
export class Samples {
  #values = new Float64Array(1 << 16);
  #count = 0;
  #sorted = true;

  /** How many samples were recorded. */
  get count(): number {
    return this.#count;
  }

  /** Record one sample. */
  add(value: number): void {
    if (this.#count === this.#values.length) {
      const grown = new Float64Array(this.#values.length * 2);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.#count++] = value;
    this.#sorted = false;
  }

  /** The `p`-th percentile (nearest rank), or `NaN` without samples. */
  percentile(p: number): number {
    if (this.#count === 0) return NaN;
    const values = this.#sortedValues();
    const rank = Math.ceil((p / 100) * this.#count);
    return values[Math.min(this.#count, Math.max(1, rank)) - 1];
  }

  /** The largest sample, or `NaN` without samples. */
  max(): number {
    return this.#count === 0 ? NaN : this.#sortedValues()[this.#count - 1];
  }

  #sortedValues(): Float64Array {
    const values = this.#values.subarray(0, this.#count);
    if (!this.#sorted) {
      values.sort();
      this.#sorted = true;
    }
    return values;
  }
}

/**
 * The median of `values` (the mean of the middle two for an even count); `NaN` when empty or when
 * every value is `NaN`. `NaN` entries (failed runs) are left out.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { median } from "./stats.ts";
 *
 * assert.equal(median([3, 1, 2]), 2);
 * assert.equal(median([4, 1, 2, 3]), 2.5);
 * ```
 */
export function median(values: readonly number[]): number {
  const sorted = values.filter((value) => !Number.isNaN(value)).sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}
