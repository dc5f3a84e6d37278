/**
 * The engine's public surface: what a caller (the service's worker, the CLI's --local mode, the
 * benchmarks) passes in and gets back. Nothing here knows about gRPC.
 */
import type { Blob } from '../blob/blob.js';
import type { CompactStats, HollowBatch } from '../model/batch.js';
import type { Cancellation } from './cancel.js';

/** Defaults follow Materialize persist (reference/materialize-persist.md, "Numbers"). */
export const DEFAULT_MEMORY_BOUND_BYTES = 1024 * 1024 * 1024; // compaction_memory_bound_bytes
export const DEFAULT_TARGET_PART_BYTES = 128 * 1024 * 1024; // blob_target_size

export interface EngineLimits {
  /** Most input batches one request may name. */
  readonly maxInputs: number;
  /** Most parts across all inputs. */
  readonly maxParts: number;
  /** Most timestamp coordinates. */
  readonly maxDims: number;
  /** Most elements of one frontier: checking that a frontier is an antichain costs their square. */
  readonly maxAntichainElements: number;
}

export const DEFAULT_LIMITS: EngineLimits = {
  maxInputs: 10_000, // far above any spine merge; bounds planning work per request
  maxParts: 1_000_000, // bounds the plan's memory, not the data size
  maxDims: 16, // partial orders beyond a handful of coordinates are not a real use
  maxAntichainElements: 1024, // real frontiers have a handful of elements; 1024^2 checks stay cheap
};

export interface EngineConfig {
  readonly memoryBoundBytes: number;
  readonly targetPartBytes: number;
  /** Body compression for output parts. */
  readonly compression: 'none' | 'zstd';
  readonly limits: EngineLimits;
}

export const DEFAULT_ENGINE_CONFIG: EngineConfig = {
  memoryBoundBytes: DEFAULT_MEMORY_BOUND_BYTES,
  targetPartBytes: DEFAULT_TARGET_PART_BYTES,
  compression: 'none',
  limits: DEFAULT_LIMITS,
};

/** Minimal logger the engine writes to (pino's child loggers satisfy it). */
export interface EngineLog {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface CompactDeps {
  readonly blob: Blob;
  readonly config: EngineConfig;
  /** Checked at every merge step and upload; once cancelled, written outputs are deleted and its reason thrown. */
  readonly cancel?: Cancellation;
  readonly log?: EngineLog;
}

export interface CompactResult {
  readonly output: HollowBatch;
  readonly stats: CompactStats;
  /** Peak bytes of input parts held at once, resident or prefetched (bounded by the run budget). */
  readonly peakResidentBytes: number;
}
