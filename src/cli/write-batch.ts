/**
 * `compactd write-batch`: NDJSON updates on stdin -> parts in the store -> HollowBatch JSON on
 * stdout (docs/contract.md, "Command line").
 */
import { beyond, format as formatAntichain, minimumFrontier, type Antichain } from '../model/antichain.js';
import { PART_COMPRESSIONS, type PartCompression } from '../model/compression.js';
import { format as formatTimestamp } from '../model/timestamp.js';
import { DEFAULT_TARGET_PART_BYTES } from '../config/options.js';
import { CompactdError, invalid } from '../model/errors.js';
import { validateShardId } from '../model/keys.js';
import type { Update } from '../model/update.js';
import { readFlag, usage } from '../config/argv.js';
import { flagCommand, lines, write } from './command.js';
import { commandInfo } from './catalog.js';
import { BLOB_FLAG, SHARD_FLAG, withBlob } from './shared.js';

const DETAILS = `Reads updates from standard input, one JSON object per line:
  {"k":"<base64>","v":"<base64>","t":["<u64>",...],"d":"<i64>"}
consolidates them by --since, writes them as one ORDERED run of parts to the store, and prints
the HollowBatch JSON to register with the shard. Frontiers are JSON lists of timestamps, each a
list of decimal strings: --lower '[["0"]]' --upper '[["10"]]'; --upper '[]' is the empty frontier.`;

export const writeBatchCommand = flagCommand({
  ...commandInfo('write-batch'),
  details: DETAILS,
  flags: [
    BLOB_FLAG,
    SHARD_FLAG,
    { name: 'lower', type: 'string', valueName: 'FRONTIER', help: 'lower frontier of the batch', required: true },
    { name: 'upper', type: 'string', valueName: 'FRONTIER', help: 'upper frontier of the batch', required: true },
    { name: 'since', type: 'string', valueName: 'FRONTIER', help: 'since frontier: times are advanced to it', defaultText: 'the minimum, [["0",...]]' },
    { name: 'dims', type: 'count', valueName: 'D', help: 'timestamp coordinates', defaultText: 'inferred from the frontiers' },
    { name: 'target-part-bytes', type: 'bytes', valueName: 'BYTES', help: 'approximate size of each part', defaultText: `${DEFAULT_TARGET_PART_BYTES / 2 ** 20}MiB` },
    { name: 'compression', type: 'string', valueName: PART_COMPRESSIONS.join('|'), help: 'part body compression (lz4 is LZ4_FRAME)', defaultText: 'none' },
    { name: 'inline', type: 'boolean', help: 'carry the parts inline in the printed batch instead of writing them to the store' },
    { name: 'unordered', type: 'boolean', help: 'write the updates as given (no sorting or consolidation) as one UNORDERED run; needs the minimum since' },
  ],
  async run(flags, io) {
    const shardId = String(flags.get('shard'));
    readFlag(() => validateShardId(shardId));
    // The JSON codec reads the .proto with protobufjs: loaded when the command runs, not for --help.
    const { antichainFromJson, formatJson, hollowBatchToJson, updateFromNdjsonLine } = await import('../wire/json.js');
    const lower = readFlag(() => antichainFromJson(String(flags.get('lower')), '--lower'));
    const upper = readFlag(() => antichainFromJson(String(flags.get('upper')), '--upper'));
    const sinceText = flags.get('since');
    const given = sinceText === undefined ? undefined : readFlag(() => antichainFromJson(String(sinceText), '--since'));
    const dims = resolveDims(flags.get('dims') as number | undefined, { lower, upper, since: given ?? [] });
    const since = given ?? minimumFrontier(dims);
    const desc = { lower, upper, since };

    const compression = String(flags.get('compression') ?? 'none') as PartCompression;
    if (!PART_COMPRESSIONS.includes(compression)) {
      throw usage(`--compression: expected one of ${PART_COMPRESSIONS.join(', ')}, got ${JSON.stringify(compression)}`);
    }
    const targetPartBytes = (flags.get('target-part-bytes') as number | undefined) ?? DEFAULT_TARGET_PART_BYTES;
    if (targetPartBytes < 1) throw usage('--target-part-bytes: must be at least 1');

    const updates: Update[] = [];
    let n = 0;
    for await (const line of lines(io.stdin)) {
      n++;
      if (line.trim() === '') continue;
      try {
        const u = updateFromNdjsonLine(line, dims);
        // Checked here as well as by the writer so the message can name the input line.
        if (!beyond(lower, u.t)) throw invalid(`time ${formatTimestamp(u.t)} is not beyond --lower ${formatAntichain(lower)}`);
        if (beyond(upper, u.t)) throw invalid(`time ${formatTimestamp(u.t)} is beyond --upper ${formatAntichain(upper)}`);
        updates.push(u);
      } catch (err) {
        const e = CompactdError.from(err);
        throw new CompactdError(e.kind, `stdin line ${n}: ${e.message}`, { cause: err });
      }
    }

    // Loaded when the command runs, so that other commands (and --help) do not pay for it.
    const { BatchWriter } = await import('../client/batch-writer.js');
    const batch = await withBlob(flags, io.cwd, async (blob) => {
      const writer = new BatchWriter({ blob, shardId, dims, targetPartBytes, compression, inline: flags.get('inline') === true });
      return flags.get('unordered') === true ? writer.writeUnordered(updates, desc) : writer.write(updates, desc);
    });
    await write(io.stdout, `${formatJson(hollowBatchToJson(batch))}\n`);
    return 0;
  },
});

function resolveDims(flag: number | undefined, frontiers: Record<'lower' | 'upper' | 'since', Antichain>): number {
  let inferred: { dims: number; from: string } | undefined;
  for (const [name, a] of Object.entries(frontiers)) {
    if (a.length === 0) continue;
    const d = a[0].length;
    if (inferred === undefined) inferred = { dims: d, from: name };
    else if (d !== inferred.dims) throw usage(`--${name} has ${d} coordinates, --${inferred.from} ${inferred.dims}`);
  }
  if (flag !== undefined) {
    if (flag < 1) throw usage('--dims: must be at least 1');
    if (inferred && inferred.dims !== flag) throw usage(`--dims ${flag} differs from --${inferred.from}, which has ${inferred.dims} coordinates`);
    return flag;
  }
  if (!inferred) throw usage('cannot infer the number of coordinates from empty frontiers: give --dims');
  return inferred.dims;
}
