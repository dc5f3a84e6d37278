/**
 * Part decoding: Arrow IPC file bytes -> PartMeta + PartColumns (docs/contract.md, "Part format").
 *
 * Zero-copy: for an uncompressed part with one record batch the returned typed arrays are views
 * over the input's memory. Arrow aligns every body buffer to 8 bytes within the file, so the
 * views line up as long as the input itself starts on an 8-byte boundary (S3 and fs bodies do).
 * A misaligned input is copied once into a fresh buffer, because BigInt64Array views require
 * 8-byte-aligned offsets. Compressed parts are views over the decompressed buffers; parts with
 * several record batches are concatenated into fresh arrays (the only case that copies rows).
 *
 * Every way a part can be malformed (not an Arrow file, wrong schema, bad metadata, nulls, dims
 * mismatch, offsets or lengths out of bounds, undecodable compressed buffers) is reported as a
 * `data_loss` CompactdError naming the part, so downstream code may index the columns freely.
 */
import {
  RecordBatchReader,
  Type,
  type Data,
  type RecordBatch,
  type RecordBatchFileReader,
  type Schema,
} from './arrow.js';
import { CompactdError, dataLoss, internal } from '../model/errors.js';
import { codecsRegistered, DecompressionBudgetExceeded, MAX_DECOMPRESSED_BYTES, withDecompression, type DeclaredBuffer } from './codecs.js';
import { allocColumns, type DecodedPart, type PartColumns } from './columns.js';
import { verifyFooter, verifyRecordBatch, type FileBlock, type NodeLayout } from './ipcfile.js';
import { META_KEY, decodeMeta } from './meta.js';
import { schemaProblem } from './schema.js';

/** "ARROW1": opens (followed by 2 padding bytes) and closes every Arrow IPC file. */
const MAGIC = [0x41, 0x52, 0x52, 0x4f, 0x57, 0x31];
/** Leading magic + padding, then the trailing footer length (int32) + magic. */
const FILE_OVERHEAD = 8 + 4 + 6;

export interface DecodeOptions {
  /**
   * Refuse (kind `exhausted`) a part whose buffers would take more than this many bytes once
   * decoded, before decompressing anything: a few KiB of ZSTD can claim a GiB.
   */
  readonly maxDecodedBytes?: number;
}

/**
 * Decodes a part. `name` (the part's key, or a description of an inline part) appears in every
 * error message. Throws `data_loss` for any malformed input (see the module comment), `exhausted`
 * when the part decodes to more than `opts.maxDecodedBytes`, and `internal` when the part is
 * compressed but `ensureCodecs()` has not completed in this thread.
 */
export function decodePart(bytes: Uint8Array, name: string, opts: DecodeOptions = {}): DecodedPart {
  const fail = (why: string, cause?: unknown): CompactdError => dataLoss(`part ${name}: ${why}`, cause);
  const size = bytes.length;
  if (size < FILE_OVERHEAD || !hasMagic(bytes, 0) || !hasMagic(bytes, size - MAGIC.length)) {
    throw fail('not an Arrow IPC file (missing ARROW1 magic)');
  }
  const footerLength = new DataView(bytes.buffer, bytes.byteOffset + size - 10, 4).getInt32(0, true);
  if (footerLength <= 0 || footerLength > size - FILE_OVERHEAD) {
    throw fail(`not an Arrow IPC file (footer length ${footerLength} out of bounds)`);
  }
  const input = bytes.byteOffset % 8 === 0 ? bytes : copyAligned(bytes);

  let schema: Schema;
  let reader: RecordBatchFileReader;
  let blocks: FileBlock[];
  try {
    // apache-arrow trusts the flatbuffers it reads (see ipcfile.ts): check them first.
    blocks = verifyFooter(input);
    const opened = RecordBatchReader.from(input);
    if (!opened.isFile()) throw new Error('not a file reader');
    reader = opened as RecordBatchFileReader;
    reader.open();
    schema = reader.schema;
    if (schema === undefined || schema === null) throw new Error('no schema in footer');
  } catch (err) {
    throw fail(`cannot read Arrow IPC file footer: ${message(err)}`, err);
  }

  const json = schema.metadata.get(META_KEY);
  if (json === undefined) throw fail(`missing ${META_KEY} schema metadata`);
  const meta = decodeMeta(json, name);
  const problem = schemaProblem(schema, meta.dims);
  if (problem !== undefined) throw fail(`wrong schema: ${problem}`);

  const layout = nodeLayout(schema, meta.dims);
  const batches: RecordBatch[] = [];
  try {
    const n = blocks.length;
    if (reader.numRecordBatches !== n) throw new Error('footer record batch count changed');
    const limit = opts.maxDecodedBytes ?? Infinity;
    let decoded = 0;
    const compressed: DeclaredBuffer[] = [];
    blocks.forEach((block, i) => {
      const body = verifyRecordBatch(input, block, i, layout, MAX_DECOMPRESSED_BYTES);
      decoded += body.decodedBytes;
      compressed.push(...body.compressed);
    });
    if (decoded > limit) throw tooLarge(name, decoded, limit);
    withDecompression(limit, compressed, () => {
      for (let i = 0; i < n; i++) {
        const batch = reader.readRecordBatch(i);
        if (batch === null) throw new Error(`record batch ${i} of ${n} is missing`);
        batches.push(batch);
      }
    });
  } catch (err) {
    if (err instanceof CompactdError) throw err;
    const over = findCause(err, DecompressionBudgetExceeded);
    if (over !== undefined) throw tooLarge(name, over.claimed, opts.maxDecodedBytes ?? Infinity);
    if (/codec not found/i.test(message(err)) && !codecsRegistered()) {
      throw internal(`part ${name} is compressed; call ensureCodecs() before decoding`, err);
    }
    throw fail(`cannot read record batch: ${message(err)}`, err);
  }
  return { meta, cols: columnsFromBatches(batches, meta.dims, name) };
}

