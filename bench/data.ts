/**
 * Seeded synthetic input for the benchmarks: N updates across R sorted runs, keys and values of
 * configurable sizes, and a share of updates that collide with (or cancel) an update of an
 * earlier run once times are advanced to `since`. Columns are built directly in typed arrays:
 * generating 16 M updates must not itself be the benchmark.
 */
import type { PartColumns } from '../src/part/columns.js';

export interface DataSpec {
  /** Total updates across all runs. */
  readonly updates: number;
  readonly runs: number;
  /** Key size in bytes (at least 6: the first 6 bytes carry the key's order); the minimum when `keyBytesMax` is larger. */
  readonly keyBytes: number;
  /** Value size in bytes; the minimum when `valueBytesMax` is larger. */
  readonly valueBytes: number;
  /** When above `keyBytes`, key sizes are uniform in [keyBytes, keyBytesMax], fixed per key. */
  readonly keyBytesMax?: number;
  /** When above `valueBytes`, value sizes are uniform in [valueBytes, valueBytesMax], fixed per key. */
  readonly valueBytesMax?: number;
  /** Share of each later run's updates that repeat a (k, v) of run 0: they meet after advancing. */
  readonly overlap: number;
  /** Of the repeating updates, the share whose diff cancels run 0's (the rest add up). */
  readonly cancel: number;
  readonly seed: number;
  /**
   * Whose (k, v) the repeating updates of run r take: run 0's (the default) or run r-1's, as a
   * writer retracting what it wrote in its previous batch. With 'previous', a cancelling update
   * carries the opposite of the diff it meets.
   */
  readonly against?: 'first' | 'previous';
  /** Updates per run when the runs are not of equal size (overrides `updates` / `runs`). */
  readonly runSizes?: readonly number[];
}

export const DEFAULT_DATA: DataSpec = {
  updates: 1_000_000,
  runs: 2,
  keyBytes: 16,
  valueBytes: 32,
  overlap: 0.2,
  cancel: 0.5,
  seed: 42,
};

/** xorshift128+ on two uint32 halves: fast, seeded, good enough for synthetic keys. */
export class Rng {
  private a: number;
  private b: number;
  constructor(seed: number) {
    this.a = (seed ^ 0x9e3779b9) >>> 0 || 1;
    this.b = (seed * 2654435761) >>> 0 || 2;
  }
  /** A uniform uint32. */
  u32(): number {
    let x = this.a;
    const y = this.b;
    this.a = y;
    x ^= x << 11;
    x ^= x >>> 8;
    this.b = (x ^ y ^ (y >>> 19)) >>> 0;
    return this.b;
  }
  /** A uniform float in [0, 1). */
  next(): number {
    return this.u32() / 4294967296;
  }
}

/** Deterministic filler bytes for a key or value from its 48-bit id (equal ids, equal bytes). */
function fill(dst: Uint8Array, at: number, len: number, id: number, salt: number): void {
  let h = (Math.imul(id >>> 0, 0x85ebca6b) ^ Math.imul(Math.floor(id / 4294967296) + salt, 0xc2b2ae35)) >>> 0;
  for (let i = 0; i < len; i++) {
    h ^= h << 13;
    h ^= h >>> 17;
    h ^= h << 5;
    dst[at + i] = h & 0xff;
  }
}

/**
 * Writes key `id` as 6 big-endian bytes (so byte order = id order) followed by filler. Ids are
 * below 2^48, so sorting ids sorts keys.
 */
function writeKey(dst: Uint8Array, at: number, len: number, id: number): void {
  const hi = Math.floor(id / 4294967296);
  const lo = id >>> 0;
  const prefix = [hi >>> 8, hi & 0xff, lo >>> 24, (lo >>> 16) & 0xff, (lo >>> 8) & 0xff, lo & 0xff];
  const n = Math.min(len, 6);
  for (let i = 0; i < n; i++) dst[at + i] = prefix[i];
  if (len > 6) fill(dst, at + 6, len - 6, id, 1);
}

/** The sorted, unique key ids of each run, with the diff of each row. */
export interface RunIds {
  readonly ids: Float64Array;
  readonly diffs: Int8Array;
  readonly time: number;
}

