/**
 * Part encoding: PartColumns -> Arrow IPC file bytes (CONTRACT.md section 4), one record batch.
 * Arrow Data is built directly over the typed arrays (no builders: they run row by row, about
 * 100x slower). The writer emits the file as a list of views (metadata, padding and the column
 * buffers themselves); they are copied once, into a buffer the caller may supply and reuse: a
 * fresh 128 MiB allocation per part costs more in page faults than the copy itself.
 */
import {
  Binary,
  CompressionType,
  Data,
  FixedSizeList,
  Int64,
  RecordBatch,
  RecordBatchFileWriter,
  Struct,
  Uint64,
  compressionRegistry,
  makeData,
} from 'apache-arrow';
import { toUint8Array, type ArrayBufferViewInput } from 'apache-arrow/util/buffer';
import { CompactdError, internal } from '../model/errors.js';
import type { PartColumns, PartMeta } from './columns.js';
import { encodeMeta } from './meta.js';
import { partSchema, timeType } from './schema.js';

export interface EncodeOptions {
  /** Body compression; 'zstd' needs `ensureCodecs()` to have been awaited. Default 'none'. */
  compression?: 'none' | 'zstd';
  /**
   * Where the file goes: called once with the file's size, returns a buffer of exactly that
   * length (e.g. a view of a reused one). Default: a fresh buffer.
   */
  alloc?: (bytes: number) => Uint8Array;
}

/** A file writer that keeps the views it is given instead of queueing them for a concatenation. */
class ViewCollectingWriter extends RecordBatchFileWriter {
  readonly views: Uint8Array[] = [];
  size = 0;

  protected override _write(chunk: ArrayBufferViewInput): this {
    if (!this._started) return this;
    const view = toUint8Array(chunk);
    if (view.byteLength > 0) {
      this.views.push(view);
      this.size += view.byteLength;
      // Only the position matters from here on: nothing reads the writer's own queue.
      this._position += view.byteLength;
    }
    return this;
  }
}

/**
 * Encodes `cols` as an Arrow IPC file with one record batch and `meta` as its `compactd.part`
 * metadata. The columns may be views into a decoded part (offsets need not start at 0). Throws
 * `invalid` when `meta.dims` differs from `cols.dims`, the column arrays are inconsistent with
 * `len`, or the metadata cannot be written; `internal` when ZSTD is asked for before
 * `ensureCodecs()` completed.
 */
export function encodePart(cols: PartColumns, meta: PartMeta, opts: EncodeOptions = {}): Uint8Array {
  const compression = opts.compression ?? 'none';
  if (compression !== 'none' && compression !== 'zstd') {
    throw new CompactdError('invalid', `unsupported part compression ${JSON.stringify(compression)}`);
  }
  const { dims, len } = cols;
  if (meta.dims !== dims) throw new CompactdError('invalid', `metadata dims ${meta.dims} differ from columns dims ${dims}`);
  const problem = columnsProblem(cols);
  if (problem !== undefined) throw new CompactdError('invalid', `inconsistent part columns: ${problem}`);
  const schema = partSchema(dims, encodeMeta(meta));

  const k = makeData({ type: new Binary(), length: len, nullCount: 0, valueOffsets: cols.kOffsets, data: cols.kData });
  const v = makeData({ type: new Binary(), length: len, nullCount: 0, valueOffsets: cols.vOffsets, data: cols.vData });
  const tValues = cols.t.subarray(0, len * dims);
  let t: Data;
  if (dims === 1) {
    t = makeData({ type: new Uint64(), length: len, nullCount: 0, data: tValues });
  } else {
    const child = makeData({ type: new Uint64(), length: len * dims, nullCount: 0, data: tValues });
    t = makeData({ type: timeType(dims) as FixedSizeList<Uint64>, length: len, nullCount: 0, child });
  }
  const d = makeData({ type: new Int64(), length: len, nullCount: 0, data: cols.d.subarray(0, len) });
  const struct = makeData({ type: new Struct(schema.fields), length: len, nullCount: 0, children: [k, v, t, d] });
  const batch = new RecordBatch(schema, struct);

  let compressionType: CompressionType | null = null;
  if (compression === 'zstd') {
    if (compressionRegistry.get(CompressionType.ZSTD)?.encode === undefined) {
      throw internal('ZSTD part compression requested before ensureCodecs() completed');
    }
    compressionType = CompressionType.ZSTD;
  }
  const writer = new ViewCollectingWriter({ compressionType });
  writer.write(batch);
  writer.finish();
  const out = opts.alloc?.(writer.size) ?? new Uint8Array(writer.size);
  if (out.byteLength !== writer.size) throw internal(`encode buffer of ${out.byteLength} bytes for a ${writer.size}-byte part`);
  let at = 0;
  for (const v of writer.views) {
    out.set(v, at);
    at += v.byteLength;
  }
  return out;
}

/** Why the column arrays do not describe `len` rows of `dims` coordinates, or undefined. */
function columnsProblem(cols: PartColumns): string | undefined {
  const { dims, len, kOffsets, kData, vOffsets, vData, t, d } = cols;
  if (!Number.isSafeInteger(dims) || dims < 1) return `dims ${dims}`;
  if (!Number.isSafeInteger(len) || len < 0) return `len ${len}`;
  if (kOffsets.length < len + 1 || vOffsets.length < len + 1) return 'offsets shorter than len + 1';
  if (t.length < len * dims) return 't shorter than len * dims';
  if (d.length < len) return 'd shorter than len';
  if (kOffsets[0] < 0 || kOffsets[len] > kData.length || kOffsets[0] > kOffsets[len]) return 'k offsets out of bounds';
  if (vOffsets[0] < 0 || vOffsets[len] > vData.length || vOffsets[0] > vOffsets[len]) return 'v offsets out of bounds';
  return undefined;
}
