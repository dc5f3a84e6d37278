import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CompactdError } from '../../src/model/errors.js';
import { I64_MAX, I64_MIN, compareBytes, compareUpdates, consolidate, type Update } from '../../src/model/update.js';
import { advanceBy } from '../../src/model/timestamp.js';
import { antichain, smallCoord, update } from './arb.js';

const b = (...xs: number[]) => new Uint8Array(xs);
const u = (k: number[], v: number[], t: bigint[], d: bigint): Update => ({ k: b(...k), v: b(...v), t, d });

function outOfRange(f: () => unknown): boolean {
  try {
    f();
    return false;
  } catch (err) {
    return err instanceof CompactdError && err.kind === 'out_of_range';
  }
}

describe('compareBytes', () => {
  it('is unsigned and lexicographic with shorter prefixes first', () => {
    expect(compareBytes(b(0x7f), b(0x80))).toBeLessThan(0);
    expect(compareBytes(b(0xff), b(0x00, 0x00))).toBeGreaterThan(0);
    expect(compareBytes(b(1, 2), b(1, 2, 0))).toBeLessThan(0);
    expect(compareBytes(b(), b())).toBe(0);
    expect(compareBytes(b(3, 4), b(3, 4))).toBe(0);
  });
});

describe('consolidate: hand cases', () => {
  it('cancels opposite diffs and drops the empty result', () => {
    expect(consolidate([u([1], [1], [5n], 1n), u([1], [1], [5n], -1n)], [[0n]])).toEqual([]);
  });

  it('sums equal (k, v, t) and keeps distinct ones apart', () => {
    const out = consolidate([u([1], [1], [5n], 2n), u([1], [2], [5n], 1n), u([1], [1], [5n], 3n), u([1], [1], [6n], 1n)], [[0n]]);
    expect(out).toEqual([u([1], [1], [5n], 5n), u([1], [1], [6n], 1n), u([1], [2], [5n], 1n)]);
  });

  it('advances times by since before summing (D = 1: max)', () => {
    const out = consolidate([u([1], [], [3n], 1n), u([1], [], [7n], 1n), u([1], [], [12n], 1n), u([0], [], [1n], -1n)], [[10n]]);
    expect(out).toEqual([u([0], [], [10n], -1n), u([1], [], [10n], 2n), u([1], [], [12n], 1n)]);
  });

  it('advances partially ordered times: since {(10,0)}', () => {
    const out = consolidate(
      [u([1], [], [0n, 10n], 1n), u([1], [], [5n, 10n], 1n), u([1], [], [5n, 5n], 1n), u([1], [], [10n, 5n], -1n), u([1], [], [10n, 0n], 4n)],
      [[10n, 0n]],
    );
    expect(out).toEqual([u([1], [], [10n, 0n], 4n), u([1], [], [10n, 10n], 2n)]);
  });

  it('leaves times alone under the empty since', () => {
    const input = [u([2], [], [9n], 1n), u([1], [], [3n], 1n)];
    expect(consolidate(input, [])).toEqual([input[1], input[0]]);
  });

  it('sorts by key, then value, then time, bytes unsigned', () => {
    const out = consolidate([u([0x80], [], [1n], 1n), u([0x7f], [1], [1n], 1n), u([0x7f], [0], [2n], 1n), u([0x7f], [0], [1n], 1n)], [[0n]]);
    expect(out.map((x) => [x.k[0], x.v[0], x.t[0]])).toEqual([[0x7f, 0, 1n], [0x7f, 0, 2n], [0x7f, 1, 1n], [0x80, undefined, 1n]]);
  });

  it('exact i64 sums: in-range totals pass even when a prefix would overflow', () => {
    expect(consolidate([u([1], [], [1n], I64_MAX), u([1], [], [1n], 1n), u([1], [], [1n], -1n)], [])).toEqual([u([1], [], [1n], I64_MAX)]);
    expect(consolidate([u([1], [], [1n], I64_MIN), u([1], [], [1n], I64_MAX)], [])).toEqual([u([1], [], [1n], -1n)]);
  });

  it('a total outside i64 is OUT_OF_RANGE, never a wrap', () => {
    expect(outOfRange(() => consolidate([u([1], [], [1n], I64_MAX), u([1], [], [1n], 1n)], []))).toBe(true);
    expect(outOfRange(() => consolidate([u([1], [], [1n], I64_MIN), u([1], [], [1n], -1n)], []))).toBe(true);
    // Distinct times that collapse under since can also overflow.
    expect(outOfRange(() => consolidate([u([1], [], [1n], I64_MAX), u([1], [], [2n], I64_MAX)], [[5n]]))).toBe(true);
    expect(outOfRange(() => consolidate([u([1], [], [1n], I64_MAX), u([1], [], [2n], I64_MAX)], [[0n]]))).toBe(false);
  });
});

describe.each([1, 2])('consolidate: properties, D = %i', (D) => {
  const updates = fc.array(update(D), { maxLength: 40 });
  const since = antichain(D, smallCoord);

  /** The plain meaning: a map from (k, v, advanced t) to the summed diff. */
  function asMap(us: readonly Update[]): Map<string, bigint> {
    const m = new Map<string, bigint>();
    for (const x of us) {
      const key = `${[...x.k]}|${[...x.v]}|${x.t.join(',')}`;
      m.set(key, (m.get(key) ?? 0n) + x.d);
    }
    for (const [k, d] of m) if (d === 0n) m.delete(k);
    return m;
  }

  it('is sorted, strictly increasing, free of zeros, idempotent, and keeps the collection', () => {
    fc.assert(
      fc.property(updates, since, (us, s) => {
        const out = consolidate(us, s);
        for (let i = 1; i < out.length; i++) expect(compareUpdates(out[i - 1], out[i])).toBeLessThan(0);
        for (const x of out) expect(x.d).not.toBe(0n);
        expect(consolidate(out, s)).toEqual(out);
        const sum = (xs: readonly Update[]) => xs.reduce((a, x) => a + x.d, 0n);
        expect(sum(out)).toBe(sum(us));
        expect(asMap(out)).toEqual(asMap(us.map((x) => ({ ...x, t: advanceBy(x.t, s) }))));
      }),
      { numRuns: 100 },
    );
  });

  it('consolidating parts separately, then together, equals consolidating everything', () => {
    fc.assert(
      fc.property(updates, updates, since, (a, bb, s) => {
        expect(consolidate([...consolidate(a, s), ...consolidate(bb, s)], s)).toEqual(consolidate([...a, ...bb], s));
      }),
      { numRuns: 100 },
    );
  });
});
