/**
 * The key prefixes the merge and the order check compare first: wherever two prefixes differ they
 * order the keys as the full bytewise comparison does, and equal keys have equal prefixes. Keys
 * of 0..20 bytes, sharing long prefixes, full of 0x00 and 0xff bytes. And the one-pass order check
 * sums the diffs exactly, across the blocks it folds them in.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { allocColumns } from '../../src/part/columns.js';
import { columnsFromUpdates } from '../../src/part/rows.js';
import { sumDiffs } from '../../src/compact/source.js';
import { checkOrderedSum, compareByteRanges, keyPrefix, keyPrefixes, viewOf } from '../../src/part/validate.js';
import { consolidate } from '../../src/model/update.js';
import { update } from '../model/arb.js';

const sign = (x: number): number => (x > 0 ? 1 : x < 0 ? -1 : 0);

/** Bytes biased to the edges (0x00, 0xff) and to a few shared stems, 0..20 long. */
const byteArb = fc.oneof(fc.constantFrom(0x00, 0xff, 0x01, 0xfe, 0x80, 0x7f), fc.integer({ min: 0, max: 255 }));
const keyArb = fc.oneof(
  fc.uint8Array({ maxLength: 20 }),
  fc.array(byteArb, { maxLength: 20 }).map((b) => Uint8Array.from(b)),
  fc
    .tuple(fc.constantFrom([], [0], [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff], [1, 2, 3, 4, 5, 6, 7, 8, 9]), fc.array(byteArb, { maxLength: 12 }))
    .map(([stem, tail]) => Uint8Array.from([...stem, ...tail])),
);

/** The prefix of `k` as stored at offset `at` of a larger buffer (rows never start at 0). */
function prefixAt(k: Uint8Array, at: number): number {
  const buf = new Uint8Array(at + k.length + 3).fill(0xaa);
  buf.set(k, at);
  return keyPrefix(buf, viewOf(buf), at, at + k.length);
}

describe('keyPrefix', () => {
  it('orders keys as the bytes do wherever prefixes differ, and equal keys have equal prefixes', () => {
    fc.assert(
      fc.property(keyArb, keyArb, fc.integer({ min: 0, max: 9 }), (a, b, at) => {
        const pa = prefixAt(a, at);
        const pb = prefixAt(b, at + 1);
        expect(Number.isSafeInteger(pa)).toBe(true);
        const bytes = sign(compareByteRanges(a, 0, a.length, b, 0, b.length));
        if (pa !== pb) expect(sign(pa - pb)).toBe(bytes);
        if (bytes === 0) expect(pa).toBe(pb);
        // Appending bytes never lowers a prefix (a key sorts before its extensions).
        expect(prefixAt(Uint8Array.from([...a, ...b]), at)).toBeGreaterThanOrEqual(pa);
      }),
      { numRuns: 3000 },
    );
  });

  it('tells apart keys that differ in their first 53 bits only', () => {
    const ones = new Uint8Array(8).fill(0xff);
    const top = prefixAt(ones, 0);
    expect(top).toBe(2 ** 53 - 1);
    expect(prefixAt(new Uint8Array(0), 0)).toBe(0);
    expect(prefixAt(Uint8Array.of(0), 0)).toBe(0);
    // Bits past the 53rd do not count: these keys need the bytes to be told apart.
    expect(prefixAt(Uint8Array.of(0, 0, 0, 0, 0, 0, 0x07), 0)).toBe(0);
    expect(prefixAt(Uint8Array.of(0, 0, 0, 0, 0, 0, 0x08), 0)).toBe(1);
    expect(prefixAt(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00), 0)).toBe(top);
  });

  it('keyPrefixes gives every row its key prefix', () => {
    fc.assert(
      fc.property(fc.array(update(1), { maxLength: 30 }), (us) => {
        const cols = columnsFromUpdates(us, 1);
        const got = keyPrefixes(cols);
        expect(got.length).toBe(us.length);
        us.forEach((u, i) => expect(got[i]).toBe(prefixAt(u.k, 0)));
      }),
      { numRuns: 100 },
    );
  });
});

describe('checkOrderedSum', () => {
  it('returns the exact sum of the diffs of an ordered part', () => {
    for (const dims of [1, 2]) {
      fc.assert(
        fc.property(fc.array(update(dims), { maxLength: 60 }), (us) => {
          let rows;
          try {
            rows = consolidate(us, []);
          } catch {
            return; // sums beyond i64: not a part a writer can store
          }
          const cols = columnsFromUpdates(rows, dims);
          expect(checkOrderedSum(cols, 'p')).toBe(rows.reduce((s, u) => s + u.d, 0n));
          expect(checkOrderedSum(cols, 'p')).toBe(sumDiffs(cols, null));
        }),
        { numRuns: 100 },
      );
    }
  });

  it('sums exactly across the blocks it folds (more than 2^20 rows of extreme diffs)', () => {
    const len = (1 << 20) + 7;
    const cols = allocColumns(len, 1, 0, 0);
    let expected = 0n;
    for (let i = 0; i < len; i++) {
      cols.t[i] = BigInt(i); // empty keys and values: ordered by time
      const d = i % 3 === 0 ? -(2n ** 63n) : i % 3 === 1 ? 2n ** 63n - 1n : BigInt(i);
      cols.d[i] = d;
      expected += d;
    }
    expect(checkOrderedSum(cols, 'p')).toBe(expected);
  });
});
