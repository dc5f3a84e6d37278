/**
 * Compaction ids (docs/jobs.md): chosen by the caller to make a compaction resumable, or assigned
 * by the service. The id names the job's checkpoint object, so its alphabet is kept to what every
 * store accepts in a key segment.
 */
import { randomUUID } from 'node:crypto';
import { invalid } from './errors.js';

const COMPACTION_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;

/** Throws INVALID_ARGUMENT unless `id` matches [A-Za-z0-9_-]{1,64}. */
export function validateCompactionId(id: string): void {
  if (typeof id !== 'string' || !COMPACTION_ID_RE.test(id)) {
    throw invalid(`bad compaction id ${JSON.stringify(String(id).slice(0, 80))}: must match ${COMPACTION_ID_RE.source}`);
  }
}

/** An id for a compaction that came without one (it is then not resumable by the caller). */
export function newCompactionId(): string {
  return `a${randomUUID().replace(/-/g, '')}`;
}

/**
 * The object key of a job's checkpoint, relative to the store root. The `_jobs` segment can never
 * be a part key (part key segments start with a letter or digit), so checkpoints and parts
 * cannot collide.
 */
export function checkpointKey(shardId: string, compactionId: string): string {
  return `${shardId}/_jobs/${compactionId}.json`;
}

/** The prefix under which every checkpoint of a shard lives. */
export function checkpointPrefix(shardId: string): string {
  return `${shardId}/_jobs/`;
}
