/**
 * Shard ids and part keys (docs/contract.md, "Keys"). Validation is the service's confinement
 * boundary: a key that passes can only name an object under `<prefix>/<shard>/`.
 */
import { randomUUID } from 'node:crypto';
import { invalid } from './errors.js';

const SHARD_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const SEGMENT_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
// The two patterns above in words, for people reading the error.
const SHARD_RULE = 'use 1 to 128 letters, digits, "_" or "-", starting with a letter or digit';
const SEGMENT_RULE = 'use 1 to 128 letters, digits, ".", "_" or "-", starting with a letter or digit';
export const MAX_PART_KEY_CHARS = 512;

/** Throws INVALID_ARGUMENT unless `id` is a valid shard id. */
export function validateShardId(id: string): void {
  if (typeof id !== 'string' || !SHARD_RE.test(id)) {
    throw invalid(`bad shard id ${JSON.stringify(truncate(id))}: ${SHARD_RULE}`);
  }
}

/** Throws INVALID_ARGUMENT unless `key` is a valid part key relative to a shard. */
export function validatePartKey(key: string): void {
  const bad = (why: string) => invalid(`bad part key ${JSON.stringify(truncate(key))}: ${why}`);
  if (typeof key !== 'string' || key.length === 0) throw bad('empty');
  if (key.length > MAX_PART_KEY_CHARS) throw bad(`longer than ${MAX_PART_KEY_CHARS} characters`);
  if (key.startsWith('/')) throw bad('absolute');
  for (const seg of key.split('/')) {
    if (seg === '.' || seg === '..') throw bad('traversal segment');
    if (!SEGMENT_RE.test(seg)) throw bad(`segment ${JSON.stringify(truncate(seg))}: ${SEGMENT_RULE}`);
  }
}

/** The object key of a part relative to the store root: `S/K`. Validates both halves. */
export function objectKey(shardId: string, partKey: string): string {
  validateShardId(shardId);
  validatePartKey(partKey);
  return `${shardId}/${partKey}`;
}

const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const SERVICE_KEY_RE = new RegExp(`^c${UUID}/p${UUID}$`);

/** A fresh prefix for the outputs of one compaction: `c<uuid>`. */
export function newCompactionPrefix(): string {
  return `c${randomUUID()}`;
}

/** A fresh output part key under a compaction prefix: `c<uuid>/p<uuid>`. */
export function newOutputKey(prefix: string): string {
  return `${prefix}/p${randomUUID()}`;
}

/** True for keys of the form the service writes (`c<uuid>/p<uuid>`): the only ones DeleteParts removes. */
export function isServiceKey(key: string): boolean {
  return SERVICE_KEY_RE.test(key);
}

function truncate(s: unknown): string {
  const str = String(s);
  return str.length > 80 ? `${str.slice(0, 80)}...` : str;
}
