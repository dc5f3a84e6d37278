/**
 * The checkpoint of a compaction job (docs/jobs.md): one small JSON object per compaction id,
 * beside the job's outputs at `<shard>/_jobs/<id>.json`, written only with conditional writes so
 * that at most one process owns the job at a time. It records:
 *
 * - the request's fingerprint (a reused id with other content is refused) and the plan settings
 *   the recorded chunks were cut with;
 * - the lease: owner, epoch (raised by each takeover), expiry, and a sequence number per write;
 * - progress: the output runs of finished chunks and, in the running chunk, the finished parts up
 *   to a safe boundary (k, v);
 * - once done, the answer, kept for the retention so a caller that lost it gets it again.
 */
import { createHash } from 'node:crypto';
import type { Blob } from '../../blob/blob.js';
import type { KvBoundary } from '../../compact/resume.js';
import type { CompactRequest, CompactResponse, HollowBatch, HollowPart } from '../../model/batch.js';
import { checkpointKey } from '../../model/compaction-id.js';
import { CompactdError } from '../../model/errors.js';
import {
  base64FromJson,
  base64ToJson,
  compactRequestToJson,
  compactResponseFromJson,
  compactResponseToJson,
  hollowBatchFromJson,
  hollowBatchToJson,
  type JsonObject,
} from '../../wire/json.js';

export type CheckpointState = 'running' | 'failed' | 'done';

export interface Checkpoint {
  readonly compactionId: string;
  readonly shardId: string;
  readonly fingerprint: string;
  /** The settings the chunk plan depends on: recorded chunks are reusable only under the same. */
  readonly planKey: string;
  readonly owner: string;
  readonly epoch: number;
  /** Ms since the epoch; 0 once released (finished or failed). */
  readonly leaseExpiresAtMs: number;
  readonly seq: number;
  readonly state: CheckpointState;
  /** Output runs of finished chunks, in chunk order. */
  readonly chunks: readonly (readonly HollowPart[])[];
  /** Finished parts of the running chunk up to a safe boundary. */
  readonly partial?: { readonly parts: readonly HollowPart[]; readonly boundary: KvBoundary };
  /** The answer of a finished job. */
  readonly response?: CompactResponse;
  readonly finishedAtMs?: number;
  /** Every part key this job's attempts wrote and recorded (cancel deletes them). */
  readonly written: readonly string[];
}

/** A checkpoint as read, with the version a conditional replace must match. */
export interface StoredCheckpoint {
  readonly cp: Checkpoint;
  readonly version: string;
}

/** The content fingerprint of a request: everything but its request id and compaction id. */
export function requestFingerprint(req: CompactRequest): string {
  const { requestId: _r, compactionId: _c, ...content } = req;
  const json = compactRequestToJson({ ...content, requestId: '' });
  return `sha256:${createHash('sha256').update(JSON.stringify(json)).digest('hex')}`;
}

/** The plan settings key: memory bound, target part size and compression cut the chunks. */
export function planKey(memoryBoundBytes: number, targetPartBytes: number, compression: string): string {
  return `${memoryBoundBytes}/${targetPartBytes}/${compression}`;
}

function runsToJson(desc: HollowBatch['desc'], runs: readonly (readonly HollowPart[])[]): JsonObject {
  return hollowBatchToJson({ desc, runs: runs.map((parts) => ({ parts, order: 'ordered' })), len: 0 });
}

function runsFromJson(json: unknown): HollowPart[][] {
  return hollowBatchFromJson(json).runs.map((r) =>
    r.parts.map((p) => {
      if (p.kind !== 'hollow') throw new CompactdError('data_loss', 'checkpoint records an inline part');
      return p;
    }),
  );
}

// The description is required by the batch codec but means nothing here: a minimal one is stored.
const NO_DESC: HollowBatch['desc'] = { lower: [[0n]], upper: [], since: [[0n]] };

/** Serializes a checkpoint. */
export function encodeCheckpoint(cp: Checkpoint): Uint8Array {
  const json: JsonObject = {
    version: 1,
    compactionId: cp.compactionId,
    shardId: cp.shardId,
    fingerprint: cp.fingerprint,
    planKey: cp.planKey,
    owner: cp.owner,
    epoch: cp.epoch,
    leaseExpiresAtMs: cp.leaseExpiresAtMs,
    seq: cp.seq,
    state: cp.state,
    chunks: runsToJson(NO_DESC, cp.chunks),
    written: [...cp.written],
  };
  if (cp.partial) {
    json.partial = {
      parts: runsToJson(NO_DESC, [cp.partial.parts]),
      k: base64ToJson(cp.partial.boundary.k),
      v: base64ToJson(cp.partial.boundary.v),
    };
  }
  if (cp.response) json.response = compactResponseToJson(cp.response);
  if (cp.finishedAtMs !== undefined) json.finishedAtMs = cp.finishedAtMs;
  return new TextEncoder().encode(JSON.stringify(json));
}