/** Draws the runs' key ids: run 0 fresh; later runs part fresh, part repeats of run 0's. */
export function drawRuns(spec: DataSpec): RunIds[] {
  const rng = new Rng(spec.seed);
  const out: RunIds[] = [];
  let base: RunIds | undefined;
  for (let r = 0; r < spec.runs; r++) {
    const per = spec.runSizes?.[r] ?? Math.floor(spec.updates / spec.runs);
    const ids = new Float64Array(per);
    const repeat = new Uint8Array(per);
    for (let i = 0; i < per; i++) {
      if (base !== undefined && rng.next() < spec.overlap) {
        ids[i] = base.ids[Math.floor(rng.next() * base.ids.length)];
        repeat[i] = 1;
      } else {
        ids[i] = rng.u32() * 65536 + (rng.u32() & 0xffff);
      }
    }
    // Sort ids together with their repeat flag, then drop duplicates within the run.
    const order = new Float64Array(per);
    for (let i = 0; i < per; i++) order[i] = ids[i] * 2 + repeat[i];
    order.sort();
    const uniq = new Float64Array(per);
    const diffs = new Int8Array(per);
    let n = 0;
    for (let i = 0; i < per; i++) {
      const id = Math.floor(order[i] / 2);
      if (n > 0 && uniq[n - 1] === id) continue;
      uniq[n] = id;
      const cancels = order[i] % 2 === 1 && rng.next() < spec.cancel;
      diffs[n] = cancels ? -baseDiff(base!, id) : 1;
      n++;
    }
    const run = { ids: uniq.slice(0, n), diffs: diffs.slice(0, n), time: r };
    if (r === 0 || spec.against === 'previous') base = run;
    out.push(run);
  }
  return out;
}

/** The diff run `base` holds for key `id` (which it holds). */
function baseDiff(base: RunIds, id: number): number {
  let lo = 0;
  let hi = base.ids.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (base.ids[mid] < id) lo = mid + 1;
    else hi = mid;
  }
  return base.diffs[lo];
}

/** The size of key or value `id` in [min, max] (`max` below `min` means exactly `min`); equal ids, equal sizes. */
function sizeOf(id: number, min: number, max: number | undefined, salt: number): number {
  if (max === undefined || max <= min) return min;
  const h = (Math.imul(id >>> 0, 0x27d4eb2d) ^ Math.imul(Math.floor(id / 4294967296) + salt, 0x165667b1)) >>> 0;
  return min + (h % (max - min + 1));
}

/** Columns (D = 1) for rows [from, to) of a run. */
export function runColumns(spec: DataSpec, run: RunIds, from: number, to: number): PartColumns {
  const n = to - from;
  const kMax = Math.max(spec.keyBytes, spec.keyBytesMax ?? 0);
  const vMax = Math.max(spec.valueBytes, spec.valueBytesMax ?? 0);
  let kData = new Uint8Array(n * kMax);
  let vData = new Uint8Array(n * vMax);
  const kOffsets = new Int32Array(n + 1);
  const vOffsets = new Int32Array(n + 1);
  const t = new BigUint64Array(n);
  const d = new BigInt64Array(n);
  const tw = new Uint32Array(t.buffer);
  const dw = new Int32Array(d.buffer);
  for (let i = 0; i < n; i++) {
    const id = run.ids[from + i];
    const kl = sizeOf(id, spec.keyBytes, spec.keyBytesMax, 3);
    const vl = sizeOf(id, spec.valueBytes, spec.valueBytesMax, 4);
    writeKey(kData, kOffsets[i], kl, id);
    fill(vData, vOffsets[i], vl, id, 2);
    kOffsets[i + 1] = kOffsets[i] + kl;
    vOffsets[i + 1] = vOffsets[i] + vl;
    tw[2 * i] = run.time;
    const dv = run.diffs[from + i];
    dw[2 * i] = dv;
    dw[2 * i + 1] = dv < 0 ? -1 : 0;
  }
  if (kOffsets[n] < kData.length) kData = kData.slice(0, kOffsets[n]);
  if (vOffsets[n] < vData.length) vData = vData.slice(0, vOffsets[n]);
  return { dims: 1, len: n, kOffsets, kData, vOffsets, vData, t, d };
}

/** Mean key plus value bytes of a row. */
export function meanRowDataBytes(spec: DataSpec): number {
  const mean = (min: number, max: number | undefined): number => (max === undefined || max <= min ? min : (min + max) / 2);
  return mean(spec.keyBytes, spec.keyBytesMax) + mean(spec.valueBytes, spec.valueBytesMax);
}

/** Rows per part so that parts come out near `partBytes` uncompressed. */
export function rowsPerPart(spec: DataSpec, partBytes: number): number {
  return Math.max(1, Math.floor(partBytes / (meanRowDataBytes(spec) + 24)));
}
