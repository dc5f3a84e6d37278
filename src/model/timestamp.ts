/**
 * Timestamps are tuples of D unsigned 64-bit coordinates under the product partial order
 * (docs/contract.md, "Data model"). The request-level model uses bigint coordinates: timestamps here are
 * few (frontiers, descriptions); the engine's hot path works on raw column words instead.
 */
export type Timestamp = readonly bigint[];

export const U64_MAX = (1n << 64n) - 1n;

/** The minimum timestamp of dimension `dims`: all zeros. */
export function minimum(dims: number): Timestamp {
  return new Array<bigint>(dims).fill(0n);
}

function sameDims(a: Timestamp, b: Timestamp): void {
  if (a.length !== b.length) throw new RangeError(`timestamp dims differ: ${a.length} vs ${b.length}`);
}

/** Product order: a <= b iff every coordinate of a is <= the same coordinate of b. */
export function lessEqual(a: Timestamp, b: Timestamp): boolean {
  sameDims(a, b);
  for (let i = 0; i < a.length; i++) if (a[i] > b[i]) return false;
  return true;
}

export function equals(a: Timestamp, b: Timestamp): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Least upper bound: coordinate-wise max. */
export function join(a: Timestamp, b: Timestamp): Timestamp {
  sameDims(a, b);
  return a.map((x, i) => (x >= b[i] ? x : b[i]));
}

/** Greatest lower bound: coordinate-wise min. */
export function meet(a: Timestamp, b: Timestamp): Timestamp {
  sameDims(a, b);
  return a.map((x, i) => (x <= b[i] ? x : b[i]));
}

/**
 * Total order used for sorting rows: coordinates compared lexicographically as unsigned integers
 * (docs/contract.md, "Order"). It extends the product order.
 */
export function compareLex(a: Timestamp, b: Timestamp): number {
  sameDims(a, b);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return a[i] < b[i] ? -1 : 1;
  }
  return 0;
}

/**
 * advance_by(t, since): the least time >= t in the "beyond since" region, computed as the meet
 * over f in since of join(t, f). An empty since leaves t unchanged.
 */
export function advanceBy(t: Timestamp, since: readonly Timestamp[]): Timestamp {
  if (since.length === 0) return t;
  let out = join(t, since[0]);
  for (let i = 1; i < since.length; i++) out = meet(out, join(t, since[i]));
  return out;
}

/** True when every coordinate is a valid u64. */
export function isValid(t: Timestamp): boolean {
  return t.length >= 1 && t.every((c) => typeof c === 'bigint' && c >= 0n && c <= U64_MAX);
}

export function format(t: Timestamp): string {
  return t.length === 1 ? t[0].toString() : `(${t.join(',')})`;
}
