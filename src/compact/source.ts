/**
 * Reading one input part: fetch (or take the inline bytes), verify size and checksum, decode
 * zero-copy, apply the narrower-batch rule, and prepare the row order the merge walks: the
 * stored order for ORDERED runs (after checking it), a sorted permutation for UNORDERED ones.
 */
import type { Blob } from '../blob/blob.js';
import { isMinimum, type Antichain } from '../model/antichain.js';
import { descEquals, formatDesc } from '../model/description.js';
import { CompactdError, dataLoss } from '../model/errors.js';
import { objectKey } from '../model/keys.js';
import { columnsBytes, type PartColumns } from '../part/columns.js';
import { partChecksum } from '../part/checksum.js';
import { decodePart } from '../part/decode.js';
import { SUM_BLOCK, checkOrderedSum, compareRows, keyPrefixes } from '../part/validate.js';
import type { PlannedRun } from './plan.js';

export interface LoadedPart {
  readonly cols: PartColumns;
  /** Row indirection (sorted permutation and/or filter), or null to walk rows 0..len-1. */
  readonly rows: Int32Array | null;
  /** Rows the merge will read. */
  readonly count: number;
  /** Bytes charged to memory while the part is held: what it holds decoded (at least its encoded size). */
  readonly bytes: number;
  /** Σd over the rows the merge will read. */
  readonly diffSum: bigint;
  /** The part's name in errors: `<shard>/<key>`, or the run location for inline parts. */
  readonly name: string;
}

export interface SourceContext {
  readonly blob: Blob;
  readonly shardId: string;
  readonly dims: number;
  /** A compressed part that decodes to more than this is refused before decompressing. */
  readonly maxDecodedBytes: number;
  readonly signal?: AbortSignal;
}

/** Loads part `index` of `run`. Errors: not_found (missing object), data_loss (anything wrong with the bytes). */
export async function loadPart(ctx: SourceContext, run: PlannedRun, index: number): Promise<LoadedPart> {
  const part = run.parts[index];
  let bytes: Uint8Array;
  let name: string;
  if (part.kind === 'inline') {
    bytes = part.data;
    name = `${run.name}${run.sorted ? `.parts[${index}]` : ''} (inline)`;
  } else {
    const key = objectKey(ctx.shardId, part.key);
    name = key;
    const got = await ctx.blob.get(key, { signal: ctx.signal });
    if (got === undefined) throw new CompactdError('not_found', `part ${key} is missing`);
    bytes = got;
    if (part.encodedSizeBytes > 0 && bytes.byteLength !== part.encodedSizeBytes) {
      throw dataLoss(`part ${key} has ${bytes.byteLength} bytes, but its batch records ${part.encodedSizeBytes}`);
    }
  }

  // Hashing runs in the thread pool while this thread decodes and checks the part. A checksum
  // mismatch wins over whatever decoding found: then the bytes are not the part's at all.
  // The checksum rule takes hex digits in either case (model/validate.ts); the digest is lower case.
  const expected = part.kind === 'hollow' ? part.checksum.toLowerCase() : '';
  const checksum = expected !== '' ? partChecksum(bytes) : undefined;
  let loaded: LoadedPart | undefined;
  let failure: unknown;
  try {
    const decoded = decodeLoaded(ctx, run, bytes, name);
    loaded = decoded.part;
    if (part.kind === 'hollow' && part.diffsSum !== undefined) checkDiffsSum(loaded, decoded.allDiffSum, part.diffsSum);
  } catch (err) {
    failure = err;
  }
  if (checksum !== undefined) {
    const actual = await checksum;
    if (actual !== expected) throw dataLoss(`part ${name} fails its checksum (${actual} != ${expected})`);
  }
  if (failure !== undefined) throw failure;
  return loaded!;
}

/**
 * Decodes and checks fetched part bytes, and prepares the row order the merge walks. Also gives
 * Σd over all rows of the part (the loaded part's diffSum covers only the rows the merge reads).
 */
