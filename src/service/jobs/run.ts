/**
 * One compaction run as a job (docs/jobs.md): registered for listing and cancel-by-id, progress
 * reported while it runs, liveness judged by progress (the stall timeout), and, when the request
 * carries a compaction_id, a checkpoint in the store: leased to one owner at a time, advanced
 * after each output part that ends at a safe boundary, resumed from after a crash, and kept for
 * the retention once done so a re-sent request gets the answer again (as copies under new keys).
 */
import type { Blob } from '../../blob/blob.js';
import { chunkRuns, orderRuns } from '../../compact/plan.js';
import type { KvBoundary, ResumePoint } from '../../compact/resume.js';
import type { CompactResult, EngineConfig, EngineEvent } from '../../compact/types.js';
import type { RuntimeConfig, ServeOptions } from '../../config/options.js';
import { emptyStats, type CompactResponse, type CompactStats, type HollowBatch, type HollowPart, type Run } from '../../model/batch.js';
import { newCompactionId } from '../../model/compaction-id.js';
import { CompactdError } from '../../model/errors.js';
import { newCompactionPrefix, objectKey } from '../../model/keys.js';
import type { Logger } from '../../obs/log.js';
import { recordCompleted, type Metrics } from '../../obs/metrics.js';
import type { RequestAbort } from '../abort.js';
import { requestSize, shouldCompact, type Admission } from '../admission.js';
import { statusName } from '../status.js';
import type { WorkerPool } from '../workers.js';
import { CheckpointStore, planKey, requestFingerprint, type Checkpoint } from './checkpoint.js';
import { acquireLease, copyAnswer, newOwner, prepareResume, type PreparedResume } from './lease.js';
import { ProgressTracker, type JobEntry, type JobRegistry } from './registry.js';
import type { ValidCompactRequest } from '../../model/validate.js';
import type { JobEvent } from '../../model/progress.js';

export type { JobEvent };

export interface JobDeps {
  readonly options: ServeOptions;
  readonly metrics: Metrics;
  readonly admission: Admission;
  readonly pool: WorkerPool;
  readonly blob: Blob;
  readonly jobs: JobRegistry;
  config(): RuntimeConfig;
  engineConfig(): EngineConfig;
}

export interface RunJobOptions {
  readonly req: ValidCompactRequest;
  readonly abort: RequestAbort;
  readonly log: Logger;
  readonly emit: (e: JobEvent) => void;
  /** Extra timeout once running (the unary call's size-based one); none for streams. */
  readonly timeoutMs?: number;
}

/**
 * Runs `req` as a job and resolves with the answer the unary call would give. Errors are
 * CompactdErrors; the caller maps them to a status. Cancellation by id deletes everything the
 * job wrote, its checkpoint included; any other failure keeps the checkpoint and the parts it
 * records and deletes the rest.
 */
