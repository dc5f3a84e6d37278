/**
 * Part checksums: `sha256:<hex>` of the object bytes (docs/contract.md, "HollowPart").
 */
import { createHash, webcrypto } from 'node:crypto';

/** Below this, hashing in place beats the hop to the thread pool. */
const ASYNC_MIN_BYTES = 256 * 1024;

/** The checksum of `bytes`, computed in this thread. */
export function partChecksumSync(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/**
 * The checksum of `bytes`, computed in the libuv thread pool (WebCrypto's digest runs there) for
 * large inputs, so the thread that merges and encodes is not held up: hashing a 16 MiB part is
 * about 10 ms of CPU that another core does. `bytes` must not change until the promise settles.
 */
export async function partChecksum(bytes: Uint8Array): Promise<string> {
  if (bytes.byteLength < ASYNC_MIN_BYTES) return partChecksumSync(bytes);
  const digest = await webcrypto.subtle.digest('SHA-256', bytes);
  return `sha256:${Buffer.from(digest).toString('hex')}`;
}
