/**
 * Row-level updates and the plain reference consolidation. This is the specification the engine
 * is tested against and what the writer library uses for small batches: clarity over speed.
 */
import { CompactdError } from './errors.js';
import { advanceBy, compareLex, type Timestamp } from './timestamp.js';
import type { Antichain } from './antichain.js';
import { compareBytes } from './util/bytes.js';
import { I64_MAX, I64_MIN } from './util/sizes.js';

export interface Update {
  readonly k: Uint8Array;
  readonly v: Uint8Array;
  readonly t: Timestamp;
  readonly d: bigint;
}

// Re-exported where updates are defined, so callers of the model keep one import.
export { I64_MAX, I64_MIN } from './util/sizes.js';
export { compareBytes } from './util/bytes.js';

/** The row order of docs/contract.md, "Order": k, then v, then t lexicographically. */
export function compareUpdates(a: Update, b: Update): number {
  return compareBytes(a.k, b.k) || compareBytes(a.v, b.v) || compareLex(a.t, b.t);
}

/**
 * Consolidation: advance every time by `since`, sum the diffs of equal (k, v, t), drop zero sums,
 * sort. A sum outside the i64 range is OUT_OF_RANGE.
 */
export function consolidate(updates: Iterable<Update>, since: Antichain): Update[] {
  const advanced: Update[] = [];
  for (const u of updates) advanced.push({ ...u, t: advanceBy(u.t, since) });
  advanced.sort(compareUpdates);
  const out: Update[] = [];
  let i = 0;
  while (i < advanced.length) {
    const first = advanced[i];
    let sum = 0n;
    let j = i;
    while (j < advanced.length && compareUpdates(advanced[j], first) === 0) sum += advanced[j++].d;
    if (sum < I64_MIN || sum > I64_MAX) {
      throw new CompactdError('out_of_range', 'diff sum leaves the i64 range');
    }
    if (sum !== 0n) out.push({ k: first.k, v: first.v, t: first.t, d: sum });
    i = j;
  }
  return out;
}
