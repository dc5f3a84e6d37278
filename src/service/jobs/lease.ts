/**
 * Ownership of a compaction id (docs/jobs.md): taking the lease in the checkpoint, and turning
 * what an earlier attempt recorded into this attempt's resume point, with copies of the recorded
 * parts under fresh keys so that no two answers ever name the same part.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Blob } from '../../blob/blob.js';
import type { ResumePoint } from '../../compact/resume.js';
import type { HollowPart } from '../../model/batch.js';
import { CompactdError } from '../../model/errors.js';
import { newOutputKey, objectKey } from '../../model/keys.js';
import { partChecksum } from '../../part/checksum.js';
import type { Checkpoint, CheckpointStore, StoredCheckpoint } from './checkpoint.js';

/** Conditional writes lost to concurrent takers before giving up (each loss means someone else progressed). */
const ACQUIRE_ATTEMPTS = 5;

/** A name for this attempt: where it runs, and unique per attempt. */
export function newOwner(): string {
  return `${hostname()}/${process.pid}/${randomUUID().slice(0, 8)}`;
}

export interface JobIdentity {
  readonly compactionId: string;
  readonly shardId: string;
  readonly fingerprint: string;
  readonly planKey: string;
  readonly owner: string;
}

export type Acquired =
  /** A finished job within its retention: answer its output again (as copies). */
  | { readonly kind: 'finished'; readonly stored: StoredCheckpoint }
  /** This attempt owns the job; `cp` may hold progress to resume from. */
  | { readonly kind: 'owned'; readonly cp: Checkpoint; readonly version: string };

/**
 * Takes the lease of a compaction id. Refuses with FAILED_PRECONDITION when the id's checkpoint
 * was written for other content, and with ALREADY_EXISTS while another owner's lease is live.
 * An expired lease, a failed job, or a finished job past its retention is taken over with the
 * next epoch.
 */
export async function acquireLease(
  store: CheckpointStore,
  id: JobIdentity,
  leaseMs: number,
  retentionMs: number,
  now: () => number = Date.now,
): Promise<Acquired> {
  for (let attempt = 0; attempt < ACQUIRE_ATTEMPTS; attempt++) {
    const cur = await store.read();
    const base: Checkpoint = {
      compactionId: id.compactionId,
      shardId: id.shardId,
      fingerprint: id.fingerprint,
      planKey: id.planKey,
      owner: id.owner,
      epoch: 1,
      leaseExpiresAtMs: now() + leaseMs,
      seq: 0,
      state: 'running',
      chunks: [],
      written: [],
    };
    if (!cur) {
      const version = await store.write(base, undefined);
      if (version !== undefined) return { kind: 'owned', cp: base, version };
      continue;
    }
    const old = cur.cp;
    if (old.fingerprint !== id.fingerprint) {
      throw new CompactdError(
        'precondition',
        `compaction id ${id.compactionId} was already used for a request with other content; use a new compaction id`,
      );
    }
    if (old.state === 'done' && old.finishedAtMs !== undefined && old.finishedAtMs + retentionMs > now() && old.response) {
      return { kind: 'finished', stored: cur };
    }
    if (old.state === 'running' && old.leaseExpiresAtMs > now() && old.owner !== id.owner) {
      const left = Math.ceil((old.leaseExpiresAtMs - now()) / 1000);
      throw new CompactdError(
        'exists',
        `compaction ${id.compactionId} is running elsewhere (owner ${old.owner}, epoch ${old.epoch}, lease expires in ${left} s)`,
      );
    }
    // Take over. A finished job past retention starts afresh: its parts belong to its answer.
    const keep = old.state !== 'done' && old.planKey === id.planKey;
    const cp: Checkpoint = {
      ...base,
      epoch: old.epoch + 1,
      chunks: keep ? old.chunks : [],
      partial: keep ? old.partial : undefined,
      written: old.state === 'done' ? [] : old.written,
    };
    const version = await store.write(cp, cur.version);
    if (version !== undefined) return { kind: 'owned', cp, version };
  }
  throw new CompactdError('exists', `compaction ${id.compactionId}: another process keeps taking its checkpoint; try again`);
}

/** What an attempt resumes from: the engine's resume point and the parts it copied. */
export interface PreparedResume {
  readonly resume: ResumePoint | undefined;
  /** The checkpoint's progress, re-expressed with this attempt's copies. */
  readonly chunks: readonly (readonly HollowPart[])[];
  readonly partial: Checkpoint['partial'];
  /** Object keys of the copies. */
  readonly copies: readonly string[];
}

/**
 * Checks each recorded part (present, size, checksum) and copies it under `prefix`. Progress is
 * kept up to the first part that fails the check: later chunks and the partial chunk are dropped
 * (the merge redoes them).
 */
export async function prepareResume(
  blob: Blob,
  shardId: string,
  cp: Checkpoint,
  prefix: string,
  signal: AbortSignal,
  onCopied: (bytes: number) => void,
): Promise<PreparedResume> {
  const copies: string[] = [];
  const copyAll = async (parts: readonly HollowPart[]): Promise<HollowPart[] | undefined> => {
    const out: HollowPart[] = [];
    for (const p of parts) {
      const c = await checkAndCopy(blob, shardId, p, prefix, signal);
      if (!c) return undefined;
      copies.push(objectKey(shardId, c.key));
      onCopied(p.encodedSizeBytes);
      out.push(c);
    }
    return out;
  };
  const chunks: HollowPart[][] = [];
  for (const run of cp.chunks) {
    const copied = await copyAll(run);
    if (!copied) return { resume: chunks.length > 0 ? { done: chunks } : undefined, chunks, partial: undefined, copies };
    chunks.push(copied);
  }
  let partial: Checkpoint['partial'];
  if (cp.partial && cp.partial.parts.length > 0) {
    const parts = await copyAll(cp.partial.parts);
    if (parts) partial = { parts, boundary: cp.partial.boundary };
  }
  const resume = chunks.length > 0 || partial ? { done: chunks, partial } : undefined;
  return { resume, chunks, partial, copies };
}

/** Copies of the parts of a finished answer under `prefix`; undefined when one is gone. */
export async function copyAnswer(
  blob: Blob,
  shardId: string,
  runs: readonly (readonly HollowPart[])[],
  prefix: string,
  signal: AbortSignal,
): Promise<HollowPart[][] | undefined> {
  const out: HollowPart[][] = [];
  const made: string[] = [];
  for (const run of runs) {
    const copied: HollowPart[] = [];
    for (const p of run) {
      const key = newOutputKey(prefix);
      if (!(await blob.copy(objectKey(shardId, p.key), objectKey(shardId, key), { signal }))) {
        await Promise.allSettled(made.map((k) => blob.delete(k)));
        return undefined;
      }
      made.push(objectKey(shardId, key));
      copied.push({ ...p, key });
    }
    out.push(copied);
  }
  return out;
}

async function checkAndCopy(blob: Blob, shardId: string, p: HollowPart, prefix: string, signal: AbortSignal): Promise<HollowPart | undefined> {
  const bytes = await blob.get(objectKey(shardId, p.key), { signal });
  if (bytes === undefined || bytes.byteLength !== p.encodedSizeBytes) return undefined;
  if (p.checksum !== '' && (await partChecksum(bytes)) !== p.checksum) return undefined;
  const key = newOutputKey(prefix);
  if (!(await blob.copy(objectKey(shardId, p.key), objectKey(shardId, key), { signal }))) return undefined;
  return { ...p, key };
}
