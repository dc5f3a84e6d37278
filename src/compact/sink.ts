/**
 * Writes output parts: checks each part is sorted and consolidated (also across the part
 * boundary within a run), encodes it, uploads it with bounded parallelism, and records its
 * HollowPart. Every key is remembered before its upload starts, so a failed compaction can
 * delete everything it may have written.
 */
import type { Blob } from '../blob/blob.js';
import { withDiffsSum, type HollowPart } from '../model/batch.js';
import type { PartCompression } from '../model/compression.js';
import type { Description } from '../model/description.js';
import { internal } from '../model/errors.js';
import { newOutputKey, objectKey } from '../model/keys.js';
import type { PartColumns } from '../part/columns.js';
import { partChecksum } from '../part/checksum.js';
import { encodePart } from '../part/encode.js';
import { checkOrdered, compareRows } from '../part/validate.js';
import { sumDiffs } from './source.js';
import type { BytePool } from './memory.js';
import { MAX_KEY_LOWER_BYTES as KEY_LOWER_MAX_BYTES } from '../model/validate.js';
import { copyRow } from '../part/rows.js';
import { sameKv } from './resume.js';

export interface SinkContext {
  readonly blob: Blob;
  readonly shardId: string;
  readonly desc: Description;
  /** `c<uuid>`: the prefix shared by this compaction's outputs. */
  readonly prefix: string;
  readonly compression: PartCompression;
  readonly signal?: AbortSignal;
  /**
   * Called once a part is durable (uploaded, checksum known), with its run ordinal, index in the
   * run, whether its first (k, v) differs from the previous part's last, and its last row.
   */
  readonly onDurable?: (run: number, index: number, part: HollowPart, startsNewKv: boolean, last: PartColumns) => void;
}

interface Upload {
  readonly promise: Promise<void>;
  /** The pool the extra bytes came from (chunks have their own). */
  readonly pool: BytePool;
  readonly extraBytes: number;
  done: boolean;
}

/** Encode buffers kept for reuse: the output reservation (2 x target) covers two parts. */
const MAX_SPARE_BUFFERS = 2;
/** Spare room in a fresh encode buffer, so that a slightly larger next part still fits. */
const ENCODE_SLACK = 1.125;
const ENCODE_ROUND_BYTES = 64 * 1024;

export class PartSink {
  /** Every object key this compaction may have written (for cleanup on failure). */
  readonly written: string[] = [];
  private readonly parts: Promise<HollowPart>[][] = [];
  private readonly uploads: Upload[] = [];
  private failure: unknown;
  private index = 0;
  private outputBytes = 0;
  private outputDiffSum = 0n;
  private outputUpdates = 0;
  /** The last row of the previous part in the current run, to check order across parts. */
  private lastRow: PartColumns | undefined;

  private pool: BytePool | undefined;
  /**
   * Encode buffers whose upload finished: the next part is encoded into one of them. A fresh
   * part-sized allocation per part costs more in page faults (system time) than encoding.
   */
  private readonly spare: ArrayBuffer[] = [];

  constructor(private readonly ctx: SinkContext) {}

  /**
   * Starts a new output run (one per chunk). `pool` is the chunk's leftover memory: uploads
   * beyond the first draw from it.
   */
  beginRun(pool: BytePool): void {
    this.pool = pool;
    this.parts.push([]);
    this.lastRow = undefined;
  }

