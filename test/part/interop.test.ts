/**
 * compactd's parts read by an independent Arrow implementation. flechette (a separate JavaScript
 * Arrow IPC reader and writer) parses every part, with independent decompressors (fzstd for ZSTD,
 * lz4-napi for LZ4_FRAME) that hold each buffer to its 8-byte prefix as the Arrow IPC format
 * requires, as Arrow C++ and Rust do: the prefix is the UNCOMPRESSED length, or -1 for a buffer
 * stored raw. Every column and row is compared with what was written, for every part compactd
 * writes: the writer library, the engine and the CLI (`write-batch`, `compact --local`), each
 * uncompressed, ZSTD and LZ4_FRAME. In the other direction, compressed parts written by flechette
 * (correct prefixes) are read by compactd, and compactd's own reader is held to the prefix too.
 */
import { compress as zstdCompress } from '@bokuweb/zstd-wasm';
import { CompressionType, Type, setCompressionCodec, tableFromIPC, tableToIPC, type Field } from '@uwdata/flechette';
import { decompress as fzstdDecompress } from 'fzstd';
import { compressFrameSync, decompressFrameSync } from 'lz4-napi';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BlobData, BlobOptions } from '../../src/blob/blob.js';
import { FileBlob } from '../../src/blob/file.js';
import { MemoryBlob } from '../../src/blob/memory.js';
import { BatchWriter } from '../../src/client/batch-writer.js';
import { DEFAULT_ENGINE_CONFIG } from '../../src/compact/types.js';
import type { HollowBatch } from '../../src/model/batch.js';
import { PART_COMPRESSIONS, type PartCompression } from '../../src/model/compression.js';
import type { Description } from '../../src/model/description.js';
import { objectKey } from '../../src/model/keys.js';
import { I64_MAX, I64_MIN, consolidate, type Update } from '../../src/model/update.js';
import { ensureCodecs } from '../../src/part/codecs.js';
import { decodePart } from '../../src/part/decode.js';
import { encodePart } from '../../src/part/encode.js';
import { columnsFromUpdates, updatesFromColumns } from '../../src/part/rows.js';
import { compactResponseFromJson, hollowBatchFromJson, hollowBatchToJson, updateToNdjsonLine } from '../../src/wire/json.js';
import { run } from '../helpers/cli.js';
import { validateAndCompact } from '../helpers/compact.js';

const U64_MAX = (1n << 64n) - 1n;
const SHARD = 'interop';
/** Non-empty buffers of a part record batch (validity bitmaps are empty: no nulls): k offsets and
 * data, v offsets and data, t values, d values. */
const PART_BUFFERS = 6;

/** Buffers the independent decompressors have decoded (raw `-1` buffers are never decoded). */
let decoded = 0;

/**
 * A flechette codec that decompresses with `decompress` and holds the result to the buffer's
 * prefix. flechette makes typed arrays over the result, so it gets a fresh, 8-byte aligned copy.
 */
function strictCodec(name: string, encode: (b: Uint8Array) => Uint8Array, decompress: (b: Uint8Array) => Uint8Array) {
  return {
    encode,
    decode(bytes: Uint8Array, declared: number): Uint8Array {
      const out = decompress(bytes);
      if (out.length !== declared) {
        throw new Error(`${name} buffer: prefix declares ${declared} bytes uncompressed, the frame decompresses to ${out.length}`);
      }
      decoded++;
      return new Uint8Array(out);
    },
  };
}

setCompressionCodec(
  CompressionType.ZSTD,
  strictCodec('ZSTD', (b) => zstdCompress(b, 3), (b) => fzstdDecompress(b)),
);
setCompressionCodec(
  CompressionType.LZ4_FRAME,
  strictCodec(
    'LZ4_FRAME',
    (b) => new Uint8Array(compressFrameSync(Buffer.from(b.buffer, b.byteOffset, b.byteLength))),
    (b) => decompressFrameSync(Buffer.from(b.buffer, b.byteOffset, b.byteLength)),
  ),
);

/** The real file store, recording how many chunks each object was handed over in. */
class ChunkCountingFileBlob extends FileBlob {
  readonly chunkCounts: number[] = [];

  override set(key: string, data: BlobData, opts?: BlobOptions): Promise<void> {
    this.chunkCounts.push(Array.isArray(data) ? data.length : 1);
    return super.set(key, data, opts);
  }
}

/** A row as plain strings, so that a mismatch prints readably. */
interface Row {
  k: string;
  v: string;
  t: string[];
  d: string;
}
const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const row = (u: Update): Row => ({ k: hex(u.k), v: hex(u.v), t: u.t.map(String), d: String(u.d) });

