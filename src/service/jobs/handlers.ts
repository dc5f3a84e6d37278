/**
 * The job calls of the Compactor service: CompactStream (a compaction as a stream of events),
 * CancelCompaction and ListCompactions (docs/jobs.md), and the conversions of their messages.
 */
import { randomUUID } from 'node:crypto';
import type { ServerUnaryCall, ServerWritableStream, sendUnaryData } from '@grpc/grpc-js';
import type { ValidCompactRequest } from '../../model/validate.js';
import { validateCompactionId } from '../../model/compaction-id.js';
import { CompactdError, shuttingDown } from '../../model/errors.js';
import { requestLogger, type Logger } from '../../obs/log.js';
import type { CancelCompactionRequest__Output } from '../../gen/compactd/v1/CancelCompactionRequest.js';
import type { CancelCompactionResponse } from '../../gen/compactd/v1/CancelCompactionResponse.js';
import type { CompactEvent } from '../../gen/compactd/v1/CompactEvent.js';
import type { CompactionProgress } from '../../gen/compactd/v1/CompactionProgress.js';
import type { CompactionSummary } from '../../gen/compactd/v1/CompactionSummary.js';
import type { CompactRequest__Output } from '../../gen/compactd/v1/CompactRequest.js';
import type { ListCompactionsRequest__Output } from '../../gen/compactd/v1/ListCompactionsRequest.js';
import type { ListCompactionsResponse } from '../../gen/compactd/v1/ListCompactionsResponse.js';
import { compactResponseToProto, partToProto } from '../../wire/convert.js';
import { RequestAbort, watchClient } from '../abort.js';
import { toServiceError } from '../status.js';
import type { JobProgress, JobSummary } from './registry.js';
import { runJob, type JobDeps, type JobEvent } from './run.js';

/** What the job handlers need beyond the job runner's dependencies. */
export interface JobHandlerContext extends JobDeps {
  readonly log: Logger;
  /** The validating boundary the unary call uses too: the raw message becomes a validated request. */
  decode(raw: CompactRequest__Output): ValidCompactRequest;
  accepting(): boolean;
  track(abort: RequestAbort): () => void;
}

const PHASES = {
  queued: 'COMPACTION_PHASE_QUEUED',
  fetching: 'COMPACTION_PHASE_FETCHING',
  merging: 'COMPACTION_PHASE_MERGING',
  uploading: 'COMPACTION_PHASE_UPLOADING',
  checking: 'COMPACTION_PHASE_CHECKING',
} as const;

/** A progress snapshot as its proto message. */
export function progressToProto(p: JobProgress): CompactionProgress {
  return {
    compaction_id: p.compactionId,
    shard_id: p.shardId,
    phase: PHASES[p.phase],
    chunk: p.chunk,
    chunks: p.chunks,
    input_bytes_done: String(p.inputBytesDone),
    input_bytes_total: String(p.inputBytesTotal),
    input_updates_done: String(p.inputUpdatesDone),
    input_updates_total: String(p.inputUpdatesTotal),
    output_parts: p.outputParts,
    output_bytes: String(p.outputBytes),
    output_updates: String(p.outputUpdates),
    resumed_bytes: String(p.resumedBytes),
    elapsed_seconds: p.elapsedSeconds,
    remaining_seconds: p.remainingSeconds,
  };
}

/** A job summary as its proto message. */
export function summaryToProto(s: JobSummary): CompactionSummary {
  return {
    compaction_id: s.compactionId,
    shard_id: s.shardId,
    request_id: s.requestId,
    state: s.state,
    progress: progressToProto(s.progress),
    error: s.error,
    resumed: s.resumed,
    finished_seconds_ago: s.finishedSecondsAgo,
  };
}

function eventToProto(e: JobEvent): CompactEvent {
  switch (e.type) {
    case 'accepted':
      return { accepted: { compaction_id: e.compactionId, resumed: e.resumed, epoch: String(e.epoch) } };
    case 'progress':
      return { progress: progressToProto(e.progress) };
    case 'chunk':
      return {
        chunk: {
          compaction_id: e.compactionId,
          chunk: e.chunk,
          inputs: e.inputs.map((r) => ({ batch: r.batch, run: r.run })),
          parts: e.parts.map((p) => partToProto(p).hollow!),
        },
      };
  }
}

/** The handlers of CompactStream, CancelCompaction and ListCompactions. */
export function jobHandlers(ctx: JobHandlerContext) {
  return {
    CompactStream: (call: ServerWritableStream<CompactRequest__Output, CompactEvent>) => void compactStream(ctx, call),
    CancelCompaction: (call: ServerUnaryCall<CancelCompactionRequest__Output, CancelCompactionResponse>, callback: sendUnaryData<CancelCompactionResponse>) => {
      try {
        const id = typeof call.request.compaction_id === 'string' ? call.request.compaction_id : '';
        validateCompactionId(id);
        const found = ctx.jobs.cancel(id);
        ctx.log.info({ compactionId: id, found }, 'cancel requested');
        callback(null, { found });
      } catch (err) {
        callback(toServiceError(err));
      }
    },
    ListCompactions: (_call: ServerUnaryCall<ListCompactionsRequest__Output, ListCompactionsResponse>, callback: sendUnaryData<ListCompactionsResponse>) => {
      const { active, recent } = ctx.jobs.list();
      callback(null, { active: active.map(summaryToProto), recent: recent.map(summaryToProto) });
    },
  };
}

async function compactStream(ctx: JobHandlerContext, call: ServerWritableStream<CompactRequest__Output, CompactEvent>): Promise<void> {
  ctx.metrics.requested.inc();
  const requestId = (typeof call.request.request_id === 'string' && call.request.request_id) || randomUUID();
  const shard = typeof call.request.shard_id === 'string' ? call.request.shard_id : '';
  const log = requestLogger(ctx.log, { requestId, shard });
  const abort = new RequestAbort();
  const untrack = ctx.track(abort);
  let ended = false;
  const send = (e: CompactEvent) => {
    if (!ended && !call.cancelled) call.write(e);
  };
  try {
    if (!ctx.accepting()) throw shuttingDown();
    const req: ValidCompactRequest = { ...ctx.decode(call.request), requestId };
    watchClient(call, abort);
    const response = await runJob(ctx, { req, abort, log, emit: (e) => send(eventToProto(e)) });
    send({ done: compactResponseToProto(response) });
    ended = true;
    call.end();
  } catch (err) {
    const e = CompactdError.from(err);
    const fields = { kind: e.kind, error: e.message };
    if (e.kind === 'internal' || e.kind === 'data_loss') log.error({ ...fields, err: e }, 'compaction failed');
    else log.warn(fields, 'compaction failed');
    if (e.kind !== 'exists' && e.kind !== 'precondition' && e.kind !== 'cancelled' && e.kind !== 'deadline') ctx.metrics.failed.inc();
    else if (e.kind === 'deadline') ctx.metrics.timedOut.inc();
    else if (e.kind === 'cancelled') ctx.metrics.cancelled.inc();
    ended = true;
    call.emit('error', toServiceError(e, requestId));
  } finally {
    abort.dispose();
    untrack();
  }
}
