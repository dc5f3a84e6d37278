/**
 * Writes the synthetic runs of a DataSpec into a blob store as a writer would (one ORDERED run
 * per input batch, every HollowPart field filled, checksums included) and builds the request
 * that compacts them all: run r is batch [r, r+1) at time r, the output's since is R, so every
 * time advances to R and repeated (k, v) pairs meet.
 */
import { createHash } from 'node:crypto';
import type { Blob } from '../src/blob/blob.js';
import type { CompactRequest, HollowBatch, HollowPart } from '../src/model/batch.js';
import type { Description } from '../src/model/description.js';
import { objectKey } from '../src/model/keys.js';
import { encodePart } from '../src/part/encode.js';
import { sumDiffs } from '../src/compact/source.js';
import { drawRuns, rowsPerPart, runColumns, type DataSpec, type RunIds } from './data.js';

/** keyLower holds at most this many bytes (docs/contract.md, "HollowPart"). */
const KEY_LOWER_BYTES = 100;

export interface BenchInput {
  readonly spec: DataSpec;
  readonly req: CompactRequest;
  /** Encoded bytes of every input part. */
  readonly inputBytes: number;
  /** Updates across all input parts. */
  readonly updates: number;
  readonly parts: number;
  /** Object keys of every input part (to delete them afterwards). */
  readonly keys: readonly string[];
}

/** A description with single-coordinate antichains. */
export function desc1(lower: number, upper: number, since: number): Description {
  return { lower: [[BigInt(lower)]], upper: [[BigInt(upper)]], since: [[BigInt(since)]] };
}

/**
 * Writes `spec`'s runs to `blob` under `shardId`, in parts of about `partBytes` (uncompressed),
 * and returns the request compacting them (force set, so heuristics never skip it).
 * `runs` may pass runs already drawn for the same spec (they are drawn otherwise).
 */
export async function writeInputs(
  blob: Blob,
  shardId: string,
  spec: DataSpec,
  partBytes: number,
  runs: readonly RunIds[] = drawRuns(spec),
): Promise<BenchInput> {
  const per = rowsPerPart(spec, partBytes);
  const inputs: HollowBatch[] = [];
  const keys: string[] = [];
  let inputBytes = 0;
  let updates = 0;
  for (const [r, run] of runs.entries()) {
    const desc = desc1(r, r + 1, 0);
    const parts: HollowPart[] = [];
    for (let from = 0; from < run.ids.length; from += per) {
      const to = Math.min(run.ids.length, from + per);
      const cols = runColumns(spec, run, from, to);
      const bytes = encodePart(cols, { version: 1, dims: 1, desc, index: parts.length });
      const key = `w${r}/p${String(parts.length).padStart(6, '0')}`;
      const name = objectKey(shardId, key);
      await blob.set(name, bytes);
      keys.push(name);
      parts.push({
        kind: 'hollow',
        key,
        encodedSizeBytes: bytes.byteLength,
        updates: cols.len,
        keyLower: cols.kData.slice(0, Math.min(cols.kOffsets[1], KEY_LOWER_BYTES)),
        diffsSum: sumDiffs(cols, null),
        checksum: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
      });
      inputBytes += bytes.byteLength;
      updates += cols.len;
    }
    inputs.push({ desc, runs: [{ parts, order: 'ordered' }], len: run.ids.length });
  }
  const req: CompactRequest = {
    shardId,
    desc: desc1(0, runs.length, runs.length),
    inputs,
    force: true,
    requestId: '',
  };
  return { spec, req, inputBytes, updates, parts: keys.length, keys };
}

/** The part keys (relative to the shard) of every hollow part in `output`. */
export function outputPartKeys(output: HollowBatch | undefined): string[] {
  const keys: string[] = [];
  for (const run of output?.runs ?? []) {
    for (const p of run.parts) if (p.kind === 'hollow') keys.push(p.key);
  }
  return keys;
}

/** The object keys of every hollow part in `output` (to delete outputs between repetitions). */
export function outputKeys(shardId: string, output: HollowBatch | undefined): string[] {
  return outputPartKeys(output).map((k) => objectKey(shardId, k));
}

/** Deletes `keys` from `blob`, a few at a time. */
export async function deleteAll(blob: Blob, keys: readonly string[]): Promise<void> {
  const BATCH = 16;
  for (let i = 0; i < keys.length; i += BATCH) {
    await Promise.all(keys.slice(i, i + BATCH).map((k) => blob.delete(k)));
  }
}
