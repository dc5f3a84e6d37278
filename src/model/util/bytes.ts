/**
 * The unsigned bytewise order of byte strings (CONTRACT order of keys and values): the one
 * reference comparator. The merge's word-at-a-time variant (part/validate.ts compareByteViews) is
 * an optimisation of it and is tested against it.
 */

/**
 * Unsigned bytewise lexicographic comparison of `a[aStart, aEnd)` and `b[bStart, bEnd)`: negative,
 * zero or positive. No allocation.
 */
export function compareByteRanges(
  a: Uint8Array,
  aStart: number,
  aEnd: number,
  b: Uint8Array,
  bStart: number,
  bEnd: number,
): number {
  const aLen = aEnd - aStart;
  const bLen = bEnd - bStart;
  const n = aLen < bLen ? aLen : bLen;
  for (let x = 0; x < n; x++) {
    const diff = a[aStart + x] - b[bStart + x];
    if (diff !== 0) return diff;
  }
  return aLen - bLen;
}

/** Unsigned bytewise lexicographic comparison of whole byte strings. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return compareByteRanges(a, 0, a.length, b, 0, b.length);
}
