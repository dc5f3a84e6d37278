import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareUpdates, consolidate, type Update } from '../../src/model/update.js';
import { decodePart } from '../../src/part/decode.js';
import { encodePart } from '../../src/part/encode.js';
import { columnsFromUpdates } from '../../src/part/rows.js';
import { checkOrdered, compareByteRanges, compareRows } from '../../src/part/validate.js';
import { update } from '../model/arb.js';
import { anyUpdate, caught, metaOf } from './util.js';

const NAME = 's/c1/p7';
const DIMS = [1, 2, 3];
const sign = (x: number): number => (x > 0 ? 1 : x < 0 ? -1 : 0);

/** Sorted, consolidated updates over a small alphabet (so neighbours often share k and v). */
const consolidated = (dims: number): fc.Arbitrary<Update[]> =>
  fc.array(update(dims), { maxLength: 60 }).map((us) => consolidate(us, []));

function expectRejected(updates: Update[], dims: number, detail: RegExp): void {
  const err = caught(() => checkOrdered(columnsFromUpdates(updates, dims), NAME));
  expect(err.kind).toBe('data_loss');
  expect(err.message).toContain(NAME);
  expect(err.message).toMatch(detail);
}

describe('compareRows', () => {
  it('agrees with the reference row order, across different parts', () => {
    for (const dims of DIMS) {
      fc.assert(
        fc.property(fc.array(update(dims), { minLength: 1, maxLength: 20 }), fc.array(anyUpdate(dims), { minLength: 1, maxLength: 20 }), (xs, ys) => {
          const a = columnsFromUpdates(xs, dims);
          const b = columnsFromUpdates(ys, dims);
          for (let i = 0; i < xs.length; i++) {
            for (let j = 0; j < ys.length; j++) {
              expect(sign(compareRows(a, i, b, j))).toBe(sign(compareUpdates(xs[i], ys[j])));
              expect(sign(compareRows(b, j, a, i))).toBe(sign(compareUpdates(ys[j], xs[i])));
            }
            expect(compareRows(a, i, a, i)).toBe(0);
          }
        }),
        { numRuns: 40 },
      );
    }
  });

  it('compares time coordinates as unsigned 64-bit integers', () => {
    const k = new Uint8Array([1]);
    const cols = columnsFromUpdates(
      [
        { k, v: k, t: [1n << 63n], d: 1n },
        { k, v: k, t: [(1n << 64n) - 1n], d: 1n },
        { k, v: k, t: [5n], d: 1n },
      ],
      1,
    );
    expect(compareRows(cols, 2, cols, 0)).toBeLessThan(0);
    expect(compareRows(cols, 0, cols, 1)).toBeLessThan(0);
  });

  it('compares bytes unsigned, shorter prefix first', () => {
    const b = Uint8Array.of(0x01, 0xff, 0x7f, 0x01);
    expect(compareByteRanges(b, 0, 1, b, 1, 2)).toBeLessThan(0); // 0x01 < 0xff
    expect(compareByteRanges(b, 1, 2, b, 2, 3)).toBeGreaterThan(0); // 0xff > 0x7f
    expect(compareByteRanges(b, 0, 1, b, 3, 4)).toBe(0);
    expect(compareByteRanges(b, 0, 1, b, 0, 2)).toBeLessThan(0);
    expect(compareByteRanges(b, 0, 0, b, 2, 2)).toBe(0);
  });

  it('works on decoded views whose offsets do not start at 0', () => {
    fc.assert(
      fc.property(consolidated(2), (updates) => {
        const cols = decodePart(encodePart(columnsFromUpdates(updates, 2), metaOf(2)), NAME).cols;
        for (let i = 1; i < updates.length; i++) expect(compareRows(cols, i - 1, cols, i)).toBeLessThan(0);
      }),
      { numRuns: 30 },
    );
  });
});

describe('checkOrdered', () => {
  it('accepts sorted consolidated parts, before and after a round trip', () => {
    for (const dims of DIMS) {
      fc.assert(
        fc.property(consolidated(dims), (updates) => {
          const cols = columnsFromUpdates(updates, dims);
          checkOrdered(cols, NAME);
          checkOrdered(decodePart(encodePart(cols, metaOf(dims)), NAME).cols, NAME);
        }),
        { numRuns: 50 },
      );
    }
  });

  it('rejects unsorted rows', () => {
    for (const dims of DIMS) {
      fc.assert(
        fc.property(consolidated(dims), fc.nat(), (updates, at) => {
          fc.pre(updates.length >= 2);
          const i = 1 + (at % (updates.length - 1));
          const swapped = updates.slice();
          [swapped[i - 1], swapped[i]] = [swapped[i], swapped[i - 1]];
          expectRejected(swapped, dims, new RegExp(`not sorted: row ${i} sorts before row ${i - 1}`));
        }),
        { numRuns: 50 },
      );
    }
  });

  it('rejects rows with equal (k, v, t)', () => {
    for (const dims of DIMS) {
      fc.assert(
        fc.property(consolidated(dims), fc.nat(), fc.bigInt({ min: 1n, max: 5n }), (updates, at, d) => {
          fc.pre(updates.length >= 1);
          const i = at % updates.length;
          const dup = [...updates.slice(0, i + 1), { ...updates[i], d }, ...updates.slice(i + 1)];
          expectRejected(dup, dims, new RegExp(`not consolidated: rows ${i} and ${i + 1} have equal`));
        }),
        { numRuns: 50 },
      );
    }
  });

  it('rejects zero diffs', () => {
    for (const dims of DIMS) {
      fc.assert(
        fc.property(consolidated(dims), fc.nat(), (updates, at) => {
          fc.pre(updates.length >= 1);
          const i = at % updates.length;
          const zeroed = updates.map((u, j) => (j === i ? { ...u, d: 0n } : u));
          expectRejected(zeroed, dims, new RegExp(`row ${i} has diff 0`));
        }),
        { numRuns: 50 },
      );
    }
  });

  it('distinguishes times that differ only in a later coordinate', () => {
    const k = new Uint8Array([7]);
    const rows = (t1: bigint[], t2: bigint[]): Update[] => [
      { k, v: k, t: t1, d: 1n },
      { k, v: k, t: t2, d: 1n },
    ];
    checkOrdered(columnsFromUpdates(rows([1n, 2n, 3n], [1n, 2n, 4n]), 3), NAME);
    expectRejected(rows([1n, 2n, 4n], [1n, 2n, 3n]), 3, /not sorted/);
    expectRejected(rows([1n, 2n, 3n], [1n, 2n, 3n]), 3, /equal \(k, v, t\)/);
    checkOrdered(columnsFromUpdates([], 2), NAME);
  });
});
