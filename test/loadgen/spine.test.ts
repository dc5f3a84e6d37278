/**
 * The load generator's spine policy and counting helpers: merging as soon as a level fills keeps
 * the shard a base-B counter of its appended batches; claimed entries are not offered again; the
 * compare-and-set applies only to entries still in place; percentiles are nearest-rank; the seeded
 * generator is reproducible.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { HollowBatch } from '../../src/model/batch.js';
import { Spine } from '../../src/loadgen/spine.js';
import { Latencies, mixSeed, percentile, seededRandom } from '../../src/loadgen/stats.js';

const batch = (lower: number, upper: number): HollowBatch => ({
  desc: { lower: [[BigInt(lower)]], upper: [[BigInt(upper)]], since: [[0n]] },
  runs: [],
  len: 0,
});

/** Merges (synchronously, as if every request came back applied) until the policy offers none. */
function settle(spine: Spine): number {
  let merges = 0;
  for (let pick = spine.pickMerge(); pick; pick = spine.pickMerge()) {
    const first = pick[0].batches[0];
    const last = pick.at(-1)!.batches.at(-1)!;
    spine.replace(pick, [batch(Number(first.desc.lower[0][0]), Number(last.desc.upper[0][0]))]);
    merges++;
  }
  return merges;
}

/** The digits of n in base b, most significant first, as one level per unit: 7 in base 2 -> [2, 1, 0]. */
function counterLevels(n: number, b: number): number[] {
  const digits: number[] = [];
  for (let x = n; x > 0; x = Math.floor(x / b)) digits.push(x % b);
  const levels: number[] = [];
  for (let level = digits.length - 1; level >= 0; level--) for (let i = 0; i < digits[level]; i++) levels.push(level);
  return levels;
}

describe('Spine', () => {
  it('merging whenever a level fills keeps the shard a base-B counter of its appended batches', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 5 }), fc.integer({ min: 1, max: 150 }), (b, n) => {
        const spine = new Spine(b);
        for (let i = 0; i < n; i++) {
          spine.append(batch(10 * i, 10 * i + 10));
          settle(spine);
        }
        expect(spine.entries.map((e) => spine.level(e))).toEqual(counterLevels(n, b));
        expect(spine.entries.reduce((w, e) => w + e.weight, 0)).toBe(n);
        const all = spine.batches();
        expect(all[0].desc.lower).toEqual([[0n]]);
        expect(all.at(-1)!.desc.upper).toEqual([[BigInt(10 * n)]]);
      }),
      { numRuns: 100 },
    );
  });

  it('does not offer claimed entries again, and offers them after release', () => {
    const spine = new Spine(2);
    for (let i = 0; i < 4; i++) spine.append(batch(i, i + 1));
    const first = spine.pickMerge()!;
    expect(first.map((e) => e.id)).toEqual([spine.entries[2].id, spine.entries[3].id]);
    spine.claim(first);
    const second = spine.pickMerge()!;
    expect(second.map((e) => e.id)).toEqual([spine.entries[0].id, spine.entries[1].id]);
    spine.claim(second);
    expect(spine.pickMerge()).toBeUndefined();
    spine.release(first);
    expect(spine.pickMerge()).toEqual(first);
  });

  it('applies a result only to entries still in place (compare-and-set)', () => {
    const spine = new Spine(2);
    for (let i = 0; i < 2; i++) spine.append(batch(i, i + 1));
    const pick = spine.pickMerge()!;
    const winner = spine.replace(pick, [batch(0, 2)]);
    expect(winner).toBeDefined();
    expect(spine.entries).toEqual([winner]);
    // A second compaction of the same inputs lost the race: nothing changes.
    expect(spine.replace(pick, [batch(0, 2)])).toBeUndefined();
    expect(spine.entries).toEqual([winner]);
    // Skipped results group their inputs: the weights add up.
    spine.append(batch(2, 3));
    spine.append(batch(3, 4));
    const grouped = spine.replace(spine.entries.slice(1), [batch(2, 3), batch(3, 4)])!;
    expect(grouped.weight).toBe(2);
    expect(spine.batches()).toHaveLength(3);
  });

  it('refuses non-consecutive appends, results that span another range, and a fan-out below 2', () => {
    const spine = new Spine(2);
    spine.append(batch(0, 1));
    expect(() => spine.append(batch(2, 3))).toThrow(/does not continue/);
    spine.append(batch(1, 2));
    expect(() => spine.replace(spine.entries.slice(), [batch(0, 3)])).toThrow(/span/);
    expect(() => new Spine(1)).toThrow(/fan-out/);
  });
});

describe('stats', () => {
  it('percentiles are nearest-rank', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 90)).toBe(4);
    expect(percentile([1, 2, 3, 4], 100)).toBe(4);
    expect(percentile([7], 1)).toBe(7);
    expect(percentile([], 50)).toBeNaN();
    fc.assert(
      fc.property(fc.array(fc.double({ noNaN: true, min: 0, max: 1e6 }), { minLength: 1 }), fc.integer({ min: 1, max: 100 }), (xs, p) => {
        const l = new Latencies();
        for (const x of xs) l.add(x);
        const v = l.percentile(p);
        const below = xs.filter((x) => x <= v).length;
        // At least p% of the samples are <= the p-th percentile, and it is one of the samples.
        expect(below / xs.length).toBeGreaterThanOrEqual(p / 100 - 1e-12);
        expect(xs).toContain(v);
      }),
      { numRuns: 100 },
    );
  });

  it('the seeded generator repeats per seed and differs between streams', () => {
    const take = (f: () => number) => Array.from({ length: 5 }, f);
    expect(take(seededRandom(42))).toEqual(take(seededRandom(42)));
    expect(take(seededRandom(mixSeed(42, 0)))).not.toEqual(take(seededRandom(mixSeed(42, 1))));
    for (const x of take(seededRandom(7))) expect(x >= 0 && x < 1).toBe(true);
  });
});
