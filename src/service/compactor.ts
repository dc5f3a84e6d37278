/**
 * The Compactor service handlers: Compact (validate, skip heuristics, admission, run in a worker
 * thread, answer) and DeleteParts (only keys this service writes). Each request gets a child
 * logger with its request id and shard, and writes a start, skip, finish or failure line.
 */
import { randomUUID } from 'node:crypto';
import type { ServerUnaryCall, sendUnaryData } from '@grpc/grpc-js';
import type { Blob } from '../blob/blob.js';
import { describeBlobSpec, namingStore, parseBlobUrl } from '../blob/url.js';
import type { CompactResult, EngineConfig } from '../compact/types.js';
import type { RuntimeConfig, ServeOptions } from '../config/options.js';
import { emptyStats, type CompactStats, type HollowBatch } from '../model/batch.js';
import { CompactdError, shuttingDown } from '../model/errors.js';
import { mapLimit } from '../model/util/concurrency.js';
import { isServiceKey, objectKey } from '../model/keys.js';
import type { RequestLimits, ValidCompactRequest } from '../model/validate.js';
import { requestLogger, roundMs, secondsToLogMs, type Logger } from '../obs/log.js';
import { recordCompleted, type Metrics } from '../obs/metrics.js';
import type { CompactRequest__Output } from '../gen/compactd/v1/CompactRequest.js';
import type { CompactResponse } from '../gen/compactd/v1/CompactResponse.js';
import type { CompactorHandlers } from '../gen/compactd/v1/Compactor.js';
import type { DeletePartsRequest__Output } from '../gen/compactd/v1/DeletePartsRequest.js';
import type { DeletePartsResponse } from '../gen/compactd/v1/DeletePartsResponse.js';
import { validCompactRequestFromProto, compactResponseToProto, deletePartsRequestFromProto, deletePartsResponseToProto } from '../wire/convert.js';
import { RequestAbort, watchClient } from './abort.js';
import { compactionTimeoutMs, requestSize, skipReason, type Admission } from './admission.js';
import { toServiceError } from './status.js';
import { jobHandlers } from './jobs/handlers.js';
import { runJob } from './jobs/run.js';
import type { JobRegistry } from './jobs/registry.js';
import type { WorkerPool } from './workers.js';

/** Deletes of one DeleteParts call in flight at once: enough to hide store latency, polite to S3. */
const DELETE_CONCURRENCY = 16;

/** What the handlers need from the server that owns them. */
export interface CompactorContext {
  readonly options: ServeOptions;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly admission: Admission;
  readonly pool: WorkerPool;
  /** The main thread's store: DeleteParts and clean-up of results that arrived too late. */
  readonly blob: Blob;
  /** The live runtime configuration. */
  config(): RuntimeConfig;
  /** False once the server stopped accepting work. */
  accepting(): boolean;
  /** Registers a request's abort handle for shutdown; returns the function that unregisters it. */
  track(abort: RequestAbort): () => void;
  /** The compactions of this process as jobs (CompactStream, cancel by id, listing). */
  readonly jobs: JobRegistry;
}

/** The request limits of the serve options. */
export function requestLimits(o: ServeOptions): RequestLimits {
  return {
    maxInputs: o.maxInputs,
    maxParts: o.maxParts,
    maxDims: o.maxDims,
    maxAntichainElements: o.maxAntichainElements,
    maxKeyChars: o.maxKeyChars,
  };
}

function engineConfig(o: ServeOptions, cfg: RuntimeConfig): EngineConfig {
  return { memoryBoundBytes: cfg.memoryBoundBytes, targetPartBytes: cfg.targetPartBytes, compression: o.compression };
}

/** Builds the Compactor service implementation. */
export function compactorHandlers(ctx: CompactorContext): CompactorHandlers {
  return {
    Compact: (call, callback) => answer(callback, () => compactCall(ctx, call)),
    DeleteParts: (call, callback) => answer(callback, () => deletePartsCall(ctx, call)),
    ...jobHandlers({
      ...ctx,
      engineConfig: () => engineConfig(ctx.options, ctx.config()),
      decode: (raw) => validCompactRequestFromProto(raw, requestLimits(ctx.options)),
    }),
  };
}

