/**
 * The engine's public surface: what a caller (the service's worker, the CLI's --local mode, the
 * benchmarks) passes in and gets back. Nothing here knows about gRPC.
 */
import type { Blob } from '../blob/blob.js';
import type { CompactStats, HollowBatch, HollowPart } from '../model/batch.js';
import type { PartCompression } from '../model/compression.js';
import { DEFAULT_MEMORY_BOUND_BYTES, DEFAULT_TARGET_PART_BYTES } from '../model/defaults.js';
import type { Cancellation } from './cancel.js';
import type { KvBoundary, ResumePoint } from './resume.js';

export { DEFAULT_MEMORY_BOUND_BYTES, DEFAULT_TARGET_PART_BYTES };

export interface EngineConfig {
  readonly memoryBoundBytes: number;
  readonly targetPartBytes: number;
  /** Body compression for output parts. */
  readonly compression: PartCompression;
}

export const DEFAULT_ENGINE_CONFIG: EngineConfig = {
  memoryBoundBytes: DEFAULT_MEMORY_BOUND_BYTES,
  targetPartBytes: DEFAULT_TARGET_PART_BYTES,
  compression: 'none',
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
  /** Checked at every merge step and upload; once cancelled, written outputs are deleted and its reason thrown. */
  readonly cancel?: Cancellation;
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
