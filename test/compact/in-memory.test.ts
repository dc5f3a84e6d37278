/**
 * mergeInMemory: the engine's merge over runs already decoded, against the reference model.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mergeInMemory } from '../../src/compact/in-memory.js';
import { CompactdError } from '../../src/model/errors.js';
import { consolidate, type Update } from '../../src/model/update.js';
import { columnsFromUpdates, updatesFromColumns } from '../../src/part/rows.js';
import { ac, splitAt, ts, upd } from '../helpers/batches.js';

const row = fc.record({
  k: fc.constantFrom('a', 'b', 'key-0001', 'key-0002', 'key-00010', '').map((s) => new TextEncoder().encode(s)),
  v: fc.constantFrom('', 'x', 'yyyyy'),
  t: fc.integer({ min: 0, max: 9 }),
  d: fc.integer({ min: -2, max: 2 }),
});

describe('mergeInMemory', () => {
  it('consolidates sorted runs exactly as the reference does', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ rows: fc.array(row, { maxLength: 30 }), cuts: fc.array(fc.nat(30), { maxLength: 3 }) }), { maxLength: 4 }),
        fc.integer({ min: 0, max: 12 }),
        fc.integer({ min: 30, max: 400 }),
        async (runs, since, target) => {
          const all: Update[] = [];
          const columns = runs.map(({ rows, cuts }) => {
            const sorted = consolidate(rows.map((r) => ({ k: r.k, v: new TextEncoder().encode(r.v), t: ts(r.t), d: BigInt(r.d) })), []);
            all.push(...sorted);
            return splitAt(sorted, cuts).map((p) => columnsFromUpdates(p, 1));
          });
          const res = await mergeInMemory(columns, 1, ac([since]), target);
          const got = res.parts.flatMap(updatesFromColumns);
          expect(got).toEqual(consolidate(all, ac([since])));
          expect(res.rowsIn).toBe(all.length);
          expect(res.rowsOut).toBe(got.length);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('finds parts of a run out of order with each other', async () => {
    const run = [columnsFromUpdates([upd('b', 'v', 0, 1)], 1), columnsFromUpdates([upd('a', 'v', 0, 1)], 1)];
    const err = await mergeInMemory([run], 1, ac([0])).then(
      () => undefined,
      (e: unknown) => e as CompactdError,
    );
    expect(err?.kind).toBe('data_loss');
  });
});
