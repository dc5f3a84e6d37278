/**
 * The writer library's side of long compactions (docs/jobs.md): CompactStream as an async
 * iterator of events that survives the replica dying (re-sent with the same compaction_id, the
 * resumed job continues) and waits out a live lease elsewhere (ALREADY_EXISTS: backs off and
 * re-sends until the lease is released or expires); CancelCompaction and ListCompactions.
 */
import { status, type ClientReadableStream, type Metadata, type ServiceError } from '@grpc/grpc-js';
import type { CompactRequest, CompactResponse, HollowPart } from '../model/batch.js';
import { newCompactionId } from '../model/compaction-id.js';
import type { CompactionProgress, JobEvent, JobPhase } from '../model/progress.js';
import { CompactdError } from '../model/errors.js';
import type { CompactEvent__Output } from '../gen/compactd/v1/CompactEvent.js';
import type { CompactionProgress__Output } from '../gen/compactd/v1/CompactionProgress.js';
import type { CompactionSummary__Output } from '../gen/compactd/v1/CompactionSummary.js';
import { compactRequestToProto, compactResponseFromProto, partFromProto } from '../wire/convert.js';

export type CompactionPhase = JobPhase | 'unspecified';

/** A progress report as the library hands it out (byte and update counts as numbers). */
export type CompactionProgressView = CompactionProgress<CompactionPhase>;

export type CompactStreamEvent =
  | JobEvent<CompactionPhase>
  | { readonly type: 'done'; readonly response: CompactResponse }
  /** The library is about to send the request again after `error` (the stream broke or the lease is held elsewhere). */
  | { readonly type: 'resend'; readonly attempt: number; readonly error: CompactdError };

export interface CompactionSummaryView {
  readonly compactionId: string;
  readonly shardId: string;
  readonly requestId: string;
  readonly state: string;
  readonly progress: CompactionProgressView;
  readonly error: string;
  readonly resumed: boolean;
  readonly finishedSecondsAgo: number;
}

export interface StreamOptions {
  /** Overall deadline across every attempt, in ms from the call. */
  readonly deadlineMs?: number;
  readonly signal?: AbortSignal;
  /** Most re-sends after UNAVAILABLE or ALREADY_EXISTS (default 30). */
  readonly resends?: number;
}

/** Re-sends: enough to outlast a default 30 s lease at the maximum backoff. */
export const DEFAULT_RESENDS = 30;

type StreamMethod = (arg: unknown, metadata: Metadata, options: { deadline?: Date }) => ClientReadableStream<CompactEvent__Output>;

const num = (v: unknown): number => (v === undefined || v === null || v === '' ? 0 : Number(v));

/** Decodes a progress message. */
export function progressFromProto(p: CompactionProgress__Output | null | undefined): CompactionProgressView {
  const phase = String(p?.phase ?? '').replace(/^COMPACTION_PHASE_/, '').toLowerCase() as CompactionPhase;
  return {
    compactionId: p?.compaction_id ?? '',
    shardId: p?.shard_id ?? '',
    phase: phase || 'unspecified',
    chunk: num(p?.chunk),
    chunks: num(p?.chunks),
    inputBytesDone: num(p?.input_bytes_done),
    inputBytesTotal: num(p?.input_bytes_total),
    inputUpdatesDone: num(p?.input_updates_done),
    inputUpdatesTotal: num(p?.input_updates_total),
    outputParts: num(p?.output_parts),
    outputBytes: num(p?.output_bytes),
    outputUpdates: num(p?.output_updates),
    resumedBytes: num(p?.resumed_bytes),
    elapsedSeconds: num(p?.elapsed_seconds),
    remainingSeconds: num(p?.remaining_seconds),
  };
}

/** Decodes a ListCompactions entry. */
export function summaryFromProto(s: CompactionSummary__Output): CompactionSummaryView {
  return {
    compactionId: s.compaction_id,
    shardId: s.shard_id,
    requestId: s.request_id,
    state: s.state,
    progress: progressFromProto(s.progress),
    error: s.error,
    resumed: s.resumed,
    finishedSecondsAgo: num(s.finished_seconds_ago),
  };
}

function eventFromProto(e: CompactEvent__Output): CompactStreamEvent | undefined {
  if (e.accepted) return { type: 'accepted', compactionId: e.accepted.compaction_id, resumed: e.accepted.resumed, epoch: num(e.accepted.epoch) };
  if (e.progress) return { type: 'progress', progress: progressFromProto(e.progress) };
  if (e.chunk) {
    return {
      type: 'chunk',
      compactionId: e.chunk.compaction_id,
      chunk: e.chunk.chunk,
      inputs: e.chunk.inputs.map((r) => ({ batch: r.batch, run: r.run })),
      parts: e.chunk.parts.map((p) => partFromProto({ hollow: p, kind: 'hollow' }) as HollowPart),
    };
  }
  if (e.done) return { type: 'done', response: compactResponseFromProto(e.done) };
  return undefined;
}

/**
 * Streams one compaction. The request gets a compaction_id when it has none, so that a re-send
 * after the replica died resumes rather than restarts. Ends after the `done` event; throws a
 * CompactdError of the final status otherwise.
 */
export async function* compactStream(
  method: StreamMethod,
  metadata: () => Metadata,
  req: CompactRequest,
  opts: StreamOptions,
  backoff: (attempt: number) => number,
  toError: (err: ServiceError) => CompactdError,
): AsyncGenerator<CompactStreamEvent> {
  const request = compactRequestToProto({ ...req, compactionId: req.compactionId ?? newCompactionId() });
  const deadline = opts.deadlineMs === undefined ? undefined : Date.now() + opts.deadlineMs;
  const resends = opts.resends ?? DEFAULT_RESENDS;
  for (let attempt = 0; ; attempt++) {
    if (opts.signal?.aborted) throw new CompactdError('cancelled', 'call cancelled', { cause: opts.signal.reason });
    const call = method(request, metadata(), deadline === undefined ? {} : { deadline: new Date(deadline) });
    const onAbort = () => call.cancel();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    let failure: ServiceError | undefined;
    try {
      for await (const raw of call as AsyncIterable<CompactEvent__Output>) {
        const e = eventFromProto(raw);
        if (!e) continue;
        yield e;
        if (e.type === 'done') return;
      }
      throw new CompactdError('unavailable', 'the stream ended without an answer', { determinate: false });
    } catch (err) {
      if (err instanceof CompactdError) failure = undefined;
      else failure = err as ServiceError;
      const e = failure ? toError(failure) : (err as CompactdError);
      const code = failure?.code ?? (e.kind === 'unavailable' ? status.UNAVAILABLE : undefined);
      // The replica died or is full (re-sent, the job resumes), or the job's lease is held elsewhere (wait it out).
      const again = code === status.UNAVAILABLE || code === status.ALREADY_EXISTS || code === status.RESOURCE_EXHAUSTED;
      if (!again || attempt >= resends || opts.signal?.aborted) throw e;
      const wait = backoff(attempt);
      if (deadline !== undefined && Date.now() + wait >= deadline) throw e;
      yield { type: 'resend', attempt: attempt + 1, error: e };
      await new Promise((r) => setTimeout(r, wait));
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      call.cancel();
    }
  }
}