interface IndependentRead {
  readonly meta: { version: number; dims: number; index: number };
  readonly rows: Row[];
  /** Buffers decompressed while reading (0 for an uncompressed part). */
  readonly decompressed: number;
}

function expectInt(field: Field, signed: boolean): void {
  const type = field.type as { typeId: number; bitWidth?: number; signed?: boolean };
  expect(type.typeId, `field ${field.name}`).toBe(Type.Int);
  expect(type.bitWidth, `field ${field.name}`).toBe(64);
  expect(type.signed, `field ${field.name}`).toBe(signed);
}

/** Reads an Arrow IPC file with flechette alone: checks the part schema, returns every row. */
function readIndependently(bytes: Uint8Array): IndependentRead {
  const before = decoded;
  const table = tableFromIPC(bytes, { useBigInt: true });
  const fields = table.schema.fields;
  expect(fields.map((f) => f.name)).toEqual(['k', 'v', 't', 'd']);
  for (const f of fields) expect(f.nullable, `field ${f.name} nullable`).toBe(false);
  const meta = JSON.parse(table.schema.metadata!.get('compactd.part')!) as IndependentRead['meta'];
  const dims = meta.dims;
  expect(fields[0].type.typeId).toBe(Type.Binary);
  expect(fields[1].type.typeId).toBe(Type.Binary);
  if (dims === 1) {
    expectInt(fields[2], false);
  } else {
    const t = fields[2].type as { typeId: number; stride: number; children: Field[] };
    expect(t.typeId).toBe(Type.FixedSizeList);
    expect(t.stride).toBe(dims);
    expectInt(t.children[0], false);
    expect(t.children[0].nullable).toBe(false);
  }
  expectInt(fields[3], true);

  const [k, v, t, d] = ['k', 'v', 't', 'd'].map((name) => table.getChild(name));
  for (const c of [k, v, t, d]) expect(c.nullCount).toBe(0);
  const rows: Row[] = [];
  for (let i = 0; i < table.numRows; i++) {
    const time = t.at(i) as bigint | BigUint64Array;
    rows.push({
      k: hex(k.at(i) as Uint8Array),
      v: hex(v.at(i) as Uint8Array),
      t: typeof time === 'bigint' ? [String(time)] : Array.from(time, String),
      d: String(d.at(i) as bigint),
    });
  }
  return { meta, rows, decompressed: decoded - before };
}

/** A deterministic pseudo-random byte source (xorshift32), so that failures reproduce. */
function prng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) & 0xff;
  };
}

/**
 * `n` updates with times in [lower, upper): keys share prefixes (compressible offsets and data),
 * values are random bytes (incompressible, so compressed parts also hold raw buffers), times reach
 * the u64 edge in the other coordinates, diffs the i64 edges.
 */
function updates(n: number, dims: number, lower: number, upper: number, seed: number): Update[] {
  const rand = prng(seed);
  const out: Update[] = [];
  for (let i = 0; i < n; i++) {
    const t = [BigInt(lower + (i % (upper - lower)))];
    for (let j = 1; j < dims; j++) t.push(i % 3 === 0 ? U64_MAX : BigInt(i * j));
    const edge = i % 97;
    const d = edge === 1 ? I64_MAX : edge === 2 ? I64_MIN : BigInt((i % 7) - 3) || 1n;
    out.push({
      k: new TextEncoder().encode(`key-${String(i % 500).padStart(4, '0')}-${seed}`),
      v: Uint8Array.from({ length: 8 + (i % 5) }, rand),
      t,
      d,
    });
  }
  return out;
}

const desc = (dims: number, lower: number, upper: number, since: number): Description => ({
  lower: [[BigInt(lower), ...new Array<bigint>(dims - 1).fill(0n)]],
  upper: [[BigInt(upper), ...new Array<bigint>(dims - 1).fill(0n)]],
  since: [[BigInt(since), ...new Array<bigint>(dims - 1).fill(0n)]],
});

/**
 * Every stored row of `batch`, each part read by flechette. Checks that compressed buffers were
 * met when `compression` is not 'none' (a small part may store all its buffers raw) and none when
 * it is.
 */
async function readBatchIndependently(blob: MemoryBlob, batch: HollowBatch, compression: PartCompression): Promise<Row[]> {
  const rows: Row[] = [];
  let decompressed = 0;
  for (const r of batch.runs) {
    for (const p of r.parts) {
      const bytes = p.kind === 'inline' ? p.data : await blob.get(objectKey(SHARD, p.key));
      const read = readIndependently(bytes!);
      decompressed += read.decompressed;
      rows.push(...read.rows);
    }
  }
  expect(decompressed > 0).toBe(compression !== 'none');
  return rows;
}

