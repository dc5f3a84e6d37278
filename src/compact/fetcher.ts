/**
 * Fetches the parts of a chunk's runs for the merge: each run's next part on demand, and the
 * parts most likely needed next ahead of time within the prefetch budget, so the merge rarely
 * waits on the store. "Most likely needed next" is the unfetched part with the smallest
 * `keyLower`: the merge consumes keys in ascending order.
 */
import { compareBytes } from '../model/update.js';
import { partBytes } from '../model/batch.js';
import type { BytePool, MemoryAccount } from './memory.js';
import type { PlannedRun } from './plan.js';
import type { LoadedPart } from './source.js';

/** A part requested from the store and not yet taken by the merge, with what it was charged. */
interface PendingFetch {
  readonly index: number;
  readonly charged: number;
  readonly prefetched: boolean;
  readonly promise: Promise<void>;
  value?: LoadedPart;
  error?: unknown;
}

export class PartFetcher {
  /** Next part index not yet requested, per run. */
  private readonly nextIndex: number[];
  /** The requested-but-not-taken part per run (at most one ahead). */
  private readonly slots: (PendingFetch | undefined)[];
  /**
   * Prefetch candidates: (run, part index) in ascending keyLower order. Entries go stale when
   * their part is requested on demand; stale ones are dropped when they reach the top.
   */
  private readonly candidates: Array<{ readonly run: number; readonly index: number; readonly lower: Uint8Array }> = [];
  private closed = false;

  constructor(
    private readonly runs: readonly PlannedRun[],
    private readonly load: (run: PlannedRun, index: number) => Promise<LoadedPart>,
    /** Leftover budget prefetching may use, shared with upload parallelism. */
    private readonly pool: BytePool,
    /** Prefetch cap on top of the pool (2 x target part size). */
    private readonly prefetchCap: number,
    private readonly memory: MemoryAccount,
  ) {
    this.nextIndex = runs.map(() => 0);
    this.slots = runs.map(() => undefined);
    for (let r = 0; r < runs.length; r++) this.offer(r);
  }

  private prefetchedBytes = 0;

  /** True when run `r` has parts the merge has not taken yet. */
  hasMore(r: number): boolean {
    return this.slots[r] !== undefined || this.nextIndex[r] < this.runs[r].parts.length;
  }

  /** The next part of run `r` if it has already arrived; undefined otherwise (use `next`). */
  takeReady(r: number): LoadedPart | undefined {
    const slot = this.slots[r];
    if (slot === undefined || (slot.value === undefined && slot.error === undefined)) return undefined;
    return this.consume(r, slot);
  }

  /** The next part of run `r`, fetching it now if it was not prefetched. */
  async next(r: number): Promise<LoadedPart> {
    let slot = this.slots[r];
    if (slot === undefined) slot = this.request(r, false);
    await slot.promise;
    return this.consume(r, slot);
  }

  /** Starts prefetches while the budget allows. Call after every part switch. */
  pump(): void {
    while (!this.closed && this.candidates.length > 0) {
      const top = this.candidates[0];
      if (this.slots[top.run] !== undefined || this.nextIndex[top.run] !== top.index) {
        this.popCandidate();
        continue;
      }
      const size = partBytes(this.runs[top.run].parts[top.index]);
      if (this.prefetchedBytes + size > this.prefetchCap || !this.pool.tryAcquire(size)) return;
      this.popCandidate();
      this.prefetchedBytes += size;
      this.request(top.run, true);
    }
  }

  /** Makes run `r`'s next part a prefetch candidate, if it has one. */
  private offer(r: number): void {
    const index = this.nextIndex[r];
    if (index >= this.runs[r].parts.length) return;
    const p = this.runs[r].parts[index];
    const heap = this.candidates;
    heap.push({ run: r, index, lower: p.kind === 'hollow' ? p.keyLower : EMPTY });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.before(heap[parent], heap[i])) break;
      [heap[parent], heap[i]] = [heap[i], heap[parent]];
      i = parent;
    }
  }

  private popCandidate(): void {
    const heap = this.candidates;
    const last = heap.pop()!;
    if (heap.length === 0) return;
    heap[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= heap.length) break;
      const m = l + 1 < heap.length && this.before(heap[l + 1], heap[l]) ? l + 1 : l;
      if (this.before(heap[i], heap[m])) break;
      [heap[i], heap[m]] = [heap[m], heap[i]];
      i = m;
    }
  }

  private before(a: { run: number; lower: Uint8Array }, b: { run: number; lower: Uint8Array }): boolean {
    const c = compareBytes(a.lower, b.lower);
    return c < 0 || (c === 0 && a.run < b.run);
  }

  /** Stops prefetching; parts in flight are dropped when they arrive. */
  close(): void {
    this.closed = true;
    for (let r = 0; r < this.slots.length; r++) {
      const slot = this.slots[r];
      if (slot === undefined) continue;
      this.slots[r] = undefined;
      this.uncharge(slot);
    }
  }

  private request(r: number, prefetched: boolean): PendingFetch {
    const index = this.nextIndex[r]++;
    const charged = partBytes(this.runs[r].parts[index]);
    this.memory.charge(charged);
    const slot: PendingFetch = {
      index,
      charged,
      prefetched,
      promise: this.load(this.runs[r], index).then(
        (v) => {
          slot.value = v;
        },
        (e: unknown) => {
          slot.error = e;
        },
      ),
    };
    this.slots[r] = slot;
    return slot;
  }

  private consume(r: number, slot: PendingFetch): LoadedPart {
    this.slots[r] = undefined;
    this.offer(r);
    // The run's next part is a candidate now: fetch it ahead if the budget allows.
    this.pump();
    if (slot.prefetched) {
      // The part now sits in its run's own charge (the chunk's memory), not the prefetch budget.
      this.prefetchedBytes -= slot.charged;
      this.pool.release(slot.charged);
    }
    if (slot.error !== undefined) {
      this.memory.release(slot.charged);
      throw slot.error;
    }
    const v = slot.value!;
    // Charge what the part really holds rather than what its batch claimed.
    this.memory.release(slot.charged);
    this.memory.charge(v.bytes);
    return v;
  }

  private uncharge(slot: PendingFetch): void {
    this.memory.release(slot.charged);
    if (slot.prefetched) {
      this.prefetchedBytes -= slot.charged;
      this.pool.release(slot.charged);
    }
  }
}

const EMPTY = new Uint8Array(0);
