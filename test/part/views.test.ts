/**
 * A part as the list of views the encoder produces: their concatenation is the part, uncompressed
 * column data is not copied into them, and the checksum taken view by view is the checksum of the
 * concatenation.
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { PART_COMPRESSIONS } from '../../src/model/compression.js';
import { partChecksum, partChecksumSync } from '../../src/part/checksum.js';
import { ensureCodecs } from '../../src/part/codecs.js';
import { decodePart } from '../../src/part/decode.js';
import { encodePart, encodePartViews } from '../../src/part/encode.js';
import { columnsFromUpdates, updatesFromColumns } from '../../src/part/rows.js';
import { anyUpdate, metaOf } from './util.js';

beforeAll(async () => {
  await ensureCodecs();
});

const sha = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

function join(views: readonly Uint8Array[]): Uint8Array {
  return Buffer.concat(views.map((v) => Buffer.from(v.buffer, v.byteOffset, v.byteLength)));
}

describe('the checksum of a list of views', () => {
  it('is the checksum of their concatenation, with empty views anywhere and for no view at all', async () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 12 }), (views) => {
        const whole = join(views);
        expect(partChecksumSync(views)).toBe(sha(whole));
        expect(partChecksumSync([new Uint8Array(0), ...views, new Uint8Array(0)])).toBe(sha(whole));
        expect(partChecksumSync(whole)).toBe(sha(whole));
      }),
      { numRuns: 200 },
    );
    expect(await partChecksum([])).toBe(sha(new Uint8Array(0)));
  });

  it('of views at offsets inside larger buffers hashes only the viewed bytes', () => {
    const big = new Uint8Array(1000).map((_, i) => i & 255);
    const views = [big.subarray(3, 10), big.subarray(500, 501), big.subarray(999)];
    expect(partChecksumSync(views)).toBe(sha(join(views)));
    expect(partChecksumSync(views)).not.toBe(sha(big));
  });
});

describe('encodePartViews', () => {
  for (const compression of PART_COMPRESSIONS) {
    for (const dims of [1, 2]) {
      it(`joined, is byte for byte what encodePart writes and decodes to the same updates (${compression}, D = ${dims})`, () => {
        fc.assert(
          fc.property(fc.array(anyUpdate(dims), { maxLength: 40 }), (updates) => {
            const cols = columnsFromUpdates(updates, dims);
            const { views, size } = encodePartViews(cols, metaOf(dims), compression);
            const whole = encodePart(cols, metaOf(dims), { compression });
            expect(views.every((v) => v.byteLength > 0)).toBe(true);
            expect(views.reduce((n, v) => n + v.byteLength, 0)).toBe(size);
            expect(Buffer.from(join(views)).equals(Buffer.from(whole))).toBe(true);
            expect(partChecksumSync(views)).toBe(sha(whole));
            expect(updatesFromColumns(decodePart(join(views), 'p').cols)).toEqual(updates);
          }),
          { numRuns: 30 },
        );
      });
    }
  }

  it('uncompressed, hands out the column buffers themselves: no copy of the data', () => {
    const updates = Array.from({ length: 100 }, (_, i) => ({
      k: new TextEncoder().encode(`key-${i}`),
      v: new TextEncoder().encode(`value-${i}`),
      t: [BigInt(i)],
      d: 1n,
    }));
    const cols = columnsFromUpdates(updates, 1);
    const { views } = encodePartViews(cols, metaOf(1));
    const buffers = new Set(views.map((v) => v.buffer));
    for (const column of [cols.kOffsets, cols.kData, cols.vOffsets, cols.vData, cols.t, cols.d]) {
      expect(buffers.has(column.buffer)).toBe(true);
    }
  });
});
