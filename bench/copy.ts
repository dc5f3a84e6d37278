/**
 * The copy pipeline: the per-byte work a compaction cannot avoid, without the merge. Every input
 * part is read, its size and checksum verified, decoded, re-encoded under the output description,
 * its new checksum computed, and written under a fresh key. Reads run ahead and uploads overlap
 * under the same memory rules as the engine (src/compact/memory.ts): parts prefetched up to
 * 2 x target bytes, one upload always allowed and more while the leftover pool has room, the
 * pool being the memory bound less the output reservation (2 x target) and the runs' charge.
 * Its time is the practical limit for compaction on this format and store.
 */
import type { Blob } from '../src/blob/blob.js';
import { BytePool } from '../src/compact/memory.js';
import type { EngineConfig } from '../src/compact/types.js';
import type { CompactRequest, HollowPart } from '../src/model/batch.js';
import { newCompactionPrefix, newOutputKey, objectKey } from '../src/model/keys.js';
import { partChecksum } from '../src/part/checksum.js';
import { decodePart } from '../src/part/decode.js';
import { encodePart } from '../src/part/encode.js';

export interface CopyResult {
  /** Object keys written (to delete them afterwards). */
  readonly written: readonly string[];
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly rows: number;
}

/** Copies every hollow part of `req`'s inputs as described in the module comment. */
export async function copyPipeline(req: CompactRequest, blob: Blob, config: EngineConfig): Promise<CopyResult> {
  const parts: HollowPart[] = [];
  let chargedRuns = 0;
  for (const b of req.inputs) {
    for (const run of b.runs) {
      let largest = 0;
      for (const p of run.parts) {
        if (p.kind !== 'hollow') throw new Error('the copy pipeline reads hollow parts only');
        parts.push(p);
        largest = Math.max(largest, p.encodedSizeBytes);
      }
      chargedRuns += largest;
    }
  }
  const target = config.targetPartBytes;
  const pool = new BytePool(Math.max(0, config.memoryBoundBytes - 2 * target - chargedRuns));
  const prefetchCap = 2 * target;
  const prefix = newCompactionPrefix();
  const written: string[] = [];
  const checksums: Promise<string>[] = [];
  const uploads = new Set<Promise<void>>();
  let failure: unknown;
  let bytesIn = 0;
  let bytesOut = 0;
  let rows = 0;

  // Reads: part i is requested ahead while the prefetch cap and the pool allow.
  const reads: (Promise<Uint8Array> | undefined)[] = parts.map(() => undefined);
  const prefetched = new Map<number, number>();
  let prefetchedBytes = 0;
  let nextRead = 0;
  const read = (i: number): Promise<Uint8Array> => {
    const p = parts[i];
    const name = objectKey(req.shardId, p.key);
    return blob.get(name).then((bytes) => {
      if (bytes === undefined) throw new Error(`part ${name} is missing`);
      return bytes;
    });
  };
  const pump = (): void => {
    while (nextRead < parts.length) {
      const size = parts[nextRead].encodedSizeBytes;
      if (prefetchedBytes + size > prefetchCap || !pool.tryAcquire(size)) return;
      prefetchedBytes += size;
      prefetched.set(nextRead, size);
      reads[nextRead] = read(nextRead);
      nextRead++;
    }
  };

  for (let i = 0; i < parts.length; i++) {
    if (reads[i] === undefined) {
      reads[i] = read(i);
      nextRead = i + 1;
    }
    const bytes = await reads[i]!;
    reads[i] = undefined;
    const ahead = prefetched.get(i);
    if (ahead !== undefined) {
      prefetched.delete(i);
      prefetchedBytes -= ahead;
      pool.release(ahead);
    }
    pump();

    const part = parts[i];
    const name = objectKey(req.shardId, part.key);
    if (bytes.byteLength !== part.encodedSizeBytes) throw new Error(`part ${name} has the wrong size`);
    // Checksums as the engine computes them: in the thread pool, overlapping the decode and encode.
    const sum = partChecksum(bytes);
    const { cols } = decodePart(bytes, name);
    const out = encodePart(cols, { version: 1, dims: cols.dims, desc: req.desc, index: i }, { compression: config.compression });
    // The engine records this checksum in the output's HollowPart; computing it is the cost.
    checksums.push(partChecksum(out));
    if ((await sum) !== part.checksum) throw new Error(`part ${name} fails its checksum`);
    bytesIn += bytes.byteLength;
    bytesOut += out.byteLength;
    rows += cols.len;

    let extra = 0;
    while (uploads.size > 0) {
      if (pool.tryAcquire(out.byteLength)) {
        extra = out.byteLength;
        break;
      }
      await Promise.race([...uploads, pool.changed()]);
    }
    if (failure !== undefined) throw failure;
    const key = objectKey(req.shardId, newOutputKey(prefix));
    written.push(key);
    const upload: Promise<void> = blob.set(key, out).then(
      () => {
        uploads.delete(upload);
        if (extra > 0) pool.release(extra);
      },
      (err: unknown) => {
        uploads.delete(upload);
        if (extra > 0) pool.release(extra);
        failure ??= err;
      },
    );
    uploads.add(upload);
  }
  await Promise.all(uploads);
  if (failure !== undefined) throw failure;
  await Promise.all(checksums);
  return { written, bytesIn, bytesOut, rows };
}
