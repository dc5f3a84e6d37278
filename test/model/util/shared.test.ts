import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mapLimit } from '../../../src/model/util/concurrency.js';
import { compareBytes } from '../../../src/model/util/bytes.js';
import { compareByteViews, viewOf } from '../../../src/part/validate.js';

describe('mapLimit', () => {
  it('keeps input order and never has more than `limit` calls pending', async () => {
    let pending = 0;
    let most = 0;
    const out = await mapLimit([5, 1, 4, 2, 3], 2, async (x, i) => {
      pending++;
      most = Math.max(most, pending);
      await new Promise((r) => setTimeout(r, x));
      pending--;
      return `${i}:${x}`;
    });
    expect(out).toEqual(['0:5', '1:1', '2:4', '3:2', '4:3']);
    expect(most).toBe(2);
  });

  it('starts nothing after the first failure, reports it once, and rejects with it', async () => {
    const started: number[] = [];
    const failures: unknown[] = [];
    const boom = new Error('boom');
    const run = mapLimit(
      [0, 1, 2, 3, 4, 5],
      2,
      async (x) => {
        started.push(x);
        await new Promise((r) => setTimeout(r, 1));
        if (x === 1) throw boom;
        if (x === 2) throw new Error('later');
        return x;
      },
      { onFailure: (e) => failures.push(e) },
    );
    await expect(run).rejects.toBe(boom);
    expect(failures).toEqual([boom]);
    expect(started).toEqual([0, 1, 2]);
  });
});

describe('byte order', () => {
  it('the merge\'s word-at-a-time comparator agrees in sign with the reference', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 12 }), fc.uint8Array({ maxLength: 12 }), (a, b) => {
        const ref = Math.sign(compareBytes(a, b));
        expect(Math.sign(compareByteViews(a, viewOf(a), 0, a.length, b, viewOf(b), 0, b.length))).toBe(ref);
        expect(Math.sign(compareBytes(b, a)) + 0).toBe(-ref + 0); // + 0: no negative zero
      }),
    );
  });
});
