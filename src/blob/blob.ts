/**
 * The storage interface every blob store implements. Keys are object keys relative to the
 * store's root (`<shard>/<part key>`); the store applies its own prefix. All stores are
 * linearizable for a single key: a `set` that returned is visible to every later `get`.
 *
 * Errors are CompactdErrors: `not_found` is never thrown for a missing key (get/head return
 * undefined); transport failures are `unavailable` with `determinate` saying whether the
 * operation definitely did not happen.
 */
export interface BlobMeta {
  readonly key: string;
  readonly size: number;
  /** Last modification time in ms since the epoch, where the store knows it. */
  readonly lastModifiedMs?: number;
}

export interface BlobOptions {
  readonly signal?: AbortSignal;
}

/** The condition of a conditional write: the key must not exist, or must hold the given version. */
export type WriteCondition = { readonly ifAbsent: true } | { readonly ifMatch: string };

/** An object's bytes and its version tag (an ETag on S3, a content digest on the other stores). */
export interface Versioned {
  readonly data: Uint8Array;
  readonly version: string;
}

/**
 * What `set` writes: one buffer, or the object's bytes as a list of chunks in order (an encoded
 * part is the views its encoder produced; stores write them without joining them first).
 */
export type BlobData = Uint8Array | readonly Uint8Array[];

export interface Blob {
  /** The bytes of `key`, or undefined when it does not exist. */
  get(key: string, opts?: BlobOptions): Promise<Uint8Array | undefined>;
  /**
   * Atomically writes `key` (overwriting is allowed): readers see the old or the new bytes, never
   * a mix. The object is `data`, or its chunks concatenated. `data` is not read after the
   * returned promise settles (callers reuse the buffers) and is never modified.
   */
  set(key: string, data: BlobData, opts?: BlobOptions): Promise<void>;
  /** Deletes `key`; returns its size, or undefined when it did not exist (not an error). */
  delete(key: string, opts?: BlobOptions): Promise<number | undefined>;
  /** Size and metadata of `key`, or undefined when it does not exist. */
  head(key: string, opts?: BlobOptions): Promise<BlobMeta | undefined>;
  /** Every object whose key starts with `prefix`, in ascending key order. */
  list(prefix: string, opts?: BlobOptions): AsyncIterable<BlobMeta>;
  /** The bytes of `key` and their version tag (for `setIf`), or undefined when it does not exist. */
  getVersioned(key: string, opts?: BlobOptions): Promise<Versioned | undefined>;
  /**
   * Writes `key` only when `cond` holds at the moment of the write: `ifAbsent` (nothing at the key)
   * or `ifMatch` (the key holds that version). Returns the new version, or undefined when the
   * condition did not hold (nothing was written). What each store guarantees: see the README.
   */
  setIf(key: string, data: Uint8Array, cond: WriteCondition, opts?: BlobOptions): Promise<string | undefined>;
  /**
   * Makes `to` hold the bytes of `from` without moving them through this process (a hard link on
   * the file store, a server-side copy on S3). Returns false when `from` does not exist.
   */
  copy(from: string, to: string, opts?: BlobOptions): Promise<boolean>;
  /** Releases connections and handles. */
  close(): Promise<void>;
  /**
   * Removes leftovers of writes that never finished (a process killed mid-`set`) under `prefix`
   * and older than `olderThanMs`, for stores that have such leftovers (the file store's temp
   * files). Stores whose writes are atomic on the server side do not implement it.
   */
  sweepTemporary?(prefix: string, olderThanMs: number): Promise<{ removed: number; bytes: number }>;
}
