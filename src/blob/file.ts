/**
 * A store on the local file system (`file://`), the embedded default. Key `a/b/c` is the file
 * `<root>/a/b/c`. Writes go to a temp file in the target's directory and are renamed over the
 * target, so a reader opens either the old or the new file, never a partial one.
 *
 * One limit S3 does not have: a key cannot also be the directory of another key (`a` and `a/b`);
 * such a `set` fails with 'invalid'. Keys the service writes never collide this way.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readdir, rename, rmdir, stat, unlink } from 'node:fs/promises';
import * as path from 'node:path';
import { CompactdError } from '../model/errors.js';
import type { Blob, BlobData, BlobMeta, BlobOptions, Versioned, WriteCondition } from './blob.js';
import { checkKey, checkPrefix, chunksOf, compareKeys, contentVersion, sleep, throwIfAborted } from './util.js';

/** Names of in-flight temp files start with this; `list` skips them and no key segment may use it. */
export const TEMP_MARK = '.compactd-tmp-';

/** Flush file and directory before `set` returns: a part acknowledged to a writer must survive a crash. */
export const DEFAULT_FSYNC = true;

export interface FileBlobOptions {
  /** fsync the file before the rename and the directory after it (default DEFAULT_FSYNC). */
  readonly fsync?: boolean;
}

/**
 * A lock file older than this belongs to a writer that died holding it: conditional writes take
 * a few milliseconds, so a live holder never looks this old.
 */
const STALE_LOCK_MS = 10_000;
/** Pause between attempts to take a key's lock held by another writer. */
const LOCK_RETRY_MS = 2;

/** Attempts of `set` when a concurrent `delete` prunes the directory between mkdir and open. */
const SET_ATTEMPTS = 5;

/** Most buffers one writev takes (Linux's IOV_MAX): longer chunk lists are written in batches. */
export const IOV_MAX = 1024;
/**
 * Most bytes one write takes. A whole 128 MiB part in one writev cost about twice the system
 * time of the same bytes in 512 KiB writes (the kernel's copy into the page cache; measured on
 * the default benchmark shape), so large chunks are written in slices of this size.
 */
export const WRITE_SLICE_BYTES = 512 * 1024;

export class FileBlob implements Blob {
  readonly root: string;
  /** The root with exactly one trailing separator: every object path starts with it. */
  private readonly base: string;
  private readonly fsync: boolean;

  /** A store rooted at `root` (resolved against the working directory; created on first write). */
  constructor(root: string, opts: FileBlobOptions = {}) {
    this.root = path.resolve(root);
    this.base = this.root.endsWith(path.sep) ? this.root : this.root + path.sep;
    this.fsync = opts.fsync ?? DEFAULT_FSYNC;
  }

  /** The file of `key`; throws 'invalid' for keys that could leave the root. */
  private pathOf(key: string): string {
    checkKey(key);
    for (const seg of key.split('/')) {
      if (seg.startsWith(TEMP_MARK)) {
        throw new CompactdError('invalid', `bad blob key ${JSON.stringify(key)}: segment uses the reserved ${TEMP_MARK} prefix`);
      }
    }
    const p = path.join(this.root, ...key.split('/'));
    if (!p.startsWith(this.base)) {
      throw new CompactdError('invalid', `bad blob key ${JSON.stringify(key)}: outside the store root`);
    }
    return p;
  }

  async get(key: string, opts?: BlobOptions): Promise<Uint8Array | undefined> {
    const file = this.pathOf(key);
    throwIfAborted(opts?.signal);
    try {
      return await readWhole(file, opts?.signal);
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw fsError(err, `get ${key}`, true, opts?.signal);
    }
  }

