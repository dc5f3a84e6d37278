/**
 * Resuming a compaction from a checkpoint (docs/jobs.md), engine side. A checkpoint records the
 * chunks an earlier attempt finished and, in the chunk it was running, the output parts it
 * finished up to a safe boundary B = (k, v): every output update with (k, v) <= B is in those
 * parts, and none with (k, v) > B is. Merging only the input updates with (k, v) > B therefore
 * yields exactly the rest of the chunk's output, because consolidation never combines updates of
 * different (k, v).
 *
 * Skipping input: whole leading parts of an ordered run are skipped when a later part's first
 * row is provably <= B (found by `key_lower`, confirmed by reading that part), then the first
 * kept part is searched for the first row > B. Parts of unordered runs are each searched.
 */
import type { HollowPart } from '../model/batch.js';
import { partBytes } from '../model/batch.js';
import type { PartColumns } from '../part/columns.js';
import { compareByteRanges } from '../part/validate.js';
import type { PlannedRun } from './plan.js';
import { sumDiffs, type LoadedPart } from './source.js';

/** The (k, v) of a safe boundary. */
export interface KvBoundary {
  readonly k: Uint8Array;
  readonly v: Uint8Array;
}

/** Where a resumed compaction starts. Parts are this attempt's copies of the recorded ones. */
export interface ResumePoint {
  /** Output runs of chunks 0 .. done.length-1, finished by earlier attempts. */
  readonly done: readonly (readonly HollowPart[])[];
  /** The chunk that was running (index done.length): its finished parts and their boundary. */
  readonly partial?: { readonly parts: readonly HollowPart[]; readonly boundary: KvBoundary };
}

/** Compares row `i` of `cols` by (k, v) with `b`. */
export function compareKv(cols: PartColumns, i: number, b: KvBoundary): number {
  const c = compareByteRanges(cols.kData, cols.kOffsets[i], cols.kOffsets[i + 1], b.k, 0, b.k.length);
  if (c !== 0) return c;
  return compareByteRanges(cols.vData, cols.vOffsets[i], cols.vOffsets[i + 1], b.v, 0, b.v.length);
}

/** True when row `i` of `a` and row `j` of `b` have the same (k, v). */
export function sameKv(a: PartColumns, i: number, b: PartColumns, j: number): boolean {
  return (
    compareByteRanges(a.kData, a.kOffsets[i], a.kOffsets[i + 1], b.kData, b.kOffsets[j], b.kOffsets[j + 1]) === 0 &&
    compareByteRanges(a.vData, a.vOffsets[i], a.vOffsets[i + 1], b.vData, b.vOffsets[j], b.vOffsets[j + 1]) === 0
  );
}

/** The (k, v) of row `i` as a boundary (copied: the columns may be released). */
export function kvOf(cols: PartColumns, i: number): KvBoundary {
  return { k: cols.kData.slice(cols.kOffsets[i], cols.kOffsets[i + 1]), v: cols.vData.slice(cols.vOffsets[i], cols.vOffsets[i + 1]) };
}

/**
 * The rows of a loaded part whose (k, v) is above `b`. The part's rows are visited in (k, v, t)
 * order (stored order, filter or sorted permutation), so they are a suffix, found by binary search.
 */
export function rowsAbove(p: LoadedPart, b: KvBoundary): LoadedPart {
  const at = (i: number) => (p.rows === null ? i : p.rows[i]);
  let lo = 0;
  let hi = p.count;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKv(p.cols, at(mid), b) <= 0) lo = mid + 1;
    else hi = mid;
  }
  if (lo === 0) return p;
  let rows: Int32Array;
  if (p.rows !== null) {
    rows = p.rows.subarray(lo, p.count);
  } else {
    rows = new Int32Array(p.count - lo);
    for (let i = 0; i < rows.length; i++) rows[i] = lo + i;
  }
  return { ...p, rows, count: rows.length, diffSum: sumDiffs(p.cols, rows) };
}

/** Compares a key_lower (possibly a truncated prefix) with a boundary key: <= means maybe at or below. */
function keyLowerAtOrBelow(keyLower: Uint8Array, k: Uint8Array): boolean {
  return keyLower.length > 0 && compareByteRanges(keyLower, 0, keyLower.length, k, 0, k.length) <= 0;
}

/**
 * How many leading parts of an ordered run hold only rows with (k, v) <= `b`, proved by reading:
 * the candidate is the last part whose `key_lower` is at or below B's key; if its first row is
 * <= B, every part before it is too (the run is sorted). Otherwise the previous candidate is
 * tried. `load` reads one part (as the merge would); at most a few parts are read.
 */
export async function skippableParts(
  run: PlannedRun,
  b: KvBoundary,
  load: (run: PlannedRun, index: number) => Promise<LoadedPart>,
): Promise<number> {
  if (!run.sorted) return 0;
  for (let f = run.parts.length - 1; f >= 1; f--) {
    const part = run.parts[f];
    if (part.kind !== 'hollow' || !keyLowerAtOrBelow(part.keyLower, b.k)) continue;
    const p = await load(run, f);
    if (p.count === 0) continue;
    const first = p.rows === null ? 0 : p.rows[0];
    if (compareKv(p.cols, first, b) <= 0) return f;
  }
  return 0;
}

/** Input bytes of the parts a resume skips whole. */
export function skippedBytes(run: PlannedRun, skipped: number): number {
  let n = 0;
  for (let i = 0; i < skipped; i++) n += partBytes(run.parts[i]);
  return n;
}
