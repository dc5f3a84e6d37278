import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { applyConfigUpdate, parseServeOptions, runtimeConfigOf, type RuntimeConfig } from '../../src/config/options.js';
import type { CompactRequest, HollowBatch, Part } from '../../src/model/batch.js';
import { CompactdError } from '../../src/model/errors.js';
import { createMetrics } from '../../src/obs/metrics.js';
import { RequestAbort } from '../../src/service/abort.js';
import { metricSum } from './prom.js';
import { Admission, compactionTimeoutMs, requestSize, shouldCompact, skipReason, type AdmissionPermit } from '../../src/service/admission.js';

const MiB = 1024 * 1024;

function part(bytes: number): Part {
  return { kind: 'hollow', key: 'w/p', encodedSizeBytes: bytes, updates: 1, keyLower: new Uint8Array(), checksum: '' };
}

function batch(lo: bigint, parts: Part[], len: number): HollowBatch {
  return { desc: { lower: [[lo]], upper: [[lo + 1n]], since: [[0n]] }, runs: [{ parts, order: 'ordered' }], len };
}

function request(inputs: HollowBatch[], force = false): CompactRequest {
  return { shardId: 's', desc: { lower: [[0n]], upper: [[BigInt(inputs.length)]], since: [[0n]] }, inputs, force, requestId: 'r' };
}

/** A live config the test changes the way Admin.UpdateConfig does. */
function liveConfig(patch: Partial<RuntimeConfig> = {}) {
  let cfg = applyConfigUpdate(runtimeConfigOf(parseServeOptions(['--workers', '2'], {})), patch);
  return {
    get: () => cfg,
    set: (p: Partial<RuntimeConfig>) => {
      cfg = applyConfigUpdate(cfg, p);
    },
  };
}

async function metricValue(m: ReturnType<typeof createMetrics>, name: string): Promise<number> {
  return metricSum(await m.registry.metrics(), name);
}

/** Settles pending promise callbacks. */
const tick = () => new Promise((r) => setImmediate(r));

function track<T>(p: Promise<T>) {
  const state: { value?: T; error?: unknown; settled: boolean } = { settled: false };
  p.then(
    (v) => Object.assign(state, { value: v, settled: true }),
    (e) => Object.assign(state, { error: e, settled: true }),
  );
  return state;
}

