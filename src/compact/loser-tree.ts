/**
 * A tournament tree of losers over n leaves: it keeps the least leaf (the winner) and, after the
 * winner's value changes, finds the new winner with one comparison per level (log2 n), where a
 * binary heap's sift-down takes two.
 *
 * Each leaf's value is summarised by a number in `heads` that the caller keeps current: leaves
 * with different heads order as their heads, and only equal heads are ordered by `tied`, which
 * must be a strict order (ties broken, e.g. by leaf index). A finished leaf has head Infinity.
 * Leaves sit at positions n..2n-1 of an implicit binary tree whose internal node p (1 <= p < n)
 * holds the loser of the match played there; this works for any n.
 */
export class LoserTree {
  /** The head of each leaf, written by the caller; one more slot, n, is Infinity (see runnerUp). */
  readonly heads: Float64Array;
  private readonly losers: Int32Array;
  private top = 0;

  /** A tree over leaves 0..n-1 (n >= 1); build() once their heads are set. */
  constructor(
    private readonly n: number,
    private readonly tied: (a: number, b: number) => boolean,
  ) {
    if (!(n >= 1)) throw new RangeError(`a loser tree needs at least one leaf, got ${n}`);
    this.heads = new Float64Array(n + 1).fill(Infinity);
    this.losers = new Int32Array(n);
  }

  /** Plays every match from the leaves' current heads. */
  build(): void {
    const n = this.n;
    // Winners of the subtrees, bottom-up; only the losers are kept.
    const winners = new Int32Array(2 * n);
    for (let i = 0; i < n; i++) winners[n + i] = i;
    for (let p = n - 1; p >= 1; p--) {
      const a = winners[2 * p];
      const b = winners[2 * p + 1];
      if (this.less(b, a)) {
        winners[p] = b;
        this.losers[p] = a;
      } else {
        winners[p] = a;
        this.losers[p] = b;
      }
    }
    this.top = n === 1 ? 0 : winners[1];
  }

  /** The least leaf. */
  get winner(): number {
    return this.top;
  }

  /** Whether leaf a sorts before leaf b. */
  less(a: number, b: number): boolean {
    const ha = this.heads[a];
    const hb = this.heads[b];
    return ha < hb || (ha === hb && this.tied(a, b));
  }

  /** Finds the new winner after the current winner's value grew (or it finished). */
  replay(): void {
    const losers = this.losers;
    const heads = this.heads;
    let w = this.top;
    let hw = heads[w];
    for (let p = (this.n + w) >> 1; p >= 1; p >>= 1) {
      const l = losers[p];
      const hl = heads[l];
      if (hl < hw || (hl === hw && this.tied(l, w))) {
        losers[p] = w;
        w = l;
        hw = hl;
      }
    }
    this.top = w;
  }

  /**
   * The least leaf other than the winner; n (whose head is Infinity) for one leaf. It lost its
   * last match to the winner, so it is one of the losers on the winner's path: log2 n comparisons.
   */
  runnerUp(): number {
    const losers = this.losers;
    let best = this.n;
    for (let p = (this.n + this.top) >> 1; p >= 1; p >>= 1) {
      const l = losers[p];
      if (best === this.n || this.less(l, best)) best = l;
    }
    return best;
  }
}
