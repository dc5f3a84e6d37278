/**
 * The engine's public surface: what a caller (the service's worker, the CLI's --local mode, the
 * benchmarks) passes in and gets back. Nothing here knows about gRPC.
 */
import type { Blob } from '../blob/blob.js';
import type { CompactStats, HollowBatch, HollowPart } from '../model/batch.js';
import type { KvBoundary, ResumePoint } from './resume.js';

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

/** What the engine is doing: the phases a progress report names. */
export type EnginePhase = 'fetching' | 'merging' | 'uploading' | 'checking';

/** What a job (docs/jobs.md) learns from the engine while it runs. */
export type EngineEvent =
  | { readonly type: 'phase'; readonly phase: EnginePhase; readonly chunk: number }
  /** An input part was read (its bytes and the updates the merge will read from it). */
  | { readonly type: 'input'; readonly bytes: number; readonly updates: number }
  /**
   * An output part is durable. `index` counts within the chunk's output run, resumed parts
   * included; `startsNewKv` is false when its first (k, v) continues the previous part's last.
   */
  | {
      readonly type: 'part';
      readonly chunk: number;
      readonly index: number;
      readonly part: HollowPart;
      readonly startsNewKv: boolean;
      readonly last: KvBoundary;
    }
  /** The chunk's merge ended with `parts` parts in its run (resumed ones included); uploads may still run. */
  | { readonly type: 'chunk'; readonly chunk: number; readonly parts: number }
  /** Input bytes this attempt skips thanks to the resume point. */
  | { readonly type: 'resumed'; readonly bytes: number };

/** Hooks of a compaction run as a job: resume point, events, and what survives a failure. */
export interface EngineJob {
  readonly resume?: ResumePoint;
  /** The output prefix (`c<uuid>`) of this attempt; fresh when absent. */
  readonly prefix?: string;
  readonly onEvent?: (e: EngineEvent) => void;
  /** Object keys a failure must not delete (parts reported durable: the job decides their fate). */
  readonly keep?: ReadonlySet<string>;
}

export interface CompactDeps {
  readonly blob: Blob;
  readonly config: EngineConfig;
  /** Checked at part boundaries; once aborted, written outputs are deleted and `cancelled` thrown. */
  readonly signal?: AbortSignal;
  readonly log?: EngineLog;
  /** Set for compactions run as jobs. */
  readonly job?: EngineJob;
}

export interface CompactResult {
  readonly output: HollowBatch;
  readonly stats: CompactStats;
  /** Peak bytes of input parts held at once, resident or prefetched (bounded by the run budget). */
  readonly peakResidentBytes: number;
}