  async set(key: string, data: BlobData, opts?: BlobOptions): Promise<void> {
    const file = this.pathOf(key);
    const dir = path.dirname(file);
    const signal = opts?.signal;
    for (let attempt = 1; ; attempt++) {
      throwIfAborted(signal);
      const tmp = path.join(dir, `${TEMP_MARK}${randomBytes(8).toString('hex')}`);
      try {
        await mkdir(dir, { recursive: true });
        await this.writeTemp(tmp, data);
      } catch (err) {
        await unlink(tmp).catch(() => {});
        if (code(err) === 'ENOENT' && attempt < SET_ATTEMPTS) continue;
        throw (await this.rootFault(err, `set ${key}`)) ?? fsError(err, `set ${key}`, true, signal);
      }
      try {
        throwIfAborted(signal);
        await rename(tmp, file);
      } catch (err) {
        await unlink(tmp).catch(() => {});
        throw fsError(err, `set ${key}`, true, signal);
      }
      if (this.fsync) {
        // The rename is visible but may not be durable yet: a failure here leaves the outcome open.
        try {
          await syncDir(dir);
        } catch (err) {
          throw fsError(err, `set ${key}`, false, undefined);
        }
      }
      return;
    }
  }

  /**
   * A path conflict (ENOTDIR, EEXIST) is a key colliding with another key's directory, unless the
   * store's root itself is not a directory (the --blob path runs through a file): then the store is
   * misconfigured, and no key would ever work.
   */
  private async rootFault(err: unknown, what: string): Promise<CompactdError | undefined> {
    const c = code(err);
    if (c !== 'ENOTDIR' && c !== 'EEXIST') return undefined;
    const isDir = await stat(this.root).then(
      (st) => st.isDirectory(),
      () => false,
    );
    return isDir ? undefined : misconfigured(`${what}: the store's root is not a directory (${c})`, err);
  }

  async getVersioned(key: string, opts?: BlobOptions): Promise<Versioned | undefined> {
    const data = await this.get(key, opts);
    return data === undefined ? undefined : { data, version: contentVersion(data) };
  }

  /**
   * `ifAbsent`: the bytes go to a temp file that is then hard-linked to the key, which fails when
   * the key exists (an exclusive create that is never seen half written). `ifMatch`: writers of a
   * key serialize on a lock file created exclusively beside it (temp-marked, so listings skip it
   * and the temp sweep removes one a crash left); under the lock the current content is compared
   * and the new one renamed over it. Every writer of the key must go through `setIf` for this to
   * hold, which is how the service writes the objects it writes conditionally.
   */
  async setIf(key: string, data: Uint8Array, cond: WriteCondition, opts?: BlobOptions): Promise<string | undefined> {
    const file = this.pathOf(key);
    const dir = path.dirname(file);
    const signal = opts?.signal;
    throwIfAborted(signal);
    const version = contentVersion(data);
    if ('ifAbsent' in cond) {
      const tmp = path.join(dir, `${TEMP_MARK}${randomBytes(8).toString('hex')}`);
      try {
        await mkdir(dir, { recursive: true });
        await this.writeTemp(tmp, data);
        try {
          await link(tmp, file);
        } catch (err) {
          if (code(err) === 'EEXIST') return undefined;
          throw err;
        }
        if (this.fsync) await syncDir(dir);
        return version;
      } catch (err) {
        throw fsError(err, `set ${key}`, true, signal);
      } finally {
        await unlink(tmp).catch(() => {});
      }
    }
    const lock = path.join(dir, `${TEMP_MARK}lock-${path.basename(file)}`);
    await this.takeLock(lock, key, signal);
    try {
      let current: Uint8Array;
      try {
        current = await readWhole(file, signal);
      } catch (err) {
        if (isMissing(err)) return undefined;
        throw fsError(err, `set ${key}`, true, signal);
      }
      if (contentVersion(current) !== cond.ifMatch) return undefined;
      await this.set(key, data, opts);
      return version;
    } finally {
      await unlink(lock).catch(() => {});
    }
  }

