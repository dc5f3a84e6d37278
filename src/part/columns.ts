/**
 * The columnar form of a part: what the decoder exposes (zero-copy views over the Arrow body)
 * and what the encoder consumes. No per-row objects anywhere.
 *
 * Row i has key bytes kData[kOffsets[i] .. kOffsets[i+1]), value bytes likewise, time
 * coordinates t[i*dims .. (i+1)*dims) as u64, and diff d[i] as i64. The engine reads t and d
 * through 32-bit word views of the same memory (little-endian: word 2j is low, 2j+1 is high).
 */
import type { Description } from '../model/description.js';

export interface PartColumns {
  readonly dims: number;
  readonly len: number;
  readonly kOffsets: Int32Array; // len + 1 entries
  readonly kData: Uint8Array;
  readonly vOffsets: Int32Array; // len + 1 entries
  readonly vData: Uint8Array;
  readonly t: BigUint64Array; // len * dims entries, row-major
  readonly d: BigInt64Array; // len entries
}

/** The schema metadata `compactd.part` (docs/contract.md, "Part format"). */
export interface PartMeta {
  readonly version: 1;
  readonly dims: number;
  /** The description the part was written under. */
  readonly desc: Description;
  /** The part's ordinal within the batch that wrote it. */
  readonly index: number;
}

export interface DecodedPart {
  readonly meta: PartMeta;
  readonly cols: PartColumns;
}

/** The bytes the columns occupy in memory (what a decoded part holds). */
export function columnsBytes(cols: PartColumns): number {
  return (
    cols.kOffsets.byteLength + cols.kData.byteLength + cols.vOffsets.byteLength + cols.vData.byteLength + cols.t.byteLength + cols.d.byteLength
  );
}

/** Fresh zeroed columns for `len` rows of `dims` coordinates, with room for the given key and value bytes. */
export function allocColumns(len: number, dims: number, kBytes: number, vBytes: number): PartColumns {
  return {
    dims,
    len,
    kOffsets: new Int32Array(len + 1),
    kData: new Uint8Array(kBytes),
    vOffsets: new Int32Array(len + 1),
    vData: new Uint8Array(vBytes),
    t: new BigUint64Array(len * dims),
    d: new BigInt64Array(len),
  };
}