export async function runJob(deps: JobDeps, o: RunJobOptions): Promise<CompactResponse> {
  const { req, abort, log } = o;
  const durable = req.compactionId !== undefined;
  const compactionId = req.compactionId ?? newCompactionId();
  const size = requestSize(req);
  const inputRuns = req.inputs.reduce((n, b) => n + b.runs.length, 0);
  const cfg = deps.config();
  const engine = deps.engineConfig();
  const plan = chunkRuns(orderRuns(req), engine.memoryBoundBytes, engine.targetPartBytes);
  const tracker = new ProgressTracker(compactionId, req.shardId, size.bytes, size.updates);
  tracker.chunks = plan.chunks.length;
  const entry: JobEntry = {
    compactionId,
    shardId: req.shardId,
    requestId: req.requestId,
    progress: tracker,
    abort,
    state: 'queued',
    resumed: false,
    cancelledById: false,
  };
  deps.jobs.add(entry);
  // Progress only follows `accepted`, which comes once the lease is settled.
  let accepted = false;
  const progress = () => {
    if (accepted) o.emit({ type: 'progress', progress: tracker.snapshot() });
  };
  const emitAccepted = (resumed: boolean, epoch: number) => {
    o.emit({ type: 'accepted', compactionId, resumed, epoch });
    accepted = true;
  };
  const ticker = setInterval(progress, Math.max(10, deps.options.progressIntervalSeconds * 1000));
  ticker.unref();
  let stallTimer: NodeJS.Timeout | undefined;
  let job: Checkpointer | undefined;
  try {
    if (!shouldCompact(req.force, size, cfg)) {
      deps.metrics.skipped.inc();
      emitAccepted(false, 0);
      const stats: CompactStats = { ...emptyStats(), inputUpdates: size.updates, inputBytes: size.bytes, inputRuns };
      deps.jobs.finish(entry, 'succeeded');
      return { outcome: 'skipped', stats };
    }

    const prefix = newCompactionPrefix();
    if (durable) {
      const store = new CheckpointStore(deps.blob, req.shardId, compactionId);
      const identity = {
        compactionId,
        shardId: req.shardId,
        fingerprint: requestFingerprint(req),
        planKey: planKey(engine.memoryBoundBytes, engine.targetPartBytes, engine.compression),
        owner: newOwner(),
      };
      const leaseMs = deps.options.leaseSeconds * 1000;
      const retentionMs = deps.options.checkpointRetentionSeconds * 1000;
      let got;
      try {
        got = await acquireLease(store, identity, leaseMs, retentionMs);
      } catch (err) {
        const e = CompactdError.from(err);
        if (e.kind === 'exists' || e.kind === 'precondition') deps.metrics.checkpointConflicts.inc();
        throw e;
      }
      if (got.kind === 'finished') {
        const r = got.stored.cp.response!;
        const copied = r.output ? await copyAnswer(deps.blob, req.shardId, runsOf(r.output), prefix, abort.signal) : [];
        if (copied) {
          deps.metrics.jobsReplayed.inc();
          entry.resumed = true;
          emitAccepted(true, got.stored.cp.epoch);
          log.info({ compactionId }, 'finished compaction answered again');
          const response: CompactResponse = { ...r, output: r.output && withRuns(r.output, copied) };
          deps.jobs.finish(entry, 'succeeded');
          return response;
        }
        // A part of the finished answer is gone (its writer deleted it): compute it again.
        got = await acquireLease(store, identity, leaseMs, 0);
        if (got.kind !== 'owned') throw new CompactdError('internal', `compaction ${compactionId}: could not take over its finished checkpoint`);
      }
      // The lease is renewed while the job waits in the queue or makes progress, not while it is stuck.
      const alive = (lastWriteAt: number) => entry.state === 'queued' || tracker.lastActivity > lastWriteAt;
      job = new Checkpointer(deps, store, got.cp, got.version, leaseMs, abort, log, o.emit, plan.chunks.map(chunkInputs), alive);
      emitAccepted(got.cp.chunks.length > 0 || got.cp.partial !== undefined, got.cp.epoch);
    } else {
      emitAccepted(false, 0);
    }
    progress();

    const slot = await deps.admission.acquire(abort.signal);
    try {
      deps.metrics.started.inc();
      entry.state = 'running';
      if (o.timeoutMs !== undefined) {
        const ms = o.timeoutMs;
        abort.after(ms, () => new CompactdError('deadline', `compaction timed out after ${Math.round(ms / 1000)} s`));
      }
      // Read per compaction: Admin.UpdateConfig changes it for the compactions that start afterwards.
      const stallMs = deps.config().stallTimeoutSeconds * 1000;
      tracker.touch();
      if (stallMs > 0) {
        stallTimer = setInterval(() => {
          const idle = performance.now() - tracker.lastActivity;
          if (idle < stallMs || abort.signal.aborted) return;
          deps.metrics.jobsStalled.inc();
          abort.abort(
            new CompactdError('deadline', `compaction ${compactionId} stalled: no part read or written for ${Math.round(idle / 1000)} s while ${tracker.phase}`),
          );
        }, Math.max(10, Math.min(1000, stallMs / 4)));
        stallTimer.unref();
      }

      let resume: ResumePoint | undefined;
      if (job) {
        tracker.phase = 'checking';
        const prepared = await prepareResume(deps.blob, req.shardId, job.cp, prefix, abort.signal, () => tracker.touch());
        resume = prepared.resume;
        job.start(prepared);
        if (resume) {
          entry.resumed = true;
          deps.metrics.jobsResumed.inc();
          for (const run of prepared.chunks) for (const p of run) countOutput(tracker, p);
          for (const p of prepared.partial?.parts ?? []) countOutput(tracker, p);
          log.info({ compactionId, chunks: prepared.chunks.length, partialParts: prepared.partial?.parts.length ?? 0 }, 'compaction resumed');
        }
      }
      tracker.phase = 'fetching';
      const onEvent = (e: EngineEvent) => {
        onEngineEvent(tracker, e, deps.metrics);
        job?.onEvent(e);
        if (e.type === 'part') progress();
      };
      log.info({ ...size, inputRuns, compactionId, queuedSeconds: slot.queuedSeconds }, 'compaction started');
      let result: CompactResult;
      try {
        result = await deps.pool.run(req, deps.engineConfig(), { signal: abort.signal, log, job: { prefix, resume, durable }, onEvent });
      } catch (err) {
        throw abort.reason ?? err;
      }
      if (abort.reason) throw abort.reason;
      const stats: CompactStats = { ...result.stats, queuedSeconds: slot.queuedSeconds };
      const response: CompactResponse = { outcome: 'compacted', output: result.output, stats };
      await job?.finish(response);
      // Stopped while the answer was being recorded: it is never handed out, so it goes too.
      if (abort.reason) throw abort.reason;
      recordCompleted(deps.metrics, stats);
      log.info({ ...stats, compactionId }, 'compaction finished');
      deps.jobs.finish(entry, 'succeeded');
      return response;
    } finally {
      slot.release();
    }
  } catch (err) {
    const e = CompactdError.from(abort.reason ?? err);
    if (entry.cancelledById) {
      deps.metrics.jobsCancelledById.inc();
      await job?.discard();
      deps.jobs.finish(entry, 'cancelled', `${statusName(e.kind)}: ${e.message}`);
    } else {
      await job?.fail();
      deps.jobs.finish(entry, e.kind === 'cancelled' ? 'cancelled' : 'failed', `${statusName(e.kind)}: ${e.message}`);
    }
    throw e;
  } finally {
    clearInterval(ticker);
    if (stallTimer) clearInterval(stallTimer);
    job?.stop();
  }
}

