/**
 * The behaviour every Blob must have, as one suite run against each store. Each test gets a fresh,
 * empty store from the factory.
 */
import { mapLimit } from '../../src/model/util/concurrency.js';
import { randomFillSync } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import type { Blob, BlobMeta } from '../../src/blob/blob.js';
import { FaultyBlob } from '../../src/blob/faulty.js';
import { RetryingBlob, retryPolicy } from '../../src/blob/retry.js';
import { CompactdError } from '../../src/model/errors.js';

export interface ConformanceOptions {
  /**
   * Readers racing an overwrite see the old or the new bytes, never a mix. Real S3, files and
   * memory guarantee it; s3rver writes objects in place and does not.
   */
  readonly atomicOverwrite?: boolean;
  /**
   * The store enforces `setIf` conditions. Real S3, files and memory do; s3rver ignores the
   * conditional headers (its requests are checked in s3.test.ts instead).
   */
  readonly enforcesConditions?: boolean;
  /** Keys written by the listing test; above 1000 so S3 listings span pages. */
  readonly manyKeys?: number;
}

/** Collects a listing. */
export async function listAll(blob: Blob, prefix: string): Promise<BlobMeta[]> {
  const out: BlobMeta[] = [];
  for await (const m of blob.list(prefix)) out.push(m);
  return out;
}

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  await mapLimit(items, limit, fn);
}

function bytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed * 2654435761;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

async function expectKind(p: Promise<unknown>, kind: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, 'expected a failure').toBeInstanceOf(CompactdError);
  expect((err as CompactdError).kind).toBe(kind);
}

