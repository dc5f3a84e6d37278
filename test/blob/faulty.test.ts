/**
 * FaultyBlob (seeded fault and latency injection) and RetryingBlob (surviving it): transient
 * faults are ridden out, permanent ones surface, and the decorators keep their promises.
 */
import { describe, expect, it } from 'vitest';
import type { Blob, BlobMeta, BlobOptions } from '../../src/blob/blob.js';
import { FaultyBlob } from '../../src/blob/faulty.js';
import { MemoryBlob } from '../../src/blob/memory.js';
import { RetryingBlob, retryPolicy } from '../../src/blob/retry.js';
import { CompactdError } from '../../src/model/errors.js';
import { listAll } from './conformance.js';
import { failure } from '../helpers/errors.js';

const fastRetry = { policy: retryPolicy({ initialBackoffMs: 0.5, maxBackoffMs: 2, maxElapsedMs: 10_000 }) };

/** Runs a fixed mix of operations, recording which ones failed (by index). */
async function pattern(blob: Blob, n: number): Promise<number[]> {
  const failed: number[] = [];
  for (let i = 0; i < n; i++) {
    try {
      if (i % 3 === 0) await blob.set(`s/k${i}`, new Uint8Array([i & 255]));
      else await blob.get(`s/k${i - 1}`);
    } catch {
      failed.push(i);
    }
  }
  return failed;
}

describe('FaultyBlob', () => {
  it('fails about errorRate of calls with unavailable, deterministically per seed', async () => {
    const a = await pattern(new FaultyBlob(new MemoryBlob(), { errorRate: 0.1, seed: 42 }), 1000);
    const b = await pattern(new FaultyBlob(new MemoryBlob(), { errorRate: 0.1, seed: 42 }), 1000);
    const c = await pattern(new FaultyBlob(new MemoryBlob(), { errorRate: 0.1, seed: 43 }), 1000);
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    expect(a.length).toBeGreaterThan(50);
    expect(a.length).toBeLessThan(150);
    const faulty = new FaultyBlob(new MemoryBlob(), { errorRate: 1 });
    const err = await failure(faulty.get('s/k'));
    expect(err.kind).toBe('unavailable');
    expect(err.determinate).toBe(true);
    expect(faulty.injected).toBe(1);
  });

  it('injects only into the chosen operations and keys', async () => {
    const inner = new MemoryBlob();
    const onlyGets = new FaultyBlob(inner, { permanent: true, ops: ['get'] });
    await onlyGets.set('s/a', new Uint8Array([1]));
    expect((await onlyGets.head('s/a'))?.size).toBe(1);
    expect((await failure(onlyGets.get('s/a'))).kind).toBe('unavailable');

    const badKey = new FaultyBlob(inner, { failKeys: (k) => k.endsWith('/poison') });
    await badKey.set('s/b', new Uint8Array([2]));
    expect((await failure(badKey.set('s/poison', new Uint8Array([3])))).kind).toBe('unavailable');
    expect(await inner.head('s/poison')).toBeUndefined();
    expect(Array.from((await badKey.get('s/b'))!)).toEqual([2]);
  });

  it('can be taken down and brought back at runtime', async () => {
    const faulty = new FaultyBlob(new MemoryBlob());
    await faulty.set('s/a', new Uint8Array([1]));
    faulty.down = true;
    for (const p of [faulty.get('s/a'), faulty.head('s/a'), faulty.delete('s/a'), listAll(faulty, '')]) {
      const err = await failure(p);
      expect(err.kind).toBe('unavailable');
      expect(err.message).toMatch(/down/);
    }
    faulty.down = false;
    expect(await faulty.delete('s/a')).toBe(1);
  });

  it('with determinate: false, sometimes applies a write before failing it', async () => {
    const inner = new MemoryBlob();
    const faulty = new FaultyBlob(inner, { permanent: true, determinate: false, ops: ['set'], seed: 7 });
    let applied = 0;
    for (let i = 0; i < 40; i++) {
      const err = await failure(faulty.set(`s/k${i}`, new Uint8Array([i])));
      expect(err.determinate).toBe(false);
      if (await inner.head(`s/k${i}`)) applied++;
    }
    expect(applied).toBeGreaterThan(5);
    expect(applied).toBeLessThan(35);
  });

  it('adds latency, and an abort cuts it short with cancelled', async () => {
    const faulty = new FaultyBlob(new MemoryBlob(), { latencyMs: 30, latencyJitterMs: 10 });
    const t0 = performance.now();
    await faulty.get('s/x');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(29);
    const slow = new FaultyBlob(new MemoryBlob(), { latencyMs: 60_000 });
    const ctl = new AbortController();
    const p = slow.set('s/x', new Uint8Array(1), { signal: ctl.signal });
    setTimeout(() => ctl.abort(), 5);
    expect((await failure(p)).kind).toBe('cancelled');
  });
});

