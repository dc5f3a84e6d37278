/**
 * Body compression codecs for Arrow IPC parts. apache-arrow ships none: it looks codecs up in its
 * global `compressionRegistry`, so they are registered once per thread (each worker thread has
 * its own module instances and must await `ensureCodecs()` itself).
 *
 * ZSTD uses @bokuweb/zstd-wasm, LZ4_FRAME uses lz4js. Both libraries trust their input: zstd-wasm
 * sizes its output buffer from the frame header (and its size query fails open on malformed
 * headers), and lz4js misreads 64-bit content sizes and block checksums. So this module parses
 * the frame structure itself first, bounds the output size, and only then hands well-formed data
 * to the library. Anything malformed throws, which the part decoder reports as data loss.
 *
 * Parts are compressed by the part encoder itself (encode.ts), not by apache-arrow's writer, which
 * puts the wrong length before each compressed buffer. The encoders stay registered for other
 * apache-arrow writers in the same process; what they write is the legacy form that
 * `withDecompression` accepts.
 */
import { compress as zstdCompress, decompress as zstdDecompress, init as zstdInit } from '@bokuweb/zstd-wasm';
import { compressionRegistry, CompressionType } from './arrow.js';
import lz4js from 'lz4js';

/**
 * Largest decompressed buffer accepted. Parts are about 128 MiB (the default target size) and
 * each Arrow buffer is compressed separately, so a real buffer stays far below this; a bigger
 * claim is corruption, and the cap keeps zstd-wasm's 2 GiB heap from being exhausted.
 */
export const MAX_DECOMPRESSED_BYTES = 1 << 30;

/** zstd level for written parts: compaction rewrites data often, so speed beats ratio. */
const ZSTD_LEVEL = 1;

/** zstd's largest block (ZSTD_BLOCKSIZE_MAX): no block regenerates more than this. */
const ZSTD_BLOCK_MAX = 128 * 1024;
/** ZSTD_WINDOWLOG_MAX on 32-bit targets (the wasm build): larger windows fail to decode. */
const ZSTD_WINDOWLOG_MAX = 30;
const ZSTD_MAGIC = 0xfd2fb528;
const LZ4_MAGIC = 0x184d2204;
/** LZ4 frame block maximum sizes by BD block-size id. */
const LZ4_BLOCK_MAX: Record<number, number> = { 4: 64 * 1024, 5: 256 * 1024, 6: 1024 * 1024, 7: 4 * 1024 * 1024 };

let ready: Promise<void> | undefined;
let registered = false;

/**
 * Registers the ZSTD and LZ4_FRAME codecs in apache-arrow's compression registry and readies the
 * zstd encoder. Idempotent and safe to call concurrently; must be awaited once per thread
 * before encoding with compression or decoding a compressed part. Decoding uncompressed parts does not need it. A failed
 * initialization is not cached, so a later call retries.
 */
export function ensureCodecs(): Promise<void> {
  ready ??= (async () => {
    await zstdInit();
    compressionRegistry.set(CompressionType.ZSTD, { encode: zstdEncode, decode: zstdDecode });
    compressionRegistry.set(CompressionType.LZ4_FRAME, { encode: lz4Encode, decode: lz4Decode });
    registered = true;
  })().catch((err: unknown) => {
    ready = undefined;
    throw err;
  });
  return ready;
}

/** True once `ensureCodecs()` has completed in this thread. */
export function codecsRegistered(): boolean {
  return registered;
}

/**
 * What the part being decoded allows and declares. Decoding is synchronous, so one module-level
 * context set around it by `withDecompression` cannot be shared by two parts.
 */
interface DecompressionContext {
  /** Decoded bytes the part may still take. */
  budget: number;
  /** The length prefixes of the part's compressed buffers, in the order they are decoded. */
  readonly declared: readonly DeclaredBuffer[];
  /** How many of `declared` have been decoded. */
  next: number;
}