function tooLarge(name: string, bytes: number, limit: number): CompactdError {
  return new CompactdError('exhausted', `part ${name} decodes to ${bytes} bytes or more, over the limit of ${limit}`);
}

/** `err` or one of its causes that is an instance of `type` (apache-arrow may wrap codec errors). */
function findCause<T extends Error>(err: unknown, type: new (...args: never[]) => T): T | undefined {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof type) return e;
  }
  return undefined;
}

/** The field nodes of a record batch of `schema` (already checked to be a part schema). */
function nodeLayout(schema: Schema, dims: number): NodeLayout {
  const columns: string[] = [];
  const lengthFactor: number[] = [];
  for (const f of schema.fields) {
    columns.push(f.name);
    lengthFactor.push(1);
    if (f.type.typeId === Type.FixedSizeList) {
      columns.push(`${f.name} coordinate`);
      lengthFactor.push(dims);
    }
  }
  return { columns, lengthFactor };
}

/**
 * The part columns of record batches whose schema has already been checked (`schemaProblem`).
 * Works on any Arrow data, including sliced batches (Data.offset != 0): in apache-arrow a sliced
 * Data's value and offset buffers already start at its first row, and only validity bitmaps are
 * read at `offset`. One batch gives views into its buffers; several are concatenated. Throws
 * `data_loss` naming `name` for nulls, short buffers and offsets out of bounds.
 */
export function columnsFromBatches(batches: readonly RecordBatch[], dims: number, name: string): PartColumns {
  const parts = batches.map((b, i) => columnsOfBatch(b, dims, batches.length > 1 ? `${name} (record batch ${i})` : name));
  if (parts.length === 1) return parts[0];
  return concatColumns(parts, dims, name);
}