  /** Creates `lock` exclusively, waiting while a live writer holds it and breaking a stale one. */
  private async takeLock(lock: string, key: string, signal: AbortSignal | undefined): Promise<void> {
    for (;;) {
      throwIfAborted(signal);
      try {
        const fh = await open(lock, 'wx');
        await fh.close();
        return;
      } catch (err) {
        const c = code(err);
        if (c === 'ENOENT') {
          // The key's directory does not exist yet (nor, then, does the key): create it and retry.
          try {
            await mkdir(path.dirname(lock), { recursive: true });
          } catch (e) {
            throw fsError(e, `lock ${key}`, true, signal);
          }
          continue;
        }
        if (c !== 'EEXIST') throw fsError(err, `lock ${key}`, true, signal);
      }
      try {
        const st = await stat(lock);
        if (Date.now() - st.mtimeMs > STALE_LOCK_MS) await unlink(lock);
      } catch (err) {
        if (!isMissing(err)) throw fsError(err, `lock ${key}`, true, signal);
      }
      await sleep(LOCK_RETRY_MS, signal);
    }
  }

  /** A hard link to the same file: no bytes are copied, and deleting either key leaves the other. */
  async copy(from: string, to: string, opts?: BlobOptions): Promise<boolean> {
    const src = this.pathOf(from);
    const file = this.pathOf(to);
    const dir = path.dirname(file);
    const signal = opts?.signal;
    throwIfAborted(signal);
    const tmp = path.join(dir, `${TEMP_MARK}${randomBytes(8).toString('hex')}`);
    try {
      await mkdir(dir, { recursive: true });
      try {
        await link(src, tmp);
      } catch (err) {
        if (isMissing(err)) return false;
        throw err;
      }
      // Renamed over the target like a `set`, so an existing `to` is replaced atomically.
      await rename(tmp, file);
      if (this.fsync) await syncDir(dir);
      return true;
    } catch (err) {
      await unlink(tmp).catch(() => {});
      throw fsError(err, `copy ${from} to ${to}`, true, signal);
    }
  }

  /** The one write path of the store: `data`'s chunks, gathered by writev, into a new temp file. */
  private async writeTemp(tmp: string, data: BlobData): Promise<void> {
    // 'wx': a temp name is never reused, so an existing file means something else owns it.
    const fh = await open(tmp, 'wx');
    try {
      await writeChunks(fh, chunksOf(data));
      if (this.fsync) await fh.sync();
    } finally {
      await fh.close();
    }
  }

  async delete(key: string, opts?: BlobOptions): Promise<number | undefined> {
    const file = this.pathOf(key);
    throwIfAborted(opts?.signal);
    let size: number;
    try {
      const st = await stat(file);
      if (!st.isFile()) return undefined;
      size = st.size;
      await unlink(file);
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw fsError(err, `delete ${key}`, true, opts?.signal);
    }
    await this.pruneDirs(path.dirname(file));
    return size;
  }

  /** Removes directories left empty by a delete, up to the root, so failed compactions leave no litter. */
  private async pruneDirs(dir: string): Promise<void> {
    while (dir.startsWith(this.base) && dir !== this.root) {
      try {
        await rmdir(dir);
      } catch {
        return; // not empty (or already gone): a concurrent set may be using it
      }
      dir = path.dirname(dir);
    }
  }

  async head(key: string, opts?: BlobOptions): Promise<BlobMeta | undefined> {
    const file = this.pathOf(key);
    throwIfAborted(opts?.signal);
    try {
      const st = await stat(file);
      return st.isFile() ? { key, size: st.size, lastModifiedMs: st.mtimeMs } : undefined;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw fsError(err, `head ${key}`, true, opts?.signal);
    }
  }

  async *list(prefix: string, opts?: BlobOptions): AsyncIterable<BlobMeta> {
    checkPrefix(prefix);
    const slash = prefix.lastIndexOf('/');
    yield* this.walk(slash >= 0 ? prefix.slice(0, slash) : '', prefix.slice(slash + 1), opts?.signal);
  }

