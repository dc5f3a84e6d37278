import { describe, expect, it } from 'vitest';
import { cancellationOf, PolledCancellation } from '../../src/compact/cancel.js';
import { CompactdError, type ErrorKind } from '../../src/model/errors.js';
import { abortCode, abortKind, abortReason } from '../../src/service/worker-protocol.js';

const KINDS: ErrorKind[] = ['invalid', 'not_found', 'data_loss', 'out_of_range', 'exhausted', 'unavailable', 'deadline', 'cancelled', 'permission', 'unauthenticated', 'internal'];

describe('PolledCancellation', () => {
  it('a reason the poll finds lands at the next check and aborts the signal with it', () => {
    const flag: { reason?: CompactdError } = {};
    const c = new PolledCancellation(() => flag.reason);
    expect(() => c.check()).not.toThrow();
    expect(c.signal.aborted).toBe(false);
    const flagged = new CompactdError('deadline', 'compaction timed out');
    flag.reason = flagged;
    expect(() => c.check()).toThrow(flagged);
    expect(c.signal.aborted).toBe(true);
    expect(c.signal.reason).toBe(flagged);
  });

  it('the first reason wins: a later cancel() or poll does not replace it', () => {
    const later = new CompactdError('internal', 'later');
    const c = new PolledCancellation(() => later);
    const first = new CompactdError('unavailable', 'server shutting down');
    c.cancel(first);
    expect(() => c.check()).toThrow(first);
    c.cancel(later);
    expect(c.signal.reason).toBe(first);
  });

  it('cancellationOf follows a plain AbortSignal', () => {
    const ctl = new AbortController();
    const c = cancellationOf(ctl.signal);
    expect(() => c.check()).not.toThrow();
    const why = new CompactdError('cancelled', 'stop');
    ctl.abort(why);
    expect(() => c.check()).toThrow(why);
  });
});

describe('abort flag codes', () => {
  it('every kind has its own non-zero code and reads back as itself', () => {
    const codes = KINDS.map(abortCode);
    expect(new Set(codes).size).toBe(KINDS.length);
    expect(codes.every((c) => c > 0)).toBe(true);
    for (const kind of KINDS) expect(abortKind(abortCode(kind))).toBe(kind);
    expect(abortKind(0)).toBeUndefined();
  });

  it('the reason read from a flag keeps the kind (an exhausted abort is not reported as internal)', () => {
    expect(abortReason(abortKind(abortCode('exhausted'))!).kind).toBe('exhausted');
    expect(abortReason('deadline').message).toBe('compaction timed out');
  });
});
