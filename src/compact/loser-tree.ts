/**
 * A tournament tree of losers over n leaves: it keeps the least leaf (the winner) under a strict
 * order given by `less`, and after the winner's value changes finds the new winner with one
 * comparison per level (log2 n), where a binary heap's sift-down takes two.
 *
 * The tree holds leaf indices only; the values live with the caller, which must order every pair
 * of leaves strictly (ties broken, e.g. by leaf index) and must represent a finished leaf as
 * greater than every live one. Leaves sit at positions n..2n-1 of an implicit binary tree whose
 * internal node p (1 <= p < n) holds the loser of the match played there; this works for any n.
 */
export class LoserTree {
  private readonly losers: Int32Array;
  private top = 0;

  /** Builds the tree over leaves 0..n-1 (n >= 1) with their current values. */
  constructor(
    private readonly n: number,
    private readonly less: (a: number, b: number) => boolean,
  ) {
    if (!(n >= 1)) throw new RangeError(`a loser tree needs at least one leaf, got ${n}`);
    this.losers = new Int32Array(n);
    // Winners of the subtrees, bottom-up; only the losers are kept.
    const winners = new Int32Array(2 * n);
    for (let i = 0; i < n; i++) winners[n + i] = i;
    for (let p = n - 1; p >= 1; p--) {
      const a = winners[2 * p];
      const b = winners[2 * p + 1];
      if (less(b, a)) {
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

  /** Finds the new winner after the current winner's value changed (grew, or finished). */
  replay(): void {
    const losers = this.losers;
    const less = this.less;
    let w = this.top;
    for (let p = (this.n + w) >> 1; p >= 1; p >>= 1) {
      const l = losers[p];
      if (less(l, w)) {
        losers[p] = w;
        w = l;
      }
    }
    this.top = w;
  }

  /**
   * The least leaf other than the winner, or -1 for one leaf. It lost its last match to the
   * winner, so it is one of the losers on the winner's path: log2 n comparisons.
   */
  runnerUp(): number {
    const losers = this.losers;
    let best = -1;
    for (let p = (this.n + this.top) >> 1; p >= 1; p >>= 1) {
      const l = losers[p];
      if (best < 0 || this.less(l, best)) best = l;
    }
    return best;
  }
}
