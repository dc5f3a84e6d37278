/**
 * The rules of the messages, each stated once (docs/contract.md, "Validation"):
 * part keys and checksums, key_lower's length, frontier shapes, one timestamp dimension per
 * request, the request's size limits, consecutive inputs and since. The wire decoders only read
 * shapes (types, integer ranges, presence) and hand the result to the validation function of
 * their message; the engine takes the `ValidCompactRequest` this returns and checks nothing again.
 *
 * Every failure is a CompactdError, `invalid` or (for a size limit) `exhausted`, whose message
 * starts with the path of the offending field in JSON names: `inputs[2].runs[0].parts[1].hollow.key: ...`.
 * The rules run before any I/O, so a malformed request costs nothing and touches nothing.
 */
import { equals as acEquals, format as acFormat, isAntichain, lessThan, type Antichain } from './antichain.js';
import { recordedDiffsSum, type CompactRequest, type HollowBatch, type Part } from './batch.js';
import { formatDesc, type Description } from './description.js';
import {
  DEFAULT_MAX_ANTICHAIN_ELEMENTS,
  DEFAULT_MAX_DIMS,
  DEFAULT_MAX_INPUTS,
  DEFAULT_MAX_KEY_CHARS,
  DEFAULT_MAX_PARTS,
} from './defaults.js';
import { CompactdError, invalid } from './errors.js';
import { validatePartKey, validateShardId } from './keys.js';
import { compareLex, isValid } from './timestamp.js';
import { at, fail, show } from './util/paths.js';

/** Longest `key_lower` a writer may record (docs/contract.md, HollowPart). */
export const MAX_KEY_LOWER_BYTES = 100;

/**
 * `sha256:` and 64 hex digits. Either case is accepted (the service always took upper-case
 * digits); the wire decoders keep the lower-case form, which is what the engine computes.
 */
const CHECKSUM_RE = /^sha256:[0-9a-fA-F]{64}$/;

/** Size limits of one request: past them the answer is `exhausted` before any work. */
export interface RequestLimits {
  /** Most input batches one request may name. */
  readonly maxInputs: number;
  /** Most parts across all inputs. */
  readonly maxParts: number;
  /** Most timestamp coordinates. */
  readonly maxDims: number;
  /** Most elements of one frontier: checking that a frontier is an antichain costs their square. */
  readonly maxAntichainElements: number;
  /** Longest part key (at most the contract's 512 characters). */
  readonly maxKeyChars: number;
}

export const DEFAULT_REQUEST_LIMITS: RequestLimits = Object.freeze({
  maxInputs: DEFAULT_MAX_INPUTS,
  maxParts: DEFAULT_MAX_PARTS,
  maxDims: DEFAULT_MAX_DIMS,
  maxAntichainElements: DEFAULT_MAX_ANTICHAIN_ELEMENTS,
  maxKeyChars: DEFAULT_MAX_KEY_CHARS,
});

// A brand only the type checker sees: no other module can name it, so none can make the type
// without a cast, and the object itself stays a plain CompactRequest (equal to its decoded
// form, cloned to a worker thread as it is).
declare const validated: unique symbol;

/**
 * A CompactRequest that passed `validateCompactRequest`, with its frontiers in normal form. Only
 * that function makes one; the engine takes nothing else.
 */
export type ValidCompactRequest = CompactRequest & { readonly [validated]: true };

/** The timestamp dimension D of a validated request (its desc.lower is never empty). */
export function requestDimension(req: ValidCompactRequest): number {
  return req.desc.lower[0].length;
}

/** Rethrows a model rule's `invalid` error with the field path in front. */
export function withPath(path: string, f: () => void): void {
  try {
    f();
  } catch (err) {
    if (err instanceof CompactdError && err.kind === 'invalid') fail(path, err.message);
    throw err;
  }
}

