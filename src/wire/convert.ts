/**
 * The one mapping between protobuf message objects (the shapes in src/gen, as produced by the
 * loader options in load.ts) and the domain model in src/model.
 *
 * Decoding (`*FromProto`) reads shapes: every field is type-checked at run time because the
 * objects may also come from hand-written JSON (json.ts). A malformed value is a CompactdError of
 * kind `invalid` whose message starts with the field path in JSON names, e.g.
 * `inputs[2].runs[0].parts[1].hollow.encodedSizeBytes: ...`. Every rule beyond the shape (keys,
 * checksums, frontiers, limits, consecutive inputs, since) is the model's (model/validate.ts):
 * each message's decoder ends in that message's validation function, so a message decoded here
 * is a validated model object and nothing downstream checks it again.
 *
 * Encoding (`*ToProto`) produces fully populated `__Output` shapes, which gRPC accepts as input
 * and json.ts renders.
 */
import { Buffer } from 'node:buffer';
import type { Antichain } from '../model/antichain.js';
import type {
  CompactOutcome,
  CompactRequest,
  CompactResponse,
  CompactStats,
  HollowBatch,
  HollowPart,
  Part,
  Run,
  RunOrder,
} from '../model/batch.js';
import { emptyStats } from '../model/batch.js';
import type { Description } from '../model/description.js';
import { internal } from '../model/errors.js';
import { validateCompactionId } from '../model/compaction-id.js';
import type { Timestamp } from '../model/timestamp.js';
import { I64_MAX, I64_MIN } from '../model/util/sizes.js';
import { readI64, readU64 } from './integers.js';
import {
  DEFAULT_REQUEST_LIMITS,
  validateAntichain,
  checkCompactRequestFields,
  validateCompactRequest,
  validateDescription,
  validateDeletePartsRequest,
  validateHollowBatch,
  withPath,
  type DeletePartsRequest,
  type RequestLimits,
  type ValidCompactRequest,
} from '../model/validate.js';
import { DEFAULT_MAX_KEY_CHARS } from '../model/defaults.js';
import type { Antichain__Output } from '../gen/compactd/v1/Antichain.js';
import type { CompactRequest__Output } from '../gen/compactd/v1/CompactRequest.js';
import type { CompactResponse__Output } from '../gen/compactd/v1/CompactResponse.js';
import type { CompactStats__Output } from '../gen/compactd/v1/CompactStats.js';
import type { DeletePartsRequest__Output } from '../gen/compactd/v1/DeletePartsRequest.js';
import type { DeletePartsResponse__Output } from '../gen/compactd/v1/DeletePartsResponse.js';
import type { Description__Output } from '../gen/compactd/v1/Description.js';
import type { HollowBatch__Output } from '../gen/compactd/v1/HollowBatch.js';
import type { HollowPart__Output } from '../gen/compactd/v1/HollowPart.js';
import type { Part__Output } from '../gen/compactd/v1/Part.js';
import type { Run__Output } from '../gen/compactd/v1/Run.js';
import type { RunOrder__Output } from '../gen/compactd/v1/RunOrder.js';
import type { ServiceConfig__Output } from '../gen/compactd/v1/ServiceConfig.js';
import type { Timestamp__Output } from '../gen/compactd/v1/Timestamp.js';
import type { UpdateConfigRequest__Output } from '../gen/compactd/v1/UpdateConfigRequest.js';
import { at, fail, show } from '../model/util/paths.js';
import { jsonName, MESSAGES } from './schema.js';
import type { ServiceConfig } from '../model/service-config.js';

// ---------------------------------------------------------------------------------------------
// Domain forms of the messages the model does not cover.

export type { DeletePartsRequest, RequestLimits, ValidCompactRequest };

export interface DeletePartsResponse {
  readonly deleted: number;
  readonly missing: number;
}

export type { ServiceConfig };

/** An UpdateConfigRequest: only the fields present are changed. */
export type ServiceConfigUpdate = Partial<ServiceConfig>;

// ---------------------------------------------------------------------------------------------
// Scalar readers. `path` is the JSON path of the field, used as the message prefix.

