/**
 * A decorator that reports every store operation to an observer (the metrics module adapts it to
 * Prometheus histograms and counters). It changes nothing about the operations themselves.
 */
import type { Blob, BlobData, BlobMeta, BlobOptions, Versioned, WriteCondition } from './blob.js';
import { dataBytes } from './util.js';

export type BlobOp = 'get' | 'set' | 'delete' | 'head' | 'list';

export interface BlobObserver {
  /**
   * One finished operation: its duration, whether it succeeded, and the payload bytes moved
   * (get: bytes read, 0 when missing; set: bytes written; delete, head, list: 0).
   */
  observe(op: BlobOp, seconds: number, ok: boolean, bytes: number): void;
}

export class MeteredBlob implements Blob {
  constructor(
    private readonly inner: Blob,
    private readonly observer: BlobObserver,
    /** Clock in ms (a test passes its own to pin the durations reported). */
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Metrics must never change an operation's outcome: an observer failure is dropped. */
  private observe(op: BlobOp, seconds: number, ok: boolean, bytes: number): void {
    try {
      this.observer.observe(op, seconds, ok, bytes);
    } catch {
      // ignored on purpose (see above)
    }
  }

  private async timed<T>(op: BlobOp, run: () => Promise<T>, bytes: (result: T) => number): Promise<T> {
    const start = this.now();
    try {
      const result = await run();
      this.observe(op, (this.now() - start) / 1000, true, bytes(result));
      return result;
    } catch (err) {
      this.observe(op, (this.now() - start) / 1000, false, 0);
      throw err;
    }
  }

  get(key: string, opts?: BlobOptions): Promise<Uint8Array | undefined> {
    return this.timed('get', () => this.inner.get(key, opts), (r) => r?.length ?? 0);
  }

  set(key: string, data: BlobData, opts?: BlobOptions): Promise<void> {
    return this.timed('set', () => this.inner.set(key, data, opts), () => dataBytes(data));
  }

  getVersioned(key: string, opts?: BlobOptions): Promise<Versioned | undefined> {
    return this.timed('get', () => this.inner.getVersioned(key, opts), (r) => r?.data.length ?? 0);
  }

  setIf(key: string, data: Uint8Array, cond: WriteCondition, opts?: BlobOptions): Promise<string | undefined> {
    return this.timed('set', () => this.inner.setIf(key, data, cond, opts), (r) => (r === undefined ? 0 : data.length));
  }

  /** Counted as a write of no payload: the bytes never pass through this process. */
  copy(from: string, to: string, opts?: BlobOptions): Promise<boolean> {
    return this.timed('set', () => this.inner.copy(from, to, opts), () => 0);
  }

  delete(key: string, opts?: BlobOptions): Promise<number | undefined> {
    return this.timed('delete', () => this.inner.delete(key, opts), () => 0);
  }

  head(key: string, opts?: BlobOptions): Promise<BlobMeta | undefined> {
    return this.timed('head', () => this.inner.head(key, opts), () => 0);
  }

  /**
   * Observed once per listing, when it ends (exhausted, abandoned by the consumer, or failed).
   * The time counts only waits on the store, not the consumer's work between items.
   */
  async *list(prefix: string, opts?: BlobOptions): AsyncIterable<BlobMeta> {
    let seconds = 0;
    let outcome: 'ok' | 'failed' | 'abandoned' = 'abandoned';
    const it = this.inner.list(prefix, opts)[Symbol.asyncIterator]();
    try {
      for (;;) {
        const start = this.now();
        let step: IteratorResult<BlobMeta>;
        try {
          step = await it.next();
        } catch (err) {
          outcome = 'failed';
          throw err;
        } finally {
          seconds += (this.now() - start) / 1000;
        }
        if (step.done) {
          outcome = 'ok';
          return;
        }
        yield step.value;
      }
    } finally {
      // A consumer that stopped early saw no failure; release the inner listing's resources.
      if (outcome === 'abandoned') await it.return?.().catch(() => {});
      this.observe('list', seconds, outcome !== 'failed', 0);
    }
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