function answer<T>(callback: sendUnaryData<T>, run: () => Promise<T>): void {
  run().then(
    (res) => callback(null, res),
    (err: unknown) => callback(err as Parameters<sendUnaryData<T>>[0]),
  );
}

async function compactCall(
  ctx: CompactorContext,
  call: ServerUnaryCall<CompactRequest__Output, CompactResponse>,
): Promise<CompactResponse> {
  const { metrics } = ctx;
  metrics.requested.inc();
  const requestId = (typeof call.request.request_id === 'string' && call.request.request_id) || randomUUID();
  const shard = typeof call.request.shard_id === 'string' ? call.request.shard_id : '';
  const log = requestLogger(ctx.log, { requestId, shard });
  const abort = new RequestAbort();
  let phase: 'checks' | 'admission' | 'running' = 'checks';
  const untrack = ctx.track(abort);
  try {
    if (!ctx.accepting()) throw shuttingDown();
    // The one validation of the request: the engine and the worker take it as it is.
    const req: ValidCompactRequest = { ...validCompactRequestFromProto(call.request, requestLimits(ctx.options)), requestId };
    const size = requestSize(req);
    const cfg = ctx.config();
    const inputRuns = req.inputs.reduce((n, b) => n + b.runs.length, 0);
    const reason = skipReason(req.force, size, cfg);
    if (reason !== undefined) {
      metrics.skipped.inc();
      log.info({ ...size, reason }, 'compaction skipped');
      const stats: CompactStats = { ...emptyStats(), inputUpdates: size.updates, inputBytes: size.bytes, inputRuns };
      return compactResponseToProto({ outcome: 'skipped', stats, reason });
    }

    watchClient(call, abort);
    if (req.compactionId !== undefined) {
      // A durable job (docs/jobs.md) answered in one message, under the unary call's timeout.
      phase = 'running';
      const timeoutMs = compactionTimeoutMs(size.bytes, cfg.minimumTimeoutSeconds);
      const jobDeps = { ...ctx, engineConfig: () => engineConfig(ctx.options, ctx.config()) };
      return compactResponseToProto(await runJob(jobDeps, { req, abort, log, emit: () => {}, timeoutMs }));
    }
    phase = 'admission';
    const slot = await ctx.admission.acquire(abort.signal);
    phase = 'running';
    try {
      metrics.started.inc();
      const timeoutMs = compactionTimeoutMs(size.bytes, ctx.config().minimumTimeoutSeconds);
      abort.after(timeoutMs, () => new CompactdError('deadline', `compaction timed out after ${Math.round(timeoutMs / 1000)} s`));
      log.info({ ...size, inputRuns, queuedMs: secondsToLogMs(slot.queuedSeconds), timeoutMs: roundMs(timeoutMs) }, 'compaction started');
      let result: CompactResult;
      try {
        result = await ctx.pool.run(req, engineConfig(ctx.options, ctx.config()), { signal: abort.signal, log });
      } catch (err) {
        throw abort.reason ?? err;
      }
      if (abort.reason) {
        // The work finished just as it was stopped: the client will not apply it, so remove it.
        await deleteOutputs(ctx, req.shardId, result.output, log);
        throw abort.reason;
      }
      const stats: CompactStats = { ...result.stats, queuedSeconds: slot.queuedSeconds };
      recordCompleted(metrics, stats);
      const { queuedSeconds, runSeconds, ...counts } = stats;
      log.info(
        { ...counts, queuedMs: secondsToLogMs(queuedSeconds), runMs: secondsToLogMs(runSeconds), parts: partCount(result.output), peakResidentBytes: result.peakResidentBytes },
        'compaction finished',
      );
      return compactResponseToProto({ outcome: 'compacted', output: result.output, stats });
    } finally {
      slot.release();
    }
  } catch (err) {
    const e = withStore(CompactdError.from(err), ctx.options.blob);
    countFailure(metrics, e, phase, abort);
    logFailure(log, e, 'compaction failed');
    throw toServiceError(e, requestId);
  } finally {
    abort.dispose();
    untrack();
  }
}