function decodeLoaded(ctx: SourceContext, run: PlannedRun, bytes: Uint8Array, name: string): { part: LoadedPart; allDiffSum: bigint } {
  // Only expansion is refused: an uncompressed part decodes to views of bytes already held.
  const { meta, cols } = decodePart(bytes, name, { maxDecodedBytes: Math.max(ctx.maxDecodedBytes, bytes.byteLength) });
  if (meta.dims !== ctx.dims) {
    throw dataLoss(`part ${name} has ${meta.dims}-dimensional times, but the request has ${ctx.dims}`);
  }
  // For an ordered run one pass checks the order and sums the diffs.
  const allDiffSum = run.sorted ? checkOrderedSum(cols, name) : sumDiffs(cols, null);

  let rows: Int32Array | null = null;
  if (!descEquals(meta.desc, run.desc)) {
    // The writer registered a narrower batch than it wrote: only unadvanced parts may be
    // narrowed, and rows outside the registered [lower, upper) are not part of the batch.
    if (!isMinimum(meta.desc.since)) {
      throw dataLoss(
        `part ${name} was written under ${formatDesc(meta.desc)}, which differs from its batch ${formatDesc(run.desc)}, and its since is not the minimum`,
      );
    }
    rows = filterRows(cols, run.desc.lower, run.desc.upper);
  }
  if (!run.sorted) rows = sortRows(cols, rows);

  const count = rows === null ? cols.len : rows.length;
  // Compressed parts hold more decoded than their encoded size; uncompressed ones are views of it.
  const held = Math.max(bytes.byteLength, columnsBytes(cols));
  const diffSum = rows === null ? allDiffSum : sumDiffs(cols, rows);
  return { part: { cols, rows, count, bytes: held, diffSum, name }, allDiffSum };
}

/**
 * Checks a part's recorded `diffs_sum` against its rows (all of them, also those a narrower batch
 * leaves out: the writer summed the part it wrote). A mismatch means the batch and the bytes
 * disagree, so the part cannot be trusted: data loss.
 */
function checkDiffsSum(loaded: LoadedPart, actual: bigint, recorded: bigint): void {
  if (actual !== recorded) {
    throw dataLoss(`part ${loaded.name} sums its diffs to ${actual}, but its batch records diffs_sum ${recorded}`);
  }
}

function beyondRow(f: Antichain, t: BigUint64Array, base: number, dims: number): boolean {
  outer: for (const e of f) {
    for (let j = 0; j < dims; j++) if (e[j] > t[base + j]) continue outer;
    return true;
  }
  return false;
}

/** Rows whose time is beyond `lower` and not beyond `upper`. */
function filterRows(cols: PartColumns, lower: Antichain, upper: Antichain): Int32Array {
  const keep = new Int32Array(cols.len);
  let n = 0;
  for (let i = 0; i < cols.len; i++) {
    const base = i * cols.dims;
    if (beyondRow(lower, cols.t, base, cols.dims) && !beyondRow(upper, cols.t, base, cols.dims)) keep[n++] = i;
  }
  return keep.subarray(0, n);
}

/**
 * A permutation of `rows` (or of all rows) in (k, v, t) order; equal rows are summed by the merge.
 * Keys are told apart by their prefixes where those differ.
 */
function sortRows(cols: PartColumns, rows: Int32Array | null): Int32Array {
  const prefix = keyPrefixes(cols);
  let perm: Int32Array;
  if (rows === null) {
    perm = new Int32Array(cols.len);
    for (let i = 0; i < perm.length; i++) perm[i] = i;
  } else {
    perm = rows.slice();
  }
  return perm.sort((a, b) => {
    const pa = prefix[a];
    const pb = prefix[b];
    if (pa !== pb) return pa < pb ? -1 : 1;
    return compareRows(cols, a, cols, b);
  });
}

/**
 * Σd over the selected rows, exactly. Low and high 32-bit words are summed separately as
 * doubles and folded into a bigint every SUM_BLOCK rows (the same rule as checkOrderedSum).
 */
export function sumDiffs(cols: PartColumns, rows: Int32Array | null): bigint {
  const w = new Uint32Array(cols.d.buffer, cols.d.byteOffset, cols.d.length * 2);
  const n = rows === null ? cols.len : rows.length;
  let total = 0n;
  let lo = 0;
  let hi = 0;
  // Folded at the start of every block and once past the end, not after the loop: code first
  // reached after a long loop has no type feedback in the loop's optimized code, which then
  // deoptimizes at its exit on every call. Whole parts skip the row indirection.
  if (rows === null) {
    for (let i = 0; ; i++) {
      if ((i & (SUM_BLOCK - 1)) === 0 || i === n) {
        total += BigInt(hi) * 4294967296n + BigInt(lo);
        lo = 0;
        hi = 0;
        if (i === n) break;
      }
      lo += w[2 * i];
      hi += w[2 * i + 1] | 0;
    }
  } else {
    for (let i = 0; ; i++) {
      if ((i & (SUM_BLOCK - 1)) === 0 || i === n) {
        total += BigInt(hi) * 4294967296n + BigInt(lo);
        lo = 0;
        hi = 0;
        if (i === n) break;
      }
      const r = rows[i];
      lo += w[2 * r];
      hi += w[2 * r + 1] | 0;
    }
  }
  return total;
}
