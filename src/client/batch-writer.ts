/**
 * The writer side of the part format: turns updates into parts in a blob store (or inline) and
 * returns the HollowBatch a writer registers and later sends in a CompactRequest.
 *
 * Everything is held in memory: this is for writers flushing modest batches, tools and tests.
 * The service's engine has its own streaming part builder.
 */
import { randomUUID } from 'node:crypto';
import type { Blob } from '../blob/blob.js';
import { beyond, format as formatAntichain, isMinimum } from '../model/antichain.js';
import { withDiffsSum, type HollowBatch, type HollowPart, type Part, type Run, type RunOrder } from '../model/batch.js';
import { PART_COMPRESSIONS, type PartCompression } from '../model/compression.js';
import { descDims, formatDesc, type Description } from '../model/description.js';
import { CompactdError, invalid } from '../model/errors.js';
import { objectKey, validateShardId } from '../model/keys.js';
import { format as formatTimestamp, isValid as isValidTimestamp } from '../model/timestamp.js';
import { I64_MAX, I64_MIN, compareBytes, consolidate, type Update } from '../model/update.js';
import { partChecksumSync } from '../part/checksum.js';
import { ensureCodecs } from '../part/codecs.js';
import { encodePart } from '../part/encode.js';
import { columnsFromUpdates } from '../part/rows.js';
import { MAX_KEY_LOWER_BYTES } from '../model/validate.js';
import { ROW_OVERHEAD_BYTES } from '../model/util/sizes.js';
import { DEFAULT_IN_FLIGHT, mapLimit } from './pool.js';


export interface BatchWriterOptions {
  readonly blob: Blob;
  readonly shardId: string;
  /** Timestamp coordinates of the shard (D >= 1). */
  readonly dims: number;
  /** Parts are cut when the estimated row bytes would pass this (each part has at least one row). */
  readonly targetPartBytes: number;
  /** Body compression of written parts (default 'none'). */
  readonly compression?: PartCompression;
  /** Carry parts inline in the batch instead of uploading them (default false). */
  readonly inline?: boolean;
  /** Uploads in flight at once (default 4). */
  readonly inFlight?: number;
}

export interface WriteOptions {
  /** Overrides the writer's `inline` setting for this call. */
  readonly inline?: boolean;
  readonly signal?: AbortSignal;
}

/** The estimated encoded size of one row: |k| + |v| + 8 per coordinate + fixed overhead. */
export function estimateRowBytes(u: Update, dims: number): number {
  return u.k.byteLength + u.v.byteLength + 8 * dims + ROW_OVERHEAD_BYTES;
}

/**
 * Splits rows, in order, into consecutive groups whose estimated size stays within `target`;
 * a row larger than the target gets a group of its own. Never returns an empty group.
 */
