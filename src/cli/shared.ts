/**
 * Pieces the batch commands share: the store flags and opening a store for one command run.
 */
import type { Blob } from '../blob/blob.js';
import { openBlob } from '../blob/url.js';
import { DEFAULT_BLOB } from '../config/options.js';
import type { FlagSpec, FlagValue } from './args.js';

export const BLOB_FLAG: FlagSpec = {
  name: 'blob',
  type: 'string',
  valueName: 'URL',
  help: 'blob store: file:///abs/dir, file://./rel/dir, mem://name or s3://bucket/prefix?endpoint=...',
  defaultText: DEFAULT_BLOB,
};

export const SHARD_FLAG: FlagSpec = { name: 'shard', type: 'string', valueName: 'ID', help: 'shard id', required: true };

/** Opens the store named by --blob (relative file URLs against `cwd`), runs `f`, and closes the store. */
export async function withBlob<T>(flags: ReadonlyMap<string, FlagValue>, cwd: string, f: (blob: Blob) => Promise<T>): Promise<T> {
  const blob = await openBlob(String(flags.get('blob') ?? DEFAULT_BLOB), { cwd });
  try {
    return await f(blob);
  } finally {
    await blob.close();
  }
}
