/**
 * Memory accounting for one compaction.
 *
 * The bound M splits into 2 x target reserved for output (the part being built and one being
 * uploaded) and the run budget M - 2 x target. A chunk's runs are charged their largest parts;
 * what is left of the run budget is a `BytePool` that prefetching and extra uploads draw from,
 * so input held plus extra uploads never exceed the run budget. `MemoryAccount` tracks the input
 * side (decoded parts resident or prefetched) and its peak, which the memory-bound tests read.
 */
export class MemoryAccount {
  private current = 0;
  private peakBytes = 0;
  private windowPeakBytes = 0;

  charge(bytes: number): void {
    this.current += bytes;
    if (this.current > this.peakBytes) this.peakBytes = this.current;
    if (this.current > this.windowPeakBytes) this.windowPeakBytes = this.current;
  }

  /** Starts a new window (one chunk): `windowPeak` is the peak since. */
  startWindow(): void {
    this.windowPeakBytes = this.current;
  }

  get windowPeak(): number {
    return this.windowPeakBytes;
  }

  release(bytes: number): void {
    this.current -= bytes;
  }

  get peak(): number {
    return this.peakBytes;
  }
}

export class BytePool {
  private used = 0;
  private waiters: Array<() => void> = [];

  constructor(readonly capacity: number) {}

  /** Takes `bytes` if they fit now. */
  tryAcquire(bytes: number): boolean {
    if (this.used + bytes > this.capacity) return false;
    this.used += bytes;
    return true;
  }

  release(bytes: number): void {
    this.used -= bytes;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves on the next release (callers re-check what they wait for). */
  changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
