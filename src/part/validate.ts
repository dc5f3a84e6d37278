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

/** Diffs summed as doubles per word stay exact for this many rows (2^32 * 2^20 < 2^53). */
export const SUM_BLOCK = 1 << 20;

/** 2^21: the first key word's place in a prefix (53 bits: 32 of the first word, 21 of the second). */
const WORD0 = 2097152;

/**
 * Checks that `cols` is sorted and consolidated as an ORDERED part must be stored: rows strictly
 * ascending by (k, v, t), hence no two rows equal in all three, and no diff 0. Throws `data_loss`
 * naming the part `name` and the first offending row. Reads times and diffs as 32-bit words.
 */
export function checkOrdered(cols: PartColumns, name: string): void {
  checkOrderedSum(cols, name);
}

/** `checkOrdered`, also summing the diffs in the same pass: returns Σd over all rows. */
export function checkOrderedSum(cols: PartColumns, name: string): bigint {
  const { len, dims, kData, kOffsets: ko, vData, vOffsets: vo } = cols;
  const kv = viewOf(kData);
  const vv = viewOf(vData);
  const tw = new Uint32Array(cols.t.buffer, cols.t.byteOffset, len * dims * 2);
  const dw = new Uint32Array(cols.d.buffer, cols.d.byteOffset, len * 2);
  const words = 2 * dims;
  let total = 0n;
  let lo = 0;
  let hi = 0;
  // Keys are compared by their prefixes (keyPrefix) first, bytes only when those are equal.
  let prev = 0;
  for (let i = 0; ; i++) {
    // The word sums are folded into the bigint at the start of every block and once past the
    // end, not after the loop: code first reached after a long loop has no type feedback in the
    // loop's optimized code, which then deoptimizes at its exit on every call.
    if ((i & (SUM_BLOCK - 1)) === 0 || i === len) {
      total += BigInt(hi) * 4294967296n + BigInt(lo);
      lo = 0;
      hi = 0;
      if (i === len) break;
    }
    const dlo = dw[2 * i];
    const dhi = dw[2 * i + 1];
    if (dlo === 0 && dhi === 0) throw dataLoss(`part ${name} is not consolidated: row ${i} has diff 0`);
    lo += dlo;
    hi += dhi | 0;
    const cur = keyPrefix(kData, kv, ko[i], ko[i + 1]);
    if (i > 0) {
      let c = prev < cur ? -1 : prev > cur ? 1 : 0;
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
    prev = cur;
  }
  return total;
}

/**
 * The key prefix of every row: the first 53 bits of the key, zero-padded, as an exact number
 * (`keyPrefix`).
 */
export function keyPrefixes(cols: PartColumns): Float64Array {
  const { len, kData, kOffsets: ko } = cols;
  const kv = viewOf(kData);
  const out = new Float64Array(len);
  for (let i = 0; i < len; i++) out[i] = keyPrefix(kData, kv, ko[i], ko[i + 1]);
  return out;
}

/**
 * The first 53 bits of k[ks..ke) (zero bytes past its end) as a number, kv a DataView of exactly
 * k. The numeric order of prefixes coarsens the key order: keys with different prefixes compare
 * as their prefixes do (where a shorter key ends, its zero padding cannot exceed the byte a longer
 * key with the same leading bytes goes on with), so only equal prefixes need the bytes.
 */
export function keyPrefix(k: Uint8Array, kv: DataView, ks: number, ke: number): number {
  const n = ke - ks;
  if (n >= 8) return kv.getUint32(ks) * WORD0 + (kv.getUint32(ks + 4) >>> 11);
  let hi = 0;
  let lo = 0;
  for (let j = 0; j < 4; j++) hi = hi * 256 + (j < n ? k[ks + j] : 0);
  for (let j = 4; j < 8; j++) lo = lo * 256 + (j < n ? k[ks + j] : 0);
  return hi * WORD0 + (lo >>> 11);
}
