/**
 * One compaction, end to end: validate, plan, merge each chunk into one output run, check the
 * invariants, answer. On any failure (including cancellation and timeout through the signal)
 * every part already written is deleted before the error is thrown, so a caller never has to
 * clean up after a compaction that did not return.
 */
import type { Blob } from '../blob/blob.js';
import type { CompactStats, HollowBatch, HollowPart, Run } from '../model/batch.js';
import { emptyStats, partBytes } from '../model/batch.js';
import { CompactdError, internal } from '../model/errors.js';
import { newCompactionPrefix } from '../model/keys.js';
import { ensureCodecs } from '../part/codecs.js';
import { OutputBuilder } from './builder.js';
import { PartFetcher } from './fetcher.js';
import { BytePool, MemoryAccount } from './memory.js';
import { ChunkMerge, sinceMeet } from './merge.js';
import { chunkRuns, orderRuns, type Chunk } from './plan.js';
import { kvOf, rowsAbove, skippableParts, skippedBytes, type KvBoundary } from './resume.js';
import { PartSink } from './sink.js';
import { loadPart, type SourceContext } from './source.js';
import type { CompactDeps, CompactResult, EngineLog } from './types.js';
import { requestDimension, type ValidCompactRequest } from '../model/validate.js';

/**
 * Compacts `req` against `deps.blob`. Throws a CompactdError (kind per docs/contract.md, "Errors")
 * after deleting any output it wrote. The request was validated where it was decoded (a
 * ValidCompactRequest comes only from model/validate.ts), so nothing is checked again here.
 */
