import fc from 'fast-check';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Blob } from '../../src/blob/blob.js';
import { FaultyBlob } from '../../src/blob/faulty.js';
import { FileBlob } from '../../src/blob/file.js';
import { MemoryBlob } from '../../src/blob/memory.js';
import { BatchReader, BatchWriter, estimateRowBytes, splitBySize } from '../../src/client/index.js';
import { minimumFrontier, type Antichain } from '../../src/model/antichain.js';
import type { HollowBatch, HollowPart, Part } from '../../src/model/batch.js';
import type { Description } from '../../src/model/description.js';
import { CompactdError } from '../../src/model/errors.js';
import { isServiceKey, objectKey } from '../../src/model/keys.js';
import { I64_MAX, compareBytes, consolidate, type Update } from '../../src/model/update.js';
import { decodePart } from '../../src/part/decode.js';
import { antichain, smallCoord, update } from '../model/arb.js';

const SHARD = 's1';
const b = (s: string) => new TextEncoder().encode(s);
const u = (k: string, t: number | number[], d: bigint | number, v = ''): Update => ({
  k: b(k),
  v: b(v),
  t: (Array.isArray(t) ? t : [t]).map(BigInt),
  d: BigInt(d),
});
const desc1 = (lower: number, upper: number | null, since = 0): Description => ({
  lower: [[BigInt(lower)]],
  upper: upper === null ? [] : [[BigInt(upper)]],
  since: [[BigInt(since)]],
});

async function failure(p: Promise<unknown>): Promise<CompactdError> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(CompactdError);
    return err as CompactdError;
  }
  throw new Error('expected a failure');
}

function hollowParts(batch: HollowBatch): HollowPart[] {
  return batch.runs.flatMap((r) => r.parts.filter((p): p is HollowPart => p.kind === 'hollow'));
}

describe('splitBySize', () => {
  it('keeps groups within the target and in order, one oversized row alone', () => {
    const rows = [u('a', 1, 1), u('b'.repeat(50), 1, 1), u('c', 1, 1), u('d', 1, 1)];
    const small = estimateRowBytes(rows[0], 1);
    expect(small).toBe(1 + 0 + 8 + 16);
    const groups = splitBySize(rows, 1, small * 2);
    expect(groups.map((g) => g.map((r) => r.k[0]))).toEqual([[0x61], [0x62], [0x63, 0x64]]);
    expect(splitBySize([], 1, 100)).toEqual([]);
  });
});