const u64 = readU64;
const i64 = readI64;

/** A uint64 count held as a JS number: values past 2^53 - 1 cannot be represented exactly. */
function count(v: unknown, path: string): number {
  const n = u64(v, path);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) fail(path, `${n} exceeds 2^53 - 1, the largest supported count`);
  return Number(n);
}

function u32(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) fail(path, `expected an unsigned 32-bit integer, got ${show(v)}`);
  if (v < 0 || v > 0xffff_ffff) fail(path, `${v} leaves the uint32 range`);
  return v;
}

function nonNegativeDouble(v: unknown, path: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(path, `expected a finite number, got ${show(v)}`);
  if (v < 0) fail(path, `${v} is negative`);
  return v;
}

function bool(v: unknown, path: string): boolean {
  if (typeof v !== 'boolean') fail(path, `expected a boolean, got ${show(v)}`);
  return v;
}

function str(v: unknown, path: string): string {
  if (typeof v !== 'string') fail(path, `expected a string, got ${show(v)}`);
  return v;
}

function bytes(v: unknown, path: string): Uint8Array {
  if (!(v instanceof Uint8Array)) fail(path, `expected bytes, got ${show(v)}`);
  // A plain view over the same memory: the domain model does not depend on Buffer.
  return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
}

function list(v: unknown, path: string): readonly unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) fail(path, `expected a list, got ${show(v)}`);
  return v;
}

function message(v: unknown, path: string): Record<string, unknown> {
  if (v === undefined || v === null) fail(path, 'missing');
  if (typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) fail(path, `expected a message, got ${show(v)}`);
  return v as Record<string, unknown>;
}

function present(v: unknown): boolean {
  return v !== undefined && v !== null;
}

// Encoding helpers: the domain is trusted, but a non-integer count would silently become a
// malformed proto string, so it is treated as a bug.
function countToProto(n: number, what: string): string {
  if (!Number.isSafeInteger(n) || n < 0) throw internal(`${what} is not a non-negative safe integer: ${n}`);
  return n.toString();
}

