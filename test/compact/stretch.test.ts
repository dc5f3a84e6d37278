/**
 * Runs that hold whole stretches of the key space: the merge takes a run's rows against the
 * runner-up without replaying its tree while the run keeps winning. Stretches here end at part
 * boundaries, at output part boundaries (tiny targets), at keys another run also holds (equal
 * (k, v) that sum or cancel, equal keys with other values) and at keys whose first 7 bytes are
 * equal (the prefix ties); the output must be the reference consolidation.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryBlob } from '../../src/blob/memory.js';
import { DEFAULT_ENGINE_CONFIG } from '../../src/compact/types.js';
import type { CompactRequest, Run } from '../../src/model/batch.js';
import type { Description } from '../../src/model/description.js';
import { compareUpdates, consolidate, type Update } from '../../src/model/update.js';
import { validateAndCompact } from '../helpers/compact.js';
import { ac, readRows, splitAt, ts, writeRun } from '../helpers/batches.js';

const SHARD = 'stretch';

/** Key n: a shared 7-byte stem, so neighbours tie on their prefix, then n big-endian, then a tail. */
function key(n: number, wide: boolean): Uint8Array {
  const k = new Uint8Array(wide ? 13 : 3);
  if (wide) {
    k.set([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    new DataView(k.buffer).setUint32(7, n);
    k[12] = n & 1 ? 0x00 : 0xff;
  } else {
    k.set([n >> 16, (n >> 8) & 0xff, n & 0xff]);
  }
  return k;
}

/** A run: stretches of consecutive keys ([first key, length]), cuts into parts, its value and time. */
const runArb = fc.record({
  stretches: fc.array(fc.tuple(fc.integer({ min: 0, max: 120 }), fc.integer({ min: 1, max: 40 })), { minLength: 1, maxLength: 4 }),
  cuts: fc.array(fc.integer({ min: 0, max: 80 }), { maxLength: 5 }),
  value: fc.integer({ min: 0, max: 1 }),
  time: fc.integer({ min: 0, max: 3 }),
});

describe('stretches of one run', () => {
  it('consolidate as the reference does, across run, part and output part boundaries', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(runArb, { minLength: 1, maxLength: 5 }),
        fc.boolean(),
        fc.constantFrom(1, 2),
        fc.integer({ min: 0, max: 4 }),
        fc.constantFrom(100, 700, 1 << 20),
        async (shapes, wide, dims, since, target) => {
          const blob = new MemoryBlob();
          const desc: Description = { lower: dims === 1 ? ac([0]) : ac([0, 0]), upper: dims === 1 ? ac([5]) : ac([5, 0]), since: dims === 1 ? ac([0]) : ac([0, 0]) };
          const runs: Run[] = [];
          const stored: Update[] = [];
          for (const [r, s] of shapes.entries()) {
            const seen = new Set<number>();
            const rows: Update[] = [];
            for (const [first, n] of s.stretches) {
              for (let x = first; x < first + n; x++) {
                if (seen.has(x)) continue;
                seen.add(x);
                // Two runs in three cancel each other where they overlap; the value splits some.
                const d = BigInt(r % 3 === 2 ? -1 : 1);
                const t = dims === 1 ? ts(s.time) : ts(s.time, x % 2);
                rows.push({ k: key(x, wide), v: Uint8Array.of(s.value), t, d });
              }
            }
            rows.sort(compareUpdates);
            runs.push(await writeRun(blob, SHARD, dims, desc, splitAt(rows, s.cuts).map((p) => ({ rows: p }))));
            stored.push(...rows);
          }
          const sinceAc = dims === 1 ? ac([since]) : ac([since, 0]);
          const req: CompactRequest = {
            shardId: SHARD,
            desc: { lower: desc.lower, upper: desc.upper, since: sinceAc },
            inputs: [{ desc, runs, len: stored.length }],
            force: true,
            requestId: 'stretch',
          };
          const config = { ...DEFAULT_ENGINE_CONFIG, targetPartBytes: target, memoryBoundBytes: Math.max(1 << 16, 4 * target) };
          const { output, stats } = await validateAndCompact(req, { blob, config });
          const out = (await readRows(blob, SHARD, output)).flat();
          const expected = consolidate(stored, sinceAc);
          expect(stats.chunks).toBe(1);
          expect(out).toEqual(expected);
        },
      ),
      { numRuns: 150 },
    );
  });
});
