import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { beyond } from '../../src/model/antichain.js';
import { advanceBy, compareLex, equals, join, lessEqual, meet, minimum, type Timestamp } from '../../src/model/timestamp.js';
import { antichain, coord, nonEmptyAntichain, smallCoord, timestamp } from './arb.js';

const RUNS = { numRuns: 100 };
const tsArb = (d: number) => timestamp(d, smallCoord);
const acArb = (d: number) => antichain(d, smallCoord);

describe.each([1, 2, 3])('lattice laws, D = %i', (D) => {
  const t = tsArb(D);

  it('join and meet are associative, commutative and idempotent', () => {
    fc.assert(
      fc.property(t, t, t, (a, b, c) => {
        expect(join(join(a, b), c)).toEqual(join(a, join(b, c)));
        expect(meet(meet(a, b), c)).toEqual(meet(a, meet(b, c)));
        expect(join(a, b)).toEqual(join(b, a));
        expect(meet(a, b)).toEqual(meet(b, a));
        expect(join(a, a)).toEqual(a);
        expect(meet(a, a)).toEqual(a);
      }),
      RUNS,
    );
  });

  it('absorption holds and join/meet are the bounds of lessEqual', () => {
    fc.assert(
      fc.property(t, t, (a, b) => {
        expect(join(a, meet(a, b))).toEqual(a);
        expect(meet(a, join(a, b))).toEqual(a);
        expect(lessEqual(a, b)).toBe(equals(join(a, b), b));
        expect(lessEqual(a, b)).toBe(equals(meet(a, b), a));
        expect(lessEqual(a, join(a, b)) && lessEqual(b, join(a, b))).toBe(true);
        expect(lessEqual(meet(a, b), a) && lessEqual(meet(a, b), b)).toBe(true);
      }),
      RUNS,
    );
  });

  it('lessEqual is a partial order that the lexicographic row order extends', () => {
    fc.assert(
      fc.property(t, t, t, (a, b, c) => {
        expect(lessEqual(a, a)).toBe(true);
        if (lessEqual(a, b) && lessEqual(b, a)) expect(a).toEqual(b);
        if (lessEqual(a, b) && lessEqual(b, c)) expect(lessEqual(a, c)).toBe(true);
        if (lessEqual(a, b)) expect(compareLex(a, b)).toBeLessThanOrEqual(0);
        expect(Math.sign(compareLex(a, b)) + Math.sign(compareLex(b, a))).toBe(0);
      }),
      RUNS,
    );
  });

  it('advanceBy is monotone, idempotent, never moves a time back, and keeps t <= f for every f beyond since', () => {
    fc.assert(
      fc.property(t, t, acArb(D), t, (a, b, since, f) => {
        const adv = (x: Timestamp) => advanceBy(x, since);
        if (lessEqual(a, b)) expect(lessEqual(adv(a), adv(b))).toBe(true);
        expect(adv(adv(a))).toEqual(adv(a));
        expect(lessEqual(a, adv(a))).toBe(true);
        // The defining property: advancing cannot change how a time compares to any time at or beyond since.
        if (beyond(since, f)) expect(lessEqual(adv(a), f)).toBe(lessEqual(a, f));
      }),
      RUNS,
    );
  });

  it('advanceBy by a single time lands beyond it (the join)', () => {
    fc.assert(
      fc.property(t, t, (a, s) => {
        const r = advanceBy(a, [s]);
        expect(beyond([s], r)).toBe(true);
        expect(r).toEqual(join(a, s));
      }),
      RUNS,
    );
  });

  it('advanceBy by the empty frontier or the minimum leaves times unchanged', () => {
    fc.assert(
      fc.property(t, (a) => {
        expect(advanceBy(a, [])).toEqual(a);
        expect(advanceBy(a, [minimum(D)])).toEqual(a);
      }),
      RUNS,
    );
  });

  it('advanceBy is the meet of the joins with each element of since', () => {
    fc.assert(
      fc.property(t, nonEmptyAntichain(D, smallCoord), (a, since) => {
        const r = advanceBy(a, since);
        for (const s of since) expect(lessEqual(r, join(a, s))).toBe(true);
      }),
      RUNS,
    );
  });
});

describe('advanceBy examples', () => {
  it('D = 1 is max(t, s)', () => {
    fc.assert(
      fc.property(coord(), coord(), (t, s) => {
        expect(advanceBy([t], [[s]])).toEqual([t > s ? t : s]);
      }),
      RUNS,
    );
  });

  it.each([
    [[0n, 10n], [10n, 10n]],
    [[10n, 0n], [10n, 0n]],
    [[5n, 5n], [10n, 5n]],
    [[12n, 3n], [12n, 3n]],
  ])('since {(10,0)}: (%s) advances to (%s)', (t, expected) => {
    expect(advanceBy(t, [[10n, 0n]])).toEqual(expected);
  });

  it('a two-element since keeps a time below both where it is indistinguishable', () => {
    const since = [[0n, 10n], [10n, 0n]];
    expect(advanceBy([0n, 0n], since)).toEqual([0n, 0n]);
    expect(advanceBy([3n, 12n], since)).toEqual([3n, 12n]);
    expect(advanceBy([3n, 4n], since)).toEqual([3n, 4n]);
    expect(advanceBy([3n, 4n], [[5n, 5n]])).toEqual([5n, 5n]);
  });

  it('rejects operands of different dimensions', () => {
    expect(() => join([1n], [1n, 2n])).toThrow(RangeError);
    expect(() => lessEqual([1n, 2n], [1n])).toThrow(RangeError);
  });
});
