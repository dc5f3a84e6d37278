/**
 * Compressed parts and the memory bound. The bound is on decoded bytes, and a ZSTD part of a few
 * KiB can claim up to a GiB decoded. The engine charges what a part holds once decoded, counts a
 * violation when that pushes a chunk planned within budget over it, and refuses (before
 * decompressing) a part that alone would decode to more than the whole bound.
 */
import { describe, expect, it } from 'vitest';
import { MemoryBlob } from '../../src/blob/memory.js';
import { validateAndCompact } from '../helpers/compact.js';
import { DEFAULT_ENGINE_CONFIG } from '../../src/compact/types.js';
import type { HollowBatch } from '../../src/model/batch.js';
import { CompactdError } from '../../src/model/errors.js';
import { ensureCodecs } from '../../src/part/codecs.js';
import { encodePart } from '../../src/part/encode.js';
import type { PartColumns } from '../../src/part/columns.js';
import { desc1 } from '../helpers/batches.js';

const MiB = 1024 * 1024;

/** One row whose value is `valueBytes` zeros, ZSTD-compressed: tiny encoded, large decoded. */
function bomb(i: number, valueBytes: number): Uint8Array {
  const cols: PartColumns = {
    dims: 1,
    len: 1,
    kOffsets: Int32Array.of(0, 1),
    kData: Uint8Array.of(i),
    vOffsets: Int32Array.of(0, valueBytes),
    vData: new Uint8Array(valueBytes),
    t: BigUint64Array.of(BigInt(2 * i + 1)),
    d: BigInt64Array.of(1n),
  };
  return encodePart(cols, { version: 1, dims: 1, desc: desc1(2 * i, 2 * i + 2, 0), index: 0 }, { compression: 'zstd' });
}

describe('compressed parts under the memory bound', () => {
  it('charges compressed parts their decoded size against the memory bound', async () => {
    await ensureCodecs();
    const decoded = 40 * MiB;
    const inputs: HollowBatch[] = [0, 1].map((i) => ({
      desc: desc1(2 * i, 2 * i + 2, 0),
      runs: [{ order: 'ordered', parts: [{ kind: 'inline', data: bomb(i, decoded) }] }],
      len: 1,
    }));
    expect(inputs.every((b) => (b.runs[0].parts[0] as { data: Uint8Array }).data.byteLength < 64 * 1024)).toBe(true);
    const memoryBoundBytes = 48 * MiB;
    const res = await validateAndCompact(
      { shardId: 'bomb', desc: desc1(0, 4, 0), inputs, force: true, requestId: '' },
      { blob: new MemoryBlob(), config: { ...DEFAULT_ENGINE_CONFIG, memoryBoundBytes, targetPartBytes: 1 * MiB } },
    );
    // Two runs of 40 MiB decoded each cannot be merged under a 46 MiB run budget without
    // exceeding it: the engine must see that (a violation) and report what it really held.
    expect(res.peakResidentBytes).toBeGreaterThanOrEqual(decoded);
    expect(res.stats.memoryViolations).toBeGreaterThan(0);
  });

  it('refuses a part that would decode to more than the whole bound, and writes nothing', async () => {
    await ensureCodecs();
    const blob = new MemoryBlob();
    const inputs: HollowBatch[] = [0, 1].map((i) => ({
      desc: desc1(2 * i, 2 * i + 2, 0),
      runs: [{ order: 'ordered', parts: [{ kind: 'inline', data: bomb(i, 40 * MiB) }] }],
      len: 1,
    }));
    const err = await validateAndCompact(
      { shardId: 'bomb', desc: desc1(0, 4, 0), inputs, force: true, requestId: '' },
      { blob, config: { ...DEFAULT_ENGINE_CONFIG, memoryBoundBytes: 16 * MiB, targetPartBytes: 1 * MiB } },
    ).then(
      () => undefined,
      (e: unknown) => e as CompactdError,
    );
    expect(err).toBeInstanceOf(CompactdError);
    expect(err!.kind).toBe('exhausted');
    expect(err!.message).toMatch(/decodes to \d+ bytes or more, over the limit of 16777216/);
    expect(blob.totalBytes).toBe(0);
  });
});
