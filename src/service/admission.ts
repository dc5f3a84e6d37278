/**
 * Admission and scheduling of compactions (docs/contract.md, "Admission"): the skip
 * heuristics, the enabled switch, a bounded queue that refuses at once when full, and a
 * concurrency limit that can be changed while requests wait. Decisions read the live
 * RuntimeConfig on every call, so Admin.UpdateConfig takes effect for the next request (and a
 * larger concurrency limit releases waiting requests at once).
 */
import { batchParts, partBytes, type CompactRequest } from '../model/batch.js';
import { CompactdError } from '../model/errors.js';
import type { RuntimeConfig } from '../config/options.js';
import type { Metrics } from '../obs/metrics.js';

const MiB = 1024 * 1024;

/** The numbers the skip heuristics look at. */
export interface RequestSize {
  readonly inputs: number;
  readonly parts: number;
  readonly updates: number;
  readonly bytes: number;
}

/** Inputs, parts, summed `len` and summed encoded bytes of a request. */
export function requestSize(req: CompactRequest): RequestSize {
  let parts = 0;
  let updates = 0;
  let bytes = 0;
  for (const b of req.inputs) {
    parts += batchParts(b);
    updates += b.len;
    for (const r of b.runs) for (const p of r.parts) bytes += partBytes(p);
  }
  return { inputs: req.inputs.length, parts, updates, bytes };
}

/**
 * The one reading of the skip heuristics: undefined when the request is worth compacting
 * (`force`, or at least `heuristicMinInputs` inputs, or at least `heuristicMinParts` parts, or at
 * least `heuristicMinUpdates` updates in total); otherwise why it is skipped, in words built from
 * the same thresholds, for the SKIPPED answer's `reason` and the log:
 * `2 inputs < 8, 2 parts < 8, 3 updates < 1024; set "force": true to compact anyway`.
 */
export function skipReason(force: boolean, size: RequestSize, cfg: RuntimeConfig): string | undefined {
  if (force) return undefined;
  const checks: readonly [number, number, string][] = [
    [size.inputs, cfg.heuristicMinInputs, 'inputs'],
    [size.parts, cfg.heuristicMinParts, 'parts'],
    [size.updates, cfg.heuristicMinUpdates, 'updates'],
  ];
  if (checks.some(([n, min]) => n >= min)) return undefined;
  return `${checks.map(([n, min, what]) => `${n} ${what} < ${min}`).join(', ')}; set "force": true to compact anyway`;
}

/** True when the request is worth compacting (skipReason finds no reason to skip). */
export function shouldCompact(force: boolean, size: RequestSize, cfg: RuntimeConfig): boolean {
  return skipReason(force, size, cfg) === undefined;
}

/** The timeout of one compaction in ms: max(minimum timeout, 1 s per MiB of input). */
export function compactionTimeoutMs(inputBytes: number, minimumTimeoutSeconds: number): number {
  return Math.ceil(1000 * Math.max(minimumTimeoutSeconds, inputBytes / MiB));
}

/** Permission to run one compaction now, held until released. `release` is idempotent. */
export interface AdmissionPermit {
  /** Seconds the request waited for this slot. */
  readonly queuedSeconds: number;
  /** True when the request could not start at once and waited in the queue. */
  readonly waited: boolean;
  release(): void;
}

interface Waiter {
  readonly enqueuedAt: number;
  readonly grant: (slot: AdmissionPermit) => void;
  readonly reject: (err: unknown) => void;
}

/**
 * The queue and semaphore. At most `concurrencyLimit` slots are held at once; up to `queueSize`
 * more requests wait for one in FIFO order; beyond that `acquire` fails with `exhausted` at once.
 */
export class Admission {
  private running = 0;
  private readonly waiting: Waiter[] = [];

  constructor(
    private readonly config: () => RuntimeConfig,
    private readonly metrics?: Metrics,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Requests holding a slot. */
  get inFlight(): number {
    return this.running;
  }

  /** Requests waiting for a slot. */
  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Waits for a concurrency slot. Fails with `unavailable` ("compaction disabled") when
   * processing is disabled, with `exhausted` when the queue is full, and with the signal's
   * reason (a CompactdError when the caller set one; else `cancelled`) when `signal` aborts
   * while waiting; a request that gave up leaves the queue.
   */
  acquire(signal?: AbortSignal): Promise<AdmissionPermit> {
    const cfg = this.config();
    if (!cfg.enabled) {
      this.metrics?.disabled.inc();
      return Promise.reject(new CompactdError('unavailable', 'compaction disabled'));
    }
    if (signal?.aborted) return Promise.reject(abortError(signal));
    if (this.waiting.length === 0 && this.running < cfg.concurrencyLimit) {
      return Promise.resolve(this.take(this.now(), false));
    }
    if (this.waiting.length >= cfg.queueSize) {
      this.metrics?.dropped.inc();
      return Promise.reject(
        new CompactdError('exhausted', `compaction queue is full (${this.waiting.length} waiting, queue size ${cfg.queueSize})`),
      );
    }
    this.metrics?.concurrencyWaits.inc();
    return new Promise<AdmissionPermit>((resolve, reject) => {
      const onAbort = () => {
        const i = this.waiting.indexOf(waiter);
        if (i >= 0) {
          this.waiting.splice(i, 1);
          this.updateGauges();
        }
        reject(abortError(signal!));
      };
      const waiter: Waiter = {
        enqueuedAt: this.now(),
        grant: (slot) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(slot);
        },
        reject,
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
      this.updateGauges();
    });
  }

  /**
   * Starts waiting requests while slots are free; call after the concurrency limit was raised.
   * Lowering the limit never interrupts running work: slots are simply not handed out until
   * enough have been released.
   */
  pump(): void {
    const limit = this.config().concurrencyLimit;
    while (this.waiting.length > 0 && this.running < limit) {
      const w = this.waiting.shift()!;
      w.grant(this.take(w.enqueuedAt, true));
    }
    this.updateGauges();
  }

  /** Fails every waiting request with `err` (used when the server stops). */
  rejectWaiting(err: CompactdError): void {
    for (const w of this.waiting.splice(0)) w.reject(err);
    this.updateGauges();
  }

  private take(enqueuedAt: number, waited: boolean): AdmissionPermit {
    this.running++;
    // A request that never queued waited no time at all, not the instant between two clock reads.
    const queuedSeconds = waited ? Math.max(0, (this.now() - enqueuedAt) / 1000) : 0;
    this.metrics?.queuedSeconds.observe(queuedSeconds);
    this.updateGauges();
    let released = false;
    return {
      queuedSeconds,
      waited,
      release: () => {
        if (released) return;
        released = true;
        this.running--;
        this.pump();
      },
    };
  }

  private updateGauges(): void {
    this.metrics?.queueDepth.set(this.waiting.length);
    this.metrics?.inFlight.set(this.running);
  }
}

function abortError(signal: AbortSignal): CompactdError {
  const reason: unknown = signal.reason;
  if (reason instanceof CompactdError) return reason;
  return new CompactdError('cancelled', 'request cancelled while queued', { cause: reason });
}
