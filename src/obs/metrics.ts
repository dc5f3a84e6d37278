/**
 * Every metric compactd exports, by name, in this one module. Prometheus conventions: the
 * `compactd_` prefix, base units (seconds, bytes), `_total` on counters, and no unbounded label
 * values (no request ids, no shard ids). Each `Metrics` has its own registry, so several services
 * in one process (tests) do not collide.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { packageVersion } from './version.js';

/** Compaction run times span milliseconds (small batches) to many minutes (huge S3 inputs). */
const COMPACTION_SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800];
/** Queue waits are short when healthy; long waits are the signal to scale out. */
const QUEUED_SECONDS_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300];
/** Blob requests: sub-millisecond local files to multi-second S3 transfers of large parts. */
const BLOB_SECONDS_BUCKETS = [0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The metric handles of one service instance. */
export interface Metrics {
  readonly registry: Registry;
  readonly requested: Counter;
  readonly skipped: Counter;
  readonly dropped: Counter;
  readonly disabled: Counter;
  readonly started: Counter;
  readonly completed: Counter;
  readonly failed: Counter;
  readonly timedOut: Counter;
  readonly cancelled: Counter;
  readonly compactionSeconds: Histogram;
  readonly queuedSeconds: Histogram;
  readonly concurrencyWaits: Counter;
  readonly memoryViolations: Counter;
  readonly runsCompacted: Counter;
  readonly chunksCompacted: Counter;
  readonly inputBytes: Counter;
  readonly outputBytes: Counter;
  readonly inputUpdates: Counter;
  readonly outputUpdates: Counter;
  readonly partsDeleted: Counter;
  readonly queueDepth: Gauge;
  readonly inFlight: Gauge;
  readonly workerRestarts: Counter;
  readonly blobRequests: Counter<'op'>;
  readonly blobErrors: Counter<'op'>;
  readonly blobSeconds: Histogram<'op'>;
  readonly blobBytes: Counter<'op'>;
  readonly blobRetries: Counter<'op'>;
  readonly authRefused: Counter<'service' | 'code'>;
  /** Always 1, labelled with the running version: joins any series to the build that produced it. */
  readonly buildInfo: Gauge<'version'>;
  readonly jobsResumed: Counter;
  readonly jobsResumedBytes: Counter;
  readonly jobsReplayed: Counter;
  readonly jobsStalled: Counter;
  readonly jobsCancelledById: Counter;
  readonly checkpointWrites: Counter;
  readonly checkpointConflicts: Counter;
}

export interface MetricsOptions {
  /** Node's default process metrics (CPU, memory, event loop lag, GC); on unless false. */
  readonly processMetrics?: boolean;
}

/** Creates a fresh registry holding every compactd metric (and, by default, Node's process metrics). */
export function createMetrics(opts: MetricsOptions = {}): Metrics {
  const registry = new Registry();
  if (opts.processMetrics !== false) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const counter = (name: string, help: string) => new Counter({ name, help, registers });
  const blobCounter = (name: string, help: string) => new Counter({ name, help, labelNames: ['op'] as const, registers });

  return {
    registry,
    requested: counter('compactd_compaction_requested_total', 'Compact requests received (valid or not)'),
    skipped: counter('compactd_compaction_skipped_total', 'Compact requests answered SKIPPED by the heuristics'),
    dropped: counter('compactd_compaction_dropped_total', 'Compact requests refused because the queue was full'),
    disabled: counter('compactd_compaction_disabled_total', 'Compact requests refused because compaction was disabled'),
    started: counter('compactd_compaction_started_total', 'Compactions that left the queue and started running'),
    completed: counter('compactd_compaction_completed_total', 'Compactions that finished and answered COMPACTED'),
    failed: counter('compactd_compaction_failed_total', 'Compact requests that failed for a reason other than a timeout or cancellation'),
    timedOut: counter('compactd_compaction_timed_out_total', 'Compactions stopped by their timeout or the client deadline'),
    cancelled: counter('compactd_compaction_cancelled_total', 'Compactions stopped because the client went away or the server shut down'),
    compactionSeconds: new Histogram({
      name: 'compactd_compaction_seconds',
      help: 'Engine run time of completed compactions (queue time excluded)',
      buckets: COMPACTION_SECONDS_BUCKETS,
      registers,
    }),
    queuedSeconds: new Histogram({
      name: 'compactd_compaction_queued_seconds',
      help: 'Time compactions waited in the queue for a concurrency slot',
      buckets: QUEUED_SECONDS_BUCKETS,
      registers,
    }),
    concurrencyWaits: counter('compactd_compaction_concurrency_waits_total', 'Compactions that had to wait for a concurrency slot'),
    memoryViolations: counter('compactd_compaction_memory_violations_total', 'Chunks whose resident bytes exceeded the memory bound'),
    runsCompacted: counter('compactd_compaction_runs_compacted_total', 'Input runs read by finished compactions'),
    chunksCompacted: counter('compactd_compaction_chunks_compacted_total', 'Chunks (output runs) written by finished compactions'),
    inputBytes: counter('compactd_compaction_input_bytes_total', 'Encoded input bytes read by finished compactions'),
    outputBytes: counter('compactd_compaction_output_bytes_total', 'Encoded output bytes written by finished compactions'),
    inputUpdates: counter('compactd_compaction_input_updates_total', 'Input updates read by finished compactions'),
    outputUpdates: counter('compactd_compaction_output_updates_total', 'Output updates written by finished compactions'),
    partsDeleted: counter('compactd_parts_deleted_total', 'Parts removed by DeleteParts'),
    queueDepth: new Gauge({ name: 'compactd_queue_depth', help: 'Compact requests waiting for a concurrency slot', registers }),
    inFlight: new Gauge({ name: 'compactd_compactions_in_flight', help: 'Compactions running now', registers }),
    workerRestarts: counter('compactd_worker_restarts_total', 'Worker threads replaced after a crash'),
    blobRequests: blobCounter('compactd_blob_requests_total', 'Blob store requests by operation'),
    blobErrors: blobCounter('compactd_blob_errors_total', 'Blob store requests that failed, by operation'),
    blobSeconds: new Histogram({
      name: 'compactd_blob_request_seconds',
      help: 'Blob store request latency by operation',
      labelNames: ['op'] as const,
      buckets: BLOB_SECONDS_BUCKETS,
      registers,
    }),
    blobBytes: blobCounter('compactd_blob_bytes_total', 'Bytes moved by blob store requests, by operation'),
    blobRetries: blobCounter('compactd_blob_retries_total', 'Blob store attempts that failed transiently and were retried, by operation'),
    authRefused: new Counter({
      name: 'compactd_auth_refused_total',
      help: 'Calls refused by authentication (code UNAUTHENTICATED) or authorization (PERMISSION_DENIED), by service',
      labelNames: ['service', 'code'] as const,
      registers,
    }),
    buildInfo: buildInfo(registers),
    jobsResumed: counter('compactd_compaction_resumed_total', 'Compactions that continued from a checkpoint an earlier attempt wrote'),
    jobsResumedBytes: counter('compactd_compaction_resumed_bytes_total', 'Input bytes resumed compactions did not have to merge again'),
    jobsReplayed: counter('compactd_compaction_replayed_total', 'Finished compactions answered again (as copies) within the checkpoint retention'),
    jobsStalled: counter('compactd_compaction_stalled_total', 'Compactions stopped because they made no progress for the stall timeout'),
    jobsCancelledById: counter('compactd_compaction_cancelled_by_id_total', 'Compactions stopped by CancelCompaction'),
    checkpointWrites: counter('compactd_checkpoint_writes_total', 'Checkpoint objects written (created, advanced, renewed, finished)'),
    checkpointConflicts: counter(
      'compactd_checkpoint_conflicts_total',
      'Requests refused because another process holds the compaction id, or because the id was reused with other content',
    ),
  };
}

function buildInfo(registers: Registry[]): Gauge<'version'> {
  const g = new Gauge({ name: 'compactd_build_info', help: 'Always 1; the version label names the running build', labelNames: ['version'] as const, registers });
  g.set({ version: packageVersion() }, 1);
  return g;
}

/** The observer shape the metered blob decorator reports to. */
export interface BlobObserver {
  observe(op: string, seconds: number, ok: boolean, bytes: number): void;
}

/** An observer that records blob operations into `m`'s blob metrics. */
export function blobObserver(m: Metrics): BlobObserver {
  return {
    observe(op, seconds, ok, bytes) {
      m.blobRequests.inc({ op });
      m.blobSeconds.observe({ op }, seconds);
      if (!ok) m.blobErrors.inc({ op });
      if (bytes > 0) m.blobBytes.inc({ op }, bytes);
    },
  };
}

/** The statistics of a finished compaction that the counters sum. */
export interface FinishedStats {
  readonly inputUpdates: number;
  readonly outputUpdates: number;
  readonly inputBytes: number;
  readonly outputBytes: number;
  readonly inputRuns: number;
  readonly chunks: number;
  readonly memoryViolations: number;
  readonly runSeconds: number;
}

/** Counts a completed compaction: completed, its run time, and its work counters. */
export function recordCompleted(m: Metrics, s: FinishedStats): void {
  m.completed.inc();
  m.compactionSeconds.observe(s.runSeconds);
  m.runsCompacted.inc(s.inputRuns);
  m.chunksCompacted.inc(s.chunks);
  m.memoryViolations.inc(s.memoryViolations);
  m.inputBytes.inc(s.inputBytes);
  m.outputBytes.inc(s.outputBytes);
  m.inputUpdates.inc(s.inputUpdates);
  m.outputUpdates.inc(s.outputUpdates);
}
