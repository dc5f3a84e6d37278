/**
 * Request validation (docs/contract.md, "Validation"). Runs before any
 * I/O so a malformed request costs nothing and touches nothing.
 */
import { equals as acEquals, format as acFormat, isAntichain, lessThan, type Antichain } from '../model/antichain.js';
import { recordedDiffsSum, type CompactRequest } from '../model/batch.js';
import { formatDesc, type Description } from '../model/description.js';
import { CompactdError, invalid } from '../model/errors.js';
import { validatePartKey, validateShardId } from '../model/keys.js';
import { isValid } from '../model/timestamp.js';
import type { EngineLimits } from './types.js';

const CHECKSUM_RE = /^sha256:[0-9a-f]{64}$/;
/** docs/contract.md, "HollowPart": key_lower is at most 100 bytes. */
export const KEY_LOWER_MAX_BYTES = 100;

/**
 * Throws an `invalid` CompactdError for a malformed request, non-consecutive inputs, a since
 * regression, mixed dimensions or a bad shard id or key; `exhausted` when over a size limit.
 * Returns the number of timestamp coordinates D.
 */
export function validateRequest(req: CompactRequest, limits: EngineLimits): number {
  validateShardId(req.shardId);
  if (req.inputs.length > limits.maxInputs) {
    throw new CompactdError('exhausted', `request names ${req.inputs.length} inputs, over the limit of ${limits.maxInputs}`);
  }
  let parts = 0;
  for (const b of req.inputs) for (const r of b.runs) parts += r.parts.length;
  if (parts > limits.maxParts) {
    throw new CompactdError('exhausted', `request names ${parts} parts, over the limit of ${limits.maxParts}`);
  }

  const dims = checkDims(req, limits);
  checkDesc(req.desc, 'desc', limits);
  req.inputs.forEach((b, i) => checkDesc(b.desc, `inputs[${i}].desc`, limits));

  // Consecutive: the inputs tile [desc.lower, desc.upper) in order.
  let frontier: Antichain = req.desc.lower;
  let frontierName = 'desc.lower';
  req.inputs.forEach((b, i) => {
    if (!acEquals(b.desc.lower, frontier)) {
      throw invalid(
        `invalid merge of non-consecutive batches: inputs[${i}].desc.lower ${acFormat(b.desc.lower)} != ${frontierName} ${acFormat(frontier)}`,
      );
    }
    frontier = b.desc.upper;
    frontierName = `inputs[${i}].desc.upper`;
  });
  if (!acEquals(frontier, req.desc.upper)) {
    throw invalid(
      `invalid merge of non-consecutive batches: ${frontierName} ${acFormat(frontier)} != desc.upper ${acFormat(req.desc.upper)}`,
    );
  }

  req.inputs.forEach((b, i) => {
    if (lessThan(req.desc.since, b.desc.since)) {
      throw invalid(
        `output since ${acFormat(req.desc.since)} must be at or in advance of input since ${acFormat(b.desc.since)} (inputs[${i}])`,
      );
    }
  });

  req.inputs.forEach((b, i) =>
    b.runs.forEach((r, j) =>
      r.parts.forEach((p, k) => {
        const where = `inputs[${i}].runs[${j}].parts[${k}]`;
        if (p.kind === 'inline') return;
        try {
          validatePartKey(p.key);
        } catch (err) {
          throw invalid(`${where}: ${(err as Error).message}`);
        }
        if (p.checksum !== '' && !CHECKSUM_RE.test(p.checksum)) {
          throw invalid(`${where}: checksum must be "sha256:<64 hex digits>" or empty`);
        }
        if (p.keyLower.byteLength > KEY_LOWER_MAX_BYTES) {
          throw invalid(`${where}: keyLower is longer than ${KEY_LOWER_MAX_BYTES} bytes`);
        }
        if (p.diffsSum !== undefined && recordedDiffsSum(p.diffsSum) === undefined) {
          throw invalid(`${where}: diffsSum ${p.diffsSum} is outside the i64 range`);
        }
      }),
    ),
  );
  return dims;
}

function checkDims(req: CompactRequest, limits: EngineLimits): number {
  let dims: number | undefined;
  const see = (a: Antichain, where: string) => {
    for (const t of a) {
      if (!isValid(t)) throw invalid(`${where}: timestamp coordinates must be u64 and at least one`);
      if (dims === undefined) dims = t.length;
      else if (t.length !== dims) {
        throw invalid(`${where}: mixed timestamp dimensions (${t.length} vs ${dims})`);
      }
    }
  };
  const seeDesc = (d: Description, where: string) => {
    see(d.lower, `${where}.lower`);
    see(d.upper, `${where}.upper`);
    see(d.since, `${where}.since`);
  };
  seeDesc(req.desc, 'desc');
  req.inputs.forEach((b, i) => seeDesc(b.desc, `inputs[${i}].desc`));
  if (dims === undefined) throw invalid(`desc: every antichain is empty, so the timestamp dimension is unknown`);
  if (dims > limits.maxDims) {
    throw new CompactdError('exhausted', `timestamps have ${dims} coordinates, over the limit of ${limits.maxDims}`);
  }
  return dims;
}

function checkDesc(d: Description, where: string, limits: EngineLimits): void {
  for (const [name, a] of [['lower', d.lower], ['upper', d.upper], ['since', d.since]] as const) {
    if (a.length > limits.maxAntichainElements) {
      throw new CompactdError('exhausted', `${where}.${name} has ${a.length} elements, over the limit of ${limits.maxAntichainElements}`);
    }
    if (!isAntichain(a)) throw invalid(`${where}.${name} is not an antichain: ${acFormat(a)}`);
  }
  if (d.lower.length === 0) throw invalid(`${where}: lower is the empty frontier ${formatDesc(d)}`);
}
