/**
 * Error reporting shared by the decoders and the validation: every message starts with the path of
 * the offending field (`inputs[2].runs[0].parts[1].hollow.key: ...`).
 */
import { invalid } from '../errors.js';

/** Throws `invalid` for the field at `path`. */
export function fail(path: string, why: string): never {
  throw invalid(path ? `${path}: ${why}` : why);
}

/** The path of `field` inside the value at `path`. */
export function at(path: string, field: string): string {
  return path ? `${path}.${field}` : field;
}

/** A short, safe rendering of a bad value for a message. */
export function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === 'bigint') return v.toString();
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'object') return 'an object';
  return String(v);
}
