/**
 * The codec layer on its own: zstd and LZ4 frames as other writers produce them (zstd without a
 * content size, LZ4 with content size and checksums), and malformed frames.
 */
import { CompressionType, compressionRegistry } from 'apache-arrow';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  MAX_DECOMPRESSED_BYTES,
  codecsRegistered,
  ensureCodecs,
  lz4Decode,
  lz4Encode,
  zstdDecode,
  zstdEncode,
} from '../../src/part/codecs.js';

/** Data that compresses: runs and repeats mixed with noise. */
const compressibleBytes = (): fc.Arbitrary<Uint8Array> =>
  fc
    .array(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 300 }), fc.boolean()), { maxLength: 60 })
    .map((runs) => {
      const out: number[] = [];
      for (const [b, n, noise] of runs) for (let i = 0; i < n; i++) out.push(noise ? (b * 31 + i * 7) & 0xff : b);
      return Uint8Array.from(out);
    });

function bytesOf(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = (i >> 6) % 3 === 0 ? x >>> 24 : i & 0x0f; // a third random, the rest repetitive
  }
  return out;
}

/**
 * Rewrites a zstd frame from zstdEncode (single segment, content size present) into the form
 * streaming compressors write: no content size, a window descriptor instead.
 */
function withoutContentSize(frame: Uint8Array, contentLength: number): Uint8Array {
  const fhd = frame[4];
  const singleSegment = (fhd & 0x20) !== 0;
  const fcsBytes = singleSegment ? [1, 2, 4, 8][fhd >> 6] : [0, 2, 4, 8][fhd >> 6];
  const dictBytes = [0, 1, 2, 4][fhd & 3];
  // A single-segment frame has no window descriptor; give it one that covers the content.
  const windowLog = Math.max(10, Math.ceil(Math.log2(Math.max(contentLength, 1))));
  const window = singleSegment ? [(windowLog - 10) << 3] : [frame[5]];
  const rest = 5 + (singleSegment ? 0 : 1);
  const header = [...frame.subarray(0, 4), fhd & 0x07, ...window, ...frame.subarray(rest, rest + dictBytes)];
  return Uint8Array.from([...header, ...frame.subarray(rest + dictBytes + fcsBytes)]);
}

/** Byte equality without vitest's element-by-element diffing (slow on megabytes). */
function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

const LZ4_MAGIC = [0x04, 0x22, 0x4d, 0x18];
const u32 = (n: number): number[] => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];

/** The blocks (size word + payload) of an lz4js frame, which has a 7-byte header and no checksums. */
function lz4Blocks(frame: Uint8Array): { word: number; payload: Uint8Array }[] {
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const blocks = [];
  for (let p = 7; ; ) {
    const word = view.getUint32(p, true);
    p += 4;
    if (word === 0) return blocks;
    const size = word & 0x7fffffff;
    blocks.push({ word, payload: frame.subarray(p, p + size) });
    p += size;
  }
}

/** Assembles an LZ4 frame with the given descriptor flags (content size, checksums, block size id). */
function lz4Frame(
  blocks: { word: number; payload: Uint8Array }[],
  opts: { contentSize?: number; blockChecksums?: boolean; contentChecksum?: boolean; blockSizeId?: number; dictId?: boolean },
): Uint8Array {
  const flg = 0x40 | 0x20 | (opts.blockChecksums ? 0x10 : 0) | (opts.contentSize !== undefined ? 0x08 : 0) | (opts.contentChecksum ? 0x04 : 0) | (opts.dictId ? 0x01 : 0);
  const out = [...LZ4_MAGIC, flg, (opts.blockSizeId ?? 7) << 4];
  if (opts.contentSize !== undefined) out.push(...u32(opts.contentSize), 0, 0, 0, 0);
  if (opts.dictId) out.push(1, 2, 3, 4);
  out.push(0xab); // header checksum (not verified)
  for (const b of blocks) {
    out.push(...u32(b.word), ...b.payload);
    if (opts.blockChecksums) out.push(9, 9, 9, 9);
  }
  out.push(0, 0, 0, 0);
  if (opts.contentChecksum) out.push(7, 7, 7, 7);
  return Uint8Array.from(out);
}

