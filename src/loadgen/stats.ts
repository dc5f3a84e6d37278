/**
 * Counting for the load generator: latencies kept whole (a run makes thousands of requests, not
 * millions) so percentiles are exact, and a seeded random source so a run's data is reproducible.
 */
import { seededRandom } from '../model/random.js';

/**
 * The nearest-rank percentile (0 < p <= 100) of `sorted` (ascending); NaN for no samples.
 * p50 of [1, 2, 3, 4] is 2, p100 is the maximum.
 */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** Latency samples in milliseconds. */
export class Latencies {
  readonly #samples: number[] = [];
  #sorted = true;

  add(ms: number): void {
    const n = this.#samples.length;
    if (n > 0 && ms < this.#samples[n - 1]) this.#sorted = false;
    this.#samples.push(ms);
  }

  get count(): number {
    return this.#samples.length;
  }

  /** The nearest-rank percentile; NaN without samples. */
  percentile(p: number): number {
    if (!this.#sorted) {
      this.#samples.sort((a, b) => a - b);
      this.#sorted = true;
    }
    return percentile(this.#samples, p);
  }
}

/** Mixes a run seed and a stream number into one 32-bit seed (distinct streams per shard). */
export function mixSeed(seed: number, stream: number): number {
  let h = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(stream + 1, 0x85ebca6b)) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d) >>> 0;
  return (h ^ (h >>> 15)) >>> 0;
}

export { seededRandom };
