/**
 * Helpers shared by the blob stores: key checks (every store applies the same rules so the
 * conformance suite can pin them), key ordering, buffer alignment and cancellation.
 */
import { createHash } from 'node:crypto';
import { CompactdError } from '../model/errors.js';
import type { BlobData } from './blob.js';

const MAX_KEY_CHARS = 1024; // S3's own limit on object key length, in bytes (ASCII keys)

/**
 * Throws CompactdError 'invalid' unless `key` is a usable blob key: non-empty, relative (no
 * leading `/`), no empty, `.` or `..` segments, no backslash or control characters. This is
 * defence in depth below the contract's stricter part-key rules (model/keys.ts): whatever reaches
 * a store can only name an object under that store's root.
 */
export function checkKey(key: string): void {
  if (typeof key !== 'string' || key.length === 0) throw badKey(key, 'empty');
  if (key.length > MAX_KEY_CHARS) throw badKey(key, `longer than ${MAX_KEY_CHARS} characters`);
  checkChars(key);
  for (const seg of key.split('/')) {
    if (seg === '') throw badKey(key, 'empty segment or absolute path');
    if (seg === '.' || seg === '..') throw badKey(key, 'traversal segment');
  }
}

/**
 * Throws CompactdError 'invalid' unless `prefix` is a usable list prefix: empty, or a key's start
 * (the last segment may be partial or empty, as in `a/b/`), with no `.`/`..` or inner empty segments.
 */
export function checkPrefix(prefix: string): void {
  if (typeof prefix !== 'string') throw badKey(prefix, 'not a string');
  if (prefix.length === 0) return;
  if (prefix.length > MAX_KEY_CHARS) throw badKey(prefix, `longer than ${MAX_KEY_CHARS} characters`);
  checkChars(prefix);
  const segs = prefix.split('/');
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i];
    if (seg === '' && i < segs.length - 1) throw badKey(prefix, 'empty segment or absolute path');
    if (seg === '.' || seg === '..') throw badKey(prefix, 'traversal segment');
  }
}

function checkChars(s: string): void {
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(s)) throw badKey(s, 'control character or backslash');
}

function badKey(key: unknown, why: string): CompactdError {
  const shown = String(key);
  return new CompactdError(
    'invalid',
    `bad blob key ${JSON.stringify(shown.length > 80 ? `${shown.slice(0, 80)}...` : shown)}: ${why}`,
  );
}

/**
 * Orders keys by Unicode code point, which is the UTF-8 byte order S3 lists in. JavaScript's
 * default string order (UTF-16 code units) differs for characters above U+FFFF.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (D800-DFFF) encode code points above every BMP character: lift them over E000-FFFF.
    return rank(x) - rank(y);
  }
  return a.length - b.length;
}

function rank(c: number): number {
  if (c >= 0xd800 && c <= 0xdfff) return c + 0x2000;
  if (c >= 0xe000) return c - 0x800;
  return c;
}

/**
 * Returns `bytes` itself when its byteOffset is a multiple of 8, else a copy in a fresh buffer.
 * The Arrow decoder reads columns zero-copy only from 8-byte aligned memory.
 */
export function aligned(bytes: Uint8Array): Uint8Array {
  if (bytes.byteOffset % 8 === 0) return bytes;
  const out = new Uint8Array(bytes.length);
  out.set(bytes);
  return out;
}

/** Throws CompactdError 'cancelled' when `signal` has been aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw cancelled(signal);
}

/** The error a cancelled blob operation throws. */
export function cancelled(signal?: AbortSignal): CompactdError {
  return new CompactdError('cancelled', 'blob operation cancelled', { cause: signal?.reason });
}

/** Resolves after `ms`, or rejects with 'cancelled' as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(cancelled(signal));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(cancelled(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, Math.max(0, ms));
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * The version tag of stored bytes on stores without their own (file, memory): a digest of the
 * content, so equal bytes have equal versions. Conditional writes of records that carry a
 * sequence number never see two different states with the same tag.
 */
export function contentVersion(data: Uint8Array): string {
  return `"${createHash('sha256').update(data).digest('hex')}"`;
}

/** Whether `data` is a list of chunks (an array; a single buffer is a typed array). */
function isChunks(data: BlobData): data is readonly Uint8Array[] {
  return Array.isArray(data);
}

/** The chunks of `data`, in order (a single buffer is one chunk). */
export function chunksOf(data: BlobData): readonly Uint8Array[] {
  return isChunks(data) ? data : [data];
}

/** The size of the object `data` describes. */
export function dataBytes(data: BlobData): number {
  if (!isChunks(data)) return data.byteLength;
  let n = 0;
  for (const c of data) n += c.byteLength;
  return n;
}

/** The bytes of `data` in one fresh buffer (stores that keep objects in memory). */
export function joinChunks(data: BlobData): Uint8Array {
  const out = new Uint8Array(dataBytes(data));
  let at = 0;
  for (const c of chunksOf(data)) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
