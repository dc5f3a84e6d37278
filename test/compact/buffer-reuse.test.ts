import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import type { BlobOptions } from '../../src/blob/blob.js';
import { MemoryBlob } from '../../src/blob/memory.js';
import { DEFAULT_ENGINE_CONFIG } from '../../src/compact/types.js';
import type { HollowBatch } from '../../src/model/batch.js';
import { objectKey } from '../../src/model/keys.js';
import type { Update } from '../../src/model/update.js';
import { desc1, readRows, upd, writeBatch } from '../helpers/batches.js';
import { validateAndCompact } from '../helpers/compact.js';

const SHARD = 'reuse';

/**
 * A store that takes a while to read what it is given: it copies `data` only after a few event
 * loop turns, as a network upload reads its body. Any reuse of the buffer before `set` settles
 * would store other bytes than the part's.
 */
class SlowReadingBlob extends MemoryBlob {
  override async set(key: string, data: Uint8Array, opts?: BlobOptions): Promise<void> {
    await sleep(2);
    const first = data.slice(0, data.length >> 1);
    await sleep(2);
    const copy = new Uint8Array(data.length);
    copy.set(first);
    copy.set(data.subarray(first.length), first.length);
    await super.set(key, copy, opts);
  }
}

describe('encode buffers reused between output parts', () => {
  it('every output part is stored intact: its bytes match its checksum and size, and the rows are the consolidation', async () => {
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
    const config = { ...DEFAULT_ENGINE_CONFIG, targetPartBytes: 2048 };
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