describe('RetryingBlob over FaultyBlob', () => {
  it('survives 10% injected errors: every operation eventually succeeds', async () => {
    const inner = new MemoryBlob();
    const faulty = new FaultyBlob(inner, { errorRate: 0.1, seed: 3, latencyJitterMs: 1 });
    const blob = new RetryingBlob(faulty, fastRetry);
    const keys = Array.from({ length: 120 }, (_, i) => `s/c${i % 7}/p${i}`);
    await Promise.all(keys.map((k, i) => blob.set(k, new Uint8Array([i & 255, 1]))));
    for (const [i, k] of keys.entries()) {
      expect(Array.from((await blob.get(k))!)).toEqual([i & 255, 1]);
      expect((await blob.head(k))?.size).toBe(2);
    }
    for (let round = 0; round < 10; round++) {
      expect((await listAll(blob, 's/')).length).toBe(keys.length);
    }
    let deleted = 0;
    for (const k of keys) deleted += (await blob.delete(k)) ?? 0;
    expect(deleted).toBe(2 * keys.length);
    expect(inner.totalBytes).toBe(0);
    expect(faulty.injected).toBeGreaterThan(20);
  });

  it('survives indeterminate faults too: writes land exactly once in effect', async () => {
    const inner = new MemoryBlob();
    const blob = new RetryingBlob(new FaultyBlob(inner, { errorRate: 0.3, determinate: false, seed: 11 }), fastRetry);
    for (let i = 0; i < 50; i++) await blob.set(`s/k${i}`, new Uint8Array([i]));
    for (let i = 0; i < 50; i++) expect(Array.from((await inner.get(`s/k${i}`))!)).toEqual([i]);
    // A delete whose first attempt landed reports undefined on the retry: the key is gone either way.
    for (let i = 0; i < 50; i++) expect([1, undefined]).toContain(await blob.delete(`s/k${i}`));
    expect(inner.totalBytes).toBe(0);
  });

  it('surfaces permanent errors as unavailable after bounded retries', async () => {
    const faulty = new FaultyBlob(new MemoryBlob(), { permanent: true, ops: ['get'] });
    const blob = new RetryingBlob(faulty, { policy: retryPolicy({ initialBackoffMs: 0.5, maxBackoffMs: 1, maxAttempts: 6 }) });
    const err = await failure(blob.get('s/k'));
    expect(err.kind).toBe('unavailable');
    expect(err.message).toMatch(/gave up after 6 attempts/);
    expect(faulty.calls).toBe(6);
  });

  it('does not retry errors a retry cannot cure', async () => {
    const faulty = new FaultyBlob(new MemoryBlob());
    const blob = new RetryingBlob(faulty, fastRetry);
    expect((await failure(blob.get('../escape'))).kind).toBe('invalid');
    expect(faulty.calls).toBe(1);
  });

  it('resumes a listing that fails part-way after the last key it yielded', async () => {
    const inner = new MemoryBlob();
    for (let i = 0; i < 30; i++) await inner.set(`s/k${String(i).padStart(2, '0')}`, new Uint8Array([i]));
    // Listing number j breaks after 7*j items, like a connection lost between S3 pages: each
    // retry gets further, so only resuming (not restarting from scratch) yields each key once.
    let listings = 0;
    const flaky: Blob = {
      get: (k, o) => inner.get(k, o),
      set: (k, d, o) => inner.set(k, d, o),
      delete: (k, o) => inner.delete(k, o),
      head: (k, o) => inner.head(k, o),
      getVersioned: (k, o) => inner.getVersioned(k, o),
      setIf: (k, d, c, o) => inner.setIf(k, d, c, o),
      copy: (f, t, o) => inner.copy(f, t, o),
      close: () => inner.close(),
      async *list(prefix: string, opts?: BlobOptions): AsyncIterable<BlobMeta> {
        const limit = 7 * ++listings;
        let n = 0;
        for await (const m of inner.list(prefix, opts)) {
          if (++n > limit) throw new CompactdError('unavailable', 'connection lost');
          yield m;
        }
      },
    };
    const keys = (await listAll(new RetryingBlob(flaky, fastRetry), 's/')).map((m) => m.key);
    expect(keys).toEqual((await listAll(inner, 's/')).map((m) => m.key));
    expect(listings).toBe(5);
  });
});