/**
 * A missing input part names the store it was looked up in (absolute, without credentials):
 * writers share the service's store, and one that wrote elsewhere (another directory's relative
 * file://, another bucket) learns at once that the two stores differ.
 */
function withStore(e: CompactdError, blobUrl: string): CompactdError {
  if (e.kind !== 'not_found') return e;
  return new CompactdError('not_found', namingStore(e.message, describeBlobSpec(parseBlobUrl(blobUrl))), { cause: e.cause });
}

/**
 * Refusals by admission (disabled, queue full) have their own counters. A stop the request's own
 * abort handle caused is a timeout (deadline) or a cancellation (client gone, shutdown).
 * Everything else is a failure.
 */
function countFailure(m: Metrics, e: CompactdError, phase: string, abort: RequestAbort): void {
  if (abort.reason === e) {
    if (e.kind === 'deadline') m.timedOut.inc();
    else m.cancelled.inc();
    return;
  }
  if (phase === 'admission' && (e.kind === 'exhausted' || e.kind === 'unavailable')) return;
  m.failed.inc();
}

function logFailure(log: Logger, e: CompactdError, msg: string): void {
  // A misconfigured store's client message is deliberately vague; the cause names the path or bucket.
  const cause = e.kind === 'misconfigured' && e.cause !== undefined ? { cause: e.cause instanceof Error ? e.cause.message : String(e.cause) } : {};
  const fields = { kind: e.kind, error: e.message, ...cause, err: e.kind === 'internal' ? e : undefined };
  if (e.kind === 'internal' || e.kind === 'data_loss' || e.kind === 'misconfigured') log.error(fields, msg);
  else log.warn(fields, msg);
}

function partCount(b: HollowBatch): number {
  return b.runs.reduce((n, r) => n + r.parts.length, 0);
}

async function deleteOutputs(ctx: CompactorContext, shard: string, output: HollowBatch, log: Logger): Promise<void> {
  const keys: string[] = [];
  for (const r of output.runs) for (const p of r.parts) if (p.kind === 'hollow') keys.push(p.key);
  const results = await Promise.allSettled(keys.map((k) => ctx.blob.delete(objectKey(shard, k))));
  const failed = results.filter((r) => r.status === 'rejected').length;
  if (failed > 0) log.error({ failed, parts: keys.length }, 'could not delete every output of a stopped compaction');
}

async function deletePartsCall(
  ctx: CompactorContext,
  call: ServerUnaryCall<DeletePartsRequest__Output, DeletePartsResponse>,
): Promise<DeletePartsResponse> {
  const requestId = randomUUID();
  const shard = typeof call.request.shard_id === 'string' ? call.request.shard_id : '';
  const log = requestLogger(ctx.log, { requestId, shard });
  const abort = new RequestAbort();
  const untrack = ctx.track(abort);
  try {
    if (!ctx.accepting()) throw shuttingDown();
    const req = deletePartsRequestFromProto(call.request, ctx.options.maxKeyChars);
    // Check every key before deleting any: a refused request changes nothing.
    for (const key of req.keys) {
      if (!isServiceKey(key)) {
        throw new CompactdError('permission', `key ${JSON.stringify(key)} was not written by this service; only c<uuid>/p<uuid> keys can be deleted`);
      }
    }
    watchClient(call, abort);
    const unique = [...new Set(req.keys)];
    let deleted = 0;
    let missing = 0;
    try {
      await mapLimit(unique, DELETE_CONCURRENCY, async (key) => {
        abort.signal.throwIfAborted();
        const size = await ctx.blob.delete(objectKey(req.shardId, key), { signal: abort.signal });
        if (size === undefined) missing++;
        else deleted++;
      });
    } catch (err) {
      throw abort.reason ?? err;
    }
    ctx.metrics.partsDeleted.inc(deleted);
    log.info({ deleted, missing }, 'parts deleted');
    return deletePartsResponseToProto({ deleted, missing });
  } catch (err) {
    const e = CompactdError.from(err);
    logFailure(log, e, 'delete parts failed');
    throw toServiceError(e, requestId);
  } finally {
    abort.dispose();
    untrack();
  }
}