function columnsOfBatch(batch: RecordBatch, dims: number, name: string): PartColumns {
  const fail = (why: string): CompactdError => dataLoss(`part ${name}: ${why}`);
  const len = batch.numRows;
  const column = (field: string): Data => {
    const idx = batch.schema.fields.findIndex((f) => f.name === field);
    const data = batch.data.children[idx];
    if (data === undefined) throw fail(`column ${field} is missing`);
    if (data.length !== len) throw fail(`column ${field} has ${data.length} rows, the batch ${len}`);
    if (data.nullCount !== 0) throw fail(`column ${field} holds nulls`);
    return data;
  };

  const binary = (field: 'k' | 'v'): [Int32Array, Uint8Array] => {
    const data = column(field);
    const offsets: unknown = data.valueOffsets;
    const values: unknown = data.values;
    if (!(offsets instanceof Int32Array) || !(values instanceof Uint8Array)) throw fail(`column ${field} has bad buffers`);
    if (offsets.length < len + 1) throw fail(`column ${field} offsets buffer is too short`);
    const bad = offsetsProblem(offsets, len, values.length);
    if (bad >= 0) throw fail(`column ${field} offsets out of bounds at row ${bad}`);
    // Trim the body padding so that kData.length is the byte extent of the rows.
    const end = offsets[len];
    return [
      offsets.length === len + 1 ? offsets : offsets.subarray(0, len + 1),
      values.length === end ? values : values.subarray(0, end),
    ];
  };
  const [kOffsets, kData] = binary('k');
  const [vOffsets, vData] = binary('v');

  const tData = column('t');
  let tSource: Data = tData;
  if (dims > 1) {
    const child = tData.children[0];
    if (child === undefined) throw fail('column t has no coordinate child');
    if (child.nullCount !== 0) throw fail('column t holds null coordinates');
    tSource = child;
  }
  const tValues: unknown = tSource.values;
  if (!(tValues instanceof BigUint64Array)) throw fail('column t has bad buffers');
  if (tValues.length < len * dims) throw fail('column t buffer is too short');
  const t = tValues.length === len * dims ? tValues : tValues.subarray(0, len * dims);

  const dValues: unknown = column('d').values;
  if (!(dValues instanceof BigInt64Array)) throw fail('column d has bad buffers');
  if (dValues.length < len) throw fail('column d buffer is too short');
  const d = dValues.length === len ? dValues : dValues.subarray(0, len);

  return { dims, len, kOffsets, kData, vOffsets, vData, t, d };
}

/**
 * The first row whose offsets are out of bounds or decreasing, or -1. O(len), one pass: checking
 * here lets every reader index the byte columns without bounds checks.
 */
function offsetsProblem(offsets: Int32Array, len: number, dataLength: number): number {
  let prev = offsets[0];
  if (prev < 0) return 0;
  // Compared before the loop: a comparison first reached after a long loop runs in the loop's
  // optimized code without type feedback, which then deoptimizes on every call.
  const overrun = offsets[len] > dataLength;
  for (let i = 1; i <= len; i++) {
    const cur = offsets[i];
    if (cur < prev) return i - 1;
    prev = cur;
  }
  return overrun ? len - 1 : -1;
}

function concatColumns(parts: readonly PartColumns[], dims: number, name: string): PartColumns {
  let len = 0;
  let kBytes = 0;
  let vBytes = 0;
  for (const p of parts) {
    len += p.len;
    kBytes += p.kOffsets[p.len] - p.kOffsets[0];
    vBytes += p.vOffsets[p.len] - p.vOffsets[0];
  }
  if (kBytes > 0x7fffffff || vBytes > 0x7fffffff) throw dataLoss(`part ${name}: keys or values exceed 2 GiB`);
  const columns = allocColumns(len, dims, kBytes, vBytes);
  const { kOffsets, vOffsets, kData, vData, t, d } = columns;
  let row = 0;
  let kPos = 0;
  let vPos = 0;
  for (const p of parts) {
    kPos = appendBinary(p.kOffsets, p.kData, p.len, kOffsets, kData, row, kPos);
    vPos = appendBinary(p.vOffsets, p.vData, p.len, vOffsets, vData, row, vPos);
    t.set(p.t, row * dims);
    d.set(p.d, row);
    row += p.len;
  }
  return columns;
}

/** Appends `len` binary values to `outOffsets`/`outData` at `row`/`pos`; returns the new end. */
function appendBinary(
  offsets: Int32Array,
  data: Uint8Array,
  len: number,
  outOffsets: Int32Array,
  outData: Uint8Array,
  row: number,
  pos: number,
): number {
  const start = offsets[0];
  outData.set(data.subarray(start, offsets[len]), pos);
  const shift = pos - start;
  for (let i = 1; i <= len; i++) outOffsets[row + i] = offsets[i] + shift;
  return pos + offsets[len] - start;
}

function hasMagic(bytes: Uint8Array, at: number): boolean {
  for (let i = 0; i < MAGIC.length; i++) if (bytes[at + i] !== MAGIC[i]) return false;
  return true;
}

function copyAligned(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(bytes.length); // a fresh ArrayBuffer starts at offset 0
  out.set(bytes);
  return out;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