  /**
   * Yields the files under directory `dirKey` whose first name segment starts with `first`, in
   * ascending key order. Sorting a directory as `name/` and a file as `name` makes a depth-first
   * walk produce global key order: every key below `d/` sorts against a file name exactly as `d/` does.
   */
  private async *walk(dirKey: string, first: string, signal: AbortSignal | undefined): AsyncGenerator<BlobMeta> {
    throwIfAborted(signal);
    const dir = dirKey === '' ? this.root : path.join(this.root, ...dirKey.split('/'));
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (isMissing(err)) return;
      throw fsError(err, `list ${dirKey}`, true, signal);
    }
    const items = entries
      .filter((e) => (e.isFile() || e.isDirectory()) && e.name.startsWith(first) && !e.name.startsWith(TEMP_MARK))
      .map((e) => ({ name: e.name, isDir: e.isDirectory(), sortKey: e.isDirectory() ? `${e.name}/` : e.name }))
      .sort((a, b) => compareKeys(a.sortKey, b.sortKey));
    for (const item of items) {
      const key = dirKey === '' ? item.name : `${dirKey}/${item.name}`;
      if (item.isDir) {
        yield* this.walk(key, '', signal);
        continue;
      }
      let st;
      try {
        st = await stat(path.join(dir, item.name));
      } catch (err) {
        if (isMissing(err)) continue; // deleted since readdir
        throw fsError(err, `list ${key}`, true, signal);
      }
      yield { key, size: st.size, lastModifiedMs: st.mtimeMs };
    }
  }

  /**
   * Deletes temp files (`.compactd-tmp-*`) under `prefix` last modified more than `olderThanMs`
   * ago: what a process killed in the middle of `set` leaves. A live write finishes in seconds,
   * so a generous age never touches one.
   */
  async sweepTemporary(prefix: string, olderThanMs: number): Promise<{ removed: number; bytes: number }> {
    checkPrefix(prefix);
    const slash = prefix.lastIndexOf('/');
    const top = slash >= 0 ? path.join(this.root, ...prefix.slice(0, slash).split('/')) : this.root;
    const first = prefix.slice(slash + 1);
    const cutoff = Date.now() - olderThanMs;
    let removed = 0;
    let bytes = 0;
    const sweep = async (dir: string, match: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if (isMissing(err)) return;
        throw fsError(err, `sweep ${dir}`, true, undefined);
      }
      for (const e of entries) {
        const p = path.join(dir, e.name);
        if (e.isDirectory() && e.name.startsWith(match) && !e.name.startsWith(TEMP_MARK)) {
          await sweep(p, '');
        } else if (e.isFile() && e.name.startsWith(TEMP_MARK) && (dir !== top || first === '')) {
          try {
            const st = await stat(p);
            if (st.mtimeMs > cutoff) continue;
            await unlink(p);
            removed++;
            bytes += st.size;
          } catch (err) {
            if (!isMissing(err)) throw fsError(err, `sweep ${p}`, true, undefined);
          }
        }
      }
    };
    await sweep(top, first);
    return { removed, bytes };
  }

  async close(): Promise<void> {}
}

/**
 * Reads a whole file with as few reads as it takes (one, normally) into a fresh buffer, which
 * starts 8-byte aligned. fs.readFile reads in 512 KiB slices, each needing a turn of the event
 * loop, so a large read crawls while the thread computes; one read runs in the thread pool alone.
 */
async function readWhole(file: string, signal: AbortSignal | undefined): Promise<Uint8Array> {
  const fh = await open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    const buf = new Uint8Array(size);
    let at = 0;
    while (at < size) {
      throwIfAborted(signal);
      const { bytesRead } = await fh.read(buf, at, size - at, at);
      if (bytesRead === 0) break; // truncated since the stat: return what is there
      at += bytesRead;
    }
    return at === size ? buf : buf.subarray(0, at);
  } finally {
    await fh.close();
  }
}

