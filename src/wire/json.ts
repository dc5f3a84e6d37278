/**
 * Proto3 canonical JSON for the command line (docs/contract.md, "Command line"): lowerCamelCase names,
 * 64-bit integers as decimal strings, bytes as base64, enums by name.
 *
 * Parsing is strict and goes JSON -> message object (the shapes the gRPC loader produces) ->
 * domain through convert.ts, so hand-written JSON and gRPC requests pass the same validation.
 * Parsers also accept the snake_case field names, JSON numbers for 64-bit fields when they are
 * exact, enum numbers, URL-safe or unpadded base64 and, where an Antichain or Timestamp message
 * is expected, the short forms `[["1","0"],["0","1"]]` and `["1","0"]`. Unknown fields are
 * rejected. Every error is a CompactdError `invalid` with a one-line message naming the field.
 *
 * Rendering emits every field without presence (defaults included) so output is explicit, and
 * fields with presence (messages, `optional` scalars) only when set.
 */
import { Buffer } from 'node:buffer';
import type { Antichain } from '../model/antichain.js';
import type { CompactRequest, CompactResponse, HollowBatch } from '../model/batch.js';
import type { Timestamp } from '../model/timestamp.js';
import type { Update } from '../model/update.js';
import {
  EMPTY_TIMESTAMP,
  antichainFromProto,
  antichainToProto,
  compactRequestFromProto,
  validCompactRequestFromProto,
  compactRequestToProto,
  compactResponseFromProto,
  compactResponseToProto,
  hollowBatchFromProto,
  hollowBatchToProto,
  serviceConfigFromProto,
  serviceConfigToProto,
  updateConfigRequestFromProto,
  type RequestLimits,
  type ServiceConfig,
  type ServiceConfigUpdate,
  type ValidCompactRequest,
} from './convert.js';
import { at, fail, show } from '../model/util/paths.js';
import { readI64, readU64 } from './integers.js';
import { ENUMS, MESSAGES, jsonName, type FieldSpec } from './schema.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

// The schema of the messages is read from the .proto (schema.ts), not restated here.
export { ENUMS, MESSAGES, jsonName, type FieldSpec, type FieldType, type ScalarType } from './schema.js';

// ---------------------------------------------------------------------------------------------
// Errors and small readers.

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses JSON text (or passes an already parsed value through); syntax errors are `invalid`. */
export function parseJson(input: unknown, what = 'JSON'): unknown {
  if (typeof input !== 'string') return input;
  try {
    return JSON.parse(input);
  } catch (err) {
    return fail('', `bad ${what}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`);
  }
}

/** Reads a u64 from JSON: a decimal string or an exact non-negative JSON number. */
export const u64FromJson = readU64;

/** Reads an i64 from JSON: a decimal string or an exact JSON number. */
export const i64FromJson = readI64;

function u32FromJson(v: unknown, path: string): number {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string' && /^[0-9]+$/.test(v)) n = Number(v);
  else return fail(path, `expected an unsigned 32-bit integer, got ${show(v)}`);
  if (!Number.isInteger(n) || n < 0 || n > 0xffff_ffff) fail(path, `${show(v)} is not an unsigned 32-bit integer`);
  return n;
}

function doubleFromJson(v: unknown, path: string): number {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return NaN;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return fail(path, `expected a number, got ${show(v)}`);
}

const B64_STD = /^[A-Za-z0-9+/]*$/;
const B64_URL = /^[A-Za-z0-9_-]*$/;

/**
 * Decodes base64 strictly: standard or URL-safe alphabet, padding optional but correct when
 * present, and no stray bits in the last character (so each byte string has one spelling).
 * Anything else is `invalid`, where Buffer.from would silently skip characters.
 */
