/**
 * An in-process store (`mem://`): for tests, the CLI's demos and single-process setups. Bytes are
 * copied in and out so no caller can change what is stored through an array it holds.
 */
import type { Blob, BlobData, BlobMeta, BlobOptions, Versioned, WriteCondition } from './blob.js';
import { checkKey, checkPrefix, compareKeys, contentVersion, joinChunks, throwIfAborted } from './util.js';

interface Entry {
  readonly bytes: Uint8Array;
  readonly lastModifiedMs: number;
}

const shared = new Map<string, Map<string, Entry>>();

export class MemoryBlob implements Blob {
  // Replaced by `shared` for named stores; never reassigned after construction returns.
  private objects: Map<string, Entry>;

  /** A fresh, empty store. */
  constructor() {
    this.objects = new Map();
  }

  /**
   * The store named `name` in this process (`mem://name`): every call with the same name sees the
   * same objects, for as long as the process lives.
   */
  static shared(name: string): MemoryBlob {
    let objects = shared.get(name);
    if (!objects) {
      objects = new Map();
      shared.set(name, objects);
    }
    const blob = new MemoryBlob();
    blob.objects = objects;
    return blob;
  }

  /** Total stored bytes (for tests that check nothing leaked). */
  get totalBytes(): number {
    let n = 0;
    for (const e of this.objects.values()) n += e.bytes.length;
    return n;
  }

  async get(key: string, opts?: BlobOptions): Promise<Uint8Array | undefined> {
    checkKey(key);
    throwIfAborted(opts?.signal);
    const e = this.objects.get(key);
    return e ? e.bytes.slice() : undefined;
  }

  async set(key: string, data: BlobData, opts?: BlobOptions): Promise<void> {
    checkKey(key);
    throwIfAborted(opts?.signal);
    this.objects.set(key, { bytes: joinChunks(data), lastModifiedMs: Date.now() });
  }

  async getVersioned(key: string, opts?: BlobOptions): Promise<Versioned | undefined> {
    checkKey(key);
    throwIfAborted(opts?.signal);
    const e = this.objects.get(key);
    return e ? { data: e.bytes.slice(), version: contentVersion(e.bytes) } : undefined;
  }

  async setIf(key: string, data: Uint8Array, cond: WriteCondition, opts?: BlobOptions): Promise<string | undefined> {
    checkKey(key);
    throwIfAborted(opts?.signal);
    // One thread and no await between the check and the write: atomic.
    const e = this.objects.get(key);
    const holds = 'ifAbsent' in cond ? e === undefined : e !== undefined && contentVersion(e.bytes) === cond.ifMatch;
    if (!holds) return undefined;
    const bytes = data.slice();
    this.objects.set(key, { bytes, lastModifiedMs: Date.now() });
    return contentVersion(bytes);
  }

  async copy(from: string, to: string, opts?: BlobOptions): Promise<boolean> {
    checkKey(from);
    checkKey(to);
    throwIfAborted(opts?.signal);
    const e = this.objects.get(from);
    if (!e) return false;
    // Stored bytes are never mutated, so the copy can share them.
    this.objects.set(to, { bytes: e.bytes, lastModifiedMs: Date.now() });
    return true;
  }

  async delete(key: string, opts?: BlobOptions): Promise<number | undefined> {
    checkKey(key);
    throwIfAborted(opts?.signal);
    const e = this.objects.get(key);
    if (!e) return undefined;
    this.objects.delete(key);
    return e.bytes.length;
  }

  async head(key: string, opts?: BlobOptions): Promise<BlobMeta | undefined> {
    checkKey(key);
    throwIfAborted(opts?.signal);
    const e = this.objects.get(key);
    return e ? { key, size: e.bytes.length, lastModifiedMs: e.lastModifiedMs } : undefined;
  }

  async *list(prefix: string, opts?: BlobOptions): AsyncIterable<BlobMeta> {
    checkPrefix(prefix);
    throwIfAborted(opts?.signal);
    // A snapshot: sets and deletes during iteration do not disturb it.
    const metas: BlobMeta[] = [];
    for (const [key, e] of this.objects) {
      if (key.startsWith(prefix)) metas.push({ key, size: e.bytes.length, lastModifiedMs: e.lastModifiedMs });
    }
    metas.sort((a, b) => compareKeys(a.key, b.key));
    for (const m of metas) {
      throwIfAborted(opts?.signal);
      yield m;
    }
  }

  async close(): Promise<void> {}
}