export function splitBySize(rows: readonly Update[], dims: number, target: number): Update[][] {
  const out: Update[][] = [];
  let cur: Update[] = [];
  let bytes = 0;
  for (const u of rows) {
    const b = estimateRowBytes(u, dims);
    if (cur.length > 0 && bytes + b > target) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(u);
    bytes += b;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/** `sha256:<hex>` of `bytes`, the checksum format of HollowPart. */
export function sha256Checksum(bytes: Uint8Array): string {
  return partChecksumSync(bytes);
}

export class BatchWriter {
  readonly #blob: Blob;
  readonly #shardId: string;
  readonly #dims: number;
  readonly #target: number;
  readonly #compression: PartCompression;
  readonly #inline: boolean;
  readonly #inFlight: number;

  /** Validates the options: a valid shard id, dims >= 1, a positive target size. */
  constructor(opts: BatchWriterOptions) {
    validateShardId(opts.shardId);
    if (!Number.isSafeInteger(opts.dims) || opts.dims < 1) throw invalid(`dims must be an integer >= 1, got ${opts.dims}`);
    if (!Number.isSafeInteger(opts.targetPartBytes) || opts.targetPartBytes < 1) {
      throw invalid(`target part bytes must be a positive integer, got ${opts.targetPartBytes}`);
    }
    const compression = opts.compression ?? 'none';
    if (!(PART_COMPRESSIONS as readonly string[]).includes(compression)) {
      throw invalid(`unsupported compression ${JSON.stringify(compression)}, expected one of ${PART_COMPRESSIONS.join(', ')}`);
    }
    this.#blob = opts.blob;
    this.#shardId = opts.shardId;
    this.#dims = opts.dims;
    this.#target = opts.targetPartBytes;
    this.#compression = compression;
    this.#inline = opts.inline ?? false;
    this.#inFlight = Math.max(1, opts.inFlight ?? DEFAULT_IN_FLIGHT);
  }

  /**
   * Writes `updates` as one ORDERED run: consolidated by `desc.since` (times advanced, equal
   * (k, v, t) summed, zeros dropped), sorted, split into parts of about `targetPartBytes`. Every
   * update's time must have `dims` coordinates and lie in the description (beyond `lower`, not
   * beyond `upper`), else `invalid`; a diff sum outside i64 is `out_of_range`. Returns a batch whose
   * `len` is the number of rows written; with nothing left after consolidation it has no runs.
   * On failure, the parts already uploaded are deleted (best effort) before the error is thrown.
   */
  async write(updates: Iterable<Update>, desc: Description, opts: WriteOptions = {}): Promise<HollowBatch> {
    const rows = this.#checked(updates, desc);
    const consolidated = consolidate(rows, desc.since);
    return this.#writeRun(consolidated, desc, 'ordered', opts);
  }

  /**
   * Writes `updates` as given (no sorting, no consolidation) as one UNORDERED run: what a writer
   * flushes without sorting. Since nothing is advanced, `desc.since` must be the minimum frontier;
   * times must lie in the description. `len` is the number of updates given.
   */
  async writeUnordered(updates: Iterable<Update>, desc: Description, opts: WriteOptions = {}): Promise<HollowBatch> {
    if (!isMinimum(desc.since)) {
      throw invalid(`an unordered batch is not advanced: since must be the minimum frontier, got ${formatAntichain(desc.since)}`);
    }
    const rows = this.#checked(updates, desc);
    return this.#writeRun(rows, desc, 'unordered', opts);
  }

  #checked(updates: Iterable<Update>, desc: Description): Update[] {
    const dims = this.#dims;
    const descD = descDims(desc);
    if (descD !== undefined && descD !== dims) {
      throw invalid(`description ${formatDesc(desc)} has ${descD} coordinates, the writer ${dims}`);
    }
    const rows = Array.from(updates);
    for (let i = 0; i < rows.length; i++) {
      const u = rows[i];
      if (!(u.k instanceof Uint8Array) || !(u.v instanceof Uint8Array)) throw invalid(`update ${i}: k and v must be bytes`);
      if (!Array.isArray(u.t) || u.t.length !== dims) {
        throw invalid(`update ${i}: time has ${Array.isArray(u.t) ? u.t.length : 'no'} coordinates, expected ${dims}`);
      }
      if (!isValidTimestamp(u.t)) throw invalid(`update ${i}: time ${String(u.t)} is not a tuple of u64`);
      if (typeof u.d !== 'bigint' || u.d < I64_MIN || u.d > I64_MAX) throw invalid(`update ${i}: diff ${String(u.d)} is not an i64`);
      if (!beyond(desc.lower, u.t)) {
        throw invalid(`update ${i}: time ${formatTimestamp(u.t)} is not beyond lower ${formatAntichain(desc.lower)}`);
      }
      if (beyond(desc.upper, u.t)) {
        throw invalid(`update ${i}: time ${formatTimestamp(u.t)} is beyond upper ${formatAntichain(desc.upper)}`);
      }
    }
    return rows;
  }

  async #writeRun(rows: readonly Update[], desc: Description, order: RunOrder, opts: WriteOptions): Promise<HollowBatch> {
    if (rows.length === 0) return { desc, runs: [], len: 0 };
    if (this.#compression !== 'none') await ensureCodecs();
    const inline = opts.inline ?? this.#inline;
    const groups = splitBySize(rows, this.#dims, this.#target);
    const prefix = `w${randomUUID()}`;
    const uploaded: string[] = [];
    try {
      const parts = await mapLimit(groups, this.#inFlight, async (group, index): Promise<Part> => {
        opts.signal?.throwIfAborted();
        const cols = columnsFromUpdates(group, this.#dims);
        const bytes = encodePart(cols, { version: 1, dims: this.#dims, desc, index }, { compression: this.#compression });
        if (inline) return { kind: 'inline', data: bytes };
        const key = `${prefix}/p${randomUUID()}`;
        const objKey = objectKey(this.#shardId, key);
        uploaded.push(objKey);
        await this.#blob.set(objKey, bytes, { signal: opts.signal });
        return hollowPart(key, bytes, group);
      });
      const run: Run = { parts, order };
      return { desc, runs: [run], len: rows.length };
    } catch (err) {
      await Promise.allSettled(uploaded.map((k) => this.#blob.delete(k)));
      throw CompactdError.from(err);
    }
  }
}

function hollowPart(key: string, bytes: Uint8Array, rows: readonly Update[]): HollowPart {
  let sum = 0n;
  for (const u of rows) sum += u.d;
  return withDiffsSum(
    {
      kind: 'hollow',
      key,
      encodedSizeBytes: bytes.byteLength,
      updates: rows.length,
      // A prefix of the part's least key is <= every key in it. For an unordered part the least
      // key is not the first one, so it is looked up.
      keyLower: leastKey(rows).slice(0, MAX_KEY_LOWER_BYTES),
      checksum: sha256Checksum(bytes),
    },
    sum,
  );
}

function leastKey(rows: readonly Update[]): Uint8Array {
  let least = rows[0].k;
  for (const u of rows) if (compareBytes(u.k, least) < 0) least = u.k;
  return least;
}