export function base64FromJson(v: unknown, path: string): Uint8Array {
  if (typeof v !== 'string') fail(path, `expected base64 bytes as a string, got ${show(v)}`);
  const body = v.replace(/=+$/, '');
  const pad = v.length - body.length;
  if (!B64_STD.test(body) && !B64_URL.test(body)) fail(path, `${show(v)} is not base64`);
  if (body.length % 4 === 1 || pad > 2 || (pad > 0 && v.length % 4 !== 0)) fail(path, `${show(v)} is not base64 (bad length or padding)`);
  const buf = Buffer.from(body, 'base64');
  const canonical = buf.toString('base64').replace(/=+$/, '');
  if (canonical !== body.replace(/-/g, '+').replace(/_/g, '/')) fail(path, `${show(v)} is not canonical base64`);
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Standard padded base64 of `bytes`. */
export function base64ToJson(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

// ---------------------------------------------------------------------------------------------
// Generic JSON <-> message object.

function defaultValue(f: FieldSpec): unknown {
  if (f.repeated) return [];
  const t = f.type;
  if (typeof t === 'object') return 'message' in t ? null : ENUMS[t.enum][0];
  switch (t) {
    case 'u64':
    case 'i64':
      return '0';
    case 'u32':
    case 'double':
      return 0;
    case 'bool':
      return false;
    case 'string':
      return '';
    case 'bytes':
      return Buffer.alloc(0);
  }
}

function valueFromJson(f: FieldSpec, v: unknown, path: string): unknown {
  const t = f.type;
  if (typeof t === 'object') {
    if ('message' in t) return messageFromJson(t.message, v, path);
    const names = ENUMS[t.enum];
    if (typeof v === 'string' && names.includes(v)) return v;
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v < names.length) return names[v];
    return fail(path, `${show(v)} is not one of ${names.join(', ')}`);
  }
  switch (t) {
    case 'u64':
      return u64FromJson(v, path).toString();
    case 'i64':
      return i64FromJson(v, path).toString();
    case 'u32':
      return u32FromJson(v, path);
    case 'double':
      return doubleFromJson(v, path);
    case 'bool':
      if (typeof v !== 'boolean') fail(path, `expected true or false, got ${show(v)}`);
      return v;
    case 'string':
      if (typeof v !== 'string') fail(path, `expected a string, got ${show(v)}`);
      return v;
    case 'bytes': {
      const b = base64FromJson(v, path);
      return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    }
  }
}

/**
 * Converts a parsed JSON value into the message object of `type` (a key of MESSAGES), in the
 * shape the gRPC loader produces: snake_case properties, 64-bit integers as decimal strings,
 * bytes as Buffers, enums as names, defaults filled, oneof and optional virtual fields set.
 */
export function messageFromJson(type: string, value: unknown, path = ''): Record<string, unknown> {
  const spec = MESSAGES[type];
  if (!spec) throw new TypeError(`unknown message type ${type}`);
  // Short forms: a frontier as a list of timestamps, a timestamp as a list of coordinates. Their
  // errors name positions in what was written (`--lower[0][1]`), not the message fields.
  if (type === 'Antichain' || type === 'Timestamp') {
    const short = shortFormFromJson(type, value, path);
    if (short !== undefined) return short;
  }
  if (!isPlainObject(value)) fail(path, `expected a JSON object for ${type}, got ${show(value)}`);

  const out: Record<string, unknown> = {};
  const given = new Map<string, string>();
  for (const [key, raw] of Object.entries(value)) {
    // Only reachable for values built in code, not parsed from text: same as leaving the key out.
    if (raw === undefined) continue;
    const f = spec.find((s) => s.name === key || jsonName(s.name) === key);
    if (!f) fail(at(path, key), `unknown field of ${type}`);
    const fpath = at(path, jsonName(f.name));
    const earlier = given.get(f.name);
    if (earlier !== undefined) fail(fpath, `given twice (as ${JSON.stringify(earlier)} and ${JSON.stringify(key)})`);
    given.set(f.name, key);
    // proto3 JSON: null stands for the default value / absent message.
    if (raw === null) continue;
    if (f.repeated) {
      if (!Array.isArray(raw)) fail(fpath, `expected a list, got ${show(raw)}`);
      out[f.name] = raw.map((e, i) => {
        if (e === null) fail(`${fpath}[${i}]`, 'null is not allowed in a list');
        return valueFromJson(f, e, `${fpath}[${i}]`);
      });
    } else {
      out[f.name] = valueFromJson(f, raw, fpath);
    }
  }

  const oneofs = new Set(spec.flatMap((f) => (f.oneof ? [f.oneof] : [])));
  for (const group of oneofs) {
    const set = spec.filter((f) => f.oneof === group && out[f.name] !== undefined).map((f) => f.name);
    if (set.length > 1) fail(path, `only one of ${set.map(jsonName).join(', ')} may be set`);
    if (set.length === 1) out[group] = set[0];
  }
  for (const f of spec) {
    if (out[f.name] !== undefined) {
      if (f.optional) out[`_${f.name}`] = f.name;
      continue;
    }
    if (f.optional || f.oneof) continue;
    out[f.name] = defaultValue(f);
  }
  return out;
}

/** What a frontier and a timestamp look like, for messages. */
const SHORT_FORM_SHAPE: Readonly<Record<'Antichain' | 'Timestamp', string>> = {
  Antichain: 'a frontier: a list of timestamps such as [["0"]] ([] is the empty frontier)',
  Timestamp: 'a timestamp: a list of coordinates such as ["0"]',
};

/**
 * Reads the short form of an Antichain (`[["1","0"]]`) or a Timestamp (`["1","0"]`) into the
 * message object; undefined when `value` is the message form (an object), to be read as such.
 */
function shortFormFromJson(type: 'Antichain' | 'Timestamp', value: unknown, path: string): Record<string, unknown> | undefined {
  if (isPlainObject(value)) return undefined;
  if (!Array.isArray(value)) return fail(path, `expected ${SHORT_FORM_SHAPE[type]}, got ${show(value)}`);
  if (type === 'Antichain') return { elements: value.map((t, i) => messageFromJson('Timestamp', t, `${path}[${i}]`)) };
  // Checked here, where the path is the short form the user wrote (`--lower[0]`), not the
  // message form it becomes (`elements[0].coords`).
  if (value.length === 0) fail(path, EMPTY_TIMESTAMP);
  return { coords: value.map((c, i) => u64FromJson(c, `${path}[${i}]`).toString()) };
}

/** The short forms the docs write: a frontier as `[["0"]]`, a timestamp as `["0"]`. */
function shortFormToJson(type: 'Antichain' | 'Timestamp', message: object): JsonValue {
  const m = message as { elements?: readonly object[] | null; coords?: readonly unknown[] | null };
  if (type === 'Timestamp') return (m.coords ?? []).map((c) => String(c));
  return (m.elements ?? []).map((t) => shortFormToJson('Timestamp', t));
}

function valueToJson(f: FieldSpec, v: unknown): JsonValue {
  const t = f.type;
  if (typeof t === 'object') {
    if ('message' in t) {
      // Frontiers and timestamps are printed in the short form the docs use; both forms are read.
      if (t.message === 'Antichain' || t.message === 'Timestamp') return shortFormToJson(t.message, v as object);
      return messageToJson(t.message, v as object);
    }
    const names = ENUMS[t.enum];
    return typeof v === 'number' ? (names[v] ?? v) : String(v);
  }
  switch (t) {
    case 'u64':
    case 'i64':
      return String(v);
    case 'u32':
      return Number(v);
    case 'double': {
      const n = Number(v);
      return Number.isFinite(n) ? n : String(n);
    }
    case 'bool':
      return Boolean(v);
    case 'string':
      return String(v);
    case 'bytes':
      return base64ToJson(v as Uint8Array);
  }
}

/**
 * Renders a message object of `type` as canonical JSON: lowerCamelCase names in .proto order,
 * 64-bit integers as strings, bytes as base64, enums by name.
 */
export function messageToJson(type: string, message: object): JsonObject {
  const obj = message as Record<string, unknown>;
  const spec = MESSAGES[type];
  if (!spec) throw new TypeError(`unknown message type ${type}`);
  const out: JsonObject = {};
  for (const f of spec) {
    const v = obj[f.name];
    if (v === undefined || v === null) {
      const hasPresence = f.optional || f.oneof || (typeof f.type === 'object' && 'message' in f.type);
      if (hasPresence) continue;
      out[jsonName(f.name)] = f.repeated ? [] : valueToJson(f, defaultValue(f));
      continue;
    }
    out[jsonName(f.name)] = f.repeated ? (v as unknown[]).map((e) => valueToJson(f, e)) : valueToJson(f, v);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Domain-level entry points.

/** Parses a CompactRequest from JSON text or a parsed value to pass it on (see compactRequestFromProto). */
export function compactRequestFromJson(input: unknown): CompactRequest {
  const m = messageFromJson('CompactRequest', parseJson(input, 'CompactRequest JSON'));
  return compactRequestFromProto(m);
}

/** Parses and validates a CompactRequest from JSON for the engine (see validCompactRequestFromProto). */
export function validCompactRequestFromJson(input: unknown, limits?: RequestLimits): ValidCompactRequest {
  const m = messageFromJson('CompactRequest', parseJson(input, 'CompactRequest JSON'));
  return validCompactRequestFromProto(m, limits);
}

/** Renders a CompactRequest as canonical JSON. */
export function compactRequestToJson(r: CompactRequest): JsonObject {
  return messageToJson('CompactRequest', compactRequestToProto(r));
}

/** Parses a CompactResponse from JSON text or a parsed value. */
export function compactResponseFromJson(input: unknown): CompactResponse {
  const m = messageFromJson('CompactResponse', parseJson(input, 'CompactResponse JSON'));
  return compactResponseFromProto(m);
}

/** Renders a CompactResponse as canonical JSON. */
export function compactResponseToJson(r: CompactResponse): JsonObject {
  return messageToJson('CompactResponse', compactResponseToProto(r));
}

/** Parses a HollowBatch from JSON text or a parsed value. */
export function hollowBatchFromJson(input: unknown): HollowBatch {
  const m = messageFromJson('HollowBatch', parseJson(input, 'HollowBatch JSON'));
  return hollowBatchFromProto(m);
}

/** Renders a HollowBatch as canonical JSON. */
export function hollowBatchToJson(b: HollowBatch): JsonObject {
  return messageToJson('HollowBatch', hollowBatchToProto(b));
}

/**
 * Parses a frontier such as `[["0"]]` (a list of timestamps, each a list of u64 coordinates) or
 * the message form `{"elements":[{"coords":["0"]}]}`. `[]` is the empty frontier. Comparable
 * elements are rejected. `path` names the source in errors (e.g. `--lower`).
 */
export function antichainFromJson(input: unknown, path = ''): Antichain {
  const value = parseJson(input, path ? `${path} JSON` : 'antichain JSON');
  const m = messageFromJson('Antichain', value, path);
  return antichainFromProto(m, path);
}

/** Renders a frontier in the short form `[["0"]]`. */
export function antichainToJson(a: Antichain): JsonValue {
  return antichainToProto(a).elements.map((t) => t.coords);
}

/** Parses a ServiceConfig message from JSON. */
export function serviceConfigFromJson(input: unknown): ServiceConfig {
  const m = messageFromJson('ServiceConfig', parseJson(input, 'ServiceConfig JSON'));
  return serviceConfigFromProto(m);
}

/** Renders a ServiceConfig as canonical JSON. */
export function serviceConfigToJson(c: ServiceConfig): JsonObject {
  return messageToJson('ServiceConfig', serviceConfigToProto(c));
}

/** Parses an UpdateConfigRequest from JSON into the fields it sets. */
export function serviceConfigUpdateFromJson(input: unknown): ServiceConfigUpdate {
  const m = messageFromJson('UpdateConfigRequest', parseJson(input, 'UpdateConfigRequest JSON'));
  return updateConfigRequestFromProto(m);
}

// ---------------------------------------------------------------------------------------------
// NDJSON updates: {"k":"<base64>","v":"<base64>","t":["<u64>",...],"d":"<i64>"}

const UPDATE_FIELDS = ['k', 'v', 't', 'd'] as const;

/**
 * Parses one NDJSON update line. All four fields are required; `t` has `dims` entries when
 * `dims` is given (else at least one); `d` is any i64 (zero included: consolidation drops it).
 */
export function updateFromNdjsonLine(line: string, dims?: number): Update {
  const value = parseJson(line, 'NDJSON update');
  if (!isPlainObject(value)) fail('', `an update is a JSON object {"k","v","t","d"}, got ${show(value)}`);
  for (const key of Object.keys(value)) {
    if (!(UPDATE_FIELDS as readonly string[]).includes(key)) fail(key, 'unknown field of an update (expected k, v, t, d)');
  }
  for (const key of UPDATE_FIELDS) if (value[key] === undefined || value[key] === null) fail(key, 'missing');
  const k = base64FromJson(value.k, 'k');
  const v = base64FromJson(value.v, 'v');
  if (!Array.isArray(value.t)) fail('t', `expected a list of unsigned 64-bit integers, got ${show(value.t)}`);
  if (value.t.length === 0) fail('t', EMPTY_TIMESTAMP);
  if (dims !== undefined && value.t.length !== dims) fail('t', `has ${value.t.length} coordinates, expected ${dims}`);
  const t: Timestamp = value.t.map((c, i) => u64FromJson(c, `t[${i}]`));
  const d = i64FromJson(value.d, 'd');
  return { k, v, t, d };
}

/** Renders an update as one NDJSON line (no trailing newline). */
export function updateToNdjsonLine(u: Update): string {
  return JSON.stringify({ k: base64ToJson(u.k), v: base64ToJson(u.v), t: u.t.map((c) => c.toString()), d: u.d.toString() });
}

/**
 * Renders JSON for people: objects indented by two spaces, lists of scalars kept on one line
 * (`"coords": ["0", "5"]`), so a batch stays readable without losing any of JSON's syntax.
 */
export function formatJson(value: JsonValue, indent = ''): string {
  const isScalar = (v: JsonValue) => v === null || typeof v !== 'object';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    if (value.every(isScalar)) return `[${value.map((v) => JSON.stringify(v)).join(', ')}]`;
    // A frontier such as [["0"], ["5"]] stays on one line too.
    if (value.every((v) => Array.isArray(v) && v.every(isScalar))) return `[${value.map((v) => formatJson(v)).join(', ')}]`;
    return `[\n${value.map((v) => inner + formatJson(v, inner)).join(',\n')}\n${indent}]`;
  }
  const entries = Object.entries(value);
  if (entries.length === 0) return '{}';
  return `{\n${entries.map(([k, v]) => `${inner}${JSON.stringify(k)}: ${formatJson(v, inner)}`).join(',\n')}\n${indent}}`;
}