function toBuffer(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

// ---------------------------------------------------------------------------------------------
// Timestamps, antichains, descriptions.

/** Why a timestamp without coordinates is refused (every reader says it the same way). */
export const EMPTY_TIMESTAMP = 'a timestamp needs at least one coordinate';

/** Decodes a Timestamp: at least one coordinate, each a u64. */
export function timestampFromProto(msg: unknown, path = ''): Timestamp {
  const m = message(msg, path);
  const coordsPath = at(path, 'coords');
  const coords = list(m.coords, coordsPath);
  if (coords.length === 0) fail(coordsPath, EMPTY_TIMESTAMP);
  return coords.map((c, i) => u64(c, `${coordsPath}[${i}]`));
}

/** Encodes a Timestamp as decimal strings. */
export function timestampToProto(t: Timestamp): Timestamp__Output {
  return { coords: t.map((c) => c.toString()) };
}

/** Reads the shape of an Antichain: a list of timestamps, as given. */
function antichainShape(msg: unknown, path: string): Antichain {
  const m = message(msg, path);
  const elemsPath = at(path, 'elements');
  return list(m.elements, elemsPath).map((e, i) => timestampFromProto(e as Timestamp__Output, `${elemsPath}[${i}]`));
}

/**
 * Decodes an Antichain on its own (a frontier given on the command line): timestamps of one
 * dimension, mutually incomparable, in normal form (model/validate.ts validateAntichain).
 */
export function antichainFromProto(msg: unknown, path = ''): Antichain {
  return validateAntichain(antichainShape(msg, path), path);
}

/** Encodes an Antichain. */
export function antichainToProto(a: Antichain): Antichain__Output {
  return { elements: a.map(timestampToProto) };
}

/** Reads the shape of a Description: lower, upper and since must all be present. */
function descriptionShape(msg: unknown, path: string): Description {
  const m = message(msg, path);
  const lower = antichainShape(m.lower as Antichain__Output, at(path, 'lower'));
  const upper = antichainShape(m.upper as Antichain__Output, at(path, 'upper'));
  const since = antichainShape(m.since as Antichain__Output, at(path, 'since'));
  return { lower, upper, since };
}

/** Decodes a Description and validates it (model/validate.ts validateDescription). */
export function descriptionFromProto(msg: unknown, path = ''): Description {
  return validateDescription(descriptionShape(msg, path), path);
}

/** Encodes a Description. */
export function descriptionToProto(d: Description): Description__Output {
  return { lower: antichainToProto(d.lower), upper: antichainToProto(d.upper), since: antichainToProto(d.since) };
}

// ---------------------------------------------------------------------------------------------
// Parts, runs, batches.

function hollowPartFromProto(msg: unknown, path: string): HollowPart {
  const m = message(msg, path);
  const key = str(m.key, at(path, 'key'));
  const keyLower = present(m.key_lower) ? bytes(m.key_lower, at(path, 'keyLower')) : new Uint8Array(0);
  const checksum = present(m.checksum) ? str(m.checksum, at(path, 'checksum')) : '';
  const part: HollowPart = {
    kind: 'hollow',
    key,
    encodedSizeBytes: count(m.encoded_size_bytes ?? '0', at(path, 'encodedSizeBytes')),
    updates: count(m.updates ?? '0', at(path, 'updates')),
    keyLower,
    // Hex digits read in either case; the model keeps the lower-case form the engine computes.
    checksum: checksum.toLowerCase(),
  };
  return present(m.diffs_sum) ? { ...part, diffsSum: i64(m.diffs_sum, at(path, 'diffsSum')) } : part;
}

/** Reads the shape of a Part: exactly one of `hollow` or `inline`. */
export function partFromProto(msg: unknown, path = ''): Part {
  const m = message(msg, path);
  // Presence decides, not the virtual `kind` field: JSON input has no such field.
  const hasHollow = present(m.hollow);
  const hasInline = present(m.inline);
  if (hasHollow && hasInline) fail(path, 'a part is either hollow or inline, not both');
  if (hasHollow) return hollowPartFromProto(m.hollow, at(path, 'hollow'));
  if (hasInline) {
    const inl = message(m.inline, at(path, 'inline'));
    const data = present(inl.data) ? bytes(inl.data, at(path, 'inline.data')) : new Uint8Array(0);
    return { kind: 'inline', data };
  }
  return fail(path, 'a part needs one of hollow or inline');
}

/** Encodes a Part. */
export function partToProto(p: Part): Part__Output {
  if (p.kind === 'inline') return { inline: { data: toBuffer(p.data) }, kind: 'inline' };
  const hollow: HollowPart__Output = {
    key: p.key,
    encoded_size_bytes: countToProto(p.encodedSizeBytes, 'encodedSizeBytes'),
    updates: countToProto(p.updates, 'updates'),
    key_lower: toBuffer(p.keyLower),
    checksum: p.checksum,
  };
  if (p.diffsSum !== undefined) {
    // An int64 field cannot hold it: writers leave the field out instead (recordedDiffsSum).
    if (p.diffsSum < I64_MIN || p.diffsSum > I64_MAX) throw internal(`diffsSum ${p.diffsSum} is outside the int64 range`);
    hollow.diffs_sum = p.diffsSum.toString();
    hollow._diffs_sum = 'diffs_sum';
  }
  return { hollow, kind: 'hollow' };
}

const RUN_ORDERS: Record<string, RunOrder> = {
  RUN_ORDER_ORDERED: 'ordered',
  RUN_ORDER_UNORDERED: 'unordered',
  0: 'ordered',
  1: 'unordered',
};

/** Reads a Run; an unknown order value is invalid rather than read as ordered. */
function runFromProto(msg: unknown, path = ''): Run {
  const m = message(msg, path);
  const partsPath = at(path, 'parts');
  const parts = list(m.parts, partsPath).map((p, i) => partFromProto(p as Part__Output, `${partsPath}[${i}]`));
  const rawOrder = m.order ?? 'RUN_ORDER_ORDERED';
  const order = (typeof rawOrder === 'string' || typeof rawOrder === 'number') ? RUN_ORDERS[rawOrder] : undefined;
  if (order === undefined) fail(at(path, 'order'), `unknown run order ${show(rawOrder)}`);
  return { parts, order };
}

/** Encodes a Run. */
export function runToProto(r: Run): Run__Output {
  const order: RunOrder__Output = r.order === 'ordered' ? 'RUN_ORDER_ORDERED' : 'RUN_ORDER_UNORDERED';
  return { parts: r.parts.map(partToProto), order };
}

/** Reads the shape of a HollowBatch: desc required, len a count that fits a JS number. */
function hollowBatchShape(msg: unknown, path: string): HollowBatch {
  const m = message(msg, path);
  const desc = descriptionShape(m.desc as Description__Output, at(path, 'desc'));
  const runsPath = at(path, 'runs');
  const runs = list(m.runs, runsPath).map((r, i) => runFromProto(r as Run__Output, `${runsPath}[${i}]`));
  const len = count(m.len ?? '0', at(path, 'len'));
  return { desc, runs, len };
}

/** Decodes a HollowBatch and validates it (model/validate.ts validateHollowBatch). */
export function hollowBatchFromProto(msg: unknown, path = ''): HollowBatch {
  return validateHollowBatch(hollowBatchShape(msg, path), path);
}

/** Encodes a HollowBatch. */
export function hollowBatchToProto(b: HollowBatch): HollowBatch__Output {
  return { desc: descriptionToProto(b.desc), runs: b.runs.map(runToProto), len: countToProto(b.len, 'len') };
}

// ---------------------------------------------------------------------------------------------
// Requests and responses.

function compactRequestShape(msg: unknown): CompactRequest {
  const m = message(msg, '');
  const shardId = str(m.shard_id ?? '', 'shardId');
  const desc = descriptionShape(m.desc as Description__Output, 'desc');
  const inputs = list(m.inputs, 'inputs').map((b, i) => hollowBatchShape(b as HollowBatch__Output, `inputs[${i}]`));
  const force = present(m.force) ? bool(m.force, 'force') : false;
  const requestId = present(m.request_id) ? str(m.request_id, 'requestId') : '';
  const compactionId = present(m.compaction_id) ? str(m.compaction_id, 'compactionId') : '';
  if (compactionId === '') return { shardId, desc, inputs, force, requestId };
  withPath('compactionId', () => validateCompactionId(compactionId));
  return { shardId, desc, inputs, force, requestId, compactionId };
}

/**
 * The validating boundary of a CompactRequest: reads the message's shape and validates it once
 * against `limits` (model/validate.ts validateCompactRequest). The service decodes every request
 * here; the engine takes the result as it is.
 */
export function validCompactRequestFromProto(
  msg: unknown,
  limits: RequestLimits = DEFAULT_REQUEST_LIMITS,
): ValidCompactRequest {
  return validateCompactRequest(compactRequestShape(msg), limits);
}

/**
 * Reads a CompactRequest to pass it on (a client, a round trip): its shape and its fields' rules
 * (model/validate.ts checkCompactRequestFields), not the request-wide ones the service applies.
 */
export function compactRequestFromProto(msg: unknown): CompactRequest {
  return checkCompactRequestFields(compactRequestShape(msg));
}

/** Encodes a CompactRequest. */
export function compactRequestToProto(r: CompactRequest): CompactRequest__Output {
  return {
    shard_id: r.shardId,
    desc: descriptionToProto(r.desc),
    inputs: r.inputs.map(hollowBatchToProto),
    force: r.force,
    request_id: r.requestId,
    compaction_id: r.compactionId ?? '',
  };
}

/** Decodes CompactStats; an absent message reads as all zeros. */
export function compactStatsFromProto(msg: unknown, path = ''): CompactStats {
  if (!present(msg)) return emptyStats();
  const m = message(msg, path);
  const c = (name: string, json: string) => count(m[name] ?? '0', at(path, json));
  const n = (name: string, json: string) => u32(m[name] ?? 0, at(path, json));
  const s = (name: string, json: string) => nonNegativeDouble(m[name] ?? 0, at(path, json));
  const resumedBytes = c('resumed_bytes', 'resumedBytes');
  return {
    ...(resumedBytes > 0 ? { resumedBytes } : {}),
    inputUpdates: c('input_updates', 'inputUpdates'),
    outputUpdates: c('output_updates', 'outputUpdates'),
    inputBytes: c('input_bytes', 'inputBytes'),
    outputBytes: c('output_bytes', 'outputBytes'),
    inputRuns: n('input_runs', 'inputRuns'),
    outputRuns: n('output_runs', 'outputRuns'),
    chunks: n('chunks', 'chunks'),
    memoryViolations: n('memory_violations', 'memoryViolations'),
    queuedSeconds: s('queued_seconds', 'queuedSeconds'),
    runSeconds: s('run_seconds', 'runSeconds'),
  };
}

/** Encodes CompactStats. */
export function compactStatsToProto(s: CompactStats): CompactStats__Output {
  return {
    input_updates: countToProto(s.inputUpdates, 'inputUpdates'),
    output_updates: countToProto(s.outputUpdates, 'outputUpdates'),
    input_bytes: countToProto(s.inputBytes, 'inputBytes'),
    output_bytes: countToProto(s.outputBytes, 'outputBytes'),
    input_runs: s.inputRuns,
    output_runs: s.outputRuns,
    chunks: s.chunks,
    memory_violations: s.memoryViolations,
    queued_seconds: s.queuedSeconds,
    run_seconds: s.runSeconds,
    resumed_bytes: countToProto(s.resumedBytes ?? 0, 'resumedBytes'),
  };
}

const OUTCOMES: Record<string, CompactOutcome> = { COMPACTED: 'compacted', SKIPPED: 'skipped', 1: 'compacted', 2: 'skipped' };

/** Decodes a CompactResponse: a known outcome, and an output batch when compacted. */
export function compactResponseFromProto(msg: unknown): CompactResponse {
  const m = message(msg, '');
  const raw = m.outcome;
  const outcome = typeof raw === 'string' || typeof raw === 'number' ? OUTCOMES[raw] : undefined;
  if (outcome === undefined) fail('outcome', `unknown or unspecified outcome ${show(raw)}`);
  const stats = compactStatsFromProto(m.stats as CompactStats__Output, 'stats');
  const reasonText = str(m.reason ?? '', 'reason');
  const reason = reasonText === '' ? {} : { reason: reasonText };
  if (!present(m.output)) {
    if (outcome === 'compacted') fail('output', 'missing for a compacted response');
    return { outcome, stats, ...reason };
  }
  return { outcome, output: validateHollowBatch(hollowBatchShape(m.output as HollowBatch__Output, 'output'), 'output'), stats, ...reason };
}

/** Encodes a CompactResponse. */
export function compactResponseToProto(r: CompactResponse): CompactResponse__Output {
  return {
    outcome: r.outcome === 'compacted' ? 'COMPACTED' : 'SKIPPED',
    output: r.output ? hollowBatchToProto(r.output) : null,
    stats: compactStatsToProto(r.stats),
    reason: r.reason ?? '',
  };
}

/**
 * The one way a DeletePartsRequest message becomes a model object: a valid shard id and valid
 * part keys of at most `maxKeyChars` (ownership is the service's authorization, not a shape rule).
 */
export function deletePartsRequestFromProto(
  msg: unknown,
  maxKeyChars = DEFAULT_MAX_KEY_CHARS,
): DeletePartsRequest {
  const m = message(msg, '');
  const shardId = str(m.shard_id ?? '', 'shardId');
  const keys = list(m.keys, 'keys').map((k, i) => str(k, `keys[${i}]`));
  return validateDeletePartsRequest({ shardId, keys }, maxKeyChars);
}

/** Encodes a DeletePartsRequest. */
export function deletePartsRequestToProto(r: DeletePartsRequest): DeletePartsRequest__Output {
  return { shard_id: r.shardId, keys: [...r.keys] };
}

/** Decodes a DeletePartsResponse. */
export function deletePartsResponseFromProto(msg: unknown): DeletePartsResponse {
  const m = message(msg, '');
  return { deleted: u32(m.deleted ?? 0, 'deleted'), missing: u32(m.missing ?? 0, 'missing') };
}

/** Encodes a DeletePartsResponse. */
export function deletePartsResponseToProto(r: DeletePartsResponse): DeletePartsResponse__Output {
  return { deleted: r.deleted, missing: r.missing };
}

interface ConfigField {
  readonly proto: keyof ServiceConfig__Output;
  readonly key: keyof ServiceConfig;
  readonly kind: 'bool' | 'u32' | 'u64' | 'double';
}

const CONFIG_KINDS: Readonly<Record<string, ConfigField['kind']>> = { bool: 'bool', u32: 'u32', u64: 'u64', double: 'double' };

// The fields of ServiceConfig as the .proto declares them (schema.ts); UpdateConfigRequest has
// the same fields with presence. The model's key of each is its JSON name.
const CONFIG_FIELDS: readonly ConfigField[] = MESSAGES.ServiceConfig.map((f) => {
  const kind = typeof f.type === 'string' ? CONFIG_KINDS[f.type] : undefined;
  if (kind === undefined) throw internal(`ServiceConfig.${f.name}: no mapping for its type`);
  return { proto: f.name as keyof ServiceConfig__Output, key: jsonName(f.name) as keyof ServiceConfig, kind };
});

function configValue(f: ConfigField, v: unknown): boolean | number {
  switch (f.kind) {
    case 'bool':
      return bool(v, f.key);
    case 'u32':
      return u32(v, f.key);
    case 'u64':
      return count(v, f.key);
    case 'double':
      return nonNegativeDouble(v, f.key);
  }
}

function configValueToProto(f: ConfigField, v: boolean | number): boolean | number | string {
  return f.kind === 'u64' ? countToProto(v as number, f.key) : v;
}

/** Decodes a ServiceConfig (shape only: ranges such as concurrency >= 1 are the config layer's). */
export function serviceConfigFromProto(msg: unknown): ServiceConfig {
  const m = message(msg, '');
  const out: Partial<Record<keyof ServiceConfig, boolean | number>> = {};
  for (const f of CONFIG_FIELDS) {
    const v = m[f.proto] ?? (f.kind === 'bool' ? false : f.kind === 'u64' ? '0' : 0);
    out[f.key] = configValue(f, v);
  }
  // Every field of the .proto's ServiceConfig was set above; the model interface has the same keys.
  return out as ServiceConfig;
}

/** Encodes a ServiceConfig. */
export function serviceConfigToProto(c: ServiceConfig): ServiceConfig__Output {
  const out: Partial<Record<keyof ServiceConfig__Output, boolean | number | string>> = {};
  for (const f of CONFIG_FIELDS) out[f.proto] = configValueToProto(f, c[f.key]);
  return out as ServiceConfig__Output;
}

/** Decodes an UpdateConfigRequest into the fields it sets; absent fields are left out. */
export function updateConfigRequestFromProto(msg: unknown): ServiceConfigUpdate {
  const m = message(msg, '');
  const out: Record<string, boolean | number> = {};
  for (const f of CONFIG_FIELDS) if (present(m[f.proto])) out[f.key] = configValue(f, m[f.proto]);
  return out as ServiceConfigUpdate;
}

/** Encodes an UpdateConfigRequest with only the given fields set. */
export function updateConfigRequestToProto(u: ServiceConfigUpdate): UpdateConfigRequest__Output {
  const out: Partial<Record<keyof UpdateConfigRequest__Output, unknown>> = {};
  for (const f of CONFIG_FIELDS) {
    const v = u[f.key];
    if (v === undefined) continue;
    out[f.proto] = configValueToProto(f, v);
    // The loader's virtual field that says which optional field is present.
    out[`_${f.proto}` as keyof UpdateConfigRequest__Output] = f.proto;
  }
  return out as UpdateConfigRequest__Output;
}
