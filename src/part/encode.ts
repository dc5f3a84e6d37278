/**
 * Part encoding: PartColumns -> Arrow IPC file bytes (docs/contract.md, "Part format"), one record batch.
 * Arrow Data is built directly over the typed arrays (no builders: they run row by row, about
 * 100x slower). The writer emits the file as a list of views (metadata, padding and the column
 * buffers themselves). `encodePartViews` hands out that list as it is: the engine checksums and
 * uploads it without ever joining it, so an uncompressed part's column bytes are never copied.
 * `encodePart` joins it once, into a buffer the caller may supply and reuse.
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
  makeData,
} from './arrow.js';
import type { ArrayBufferViewInput } from 'apache-arrow/util/buffer';
import type { PartCompression } from '../model/compression.js';
import { CompactdError, internal } from '../model/errors.js';
import { codecsRegistered, lz4Encode, zstdEncode } from './codecs.js';
import type { PartColumns, PartMeta } from './columns.js';
import { encodeMeta } from './meta.js';
import { partSchema, timeType } from './schema.js';

export interface EncodeOptions {
  /** Body compression; anything but 'none' needs `ensureCodecs()` to have been awaited. Default 'none'. */
  compression?: PartCompression;
  /**
   * Where the file goes: called once with the file's size, returns a buffer of exactly that
   * length (e.g. a view of a reused one). Default: a fresh buffer.
   */
  alloc?: (bytes: number) => Uint8Array;
}

/** The Arrow codec and the frame compressor of each part compression. */
const CODECS: Record<Exclude<PartCompression, 'none'>, { type: CompressionType; encode: (src: Uint8Array) => Uint8Array }> = {
  zstd: { type: CompressionType.ZSTD, encode: zstdEncode },
  lz4: { type: CompressionType.LZ4_FRAME, encode: lz4Encode },
};

/** An encoded part: the file is the concatenation of `views`, `size` bytes in all. */
export interface EncodedPart {
  /**
   * Non-empty views in file order. Uncompressed column data (and column buffers that compression
   * would not shrink) are views of the columns' own buffers: those must stay unchanged for as long
   * as the views are read. Everything else is fresh memory or shared constant padding.
   */
  readonly views: readonly Uint8Array[];
  readonly size: number;
}

/**
 * Encodes `cols` as an Arrow IPC file with one record batch and `meta` as its `compactd.part`
 * metadata, as one buffer (`encodePartViews` joined). Throws as `encodePartViews` does.
 */
export function encodePart(cols: PartColumns, meta: PartMeta, opts: EncodeOptions = {}): Uint8Array {
  const { views, size } = encodePartViews(cols, meta, opts.compression);
  const out = opts.alloc?.(size) ?? new Uint8Array(size);
  if (out.byteLength !== size) throw internal(`encode buffer of ${out.byteLength} bytes for a ${size}-byte part`);
  let at = 0;
  for (const v of views) {
    out.set(v, at);
    at += v.byteLength;
  }
  return out;
}

/**
 * Encodes `cols` as an Arrow IPC file with one record batch and `meta` as its `compactd.part`
 * metadata, as the list of views the Arrow writer produces (no copy of the column data when
 * uncompressed). The columns may be views into a decoded part (offsets need not start at 0).
 * Throws `invalid` when `meta.dims` differs from `cols.dims`, the column arrays are inconsistent
 * with `len`, or the metadata cannot be written; `internal` when compression is asked for before
 * `ensureCodecs()` completed.
 */
export function encodePartViews(cols: PartColumns, meta: PartMeta, compression: PartCompression = 'none'): EncodedPart {
  if (compression !== 'none' && !Object.hasOwn(CODECS, compression)) {
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

  let codec: (typeof CODECS)[keyof typeof CODECS] | undefined;
  if (compression !== 'none') {
    if (!codecsRegistered()) throw internal(`${compression} part compression requested before ensureCodecs() completed`);
    codec = CODECS[compression];
  }
  const writer = new PartFileWriter(codec);
  writer.write(batch);
  writer.finish();
  return { views: writer.views, size: writer.size };
}

/** Bytes of the length prefix before each buffer of a compressed record batch body. */
const PREFIX_BYTES = 8;
/** The prefix of a buffer stored uncompressed (Arrow IPC: "the buffer is not compressed"). */
const NOT_COMPRESSED = -1n;
const EMPTY = new Uint8Array(0);

/**
 * apache-arrow's file writer with two steps replaced.
 *
 * Writing: the base class queues every chunk for a final concatenation; this one keeps the views
 * (metadata, padding and the column buffers themselves) and hands them out as they are.
 *
 * Compression: up to at least 21.2.0 the base class writes each compressed buffer's COMPRESSED
 * length into the 8-byte prefix, where the Arrow IPC format requires the UNCOMPRESSED length;
 * other Arrow implementations then refuse the file. Here buffers are compressed, each prefixed by
 * its uncompressed length (little-endian int64), or by -1 and stored raw when compressing would not
 * shrink it, and laid out 8-byte aligned exactly as the base class writes the body (prefix and
 * frame together, padded after each buffer). `override` makes the compiler refuse a base class
 * without these hooks.
 */
/** The writer hands its output to `_write` as typed-array views (metadata, padding, body buffers). */
function bytesOf(chunk: ArrayBufferViewInput): Uint8Array {
  if (chunk instanceof Uint8Array) return chunk;
  if (ArrayBuffer.isView(chunk)) return new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw internal(`the Arrow writer wrote a ${typeof chunk}, not bytes`);
}

class PartFileWriter extends RecordBatchFileWriter {
  readonly views: Uint8Array[] = [];
  size = 0;
  readonly #encode: ((src: Uint8Array) => Uint8Array) | undefined;

  constructor(codec: { type: CompressionType; encode: (src: Uint8Array) => Uint8Array } | undefined) {
    super({ compressionType: codec?.type ?? null });
    this.#encode = codec?.encode;
  }

  protected override _write(chunk: ArrayBufferViewInput): this {
    if (!this._started) return this;
    const view = bytesOf(chunk);
    if (view.byteLength > 0) {
      this.views.push(view);
      this.size += view.byteLength;
      // Only the position matters from here on: nothing reads the writer's own queue.
      this._position += view.byteLength;
    }
    return this;
  }

  protected override _compressBodyBuffers(buffers: ArrayBufferView[]) {
    const encode = this.#encode;
    if (encode === undefined) throw internal('a part writer without a codec was asked to compress');
    const out: Uint8Array[] = [];
    const bufferRegions: { offset: number; length: number }[] = [];
    let offset = 0;
    for (const buffer of buffers) {
      const raw = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
      if (raw.length === 0) {
        out.push(EMPTY, EMPTY);
        bufferRegions.push({ offset, length: 0 });
        continue;
      }
      const frame = encode(raw);
      const compressed = frame.length < raw.length;
      const stored = compressed ? frame : raw;
      const prefix = new Uint8Array(PREFIX_BYTES);
      new DataView(prefix.buffer).setBigInt64(0, compressed ? BigInt(raw.length) : NOT_COMPRESSED, true);
      out.push(prefix, stored);
      offset = align8(offset);
      bufferRegions.push({ offset, length: PREFIX_BYTES + stored.length });
      offset += PREFIX_BYTES + stored.length;
    }
    return { byteLength: align8(offset), bufferRegions, buffers: out };
  }
}

function align8(n: number): number {
  return Math.ceil(n / 8) * 8;
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