beforeAll(async () => {
  expect(codecsRegistered()).toBe(false);
  await Promise.all([ensureCodecs(), ensureCodecs()]);
  expect(codecsRegistered()).toBe(true);
});

describe('registration', () => {
  it('registers both codecs in the Arrow registry', () => {
    expect(compressionRegistry.get(CompressionType.ZSTD)?.decode).toBe(zstdDecode);
    expect(compressionRegistry.get(CompressionType.LZ4_FRAME)?.decode).toBe(lz4Decode);
  });
});

describe('zstd', () => {
  it('round-trips', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 3000 }), compressibleBytes()), (data) => {
        expect(zstdDecode(zstdEncode(data))).toEqual(data);
      }),
      { numRuns: 100 },
    );
  });

  it('decodes frames without a content size (streaming writers), across many blocks', () => {
    for (const n of [0, 1, 1000, 300_000, 1_000_000]) {
      const data = bytesOf(n, n);
      const frame = withoutContentSize(zstdEncode(data), n);
      expect(frame[4] & 0xe0).toBe(0); // no content size, not single segment
      const out = zstdDecode(frame);
      expect(out.length).toBe(n);
      expect(sameBytes(out, data)).toBe(true);
    }
  });

  it('rejects malformed frames', () => {
    const data = bytesOf(5000);
    const frame = zstdEncode(data);
    const patched = (at: number, value: number): Uint8Array => {
      const f = frame.slice();
      f[at] = value;
      return f;
    };
    expect(() => zstdDecode(frame.subarray(0, frame.length - 1))).toThrow(/truncated/);
    expect(() => zstdDecode(frame.subarray(0, 5))).toThrow();
    expect(() => zstdDecode(Uint8Array.from([...frame, 0]))).toThrow(/trailing bytes/);
    expect(() => zstdDecode(patched(0, 0x29))).toThrow(/not a zstd frame/);
    expect(() => zstdDecode(patched(4, frame[4] | 0x08))).toThrow(/reserved bit/);
    expect(() => zstdDecode(patched(4, frame[4] | 0x01))).toThrow();
    expect(() => zstdDecode(new Uint8Array(0))).toThrow(/not a zstd frame/);
  });

  it('rejects a content size the blocks cannot hold, before allocating it', () => {
    // Single segment, 4-byte content size of 1 GiB - 1, then one raw block of 3 bytes.
    const frame = Uint8Array.from([0x28, 0xb5, 0x2f, 0xfd, 0xa0, ...u32(MAX_DECOMPRESSED_BYTES - 1), 0x19, 0x00, 0x00, 1, 2, 3]);
    expect(() => zstdDecode(frame)).toThrow(/blocks hold at most 3/);
    const ok = Uint8Array.from([0x28, 0xb5, 0x2f, 0xfd, 0xa0, ...u32(3), 0x19, 0x00, 0x00, 1, 2, 3]);
    expect(zstdDecode(ok)).toEqual(Uint8Array.of(1, 2, 3));
  });

  it('rejects frames whose bound exceeds the limit', () => {
    // No content size, window 2^20, then 8193 tiny "compressed" blocks of 1 byte: the bound is
    // 8193 * 128 KiB > 1 GiB, which must be refused before zstd-wasm allocates anything.
    const blocks: number[] = [];
    const n = MAX_DECOMPRESSED_BYTES / (128 * 1024) + 1;
    for (let i = 0; i < n; i++) {
      const header = ((i === n - 1 ? 1 : 0) | (2 << 1) | (1 << 3)) >>> 0;
      blocks.push(header & 0xff, (header >> 8) & 0xff, header >> 16, 0);
    }
    const frame = Uint8Array.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 10 << 3, ...blocks]);
    expect(() => zstdDecode(frame)).toThrow(/above the limit/);
  });
});