/** A compressed buffer of a record batch body, as its prefix describes it. */
export interface DeclaredBuffer {
  /** Where it is, for error messages: "record batch 0 buffer 3". */
  readonly where: string;
  /** The uncompressed length its 8-byte prefix declares (never -1: raw buffers are not decoded). */
  readonly declared: number;
  /** The bytes of the frame after the prefix. */
  readonly stored: number;
}

let context: DecompressionContext | undefined;

/** Thrown by a decoder when the frame would take the part past its decompression budget. */
export class DecompressionBudgetExceeded extends Error {
  constructor(readonly claimed: number) {
    super(`compressed buffer claims ${claimed} bytes, over the part's decoded-size budget`);
    this.name = 'DecompressionBudgetExceeded';
  }
}

/**
 * Runs `f` (a synchronous decode of one part) with at most `budget` bytes of decompressed output
 * allowed across every buffer it decompresses, and each decompressed buffer checked against the
 * length its prefix declares (`declared`, in body order). A frame that would pass the budget
 * throws DecompressionBudgetExceeded before anything is allocated; the check reads the frames'
 * own size fields. A buffer that decompresses to another length than its prefix declares throws,
 * with one exception: a prefix equal to the frame's own length, the form apache-arrow's JS writer
 * (up to at least 21.2.0, and so compactd before it compressed parts itself) wrote for every
 * compressed buffer. The frame is self-delimiting and checked strictly, so its content is
 * unambiguous; refusing it would make every such part unreadable. Throws after `f` when fewer
 * buffers were decoded than declared (then some were not checked).
 */
export function withDecompression<T>(budget: number, declared: readonly DeclaredBuffer[], f: () => T): T {
  const saved = context;
  const ctx: DecompressionContext = { budget, declared, next: 0 };
  context = ctx;
  try {
    const result = f();
    if (ctx.next !== declared.length) {
      throw new Error(`decoded ${ctx.next} compressed buffers, the record batches declare ${declared.length}`);
    }
    return result;
  } finally {
    context = saved;
  }
}

function spend(capacity: number): void {
  if (context === undefined) return;
  if (capacity > context.budget) throw new DecompressionBudgetExceeded(capacity);
  context.budget -= capacity;
}

/** Checks a decoded buffer against the next declared prefix (outside `withDecompression`: nothing to check). */
function settle(src: Uint8Array, out: Uint8Array): Uint8Array {
  if (context === undefined) return out;
  const buffer = context.declared[context.next++];
  if (buffer === undefined) throw new Error('more compressed buffers than the record batches declare');
  if (buffer.stored !== src.length) {
    throw new Error(`${buffer.where}: decoder got ${src.length} bytes, the body holds ${buffer.stored}`);
  }
  const legacy = buffer.declared === buffer.stored;
  if (out.length !== buffer.declared && !legacy) {
    throw new Error(`${buffer.where}: prefix declares ${buffer.declared} bytes uncompressed, the frame decompresses to ${out.length}`);
  }
  return out;
}

/** Compresses `src` into one zstd frame (with its content size in the header). */
export function zstdEncode(src: Uint8Array): Uint8Array {
  return zstdCompress(src, ZSTD_LEVEL);
}

/**
 * Decompresses exactly one zstd frame. Frames without a content size in the header (what
 * streaming compressors such as arrow-rs write) are decoded into a buffer bounded by the frame's
 * block headers. Throws on anything malformed: bad magic, reserved bits, dictionaries, windows the
 * wasm build cannot handle, truncation, trailing bytes, sizes above `MAX_DECOMPRESSED_BYTES`, or a
 * result whose length differs from the header's content size.
 */
