/**
 * One compaction, end to end: validate, plan, merge each chunk into one output run, check the
 * invariants, answer. On any failure (including cancellation and timeout through the signal)
 * every part already written is deleted before the error is thrown, so a caller never has to
 * clean up after a compaction that did not return.
 */
import type { Blob } from '../blob/blob.js';
import type { CompactStats, HollowBatch, Run } from '../model/batch.js';
import { emptyStats, partBytes } from '../model/batch.js';
import { CompactdError, internal } from '../model/errors.js';
import { newCompactionPrefix } from '../model/keys.js';
import { ensureCodecs } from '../part/codecs.js';
import { OutputBuilder } from './builder.js';
import { PartFetcher } from './fetcher.js';
import { BytePool, MemoryAccount } from './memory.js';
import { ChunkMerge, sinceMeet } from './merge.js';
import { chunkRuns, orderRuns, type Chunk } from './plan.js';
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
  const sink = new PartSink(
    {
      blob: deps.blob,
      shardId: req.shardId,
      desc: req.desc,
      prefix: newCompactionPrefix(),
      compression: deps.config.compression,
      signal: deps.cancel?.signal,
    },
  );
  const stats: CompactStats = emptyStats();
  stats.chunks = plan.chunks.length;
  stats.memoryViolations = plan.memoryViolations;
  stats.inputRuns = plan.chunks.reduce((n, c) => n + c.runs.length, 0);

  try {
    let inputDiffSum = 0n;
    for (const chunk of plan.chunks) {
      const r = await mergeChunk(req, dims, chunk, plan.runBudget, deps, sink, memory);
      inputDiffSum += r.diffSum;
      if (r.memoryViolation) stats.memoryViolations++;
      stats.inputUpdates += r.rowsIn;
      stats.inputBytes += r.bytesIn;
    }
    const runs = await sink.finish();
    const totals = sink.totals;
    // Invariants: consolidation preserves Σd and never adds updates. A failure here is a bug.
    if (totals.diffSum !== inputDiffSum) {
      throw internal(`output diff sum ${totals.diffSum} != input diff sum ${inputDiffSum}`);
    }
    if (totals.updates > stats.inputUpdates) {
      throw internal(`output has ${totals.updates} updates, more than the ${stats.inputUpdates} read`);
    }
    const output: HollowBatch = {
      desc: req.desc,
      runs: runs.map((parts): Run => ({ parts, order: 'ordered' })),
      len: totals.updates,
    };
    stats.outputUpdates = totals.updates;
    stats.outputBytes = totals.bytes;
    stats.outputRuns = output.runs.length;
    stats.runSeconds = (performance.now() - started) / 1000;
    return { output, stats, peakResidentBytes: memory.peak };
  } catch (err) {
    const error = failure(err, deps.cancel?.signal);
    await cleanup(deps.blob, sink, log);
    throw error;
  }
}

interface ChunkResult {
  readonly rowsIn: number;
  readonly bytesIn: number;
  readonly diffSum: bigint;
  /** A chunk planned within the run budget held more than it (parts decoded larger than encoded). */
  readonly memoryViolation: boolean;
}

async function mergeChunk(
  req: ValidCompactRequest,
  dims: number,
  chunk: Chunk,
  runBudget: number,
  deps: CompactDeps,
  sink: PartSink,
  memory: MemoryAccount,
): Promise<ChunkResult> {
  const target = deps.config.targetPartBytes;
  // What the chunk's runs are not charged is shared by prefetching and extra uploads.
  const pool = new BytePool(Math.max(0, runBudget - chunk.memoryBytes));
  const ctx: SourceContext = { blob: deps.blob, shardId: req.shardId, dims, maxDecodedBytes: deps.config.memoryBoundBytes, signal: deps.cancel?.signal };
  let bytesIn = 0;
  let diffSum = 0n;
  memory.startWindow();
  const fetcher = new PartFetcher(
    chunk.runs,
    async (run, index) => {
      const p = await loadPart(ctx, run, index);
      bytesIn += partBytes(run.parts[index]);
      diffSum += p.diffSum;
      return p;
    },
    pool,
    2 * target,
    memory,
  );
  const builder = new OutputBuilder(dims, target);
  sink.beginRun(pool);
  const merge = new ChunkMerge(
    {
      runs: chunk.runs.length,
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
      flush: () => sink.write(builder.take()),
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
    return { rowsIn, bytesIn, diffSum, memoryViolation: chunk.memoryBytes <= runBudget && memory.windowPeak > runBudget };
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
async function cleanup(blob: Blob, sink: PartSink, log: EngineLog | undefined): Promise<void> {
  await sink.settle();
  const results = await Promise.allSettled(sink.written.map((key) => blob.delete(key)));
  const failed = results.filter((r) => r.status === 'rejected').length;
  if (failed > 0) log?.warn({ failed, written: sink.written.length }, 'could not delete every output of a failed compaction');
  else if (sink.written.length > 0) log?.debug({ deleted: sink.written.length }, 'deleted outputs of a failed compaction');
}
