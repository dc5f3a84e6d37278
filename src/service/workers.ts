/**
 * A small pool of worker threads that run compactions, so the event loop that answers gRPC,
 * health checks and /metrics never does CPU work. A worker may hold several compactions at once
 * (the concurrency limit may exceed the pool size): their blob I/O then overlaps. A job goes to
 * the worker with the fewest jobs.
 *
 * A worker that dies fails its in-flight jobs with INTERNAL and is replaced. Aborting a job posts
 * the reason to its worker, whose engine stops at the next part boundary, deletes what it wrote
 * and answers; a worker that does not answer within `abortGraceMs` is terminated and replaced
 * (its job's outputs may then remain, which is logged).
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';
import type { ValidCompactRequest } from '../model/validate.js';
import { CompactdError, shuttingDown } from '../model/errors.js';
import type { ResumePoint } from '../compact/resume.js';
import type { CompactResult, EngineConfig, EngineEvent, EngineLog } from '../compact/types.js';
import type { FaultSpec } from '../config/faults.js';
import { DEFAULT_BLOB_RETRY_SECONDS } from '../config/options.js';
import type { BlobObserver } from '../obs/metrics.js';
import type { Logger } from '../obs/log.js';
import type { BlobRetryEvent } from './store.js';
import { abortCode, deserializeError, serializeError, type FromWorker, type ToWorker, type WorkerInit } from './worker-protocol.js';

/** After an abort, how long a worker may take to clean up before it is terminated. */
export const DEFAULT_ABORT_GRACE_MS = 30_000;
/** How long a worker may take to start (load the engine, open the blob store). */
const START_TIMEOUT_MS = 60_000;
/** Pause before retrying a replacement worker that failed to start (the store may be down). */
const RESTART_DELAY_MS = 1_000;

export interface WorkerPoolOptions {
  readonly size: number;
  readonly blobUrl: string;
  readonly log: Logger;
  /** Receives every blob operation of every worker. */
  readonly blobObserver?: BlobObserver;
  /** Called for every blob retry of every worker. */
  readonly onBlobRetry?: (event: BlobRetryEvent) => void;
  /** Blob retry budget in seconds. */
  readonly blobRetrySeconds?: number;
  /** Testing only: faults the workers inject into their stores. */
  readonly blobFaults?: FaultSpec;
  /** Called when a crashed worker is replaced. */
  readonly onRestart?: () => void;
  readonly abortGraceMs?: number;
}

export interface RunOptions {
  readonly signal?: AbortSignal;
  /** Receives the engine's log lines for this job. */
  readonly log?: EngineLog;
  /** Runs the compaction as a job (docs/jobs.md): output prefix and resume point. */
  readonly job?: { readonly prefix: string; readonly resume?: ResumePoint; readonly durable: boolean };
  /** Receives the engine's events (jobs only). */
  readonly onEvent?: (e: EngineEvent) => void;
}

interface Job {
  readonly id: number;
  readonly resolve: (r: CompactResult) => void;
  readonly reject: (e: CompactdError) => void;
  readonly log?: EngineLog;
  readonly onEvent?: (e: EngineEvent) => void;
  cleanup: () => void;
}

/** One place in the pool: the worker thread currently in it (replaced when it dies) and its jobs. */
interface WorkerSlot {
  worker: Worker;
  readonly jobs: Map<number, Job>;
  /** Resolves once the worker has opened its blob store; rejects when it could not. */
  ready: Promise<void>;
  /** True once the current worker reported ready: only such workers are replaced when they die. */
  started: boolean;
}

/**
 * How to start a worker: the compiled `worker-main.js` next to this module, or, when running
 * from TypeScript sources (tsx, vitest), `worker-main.ts` behind tsx's loader. The loader must
 * be registered inside the worker before the entry is imported, hence the small eval bootstrap.
 */
