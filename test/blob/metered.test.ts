/**
 * MeteredBlob reports each operation once, with its outcome and payload bytes, and passes
 * results and errors through unchanged.
 */
import { describe, expect, it } from 'vitest';
import { FaultyBlob } from '../../src/blob/faulty.js';
import { MemoryBlob } from '../../src/blob/memory.js';
import { MeteredBlob, type BlobObserver, type BlobOp } from '../../src/blob/metered.js';
import { CompactdError } from '../../src/model/errors.js';

interface Seen {
  op: BlobOp;
  seconds: number;
  ok: boolean;
  bytes: number;
}

function recorder(): BlobObserver & { seen: Seen[] } {
  const seen: Seen[] = [];
  return { seen, observe: (op, seconds, ok, bytes) => seen.push({ op, seconds, ok, bytes }) };
}

describe('MeteredBlob', () => {
  it('observes every operation with ok flags and payload bytes', async () => {
    const obs = recorder();
    const blob = new MeteredBlob(new MemoryBlob(), obs);
    await blob.set('s/a', new Uint8Array(10));
    expect((await blob.get('s/a'))?.length).toBe(10);
    expect(await blob.get('s/missing')).toBeUndefined();
    expect((await blob.head('s/a'))?.size).toBe(10);
    const listed = [];
    for await (const m of blob.list('s/')) listed.push(m.key);
    expect(listed).toEqual(['s/a']);
    expect(await blob.delete('s/a')).toBe(10);
    expect(obs.seen.map(({ op, ok, bytes }) => [op, ok, bytes])).toEqual([
      ['set', true, 10],
      ['get', true, 10],
      ['get', true, 0],
      ['head', true, 0],
      ['list', true, 0],
      ['delete', true, 0],
    ]);
  });

  it('reports each operation\'s duration in seconds by its clock', async () => {
    const obs = recorder();
    let ms = 0;
    // Each reading of the clock is 250 ms after the one before: every operation reads it twice.
    const blob = new MeteredBlob(new MemoryBlob(), obs, () => (ms += 250));
    await blob.set('s/a', new Uint8Array(1));
    await blob.get('s/a');
    await blob.delete('s/a');
    expect(obs.seen.map((s) => s.seconds)).toEqual([0.25, 0.25, 0.25]);
  });

  it('observes failures with ok=false and rethrows the original error', async () => {
    const obs = recorder();
    const blob = new MeteredBlob(new FaultyBlob(new MemoryBlob(), { permanent: true }), obs);
    for (const p of [blob.get('s/a'), blob.set('s/a', new Uint8Array(3)), blob.delete('s/a'), blob.head('s/a')]) {
      await expect(p).rejects.toBeInstanceOf(CompactdError);
    }
    await expect(
      (async () => {
        for await (const _ of blob.list('s/')) void _;
      })(),
    ).rejects.toMatchObject({ kind: 'unavailable' });
    await expect(new MeteredBlob(new MemoryBlob(), obs).get('../bad')).rejects.toMatchObject({ kind: 'invalid' });
    expect(obs.seen.map(({ op, ok, bytes }) => [op, ok, bytes])).toEqual([
      ['get', false, 0],
      ['set', false, 0],
      ['delete', false, 0],
      ['head', false, 0],
      ['list', false, 0],
      ['get', false, 0],
    ]);
  });

  it('observes a listing the consumer abandons once, as ok, and counts only store time', async () => {
    const obs = recorder();
    const inner = new MemoryBlob();
    for (let i = 0; i < 5; i++) await inner.set(`s/k${i}`, new Uint8Array(1));
    const blob = new MeteredBlob(inner, obs);
    const t0 = performance.now();
    for await (const m of blob.list('s/')) {
      await new Promise((r) => setTimeout(r, 20)); // consumer work, not store time
      if (m.key === 's/k1') break;
    }
    const wall = (performance.now() - t0) / 1000;
    expect(obs.seen.map(({ op, ok }) => [op, ok])).toEqual([['list', true]]);
    expect(obs.seen[0].seconds).toBeLessThan(wall);
  });

  it('keeps the outcome of an operation when the observer throws', async () => {
    const blob = new MeteredBlob(new MemoryBlob(), {
      observe: () => {
        throw new Error('metrics broken');
      },
    });
    await blob.set('s/a', new Uint8Array([4]));
    expect(Array.from((await blob.get('s/a'))!)).toEqual([4]);
    await expect(blob.get('../x')).rejects.toMatchObject({ kind: 'invalid' });
  });
});
