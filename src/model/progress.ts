/**
 * The progress of a compaction as a job (docs/jobs.md): the one shape the service reports and the
 * writer library hands out, and the events that carry it. The service's phases are the ones below;
 * a client reading a newer or older service may also meet `unspecified`.
 */
import type { HollowPart } from './batch.js';

export type JobPhase = 'queued' | 'fetching' | 'merging' | 'uploading' | 'checking';

/** What a progress event carries. */
export interface CompactionProgress<Phase extends string = JobPhase> {
  readonly compactionId: string;
  readonly shardId: string;
  readonly phase: Phase;
  readonly chunk: number;
  readonly chunks: number;
  readonly inputBytesDone: number;
  readonly inputBytesTotal: number;
  readonly inputUpdatesDone: number;
  readonly inputUpdatesTotal: number;
  readonly outputParts: number;
  readonly outputBytes: number;
  readonly outputUpdates: number;
  readonly resumedBytes: number;
  readonly elapsedSeconds: number;
  /** Negative when unknown. */
  readonly remainingSeconds: number;
}

/** The first event of a job: its id (assigned when the request had none) and whether it resumed. */
export interface AcceptedEvent {
  readonly type: 'accepted';
  readonly compactionId: string;
  readonly resumed: boolean;
  readonly epoch: number;
}

/** An output run is finished: the input runs it covers and its parts. */
export interface ChunkEvent {
  readonly type: 'chunk';
  readonly compactionId: string;
  readonly chunk: number;
  readonly inputs: readonly { readonly batch: number; readonly run: number }[];
  readonly parts: readonly HollowPart[];
}

/** Accepted, then progress and chunks, in order. */
export type JobEvent<Phase extends string = JobPhase> =
  | AcceptedEvent
  | { readonly type: 'progress'; readonly progress: CompactionProgress<Phase> }
  | ChunkEvent;