export function zstdDecode(src: Uint8Array): Uint8Array {
  const { contentSize, bound } = zstdFrameSizes(src);
  const capacity = contentSize ?? bound;
  if (capacity > MAX_DECOMPRESSED_BYTES) throw new Error(`zstd frame claims ${capacity} bytes, above the limit`);
  spend(capacity);
  // With a content size in the header, zstd-wasm allocates exactly that; without one it uses
  // defaultHeapSize, which the block walk made an upper bound.
  const out = zstdDecompress(src, { defaultHeapSize: Math.max(capacity, 1) });
  if (contentSize !== undefined && out.length !== contentSize) {
    throw new Error(`zstd frame decoded to ${out.length} bytes, header says ${contentSize}`);
  }
  return settle(src, out);
}

/** Compresses `src` into one LZ4 frame. */
export function lz4Encode(src: Uint8Array): Uint8Array {
  return lz4js.compress(src);
}

/**
 * Decompresses exactly one LZ4 frame (any block size, linked or independent blocks, with or
 * without content size and checksums; checksums are skipped, not verified: parts are covered by
 * the sha256 of the whole object). Throws on anything malformed, on dictionary frames, on
 * truncation or trailing bytes, on sizes above `MAX_DECOMPRESSED_BYTES`, and when the output does
 * not fit the frame's declared sizes.
 */
export function lz4Decode(src: Uint8Array): Uint8Array {
  const len = src.length;
  if (len < 7 || readU32(src, 0) !== LZ4_MAGIC) throw new Error('not an LZ4 frame');
  const flg = src[4];
  const bd = src[5];
  if (flg >> 6 !== 1) throw new Error(`unsupported LZ4 frame version ${flg >> 6}`);
  if ((flg & 0x02) !== 0 || (bd & 0x8f) !== 0) throw new Error('LZ4 frame descriptor has reserved bits set');
  if ((flg & 0x01) !== 0) throw new Error('LZ4 frames with a dictionary id are not supported');
  const blockChecksums = (flg & 0x10) !== 0;
  const hasContentSize = (flg & 0x08) !== 0;
  const contentChecksum = (flg & 0x04) !== 0;
  const blockMax = LZ4_BLOCK_MAX[(bd >> 4) & 7];
  if (blockMax === undefined) throw new Error(`invalid LZ4 block size id ${(bd >> 4) & 7}`);
  let p = 6;
  let contentSize: number | undefined;
  if (hasContentSize) {
    if (p + 8 > len) throw new Error('truncated LZ4 frame header');
    contentSize = readU32(src, p) + readU32(src, p + 4) * 0x1_0000_0000;
    p += 8;
  }
  p += 1; // header checksum
  const firstBlock = p;

  // Pass 1: check the block structure fits the input and bound the output.
  let bound = 0;
  for (;;) {
    if (p + 4 > len) throw new Error('truncated LZ4 frame');
    const word = readU32(src, p);
    p += 4;
    if (word === 0) break;
    const size = word & 0x7fffffff;
    if (size > blockMax) throw new Error(`LZ4 block of ${size} bytes exceeds the frame's ${blockMax}`);
    bound += word >= 0x80000000 ? size : blockMax;
    p += size + (blockChecksums ? 4 : 0);
    if (p > len) throw new Error('truncated LZ4 block');
  }
  if (contentChecksum) p += 4;
  if (p !== len) throw new Error(p > len ? 'truncated LZ4 frame' : 'trailing bytes after LZ4 frame');
  if (contentSize !== undefined && contentSize > bound) {
    throw new Error(`LZ4 frame claims ${contentSize} bytes but its blocks hold at most ${bound}`);
  }
  const capacity = contentSize ?? bound;
  if (capacity > MAX_DECOMPRESSED_BYTES) throw new Error(`LZ4 frame claims ${capacity} bytes, above the limit`);
  spend(capacity);

  // Pass 2: decode into one buffer, so linked blocks can reference earlier output.
  const dst = new Uint8Array(capacity);
  let d = 0;
  p = firstBlock;
  for (;;) {
    const word = readU32(src, p);
    p += 4;
    if (word === 0) break;
    const size = word & 0x7fffffff;
    if (word >= 0x80000000) {
      if (d + size > capacity) throw new Error('LZ4 frame decodes to more bytes than it declares');
      dst.set(src.subarray(p, p + size), d);
      d += size;
    } else {
      const end = lz4js.decompressBlock(src, dst, p, size, d);
      // lz4js drops writes past the end of dst silently; an overlong block is corruption.
      if (!(end >= d && end - d <= blockMax && end <= capacity)) throw new Error('corrupt LZ4 block');
      d = end;
    }
    p += size + (blockChecksums ? 4 : 0);
  }
  if (contentSize !== undefined && d !== contentSize) {
    throw new Error(`LZ4 frame decoded to ${d} bytes, header says ${contentSize}`);
  }
  return settle(src, d === capacity ? dst : dst.subarray(0, d));
}