export async function compact(req: ValidCompactRequest, deps: CompactDeps): Promise<CompactResult> {
  const started = performance.now();
  const dims = requestDimension(req);
  await ensureCodecs();
  const { memoryBoundBytes, targetPartBytes } = deps.config;
  const plan = chunkRuns(orderRuns(req), memoryBoundBytes, targetPartBytes);
  const log = deps.log;
  log?.debug({ chunks: plan.chunks.length, memoryViolations: plan.memoryViolations }, 'compaction planned');

  const memory = new MemoryAccount();
  const job = deps.job;
  const emit = job?.onEvent;
  const resume = job?.resume;
  // Sink run ordinal -> chunk index: chunks an earlier attempt finished get no run here.
  const sinkChunk: number[] = [];
  const sink = new PartSink(
    {
      blob: deps.blob,
      shardId: req.shardId,
      desc: req.desc,
      prefix: job?.prefix ?? newCompactionPrefix(),
      compression: deps.config.compression,
      signal: deps.cancel?.signal,
      onDurable: emit
        ? (run, index, part, startsNewKv, last) => {
            const chunk = sinkChunk[run];
            const offset = chunk === resume?.done.length ? (resume?.partial?.parts.length ?? 0) : 0;
            emit({ type: 'part', chunk, index: offset + index, part, startsNewKv, last: kvOf(last, 0) });
          }
        : undefined,
    },
  );
  // One builder for every chunk: its buffers (sized for one part) go from part to part and from
  // chunk to chunk, instead of fresh part-sized allocations per chunk.
  const builder = new OutputBuilder(dims, targetPartBytes);
  const stats: CompactStats = emptyStats();
  stats.chunks = plan.chunks.length;
  stats.memoryViolations = plan.memoryViolations;
  stats.inputRuns = plan.chunks.reduce((n, c) => n + c.runs.length, 0);

  try {
    let inputDiffSum = 0n;
    let resumedBytes = 0;
    const done = resume?.done ?? [];
    for (let c = 0; c < plan.chunks.length; c++) {
      const chunk = plan.chunks[c];
      if (c < done.length) {
        // Finished by an earlier attempt: its output run is reused, its input not read.
        const bytes = chunk.runs.reduce((n, r) => n + skippedBytes(r, r.parts.length), 0);
        resumedBytes += bytes;
        emit?.({ type: 'resumed', bytes });
        continue;
      }
      sinkChunk.push(c);
      emit?.({ type: 'phase', phase: 'fetching', chunk: c });
      const boundary = c === done.length ? resume?.partial?.boundary : undefined;
      const r = await mergeChunk(req, dims, chunk, plan.runBudget, deps, { sink, builder }, memory, boundary, c);
      inputDiffSum += r.diffSum;
      resumedBytes += r.skippedBytes;
      if (r.memoryViolation) stats.memoryViolations++;
      stats.inputUpdates += r.rowsIn;
      stats.inputBytes += r.bytesIn;
      const prefixParts = boundary !== undefined ? (resume?.partial?.parts.length ?? 0) : 0;
      emit?.({ type: 'chunk', chunk: c, parts: prefixParts + sink.runLength });
    }
    emit?.({ type: 'phase', phase: 'uploading', chunk: Math.max(0, plan.chunks.length - 1) });
    const merged = await sink.finishAll();
    emit?.({ type: 'phase', phase: 'checking', chunk: Math.max(0, plan.chunks.length - 1) });
    const totals = sink.totals;
    // Invariants: consolidation preserves Σd and never adds updates. A failure here is a bug.
    if (totals.diffSum !== inputDiffSum) {
      throw internal(`output diff sum ${totals.diffSum} != input diff sum ${inputDiffSum}`);
    }
    if (totals.updates > stats.inputUpdates) {
      throw internal(`output has ${totals.updates} updates, more than the ${stats.inputUpdates} read`);
    }
    // Output runs in chunk order: reused runs, then each merged chunk (after its reused prefix).
    const runs: HollowPart[][] = [];
    let reusedUpdates = 0;
    let reusedBytes = 0;
    const reuse = (parts: readonly HollowPart[]) => {
      for (const p of parts) {
        reusedUpdates += p.updates;
        reusedBytes += p.encodedSizeBytes;
      }
      return parts;
    };
    for (let c = 0, o = 0; c < plan.chunks.length; c++) {
      if (c < done.length) runs.push([...reuse(done[c])]);
      else if (c === done.length && resume?.partial) runs.push([...reuse(resume.partial.parts), ...merged[o++]]);
      else runs.push(merged[o++]);
    }
    const output: HollowBatch = {
      desc: req.desc,
      runs: runs.filter((parts) => parts.length > 0).map((parts): Run => ({ parts, order: 'ordered' })),
      len: totals.updates + reusedUpdates,
    };
    stats.inputBytes += resumedBytes;
    stats.inputUpdates += reusedUpdates;
    stats.outputUpdates = totals.updates + reusedUpdates;
    stats.outputBytes = totals.bytes + reusedBytes;
    stats.outputRuns = output.runs.length;
    if (resumedBytes > 0) stats.resumedBytes = resumedBytes;
    stats.runSeconds = (performance.now() - started) / 1000;
    return { output, stats, peakResidentBytes: memory.peak };
  } catch (err) {
    const error = failure(err, deps.cancel?.signal);
    await cleanup(deps.blob, sink, log, job?.keep);
    throw error;
  }
}

interface ChunkResult {
  readonly rowsIn: number;
  readonly bytesIn: number;
  readonly diffSum: bigint;
  /** Input bytes of parts a resume skipped whole. */
  readonly skippedBytes: number;
  /** A chunk planned within the run budget held more than it (parts decoded larger than encoded). */
  readonly memoryViolation: boolean;
}

