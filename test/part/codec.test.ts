import { CompressionType, RecordBatchFileWriter, Table, tableFromIPC, tableToIPC } from 'apache-arrow';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { descEquals } from '../../src/model/description.js';
import type { Update } from '../../src/model/update.js';
import { ensureCodecs } from '../../src/part/codecs.js';
import { columnsFromBatches, decodePart } from '../../src/part/decode.js';
import { encodePart } from '../../src/part/encode.js';
import { columnsFromUpdates, updatesFromColumns } from '../../src/part/rows.js';
import { anyUpdate, batchCompression, metaOf, partMeta, writeBatches } from './util.js';

const DIMS = [1, 2, 3];
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

function roundTrip(updates: Update[], dims: number, compression: 'none' | 'zstd'): Update[] {
  const bytes = encodePart(columnsFromUpdates(updates, dims), metaOf(dims), { compression });
  const { meta, cols } = decodePart(bytes, 'p');
  expect(meta.dims).toBe(dims);
  expect(cols.len).toBe(updates.length);
  return updatesFromColumns(cols);
}

/** Many similar rows so that compression actually shrinks the buffers. */
function compressible(n: number, dims: number): Update[] {
  return Array.from({ length: n }, (_, i) => ({
    k: enc(`key-${String(i >> 3).padStart(6, '0')}`),
    v: enc(i % 2 === 0 ? 'even-value' : 'odd-value'),
    t: Array.from({ length: dims }, (_, j) => BigInt(i + j)),
    d: BigInt((i % 5) - 2 || 1),
  }));
}

beforeAll(async () => {
  await ensureCodecs();
  await ensureCodecs(); // idempotent
});

describe('part round trip', () => {
  for (const dims of DIMS) {
    for (const compression of ['none', 'zstd'] as const) {
      it(`updates survive encode/decode, D = ${dims}, ${compression}`, () => {
        fc.assert(
          fc.property(fc.array(anyUpdate(dims), { maxLength: 40 }), (updates) => {
            expect(roundTrip(updates, dims, compression)).toEqual(updates);
          }),
          { numRuns: 60 },
        );
      });
    }
  }

  it('metadata survives encode/decode', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }).chain((dims) => partMeta(dims)),
        fc.boolean(),
        (meta, zstd) => {
          const cols = columnsFromUpdates([], meta.dims);
          const decoded = decodePart(encodePart(cols, meta, { compression: zstd ? 'zstd' : 'none' }), 'p').meta;
          expect(decoded.version).toBe(1);
          expect(decoded.dims).toBe(meta.dims);
          expect(decoded.index).toBe(meta.index);
          expect(descEquals(decoded.desc, meta.desc)).toBe(true);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('an empty part round-trips', () => {
    for (const dims of DIMS) expect(roundTrip([], dims, 'none')).toEqual([]);
  });

  it('zstd parts are compressed and smaller', () => {
    const updates = compressible(5000, 2);
    const cols = columnsFromUpdates(updates, 2);
    const plain = encodePart(cols, metaOf(2));
    const zstd = encodePart(cols, metaOf(2), { compression: 'zstd' });
    expect(batchCompression(plain)).toEqual([null]);
    expect(batchCompression(zstd)).toEqual([CompressionType.ZSTD]);
    expect(zstd.length).toBeLessThan(plain.length / 2);
    expect(updatesFromColumns(decodePart(zstd, 'z').cols)).toEqual(updates);
  });

  it('decodes LZ4_FRAME parts', () => {
    for (const dims of DIMS) {
      const updates = compressible(3000, dims);
      const plain = encodePart(columnsFromUpdates(updates, dims), metaOf(dims));
      // Re-encode the same table with LZ4 bodies: what a writer using another Arrow library sends.
      const lz4 = tableToIPC(tableFromIPC(plain), 'file', CompressionType.LZ4_FRAME);
      expect(batchCompression(lz4)).toEqual([CompressionType.LZ4_FRAME]);
      expect(lz4.length).toBeLessThan(plain.length / 2);
      const { meta, cols } = decodePart(lz4, 'lz4');
      expect(meta.dims).toBe(dims);
      expect(updatesFromColumns(cols)).toEqual(updates);
    }
  });

  it('decodes LZ4_FRAME parts with random contents', () => {
    fc.assert(
      fc.property(fc.constantFrom(...DIMS).chain((dims) => fc.tuple(fc.constant(dims), fc.array(anyUpdate(dims), { maxLength: 30 }))), ([dims, updates]) => {
        const plain = encodePart(columnsFromUpdates(updates, dims), metaOf(dims));
        const lz4 = tableToIPC(tableFromIPC(plain), 'file', CompressionType.LZ4_FRAME);
        expect(updatesFromColumns(decodePart(lz4, 'lz4').cols)).toEqual(updates);
      }),
      { numRuns: 40 },
    );
  });
});

