/**
 * The one reader of 64-bit integers at the edges: proto-loader hands them over as decimal strings,
 * proto3 JSON allows decimal strings or exact JSON numbers, and code may pass bigints. Both the
 * proto decoders (convert.ts) and the JSON codec (json.ts) read them here, so the accepted forms
 * and the messages are the same whichever way a message arrived.
 */
import { U64_MAX } from '../model/timestamp.js';
import { I64_MAX, I64_MIN } from '../model/util/sizes.js';
import { fail, show } from '../model/util/paths.js';

function integer(v: unknown, path: string, what: string): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) fail(path, `${show(v)} is not an exact integer (write 64-bit integers as decimal strings)`);
    return BigInt(v);
  }
  if (typeof v === 'string') {
    // A sign is accepted for both so a negative u64 gets the clearer "is negative" message.
    if (!/^-?[0-9]+$/.test(v)) fail(path, `${show(v)} is not ${what}`);
    return BigInt(v);
  }
  return fail(path, `expected ${what} as a decimal string, got ${show(v)}`);
}

/** Reads a uint64: a bigint, an exact non-negative number or a decimal string. */
export function readU64(v: unknown, path: string): bigint {
  const n = integer(v, path, 'an unsigned 64-bit integer');
  if (n < 0n) fail(path, `${n} is negative`);
  if (n > U64_MAX) fail(path, `${n} exceeds the uint64 range`);
  return n;
}

/** Reads an int64: a bigint, an exact number or a decimal string. */
export function readI64(v: unknown, path: string): bigint {
  const n = integer(v, path, 'a signed 64-bit integer');
  if (n < I64_MIN || n > I64_MAX) fail(path, `${n} leaves the int64 range`);
  return n;
}
