import { equals as acEquals, format as acFormat, type Antichain } from './antichain.js';

/**
 * A batch description: the batch holds updates with times beyond `lower` and not beyond `upper`;
 * its times have been advanced by `since`.
 */
export interface Description {
  readonly lower: Antichain;
  readonly upper: Antichain;
  readonly since: Antichain;
}

export function descEquals(a: Description, b: Description): boolean {
  return acEquals(a.lower, b.lower) && acEquals(a.upper, b.upper) && acEquals(a.since, b.since);
}

/** The number of timestamp coordinates in a description, or undefined when every antichain is empty. */
export function descDims(d: Description): number | undefined {
  for (const a of [d.lower, d.upper, d.since]) for (const t of a) return t.length;
  return undefined;
}

export function formatDesc(d: Description): string {
  return `[lower ${acFormat(d.lower)}, upper ${acFormat(d.upper)}, since ${acFormat(d.since)}]`;
}
