/**
 * The compactions of this process as jobs: their live progress (what CompactStream, the
 * ListCompactions call, the CLI and the live page show), cancellation by id, and a short history
 * of finished ones. Ids are unique among the queued and running compactions of a process.
 */
import { CompactdError } from '../../model/errors.js';
import type { CompactionProgress, JobPhase } from '../../model/progress.js';
import type { RequestAbort } from '../abort.js';

export type { JobPhase };
export type JobState = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/** What a progress event carries (docs/jobs.md). */
export type JobProgress = CompactionProgress;

export interface JobSummary {
  readonly compactionId: string;
  readonly shardId: string;
  readonly requestId: string;
  readonly state: JobState;
  readonly progress: JobProgress;
  /** For failed and cancelled ones: status name and message. */
  readonly error: string;
  readonly resumed: boolean;
  readonly finishedSecondsAgo: number;
}

/** Mutable progress of a running job, turned into JobProgress snapshots. */
export class ProgressTracker {
  phase: JobPhase = 'queued';
  chunk = 0;
  chunks = 0;
  inputBytesDone = 0;
  inputUpdatesDone = 0;
  outputParts = 0;
  outputBytes = 0;
  outputUpdates = 0;
  resumedBytes = 0;
  /** performance.now() of the last part read or written: liveness is judged by it. */
  lastActivity = performance.now();
  private readonly started = performance.now();

  constructor(
    readonly compactionId: string,
    readonly shardId: string,
    readonly inputBytesTotal: number,
    readonly inputUpdatesTotal: number,
  ) {}

  /** Something was read or written. */
  touch(): void {
    this.lastActivity = performance.now();
  }

  snapshot(): JobProgress {
    const elapsedSeconds = (performance.now() - this.started) / 1000;
    // The rate of this attempt's own work predicts the rest; resumed bytes cost it nothing.
    const todo = Math.max(0, this.inputBytesTotal - this.resumedBytes);
    const done = Math.min(todo, this.inputBytesDone);
    const remainingSeconds = this.phase === 'queued' || done === 0 ? -1 : (elapsedSeconds * (todo - done)) / done;
    return {
      compactionId: this.compactionId,
      shardId: this.shardId,
      phase: this.phase,
      chunk: this.chunk,
      chunks: this.chunks,
      inputBytesDone: this.inputBytesDone + this.resumedBytes,
      inputBytesTotal: this.inputBytesTotal,
      inputUpdatesDone: this.inputUpdatesDone,
      inputUpdatesTotal: this.inputUpdatesTotal,
      outputParts: this.outputParts,
      outputBytes: this.outputBytes,
      outputUpdates: this.outputUpdates,
      resumedBytes: this.resumedBytes,
      elapsedSeconds,
      remainingSeconds,
    };
  }
}

/** A job known to the registry. */
export interface JobEntry {
  readonly compactionId: string;
  readonly shardId: string;
  readonly requestId: string;
  readonly progress: ProgressTracker;
  readonly abort: RequestAbort;
  state: JobState;
  resumed: boolean;
  /** Set when CancelCompaction stopped it. */
  cancelledById: boolean;
}

interface Finished {
  readonly summary: Omit<JobSummary, 'finishedSecondsAgo'>;
  readonly at: number;
}

/** Finished compactions listed: enough to see the last few outcomes, small enough to send often. */
export const RECENT_JOBS = 20;

export class JobRegistry {
  private readonly active = new Map<string, JobEntry>();
  private readonly recent: Finished[] = [];

  /** Adds a job; ALREADY_EXISTS when a job with that id is queued or running here. */
  add(entry: JobEntry): void {
    if (this.active.has(entry.compactionId)) {
      throw new CompactdError('exists', `compaction ${entry.compactionId} is already running on this replica`);
    }
    this.active.set(entry.compactionId, entry);
  }

  /** Moves a job to the finished list. */
  finish(entry: JobEntry, state: JobState, error = ''): void {
    if (this.active.get(entry.compactionId) !== entry) return;
    this.active.delete(entry.compactionId);
    entry.state = state;
    this.recent.unshift({ summary: summarize(entry, error), at: performance.now() });
    this.recent.length = Math.min(this.recent.length, RECENT_JOBS);
  }

  /**
   * Stops the queued or running job `id` with CANCELLED; false when there is none here. The job
   * deletes everything it wrote, its checkpoint included, before its stream ends.
   */
  cancel(id: string): boolean {
    const entry = this.active.get(id);
    if (!entry) return false;
    entry.cancelledById = true;
    entry.abort.abort(new CompactdError('cancelled', `compaction ${id} was cancelled by CancelCompaction`));
    return true;
  }

  /** Queued and running jobs (oldest first), and the finished ones (newest first). */
  list(): { active: JobSummary[]; recent: JobSummary[] } {
    const now = performance.now();
    return {
      active: [...this.active.values()].map((e) => ({ ...summarize(e, ''), finishedSecondsAgo: 0 })),
      recent: this.recent.map((f) => ({ ...f.summary, finishedSecondsAgo: (now - f.at) / 1000 })),
    };
  }

  get size(): number {
    return this.active.size;
  }
}

function summarize(e: JobEntry, error: string): Omit<JobSummary, 'finishedSecondsAgo'> {
  return {
    compactionId: e.compactionId,
    shardId: e.shardId,
    requestId: e.requestId,
    state: e.state,
    progress: e.progress.snapshot(),
    error,
    resumed: e.resumed,
  };
}