describe('BatchWriter.write -> BatchReader', () => {
  it.each([1, 2])('round-trips random updates through many small parts, D = %i', async (D) => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(update(D, { maxBytes: 6 }), { maxLength: 80 }),
        antichain(D, smallCoord),
        fc.integer({ min: 60, max: 400 }),
        async (updates, since, target) => {
          const blob = new MemoryBlob();
          const desc: Description = { lower: minimumFrontier(D), upper: [], since };
          const writer = new BatchWriter({ blob, shardId: SHARD, dims: D, targetPartBytes: target });
          const batch = await writer.write(updates, desc);
          const expected = consolidate(updates, since);

          expect(batch.desc).toBe(desc);
          expect(batch.len).toBe(expected.length);
          const reader = new BatchReader({ blob, shardId: SHARD });
          expect(await reader.readConsolidated(batch)).toEqual(expected);
          // Stored rows are already consolidated: a plain read gives the same rows.
          expect(await reader.read(batch)).toEqual(expected);

          if (expected.length === 0) {
            expect(batch.runs).toEqual([]);
            return;
          }
          expect(batch.runs).toHaveLength(1);
          expect(batch.runs[0].order).toBe('ordered');
          const parts = hollowParts(batch);
          expect(parts).toHaveLength(batch.runs[0].parts.length);
          expect(parts.reduce((n, p) => n + p.updates, 0)).toBe(expected.length);
          let row = 0;
          for (const [i, p] of parts.entries()) {
            const stored = await blob.get(objectKey(SHARD, p.key));
            expect(stored?.byteLength).toBe(p.encodedSizeBytes);
            expect(p.key).toMatch(/^w[0-9a-f-]{36}\/p[0-9a-f-]{36}$/);
            expect(isServiceKey(p.key)).toBe(false);
            expect(p.checksum).toMatch(/^sha256:[0-9a-f]{64}$/);
            const rows = expected.slice(row, row + p.updates);
            row += p.updates;
            expect(p.keyLower).toEqual(rows[0].k.slice(0, 100));
            expect(p.diffsSum).toBe(rows.reduce((s, r) => s + r.d, 0n));
            const meta = decodePart(stored!, p.key).meta;
            expect(meta.index).toBe(i);
            expect(meta.desc).toEqual(desc);
            // Every part but the last was cut because the next row would pass the target.
            const est = rows.reduce((s, r) => s + estimateRowBytes(r, D), 0);
            if (p.updates > 1) expect(est).toBeLessThanOrEqual(target);
            if (i < parts.length - 1) expect(est + estimateRowBytes(expected[row], D)).toBeGreaterThan(target);
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('truncates key_lower to 100 bytes', async () => {
    const blob = new MemoryBlob();
    const writer = new BatchWriter({ blob, shardId: SHARD, dims: 1, targetPartBytes: 1 << 20 });
    const batch = await writer.write([u('k'.repeat(150), 1, 1), u('z', 1, 1)], desc1(0, null));
    const [p] = hollowParts(batch);
    expect(p.keyLower).toEqual(b('k'.repeat(100)));
    expect(await new BatchReader({ blob, shardId: SHARD }).read(batch)).toHaveLength(2);
  });

  it('writes ZSTD-compressed parts that read back', async () => {
    const blob = new MemoryBlob();
    const writer = new BatchWriter({ blob, shardId: SHARD, dims: 1, targetPartBytes: 200, compression: 'zstd' });
    const updates = Array.from({ length: 50 }, (_, i) => u(`key-${i % 7}`, i % 5, 1, 'x'.repeat(20)));
    const batch = await writer.write(updates, desc1(0, null, 2));
    expect(batch.runs[0].parts.length).toBeGreaterThan(1);
    expect(await new BatchReader({ blob, shardId: SHARD }).readConsolidated(batch)).toEqual(consolidate(updates, [[2n]]));
  });

  it('carries parts inline without touching the store', async () => {
    const blob = new MemoryBlob();
    const writer = new BatchWriter({ blob, shardId: SHARD, dims: 2, targetPartBytes: 100, inline: true });
    const updates = Array.from({ length: 20 }, (_, i) => u(`k${i}`, [i, 20 - i], 1));
    const batch = await writer.write(updates, { lower: minimumFrontier(2), upper: [], since: minimumFrontier(2) });
    expect(batch.runs[0].parts.length).toBeGreaterThan(1);
    expect(batch.runs[0].parts.every((p) => p.kind === 'inline')).toBe(true);
    expect(blob.totalBytes).toBe(0);
    expect(await new BatchReader({ blob, shardId: SHARD }).read(batch)).toEqual(consolidate(updates, []));
    const hollow = await writer.write(updates.slice(0, 3), { lower: minimumFrontier(2), upper: [], since: minimumFrontier(2) }, { inline: false });
    expect(hollowParts(hollow).length).toBeGreaterThan(0);
    expect(hollowParts(hollow)).toHaveLength(hollow.runs[0].parts.length);
    expect(blob.totalBytes).toBeGreaterThan(0);
  });

  it('works on a file store', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'compactd-client-'));
    try {
      const blob = new FileBlob(dir);
      const updates = Array.from({ length: 30 }, (_, i) => u(`k${i % 4}`, i, i % 3 === 0 ? -1 : 1));
      const batch = await new BatchWriter({ blob, shardId: SHARD, dims: 1, targetPartBytes: 150 }).write(updates, desc1(0, 100, 10));
      const again = await new BatchReader({ blob: new FileBlob(dir), shardId: SHARD }).readConsolidated(batch);
      expect(again).toEqual(consolidate(updates, [[10n]]));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('BatchWriter.writeUnordered', () => {
  it('stores rows as given in one UNORDERED run; reading consolidates them', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(update(2), { minLength: 1, maxLength: 40 }), async (updates) => {
        const blob = new MemoryBlob();
        const desc: Description = { lower: minimumFrontier(2), upper: [], since: minimumFrontier(2) };
        const batch = await new BatchWriter({ blob, shardId: SHARD, dims: 2, targetPartBytes: 120 }).writeUnordered(updates, desc);
        expect(batch.runs).toHaveLength(1);
        expect(batch.runs[0].order).toBe('unordered');
        expect(batch.len).toBe(updates.length);
        const reader = new BatchReader({ blob, shardId: SHARD });
        expect(await reader.read(batch)).toEqual(updates);
        expect(await reader.readConsolidated(batch)).toEqual(consolidate(updates, []));
        for (const p of hollowParts(batch)) {
          const rows = decodePart((await blob.get(objectKey(SHARD, p.key)))!, p.key).cols;
          for (let i = 0; i < rows.len; i++) {
            expect(compareBytes(p.keyLower, rows.kData.subarray(rows.kOffsets[i], rows.kOffsets[i + 1]))).toBeLessThanOrEqual(0);
          }
        }
      }),
      { numRuns: 30 },
    );
  });

  it('refuses an advanced since', async () => {
    const writer = new BatchWriter({ blob: new MemoryBlob(), shardId: SHARD, dims: 1, targetPartBytes: 100 });
    const err = await failure(writer.writeUnordered([u('a', 5, 1)], desc1(0, 10, 3)));
    expect(err.kind).toBe('invalid');
    expect(err.message).toMatch(/since must be the minimum frontier/);
  });
});

describe('BatchWriter validation', () => {
  const writer = () => new BatchWriter({ blob: new MemoryBlob(), shardId: SHARD, dims: 1, targetPartBytes: 100 });

  it.each([
    ['a time below lower', [u('a', 4, 1)], desc1(5, 10), /update 0: time 4 is not beyond lower \{5\}/],
    ['a time at upper', [u('a', 5, 1), u('b', 10, 1)], desc1(5, 10), /update 1: time 10 is beyond upper \{10\}/],
    ['wrong dims', [u('a', [1, 2], 1)], desc1(0, 10), /update 0: time has 2 coordinates, expected 1/],
    ['a description of other dims', [u('a', 1, 1)], { lower: [[0n, 0n]], upper: [], since: [[0n, 0n]] }, /has 2 coordinates, the writer 1/],
  ])('rejects %s', async (_name, updates, desc, re) => {
    const err = await failure(writer().write(updates, desc));
    expect(err.kind).toBe('invalid');
    expect(err.message).toMatch(re);
  });

  it('rejects bad options', () => {
    const blob = new MemoryBlob();
    expect(() => new BatchWriter({ blob, shardId: '../x', dims: 1, targetPartBytes: 1 })).toThrow(/bad shard id/);
    expect(() => new BatchWriter({ blob, shardId: SHARD, dims: 0, targetPartBytes: 1 })).toThrow(/dims/);
    expect(() => new BatchWriter({ blob, shardId: SHARD, dims: 1, targetPartBytes: 0 })).toThrow(/target part bytes/);
  });

  it('a diff sum past i64 is out_of_range and writes nothing', async () => {
    const blob = new MemoryBlob();
    const w = new BatchWriter({ blob, shardId: SHARD, dims: 1, targetPartBytes: 100 });
    const err = await failure(w.write([u('a', 1, I64_MAX), u('a', 2, 1)], desc1(0, null, 5)));
    expect(err.kind).toBe('out_of_range');
    expect(blob.totalBytes).toBe(0);
  });

  it('leaves diffs_sum out when a part sums past i64', async () => {
    const blob = new MemoryBlob();
    const w = new BatchWriter({ blob, shardId: SHARD, dims: 1, targetPartBytes: 1 << 20 });
    const batch = await w.write([u('a', 1, I64_MAX), u('b', 1, I64_MAX)], desc1(0, null));
    const [p] = hollowParts(batch);
    expect(p.diffsSum).toBeUndefined();
    expect(await new BatchReader({ blob, shardId: SHARD }).read(batch)).toHaveLength(2);
  });

  it('deletes the parts it uploaded when a later upload fails', async () => {
    const inner = new MemoryBlob();
    let sets = 0;
    const blob = new FaultyBlob(inner, { ops: ['set'], failKeys: () => ++sets === 4 });
    const w = new BatchWriter({ blob, shardId: SHARD, dims: 1, targetPartBytes: 30, inFlight: 2 });
    const updates = Array.from({ length: 10 }, (_, i) => u(`k${i}`, 1, 1));
    const err = await failure(w.write(updates, desc1(0, null)));
    expect(err.kind).toBe('unavailable');
    expect(sets).toBeGreaterThanOrEqual(4);
    expect(inner.totalBytes).toBe(0);
  });
});

describe('BatchReader checks', () => {
  const D1 = desc1(0, 20);

  async function written(updates: Update[], desc: Description = D1, target = 1 << 20): Promise<{ blob: MemoryBlob; batch: HollowBatch; reader: BatchReader }> {
    const blob = new MemoryBlob();
    const batch = await new BatchWriter({ blob, shardId: SHARD, dims: desc.lower[0]?.length ?? 1, targetPartBytes: target }).write(updates, desc);
    return { blob, batch, reader: new BatchReader({ blob, shardId: SHARD }) };
  }

  const withPart = (batch: HollowBatch, f: (p: HollowPart) => Part): HollowBatch => ({
    ...batch,
    runs: batch.runs.map((r) => ({ ...r, parts: r.parts.map((p) => (p.kind === 'hollow' ? f(p) : p)) })),
  });

  it('a narrower batch reads only the rows inside its description', async () => {
    const updates = Array.from({ length: 20 }, (_, i) => u(`k${i % 3}`, i, 1));
    const { batch, reader } = await written(updates, D1, 120);
    expect(batch.runs[0].parts.length).toBeGreaterThan(1);
    const narrow: HollowBatch = { ...batch, desc: desc1(5, 15) };
    const got = await reader.read(narrow);
    expect(got.map((x) => Number(x.t[0])).sort((a, c) => a - c)).toEqual([5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
    expect(await reader.readConsolidated(narrow)).toEqual(consolidate(updates.filter((x) => x.t[0] >= 5n && x.t[0] < 15n), [[0n]]));
  });

  it('a narrower batch in two dimensions filters by the partial order', async () => {
    const d2: Description = { lower: [[0n, 0n]], upper: [], since: [[0n, 0n]] };
    const updates = [u('a', [1, 1], 1), u('b', [3, 0], 1), u('c', [0, 3], 1), u('d', [5, 5], 1), u('e', [2, 9], 1)];
    const { batch, reader } = await written(updates, d2);
    const narrow: HollowBatch = { ...batch, desc: { lower: [[0n, 1n], [1n, 0n]], upper: [[4n, 4n]], since: [[0n, 0n]] } };
    expect((await reader.read(narrow)).map((x) => new TextDecoder().decode(x.k))).toEqual(['a', 'b', 'c', 'e']);
  });

  it('a part of a different description that was advanced is data loss', async () => {
    const { batch, reader } = await written([u('a', 3, 1)], desc1(0, 20, 5));
    const err = await failure(reader.read({ ...batch, desc: desc1(0, 10, 5) }));
    expect(err.kind).toBe('data_loss');
    expect(err.message).toMatch(/narrower batch must have the minimum since/);
  });

  it('a checksum mismatch is data loss', async () => {
    const { blob, batch, reader } = await written([u('a', 1, 1, 'QQQQ'), u('b', 2, 1)]);
    const [p] = hollowParts(batch);
    const key = objectKey(SHARD, p.key);
    const bytes = (await blob.get(key))!;
    // Same length, one value byte changed: only the checksum can tell.
    const at = Buffer.from(bytes).indexOf('QQQQ');
    expect(at).toBeGreaterThan(0);
    bytes[at] = 0x52;
    await blob.set(key, bytes);
    const err = await failure(reader.read(batch));
    expect(err.kind).toBe('data_loss');
    expect(err.message).toBe(`part ${key} fails its checksum`);
    // Without a recorded checksum the same bytes decode: the checksum was the only guard.
    const unchecked = withPart(batch, (q) => ({ ...q, checksum: '' }));
    expect(await reader.read(unchecked)).toHaveLength(2);
  });

  it('a size mismatch is data loss', async () => {
    const { batch, reader } = await written([u('a', 1, 1)]);
    const err = await failure(reader.read(withPart(batch, (p) => ({ ...p, encodedSizeBytes: p.encodedSizeBytes + 1 }))));
    expect(err.kind).toBe('data_loss');
    expect(err.message).toMatch(/has \d+ bytes, the batch records \d+/);
  });

  it('wrong recorded updates, diff sum or key lower bound are data loss', async () => {
    const { batch, reader } = await written([u('b', 1, 1), u('c', 1, 2)]);
    for (const [change, re] of [
      [(p: HollowPart) => ({ ...p, updates: 3 }), /has 2 updates, the batch records 3/],
      [(p: HollowPart) => ({ ...p, diffsSum: 4n }), /sums its diffs to 3, the batch records 4/],
      [(p: HollowPart) => ({ ...p, keyLower: b('bb') }), /key below its recorded key lower bound/],
    ] as const) {
      const err = await failure(reader.read(withPart(batch, change)));
      expect(err.kind).toBe('data_loss');
      expect(err.message).toMatch(re);
    }
  });

  it('a missing part is not_found naming it', async () => {
    const { blob, batch, reader } = await written([u('a', 1, 1)]);
    const [p] = hollowParts(batch);
    await blob.delete(objectKey(SHARD, p.key));
    const err = await failure(reader.read(batch));
    expect(err.kind).toBe('not_found');
    expect(err.message).toBe(`part ${SHARD}/${p.key} is missing`);
  });

  it('garbage bytes are data loss', async () => {
    const { blob, batch, reader } = await written([u('a', 1, 1)]);
    const [p] = hollowParts(batch);
    await blob.set(objectKey(SHARD, p.key), b('not an arrow file at all'));
    const err = await failure(reader.read(withPart(batch, (q) => ({ ...q, checksum: '', encodedSizeBytes: 0 }))));
    expect(err.kind).toBe('data_loss');
  });

  it('an ORDERED run whose parts are out of order, or whose part is unsorted, is data loss', async () => {
    const updates = Array.from({ length: 12 }, (_, i) => u(`k${String(i).padStart(2, '0')}`, 1, 1));
    const { blob, batch, reader } = await written(updates, D1, 100);
    const parts = batch.runs[0].parts;
    expect(parts.length).toBeGreaterThan(2);
    const swapped: HollowBatch = { ...batch, runs: [{ order: 'ordered', parts: [parts[1], parts[0], ...parts.slice(2)] }] };
    const err = await failure(reader.read(swapped));
    expect(err.kind).toBe('data_loss');
    expect(err.message).toMatch(/does not sort after/);
    // The same parts as separate runs are fine.
    expect(await reader.read({ ...batch, runs: [{ order: 'ordered', parts: [parts[1]] }, { order: 'ordered', parts: [parts[0]] }] })).toHaveLength(
      parts[0].kind === 'hollow' && parts[1].kind === 'hollow' ? parts[0].updates + parts[1].updates : -1,
    );

    const unsorted = await new BatchWriter({ blob, shardId: SHARD, dims: 1, targetPartBytes: 1 << 20 }).writeUnordered([u('b', 1, 1), u('a', 1, 1)], D1);
    const relabeled: HollowBatch = { ...unsorted, runs: [{ ...unsorted.runs[0], order: 'ordered' }] };
    const err2 = await failure(reader.read(relabeled));
    expect(err2.kind).toBe('data_loss');
    expect(err2.message).toMatch(/is not sorted/);
  });

  it('a part of other dims than the batch is data loss', async () => {
    const { batch, reader } = await written([u('a', 1, 1)]);
    const err = await failure(reader.read({ ...batch, desc: { lower: [[0n, 0n]], upper: [], since: [[0n, 0n]] } }));
    expect(err.kind).toBe('data_loss');
    expect(err.message).toMatch(/has 1 time coordinates, the batch 2/);
  });
});

describe('against S3', () => {
  let s3: { url: string; stop(): Promise<void> } | undefined;
  let blob: Blob | undefined;
  beforeAll(async () => {
    const { startS3rver } = await import('../helpers/s3rver.js');
    const { openBlob } = await import('../../src/blob/url.js');
    s3 = await startS3rver();
    blob = await openBlob(s3.url);
  });
  afterAll(async () => {
    await blob?.close();
    await s3?.stop();
  });

  it('round-trips a multi-part batch', async () => {
    const updates = Array.from({ length: 40 }, (_, i) => u(`k${i % 9}`, i % 6, i % 4 === 0 ? -1 : 1, `v${i % 2}`));
    const batch = await new BatchWriter({ blob: blob!, shardId: SHARD, dims: 1, targetPartBytes: 150 }).write(updates, desc1(0, null, 3));
    expect(batch.runs[0].parts.length).toBeGreaterThan(1);
    expect(await new BatchReader({ blob: blob!, shardId: SHARD }).readConsolidated(batch)).toEqual(consolidate(updates, [[3n]] as Antichain));
  });
});