describe('request size and heuristics', () => {
  it('sums inputs, parts, updates and bytes', () => {
    const req = request([batch(0n, [part(10), part(20)], 5), batch(1n, [part(30)], 7)]);
    expect(requestSize(req)).toEqual({ inputs: 2, parts: 3, updates: 12, bytes: 60 });
  });

  it('skips small requests unless forced, at the default thresholds', () => {
    const cfg = liveConfig().get();
    const small = { inputs: 7, parts: 7, updates: 1023, bytes: 0 };
    expect(shouldCompact(false, small, cfg)).toBe(false);
    expect(shouldCompact(true, small, cfg)).toBe(true);
    expect(shouldCompact(false, { ...small, inputs: 8 }, cfg)).toBe(true);
    expect(shouldCompact(false, { ...small, parts: 8 }, cfg)).toBe(true);
    expect(shouldCompact(false, { ...small, updates: 1024 }, cfg)).toBe(true);
  });

  it('says why it skips, from the thresholds in force, and has no reason when it compacts', () => {
    const small = { inputs: 2, parts: 2, updates: 3, bytes: 0 };
    expect(skipReason(false, small, liveConfig().get())).toBe('2 inputs < 8, 2 parts < 8, 3 updates < 1024; set "force": true to compact anyway');
    expect(skipReason(false, small, liveConfig({ heuristicMinInputs: 5, heuristicMinParts: 6, heuristicMinUpdates: 7 }).get())).toBe(
      '2 inputs < 5, 2 parts < 6, 3 updates < 7; set "force": true to compact anyway',
    );
    expect(skipReason(true, small, liveConfig().get())).toBeUndefined();
    expect(skipReason(false, { ...small, parts: 8 }, liveConfig().get())).toBeUndefined();
  });

  it('compacts from each threshold on and never below all of them (property)', () => {
    fc.assert(
      fc.property(
        fc.record({ heuristicMinInputs: fc.integer({ min: 1, max: 20 }), heuristicMinParts: fc.integer({ min: 1, max: 20 }), heuristicMinUpdates: fc.integer({ min: 1, max: 3000 }) }),
        fc.constantFrom('inputs', 'parts', 'updates'),
        fc.nat(5),
        (th, which, extra) => {
          const cfg = liveConfig(th).get();
          // Just below every threshold: skipped, unless forced.
          const below = { inputs: th.heuristicMinInputs - 1, parts: th.heuristicMinParts - 1, updates: th.heuristicMinUpdates - 1, bytes: 0 };
          expect(shouldCompact(false, below, cfg)).toBe(false);
          expect(shouldCompact(true, below, cfg)).toBe(true);
          // One count at (or past) its threshold is enough.
          const at = { inputs: th.heuristicMinInputs, parts: th.heuristicMinParts, updates: th.heuristicMinUpdates }[which];
          expect(shouldCompact(false, { ...below, [which]: at + extra }, cfg)).toBe(true);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('times out after max(minimum, 1 s per MiB of input)', () => {
    expect(compactionTimeoutMs(0, 90)).toBe(90_000);
    expect(compactionTimeoutMs(89 * MiB, 90)).toBe(90_000);
    expect(compactionTimeoutMs(200 * MiB, 90)).toBe(200_000);
    expect(compactionTimeoutMs(MiB / 2, 0.1)).toBe(500);
  });
});

describe('Admission', () => {
  it('grants slots at once up to the concurrency limit, then queues in FIFO order', async () => {
    const cfg = liveConfig({ concurrencyLimit: 2, queueSize: 5 });
    const m = createMetrics({ processMetrics: false });
    const a = new Admission(cfg.get, m);
    const s1 = await a.acquire();
    const s2 = await a.acquire();
    expect([s1.waited, s2.waited]).toEqual([false, false]);
    const q = [track(a.acquire()), track(a.acquire()), track(a.acquire())];
    await tick();
    expect(q.map((s) => s.settled)).toEqual([false, false, false]);
    expect(a.queued).toBe(3);
    expect(await metricValue(m, 'compactd_queue_depth')).toBe(3);
    expect(await metricValue(m, 'compactd_compactions_in_flight')).toBe(2);
    expect(await metricValue(m, 'compactd_compaction_concurrency_waits_total')).toBe(3);

    s1.release();
    s1.release(); // idempotent: must not free a second slot
    await tick();
    expect(q.map((s) => s.settled)).toEqual([true, false, false]);
    expect(q[0].value!.waited).toBe(true);
    expect(a.inFlight).toBe(2);
    s2.release();
    await tick();
    expect(q.map((s) => s.settled)).toEqual([true, true, false]);
    expect(a.queued).toBe(1);
  });

  it('answers RESOURCE_EXHAUSTED at once when the queue is full, and counts the drop', async () => {
    const cfg = liveConfig({ concurrencyLimit: 1, queueSize: 2 });
    const m = createMetrics({ processMetrics: false });
    const a = new Admission(cfg.get, m);
    await a.acquire();
    void a.acquire();
    void a.acquire();
    const full = track(a.acquire());
    await tick();
    expect(full.settled).toBe(true);
    expect(full.error).toBeInstanceOf(CompactdError);
    expect((full.error as CompactdError).kind).toBe('exhausted');
    expect(await metricValue(m, 'compactd_compaction_dropped_total')).toBe(1);
    expect(a.queued).toBe(2);
  });

  it('refuses with UNAVAILABLE "compaction disabled" while disabled, and admits again once enabled', async () => {
    const cfg = liveConfig({ enabled: false });
    const m = createMetrics({ processMetrics: false });
    const a = new Admission(cfg.get, m);
    const err = await a.acquire().catch((e: unknown) => e as CompactdError);
    expect(err).toBeInstanceOf(CompactdError);
    expect((err as CompactdError).kind).toBe('unavailable');
    expect((err as CompactdError).message).toContain('compaction disabled');
    expect(await metricValue(m, 'compactd_compaction_disabled_total')).toBe(1);
    cfg.set({ enabled: true });
    const slot = await a.acquire();
    expect(a.inFlight).toBe(1);
    slot.release();
    expect(a.inFlight).toBe(0);
  });

  it('releases waiting requests when the limit is raised, and holds them when it is lowered', async () => {
    const cfg = liveConfig({ concurrencyLimit: 1, queueSize: 10 });
    const a = new Admission(cfg.get);
    const first = await a.acquire();
    const q = [track(a.acquire()), track(a.acquire()), track(a.acquire())];
    cfg.set({ concurrencyLimit: 3 });
    a.pump();
    await tick();
    expect(q.map((s) => s.settled)).toEqual([true, true, false]);
    cfg.set({ concurrencyLimit: 1 });
    a.pump();
    first.release();
    (q[0].value as AdmissionPermit).release();
    await tick();
    // Two of three slots are free, but the limit is 1 and one slot is still held.
    expect(q[2].settled).toBe(false);
    (q[1].value as AdmissionPermit).release();
    await tick();
    expect(q[2].settled).toBe(true);
  });

  it('removes an aborted waiter from the queue and fails it with the abort reason', async () => {
    const cfg = liveConfig({ concurrencyLimit: 1, queueSize: 1 });
    const m = createMetrics({ processMetrics: false });
    const a = new Admission(cfg.get, m);
    const held = await a.acquire();
    const abort = new RequestAbort();
    const waiting = track(a.acquire(abort.signal));
    await tick();
    expect(a.queued).toBe(1);
    abort.abort(new CompactdError('deadline', 'client deadline exceeded'));
    await tick();
    expect((waiting.error as CompactdError).kind).toBe('deadline');
    expect(a.queued).toBe(0);
    expect(await metricValue(m, 'compactd_queue_depth')).toBe(0);
    // The freed queue place is usable, and releasing the held slot does not hand it to the dead waiter.
    const next = track(a.acquire());
    held.release();
    await tick();
    expect(next.settled).toBe(true);
    expect(a.inFlight).toBe(1);
  });

  it('fails at once for an already aborted signal and reports a plain abort as cancelled', async () => {
    const a = new Admission(liveConfig().get);
    const ac = new AbortController();
    ac.abort();
    const err = (await a.acquire(ac.signal).catch((e: unknown) => e)) as CompactdError;
    expect(err.kind).toBe('cancelled');
    expect(a.inFlight).toBe(0);
  });

  it('measures queue time with its clock', async () => {
    let now = 1000;
    const m = createMetrics({ processMetrics: false });
    const a = new Admission(liveConfig({ concurrencyLimit: 1 }).get, m, () => now);
    const s = await a.acquire();
    expect(s.queuedSeconds).toBe(0);
    const waiting = a.acquire();
    now += 2500;
    s.release();
    expect((await waiting).queuedSeconds).toBeCloseTo(2.5);
    expect(await metricValue(m, 'compactd_compaction_queued_seconds_count')).toBe(2);
    expect(await metricValue(m, 'compactd_compaction_queued_seconds_sum')).toBeCloseTo(2.5);
  });

  it('fails every waiter on rejectWaiting', async () => {
    const a = new Admission(liveConfig({ concurrencyLimit: 1 }).get);
    await a.acquire();
    const w = [track(a.acquire()), track(a.acquire())];
    a.rejectWaiting(new CompactdError('unavailable', 'server shutting down'));
    await tick();
    expect(w.map((s) => (s.error as CompactdError).kind)).toEqual(['unavailable', 'unavailable']);
    expect(a.queued).toBe(0);
  });
});

describe('RequestAbort', () => {
  it('keeps the first reason', () => {
    const r = new RequestAbort();
    expect(r.reason).toBeUndefined();
    r.abort(new CompactdError('cancelled', 'client went away'));
    r.abort(new CompactdError('deadline', 'late'));
    expect(r.signal.aborted).toBe(true);
    expect(r.reason!.kind).toBe('cancelled');
  });

  it('fires a timer with its reason, and a cancelled timer never fires', async () => {
    const r = new RequestAbort();
    const cancel = r.after(1, () => new CompactdError('cancelled', 'never'));
    cancel();
    r.after(5, () => new CompactdError('deadline', 'compaction timed out'));
    await new Promise((res) => r.signal.addEventListener('abort', res));
    expect(r.reason!.kind).toBe('deadline');
  });
});