function runsOf(b: HollowBatch): HollowPart[][] {
  return b.runs.map((r) => r.parts.filter((p): p is HollowPart => p.kind === 'hollow'));
}

function withRuns(b: HollowBatch, runs: HollowPart[][]): HollowBatch {
  return { ...b, runs: runs.map((parts): Run => ({ parts, order: 'ordered' })) };
}

function countOutput(t: ProgressTracker, p: HollowPart): void {
  t.outputParts++;
  t.outputBytes += p.encodedSizeBytes;
  t.outputUpdates += p.updates;
}

function onEngineEvent(t: ProgressTracker, e: EngineEvent, m: Metrics): void {
  switch (e.type) {
    case 'phase':
      t.phase = e.phase;
      t.chunk = e.chunk;
      return;
    case 'input':
      t.touch();
      t.inputBytesDone += e.bytes;
      t.inputUpdatesDone += e.updates;
      return;
    case 'part':
      t.touch();
      countOutput(t, e.part);
      return;
    case 'resumed':
      t.resumedBytes += e.bytes;
      m.jobsResumedBytes.inc(e.bytes);
      return;
    case 'chunk':
      return;
  }
}

/** The input runs a planned chunk merges, as (batch, run) indexes. */
function chunkInputs(chunk: { runs: readonly { input: number; name: string }[] }): { batch: number; run: number }[] {
  const seen = new Set<string>();
  const out: { batch: number; run: number }[] = [];
  for (const r of chunk.runs) {
    const m = /^inputs\[(\d+)\]\.runs\[(\d+)\]/.exec(r.name);
    const run = m ? Number(m[2]) : 0;
    const id = `${r.input}/${run}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push({ batch: r.input, run });
  }
  return out;
}

interface DurablePart {
  readonly part: HollowPart;
  readonly startsNewKv: boolean;
  readonly last?: KvBoundary;
}

/**
 * The checkpoint of one attempt: advances it as parts become durable at safe boundaries, renews
 * the lease while the job progresses, and settles it at the end (done, failed or discarded).
 * Writes are serialized; one that finds another owner's write in place stops the job.
 */
class Checkpointer {
  cp: Checkpoint;
  private readonly durable = new Map<number, Map<number, DurablePart>>();
  private readonly chunkParts = new Map<number, number>();
  private done: HollowPart[][] = [];
  private partial: Checkpoint['partial'];
  /** Object keys this attempt wrote (copies and new parts). */
  private readonly wrote = new Set<string>();
  private writing: Promise<void> | undefined;
  private dirty = false;
  private lost = false;
  private lastWrite = performance.now();
  private renewTimer: NodeJS.Timeout;
  private readonly shard: string;

  constructor(
    private readonly deps: JobDeps,
    private readonly store: CheckpointStore,
    cp: Checkpoint,
    private version: string,
    private readonly leaseMs: number,
    private readonly abort: RequestAbort,
    private readonly log: Logger,
    private readonly emit: (e: JobEvent) => void,
    private readonly inputs: readonly { batch: number; run: number }[][],
    alive: (lastWriteAt: number) => boolean,
  ) {
    this.cp = cp;
    this.shard = cp.shardId;
    this.done = cp.chunks.map((r) => [...r]);
    this.partial = cp.partial;
    // Renewed while the job is alive: queued, or making progress since the last write.
    this.renewTimer = setInterval(() => {
      if (alive(this.lastWrite)) this.schedule();
    }, Math.max(10, leaseMs / 3));
    this.renewTimer.unref();
  }

  /** Switches to this attempt's copies of the recorded progress. */
  start(p: PreparedResume): void {
    for (const k of p.copies) this.wrote.add(k);
    this.done = p.chunks.map((r) => [...r]);
    this.partial = p.partial;
    const c = this.done.length;
    if (this.partial) {
      const m = new Map<number, DurablePart>();
      this.partial.parts.forEach((part, i) => m.set(i, { part, startsNewKv: true, last: i === this.partial!.parts.length - 1 ? this.partial!.boundary : undefined }));
      this.durable.set(c, m);
    }
    this.schedule();
  }

  onEvent(e: EngineEvent): void {
    if (e.type === 'part') {
      this.wrote.add(objectKey(this.shard, e.part.key));
      let m = this.durable.get(e.chunk);
      if (!m) this.durable.set(e.chunk, (m = new Map()));
      m.set(e.index, { part: e.part, startsNewKv: e.startsNewKv, last: e.last });
      this.advance();
    } else if (e.type === 'chunk') {
      this.chunkParts.set(e.chunk, e.parts);
      this.advance();
    }
  }

  /** Moves finished chunks and the safe prefix of the running chunk into the checkpoint. */
  private advance(): void {
    let changed = false;
    for (;;) {
      const c = this.done.length;
      const n = this.chunkParts.get(c);
      const m = this.durable.get(c) ?? new Map<number, DurablePart>();
      if (n === undefined) break;
      const parts: HollowPart[] = [];
      for (let i = 0; i < n && m.has(i); i++) parts.push(m.get(i)!.part);
      if (parts.length < n) break;
      this.done.push(parts);
      this.partial = undefined;
      this.durable.delete(c);
      changed = true;
      this.emit({ type: 'chunk', compactionId: this.cp.compactionId, chunk: c, inputs: this.inputs[c] ?? [], parts });
    }
    const m = this.durable.get(this.done.length);
    if (m) {
      const have = this.partial?.parts.length ?? 0;
      let best = have;
      // A boundary after part L-1 is safe once part L is durable and starts a new (k, v).
      for (let L = have + 1; m.has(L - 1); L++) {
        const next = m.get(L);
        if (next?.startsNewKv && m.get(L - 1)!.last) best = L;
      }
      if (best > have) {
        const parts: HollowPart[] = [];
        for (let i = 0; i < best; i++) parts.push(m.get(i)!.part);
        this.partial = { parts, boundary: m.get(best - 1)!.last! };
        changed = true;
      }
    }
    if (changed) this.schedule();
  }

  private recordedKeys(): Set<string> {
    const keys = new Set<string>();
    for (const run of this.done) for (const p of run) keys.add(objectKey(this.shard, p.key));
    for (const p of this.partial?.parts ?? []) keys.add(objectKey(this.shard, p.key));
    return keys;
  }

  private next(patch: Partial<Checkpoint>): Checkpoint {
    const written = new Set(this.cp.written);
    for (const k of this.recordedKeys()) written.add(k.slice(this.shard.length + 1));
    return {
      ...this.cp,
      seq: this.cp.seq + 1,
      leaseExpiresAtMs: Date.now() + this.leaseMs,
      chunks: this.done,
      partial: this.partial,
      written: [...written],
      ...patch,
    };
  }

  /** Asks for a write of the current state; coalesced with one in flight. */
  schedule(): void {
    if (this.lost) return;
    this.dirty = true;
    this.writing ??= this.drain().finally(() => {
      this.writing = undefined;
    });
  }

  private async drain(): Promise<void> {
    while (this.dirty && !this.lost) {
      this.dirty = false;
      await this.write(this.next({}));
    }
  }

  /** One conditional write; false when another owner's write is in place. */
  private async write(cp: Checkpoint): Promise<boolean> {
    try {
      const v = await this.store.write(cp, this.version);
      if (v === undefined) {
        this.lost = true;
        this.abort.abort(new CompactdError('exists', `compaction ${cp.compactionId} was taken over by another process (its lease had expired)`));
        return false;
      }
      this.version = v;
      this.cp = cp;
      this.lastWrite = performance.now();
      this.deps.metrics.checkpointWrites.inc();
      return true;
    } catch (err) {
      // The lease is renewed by the next write; the job goes on.
      this.log.warn({ err: CompactdError.from(err).message, key: this.store.key }, 'checkpoint write failed');
      return false;
    }
  }

  private async settle(): Promise<void> {
    clearInterval(this.renewTimer);
    while (this.writing) await this.writing;
  }

  /** Records the answer; the checkpoint stays for the retention, then goes. */
  async finish(response: CompactResponse): Promise<void> {
    await this.settle();
    if (this.lost) return;
    this.done = response.output ? runsOf(response.output) : [];
    this.partial = undefined;
    const ok = await this.write(this.next({ state: 'done', response, finishedAtMs: Date.now(), leaseExpiresAtMs: 0 }));
    if (!ok) return;
    const { cp, store } = this;
    const timer = setTimeout(() => {
      void (async () => {
        const now = await store.read();
        if (now && now.cp.owner === cp.owner && now.cp.epoch === cp.epoch && now.cp.state === 'done') await store.delete();
      })().catch(() => {});
    }, this.deps.options.checkpointRetentionSeconds * 1000);
    timer.unref();
  }

  /** Keeps the checkpoint and what it records, releases the lease, deletes the rest. */
  async fail(): Promise<void> {
    await this.settle();
    if (!this.lost) await this.write(this.next({ state: 'failed', leaseExpiresAtMs: 0 }));
    const recorded = this.lost ? new Set<string>() : this.recordedKeys();
    await this.deleteKeys([...this.wrote].filter((k) => !recorded.has(k)));
  }

  /** Cancelled by id: deletes every part any attempt recorded or this one wrote, and the checkpoint. */
  async discard(): Promise<void> {
    await this.settle();
    const keys = new Set(this.wrote);
    for (const k of this.cp.written) keys.add(objectKey(this.shard, k));
    for (const k of this.recordedKeys()) keys.add(k);
    await this.deleteKeys([...keys]);
    if (!this.lost) await this.store.delete().catch((err: unknown) => this.log.warn({ err: CompactdError.from(err).message }, 'could not delete checkpoint'));
  }

  private async deleteKeys(keys: string[]): Promise<void> {
    const results = await Promise.allSettled(keys.map((k) => this.deps.blob.delete(k)));
    const failed = results.filter((r) => r.status === 'rejected').length;
    if (failed > 0) this.log.warn({ failed, parts: keys.length }, 'could not delete every part of a stopped compaction');
  }

  stop(): void {
    clearInterval(this.renewTimer);
  }
}