describe('zero-copy decoding', () => {
  const updates = compressible(100, 2);
  const bytes = encodePart(columnsFromUpdates(updates, 2), metaOf(2));

  it('returns views over an aligned input buffer', () => {
    expect(bytes.byteOffset % 8).toBe(0);
    const { cols } = decodePart(bytes, 'p');
    for (const arr of [cols.kOffsets, cols.kData, cols.vOffsets, cols.vData, cols.t, cols.d]) {
      expect(arr.buffer).toBe(bytes.buffer);
    }
    expect(cols.kData.length).toBe(cols.kOffsets[cols.len]);
  });

  it('returns views over a Node Buffer at an aligned offset', () => {
    const pool = Buffer.alloc(bytes.length + 64);
    const view = pool.subarray(16, 16 + bytes.length);
    view.set(bytes);
    const { cols } = decodePart(view, 'p');
    expect(cols.d.buffer).toBe(pool.buffer);
    expect(cols.d.byteOffset).toBeGreaterThanOrEqual(pool.byteOffset + 16);
    expect(updatesFromColumns(cols)).toEqual(updates);
  });

  it('copies a misaligned input once and still decodes it', () => {
    for (const shift of [1, 3, 4, 7]) {
      const backing = new Uint8Array(bytes.length + 8);
      const view = backing.subarray(shift, shift + bytes.length);
      view.set(bytes);
      const { cols } = decodePart(view, 'p');
      expect(cols.kData.buffer).not.toBe(backing.buffer);
      expect(cols.d.buffer).toBe(cols.kData.buffer); // one copy shared by all columns
      expect(updatesFromColumns(cols)).toEqual(updates);
    }
  });
});

describe('record batches', () => {
  it('concatenates several record batches, including empty ones', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...DIMS).chain((dims) =>
          fc.tuple(fc.constant(dims), fc.array(fc.array(anyUpdate(dims), { maxLength: 10 }), { minLength: 2, maxLength: 4 })),
        ),
        ([dims, groups]) => {
          const batches = groups.flatMap((g) => tableFromIPC(encodePart(columnsFromUpdates(g, dims), metaOf(dims))).batches);
          const bytes = writeBatches(batches);
          const { cols } = decodePart(bytes, 'multi');
          expect(updatesFromColumns(cols)).toEqual(groups.flat());
          expect(cols.kOffsets[0]).toBe(0);
          expect(cols.kData.length).toBe(cols.kOffsets[cols.len]);
        },
      ),
      { numRuns: 50 },
    );
  });

  it('reads sliced Arrow data (Data.offset != 0) and re-encodes views', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...DIMS).chain((dims) =>
          fc.tuple(fc.constant(dims), fc.array(anyUpdate(dims), { minLength: 1, maxLength: 30 }), fc.nat(), fc.nat()),
        ),
        ([dims, updates, a, b]) => {
          const start = a % updates.length;
          const end = start + (b % (updates.length - start + 1));
          const table = tableFromIPC(encodePart(columnsFromUpdates(updates, dims), metaOf(dims)));
          const slice = table.batches[0].slice(start, end);
          expect(slice.data.children[0].offset).toBe(start);
          const cols = columnsFromBatches([slice], dims, 'slice');
          expect(updatesFromColumns(cols)).toEqual(updates.slice(start, end));
          // Views whose offsets do not start at 0 encode to the same rows.
          const again = decodePart(encodePart(cols, metaOf(dims)), 'again').cols;
          expect(updatesFromColumns(again)).toEqual(updates.slice(start, end));
          // Several slices concatenate.
          const two = columnsFromBatches([slice, table.batches[0].slice(0, start)], dims, 'two');
          expect(updatesFromColumns(two)).toEqual([...updates.slice(start, end), ...updates.slice(0, start)]);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('reads a file with a schema and no record batches as an empty part', () => {
    const schema = tableFromIPC(encodePart(columnsFromUpdates([], 3), metaOf(3))).schema;
    const bytes = RecordBatchFileWriter.writeAll(new Table(schema)).toUint8Array(true);
    expect(batchCompression(bytes)).toHaveLength(0);
    const { meta, cols } = decodePart(bytes, 'none');
    expect(meta.dims).toBe(3);
    expect(cols.len).toBe(0);
    expect(cols.kOffsets).toEqual(Int32Array.of(0));
  });

  it('writes exactly one record batch per part', () => {
    const bytes = encodePart(columnsFromUpdates(compressible(10, 1), 1), metaOf(1));
    expect(batchCompression(bytes)).toHaveLength(1);
  });
});

describe('encodePart argument checks', () => {
  it('rejects metadata whose dims differ from the columns', () => {
    const cols = columnsFromUpdates(compressible(3, 2), 2);
    expect(() => encodePart(cols, metaOf(1))).toThrow(expect.objectContaining({ kind: 'invalid' }));
  });

  it('rejects inconsistent columns', () => {
    const cols = columnsFromUpdates(compressible(3, 2), 2);
    expect(() => encodePart({ ...cols, len: 4 }, metaOf(2))).toThrow(expect.objectContaining({ kind: 'invalid' }));
    const short = { ...cols, kOffsets: Int32Array.of(0, 1, 2, 999) };
    expect(() => encodePart(short, metaOf(2))).toThrow(expect.objectContaining({ kind: 'invalid' }));
  });

  it('rejects updates that do not fit the columns', () => {
    const bad = (u: Partial<Update>): Update[] => [{ k: enc('k'), v: enc('v'), t: [1n], d: 1n, ...u }];
    expect(() => columnsFromUpdates(bad({ t: [1n, 2n] }), 1)).toThrow(expect.objectContaining({ kind: 'invalid' }));
    expect(() => columnsFromUpdates(bad({ t: [-1n] }), 1)).toThrow(expect.objectContaining({ kind: 'invalid' }));
    expect(() => columnsFromUpdates(bad({ t: [1n << 64n] }), 1)).toThrow(expect.objectContaining({ kind: 'invalid' }));
    expect(() => columnsFromUpdates(bad({ d: 1n << 63n }), 1)).toThrow(expect.objectContaining({ kind: 'invalid' }));
  });
});
