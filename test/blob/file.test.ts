/**
 * FileBlob specifics: atomic replacement through temp files, no litter, confinement to the root,
 * directory pruning, and what happens with leftovers of a crashed writer.
 */
import { mkdir, mkdtemp, open, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileBlob, IOV_MAX, TEMP_MARK, WRITE_SLICE_BYTES, writeChunks } from '../../src/blob/file.js';
import { CompactdError } from '../../src/model/errors.js';
import { listAll } from './conformance.js';

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'compactd-fileblob-'));
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Every file name under `root`, recursively, relative to it. */
async function walk(root: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (d: string): Promise<void> => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await visit(p);
      else out.push(path.relative(root, p));
    }
  };
  await visit(root);
  return out.sort();
}

async function kindOf(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (e: unknown) => (e instanceof CompactdError ? e.kind : `not a CompactdError: ${String(e)}`),
  );
}

describe('FileBlob', () => {
  it('maps key a/b/c to root/a/b/c', async () => {
    const root = path.join(dir, 'store');
    const blob = new FileBlob(root, { fsync: false });
    await blob.set('s1/c1/p1', new Uint8Array([1, 2, 3]));
    expect(await walk(root)).toEqual([path.join('s1', 'c1', 'p1')]);
    expect((await stat(path.join(root, 's1', 'c1', 'p1'))).size).toBe(3);
  });

  it('leaves no temp files behind after sets, overwrites and concurrent writers', async () => {
    for (const fsync of [true, false]) {
      const root = path.join(dir, `store-${fsync}`);
      const blob = new FileBlob(root, { fsync });
      await Promise.all(
        Array.from({ length: 30 }, (_, i) => blob.set(`s1/k${i % 5}`, new Uint8Array(1000 + i).fill(i))),
      );
      const files = await walk(root);
      expect(files).toEqual([0, 1, 2, 3, 4].map((i) => path.join('s1', `k${i}`)));
      expect(files.some((f) => path.basename(f).startsWith(TEMP_MARK))).toBe(false);
    }
  });

  it('replaces a file by rename: an open reader keeps the complete old bytes', async () => {
    const root = path.join(dir, 'store');
    const blob = new FileBlob(root, { fsync: false });
    const file = path.join(root, 's1', 'k');
    const A = new Uint8Array(100_000).fill(0xaa);
    await blob.set('s1/k', A);
    const before = await stat(file);
    const fh = await open(file, 'r');
    try {
      await blob.set('s1/k', new Uint8Array(10).fill(0xbb));
      // An in-place write would truncate what the open descriptor sees.
      const old = await fh.readFile();
      expect(old.length).toBe(A.length);
      expect(old.every((x) => x === 0xaa)).toBe(true);
    } finally {
      await fh.close();
    }
    expect((await stat(file)).ino).not.toBe(before.ino);
    expect(Array.from((await blob.get('s1/k'))!)).toEqual(new Array(10).fill(0xbb));
  });

  it('never exposes a partial target while a large write is in flight', async () => {
    const root = path.join(dir, 'store');
    const blob = new FileBlob(root, { fsync: false });
    const target = path.join(root, 's1', 'big');
    const size = 32 * 1024 * 1024;
    let done = false;
    const writing = blob.set('s1/big', new Uint8Array(size).fill(7)).finally(() => (done = true));
    while (!done) {
      for (const n of await readdir(path.dirname(target)).catch(() => [] as string[])) {
        if (n === 'big') expect((await stat(target)).size).toBe(size);
        else expect(n.startsWith(TEMP_MARK)).toBe(true);
      }
      await new Promise((r) => setImmediate(r));
    }
    await writing;
    expect((await stat(target)).size).toBe(size);
  });

  it('ignores temp files left by a crashed writer and refuses keys that look like them', async () => {
    const root = path.join(dir, 'store');
    const blob = new FileBlob(root, { fsync: false });
    await blob.set('s1/p1', new Uint8Array([1]));
    await writeFile(path.join(root, 's1', `${TEMP_MARK}deadbeef`), 'partial');
    expect((await listAll(blob, '')).map((m) => m.key)).toEqual(['s1/p1']);
    expect(await kindOf(blob.get(`s1/${TEMP_MARK}deadbeef`))).toBe('invalid');
    expect(await kindOf(blob.set(`s1/${TEMP_MARK}x`, new Uint8Array(1)))).toBe('invalid');
  });

  it('never touches files outside its root', async () => {
    const root = path.join(dir, 'store');
    await mkdir(root);
    await writeFile(path.join(dir, 'outside'), 'keep');
    const blob = new FileBlob(root, { fsync: false });
    for (const key of ['../outside', 's1/../../outside', '/etc/passwd', `..${dir}/outside`, `${dir}/outside`]) {
      expect(await kindOf(blob.set(key, new Uint8Array([0])))).toBe('invalid');
      expect(await kindOf(blob.delete(key))).toBe('invalid');
      expect(await kindOf(blob.get(key))).toBe('invalid');
    }
    expect(await kindOf(listAll(blob, '../'))).toBe('invalid');
    expect((await stat(path.join(dir, 'outside'))).size).toBe(4);
    expect(await walk(root)).toEqual([]);
  });

  it('prunes directories emptied by delete, but keeps the root and non-empty ones', async () => {
    const root = path.join(dir, 'store');
    const blob = new FileBlob(root, { fsync: false });
    await blob.set('s1/c1/p1', new Uint8Array([1]));
    await blob.set('s1/c2/p1', new Uint8Array([1]));
    expect(await blob.delete('s1/c1/p1')).toBe(1);
    expect(await readdir(path.join(root, 's1'))).toEqual(['c2']);
    expect(await blob.delete('s1/c2/p1')).toBe(1);
    expect(await readdir(root)).toEqual([]);
    // The store keeps working after pruning.
    await blob.set('s1/c1/p2', new Uint8Array([2]));
    expect(Array.from((await blob.get('s1/c1/p2'))!)).toEqual([2]);
  });

  it('keeps concurrent set and delete in one directory consistent', async () => {
    const root = path.join(dir, 'store');
    const blob = new FileBlob(root, { fsync: false });
    for (let round = 0; round < 20; round++) {
      await blob.set('s1/c/a', new Uint8Array([1]));
      await Promise.all([blob.delete('s1/c/a'), blob.set('s1/c/b', new Uint8Array([round]))]);
      expect(Array.from((await blob.get('s1/c/b'))!)).toEqual([round]);
      expect(await blob.get('s1/c/a')).toBeUndefined();
      await blob.delete('s1/c/b');
    }
  });

  it('reports a key that collides with another key directory as invalid, leaving no litter', async () => {
    const root = path.join(dir, 'store');
    const blob = new FileBlob(root, { fsync: false });
    await blob.set('s1/a', new Uint8Array([1]));
    expect(await kindOf(blob.set('s1/a/b', new Uint8Array([2])))).toBe('invalid');
    await blob.set('s1/d/e', new Uint8Array([3]));
    expect(await kindOf(blob.set('s1/d', new Uint8Array([4])))).toBe('invalid');
    expect(await walk(root)).toEqual([path.join('s1', 'a'), path.join('s1', 'd', 'e')]);
    // A directory is not an object.
    expect(await blob.get('s1/d')).toBeUndefined();
    expect(await blob.head('s1/d')).toBeUndefined();
    expect(await blob.delete('s1/d')).toBeUndefined();
  });

  it('lists nothing (and fails nothing) when the root does not exist yet', async () => {
    const blob = new FileBlob(path.join(dir, 'absent'), { fsync: false });
    expect(await listAll(blob, '')).toEqual([]);
    expect(await blob.get('s1/p')).toBeUndefined();
  });
});