// ensureCodecs() also readies zstd-wasm for the flechette writer's encoder: a second init() of
// zstd-wasm would leave two wasm instances behind one module, and its compressor then returns
// zeros once the heap has grown.
beforeAll(() => ensureCodecs());

describe.each(PART_COMPRESSIONS)('compression %s: an independent Arrow reader reads every part', (compression) => {
  it.each([1, 2])('from the writer library (D = %i)', async (dims) => {
    const blob = new MemoryBlob();
    const writer = new BatchWriter({ blob, shardId: SHARD, dims, targetPartBytes: 32 * 1024, compression });
    const written = updates(3000, dims, 0, 50, 1);
    const batch = await writer.write(written, desc(dims, 0, 50, 0));
    expect(batch.runs[0].parts.length).toBeGreaterThan(1);
    const expected = consolidate(written, batch.desc.since).map(row);
    expect(await readBatchIndependently(blob, batch, compression)).toEqual(expected);

    const inline = await writer.write(written, desc(dims, 0, 50, 0), { inline: true });
    expect(await readBatchIndependently(blob, inline, compression)).toEqual(expected);
  });

  it.each([1, 2])('from the engine (D = %i)', async (dims) => {
    const blob = new MemoryBlob();
    const writer = new BatchWriter({ blob, shardId: SHARD, dims, targetPartBytes: 16 * 1024 });
    const a = updates(2000, dims, 0, 50, 2);
    const b = updates(2000, dims, 50, 100, 3);
    // Rows of b at a's keys, so that consolidation across the inputs has work to do (only where
    // the sum stays within i64: that is item of the diffs_sum tests, not of the format).
    const small = (x: Update): boolean => x.d > -10n && x.d < 10n;
    const c = a.filter(small).slice(0, 300).map((u) => ({ ...u, t: [50n, ...u.t.slice(1)], d: 1n }));
    const inputs = [await writer.write(a, desc(dims, 0, 50, 0)), await writer.write([...b, ...c], desc(dims, 50, 100, 0))];
    const res = await validateAndCompact(
      { shardId: SHARD, desc: desc(dims, 0, 100, 60), inputs, force: true, requestId: '' },
      { blob, config: { ...DEFAULT_ENGINE_CONFIG, compression, targetPartBytes: 48 * 1024 } },
    );
    expect(res.output.runs[0].parts.length).toBeGreaterThan(1);
    const expected = consolidate([...a, ...b, ...c], res.output.desc.since).map(row);
    expect(await readBatchIndependently(blob, res.output, compression)).toEqual(expected);
  });

  it.each([1, 2])('from the engine through the file store, each part written as chunks (D = %i)', async (dims) => {
    const dir = await mkdtemp(join(tmpdir(), 'compactd-interop-chunks-'));
    try {
      const blob = new ChunkCountingFileBlob(dir);
      const writer = new BatchWriter({ blob, shardId: SHARD, dims, targetPartBytes: 16 * 1024 });
      const a = updates(2000, dims, 0, 50, 6);
      const b = updates(2000, dims, 50, 100, 7);
      const inputs = [await writer.write(a, desc(dims, 0, 50, 0)), await writer.write(b, desc(dims, 50, 100, 0))];
      const res = await validateAndCompact(
        { shardId: SHARD, desc: desc(dims, 0, 100, 60), inputs, force: true, requestId: '' },
        { blob, config: { ...DEFAULT_ENGINE_CONFIG, compression, targetPartBytes: 48 * 1024 } },
      );
      const parts = res.output.runs.flatMap((r) => r.parts);
      expect(parts.length).toBeGreaterThan(1);
      const chunkCounts = blob.chunkCounts.slice(-parts.length);
      expect(Math.min(...chunkCounts)).toBeGreaterThan(1);
      const expected = consolidate([...a, ...b], res.output.desc.since);
      const independent: Row[] = [];
      const ours: Update[] = [];
      let decompressed = 0;
      for (const p of parts) {
        if (p.kind !== 'hollow') throw new Error('expected hollow parts');
        const bytes = new Uint8Array(await readFile(join(dir, SHARD, p.key)));
        expect(bytes.byteLength).toBe(p.encodedSizeBytes);
        const read = readIndependently(bytes);
        decompressed += read.decompressed;
        independent.push(...read.rows);
        ours.push(...updatesFromColumns(decodePart(bytes, p.key).cols));
      }
      expect(decompressed > 0).toBe(compression !== 'none');
      expect(independent).toEqual(expected.map(row));
      expect(ours).toEqual(expected);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('from the CLI: write-batch and compact --local with --compression', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'compactd-interop-'));
    try {
      const blobUrl = `file://${dir}`;
      const readPart = async (key: string): Promise<Uint8Array> => new Uint8Array(await readFile(join(dir, SHARD, key)));
      const partKeys = (batch: HollowBatch): string[] => batch.runs.flatMap((r) => r.parts.map((p) => (p.kind === 'hollow' ? p.key : '')));
      const a = updates(1500, 1, 0, 5, 4);
      const b = updates(1500, 1, 5, 10, 5);
      const writeBatch = async (rows: Update[], lower: number, upper: number): Promise<HollowBatch> => {
        const r = await run(
          ['write-batch', '--blob', blobUrl, '--shard', SHARD, '--lower', `[["${lower}"]]`, '--upper', `[["${upper}"]]`, '--compression', compression, '--target-part-bytes', '16KiB'],
          rows.map(updateToNdjsonLine).join('\n'),
        );
        expect(r.stderr).toBe('');
        return hollowBatchFromJson(JSON.parse(r.stdout));
      };
      const inputs = [await writeBatch(a, 0, 5), await writeBatch(b, 5, 10)];
      for (const [i, batch] of inputs.entries()) {
        const rows: Row[] = [];
        let decompressed = 0;
        for (const key of partKeys(batch)) {
          const read = readIndependently(await readPart(key));
          decompressed += read.decompressed;
          rows.push(...read.rows);
        }
        expect(decompressed > 0).toBe(compression !== 'none');
        expect(rows).toEqual(consolidate(i === 0 ? a : b, batch.desc.since).map(row));
      }

      const req = { shardId: SHARD, desc: { lower: [['0']], upper: [['10']], since: [['3']] }, inputs: inputs.map(hollowBatchToJson) };
      const r = await run(['compact', '--local', '--blob', blobUrl, '--compression', compression, '--target-part-bytes', '32KiB'], JSON.stringify(req));
      expect(r.stderr).toBe('');
      const res = compactResponseFromJson(JSON.parse(r.stdout));
      const rows: Row[] = [];
      let decompressed = 0;
      for (const key of partKeys(res.output!)) {
        const read = readIndependently(await readPart(key));
        decompressed += read.decompressed;
        rows.push(...read.rows);
      }
      expect(decompressed > 0).toBe(compression !== 'none');
      expect(rows).toEqual(consolidate([...a, ...b], res.output!.desc.since).map(row));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('compressed buffers and their length prefix', () => {
  const dims = 1;
  const meta = { version: 1 as const, dims, desc: desc(1, 0, 50, 0), index: 0 };

  it.each(['zstd', 'lz4'] as const)('%s parts hold compressed buffers (prefix = uncompressed length) and raw ones (prefix -1)', (compression) => {
    const written = consolidate(updates(2000, dims, 0, 50, 6), meta.desc.since);
    const bytes = encodePart(columnsFromUpdates(written, dims), meta, { compression });
    const read = readIndependently(bytes);
    expect(read.rows).toEqual(written.map(row));
    // The random values do not compress: that buffer is stored raw, the others compressed.
    expect(read.decompressed).toBeGreaterThan(0);
    expect(read.decompressed).toBeLessThan(PART_BUFFERS);
    expect(updatesFromColumns(decodePart(bytes, 'p').cols)).toEqual(written);
  });

  it('LZ4_FRAME buffers above one 4 MiB block (linked blocks) are read independently', () => {
    const big = Array.from({ length: 40 }, (_, i): Update => ({ k: Uint8Array.of(i), v: new Uint8Array(150 * 1024).fill(i), t: [BigInt(i)], d: 1n }));
    const bytes = encodePart(columnsFromUpdates(big, 1), meta, { compression: 'lz4' });
    expect(bytes.length).toBeLessThan(1024 * 1024);
    expect(readIndependently(bytes).rows).toEqual(big.map(row));
  });

  it.each([
    ['ZSTD', CompressionType.ZSTD],
    ['LZ4_FRAME', CompressionType.LZ4_FRAME],
  ] as const)('compactd reads %s parts written by another Arrow implementation', (_name, codec) => {
    const written = consolidate(updates(2000, 2, 0, 50, 7), [[0n, 0n]]);
    const ours = encodePart(columnsFromUpdates(written, 2), { ...meta, dims: 2, desc: desc(2, 0, 50, 0) });
    const theirs = tableToIPC(tableFromIPC(ours, { useBigInt: true }), { format: 'file', codec });
    expect(theirs).not.toBeNull();
    const decodedPart = decodePart(theirs!, 'flechette');
    expect(decodedPart.meta.dims).toBe(2);
    expect(updatesFromColumns(decodedPart.cols)).toEqual(written);
  });
});