/** Registers the conformance suite for one store. `open` must return a fresh, empty store. */
export function blobConformance(name: string, open: () => Promise<Blob>, opts: ConformanceOptions = {}): void {
  describe(`Blob conformance: ${name}`, () => {
    const opened: Blob[] = [];
    const fresh = async () => {
      const b = await open();
      opened.push(b);
      return b;
    };
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((b) => b.close()));
    });

    it('reports missing keys as undefined, not errors', async () => {
      const b = await fresh();
      expect(await b.get('s1/missing')).toBeUndefined();
      expect(await b.head('s1/missing')).toBeUndefined();
      expect(await b.delete('s1/missing')).toBeUndefined();
      expect(await listAll(b, '')).toEqual([]);
      expect(await listAll(b, 's1/')).toEqual([]);
    });

    it('round-trips empty and small objects', async () => {
      const b = await fresh();
      for (const n of [0, 1, 7, 8, 4099]) {
        const data = bytes(n, n + 1);
        await b.set(`s1/p${n}`, data);
        const got = await b.get(`s1/p${n}`);
        expect(got?.length).toBe(n);
        expect(sameBytes(got, data)).toBe(true);
        expect((await b.head(`s1/p${n}`))?.size).toBe(n);
      }
    });

    it('writes an object given as chunks: their concatenation, empty chunks included, none modified', async () => {
      const b = await fresh();
      const whole = bytes(5000, 7);
      // Views of one larger buffer at odd offsets, and empty chunks first, inside and last.
      const chunks = [new Uint8Array(0), whole.subarray(0, 1), whole.subarray(1, 9), new Uint8Array(0), whole.subarray(9, 4099), whole.subarray(4099), new Uint8Array(0)];
      const before = chunks.map((c) => Buffer.from(c));
      await b.set('s1/chunks', chunks);
      expect(sameBytes(await b.get('s1/chunks'), whole)).toBe(true);
      expect((await b.head('s1/chunks'))?.size).toBe(whole.length);
      chunks.forEach((c, i) => expect(Buffer.from(c).equals(before[i])).toBe(true));
      // Only empty chunks, and no chunk at all: an empty object.
      await b.set('s1/empty-chunks', [new Uint8Array(0), new Uint8Array(0)]);
      await b.set('s1/no-chunks', []);
      expect((await b.get('s1/empty-chunks'))?.length).toBe(0);
      expect((await b.get('s1/no-chunks'))?.length).toBe(0);
      expect((await b.head('s1/no-chunks'))?.size).toBe(0);
    });

    it('writes an object of more chunks than one gathered write takes (IOV_MAX = 1024)', async () => {
      const b = await fresh();
      const whole = bytes(3000 * 7 + 5, 3);
      const chunks: Uint8Array[] = [];
      for (let at = 0; at < whole.length; at += 7) chunks.push(whole.subarray(at, Math.min(whole.length, at + 7)));
      expect(chunks.length).toBeGreaterThan(2 * 1024);
      await b.set('s1/many', chunks);
      expect(sameBytes(await b.get('s1/many'), whole)).toBe(true);
    });

    it('a set of chunks retried after failures, some of which took effect, stores their concatenation', async () => {
      const b = await fresh();
      const faulty = new FaultyBlob(b, { errorRate: 0.5, determinate: false, seed: 5, ops: ['set'] });
      const retrying = new RetryingBlob(faulty, { policy: retryPolicy({ initialBackoffMs: 0.5, maxBackoffMs: 1, maxAttempts: 30 }) });
      const wholes: Uint8Array[] = [];
      for (let i = 0; i < 12; i++) {
        const whole = bytes(2000 + i, i + 1);
        wholes.push(whole);
        await retrying.set(`s1/retried${i}`, [whole.subarray(0, 700), new Uint8Array(0), whole.subarray(700)]);
      }
      expect(faulty.injected).toBeGreaterThan(3);
      for (let i = 0; i < 12; i++) expect(sameBytes(await b.get(`s1/retried${i}`), wholes[i])).toBe(true);
    });

    it('round-trips a 20 MiB object given as chunks whose bounds do not fall on part bounds (multipart on S3)', async () => {
      const b = await fresh();
      const data = new Uint8Array(20 * 1024 * 1024 + 123);
      for (let off = 0; off < data.length; off += 65536) randomFillSync(data, off, Math.min(65536, data.length - off));
      const cuts = [0, 3, 5 * 1024 * 1024 + 1, 8 * 1024 * 1024 - 7, 8 * 1024 * 1024 + 9, 17 * 1024 * 1024, data.length];
      const chunks = cuts.slice(1).map((end, i) => data.subarray(cuts[i], end));
      await b.set('s1/big-chunks', chunks);
      const got = await b.get('s1/big-chunks');
      expect(got?.length).toBe(data.length);
      expect(sameBytes(got, data)).toBe(true);
    });

    it('round-trips a 20 MiB object (multipart on S3)', async () => {
      const b = await fresh();
      const data = new Uint8Array(20 * 1024 * 1024 + 123);
      for (let off = 0; off < data.length; off += 65536) randomFillSync(data, off, Math.min(65536, data.length - off));
      await b.set('s1/big', data);
      const got = await b.get('s1/big');
      expect(got?.length).toBe(data.length);
      expect(sameBytes(got, data)).toBe(true);
      expect(got!.byteOffset % 8).toBe(0);
      expect((await b.head('s1/big'))?.size).toBe(data.length);
    });

    it('overwrites: the last set wins, for get, head and list', async () => {
      const b = await fresh();
      await b.set('s1/k', bytes(1000, 1));
      const second = bytes(10, 2);
      await b.set('s1/k', second);
      expect(sameBytes(await b.get('s1/k'), second)).toBe(true);
      expect((await b.head('s1/k'))?.size).toBe(10);
      expect((await listAll(b, 's1/')).map((m) => [m.key, m.size])).toEqual([['s1/k', 10]]);
    });

    it('delete returns the size, then the key is gone; a second delete returns undefined', async () => {
      const b = await fresh();
      await b.set('s1/a', bytes(33));
      await b.set('s1/empty', new Uint8Array(0));
      await b.set('s1/b', bytes(5));
      expect(await b.delete('s1/a')).toBe(33);
      expect(await b.delete('s1/empty')).toBe(0);
      expect(await b.get('s1/a')).toBeUndefined();
      expect(await b.head('s1/a')).toBeUndefined();
      expect(await b.delete('s1/a')).toBeUndefined();
      expect((await listAll(b, '')).map((m) => m.key)).toEqual(['s1/b']);
    });

    it('head reports key, size and a plausible modification time', async () => {
      const b = await fresh();
      const before = Date.now();
      await b.set('s1/h', bytes(77));
      const meta = await b.head('s1/h');
      expect(meta?.key).toBe('s1/h');
      expect(meta?.size).toBe(77);
      if (meta?.lastModifiedMs !== undefined) {
        // S3 reports whole seconds: allow for the truncation and some clock skew.
        expect(meta.lastModifiedMs).toBeGreaterThan(before - 60_000);
        expect(meta.lastModifiedMs).toBeLessThan(Date.now() + 60_000);
      }
    });

    it('lists by string prefix in ascending key order, isolating a/b/ from a/bc', async () => {
      const b = await fresh();
      const keys = ['a/bc/x', 'b', 'a/b/d', 'a.b', 'a-b', 'a/b-c', 'a0', 'a/b/c', 'ab', 'a/b/c.d', 'A'];
      await pool(keys, 4, async (k) => b.set(k, bytes(k.length, k.charCodeAt(0))));
      const expected = (prefix: string) =>
        keys
          .filter((k) => k.startsWith(prefix))
          .sort((x, y) => (x < y ? -1 : x > y ? 1 : 0))
          .map((k) => ({ key: k, size: k.length }));
      for (const prefix of ['', 'a', 'a/', 'a/b', 'a/b/', 'a/bc', 'a/b/c', 'a-', 'b', 'zz', 'a/x']) {
        const got = (await listAll(b, prefix)).map((m) => ({ key: m.key, size: m.size }));
        expect(got, `prefix ${JSON.stringify(prefix)}`).toEqual(expected(prefix));
      }
    });

    it(`lists ${opts.manyKeys ?? 1100} keys completely and in order (pagination)`, async () => {
      const b = await fresh();
      const n = opts.manyKeys ?? 1100;
      const keys = Array.from({ length: n }, (_, i) => `many/k${String(i).padStart(5, '0')}`);
      // A fixed permutation (7919 is prime): stores must not depend on insertion order.
      const shuffled = keys.map((_, i) => keys[(i * 7919) % n]);
      await pool(shuffled, 32, (k) => b.set(k, new Uint8Array([1, 2, 3])));
      await b.set('other/k', new Uint8Array(1));
      const all = await listAll(b, 'many/');
      expect(all.map((m) => m.key)).toEqual(keys);
      expect(all.every((m) => m.size === 3)).toBe(true);
      const sub = await listAll(b, 'many/k0100');
      expect(sub.map((m) => m.key)).toEqual(keys.filter((k) => k.startsWith('many/k0100')));
      expect(sub.length).toBeGreaterThan(0);
    });

    it('keeps stored bytes independent of the caller arrays', async () => {
      const b = await fresh();
      const data = new Uint8Array([1, 2, 3, 4]);
      await b.set('s1/m', data);
      data[0] = 99;
      const got = await b.get('s1/m');
      expect(Array.from(got!)).toEqual([1, 2, 3, 4]);
      got![1] = 98;
      expect(Array.from((await b.get('s1/m'))!)).toEqual([1, 2, 3, 4]);
      // A view into a larger buffer stores only its own bytes.
      const big = new Uint8Array([9, 9, 5, 6, 7, 9]);
      await b.set('s1/view', big.subarray(2, 5));
      expect(Array.from((await b.get('s1/view'))!)).toEqual([5, 6, 7]);
    });

    it('handles concurrent sets of different keys', async () => {
      const b = await fresh();
      const keys = Array.from({ length: 48 }, (_, i) => `s1/c${i}/part`);
      await Promise.all(keys.map((k, i) => b.set(k, bytes(100 + i, i))));
      const got = await Promise.all(keys.map((k) => b.get(k)));
      got.forEach((g, i) => expect(sameBytes(g, bytes(100 + i, i))).toBe(true));
      expect((await listAll(b, 's1/')).length).toBe(keys.length);
    });

    it('returns 8-byte aligned buffers', async () => {
      const b = await fresh();
      for (const n of [0, 1, 3, 9, 1000, 65537]) {
        await b.set(`s1/al${n}`, bytes(n).subarray(0));
        const got = await b.get(`s1/al${n}`);
        expect(got!.byteOffset % 8, `size ${n}`).toBe(0);
      }
    });

    it('rejects keys and prefixes that could escape the store root', async () => {
      const b = await fresh();
      const badKeys = ['', '/abs', '../x', 'a/../b', 'a/..', 'a//b', 'a/./b', './a', 'a/', 'x\\y', 'a\u0000b'];
      for (const k of badKeys) {
        await expectKind(b.set(k, new Uint8Array([1])), 'invalid');
        await expectKind(b.get(k), 'invalid');
        await expectKind(b.head(k), 'invalid');
        await expectKind(b.delete(k), 'invalid');
      }
      for (const p of ['../', '/', 'a/../', 'a//']) await expectKind(listAll(b, p), 'invalid');
      expect(await listAll(b, '')).toEqual([]);
    });

    it('honours an aborted signal with cancelled, without writing', async () => {
      const b = await fresh();
      const signal = AbortSignal.abort();
      await expectKind(b.set('s1/x', new Uint8Array([1]), { signal }), 'cancelled');
      await expectKind(b.get('s1/x', { signal }), 'cancelled');
      expect(await b.head('s1/x')).toBeUndefined();
    });

    if (opts.atomicOverwrite) {
      it('never shows a reader a mix of old and new bytes', async () => {
        const b = await fresh();
        const A = new Uint8Array(1 << 20).fill(0xaa);
        const B = new Uint8Array(3 << 18).fill(0xbb);
        await b.set('s1/race', A);
        let writing = true;
        const writer = (async () => {
          for (let i = 0; i < 20; i++) await b.set('s1/race', i % 2 ? A : B);
          writing = false;
        })();
        const reader = async () => {
          do {
            const got = await b.get('s1/race');
            expect(sameBytes(got, A) || sameBytes(got, B)).toBe(true);
          } while (writing);
        };
        await Promise.all([reader(), reader(), writer]);
      });
    }

    it('reads an object with its version, and a missing one as undefined', async () => {
      const b = await fresh();
      expect(await b.getVersioned('s1/none')).toBeUndefined();
      const A = bytes(100, 3);
      await b.set('s1/v', A);
      const got = await b.getVersioned('s1/v');
      expect(sameBytes(got?.data, A)).toBe(true);
      expect(got?.version).toMatch(/./);
    });

    it('creates with ifAbsent and replaces with ifMatch, returning versions getVersioned reports', async () => {
      const b = await fresh();
      const A = bytes(50, 1);
      const B = bytes(60, 2);
      const v1 = await b.setIf('s1/c/rec', A, { ifAbsent: true });
      expect(v1).toBeDefined();
      expect(sameBytes(await b.get('s1/c/rec'), A)).toBe(true);
      expect((await b.getVersioned('s1/c/rec'))?.version).toBe(v1);
      const v2 = await b.setIf('s1/c/rec', B, { ifMatch: v1! });
      expect(v2).toBeDefined();
      expect(v2).not.toBe(v1);
      expect(sameBytes(await b.get('s1/c/rec'), B)).toBe(true);
      expect((await b.getVersioned('s1/c/rec'))?.version).toBe(v2);
      expect(await listAll(b, 's1/c/')).toEqual([expect.objectContaining({ key: 's1/c/rec', size: 60 })]);
    });

    if (opts.enforcesConditions) {
      it('refuses ifAbsent on an existing key and ifMatch on a stale or missing version, writing nothing', async () => {
        const b = await fresh();
        const A = bytes(50, 1);
        const v1 = await b.setIf('s1/rec', A, { ifAbsent: true });
        expect(await b.setIf('s1/rec', bytes(10, 9), { ifAbsent: true })).toBeUndefined();
        const v2 = await b.setIf('s1/rec', bytes(20, 2), { ifMatch: v1! });
        expect(v2).toBeDefined();
        expect(await b.setIf('s1/rec', bytes(30, 3), { ifMatch: v1! })).toBeUndefined();
        expect(await b.setIf('s1/missing', bytes(30, 3), { ifMatch: v1! })).toBeUndefined();
        expect(await b.head('s1/missing')).toBeUndefined();
        expect(sameBytes(await b.get('s1/rec'), bytes(20, 2))).toBe(true);
      });

      it('lets exactly one of racing conditional writers win each round', async () => {
        const b = await fresh();
        const winsAbsent = await Promise.all(Array.from({ length: 8 }, (_, i) => b.setIf('s1/race', bytes(40, i + 1), { ifAbsent: true })));
        expect(winsAbsent.filter((v) => v !== undefined)).toHaveLength(1);
        const base = (await b.getVersioned('s1/race'))!.version;
        const winsMatch = await Promise.all(Array.from({ length: 8 }, (_, i) => b.setIf('s1/race', bytes(40, i + 20), { ifMatch: base })));
        expect(winsMatch.filter((v) => v !== undefined)).toHaveLength(1);
        expect(await listAll(b, 's1/')).toHaveLength(1);
      });
    }

    it('copies an object to a new key, independent of the source afterwards', async () => {
      const b = await fresh();
      const A = bytes(3000, 4);
      await b.set('s1/c1/p1', A);
      expect(await b.copy('s1/c1/p1', 's1/c2/p2')).toBe(true);
      expect(sameBytes(await b.get('s1/c2/p2'), A)).toBe(true);
      expect(await b.delete('s1/c1/p1')).toBe(3000);
      expect(sameBytes(await b.get('s1/c2/p2'), A)).toBe(true);
      expect(await b.copy('s1/c1/p1', 's1/c3/p3')).toBe(false);
      expect(await b.head('s1/c3/p3')).toBeUndefined();
    });
  });
}