describe('writeChunks: the file store writes chunks with gathered writes', () => {
  /** `count` chunks of 1 to 37 bytes cut from one pseudo-random buffer, some of them empty. */
  function chunked(count: number): { whole: Uint8Array; chunks: Uint8Array[] } {
    const sizes = Array.from({ length: count }, (_, i) => (i % 11 === 5 ? 0 : 1 + ((i * 7919) % 37)));
    const whole = new Uint8Array(sizes.reduce((a, b) => a + b, 0)).map((_, i) => (i * 31 + 7) & 255);
    const chunks: Uint8Array[] = [];
    let at = 0;
    for (const n of sizes) {
      chunks.push(whole.subarray(at, at + n));
      at += n;
    }
    return { whole, chunks };
  }

  it('writes at most IOV_MAX buffers per call and resumes after short writes, mid-chunk included', async () => {
    const { whole, chunks } = chunked(3 * IOV_MAX + 17);
    const file = path.join(dir, 'short');
    const fh = await open(file, 'wx');
    const batches: number[] = [];
    let shortWrites = 0;
    try {
      // The real file, through a handle whose writes stop after at most 1000 bytes, as a kernel may.
      await writeChunks(
        {
          writev: async (buffers: Uint8Array[], position: number) => {
            batches.push(buffers.length);
            let budget = 1000;
            const some: Uint8Array[] = [];
            for (const b of buffers) {
              if (budget === 0) break;
              some.push(b.subarray(0, Math.min(budget, b.length)));
              budget -= some[some.length - 1].length;
            }
            if (some.reduce((n, b) => n + b.length, 0) < buffers.reduce((n, b) => n + b.length, 0)) shortWrites++;
            return fh.writev(some, position);
          },
        },
        chunks,
      );
    } finally {
      await fh.close();
    }
    expect(Math.max(...batches)).toBeLessThanOrEqual(IOV_MAX);
    expect(shortWrites).toBeGreaterThan(10);
    expect(Buffer.from(await readFile(file)).equals(Buffer.from(whole))).toBe(true);
  });

  it('writes large chunks in slices of at most WRITE_SLICE_BYTES, small ones gathered with them', async () => {
    const whole = new Uint8Array(3 * WRITE_SLICE_BYTES + 12345).map((_, i) => (i * 131 + 17) & 255);
    const cuts = [0, 10, 20, 2 * WRITE_SLICE_BYTES + 5, 2 * WRITE_SLICE_BYTES + 9, whole.length];
    const chunks = cuts.slice(1).map((end, i) => whole.subarray(cuts[i], end));
    const file = path.join(dir, 'sliced');
    const fh = await open(file, 'wx');
    const sizes: number[] = [];
    try {
      await writeChunks(
        {
          writev: async (buffers: Uint8Array[], position: number) => {
            sizes.push(buffers.reduce((n, b) => n + b.length, 0));
            return fh.writev(buffers, position);
          },
        },
        chunks,
      );
    } finally {
      await fh.close();
    }
    expect(Math.max(...sizes)).toBe(WRITE_SLICE_BYTES);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(whole.length);
    expect(sizes.length).toBe(Math.ceil(whole.length / WRITE_SLICE_BYTES));
    expect(Buffer.from(await readFile(file)).equals(Buffer.from(whole))).toBe(true);
  });

  it('fails instead of looping when a write makes no progress', async () => {
    const { chunks } = chunked(10);
    const err = await writeChunks({ writev: async () => ({ bytesWritten: 0 }) }, chunks).catch((e: unknown) => e);
    expect((err as { code?: string }).code).toBe('EIO');
  });

  it('a set of more than IOV_MAX chunks through the store, with fsync, is stored whole and leaves no temp file', async () => {
    const { whole, chunks } = chunked(2 * IOV_MAX + 3);
    const blob = new FileBlob(dir, { fsync: true });
    await blob.set('s/many', chunks);
    expect(Buffer.from((await blob.get('s/many'))!).equals(Buffer.from(whole))).toBe(true);
    expect(await walk(dir)).toEqual(['s/many']);
  });
});