/**
 * The content size from a zstd frame header (when present) and an upper bound of the decoded size
 * from its block headers; validates the frame's structure and that it spans `src` exactly.
 */
function zstdFrameSizes(src: Uint8Array): { contentSize: number | undefined; bound: number } {
  const len = src.length;
  if (len < 6 || readU32(src, 0) !== ZSTD_MAGIC) throw new Error('not a zstd frame');
  const fhd = src[4];
  const fcsFlag = fhd >> 6;
  const singleSegment = (fhd & 0x20) !== 0;
  if ((fhd & 0x08) !== 0) throw new Error('zstd frame header has its reserved bit set');
  const hasChecksum = (fhd & 0x04) !== 0;
  const dictIdBytes = [0, 1, 2, 4][fhd & 0x03];
  let p = 5;
  if (!singleSegment) {
    const windowLog = 10 + (src[p++] >> 3);
    if (windowLog > ZSTD_WINDOWLOG_MAX) throw new Error(`zstd window 2^${windowLog} is too large`);
  }
  if (p + dictIdBytes > len) throw new Error('truncated zstd frame header');
  let dictId = 0;
  for (let i = dictIdBytes - 1; i >= 0; i--) dictId = dictId * 256 + src[p + i];
  p += dictIdBytes;
  if (dictId !== 0) throw new Error('zstd frames with a dictionary are not supported');
  const fcsBytes = fcsFlag === 0 ? (singleSegment ? 1 : 0) : [0, 2, 4, 8][fcsFlag];
  if (p + fcsBytes > len) throw new Error('truncated zstd frame header');
  let contentSize: number | undefined;
  if (fcsBytes > 0) {
    contentSize = 0;
    for (let i = fcsBytes - 1; i >= 0; i--) contentSize = contentSize * 256 + src[p + i];
    if (fcsBytes === 2) contentSize += 256;
  }
  p += fcsBytes;

  let bound = 0;
  for (;;) {
    if (p + 3 > len) throw new Error('truncated zstd frame');
    const header = src[p] | (src[p + 1] << 8) | (src[p + 2] << 16);
    p += 3;
    const type = (header >> 1) & 3;
    const size = header >>> 3;
    if (size > ZSTD_BLOCK_MAX) throw new Error(`zstd block of ${size} bytes is too large`);
    if (type === 0) {
      bound += size; // raw
      p += size;
    } else if (type === 1) {
      bound += size; // RLE: one byte repeated `size` times
      p += 1;
    } else if (type === 2) {
      bound += ZSTD_BLOCK_MAX;
      p += size;
    } else {
      throw new Error('zstd block has the reserved type');
    }
    if (p > len) throw new Error('truncated zstd block');
    if ((header & 1) !== 0) break;
  }
  if (hasChecksum) p += 4;
  if (p !== len) throw new Error(p > len ? 'truncated zstd frame' : 'trailing bytes after zstd frame');
  if (contentSize !== undefined && contentSize > bound) {
    throw new Error(`zstd frame claims ${contentSize} bytes but its blocks hold at most ${bound}`);
  }
  return { contentSize, bound };
}

function readU32(b: Uint8Array, i: number): number {
  return (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
}
