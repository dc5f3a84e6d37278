/**
 * The 8-byte length prefix before every buffer of a compressed record batch body (Arrow IPC
 * format): the UNCOMPRESSED length of the buffer, or -1 when the bytes after it are stored raw.
 * compactd writes exactly that, reads both forms, and holds every compressed buffer to its
 * prefix: a disagreement is data loss. The one form accepted besides is the legacy one, where the
 * prefix is the length of the compressed frame itself (what apache-arrow's JS writer, and so
 * compactd's parts before it compressed them itself, wrote).
 */
import { CompressionType, tableFromIPC, tableToIPC } from 'apache-arrow';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Update } from '../../src/model/update.js';
import { ensureCodecs, lz4Decode, zstdDecode } from '../../src/part/codecs.js';
import { decodePart } from '../../src/part/decode.js';
import { encodePart } from '../../src/part/encode.js';
import { columnsFromUpdates, updatesFromColumns } from '../../src/part/rows.js';
import { caught, metaOf, prefixedBuffers, withPrefix, type PrefixedBuffer } from './util.js';

const PREFIX_BYTES = 8;
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Pseudo-random bytes (xorshift32, fixed seed): incompressible, and the same on every run. */
let x = 2463534242;
const randomByte = (): number => {
  x ^= x << 13;
  x ^= x >>> 17;
  x ^= x << 5;
  return (x >>> 0) & 0xff;
};

/** Compressible keys and times, incompressible values: parts hold compressed and raw buffers. */
const updates: Update[] = Array.from({ length: 2000 }, (_, i) => ({
  k: enc(`key-${String(i).padStart(6, '0')}`),
  v: Uint8Array.from({ length: 12 }, randomByte),
  t: [BigInt(i % 40), BigInt(i)],
  d: BigInt((i % 5) - 2) || 1n,
}));

const CODECS = [
  { compression: 'zstd', decode: zstdDecode },
  { compression: 'lz4', decode: lz4Decode },
] as const;

function part(compression: 'zstd' | 'lz4'): Uint8Array {
  return encodePart(columnsFromUpdates(updates, 2), metaOf(2), { compression });
}

/** The buffers stored compressed (prefix >= 0). */
const compressed = (bytes: Uint8Array): PrefixedBuffer[] => prefixedBuffers(bytes).filter((b) => b.prefix >= 0n);

beforeAll(() => ensureCodecs());

describe.each(CODECS)('$compression parts', ({ compression, decode }) => {
  it('prefix every compressed buffer with its uncompressed length and every raw one with -1', () => {
    const bytes = part(compression);
    const buffers = prefixedBuffers(bytes);
    expect(buffers.some((b) => b.prefix === -1n)).toBe(true);
    expect(buffers.some((b) => b.prefix >= 0n)).toBe(true);
    for (const b of buffers) {
      const stored = bytes.subarray(b.at + PREFIX_BYTES, b.at + b.length);
      if (b.prefix === -1n) continue;
      expect(b.prefix).toBe(BigInt(decode(stored).length));
      expect(b.prefix).toBeGreaterThan(BigInt(stored.length));
    }
    expect(updatesFromColumns(decodePart(bytes, 'p').cols)).toEqual(updates);
  });

  it('a prefix that disagrees with the decompressed length is data loss', () => {
    const bytes = part(compression);
    const [first] = compressed(bytes);
    for (const wrong of [first.prefix + 1n, first.prefix - 1n, 0n]) {
      const err = caught(() => decodePart(withPrefix(bytes, first.at, wrong), 'shard/p9'));
      expect(err.kind).toBe('data_loss');
      expect(err.message).toMatch(new RegExp(`^part shard/p9: .*record batch 0 buffer \\d+: prefix declares ${wrong} bytes uncompressed, the frame decompresses to ${first.prefix}$`));
    }
  });

  it('a prefix below -1 or past the decompression limit is data loss', () => {
    const bytes = part(compression);
    const [first] = compressed(bytes);
    for (const wrong of [-2n, -(1n << 63n), 1n << 40n]) {
      const err = caught(() => decodePart(withPrefix(bytes, first.at, wrong), 'shard/p9'));
      expect(err.kind).toBe('data_loss');
      expect(err.message).toContain(`declares ${wrong} bytes uncompressed`);
    }
  });

  it('reads the legacy form, where every prefix holds the compressed length', () => {
    let bytes = part(compression);
    for (const b of compressed(bytes)) bytes = withPrefix(bytes, b.at, BigInt(b.length - PREFIX_BYTES));
    expect(compressed(bytes).every((b) => b.prefix === BigInt(b.length - PREFIX_BYTES))).toBe(true);
    expect(updatesFromColumns(decodePart(bytes, 'legacy').cols)).toEqual(updates);
  });
});

it("reads what apache-arrow's own writer compresses (the legacy form)", () => {
  const plain = encodePart(columnsFromUpdates(updates, 2), metaOf(2));
  for (const type of [CompressionType.ZSTD, CompressionType.LZ4_FRAME]) {
    const legacy = tableToIPC(tableFromIPC(plain), 'file', type);
    const buffers = compressed(legacy);
    expect(buffers.length).toBeGreaterThan(0);
    expect(buffers.every((b) => b.prefix === BigInt(b.length - PREFIX_BYTES))).toBe(true);
    expect(updatesFromColumns(decodePart(legacy, 'legacy').cols)).toEqual(updates);
  }
});
