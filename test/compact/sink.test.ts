/**
 * What an upload holds, and for how long: a part goes to the store as the encoder's views, which
 * (uncompressed) are the columns' own buffers, so the writer gets them back only once the upload is
 * over, and an extra upload is charged to the pool what it holds.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { BlobData, BlobOptions } from '../../src/blob/blob.js';
import { MemoryBlob } from '../../src/blob/memory.js';
import { BytePool } from '../../src/compact/memory.js';
import { PartSink } from '../../src/compact/sink.js';
import type { PartCompression } from '../../src/model/compression.js';
import { objectKey } from '../../src/model/keys.js';
import { partChecksumSync } from '../../src/part/checksum.js';
import { ensureCodecs } from '../../src/part/codecs.js';
import { columnsBytes } from '../../src/part/columns.js';
import { columnsFromUpdates } from '../../src/part/rows.js';
import { desc1, upd } from '../helpers/batches.js';

beforeAll(async () => {
  await ensureCodecs();
});

/** A memory store whose sets finish only when the test says so, one by one, in order. */
class GatedBlob extends MemoryBlob {
  readonly started: string[] = [];
  readonly chunkCounts: number[] = [];
  private readonly gates: (() => void)[] = [];

  override async set(key: string, data: BlobData, opts?: BlobOptions): Promise<void> {
    this.started.push(key);
    this.chunkCounts.push(Array.isArray(data) ? data.length : 1);
    await new Promise<void>((resolve) => this.gates.push(resolve));
    await super.set(key, data, opts);
  }

  /** Lets the oldest waiting set finish. */
  async openOne(): Promise<void> {
    for (let i = 0; i < 100 && this.gates.length === 0; i++) await new Promise((r) => setTimeout(r, 1));
    this.gates.shift()!();
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** Sorted, consolidated columns: `n` rows of incompressible-looking values after key `tag`. */
function part(tag: string, n: number) {
  const rows = Array.from({ length: n }, (_, i) => upd(`${tag}-${String(i).padStart(5, '0')}`, `v${(i * 2654435761) >>> 0}`, 1, 1));
  return columnsFromUpdates(rows, 1);
}

function sinkOver(blob: MemoryBlob, compression: PartCompression): PartSink {
  return new PartSink({ blob, shardId: 'sink', desc: desc1(0, 2, 0), prefix: 'c0', compression });
}

const flush = () => new Promise((r) => setTimeout(r, 5));

describe('PartSink uploads', () => {
  it('uncompressed: hands the columns to the store as views and releases them only once their upload is over', async () => {
    const blob = new GatedBlob();
    const sink = sinkOver(blob, 'none');
    sink.beginRun(new BytePool(1 << 30));
    const released: string[] = [];
    const a = part('a', 500);
    await sink.write(a, () => released.push('a'));
    await sink.write(part('b', 500), () => released.push('b'));
    await flush();
    expect(blob.started.length).toBe(2);
    expect(Math.min(...blob.chunkCounts)).toBeGreaterThan(1);
    expect(released).toEqual([]);
    await blob.openOne();
    expect(released).toEqual(['a']);
    await blob.openOne();
    expect(released).toEqual(['a', 'b']);
    const [[pa]] = await sink.finish();
    if (pa.kind !== 'hollow') throw new Error('expected a hollow part');
    const stored = (await blob.get(objectKey('sink', pa.key)))!;
    expect(partChecksumSync(stored)).toBe(pa.checksum);
    expect(stored.byteLength).toBe(pa.encodedSizeBytes);
  });

  it('an extra upload waits for pool room of at least its columns bytes; the first one never does', async () => {
    const blob = new GatedBlob();
    const sink = sinkOver(blob, 'none');
    const a = part('a', 400);
    const b = part('b', 400);
    // Room for less than b's columns: b's upload must wait for a's to finish.
    const pool = new BytePool(columnsBytes(b) - 1);
    sink.beginRun(pool);
    await sink.write(a);
    let bStarted = false;
    const wb = sink.write(b).then(() => {
      bStarted = true;
    });
    await flush();
    expect(bStarted).toBe(false);
    expect(blob.started.length).toBe(1);
    await blob.openOne();
    await wb;
    expect(bStarted).toBe(true);
    // With enough room the extra upload starts at once, and its charge is back when it is over.
    const big = new BytePool(1 << 30);
    const sink2 = sinkOver(blob, 'none');
    sink2.beginRun(big);
    await sink2.write(part('c', 400));
    await sink2.write(part('d', 400));
    await flush();
    expect(blob.started.length).toBe(4);
    expect(big.tryAcquire((1 << 30) - columnsBytes(part('d', 400)))).toBe(false);
    await blob.openOne();
    await blob.openOne();
    await blob.openOne();
    await sink.finish();
    await sink2.finish();
    expect(big.tryAcquire((1 << 30) - 1)).toBe(true);
  });

  it('compressed where every buffer shrinks: the columns are released at once, before the upload ends', async () => {
    const blob = new GatedBlob();
    const sink = sinkOver(blob, 'zstd');
    sink.beginRun(new BytePool(1 << 30));
    const rows = Array.from({ length: 2000 }, (_, i) => upd(`key-${String(i).padStart(6, '0')}`, 'same value every row', 1, 1));
    let released = false;
    await sink.write(columnsFromUpdates(rows, 1), () => {
      released = true;
    });
    expect(released).toBe(true);
    await blob.openOne();
    const [[p]] = await sink.finish();
    if (p.kind !== 'hollow') throw new Error('expected a hollow part');
    expect(partChecksumSync((await blob.get(objectKey('sink', p.key)))!)).toBe(p.checksum);
  });
});