function workerEntry(): { filename: string | URL; options: WorkerOptions } {
  const here = import.meta.url;
  if (!here.endsWith('.ts')) return { filename: new URL('./worker-main.js', here), options: {} };
  const target = new URL('./worker-main.ts', here).href;
  const tsxApi = pathToFileURL(createRequire(here).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
  const code = `import(${JSON.stringify(tsxApi)}).then((m) => { m.register(); return import(${JSON.stringify(target)}); })`;
  return { filename: code, options: { eval: true } };
}

export class WorkerPool {
  private readonly slots: WorkerSlot[] = [];
  private nextId = 1;
  private closed = false;
  private poolStarted = false;
  private readonly entry = workerEntry();
  private spawned = 0;

  constructor(private readonly opts: WorkerPoolOptions) {}

  /** Starts every worker and waits until each has opened its blob store; throws if one cannot. */
  async start(): Promise<void> {
    for (let i = 0; i < this.opts.size; i++) {
      const slot = { jobs: new Map() } as WorkerSlot;
      this.spawnInto(slot);
      this.slots.push(slot);
    }
    try {
      await Promise.all(this.slots.map((s) => s.ready));
      this.poolStarted = true;
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /** Jobs running on the pool now. */
  get active(): number {
    return this.slots.reduce((n, s) => n + s.jobs.size, 0);
  }

  /**
   * Runs one compaction on the least loaded worker. Resolves with the engine's result; rejects
   * with a CompactdError: the engine's, the signal's reason when aborted, or INTERNAL when the
   * worker died.
   */
  run(req: ValidCompactRequest, config: EngineConfig, opts: RunOptions = {}): Promise<CompactResult> {
    if (this.closed) return Promise.reject(shuttingDown());
    const { signal } = opts;
    if (signal?.aborted) return Promise.reject(reasonOf(signal));
    // Prefer workers that are up; a job posted to one still starting waits in its message queue.
    const up = this.slots.filter((s) => s.started);
    const slot = (up.length > 0 ? up : this.slots).reduce((a, b) => (b.jobs.size < a.jobs.size ? b : a));
    const id = this.nextId++;
    const abortFlag = new SharedArrayBuffer(4);
    return new Promise<CompactResult>((resolve, reject) => {
      let killTimer: NodeJS.Timeout | undefined;
      const onAbort = () => {
        const reason = reasonOf(signal!);
        Atomics.store(new Int32Array(abortFlag), 0, abortCode(reason.kind));
        post(slot.worker, { type: 'abort', id, reason: serializeError(reason) });
        killTimer = setTimeout(() => {
          this.opts.log.error({ jobId: id }, 'worker did not stop after abort; terminating it');
          this.kill(slot, new CompactdError(reason.kind, reason.message));
        }, this.opts.abortGraceMs ?? DEFAULT_ABORT_GRACE_MS);
        killTimer.unref();
      };
      const job: Job = {
        id,
        resolve,
        reject,
        log: opts.log,
        onEvent: opts.onEvent,
        cleanup: () => {
          signal?.removeEventListener('abort', onAbort);
          if (killTimer) clearTimeout(killTimer);
        },
      };
      slot.jobs.set(id, job);
      signal?.addEventListener('abort', onAbort, { once: true });
      post(slot.worker, { type: 'compact', id, req, config, abortFlag, job: opts.job });
    });
  }

  /**
   * Stops every worker: asks each to close its blob store and exit, terminating those that do
   * not within a second. Jobs still running fail with UNAVAILABLE.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(
      this.slots.map(async (s) => {
        this.failAll(s, shuttingDown());
        // threadId is -1 once a worker has exited: no 'exit' event will come.
        if (s.worker.threadId === -1) return;
        const exited = new Promise<void>((r) => s.worker.once('exit', () => r()));
        post(s.worker, { type: 'close' });
        const timer = setTimeout(() => void s.worker.terminate(), 1000);
        await exited;
        clearTimeout(timer);
      }),
    );
  }

  /** Starts a worker for `slot`. */
  private spawnInto(slot: WorkerSlot): void {
    const init: WorkerInit = {
      blobUrl: this.opts.blobUrl,
      logLevel: this.opts.log.level,
      retrySeconds: this.opts.blobRetrySeconds ?? DEFAULT_BLOB_RETRY_SECONDS,
      faults: this.opts.blobFaults,
      faultSeedOffset: this.spawned++ + 1,
    };
    const worker = new Worker(this.entry.filename, { ...this.entry.options, workerData: init });
    slot.worker = worker;
    slot.started = false;
    let settle: (err?: CompactdError) => void = () => {};
    slot.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        settle(new CompactdError('internal', 'worker thread did not start in time'));
        void worker.terminate();
      }, START_TIMEOUT_MS);
      timer.unref();
      settle = (err) => {
        settle = () => {};
        clearTimeout(timer);
        if (err) {
          reject(err);
        } else {
          slot.started = true;
          resolve();
        }
      };
    });
    // A failed start is reported through start() or, for a replacement, through the log.
    slot.ready.catch(() => {});
    worker.on('message', (msg: FromWorker) => {
      if (msg.type === 'ready') settle();
      else if (msg.type === 'fatal') settle(deserializeError(msg.error));
      else this.onMessage(slot, msg);
    });
    const died = (err: CompactdError) => {
      if (slot.worker !== worker) return;
      const wasStarted = slot.started;
      settle(err);
      this.failAll(slot, err);
      if (this.closed) return;
      this.opts.log.error({ err: err.cause ?? err }, wasStarted ? 'worker thread died; replacing it' : 'worker thread failed to start');
      // During start() a failure fails start() itself instead of being retried.
      if (!this.poolStarted) return;
      this.opts.onRestart?.();
      // A worker that could not even start is retried after a pause, not in a tight loop.
      const delay = wasStarted ? 0 : RESTART_DELAY_MS;
      setTimeout(() => {
        if (!this.closed && slot.worker === worker) this.spawnInto(slot);
      }, delay).unref();
    };
    worker.on('error', (err) => died(new CompactdError('internal', 'worker thread crashed', { cause: err })));
    worker.on('exit', (code) => died(new CompactdError('internal', `worker thread exited with code ${code}`)));
  }


  /** Terminates the slot's worker (its 'exit' then replaces it) after failing its jobs with `err`. */
  private kill(slot: WorkerSlot, err: CompactdError): void {
    this.failAll(slot, err);
    void slot.worker.terminate();
  }

  private failAll(slot: WorkerSlot, err: CompactdError): void {
    for (const job of slot.jobs.values()) {
      job.cleanup();
      job.reject(err);
    }
    slot.jobs.clear();
  }

  private onMessage(slot: WorkerSlot, msg: FromWorker): void {
    switch (msg.type) {
      case 'blob':
        this.opts.blobObserver?.observe(msg.op, msg.seconds, msg.ok, msg.bytes);
        return;
      case 'retry':
        this.opts.onBlobRetry?.(msg.event);
        return;
      case 'log':
        slot.jobs.get(msg.id)?.log?.[msg.level](msg.obj, msg.msg);
        return;
      case 'event':
        slot.jobs.get(msg.id)?.onEvent?.(msg.event);
        return;
      case 'done':
      case 'failed': {
        const job = slot.jobs.get(msg.id);
        if (!job) return;
        slot.jobs.delete(msg.id);
        job.cleanup();
        if (msg.type === 'done') job.resolve(msg.result);
        else job.reject(deserializeError(msg.error));
        return;
      }
    }
  }
}

function post(worker: Worker, msg: ToWorker): void {
  worker.postMessage(msg);
}

function reasonOf(signal: AbortSignal): CompactdError {
  const r: unknown = signal.reason;
  return r instanceof CompactdError ? r : new CompactdError('cancelled', 'operation cancelled', { cause: r });
}