/** Parses a checkpoint; anything malformed is `data_loss` naming the key. */
export function decodeCheckpoint(bytes: Uint8Array, key: string): Checkpoint {
  try {
    const j = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
    if (j.version !== 1) throw new Error(`unknown version ${String(j.version)}`);
    const str = (name: string) => {
      if (typeof j[name] !== 'string') throw new Error(`${name} is not a string`);
      return j[name];
    };
    const num = (name: string) => {
      if (typeof j[name] !== 'number' || !Number.isFinite(j[name])) throw new Error(`${name} is not a number`);
      return j[name];
    };
    const state = str('state');
    if (state !== 'running' && state !== 'failed' && state !== 'done') throw new Error(`bad state ${state}`);
    const written = j.written;
    if (!Array.isArray(written) || !written.every((w) => typeof w === 'string')) throw new Error('written is not a list of keys');
    let partial: Checkpoint['partial'];
    if (j.partial !== undefined) {
      const p = j.partial as Record<string, unknown>;
      partial = { parts: runsFromJson(p.parts)[0] ?? [], boundary: { k: base64FromJson(p.k, 'partial.k'), v: base64FromJson(p.v, 'partial.v') } };
    }
    return {
      compactionId: str('compactionId'),
      shardId: str('shardId'),
      fingerprint: str('fingerprint'),
      planKey: str('planKey'),
      owner: str('owner'),
      epoch: num('epoch'),
      leaseExpiresAtMs: num('leaseExpiresAtMs'),
      seq: num('seq'),
      state,
      chunks: runsFromJson(j.chunks),
      partial,
      response: j.response === undefined ? undefined : compactResponseFromJson(j.response),
      finishedAtMs: j.finishedAtMs === undefined ? undefined : num('finishedAtMs'),
      written: written as string[],
    };
  } catch (err) {
    if (err instanceof CompactdError && err.kind === 'data_loss') throw err;
    throw new CompactdError('data_loss', `checkpoint ${key} is malformed: ${(err as Error).message}`, { cause: err });
  }
}

/** The part keys (relative to the shard) a checkpoint records: progress and, once done, the answer. */
export function checkpointParts(cp: Checkpoint): string[] {
  const keys: string[] = [];
  for (const run of cp.chunks) for (const p of run) keys.push(p.key);
  for (const p of cp.partial?.parts ?? []) keys.push(p.key);
  for (const r of cp.response?.output?.runs ?? []) for (const p of r.parts) if (p.kind === 'hollow') keys.push(p.key);
  return keys;
}

/** Reads, creates and replaces one job's checkpoint with conditional writes. */
export class CheckpointStore {
  readonly key: string;

  constructor(
    private readonly blob: Blob,
    shardId: string,
    compactionId: string,
  ) {
    this.key = checkpointKey(shardId, compactionId);
  }

  async read(signal?: AbortSignal): Promise<StoredCheckpoint | undefined> {
    const got = await this.blob.getVersioned(this.key, { signal });
    return got && { cp: decodeCheckpoint(got.data, this.key), version: got.version };
  }

  /**
   * Writes `cp` if the object is absent (`prev` undefined) or still at `prev`. Returns the new
   * version, or undefined when someone else wrote in between. A write retried after an
   * ambiguous failure may find its own first attempt in place: that counts as success.
   */
  async write(cp: Checkpoint, prev: string | undefined, signal?: AbortSignal): Promise<string | undefined> {
    const bytes = encodeCheckpoint(cp);
    const version = await this.blob.setIf(this.key, bytes, prev === undefined ? { ifAbsent: true } : { ifMatch: prev }, { signal });
    if (version !== undefined) return version;
    const now = await this.read(signal);
    if (now && now.cp.owner === cp.owner && now.cp.epoch === cp.epoch && now.cp.seq === cp.seq) return now.version;
    return undefined;
  }

  async delete(): Promise<void> {
    await this.blob.delete(this.key);
  }
}