async function mergeChunk(
  req: ValidCompactRequest,
  dims: number,
  chunk: Chunk,
  runBudget: number,
  deps: CompactDeps,
  { sink, builder }: { sink: PartSink; builder: OutputBuilder },
  memory: MemoryAccount,
  boundary: KvBoundary | undefined,
  chunkIndex: number,
): Promise<ChunkResult> {
  const target = deps.config.targetPartBytes;
  const emit = deps.job?.onEvent;
  // What the chunk's runs are not charged is shared by prefetching and extra uploads.
  const pool = new BytePool(Math.max(0, runBudget - chunk.memoryBytes));
  const ctx: SourceContext = { blob: deps.blob, shardId: req.shardId, dims, maxDecodedBytes: deps.config.memoryBoundBytes, signal: deps.cancel?.signal };
  let bytesIn = 0;
  let diffSum = 0n;
  let skipped = 0;
  let runs = chunk.runs;
  if (boundary !== undefined) {
    // Resuming inside this chunk: leading parts wholly at or below the boundary are not read.
    // One run at a time: each probe holds one part outside the chunk's memory account.
    const starts: number[] = [];
    for (const r of runs) starts.push(await skippableParts(r, boundary, (run, i) => loadPart(ctx, run, i)));
    runs = runs.map((r, i) => (starts[i] === 0 ? r : { ...r, parts: r.parts.slice(starts[i]) }));
    skipped = chunk.runs.reduce((n, r, i) => n + skippedBytes(r, starts[i]), 0);
    if (skipped > 0) emit?.({ type: 'resumed', bytes: skipped });
  }
  let merging = false;
  memory.startWindow();
  const fetcher = new PartFetcher(
    runs,
    async (run, index) => {
      let p = await loadPart(ctx, run, index);
      if (boundary !== undefined) {
        const before = p.count;
        p = rowsAbove(p, boundary);
        if (p.count < before) {
          // Rows at or below the boundary are finished output already: their share of the part is not redone.
          const bytes = Math.round((partBytes(run.parts[index]) * (before - p.count)) / before);
          skipped += bytes;
          emit?.({ type: 'resumed', bytes });
        }
      }
      bytesIn += partBytes(run.parts[index]);
      diffSum += p.diffSum;
      if (emit) {
        if (!merging) {
          merging = true;
          emit({ type: 'phase', phase: 'merging', chunk: chunkIndex });
        }
        emit({ type: 'input', bytes: partBytes(run.parts[index]), updates: p.count });
      }
      return p;
    },
    pool,
    2 * target,
    memory,
  );
  sink.beginRun(pool);
  const merge = new ChunkMerge(
    {
      runs: runs.length,
      takeReady: (r) => fetcher.takeReady(r),
      next: (r) => fetcher.next(r),
      hasMore: (r) => fetcher.hasMore(r),
      released: (bytes) => {
        memory.release(bytes);
        fetcher.pump();
      },
    },
    {
      builder,
      targetPartBytes: target,
      flush: () => {
        const cols = builder.take();
        // The upload reads the columns' own buffers: they come back to the builder once it is over.
        return sink.write(cols, () => builder.recycle(cols));
      },
      checkpoint: () => deps.cancel?.check(),
    },
    dims,
    sinceMeet(req.desc.since, dims),
  );
  fetcher.pump();
  try {
    const { rowsIn } = await merge.run();
    // The plan charges encoded sizes; compressed parts decode larger and can push a chunk planned
    // within budget over it. That is a violation too, found only once the parts are read.
    return {
      rowsIn,
      bytesIn,
      diffSum,
      skippedBytes: skipped,
      memoryViolation: chunk.memoryBytes <= runBudget && memory.windowPeak > runBudget,
    };
  } finally {
    fetcher.close();
  }
}

function failure(err: unknown, signal: AbortSignal | undefined): CompactdError {
  if (signal?.aborted) {
    const reason: unknown = signal.reason;
    if (reason instanceof CompactdError) return reason;
    return new CompactdError('cancelled', 'compaction cancelled', { cause: reason });
  }
  return CompactdError.from(err);
}

/** Deletes every output the compaction may have written. Failures are logged, not thrown: the original error matters more. */
async function cleanup(blob: Blob, sink: PartSink, log: EngineLog | undefined, keep: ReadonlySet<string> | undefined): Promise<void> {
  await sink.settle();
  const doomed = keep ? sink.written.filter((key) => !keep.has(key)) : sink.written;
  const results = await Promise.allSettled(doomed.map((key) => blob.delete(key)));
  const failed = results.filter((r) => r.status === 'rejected').length;
  if (failed > 0) log?.warn({ failed, written: doomed.length }, 'could not delete every output of a failed compaction');
  else if (doomed.length > 0) log?.debug({ deleted: doomed.length }, 'deleted outputs of a failed compaction');
}
