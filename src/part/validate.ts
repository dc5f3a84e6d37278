/**
 * Row order of parts (docs/contract.md, "Order") on columnar data, and the check that an
 * ORDERED part is sorted and consolidated as stored (docs/contract.md, "Row order").
 *
 * Everything here reads the columns in place: bytes are compared with a plain loop (Buffer.compare
 * on subarrays allocates two views per call and ran about 6x slower), and time coordinates are
 * compared as BigUint64Array elements, which V8's optimizing compiler keeps unboxed (measured: no
 * heap growth over millions of comparisons, as fast as comparing pairs of uint32 words).
 */
import { dataLoss } from '../model/errors.js';
import { compareByteRanges } from '../model/util/bytes.js';
import type { PartColumns } from './columns.js';

export { compareByteRanges };

/**
 * Compares row `i` of `a` with row `j` of `b` in part row order: k (unsigned bytewise), then v,
 * then t (coordinates lexicographically as u64). Returns negative, zero or positive; allocates
 * nothing. Both parts must have the same dims.
 */
export function compareRows(a: PartColumns, i: number, b: PartColumns, j: number): number {
  const ka = a.kOffsets;
  const kb = b.kOffsets;
  let c = compareByteRanges(a.kData, ka[i], ka[i + 1], b.kData, kb[j], kb[j + 1]);
  if (c !== 0) return c;
  const va = a.vOffsets;
  const vb = b.vOffsets;
  c = compareByteRanges(a.vData, va[i], va[i + 1], b.vData, vb[j], vb[j + 1]);
  if (c !== 0) return c;
  const dims = a.dims;
  const ta = a.t;
  const tb = b.t;
  const pa = i * dims;
  const pb = j * dims;
  for (let x = 0; x < dims; x++) {
    const p = ta[pa + x];
    const q = tb[pb + x];
    if (p !== q) return p < q ? -1 : 1;
  }
  return 0;
}

/**
 * Unsigned bytewise order of a[as..ae) and b[bs..be), where av and bv are DataViews of exactly a
 * and b. Compares four bytes at a time as big-endian words (their numeric order is the bytewise
 * order): keys often share long prefixes, and one DataView read costs about one step of a byte
 * loop. No allocation.
 */
export function compareByteViews(
  a: Uint8Array, av: DataView, as: number, ae: number,
  b: Uint8Array, bv: DataView, bs: number, be: number,
): number {
  const la = ae - as;
  const lb = be - bs;
  const n = la < lb ? la : lb;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const x = av.getUint32(as + i);
    const y = bv.getUint32(bs + i);
    if (x !== y) return x < y ? -1 : 1;
  }
  for (; i < n; i++) {
    const x = a[as + i];
    const y = b[bs + i];
    if (x !== y) return x - y;
  }
  return la - lb;
}

/** A DataView of exactly the bytes of `a`. */
export function viewOf(a: Uint8Array): DataView {
  return new DataView(a.buffer, a.byteOffset, a.byteLength);
}

/**
 * Checks that `cols` is sorted and consolidated as an ORDERED part must be stored: rows strictly
 * ascending by (k, v, t), hence no two rows equal in all three, and no diff 0. Throws `data_loss`
 * naming the part `name` and the first offending row. Reads times and diffs as 32-bit words.
 */
export function checkOrdered(cols: PartColumns, name: string): void {
  scanRows(cols, name, null);
}

/** What one pass over an ORDERED part gives besides the check (`scanOrdered`). */
export interface OrderedScan {
  /** The key prefix of every row (`keyPrefixes`). */
  readonly prefix: Uint32Array;
  /** Σd over all rows. */
  readonly diffSum: bigint;
}

/**
 * `checkOrdered`, also computing in the same pass what the merge needs of every row: the key
 * prefixes and the sum of the diffs.
 */
export function scanOrdered(cols: PartColumns, name: string): OrderedScan {
  const prefix = new Uint32Array(2 * cols.len);
  const diffSum = scanRows(cols, name, prefix);
  return { prefix, diffSum };
}

/**
 * The first 8 bytes of every row's key, zero-padded, as two big-endian words per row (row i at
 * [2i] and [2i + 1]). Their numeric order is a coarsening of key order: rows whose prefix words
 * differ compare as the words do (a shorter key pads with zeros, which cannot exceed the byte
 * where a longer key that shares its bytes goes on); only equal words need the full bytes.
 */
