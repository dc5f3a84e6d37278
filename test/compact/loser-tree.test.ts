/**
 * The merge's tournament tree against a plain sort: draining sorted leaves through it gives every
 * value in (value, leaf) order, for any number of leaves (not only powers of two), with heads that
 * are coarse (so many comparisons fall to the tie-breaker), empty leaves, and stretches taken
 * against the runner-up instead of replaying.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { LoserTree } from '../../src/compact/loser-tree.js';

interface Drain {
  readonly order: [number, number][];
  readonly replays: number;
}

/**
 * Drains `leaves` (each sorted) through a tree whose heads are value / coarse, rounded down.
 * With `stretch`, a leaf that wins twice in a row keeps going while it stays below the runner-up,
 * as the merge does, and the runner-up is checked against a brute-force minimum each time.
 */
function drain(leaves: number[][], coarse: number, stretch: boolean): Drain {
  const n = leaves.length;
  const pos = leaves.map(() => 0);
  const value = (i: number): number => leaves[i][pos[i]];
  const lessExact = (a: number, b: number): boolean => value(a) < value(b) || (value(a) === value(b) && a < b);
  const tree = new LoserTree(n, (a, b) => {
    // Equal heads: the full order, finished leaves (head Infinity) by index.
    if (tree.heads[a] === Infinity) return a < b;
    return lessExact(a, b);
  });
  const setHead = (i: number): void => {
    tree.heads[i] = pos[i] < leaves[i].length ? Math.floor(value(i) / coarse) : Infinity;
  };
  for (let i = 0; i < n; i++) setHead(i);
  tree.build();
  const order: [number, number][] = [];
  let replays = 0;
  let rival = -1;
  let w = tree.winner;
  while (tree.heads[w] !== Infinity) {
    order.push([value(w), w]);
    pos[w]++;
    setHead(w);
    if (stretch && rival >= 0 && tree.heads[w] !== Infinity && tree.less(w, rival)) continue;
    tree.replay();
    replays++;
    const next = tree.winner;
    if (stretch && next === w) {
      rival = tree.runnerUp();
      let best = n;
      for (let i = 0; i < n; i++) if (i !== w && pos[i] < leaves[i].length && (best === n || lessExact(i, best))) best = i;
      if (best === n) expect(tree.heads[rival]).toBe(Infinity);
      else expect(rival).toBe(best);
    } else {
      rival = -1;
    }
    w = next;
  }
  return { order, replays };
}

const leavesArb = fc.array(
  fc.array(fc.integer({ min: 0, max: 60 }), { maxLength: 30 }).map((xs) => xs.sort((a, b) => a - b)),
  { minLength: 1, maxLength: 13 },
);

describe('LoserTree', () => {
  it('drains sorted leaves in (value, leaf) order, as a plain sort does', () => {
    fc.assert(
      fc.property(leavesArb, fc.constantFrom(1, 4, 1000), fc.boolean(), (leaves, coarse, stretch) => {
        const expected = leaves.flatMap((xs, i) => xs.map((x): [number, number] => [x, i]));
        expected.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
        expect(drain(leaves, coarse, stretch).order).toEqual(expected);
      }),
      { numRuns: 400 },
    );
  });

  it('replays once per stretch when one leaf holds a whole range', () => {
    // Leaf 1 holds 0..99, leaf 0 and leaf 2 only values above it: one stretch of 100 values.
    const leaves = [[200, 201], Array.from({ length: 100 }, (_, i) => i), [150]];
    const { order, replays } = drain(leaves, 1, true);
    expect(order.map(([x]) => x)).toEqual([...leaves[1], 150, 200, 201]);
    expect(replays).toBeLessThan(10);
    // Without stretches every value replays.
    expect(drain(leaves, 1, false).replays).toBe(103);
  });

  it('refuses an empty tree', () => {
    expect(() => new LoserTree(0, () => false)).toThrow(RangeError);
  });
});
