/**
 * Antichains (frontiers): sets of mutually incomparable timestamps, kept in a normal form
 * (minimal elements only, sorted lexicographically, no duplicates) so that equality is
 * structural. The empty antichain is the empty frontier: no time is beyond it.
 */
import { compareLex, equals as tsEquals, lessEqual as tsLessEqual, type Timestamp } from './timestamp.js';

export type Antichain = readonly Timestamp[];

/** Normal form: drop every element that is >= another element, dedupe, sort. */
export function normalize(elements: readonly Timestamp[]): Antichain {
  const out: Timestamp[] = [];
  for (const e of elements) {
    if (out.some((o) => tsLessEqual(o, e))) continue;
    for (let i = out.length - 1; i >= 0; i--) if (tsLessEqual(e, out[i])) out.splice(i, 1);
    out.push(e);
  }
  return out.sort(compareLex);
}

/** True when `elements` is already an antichain: no element <= another. */
export function isAntichain(elements: readonly Timestamp[]): boolean {
  for (let i = 0; i < elements.length; i++) {
    for (let j = 0; j < elements.length; j++) {
      if (i !== j && tsLessEqual(elements[i], elements[j])) return false;
    }
  }
  return true;
}

/** `t` is beyond frontier `f` iff some element of f is <= t. */
export function beyond(f: Antichain, t: Timestamp): boolean {
  for (const e of f) if (tsLessEqual(e, t)) return true;
  return false;
}

/** A <= B iff every element of B is beyond A. */
export function lessEqual(a: Antichain, b: Antichain): boolean {
  return b.every((t) => beyond(a, t));
}

export function equals(a: Antichain, b: Antichain): boolean {
  const na = normalize(a);
  const nb = normalize(b);
  return na.length === nb.length && na.every((t, i) => tsEquals(t, nb[i]));
}

/** A < B iff A <= B and A != B. */
export function lessThan(a: Antichain, b: Antichain): boolean {
  return lessEqual(a, b) && !equals(a, b);
}

/** The minimum frontier {0^D}: every time is beyond it. */
export function minimumFrontier(dims: number): Antichain {
  return [new Array<bigint>(dims).fill(0n)];
}

export function isMinimum(a: Antichain): boolean {
  return a.length === 1 && a[0].every((c) => c === 0n);
}

export function format(a: Antichain): string {
  return `{${a.map((t) => (t.length === 1 ? t[0].toString() : `(${t.join(',')})`)).join(', ')}}`;
}
