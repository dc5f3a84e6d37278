/**
 * Writes output parts: checks each part is sorted and consolidated (also across the part
 * boundary within a run), encodes it, uploads it with bounded parallelism, and records its
 * HollowPart. Every key is remembered before its upload starts, so a failed compaction can
 * delete everything it may have written.
 *
 * A part is never joined into one buffer: the encoder's views (metadata and, uncompressed, the
 * columns' own buffers) are checksummed one after the other and handed to the store as chunks.
 * The columns' buffers are therefore held until the upload is over; the writer's `release` is
 * called then, and not before.
 */
import type { Blob } from '../blob/blob.js';
import { withDiffsSum, type HollowPart } from '../model/batch.js';
import type { PartCompression } from '../model/compression.js';
import type { Description } from '../model/description.js';
import { internal } from '../model/errors.js';
import { newOutputKey, objectKey } from '../model/keys.js';
import { columnsBytes, type PartColumns } from '../part/columns.js';
import { partChecksum } from '../part/checksum.js';
import { encodePartViews } from '../part/encode.js';
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
   * flight); upload failures surface from a later `write` or from `finish`. `cols` must stay
   * unchanged until `release` is called: once the part is durable, or at once when the encoded
   * part holds no view of them (compressed). After a failure `release` is not called (a store
   * may still be reading), and the buffers are left to the garbage collector.
   */
  async write(cols: PartColumns, release?: () => void): Promise<void> {
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

    const { views, size } = encodePartViews(
      cols,
      { version: 1, dims: cols.dims, desc: this.ctx.desc, index: ordinal },
      this.ctx.compression,
    );
    const diffsSum = sumDiffs(cols, null);
    const fields = {
      kind: 'hollow' as const,
      key,
      encodedSizeBytes: size,
      updates: cols.len,
      keyLower: cols.kData.slice(cols.kOffsets[0], Math.min(cols.kOffsets[1], cols.kOffsets[0] + KEY_LOWER_MAX_BYTES)),
    };
    // Hashed now, view by view, while the bytes are where the encoder left them.
    // Every row of a run fits i64, but a part's sum may not: then diffs_sum is left out.
    const part = partChecksum(views).then((checksum): HollowPart => withDiffsSum({ ...fields, checksum }, diffsSum));
    part.catch((err: unknown) => {
      this.failure ??= err;
    });
    runParts.push(part);
    this.outputBytes += size;
    this.outputDiffSum += diffsSum;
    this.outputUpdates += cols.len;
    const held = heldBytes(views, cols);
    if (!held.aliases) release?.();

    // One upload is always allowed (its memory is reserved); more only from the leftover pool.
    let extra = 0;
    for (;;) {
      this.reap();
      if (this.uploads.length === 0) break;
      if (this.pool!.tryAcquire(held.bytes)) {
        extra = held.bytes;
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
      promise: this.ctx.blob.set(name, views, { signal: this.ctx.signal }).then(
        () => {
          upload.done = true;
          // A store does not touch `data` once `set` has settled; the checksum is taken by then too.
          if (held.aliases && release !== undefined) {
            void part.then(
              () => release(),
              () => {},
            );
          }
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

/**
 * The memory an upload of `views` holds, and whether some of the views are the columns' own
 * buffers (then all of those are held, whatever part of them the file uses).
 */
function heldBytes(views: readonly Uint8Array[], cols: PartColumns): { bytes: number; aliases: boolean } {
  const own = new Set<ArrayBufferLike>([cols.kOffsets.buffer, cols.kData.buffer, cols.vOffsets.buffer, cols.vData.buffer, cols.t.buffer, cols.d.buffer]);
  let other = 0;
  let aliases = false;
  for (const v of views) {
    if (own.has(v.buffer)) aliases = true;
    else other += v.byteLength;
  }
  return { bytes: aliases ? other + columnsBytes(cols) : other, aliases };
}
