/**
 * The reader side of the part format: fetches every part of a HollowBatch (from the blob store or
 * inline), verifies what the batch records about it, decodes it and returns its updates, applying
 * the narrower-batch rule of docs/contract.md, "Narrower batches".
 *
 * Everything is held in memory: this is for writers reading back modest batches, tools and tests.
 */
import type { Blob } from '../blob/blob.js';
import { beyond, isMinimum } from '../model/antichain.js';
import type { HollowBatch, Part, RunOrder } from '../model/batch.js';
import { descDims, descEquals, formatDesc } from '../model/description.js';
import { CompactdError, dataLoss } from '../model/errors.js';
import { objectKey, validateShardId } from '../model/keys.js';
import { compareBytes, consolidate, type Update } from '../model/update.js';
import { partChecksum } from '../part/checksum.js';
import { ensureCodecs } from '../part/codecs.js';
import type { DecodedPart } from '../part/columns.js';
import { decodePart } from '../part/decode.js';
import { updatesFromColumns } from '../part/rows.js';
import { checkOrdered, compareRows } from '../part/validate.js';
import { DEFAULT_IN_FLIGHT, mapLimit } from './pool.js';

export interface BatchReaderOptions {
  readonly blob: Blob;
  readonly shardId: string;
  /** Fetches in flight at once (default 4). */
  readonly inFlight?: number;
}

export interface ReadOptions {
  readonly signal?: AbortSignal;
}

interface Located {
  readonly part: Part;
  readonly order: RunOrder;
  readonly run: number;
  /** How errors name the part: `<shard>/<key>`, or its position for inline parts. */
  readonly name: string;
}

export class BatchReader {
  readonly #blob: Blob;
  readonly #shardId: string;
  readonly #inFlight: number;

  /** Validates the shard id. */
  constructor(opts: BatchReaderOptions) {
    validateShardId(opts.shardId);
    this.#blob = opts.blob;
    this.#shardId = opts.shardId;
    this.#inFlight = Math.max(1, opts.inFlight ?? DEFAULT_IN_FLIGHT);
  }

  /**
   * Every update of `batch`, run by run and part by part in stored order (not consolidated).
   * Errors: a missing part is `not_found` naming it; a part whose size, checksum, update count,
   * diff sum or key lower bound disagrees with the batch, that cannot be decoded, whose dims differ
   * from the batch's, or that sits in an ORDERED run without being sorted and consolidated (also
   * across part boundaries) is `data_loss`. A part written under a different description than the
   * batch's must have the minimum since (else `data_loss`); only its rows with times beyond the
   * batch's lower and not beyond its upper are returned.
   */
  async read(batch: HollowBatch, opts: ReadOptions = {}): Promise<Update[]> {
    // Decoding a compressed part needs the codecs; registering them is a no-op after the first time.
    await ensureCodecs();
    const located: Located[] = [];
    batch.runs.forEach((run, r) =>
      run.parts.forEach((part, p) =>
        located.push({
          part,
          order: run.order,
          run: r,
          name: part.kind === 'hollow' ? objectKey(this.#shardId, part.key) : `inline part ${p} of run ${r}`,
        }),
      ),
    );
    const decoded = await mapLimit(located, this.#inFlight, (loc) => this.#fetch(loc, opts));

    let dims = descDims(batch.desc);
    const out: Update[] = [];
    let prev: { decoded: DecodedPart; name: string; run: number } | undefined;
    for (let i = 0; i < located.length; i++) {
      const loc = located[i];
      const part = decoded[i];
      const { meta, cols } = part;
      dims ??= meta.dims;
      if (meta.dims !== dims) throw dataLoss(`part ${loc.name} has ${meta.dims} time coordinates, the batch ${dims}`);
      if (loc.order === 'ordered') {
        checkOrdered(cols, loc.name);
        if (cols.len > 0) {
          if (prev && prev.run === loc.run && compareRows(prev.decoded.cols, prev.decoded.cols.len - 1, cols, 0) >= 0) {
            throw dataLoss(`ordered run ${loc.run}: part ${loc.name} does not sort after part ${prev.name}`);
          }
          prev = { decoded: part, name: loc.name, run: loc.run };
        }
      }
      let rows = updatesFromColumns(cols);
      if (!descEquals(meta.desc, batch.desc)) {
        if (!isMinimum(meta.desc.since)) {
          throw dataLoss(
            `part ${loc.name} was written under ${formatDesc(meta.desc)} and is read in a batch of ${formatDesc(batch.desc)}: ` +
              'a part of a narrower batch must have the minimum since',
          );
        }
        const { lower, upper } = batch.desc;
        rows = rows.filter((u) => beyond(lower, u.t) && !beyond(upper, u.t));
      }
      for (const u of rows) out.push(u);
    }
    return out;
  }

  /** `read(batch)` consolidated by the batch's since: sorted, summed, zeros dropped. */
  async readConsolidated(batch: HollowBatch, opts: ReadOptions = {}): Promise<Update[]> {
    return consolidate(await this.read(batch, opts), batch.desc.since);
  }

  async #fetch(loc: Located, opts: ReadOptions): Promise<DecodedPart> {
    opts.signal?.throwIfAborted();
    const { part, name } = loc;
    let bytes: Uint8Array;
    if (part.kind === 'inline') {
      bytes = part.data;
    } else {
      const got = await this.#blob.get(objectKey(this.#shardId, part.key), { signal: opts.signal });
      if (got === undefined) throw new CompactdError('not_found', `part ${name} is missing`);
      bytes = got;
      // An encoded part is never empty, so 0 reads as "not recorded".
      if (part.encodedSizeBytes !== 0 && bytes.byteLength !== part.encodedSizeBytes) {
        throw dataLoss(`part ${name} has ${bytes.byteLength} bytes, the batch records ${part.encodedSizeBytes}`);
      }
      if (part.checksum !== '' && (await partChecksum(bytes)) !== part.checksum.toLowerCase()) {
        throw dataLoss(`part ${name} fails its checksum`);
      }
    }
    const decoded = decodePart(bytes, name);
    if (part.kind === 'hollow') verifyRecorded(part, decoded, name);
    return decoded;
  }
}

/** Checks the batch's record of a hollow part (update count, diff sum, key lower bound) against its rows. */
function verifyRecorded(part: Extract<Part, { kind: 'hollow' }>, decoded: DecodedPart, name: string): void {
  const { cols } = decoded;
  // Zero is the proto default: a writer that did not fill the count is not contradicted.
  if (part.updates !== 0 && part.updates !== cols.len) {
    throw dataLoss(`part ${name} has ${cols.len} updates, the batch records ${part.updates}`);
  }
  if (part.diffsSum !== undefined) {
    let sum = 0n;
    for (let i = 0; i < cols.len; i++) sum += cols.d[i];
    if (sum !== part.diffsSum) throw dataLoss(`part ${name} sums its diffs to ${sum}, the batch records ${part.diffsSum}`);
  }
  if (part.keyLower.byteLength > 0) {
    for (let i = 0; i < cols.len; i++) {
      const k = cols.kData.subarray(cols.kOffsets[i], cols.kOffsets[i + 1]);
      if (compareBytes(part.keyLower, k) > 0) throw dataLoss(`part ${name} holds a key below its recorded key lower bound`);
    }
  }
}
