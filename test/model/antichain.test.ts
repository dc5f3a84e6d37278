import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  beyond,
  equals,
  format,
  isAntichain,
  isMinimum,
  lessEqual,
  lessThan,
  minimumFrontier,
  normalize,
  type Antichain,
} from '../../src/model/antichain.js';
import { compareLex, lessEqual as tsLessEqual } from '../../src/model/timestamp.js';
import { antichain, smallCoord, timestamp } from './arb.js';

const RUNS = { numRuns: 100 };

describe('normalize', () => {
  it('keeps exactly the minimal elements, deduplicated and sorted', () => {
    expect(normalize([[3n, 1n], [1n, 3n], [2n, 2n], [3n, 3n], [1n, 3n]])).toEqual([[1n, 3n], [2n, 2n], [3n, 1n]]);
    expect(normalize([[5n], [2n], [7n]])).toEqual([[2n]]);
    expect(normalize([])).toEqual([]);
  });

  describe.each([1, 2, 3])('D = %i', (D) => {
    const elems = fc.array(timestamp(D, smallCoord), { maxLength: 6 });

    it('yields an antichain that generates the same upward-closed set', () => {
      fc.assert(
        fc.property(elems, timestamp(D, smallCoord), (xs, t) => {
          const n = normalize(xs);
          expect(isAntichain(n)).toBe(true);
          for (let i = 1; i < n.length; i++) expect(compareLex(n[i - 1], n[i])).toBeLessThan(0);
          expect(normalize(n)).toEqual(n);
          for (const e of n) expect(xs.some((x) => compareLex(x, e) === 0)).toBe(true);
          expect(beyond(n, t)).toBe(xs.some((x) => tsLessEqual(x, t)));
        }),
        RUNS,
      );
    });

    it('is insensitive to the order of its input', () => {
      fc.assert(
        fc.property(elems, (xs) => {
          expect(normalize([...xs].reverse())).toEqual(normalize(xs));
        }),
        RUNS,
      );
    });
  });
});

describe('frontier order', () => {
  describe.each([1, 2, 3])('D = %i', (D) => {
    const ac = antichain(D, smallCoord);

    it('lessEqual is a partial order; lessThan is its strict part', () => {
      fc.assert(
        fc.property(ac, ac, ac, (a, b, c) => {
          expect(lessEqual(a, a)).toBe(true);
          expect(lessThan(a, a)).toBe(false);
          if (lessEqual(a, b) && lessEqual(b, a)) expect(equals(a, b)).toBe(true);
          if (lessEqual(a, b) && lessEqual(b, c)) expect(lessEqual(a, c)).toBe(true);
          expect(lessThan(a, b)).toBe(lessEqual(a, b) && !equals(a, b));
          if (lessThan(a, b)) expect(lessThan(b, a)).toBe(false);
        }),
        RUNS,
      );
    });

    it('A <= B iff every time beyond B is beyond A', () => {
      fc.assert(
        fc.property(ac, ac, fc.array(timestamp(D, smallCoord), { maxLength: 8 }), (a, b, probes) => {
          if (lessEqual(a, b)) for (const t of [...probes, ...b]) if (beyond(b, t)) expect(beyond(a, t)).toBe(true);
          // Conversely, an element of B not beyond A witnesses that A <= B fails.
          if (!lessEqual(a, b)) expect(b.some((t) => !beyond(a, t))).toBe(true);
        }),
        RUNS,
      );
    });

    it('the minimum frontier is below everything and the empty frontier above everything', () => {
      fc.assert(
        fc.property(ac, timestamp(D, smallCoord), (a, t) => {
          expect(lessEqual(minimumFrontier(D), a)).toBe(true);
          expect(lessEqual(a, [])).toBe(true);
          expect(beyond(minimumFrontier(D), t)).toBe(true);
          expect(beyond([], t)).toBe(false);
        }),
        RUNS,
      );
    });
  });

  it('hand cases', () => {
    const a: Antichain = [[0n, 5n], [5n, 0n]];
    expect(beyond(a, [5n, 5n])).toBe(true);
    expect(beyond(a, [4n, 4n])).toBe(false);
    expect(beyond(a, [0n, 9n])).toBe(true);
    expect(lessEqual(a, [[5n, 5n]])).toBe(true);
    expect(lessEqual([[5n, 5n]], a)).toBe(false);
    expect(lessThan(a, [[0n, 6n], [6n, 0n]])).toBe(true);
    expect(lessThan([[3n]], [[3n]])).toBe(false);
    expect(lessEqual([], [[1n]])).toBe(false);
    expect(lessEqual([[1n]], [])).toBe(true);
    expect(lessThan([[1n]], [])).toBe(true);
    expect(equals([[5n, 0n], [0n, 5n]], a)).toBe(true);
  });

  it('isAntichain, isMinimum and format', () => {
    expect(isAntichain([[1n, 2n], [2n, 1n]])).toBe(true);
    expect(isAntichain([[1n, 2n], [1n, 2n]])).toBe(false);
    expect(isAntichain([[1n, 1n], [2n, 1n]])).toBe(false);
    expect(isAntichain([])).toBe(true);
    expect(isMinimum(minimumFrontier(3))).toBe(true);
    expect(isMinimum([[0n, 1n]])).toBe(false);
    expect(isMinimum([])).toBe(false);
    expect(format([[1n, 2n], [3n, 0n]])).toBe('{(1,2), (3,0)}');
    expect(format([[7n]])).toBe('{7}');
    expect(format([])).toBe('{}');
  });
});