  /**
   * Writes one part. Resolves once the upload has started (waiting while too many are in
   * flight); upload failures surface from a later `write` or from `finish`.
   */
  async write(cols: PartColumns): Promise<void> {
    this.throwIfFailed();
    const runParts = this.parts[this.parts.length - 1];
    const ordinal = this.index++;
    const key = newOutputKey(this.ctx.prefix);
    const name = objectKey(this.ctx.shardId, key);
    try {
      checkOrdered(cols, name);
    } catch (err) {
      throw internal(`output part ${name} is not sorted and consolidated`, err);
    }
    if (this.lastRow !== undefined && compareRows(this.lastRow, 0, cols, 0) >= 0) {
      throw internal(`output part ${name} does not follow the previous part of its run`);
    }
    const startsNewKv = this.lastRow === undefined || !sameKv(this.lastRow, 0, cols, 0);
    const runOrdinal = this.parts.length - 1;
    const runIndex = runParts.length;
    this.lastRow = copyRow(cols, cols.len - 1);
    const lastRow = this.lastRow;

    const bytes = encodePart(
      cols,
      { version: 1, dims: cols.dims, desc: this.ctx.desc, index: ordinal },
      { compression: this.ctx.compression, alloc: (n) => this.encodeBuffer(n) },
    );
    const diffsSum = sumDiffs(cols, null);
    const fields = {
      kind: 'hollow' as const,
      key,
      encodedSizeBytes: bytes.byteLength,
      updates: cols.len,
      keyLower: cols.kData.slice(cols.kOffsets[0], Math.min(cols.kOffsets[1], cols.kOffsets[0] + KEY_LOWER_MAX_BYTES)),
    };
    // The checksum is computed in the thread pool, alongside the upload, while the merge goes on.
    // Every row of a run fits i64, but a part's sum may not: then diffs_sum is left out.
    const part = partChecksum(bytes).then((checksum): HollowPart => withDiffsSum({ ...fields, checksum }, diffsSum));
    part.catch((err: unknown) => {
      this.failure ??= err;
    });
    runParts.push(part);
    this.outputBytes += bytes.byteLength;
    this.outputDiffSum += diffsSum;
    this.outputUpdates += cols.len;

    // One upload is always allowed (its memory is reserved); more only from the leftover pool.
    let extra = 0;
    for (;;) {
      this.reap();
      if (this.uploads.length === 0) break;
      if (this.pool!.tryAcquire(bytes.byteLength)) {
        extra = bytes.byteLength;
        break;
      }
      await Promise.race([this.uploads[0].promise, this.pool!.changed()]);
      this.throwIfFailed();
    }
    this.ctx.signal?.throwIfAborted();
    this.written.push(name);
    const upload: Upload = {
      pool: this.pool!,
      extraBytes: extra,
      done: false,
      promise: this.ctx.blob.set(name, bytes, { signal: this.ctx.signal }).then(
        () => {
          upload.done = true;
          // A store does not touch `data` once `set` has settled; the checksum is taken by then too.
          void part.then(
            () => this.recycle(bytes),
            () => {},
          );
          const onDurable = this.ctx.onDurable;
          if (onDurable) void part.then((hp) => onDurable(runOrdinal, runIndex, hp, startsNewKv, lastRow), () => {});
        },
        (err: unknown) => {
          upload.done = true;
          this.failure ??= err;
        },
      ),
    };
    this.uploads.push(upload);
  }

  /** Waits for every upload; returns the parts per run. */
  async finish(): Promise<HollowPart[][]> {
    return (await this.finishAll()).filter((p) => p.length > 0);
  }

  /** Like `finish`, keeping empty runs: one entry per `beginRun`. */
  async finishAll(): Promise<HollowPart[][]> {
    await this.settle();
    this.throwIfFailed();
    return Promise.all(this.parts.map((run) => Promise.all(run)));
  }

  /** Parts written so far in the current run. */
  get runLength(): number {
    return this.parts[this.parts.length - 1]?.length ?? 0;
  }

  /** Waits for uploads in flight without throwing (before cleanup). */
  async settle(): Promise<void> {
    await Promise.all(this.uploads.map((u) => u.promise));
    await Promise.allSettled(this.parts.flat());
    this.reap();
  }

  get totals(): { bytes: number; updates: number; diffSum: bigint } {
    return { bytes: this.outputBytes, updates: this.outputUpdates, diffSum: this.outputDiffSum };
  }

  /** A buffer of exactly `n` bytes for the next encoded part, reusing a spare one when it fits. */
  private encodeBuffer(n: number): Uint8Array {
    const i = this.spare.findIndex((b) => b.byteLength >= n);
    if (i >= 0) return new Uint8Array(this.spare.splice(i, 1)[0], 0, n);
    const size = Math.ceil((n * ENCODE_SLACK) / ENCODE_ROUND_BYTES) * ENCODE_ROUND_BYTES;
    return new Uint8Array(new ArrayBuffer(size), 0, n);
  }

  private recycle(bytes: Uint8Array): void {
    if (this.spare.length < MAX_SPARE_BUFFERS && bytes.buffer instanceof ArrayBuffer) this.spare.push(bytes.buffer);
  }

  private reap(): void {
    while (this.uploads.length > 0 && this.uploads[0].done) {
      const u = this.uploads.shift()!;
      if (u.extraBytes > 0) u.pool.release(u.extraBytes);
    }
    // Uploads can finish out of order: release those too so the pool is not held needlessly.
    for (let i = this.uploads.length - 1; i >= 0; i--) {
      const u = this.uploads[i];
      if (!u.done) continue;
      this.uploads.splice(i, 1);
      if (u.extraBytes > 0) u.pool.release(u.extraBytes);
    }
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}
