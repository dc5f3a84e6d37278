/**
 * Part checksums: `sha256:<hex>` of the object bytes (docs/contract.md, "HollowPart").
 *
 * Hashing runs in the calling thread with node:crypto's `createHash().update()` over the caller's
 * view: no copy. WebCrypto's `subtle.digest` would run in the thread pool, but it first copies its
 * input into a fresh buffer; on a whole compaction that copy (and the page faults of the fresh
 * memory) cost several times the hashing itself, which runs at about 1.6 GB/s with SHA extensions.
 */
import { createHash } from 'node:crypto';

/** The checksum of `bytes`, computed in this thread. */
export function partChecksumSync(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/**
 * The checksum of `bytes`, as a promise so callers can overlap it with other work later without
 * changing shape. Computed now, in this thread (see the module comment for why).
 */
export async function partChecksum(bytes: Uint8Array): Promise<string> {
  return partChecksumSync(bytes);
}
