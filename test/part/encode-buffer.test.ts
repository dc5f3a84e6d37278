import { tableFromIPC, tableToIPC } from 'apache-arrow';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureCodecs } from '../../src/part/codecs.js';
import { decodePart } from '../../src/part/decode.js';
import { encodePart } from '../../src/part/encode.js';
import { columnsFromUpdates, updatesFromColumns } from '../../src/part/rows.js';
import { anyUpdate, caught, metaOf } from './util.js';

beforeAll(async () => {
  await ensureCodecs();
});

describe('encoding into a caller-supplied buffer', () => {
  for (const dims of [1, 2]) {
    it(`writes byte for byte what apache-arrow's own file writer writes, D = ${dims}`, () => {
      fc.assert(
        fc.property(fc.array(anyUpdate(dims), { maxLength: 40 }), (updates) => {
          const bytes = encodePart(columnsFromUpdates(updates, dims), metaOf(dims));
          const again = tableToIPC(tableFromIPC(bytes), 'file');
          expect(Buffer.from(bytes).equals(Buffer.from(again))).toBe(true);
        }),
        { numRuns: 40 },
      );
    });
  }

  for (const compression of ['none', 'zstd'] as const) {
    it(`places the file in the buffer alloc returns and it decodes to the same updates, ${compression}`, () => {
      const reused = new Uint8Array(1 << 20);
      fc.assert(
        fc.property(fc.array(anyUpdate(1), { maxLength: 40 }), (updates) => {
          const cols = columnsFromUpdates(updates, 1);
          const fresh = encodePart(cols, metaOf(1), { compression });
          const asked: number[] = [];
          const bytes = encodePart(cols, metaOf(1), {
            compression,
            alloc: (n) => {
              asked.push(n);
              return reused.subarray(0, n);
            },
          });
          expect(asked).toEqual([fresh.byteLength]);
          expect(bytes.buffer).toBe(reused.buffer);
          expect(Buffer.from(bytes).equals(Buffer.from(fresh))).toBe(true);
          expect(updatesFromColumns(decodePart(bytes, 'p').cols)).toEqual(updates);
        }),
        { numRuns: 40 },
      );
    });
  }

  it('refuses a buffer of the wrong length as an internal error', () => {
    const cols = columnsFromUpdates([], 1);
    const err = caught(() => encodePart(cols, metaOf(1), { alloc: (n) => new Uint8Array(n + 8) }));
    expect(err.kind).toBe('internal');
  });
});
