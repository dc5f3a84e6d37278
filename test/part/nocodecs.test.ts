/**
 * A thread that never called ensureCodecs(): uncompressed parts decode, compressed ones fail
 * loudly as a programming error (not as data loss), and compressed writing is refused. Runs in
 * its own test file so that the codec registry starts empty.
 */
import { compress, init } from '@bokuweb/zstd-wasm';
import { CompressionType, compressionRegistry, tableFromIPC, tableToIPC } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { codecsRegistered } from '../../src/part/codecs.js';
import { decodePart } from '../../src/part/decode.js';
import { encodePart } from '../../src/part/encode.js';
import { columnsFromUpdates, updatesFromColumns } from '../../src/part/rows.js';
import { caught, metaOf } from './util.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const updates = Array.from({ length: 200 }, (_, i) => ({ k: enc(`key${i >> 2}`), v: enc('value'), t: [BigInt(i)], d: 1n }));

describe('without ensureCodecs()', () => {
  it('decodes uncompressed parts', () => {
    expect(codecsRegistered()).toBe(false);
    const bytes = encodePart(columnsFromUpdates(updates, 1), metaOf(1));
    expect(updatesFromColumns(decodePart(bytes, 'p').cols)).toEqual(updates);
  });

  it('refuses to write ZSTD parts', () => {
    const err = caught(() => encodePart(columnsFromUpdates(updates, 1), metaOf(1), { compression: 'zstd' }));
    expect(err.kind).toBe('internal');
    expect(err.message).toMatch(/ensureCodecs/);
  });

  it('reports a compressed part as a missing-codec error, not data loss', async () => {
    // Write a ZSTD part with an encode-only codec, so that no decoder is registered.
    await init();
    compressionRegistry.set(CompressionType.ZSTD, { encode: (b: Uint8Array) => compress(b, 1) });
    const plain = encodePart(columnsFromUpdates(updates, 1), metaOf(1));
    const zstd = tableToIPC(tableFromIPC(plain), 'file', CompressionType.ZSTD);
    const err = caught(() => decodePart(zstd, 'shard/p1'));
    expect(err.kind).toBe('internal');
    expect(err.message).toContain('shard/p1');
    expect(err.message).toMatch(/ensureCodecs/);
  });
});
