/**
 * The schema metadata `compactd.part` (docs/contract.md, "Part format"): the JSON document that records the
 * description a part was written under. Timestamps are lists of decimal strings so that u64
 * coordinates survive every JSON parser.
 */
import { isAntichain, normalize, type Antichain } from '../model/antichain.js';
import type { Description } from '../model/description.js';
import { CompactdError, dataLoss } from '../model/errors.js';
import { U64_MAX, type Timestamp } from '../model/timestamp.js';
import type { PartMeta } from './columns.js';

/** The schema metadata key that holds the part's JSON metadata. */
export const META_KEY = 'compactd.part';

/** The only metadata version this code reads and writes. */
export const META_VERSION = 1;

/** A u64 coordinate in decimal: no sign, no leading zeros (except "0"), at most 20 digits. */
const U64_DECIMAL = /^(0|[1-9][0-9]{0,19})$/;

/**
 * Serializes part metadata to the JSON of docs/contract.md, "Part format". Throws `invalid` when the
 * metadata is inconsistent (a timestamp with the wrong number of coordinates, a coordinate outside
 * u64, a bad index or version), because such a part could never be read back.
 */
export function encodeMeta(meta: PartMeta): string {
  const problem = metaProblem(meta);
  if (problem !== undefined) throw new CompactdError('invalid', `part metadata: ${problem}`);
  const antichain = (a: Antichain): string[][] => a.map((t) => t.map((c) => c.toString()));
  return JSON.stringify({
    version: META_VERSION,
    dims: meta.dims,
    desc: { lower: antichain(meta.desc.lower), upper: antichain(meta.desc.upper), since: antichain(meta.desc.since) },
    index: meta.index,
  });
}

/**
 * Parses and validates `compactd.part` JSON. Antichains come back in normal form (the frontier
 * they denote is unchanged). Throws `data_loss` naming the part `name` when the JSON is malformed,
 * the version is not 1, dims is not an integer >= 1, a timestamp has the wrong number of
 * coordinates, a coordinate is not a u64 decimal string, or the index is not a non-negative
 * integer. Unknown extra fields are ignored.
 */
export function decodeMeta(json: string, name: string): PartMeta {
  const fail = (why: string): CompactdError => dataLoss(`part ${name}: bad ${META_KEY} metadata: ${why}`);
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (err) {
    throw dataLoss(`part ${name}: bad ${META_KEY} metadata: not JSON`, err);
  }
  if (!isRecord(doc)) throw fail('not a JSON object');
  if (doc.version !== META_VERSION) throw fail(`unsupported version ${JSON.stringify(doc.version)}`);
  const dims = doc.dims;
  if (typeof dims !== 'number' || !Number.isSafeInteger(dims) || dims < 1) {
    throw fail(`dims must be an integer >= 1, got ${JSON.stringify(dims)}`);
  }
  const index = doc.index;
  if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0) {
    throw fail(`index must be a non-negative integer, got ${JSON.stringify(index)}`);
  }
  const desc = doc.desc;
  if (!isRecord(desc)) throw fail('desc is missing or not an object');
  const antichain = (field: 'lower' | 'upper' | 'since'): Antichain => {
    const raw = desc[field];
    if (!Array.isArray(raw)) throw fail(`desc.${field} is not a list`);
    const out: Timestamp[] = [];
    for (const t of raw) {
      if (!Array.isArray(t) || t.length !== dims) {
        throw fail(`desc.${field} holds a timestamp that is not a list of ${dims} coordinates`);
      }
      out.push(
        t.map((c: unknown) => {
          if (typeof c !== 'string' || !U64_DECIMAL.test(c)) {
            throw fail(`desc.${field} coordinate ${JSON.stringify(c)} is not a u64 decimal string`);
          }
          const v = BigInt(c);
          if (v > U64_MAX) throw fail(`desc.${field} coordinate ${c} is outside u64`);
          return v;
        }),
      );
    }
    return normalize(out);
  };
  const parsed: Description = { lower: antichain('lower'), upper: antichain('upper'), since: antichain('since') };
  return { version: META_VERSION, dims, desc: parsed, index };
}

/** Why `meta` cannot be written, or undefined when it can. */
function metaProblem(meta: PartMeta): string | undefined {
  if (meta.version !== META_VERSION) return `unsupported version ${String(meta.version)}`;
  const { dims } = meta;
  if (!Number.isSafeInteger(dims) || dims < 1) return `dims must be an integer >= 1, got ${dims}`;
  if (!Number.isSafeInteger(meta.index) || meta.index < 0) return `index must be a non-negative integer, got ${meta.index}`;
  for (const field of ['lower', 'upper', 'since'] as const) {
    const a = meta.desc[field];
    for (const t of a) {
      if (t.length !== dims) return `desc.${field} holds a timestamp with ${t.length} coordinates, expected ${dims}`;
      for (const c of t) {
        if (typeof c !== 'bigint' || c < 0n || c > U64_MAX) return `desc.${field} coordinate ${String(c)} is not a u64`;
      }
    }
    if (!isAntichain(a)) return `desc.${field} is not an antichain`;
  }
  return undefined;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}