/** What `writeChunks` writes through: a FileHandle's writev. */
export interface GatheringWriter {
  writev(buffers: Uint8Array[], position: number): Promise<{ bytesWritten: number }>;
}

/**
 * Writes `chunks` one after the other from offset 0 with gathered writes of at most IOV_MAX
 * buffers and WRITE_SLICE_BYTES bytes, resuming after a short write (the kernel may write less
 * than asked, e.g. on a signal or a full quota) until every byte is written. The chunks are read,
 * never copied or modified.
 */
export async function writeChunks(fh: GatheringWriter, chunks: readonly Uint8Array[], sliceBytes = WRITE_SLICE_BYTES): Promise<void> {
  let position = 0;
  // The next bytes to write: chunks[next] from `offset` on.
  let next = 0;
  let offset = 0;
  for (;;) {
    const batch: Uint8Array[] = [];
    let bytes = 0;
    while (next < chunks.length && batch.length < IOV_MAX && bytes < sliceBytes) {
      const c = chunks[next];
      const take = Math.min(c.byteLength - offset, sliceBytes - bytes);
      if (take > 0) {
        batch.push(c.subarray(offset, offset + take));
        bytes += take;
        offset += take;
      }
      if (offset >= c.byteLength) {
        next++;
        offset = 0;
      }
    }
    if (batch.length === 0) return;
    let first = 0;
    while (first < batch.length) {
      const { bytesWritten } = await fh.writev(first === 0 ? batch : batch.slice(first), position);
      if (bytesWritten <= 0) throw Object.assign(new Error('writev wrote nothing'), { code: 'EIO' });
      position += bytesWritten;
      let left = bytesWritten;
      while (first < batch.length && left >= batch[first].byteLength) left -= batch[first++].byteLength;
      if (left > 0) batch[first] = batch[first].subarray(left);
    }
  }
}

async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function code(err: unknown): string | undefined {
  return (err as { code?: string } | null)?.code;
}

/** ENOENT, or a path component that is a file (ENOTDIR), or the key names a directory (EISDIR). */
function isMissing(err: unknown): boolean {
  const c = code(err);
  return c === 'ENOENT' || c === 'ENOTDIR' || c === 'EISDIR';
}

const TRANSIENT = new Set(['ENOSPC', 'EIO', 'EMFILE', 'ENFILE', 'EAGAIN', 'EBUSY', 'EDQUOT', 'EINTR']);
const CONFLICT = new Set(['ENOTDIR', 'EISDIR', 'EEXIST', 'ENOTEMPTY']);
/** The file system refuses the service itself: wrong owner or mode, a read-only mount. */
const REFUSED = new Set(['EACCES', 'EPERM', 'EROFS']);

/**
 * A store fault only an operator can fix. The message is safe for clients (a key relative to the
 * root, never the root's path); the cause, which names the path, goes to the log.
 */
function misconfigured(message: string, cause: unknown): CompactdError {
  return new CompactdError('misconfigured', `blob store: ${message}`, { cause });
}

function fsError(err: unknown, what: string, determinate: boolean, signal: AbortSignal | undefined): CompactdError {
  if (signal?.aborted || (err instanceof CompactdError && err.kind === 'cancelled')) {
    return new CompactdError('cancelled', `${what}: cancelled`, { cause: err, determinate });
  }
  if (err instanceof CompactdError) return err;
  const c = code(err) ?? 'unknown';
  const msg = err instanceof Error ? err.message : String(err);
  if (TRANSIENT.has(c)) return new CompactdError('unavailable', `${what}: ${c}`, { cause: err, determinate });
  if (REFUSED.has(c)) return misconfigured(`${what}: the file system refuses the service (${c})`, err);
  if (CONFLICT.has(c)) {
    return new CompactdError('invalid', `${what}: key collides with a directory or file of another key (${c})`, {
      cause: err,
      determinate,
    });
  }
  return new CompactdError('internal', `${what}: ${msg}`, { cause: err, determinate });
}
