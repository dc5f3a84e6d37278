/**
 * The engine's public surface: what a caller (the service's worker, the CLI's --local mode, the
 * benchmarks) passes in and gets back. Nothing here knows about gRPC.
 */
import type { Blob } from '../blob/blob.js';
import type { CompactStats, HollowBatch } from '../model/batch.js';
import type { PartCompression } from '../model/compression.js';
import { DEFAULT_MEMORY_BOUND_BYTES, DEFAULT_TARGET_PART_BYTES } from '../model/defaults.js';
import type { Cancellation } from './cancel.js';

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