describe('LZ4 frames', () => {
  it('round-trips, including multi-block frames', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 3000 }), compressibleBytes()), (data) => {
        expect(lz4Decode(lz4Encode(data))).toEqual(data);
      }),
      { numRuns: 100 },
    );
    const big = bytesOf(9 * 1024 * 1024 + 17); // three 4 MiB blocks
    expect(lz4Blocks(lz4Encode(big))).toHaveLength(3);
    expect(sameBytes(lz4Decode(lz4Encode(big)), big)).toBe(true);
  });

  it('decodes frames with content size, block and content checksums, raw and compressed blocks', () => {
    const data = bytesOf(20_000);
    const compressed = lz4Blocks(lz4Encode(data));
    expect(compressed).toHaveLength(1);
    expect(compressed[0].word & 0x80000000).toBe(0);
    const raw = Uint8Array.of(5, 6, 7);
    const blocks = [{ word: (0x80000000 | raw.length) >>> 0, payload: raw }, compressed[0]];
    const expected = Uint8Array.from([...raw, ...data]);
    const full = { contentSize: expected.length, blockChecksums: true, contentChecksum: true };
    expect(sameBytes(lz4Decode(lz4Frame(blocks, full)), expected)).toBe(true);
    expect(sameBytes(lz4Decode(lz4Frame(blocks, { blockChecksums: true })), expected)).toBe(true);
    expect(sameBytes(lz4Decode(lz4Frame(blocks, { contentSize: expected.length })), expected)).toBe(true);
  });

  it('rejects malformed frames', () => {
    const data = bytesOf(20_000);
    const blocks = lz4Blocks(lz4Encode(data));
    const frame = lz4Frame(blocks, {});
    expect(sameBytes(lz4Decode(frame), data)).toBe(true);
    expect(() => lz4Decode(frame.subarray(0, frame.length - 1))).toThrow(/truncated/);
    expect(() => lz4Decode(Uint8Array.from([...frame, 0]))).toThrow(/trailing bytes/);
    expect(() => lz4Decode(Uint8Array.from([0, ...frame.subarray(1)]))).toThrow(/not an LZ4 frame/);
    expect(() => lz4Decode(lz4Frame(blocks, { dictId: true }))).toThrow(/dictionary/);
    expect(() => lz4Decode(lz4Frame(blocks, { blockSizeId: 3 }))).toThrow(/block size id/);
    // A block that decodes to more than the frame's block size (64 KiB here) is corrupt.
    const large = lz4Blocks(lz4Encode(bytesOf(100_000)));
    expect(() => lz4Decode(lz4Frame(large, { blockSizeId: 4 }))).toThrow(/exceeds|corrupt LZ4 block/);
    expect(sameBytes(lz4Decode(lz4Frame(large, { blockSizeId: 5 })), bytesOf(100_000))).toBe(true);
    // Content sizes that disagree with the blocks.
    expect(() => lz4Decode(lz4Frame(blocks, { contentSize: data.length + 1 }))).toThrow(/header says/);
    expect(() => lz4Decode(lz4Frame(blocks, { contentSize: data.length - 1 }))).toThrow(/corrupt LZ4 block/);
    expect(() => lz4Decode(lz4Frame(blocks, { contentSize: 5 * 1024 * 1024 }))).toThrow(/blocks hold at most/);
    const badVersion = frame.slice();
    badVersion[4] = 0x80;
    expect(() => lz4Decode(badVersion)).toThrow(/version/);
  });

  it('rejects frames whose bound exceeds the limit', () => {
    const n = MAX_DECOMPRESSED_BYTES / (4 * 1024 * 1024) + 1;
    const blocks = Array.from({ length: n }, () => ({ word: 1, payload: Uint8Array.of(0) }));
    expect(() => lz4Decode(lz4Frame(blocks, {}))).toThrow(/above the limit/);
  });

  it('survives random corruption: decodes or throws, never overruns', () => {
    const frame = lz4Encode(bytesOf(5000));
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }), (flips) => {
        const f = frame.slice();
        for (const [at, x] of flips) f[at % f.length] ^= x;
        let out: Uint8Array;
        try {
          out = lz4Decode(f);
        } catch (err) {
          expect(err).toBeInstanceOf(Error);
          return;
        }
        expect(out.length).toBeLessThanOrEqual(4 * 1024 * 1024);
      }),
      { numRuns: 300 },
    );
  });
});