export function keyPrefixes(cols: PartColumns): Uint32Array {
  const { len, kData, kOffsets: ko } = cols;
  const kv = viewOf(kData);
  const out = new Uint32Array(2 * len);
  for (let i = 0; i < len; i++) prefixWords(kData, kv, ko[i], ko[i + 1], out, 2 * i);
  return out;
}

/** Writes the zero-padded first 8 bytes of k[ks..ke) as two big-endian words at out[at], out[at + 1]. */
function prefixWords(k: Uint8Array, kv: DataView, ks: number, ke: number, out: Uint32Array, at: number): void {
  const n = ke - ks;
  if (n >= 8) {
    out[at] = kv.getUint32(ks);
    out[at + 1] = kv.getUint32(ks + 4);
    return;
  }
  let hi = 0;
  let lo = 0;
  for (let j = 0; j < 4; j++) hi = hi * 256 + (j < n ? k[ks + j] : 0);
  for (let j = 4; j < 8; j++) lo = lo * 256 + (j < n ? k[ks + j] : 0);
  out[at] = hi;
  out[at + 1] = lo;
}

/** Diffs summed as doubles per word stay exact for this many rows (2^32 * 2^20 < 2^53). */
const SUM_BLOCK = 1 << 20;

/**
 * The order and consolidation check, one pass: keys are compared by their prefix words first
 * (stored in `prefix` when given, else kept for the previous row only), bytes only when those are
 * equal. Returns Σd over all rows.
 */
function scanRows(cols: PartColumns, name: string, prefix: Uint32Array | null): bigint {
  const { len, dims, kData, kOffsets: ko, vData, vOffsets: vo } = cols;
  const kv = viewOf(kData);
  const vv = viewOf(vData);
  const tw = new Uint32Array(cols.t.buffer, cols.t.byteOffset, len * dims * 2);
  const dw = new Uint32Array(cols.d.buffer, cols.d.byteOffset, len * 2);
  const words = 2 * dims;
  const pw = prefix ?? new Uint32Array(4);
  let total = 0n;
  let lo = 0;
  let hi = 0;
  let prevHi = 0;
  let prevLo = 0;
  for (let i = 0; i < len; i++) {
    const dlo = dw[2 * i];
    const dhi = dw[2 * i + 1];
    if (dlo === 0 && dhi === 0) throw dataLoss(`part ${name} is not consolidated: row ${i} has diff 0`);
    lo += dlo;
    hi += dhi | 0;
    if ((i & (SUM_BLOCK - 1)) === SUM_BLOCK - 1) {
      total += BigInt(hi) * 4294967296n + BigInt(lo);
      lo = 0;
      hi = 0;
    }
    const at = prefix === null ? 2 * (i & 1) : 2 * i;
    prefixWords(kData, kv, ko[i], ko[i + 1], pw, at);
    const curHi = pw[at];
    const curLo = pw[at + 1];
    if (i > 0) {
      let c = curHi !== prevHi ? (prevHi < curHi ? -1 : 1) : curLo !== prevLo ? (prevLo < curLo ? -1 : 1) : 0;
      if (c === 0) c = compareByteViews(kData, kv, ko[i - 1], ko[i], kData, kv, ko[i], ko[i + 1]);
      if (c === 0) c = compareByteViews(vData, vv, vo[i - 1], vo[i], vData, vv, vo[i], vo[i + 1]);
      if (c === 0) {
        // Coordinates lexicographically, each as (high word, low word).
        const p = (i - 1) * words;
        const q = i * words;
        for (let j = 0; j < words && c === 0; j += 2) {
          const ph = tw[p + j + 1];
          const qh = tw[q + j + 1];
          if (ph !== qh) c = ph < qh ? -1 : 1;
          else if (tw[p + j] !== tw[q + j]) c = tw[p + j] < tw[q + j] ? -1 : 1;
        }
      }
      if (c >= 0) {
        throw dataLoss(
          c === 0
            ? `part ${name} is not consolidated: rows ${i - 1} and ${i} have equal (k, v, t)`
            : `part ${name} is not sorted: row ${i} sorts before row ${i - 1}`,
        );
      }
    }
    prevHi = curHi;
    prevLo = curLo;
  }
  return total + BigInt(hi) * 4294967296n + BigInt(lo);
}