/** Checks one part: a valid key, key_lower within its limit and a well-formed checksum; or inline bytes. */
export function validatePart(p: Part, path: string, maxKeyChars = DEFAULT_MAX_KEY_CHARS): void {
  if (p.kind === 'inline') {
    if (p.data.byteLength === 0) fail(at(path, 'inline.data'), 'an inline part needs its encoded bytes');
    return;
  }
  const hollow = at(path, 'hollow');
  withPath(at(hollow, 'key'), () => validatePartKey(p.key));
  if (p.key.length > maxKeyChars) {
    fail(path, `part key is ${p.key.length} characters, over the limit of ${maxKeyChars} (--max-key-chars)`);
  }
  if (p.keyLower.byteLength > MAX_KEY_LOWER_BYTES) {
    fail(at(hollow, 'keyLower'), `${p.keyLower.byteLength} bytes, more than ${MAX_KEY_LOWER_BYTES}`);
  }
  if (p.checksum !== '' && !CHECKSUM_RE.test(p.checksum)) {
    fail(at(hollow, 'checksum'), `${show(p.checksum)} is not "sha256:" followed by 64 hex digits`);
  }
  // A sum outside i64 is never recorded (docs/contract.md, "The diffs_sum rule"), so one that is
  // cannot have come from a writer that follows the rule.
  if (p.diffsSum !== undefined && recordedDiffsSum(p.diffsSum) === undefined) {
    fail(path, `diffsSum ${p.diffsSum} is outside the i64 range`);
  }
}

/**
 * Checks a frontier and returns it in normal form (sorted): timestamps of one dimension, mutually
 * incomparable (a set where one element is <= another is rejected, not reduced). Empty is the
 * empty frontier. More than `maxElements` elements is `exhausted`, checked before the quadratic test.
 */
export function validateAntichain(a: Antichain, path: string, maxElements = DEFAULT_MAX_ANTICHAIN_ELEMENTS): Antichain {
  if (a.length > maxElements) {
    throw new CompactdError('exhausted', `${path} has ${a.length} elements, over the limit of ${maxElements} (--max-antichain-elements)`);
  }
  const elements = at(path, 'elements');
  a.forEach((t, i) => {
    if (!isValid(t)) fail(`${elements}[${i}]`, 'timestamp coordinates must be u64 and at least one');
  });
  for (let i = 1; i < a.length; i++) {
    if (a[i].length !== a[0].length) fail(elements, `timestamps of different dimensions (${a[0].length} and ${a[i].length})`);
  }
  if (!isAntichain(a)) fail(path, `${acFormat(a)} is not an antichain: one element is <= another`);
  return [...a].sort(compareLex);
}

/** Checks a description (three frontiers of one dimension) and returns it in normal form. */
export function validateDescription(d: Description, path: string, maxElements = DEFAULT_MAX_ANTICHAIN_ELEMENTS): Description {
  const lower = validateAntichain(d.lower, at(path, 'lower'), maxElements);
  const upper = validateAntichain(d.upper, at(path, 'upper'), maxElements);
  const since = validateAntichain(d.since, at(path, 'since'), maxElements);
  let dims: number | undefined;
  for (const [name, a] of [['lower', lower], ['upper', upper], ['since', since]] as const) {
    if (a.length === 0) continue;
    if (dims === undefined) dims = a[0].length;
    else if (a[0].length !== dims) fail(at(path, name), `has ${a[0].length} coordinates where the description has ${dims}`);
  }
  return { lower, upper, since };
}

/** Checks a batch (its description and every part) and returns it with its description in normal form. */
export function validateHollowBatch(b: HollowBatch, path: string, limits: RequestLimits = DEFAULT_REQUEST_LIMITS): HollowBatch {
  const desc = validateDescription(b.desc, at(path, 'desc'), limits.maxAntichainElements);
  b.runs.forEach((r, j) => r.parts.forEach((p, k) => validatePart(p, `${at(path, 'runs')}[${j}].parts[${k}]`, limits.maxKeyChars)));
  return { ...b, desc };
}

/**
 * The rules of a CompactRequest's fields, each its own message's (Description, HollowBatch,
 * Part): what a codec checks when it reads a request it only passes on (the CLI's JSON, a round
 * trip). Returns the request with its frontiers in normal form.
 */
export function checkCompactRequestFields(req: CompactRequest, limits: RequestLimits = DEFAULT_REQUEST_LIMITS): CompactRequest {
  withPath('shardId', () => validateShardId(req.shardId));
  const desc = validateDescription(req.desc, 'desc', limits.maxAntichainElements);
  const inputs = req.inputs.map((b, i) => validateHollowBatch(b, `inputs[${i}]`, limits));
  return { ...req, desc, inputs };
}

