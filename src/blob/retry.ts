/**
 * Retries with exponential backoff and jitter, and `RetryingBlob`, which applies them to any
 * store. Only errors a retry can cure are retried (by default CompactdError 'unavailable'); the
 * rest surface at once. Giving up yields 'unavailable' whose `determinate` is true only when no
 * attempt may have taken effect.
 */
import { CompactdError } from '../model/errors.js';
import type { Blob, BlobData, BlobMeta, BlobOptions, Versioned, WriteCondition } from './blob.js';
import { compareKeys, sleep } from './util.js';

export interface RetryPolicy {
  /** Backoff before the second attempt. */
  readonly initialBackoffMs: number;
  /** Growth factor of the backoff per attempt. */
  readonly multiplier: number;
  /** Largest backoff before jitter. */
  readonly maxBackoffMs: number;
  /** Relative jitter: each backoff is scaled by a uniform factor in [1 - jitter, 1 + jitter]. */
  readonly jitter: number;
  /** Most attempts in total (first try included). */
  readonly maxAttempts: number;
  /** No new attempt starts when it would begin later than this after the first one. */
  readonly maxElapsedMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = Object.freeze({
  initialBackoffMs: 4, // a lost packet or a busy server usually clears within milliseconds
  multiplier: 2, // doubling reaches the cap in ~12 steps
  maxBackoffMs: 16_000, // past this, waiting longer buys nothing over a fresh attempt
  jitter: 0.1, // de-synchronises retries of many concurrent requests
  maxAttempts: Number.POSITIVE_INFINITY, // bounded by time, not count
  maxElapsedMs: 30_000, // an outage longer than this is reported as 'unavailable'
});

/** Merges overrides into the default policy and validates the result. */
export function retryPolicy(overrides: Partial<RetryPolicy> = {}): RetryPolicy {
  const p = { ...DEFAULT_RETRY_POLICY, ...stripUndefined(overrides) };
  const bad = (what: string) => new CompactdError('invalid', `bad retry policy: ${what}`);
  if (!(p.initialBackoffMs >= 0)) throw bad('initialBackoffMs must be >= 0');
  if (!(p.multiplier >= 1)) throw bad('multiplier must be >= 1');
  if (!(p.maxBackoffMs >= p.initialBackoffMs)) throw bad('maxBackoffMs must be >= initialBackoffMs');
  if (!(p.jitter >= 0 && p.jitter < 1)) throw bad('jitter must be in [0, 1)');
  if (!(p.maxAttempts >= 1)) throw bad('maxAttempts must be >= 1');
  if (!(p.maxElapsedMs >= 0)) throw bad('maxElapsedMs must be >= 0');
  return Object.freeze(p);
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * The backoff before attempt `attempt + 1` (so `attempt` >= 1 is the attempt that just failed):
 * `min(maxBackoffMs, initialBackoffMs * multiplier^(attempt-1))`, scaled by a jitter factor drawn
 * from `random` (uniform in [0, 1)).
 */
export function backoffMs(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const base = Math.min(policy.maxBackoffMs, policy.initialBackoffMs * policy.multiplier ** (attempt - 1));
  return base * (1 + policy.jitter * (2 * random() - 1));
}

/** One retry about to happen, as `RetryOptions.onRetry` is told it. */
export interface RetryInfo {
  readonly attempt: number;
  readonly delayMs: number;
  readonly error: unknown;
  /** The operation, e.g. `get parts/s1/p1` (absent when the caller named none). */
  readonly what?: string;
}

export interface RetryOptions {
  readonly policy?: RetryPolicy;
  readonly signal?: AbortSignal;
  /** Which failures to retry; default: CompactdError of kind 'unavailable'. */
  readonly retryable?: (err: unknown) => boolean;
  /** Names the operation in the give-up message, e.g. `GET s1/p1`. */
  readonly what?: string;
  /**
   * Called before each backoff with the attempt that failed, the wait before the next one, the
   * error, and `what` (the operation named above): the caller logs and counts retries, so the
   * store layer needs no logger of its own.
   */
  readonly onRetry?: (info: RetryInfo) => void;
  /** Source of jitter, uniform in [0, 1) (default Math.random). */
  readonly random?: () => number;
  /** Clock in ms for the elapsed budget (default performance.now). */
  readonly now?: () => number;
}

/**
 * Whether a failure says for certain that the operation had no effect. Anything that is not a
 * CompactdError (a bug, an unclassified SDK or fs error) may have happened.
 */
export function isDeterminate(err: unknown): boolean {
  return err instanceof CompactdError && err.determinate;
}

/** The default retry predicate: transient store failures. */
export function isUnavailable(err: unknown): boolean {
  return err instanceof CompactdError && err.kind === 'unavailable';
}

/**
 * Tracks the attempts of one operation. `failed(err)` either waits out the backoff (resolving
 * when the next attempt may start) or throws the error to surface. Exposed separately from
 * `retry` for loops that resume rather than restart (RetryingBlob.list).
 */
export class RetryState {
  private readonly policy: RetryPolicy;
  private readonly start: number;
  private attempts = 0;
  private allDeterminate = true;

  constructor(private readonly opts: RetryOptions = {}) {
    this.policy = opts.policy ?? DEFAULT_RETRY_POLICY;
    this.start = this.now();
  }

  private now(): number {
    return this.opts.now ? this.opts.now() : performance.now();
  }

  /** Number of attempts that have failed so far. */
  get failures(): number {
    return this.attempts;
  }

  /** Records a failed attempt; resolves after the backoff, or throws what the caller should see. */
  async failed(err: unknown): Promise<void> {
    const { signal } = this.opts;
    this.attempts++;
    if (err instanceof CompactdError && err.kind === 'cancelled') throw this.withHistory(err);
    this.checkSignal(err);
    const determinate = isDeterminate(err);
    const retryable = (this.opts.retryable ?? isUnavailable)(err);
    if (!retryable) throw this.withHistory(err);
    this.allDeterminate &&= determinate;
    const delayMs = backoffMs(this.policy, this.attempts, this.opts.random);
    const elapsed = this.now() - this.start;
    if (this.attempts >= this.policy.maxAttempts || elapsed + delayMs > this.policy.maxElapsedMs) {
      const what = this.opts.what ? `${this.opts.what}: ` : '';
      let msg = err instanceof Error ? err.message : String(err);
      if (what && msg.startsWith(what)) msg = msg.slice(what.length);
      throw new CompactdError(
        'unavailable',
        `${what}gave up after ${this.attempts} attempts in ${Math.round(elapsed)} ms: ${msg}`,
        { cause: err, determinate: this.allDeterminate },
      );
    }
    this.opts.onRetry?.({ attempt: this.attempts, delayMs, error: err, ...(this.opts.what !== undefined ? { what: this.opts.what } : {}) });
    try {
      await sleep(delayMs, signal);
    } catch (e) {
      throw this.withHistory(e);
    }
  }

  /** Throws 'cancelled' once the signal has aborted, keeping what is known about earlier attempts. */
  checkSignal(cause?: unknown): void {
    const { signal } = this.opts;
    if (!signal?.aborted) return;
    // No cause: the signal stopped the operation before its first attempt, so nothing happened.
    const determinate = cause === undefined || isDeterminate(cause);
    throw this.withHistory(
      new CompactdError('cancelled', `${this.opts.what ? `${this.opts.what}: ` : ''}cancelled`, {
        cause: cause ?? signal.reason,
        determinate,
      }),
    );
  }

  /** A final error must not claim determinacy when an earlier attempt may have taken effect. */
  private withHistory(err: unknown): unknown {
    if (this.allDeterminate || !(err instanceof CompactdError) || !err.determinate) return err;
    return new CompactdError(err.kind, err.message, { cause: err.cause ?? err, determinate: false });
  }
}

/**
 * Runs `op` until it succeeds, a non-retryable error occurs, or the policy gives up (then throws
 * 'unavailable'). Aborting `signal` stops at once with 'cancelled'. `op` receives the attempt
 * number, starting at 1.
 */
export async function retry<T>(op: (attempt: number) => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const state = new RetryState(opts);
  for (;;) {
    state.checkSignal();
    try {
      return await op(state.failures + 1);
    } catch (err) {
      await state.failed(err);
    }
  }
}

/**
 * Retries a store's 'unavailable' failures (what FaultyBlob injects and what a flaky network
 * yields), so callers see a store that only fails when an outage outlasts the policy. A `list`
 * that fails part-way resumes after the last key it yielded. A retried `delete` whose first
 * attempt took effect reports undefined.
 */
export class RetryingBlob implements Blob {
  constructor(
    private readonly inner: Blob,
    private readonly opts: Omit<RetryOptions, 'signal' | 'what'> = {},
  ) {}

  private run<T>(what: string, signal: AbortSignal | undefined, op: () => Promise<T>): Promise<T> {
    return retry(op, { ...this.opts, signal, what });
  }

  get(key: string, opts?: BlobOptions): Promise<Uint8Array | undefined> {
    return this.run(`get ${key}`, opts?.signal, () => this.inner.get(key, opts));
  }

  set(key: string, data: BlobData, opts?: BlobOptions): Promise<void> {
    return this.run(`set ${key}`, opts?.signal, () => this.inner.set(key, data, opts));
  }

  getVersioned(key: string, opts?: BlobOptions): Promise<Versioned | undefined> {
    return this.run(`get ${key}`, opts?.signal, () => this.inner.getVersioned(key, opts));
  }

  /**
   * A retried conditional write whose first attempt took effect reports that its condition
   * failed: callers that must know compare what the key now holds with what they wrote.
   */
  setIf(key: string, data: Uint8Array, cond: WriteCondition, opts?: BlobOptions): Promise<string | undefined> {
    return this.run(`set ${key}`, opts?.signal, () => this.inner.setIf(key, data, cond, opts));
  }

  copy(from: string, to: string, opts?: BlobOptions): Promise<boolean> {
    return this.run(`copy ${from}`, opts?.signal, () => this.inner.copy(from, to, opts));
  }

  delete(key: string, opts?: BlobOptions): Promise<number | undefined> {
    return this.run(`delete ${key}`, opts?.signal, () => this.inner.delete(key, opts));
  }

  head(key: string, opts?: BlobOptions): Promise<BlobMeta | undefined> {
    return this.run(`head ${key}`, opts?.signal, () => this.inner.head(key, opts));
  }

  async *list(prefix: string, opts?: BlobOptions): AsyncIterable<BlobMeta> {
    const fresh = () => new RetryState({ ...this.opts, signal: opts?.signal, what: `list ${prefix}` });
    let state = fresh();
    let last: string | undefined;
    for (;;) {
      state.checkSignal();
      try {
        for await (const meta of this.inner.list(prefix, opts)) {
          if (last !== undefined && compareKeys(meta.key, last) <= 0) continue;
          last = meta.key;
          // Progress resets the budget: a long listing may ride out several short outages.
          if (state.failures > 0) state = fresh();
          yield meta;
        }
        return;
      } catch (err) {
        await state.failed(err);
      }
    }
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
