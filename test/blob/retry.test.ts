/**
 * The retry policy: backoff growth, jitter bounds, the cap, giving up with 'unavailable' (and
 * the right determinacy), surfacing non-retryable errors at once, and stopping on abort.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffMs, DEFAULT_RETRY_POLICY, retry, retryPolicy } from '../../src/blob/retry.js';
import { CompactdError } from '../../src/model/errors.js';
import { failure } from '../helpers/errors.js';

const unavailable = (determinate = true) => new CompactdError('unavailable', 'flaky', { determinate });

describe('backoffMs', () => {
  it('defaults to 4 ms, doubling, capped at 16 s, jitter 10%, ~30 s budget', () => {
    expect(DEFAULT_RETRY_POLICY).toMatchObject({
      initialBackoffMs: 4,
      multiplier: 2,
      maxBackoffMs: 16_000,
      jitter: 0.1,
      maxElapsedMs: 30_000,
    });
  });

  it('doubles from the initial backoff until the cap (no jitter at the midpoint draw)', () => {
    const mid = () => 0.5;
    const seq = Array.from({ length: 16 }, (_, i) => backoffMs(DEFAULT_RETRY_POLICY, i + 1, mid));
    expect(seq.slice(0, 13)).toEqual([4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16_000]);
    expect(seq.slice(13)).toEqual([16_000, 16_000, 16_000]);
  });

  it('keeps every jittered backoff within +-jitter of its base, and uses the whole band', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.double({ min: 0, max: 0.5, noNaN: true }),
        (attempt, r, jitter) => {
          const p = retryPolicy({ jitter });
          const base = Math.min(p.maxBackoffMs, p.initialBackoffMs * 2 ** (attempt - 1));
          const d = backoffMs(p, attempt, () => r);
          expect(d).toBeGreaterThanOrEqual(base * (1 - jitter) - 1e-9);
          expect(d).toBeLessThanOrEqual(base * (1 + jitter) + 1e-9);
        },
      ),
      { numRuns: 200 },
    );
    expect(backoffMs(DEFAULT_RETRY_POLICY, 3, () => 0)).toBeCloseTo(16 * 0.9);
    expect(backoffMs(DEFAULT_RETRY_POLICY, 3, () => 0.999999)).toBeCloseTo(16 * 1.1, 3);
    // With the real random source, draws spread over the band rather than sitting at one point.
    const draws = Array.from({ length: 200 }, () => backoffMs(DEFAULT_RETRY_POLICY, 20));
    expect(Math.min(...draws)).toBeLessThan(16_000 * 0.97);
    expect(Math.max(...draws)).toBeGreaterThan(16_000 * 1.03);
  });

  it('rejects nonsensical policies', () => {
    for (const bad of [{ multiplier: 0.5 }, { jitter: 1 }, { maxAttempts: 0 }, { initialBackoffMs: 10, maxBackoffMs: 5 }]) {
      expect(() => retryPolicy(bad)).toThrow(/bad retry policy/);
    }
  });
});

describe('retry', () => {
  const fast = retryPolicy({ initialBackoffMs: 1, maxBackoffMs: 4, maxElapsedMs: 5_000 });

  it('retries unavailable failures until the operation succeeds', async () => {
    let calls = 0;
    const delays: number[] = [];
    const result = await retry(
      async (attempt) => {
        calls++;
        expect(attempt).toBe(calls);
        if (calls < 4) throw unavailable();
        return 'ok';
      },
      { policy: fast, onRetry: ({ delayMs }) => delays.push(delayMs) },
    );
    expect(result).toBe('ok');
    expect(calls).toBe(4);
    expect(delays.length).toBe(3);
    expect(delays[1]).toBeGreaterThan(delays[0]);
  });

  it('gives up after maxAttempts with a determinate unavailable naming the operation', async () => {
    let calls = 0;
    const err = await failure(
      retry(
        async () => {
          calls++;
          throw unavailable();
        },
        { policy: retryPolicy({ ...fast, maxAttempts: 5 }), what: 'GET s1/p1' },
      ),
    );
    expect(calls).toBe(5);
    expect(err.kind).toBe('unavailable');
    expect(err.determinate).toBe(true);
    expect(err.message).toMatch(/^GET s1\/p1: gave up after 5 attempts/);
    expect(err.cause).toBeInstanceOf(CompactdError);
  });

  it('gives up once the next attempt would start past maxElapsedMs', async () => {
    // A clock that advances exactly by each backoff makes the budget arithmetic exact.
    let clock = 0;
    let calls = 0;
    const slept: number[] = [];
    const policy = retryPolicy({ initialBackoffMs: 10, multiplier: 2, maxBackoffMs: 1000, jitter: 0, maxElapsedMs: 100 });
    const err = await failure(
      retry(
        async () => {
          calls++;
          throw unavailable();
        },
        {
          policy,
          now: () => clock,
          onRetry: ({ delayMs }) => {
            slept.push(delayMs);
            clock += delayMs;
          },
        },
      ),
    );
    // 10 + 20 + 40 = 70 elapsed; the next backoff (80) would end past 100: four attempts.
    expect(slept).toEqual([10, 20, 40]);
    expect(calls).toBe(4);
    expect(err.kind).toBe('unavailable');
    expect(err.message).toMatch(/gave up after 4 attempts in 70 ms/);
  });

  it('reports indeterminate when any attempt may have taken effect', async () => {
    let calls = 0;
    const err = await failure(
      retry(
        async () => {
          calls++;
          throw unavailable(calls !== 2);
        },
        { policy: retryPolicy({ ...fast, maxAttempts: 4 }) },
      ),
    );
    expect(err.kind).toBe('unavailable');
    expect(err.determinate).toBe(false);

    // A permanent error after an indeterminate attempt is not determinate either.
    calls = 0;
    const err2 = await failure(
      retry(
        async () => {
          calls++;
          throw calls === 1 ? unavailable(false) : new CompactdError('internal', 'rejected');
        },
        { policy: fast },
      ),
    );
    expect(err2.kind).toBe('internal');
    expect(err2.determinate).toBe(false);
  });

  it('surfaces non-retryable errors at once, unchanged', async () => {
    let calls = 0;
    const original = new CompactdError('data_loss', 'bad part');
    const err = await failure(
      retry(
        async () => {
          calls++;
          throw original;
        },
        { policy: fast },
      ),
    );
    expect(err).toBe(original);
    expect(calls).toBe(1);
  });

  it('honours a custom retryable predicate', async () => {
    let calls = 0;
    await retry(
      async () => {
        if (++calls < 3) throw new Error('ECONNRESET');
      },
      { policy: fast, retryable: (e) => e instanceof Error && e.message === 'ECONNRESET' },
    );
    expect(calls).toBe(3);
  });

  it('stops with cancelled when the signal aborts during a backoff', async () => {
    const ctl = new AbortController();
    let calls = 0;
    const slow = retryPolicy({ initialBackoffMs: 60_000, maxBackoffMs: 60_000, maxElapsedMs: 600_000 });
    const p = retry(
      async () => {
        calls++;
        throw unavailable();
      },
      { policy: slow, signal: ctl.signal, onRetry: () => setTimeout(() => ctl.abort(), 5) },
    );
    const err = await failure(p);
    expect(err.kind).toBe('cancelled');
    expect(calls).toBe(1);
  });

  it('does not start when the signal is already aborted', async () => {
    let calls = 0;
    const err = await failure(
      retry(
        async () => {
          calls++;
        },
        { signal: AbortSignal.abort() },
      ),
    );
    expect(err.kind).toBe('cancelled');
    expect(calls).toBe(0);
  });
});

describe('determinacy of errors nobody classified', () => {
  const fast = retryPolicy({ initialBackoffMs: 1, maxBackoffMs: 4, maxElapsedMs: 5_000 });

  it('a CompactdError made without saying is indeterminate', () => {
    expect(new CompactdError('internal', 'x').determinate).toBe(false);
    expect(CompactdError.from(new Error('fs said something odd')).determinate).toBe(false);
    expect(new CompactdError('unavailable', 'x', { determinate: true }).determinate).toBe(true);
  });

  it('giving up after unknown (non-CompactdError) failures reports indeterminate', async () => {
    const err = await failure(
      retry(
        async () => {
          throw new Error('ECONNRESET from somewhere unclassified');
        },
        { policy: retryPolicy({ ...fast, maxAttempts: 3 }), retryable: () => true },
      ),
    );
    expect(err.kind).toBe('unavailable');
    expect(err.determinate).toBe(false);
  });

  it('an operation stopped before its first attempt is determinate: nothing was sent', async () => {
    const ctl = new AbortController();
    ctl.abort();
    let calls = 0;
    const err = await failure(
      retry(
        async () => {
          calls++;
        },
        { policy: fast, signal: ctl.signal },
      ),
    );
    expect(calls).toBe(0);
    expect(err.kind).toBe('cancelled');
    expect(err.determinate).toBe(true);
  });
});