/**
 * The validation of a CompactRequest: a valid shard id, sizes within `limits`, well-formed
 * frontiers and parts (checkCompactRequestFields), one timestamp dimension, a non-empty lower
 * frontier, inputs that tile [desc.lower, desc.upper) in order, and an output since at or in
 * advance of every input's. Returns the request with its frontiers in normal form.
 */
export function validateCompactRequest(req: CompactRequest, limits: RequestLimits = DEFAULT_REQUEST_LIMITS): ValidCompactRequest {
  if (req.inputs.length > limits.maxInputs) {
    throw new CompactdError('exhausted', `request names ${req.inputs.length} inputs, over the limit of ${limits.maxInputs}`);
  }
  let parts = 0;
  for (const b of req.inputs) for (const r of b.runs) parts += r.parts.length;
  if (parts > limits.maxParts) {
    throw new CompactdError('exhausted', `request names ${parts} parts, over the limit of ${limits.maxParts}`);
  }
  const { desc, inputs } = checkCompactRequestFields(req, limits);
  requestDims(desc, inputs, limits);
  [desc, ...inputs.map((b) => b.desc)].forEach((d, i) => {
    if (d.lower.length === 0) throw invalid(`${i === 0 ? 'desc' : `inputs[${i - 1}].desc`}: lower is the empty frontier ${formatDesc(d)}`);
  });

  // Consecutive: the inputs tile [desc.lower, desc.upper) in order.
  let frontier: Antichain = desc.lower;
  let frontierName = 'desc.lower';
  inputs.forEach((b, i) => {
    if (!acEquals(b.desc.lower, frontier)) {
      throw invalid(
        `invalid merge of non-consecutive batches: inputs[${i}].desc.lower ${acFormat(b.desc.lower)} != ${frontierName} ${acFormat(frontier)}`,
      );
    }
    frontier = b.desc.upper;
    frontierName = `inputs[${i}].desc.upper`;
  });
  if (!acEquals(frontier, desc.upper)) {
    throw invalid(`invalid merge of non-consecutive batches: ${frontierName} ${acFormat(frontier)} != desc.upper ${acFormat(desc.upper)}`);
  }
  inputs.forEach((b, i) => {
    if (lessThan(desc.since, b.desc.since)) {
      throw invalid(`output since ${acFormat(desc.since)} must be at or in advance of input since ${acFormat(b.desc.since)} (inputs[${i}])`);
    }
  });
  const checked: CompactRequest = { ...req, desc, inputs };
  return checked as ValidCompactRequest;
}

/** The one timestamp dimension of a request's frontiers; `exhausted` past `limits.maxDims`. */
function requestDims(desc: Description, inputs: readonly HollowBatch[], limits: RequestLimits): number {
  let dims: number | undefined;
  const see = (a: Antichain, where: string) => {
    for (const t of a) {
      if (dims === undefined) dims = t.length;
      else if (t.length !== dims) throw invalid(`${where}: mixed timestamp dimensions (${t.length} vs ${dims})`);
    }
  };
  const seeDesc = (d: Description, where: string) => {
    see(d.lower, `${where}.lower`);
    see(d.upper, `${where}.upper`);
    see(d.since, `${where}.since`);
  };
  seeDesc(desc, 'desc');
  inputs.forEach((b, i) => seeDesc(b.desc, `inputs[${i}].desc`));
  if (dims === undefined) throw invalid('desc: every antichain is empty, so the timestamp dimension is unknown');
  if (dims > limits.maxDims) {
    throw new CompactdError('exhausted', `timestamps have ${dims} coordinates, over the limit of ${limits.maxDims}`);
  }
  return dims;
}

/** A DeletePartsRequest in model form. */
export interface DeletePartsRequest {
  readonly shardId: string;
  readonly keys: readonly string[];
}

/** The validation of a DeletePartsRequest: a valid shard id and valid part keys within `maxKeyChars`. */
export function validateDeletePartsRequest(req: DeletePartsRequest, maxKeyChars = DEFAULT_MAX_KEY_CHARS): DeletePartsRequest {
  withPath('shardId', () => validateShardId(req.shardId));
  req.keys.forEach((key, i) => {
    withPath(`keys[${i}]`, () => validatePartKey(key));
    if (key.length > maxKeyChars) fail(`keys[${i}]`, `part key is ${key.length} characters, over the limit of ${maxKeyChars} (--max-key-chars)`);
  });
  return req;
}
