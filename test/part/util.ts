/**
 * Shared pieces of the part codec tests: generators for part contents and helpers that build
 * Arrow files with arbitrary schemas (to produce malformed parts on purpose).
 */
import {
  Data,
  Field,
  makeData,
  MessageReader,
  RecordBatch,
  RecordBatchFileWriter,
  RecordBatchReader,
  Schema,
  Struct,
  type CompressionType,
  type RecordBatchFileReader,
} from 'apache-arrow';
import fc from 'fast-check';
import type { Description } from '../../src/model/description.js';
import { CompactdError } from '../../src/model/errors.js';
import { I64_MAX, I64_MIN, type Update } from '../../src/model/update.js';
import type { PartMeta } from '../../src/part/columns.js';
import { META_KEY } from '../../src/part/meta.js';
import { coord, description } from '../model/arb.js';

/** Updates with arbitrary bytes and full-range times and diffs (codec tests need no ties). */
export const anyUpdate = (dims: number): fc.Arbitrary<Update> =>
  fc.record({
    k: fc.uint8Array({ maxLength: 12 }),
    v: fc.uint8Array({ maxLength: 12 }),
    t: fc.array(coord(), { minLength: dims, maxLength: dims }),
    d: fc.oneof(
      fc.bigInt({ min: -3n, max: 3n }),
      fc.constantFrom(I64_MIN, I64_MAX),
      fc.bigInt({ min: I64_MIN, max: I64_MAX }),
    ),
  });

export const partMeta = (dims: number): fc.Arbitrary<PartMeta> =>
  fc.record({ desc: description(dims), index: fc.nat() }).map(({ desc, index }) => ({ version: 1 as const, dims, desc, index }));

export const meta1: PartMeta = {
  version: 1,
  dims: 1,
  desc: { lower: [[0n]], upper: [[10n]], since: [[0n]] },
  index: 0,
};

export function metaOf(dims: number, desc?: Description): PartMeta {
  const zero = new Array<bigint>(dims).fill(0n);
  return { version: 1, dims, desc: desc ?? { lower: [zero], upper: [], since: [zero] }, index: 7 };
}

/** The metadata JSON a well-formed part of `dims` carries. */
export function metaJson(dims: number): string {
  const zero = new Array<string>(dims).fill('0');
  return JSON.stringify({ version: 1, dims, desc: { lower: [zero], upper: [], since: [zero] }, index: 0 });
}

/** Writes one record batch with exactly the given fields and children as an Arrow IPC file. */
export function arrowFile(
  fields: Field[],
  children: Data[],
  metadata: Map<string, string> | undefined,
  compressionType: CompressionType | null = null,
): Uint8Array {
  const schema = new Schema(fields, metadata);
  const length = children[0]?.length ?? 0;
  const batch = new RecordBatch(schema, makeData({ type: new Struct(fields), length, nullCount: 0, children }));
  return writeBatches([batch], compressionType);
}

export function writeBatches(batches: RecordBatch[], compressionType: CompressionType | null = null): Uint8Array {
  const writer = new RecordBatchFileWriter({ compressionType });
  for (const b of batches) writer.write(b);
  writer.finish();
  return writer.toUint8Array(true);
}

export function withMeta(json: string = metaJson(1)): Map<string, string> {
  return new Map([[META_KEY, json]]);
}

/** The body compression codec recorded in every record batch message of an Arrow file. */
export function batchCompression(bytes: Uint8Array): (CompressionType | null)[] {
  const reader = RecordBatchReader.from(bytes) as RecordBatchFileReader;
  reader.open();
  const footer = reader.footer!;
  const out: (CompressionType | null)[] = [];
  for (let i = 0; i < footer.numRecordBatches; i++) {
    const block = footer.getRecordBatch(i)!;
    const message = new MessageReader(bytes.subarray(block.offset)).readMessage()!;
    const header = message.header() as { compression?: { type: CompressionType } | null };
    out.push(header.compression?.type ?? null);
  }
  return out;
}

/** Runs `fn` and returns the CompactdError it throws (fails the test if it throws anything else). */
export function caught(fn: () => unknown): CompactdError {
  try {
    fn();
  } catch (err) {
    if (err instanceof CompactdError) return err;
    throw new Error(`expected a CompactdError, got ${String(err)}`, { cause: err });
  }
  throw new Error('expected an error, none was thrown');
}

/** A buffer of a compressed record batch body: where its 8-byte length prefix sits in the file. */
export interface PrefixedBuffer {
  /** File offset of the prefix. */
  readonly at: number;
  /** Bytes of the buffer's region: the prefix and what follows it. */
  readonly length: number;
  /** The prefix: the uncompressed length, or -1 for a buffer stored raw. */
  readonly prefix: bigint;
}

/** The non-empty buffers of every compressed record batch of an Arrow file, read with apache-arrow. */
export function prefixedBuffers(bytes: Uint8Array): PrefixedBuffer[] {
  const reader = RecordBatchReader.from(bytes) as RecordBatchFileReader;
  reader.open();
  const footer = reader.footer!;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: PrefixedBuffer[] = [];
  for (let i = 0; i < footer.numRecordBatches; i++) {
    const block = footer.getRecordBatch(i)!;
    const message = new MessageReader(bytes.subarray(block.offset)).readMessage()!;
    const header = message.header() as { compression?: unknown; buffers: { offset: number; length: number }[] };
    if (header.compression == null) continue;
    const body = block.offset + block.metaDataLength;
    for (const b of header.buffers) {
      if (b.length === 0) continue;
      out.push({ at: body + b.offset, length: b.length, prefix: view.getBigInt64(body + b.offset, true) });
    }
  }
  return out;
}

/** A copy of `bytes` with the length prefix at `at` set to `value`. */
export function withPrefix(bytes: Uint8Array, at: number, value: bigint): Uint8Array {
  const copy = bytes.slice();
  new DataView(copy.buffer).setBigInt64(at, value, true);
  return copy;
}
