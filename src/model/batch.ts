/**
 * Hollow batches, runs and parts: the metadata a writer keeps in its own state and sends in a
 * CompactRequest. Part bytes live in the blob store (hollow) or in the request (inline).
 */
import type { Description } from './description.js';
import { I64_MAX, I64_MIN } from './update.js';

export interface HollowPart {
  readonly kind: 'hollow';
  /** Relative to the shard (docs/contract.md, "Keys"). */
  readonly key: string;
  readonly encodedSizeBytes: number;
  readonly updates: number;
  /** <= 100 bytes, <= every key in the part; empty = unknown. */
  readonly keyLower: Uint8Array;
  /** Σd over every row of the part when that fits i64; absent otherwise (see `recordedDiffsSum`). */
  readonly diffsSum?: bigint;
  /** "sha256:<hex>" of the object bytes; empty = unknown. */
  readonly checksum: string;
}

export interface InlinePart {
  readonly kind: 'inline';
  readonly data: Uint8Array;
}

export type Part = HollowPart | InlinePart;

export type RunOrder = 'ordered' | 'unordered';

export interface Run {
  readonly parts: readonly Part[];
  readonly order: RunOrder;
}

export interface HollowBatch {
  readonly desc: Description;
  readonly runs: readonly Run[];
  /** Number of updates: an upper bound for unconsolidated input, exact for compaction output. */
  readonly len: number;
}

export interface CompactRequest {
  readonly shardId: string;
  readonly desc: Description;
  readonly inputs: readonly HollowBatch[];
  readonly force: boolean;
  readonly requestId: string;
  /** Set: the compaction is a resumable job under this id (docs/jobs.md). */
  readonly compactionId?: string;
}

export interface CompactStats {
  inputUpdates: number;
  outputUpdates: number;
  inputBytes: number;
  outputBytes: number;
  inputRuns: number;
  outputRuns: number;
  chunks: number;
  memoryViolations: number;
  queuedSeconds: number;
  runSeconds: number;
  /** Input bytes a resumed compaction did not merge again; absent means 0. */
  resumedBytes?: number;
}

export type CompactOutcome = 'compacted' | 'skipped';

export interface CompactResponse {
  readonly outcome: CompactOutcome;
  readonly output?: HollowBatch;
  readonly stats: CompactStats;
  /** Why a skipped request was skipped, in words; absent (empty on the wire) when compacted. */
  readonly reason?: string;
}

export function emptyStats(): CompactStats {
  return {
    inputUpdates: 0,
    outputUpdates: 0,
    inputBytes: 0,
    outputBytes: 0,
    inputRuns: 0,
    outputRuns: 0,
    chunks: 0,
    memoryViolations: 0,
    queuedSeconds: 0,
    runSeconds: 0,
  };
}

/**
 * The `diffs_sum` a writer records for a part whose diffs add up to `exactSum` (computed without
 * overflow): the sum itself when it fits i64, else undefined, and the field is left out. The one
 * rule every part writer follows (writer library, engine, CLI; docs/contract.md): the field is
 * never a wrapped or clamped value, so a reader can check it against the rows whenever present.
 */
export function recordedDiffsSum(exactSum: bigint): bigint | undefined {
  return exactSum >= I64_MIN && exactSum <= I64_MAX ? exactSum : undefined;
}

/** `part` with `diffsSum` set by the rule of `recordedDiffsSum` (left out when the sum does not fit). */
export function withDiffsSum(part: Omit<HollowPart, 'diffsSum'>, exactSum: bigint): HollowPart {
  const recorded = recordedDiffsSum(exactSum);
  return recorded === undefined ? part : { ...part, diffsSum: recorded };
}

/** Bytes a part occupies when read: its encoded size, or the inline payload length. */
export function partBytes(p: Part): number {
  return p.kind === 'hollow' ? p.encodedSizeBytes : p.data.byteLength;
}

export function batchParts(b: HollowBatch): number {
  let n = 0;
  for (const r of b.runs) n += r.parts.length;
  return n;
}
