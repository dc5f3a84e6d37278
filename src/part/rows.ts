/**
 * Conversions between row objects (`Update`) and the columnar part form. These are for the
 * writer library, the CLI and tests; the engine never builds row objects.
 */
import { CompactdError } from '../model/errors.js';
import { I64_MAX, I64_MIN, type Update } from '../model/update.js';
import { U64_MAX } from '../model/timestamp.js';
import { allocColumns, type PartColumns } from './columns.js';

/**
 * Builds columns holding `updates` in the given order (no sorting, no consolidation), writing the
 * typed arrays directly. Throws `invalid` when an update's time does not have `dims` coordinates,
 * a coordinate is outside u64, a diff is outside i64 (typed arrays would wrap them silently), or
 * the keys or values together exceed 2 GiB (Arrow Binary offsets are 32-bit).
 */
export function columnsFromUpdates(updates: readonly Update[], dims: number): PartColumns {
  if (!Number.isSafeInteger(dims) || dims < 1) throw new CompactdError('invalid', `dims must be >= 1, got ${dims}`);
  const len = updates.length;
  let kBytes = 0;
  let vBytes = 0;
  for (let i = 0; i < len; i++) {
    const u = updates[i];
    kBytes += u.k.length;
    vBytes += u.v.length;
    if (u.t.length !== dims) {
      throw new CompactdError('invalid', `update ${i} has ${u.t.length} time coordinates, expected ${dims}`);
    }
  }
  if (kBytes > 0x7fffffff || vBytes > 0x7fffffff) {
    throw new CompactdError('invalid', 'keys or values exceed 2 GiB in one part');
  }
  const columns = allocColumns(len, dims, kBytes, vBytes);
  const { kOffsets, vOffsets, kData, vData, t, d } = columns;
  let kPos = 0;
  let vPos = 0;
  for (let i = 0; i < len; i++) {
    const u = updates[i];
    kData.set(u.k, kPos);
    kPos += u.k.length;
    kOffsets[i + 1] = kPos;
    vData.set(u.v, vPos);
    vPos += u.v.length;
    vOffsets[i + 1] = vPos;
    for (let j = 0; j < dims; j++) {
      const c = u.t[j];
      if (c < 0n || c > U64_MAX) throw new CompactdError('invalid', `update ${i} has time coordinate ${c} outside u64`);
      t[i * dims + j] = c;
    }
    if (u.d < I64_MIN || u.d > I64_MAX) throw new CompactdError('invalid', `update ${i} has diff ${u.d} outside i64`);
    d[i] = u.d;
  }
  return columns;
}

/** Copies every row of `cols` out into fresh `Update` objects (no views into `cols` remain). */
export function updatesFromColumns(cols: PartColumns): Update[] {
  const { dims, len, kOffsets, kData, vOffsets, vData, t, d } = cols;
  const out = new Array<Update>(len);
  for (let i = 0; i < len; i++) {
    const time = new Array<bigint>(dims);
    for (let j = 0; j < dims; j++) time[j] = t[i * dims + j];
    out[i] = {
      k: kData.slice(kOffsets[i], kOffsets[i + 1]),
      v: vData.slice(vOffsets[i], vOffsets[i + 1]),
      t: time,
      d: d[i],
    };
  }
  return out;
}

/** A one-row copy of row `i` of `cols` (which may then be reused or released). */
export function copyRow(cols: PartColumns, i: number): PartColumns {
  const k = cols.kData.slice(cols.kOffsets[i], cols.kOffsets[i + 1]);
  const v = cols.vData.slice(cols.vOffsets[i], cols.vOffsets[i + 1]);
  return {
    dims: cols.dims,
    len: 1,
    kOffsets: Int32Array.of(0, k.length),
    kData: k,
    vOffsets: Int32Array.of(0, v.length),
    vData: v,
    t: cols.t.slice(i * cols.dims, (i + 1) * cols.dims),
    d: cols.d.slice(i, i + 1),
  };
}
