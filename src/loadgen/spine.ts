/**
 * A writer's view of one shard for the load generator: the consecutive batches that make up the
 * shard, grouped into spine entries, and the policy that decides what to compact next.
 *
 * The policy is tiered, like the spine of a differential dataflow trace: an entry's level is how
 * many appended batches it holds, counted in powers of the fan-out B (level = floor(log_B n)).
 * When B consecutive idle entries sit on the same level, they are merged into one entry of the
 * next level. Appending and merging at once therefore keeps the shard at O(B log_B N) entries,
 * a base-B counter of the appended batches.
 *
 * Applying a result is a compare-and-set: it replaces the entries a request named only if they are
 * all still there, consecutive and in order. A writer that loses the race (another compaction of
 * the same entries was applied first) gets `undefined` and must delete the output it cannot use.
 */
import { equals as antichainEquals, format as formatAntichain } from '../model/antichain.js';
import type { HollowBatch } from '../model/batch.js';
import { invalid } from '../model/errors.js';

/** Consecutive batches treated as one unit by the policy. */
export interface SpineEntry {
  /** Unique within its spine; never reused. */
  readonly id: number;
  /** Consecutive batches, oldest first (several when a merge was skipped by the service). */
  readonly batches: readonly HollowBatch[];
  /** Appended batches this entry holds. */
  readonly weight: number;
}

export class Spine {
  readonly #fanout: number;
  #entries: SpineEntry[] = [];
  #nextId = 1;
  /** In-flight requests naming each entry: a claimed entry is not offered again. */
  readonly #claims = new Map<number, number>();

  /** `fanout` (B >= 2) entries of one level make a merge. */
  constructor(fanout: number) {
    if (!Number.isSafeInteger(fanout) || fanout < 2) throw invalid(`the merge fan-out must be a whole number >= 2, got ${fanout}`);
    this.#fanout = fanout;
  }

  /** The entries, oldest first. */
  get entries(): readonly SpineEntry[] {
    return this.#entries;
  }

  /** Every batch of the shard, oldest first. */
  batches(): HollowBatch[] {
    return this.#entries.flatMap((e) => e.batches);
  }

  /** floor(log_B(weight)): 0 for a freshly appended batch, 1 after one merge of B of them, ... */
  level(entry: SpineEntry): number {
    let level = 0;
    for (let w = entry.weight; w >= this.#fanout; w = Math.floor(w / this.#fanout)) level++;
    return level;
  }

  /**
   * Appends a batch as a new entry of weight 1. Its lower must equal the upper of the last batch
   * (else `invalid`): the shard's batches stay consecutive.
   */
  append(batch: HollowBatch): SpineEntry {
    const last = this.#entries.at(-1)?.batches.at(-1);
    if (last && !antichainEquals(last.desc.upper, batch.desc.lower)) {
      throw invalid(`append: lower ${formatAntichain(batch.desc.lower)} does not continue upper ${formatAntichain(last.desc.upper)}`);
    }
    const entry: SpineEntry = { id: this.#nextId++, batches: [batch], weight: 1 };
    this.#entries.push(entry);
    return entry;
  }

  /**
   * The most recent window of B consecutive unclaimed entries on one level, or undefined when
   * there is none. Pure: call `claim` before letting anything else run.
   */
  pickMerge(): SpineEntry[] | undefined {
    const b = this.#fanout;
    for (let i = this.#entries.length - b; i >= 0; i--) {
      const window = this.#entries.slice(i, i + b);
      const level = this.level(window[0]);
      if (window.every((e) => !this.#claims.has(e.id) && this.level(e) === level)) return window;
    }
    return undefined;
  }

  /** Marks entries as named by one more in-flight request. */
  claim(entries: readonly SpineEntry[]): void {
    for (const e of entries) this.#claims.set(e.id, (this.#claims.get(e.id) ?? 0) + 1);
  }

  /** Undoes one `claim` of the same entries (whether or not they are still in the spine). */
  release(entries: readonly SpineEntry[]): void {
    for (const e of entries) {
      const n = (this.#claims.get(e.id) ?? 0) - 1;
      if (n > 0) this.#claims.set(e.id, n);
      else this.#claims.delete(e.id);
    }
  }

  /**
   * Compare-and-set: if `expected` are still in the spine, consecutive and in this order, replaces
   * them with one entry holding `batches` (which must span exactly the same range) and returns it.
   * Returns undefined, changing nothing, when the spine moved on. The new entry is unclaimed.
   */
  replace(expected: readonly SpineEntry[], batches: readonly HollowBatch[]): SpineEntry | undefined {
    if (expected.length === 0 || batches.length === 0) throw invalid('replace: nothing to replace');
    const start = this.#entries.indexOf(expected[0]);
    if (start < 0 || expected.some((e, i) => this.#entries[start + i] !== e)) return undefined;
    const first = expected[0].batches[0];
    const last = expected.at(-1)!.batches.at(-1)!;
    if (!antichainEquals(batches[0].desc.lower, first.desc.lower) || !antichainEquals(batches.at(-1)!.desc.upper, last.desc.upper)) {
      throw invalid('replace: the new batches do not span the range of the entries they replace');
    }
    const entry: SpineEntry = { id: this.#nextId++, batches, weight: expected.reduce((w, e) => w + e.weight, 0) };
    this.#entries.splice(start, expected.length, entry);
    return entry;
  }
}
