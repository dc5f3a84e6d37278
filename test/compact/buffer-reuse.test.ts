import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BlobData, BlobOptions } from '../../src/blob/blob.js';
import { MemoryBlob } from '../../src/blob/memory.js';
import { chunksOf } from '../../src/blob/util.js';
import { DEFAULT_ENGINE_CONFIG } from '../../src/compact/types.js';
import type { HollowBatch } from '../../src/model/batch.js';
import { PART_COMPRESSIONS } from '../../src/model/compression.js';
import { objectKey } from '../../src/model/keys.js';
import { ensureCodecs } from '../../src/part/codecs.js';
import type { Update } from '../../src/model/update.js';
import { desc1, readRows, upd, writeBatch } from '../helpers/batches.js';
import { validateAndCompact } from '../helpers/compact.js';

const SHARD = 'reuse';

beforeAll(async () => {
  await ensureCodecs();
});

/**
 * A store that takes a while to read what it is given: it copies `data` (a buffer, or the chunks
 * of an encoded part) piece by piece over several event loop turns, as a network upload reads its
 * body. Any reuse of the buffers before `set` settles would store other bytes than the part's.
 */
class SlowReadingBlob extends MemoryBlob {
  override async set(key: string, data: BlobData, opts?: BlobOptions): Promise<void> {
    const chunks = chunksOf(data);
    const read: Uint8Array[] = [];
    for (const c of chunks) {
      await sleep(1);
      read.push(c.slice(0, c.length >> 1));
      await sleep(1);
      read.push(c.slice(c.length >> 1));
    }
    await super.set(key, Buffer.concat(read), opts);
  }
}

describe('column buffers reused between output parts', () => {
  it.each(PART_COMPRESSIONS)('every output part is stored intact: its bytes match its checksum and size, and the rows are the consolidation (%s)', async (compression) => {
    const blob = new SlowReadingBlob();
    const inputs: HollowBatch[] = [];
    const expected: Update[] = [];
    for (let b = 0; b < 3; b++) {
      const all = Array.from({ length: 300 }, (_, i) => upd(`k${String(i * 3 + b).padStart(5, '0')}`, `value-${b}-${i}`, b, 1));
      inputs.push(await writeBatch(blob, SHARD, 1, desc1(b, b + 1, 0), [[all.slice(0, 150), all.slice(150)]]));
      expected.push(...all.map((u) => ({ ...u, t: [3n] })));
    }
    expected.sort((x, y) => Buffer.compare(Buffer.from(x.k), Buffer.from(y.k)));
    // Small parts: many outputs, so that encode buffers are handed from one part to the next.
    const config = { ...DEFAULT_ENGINE_CONFIG, targetPartBytes: 2048, compression };
    const res = await validateAndCompact({ shardId: SHARD, desc: desc1(0, 3, 3), inputs, force: true, requestId: 'r' }, { blob, config });
    const parts = res.output.runs.flatMap((r) => r.parts);
    expect(parts.length).toBeGreaterThan(10);
    for (const p of parts) {
      if (p.kind !== 'hollow') throw new Error('expected hollow outputs');
      const bytes = (await blob.get(objectKey(SHARD, p.key)))!;
      expect(bytes.byteLength).toBe(p.encodedSizeBytes);
      expect(`sha256:${createHash('sha256').update(bytes).digest('hex')}`).toBe(p.checksum);
    }
    expect((await readRows(blob, SHARD, res.output)).flat()).toEqual(expected);
  });
});
