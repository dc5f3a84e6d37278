/**
 * A decorator for tests that injects failures and latency, deterministically from a seed, so
 * the engine's handling of a flaky or dead store can be exercised without a network.
 */
import { CompactdError } from '../model/errors.js';
import type { Blob, BlobData, BlobMeta, BlobOptions, Versioned, WriteCondition } from './blob.js';
import type { BlobOp } from './metered.js';
import { sleep, throwIfAborted } from './util.js';
import { seededRandom } from '../model/random.js';

export interface FaultyBlobOptions {
  /** Probability in [0, 1] that a matching operation fails (default 0). */
  readonly errorRate?: number;
  /** Added delay before every operation, matching or not (default 0). */
  readonly latencyMs?: number;
  /** Extra delay drawn uniformly from [0, latencyJitterMs) per operation (default 0). */
  readonly latencyJitterMs?: number;
  /** Seed of the random sequence (default 1): same seed and call order, same faults. */
  readonly seed?: number;
  /** Operations that may fail (default all). */
  readonly ops?: readonly BlobOp[];
  /** Every matching operation fails (errorRate is ignored). */
  readonly permanent?: boolean;
  /** Start down: every operation fails, whatever `ops` says. Toggle with the `down` property. */
  readonly down?: boolean;
  /**
   * Whether injected failures are determinate (default true: the operation is not performed).
   * When false, a failing set or delete is performed half the time before the error is thrown,
   * as when a reply is lost after the store applied the request.
   */
  readonly determinate?: boolean;
  /** Keys (for list: prefixes) whose matching operations always fail. */
  readonly failKeys?: (key: string) => boolean;
}

export class FaultyBlob implements Blob {
  /** When true every call fails with a determinate 'unavailable' before reaching the inner store. */
  down: boolean;
  /** Operations started, and failures injected, so far. */
  calls = 0;
  injected = 0;
  private readonly random: () => number;
  private readonly ops: ReadonlySet<BlobOp>;

  constructor(
    private readonly inner: Blob,
    private readonly opts: FaultyBlobOptions = {},
  ) {
    const rate = opts.errorRate ?? 0;
    if (!(rate >= 0 && rate <= 1)) throw new CompactdError('invalid', 'FaultyBlob: errorRate must be in [0, 1]');
    if (!((opts.latencyMs ?? 0) >= 0 && (opts.latencyJitterMs ?? 0) >= 0)) {
      throw new CompactdError('invalid', 'FaultyBlob: latencies must be >= 0');
    }
    this.down = opts.down ?? false;
    this.random = seededRandom(opts.seed ?? 1);
    this.ops = new Set(opts.ops ?? ['get', 'set', 'delete', 'head', 'list']);
  }

  /**
   * Waits the injected latency, then decides the call's fate: 'pass', 'fail' (before the inner
   * call) or 'apply-then-fail'. Draws the same number of random values on every path so one
   * decision never shifts the next.
   */
  private async enter(op: BlobOp, key: string, signal: AbortSignal | undefined): Promise<'pass' | 'fail' | 'apply-then-fail'> {
    this.calls++;
    const rLatency = this.random();
    const rError = this.random();
    const rApply = this.random();
    const delay = (this.opts.latencyMs ?? 0) + rLatency * (this.opts.latencyJitterMs ?? 0);
    if (delay > 0) await sleep(delay, signal);
    throwIfAborted(signal);
    if (this.down) {
      this.injected++;
      return 'fail';
    }
    if (!this.ops.has(op)) return 'pass';
    const keyFails = this.opts.failKeys?.(key) ?? false;
    const fails = keyFails || this.opts.permanent === true || rError < (this.opts.errorRate ?? 0);
    if (!fails) return 'pass';
    this.injected++;
    const mutates = op === 'set' || op === 'delete';
    return this.opts.determinate === false && mutates && rApply < 0.5 ? 'apply-then-fail' : 'fail';
  }

  private error(op: BlobOp, key: string): CompactdError {
    const determinate = this.down || this.opts.determinate !== false;
    return new CompactdError('unavailable', `injected ${op} failure for ${JSON.stringify(key)}${this.down ? ' (store down)' : ''}`, {
      determinate,
    });
  }

  private async guard<T>(op: BlobOp, key: string, signal: AbortSignal | undefined, run: () => Promise<T>): Promise<T> {
    const fate = await this.enter(op, key, signal);
    if (fate === 'fail') throw this.error(op, key);
    const result = await run();
    if (fate === 'apply-then-fail') throw this.error(op, key);
    return result;
  }

  get(key: string, opts?: BlobOptions): Promise<Uint8Array | undefined> {
    return this.guard('get', key, opts?.signal, () => this.inner.get(key, opts));
  }

  set(key: string, data: BlobData, opts?: BlobOptions): Promise<void> {
    return this.guard('set', key, opts?.signal, () => this.inner.set(key, data, opts));
  }

  getVersioned(key: string, opts?: BlobOptions): Promise<Versioned | undefined> {
    return this.guard('get', key, opts?.signal, () => this.inner.getVersioned(key, opts));
  }

  setIf(key: string, data: Uint8Array, cond: WriteCondition, opts?: BlobOptions): Promise<string | undefined> {
    return this.guard('set', key, opts?.signal, () => this.inner.setIf(key, data, cond, opts));
  }

  copy(from: string, to: string, opts?: BlobOptions): Promise<boolean> {
    return this.guard('set', to, opts?.signal, () => this.inner.copy(from, to, opts));
  }

  delete(key: string, opts?: BlobOptions): Promise<number | undefined> {
    return this.guard('delete', key, opts?.signal, () => this.inner.delete(key, opts));
  }

  head(key: string, opts?: BlobOptions): Promise<BlobMeta | undefined> {
    return this.guard('head', key, opts?.signal, () => this.inner.head(key, opts));
  }

  /** Failures are injected when the listing starts, never part-way. */
  async *list(prefix: string, opts?: BlobOptions): AsyncIterable<BlobMeta> {
    const fate = await this.enter('list', prefix, opts?.signal);
    if (fate !== 'pass') throw this.error('list', prefix);
    yield* this.inner.list(prefix, opts);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

