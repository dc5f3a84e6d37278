/**
 * `compactd read-batch`: HollowBatch JSON on stdin (or a CompactResponse, whose output batch is
 * read, so `compact | read-batch` works) -> its updates, consolidated by the batch's since and
 * sorted, as NDJSON on stdout (docs/contract.md, "Command line").
 */
import { readFlag } from '../config/argv.js';
import { validateShardId } from '../model/keys.js';
import type { HollowBatch } from '../model/batch.js';
import { CompactdError } from '../model/errors.js';
import { flagCommand, readAll, write } from './command.js';
import { commandInfo } from './catalog.js';
import { BLOB_FLAG, SHARD_FLAG, withBlob } from './shared.js';

/** Lines written per stdout call: large enough to keep calls few, small enough to stream. */
const LINES_PER_WRITE = 1024;

export const readBatchCommand = flagCommand({
  ...commandInfo('read-batch'),
  details: `Reads every part of the batch (from the store, or inline), verifies recorded sizes and
checksums, and prints the updates consolidated by the batch's since, sorted by (k, v, t), one
{"k","v","t","d"} object per line. Standard input is a HollowBatch (what write-batch prints) or a
CompactResponse (what compact prints: its output batch is read).`,
  flags: [BLOB_FLAG, SHARD_FLAG],
  async run(flags, io) {
    const shardId = String(flags.get('shard'));
    readFlag(() => validateShardId(shardId));
    // The JSON codec reads the .proto with protobufjs: loaded when the command runs, not for --help.
    const codec = await import('../wire/json.js');
    const batch = batchFromInput(await readAll(io.stdin), codec);
    // Loaded when the command runs, so that other commands (and --help) do not pay for it.
    const { BatchReader } = await import('../client/batch-reader.js');
    const updates = await withBlob(flags, io.cwd, (blob) => new BatchReader({ blob, shardId }).readConsolidated(batch));
    for (let i = 0; i < updates.length; i += LINES_PER_WRITE) {
      const chunk = updates.slice(i, i + LINES_PER_WRITE).map((u) => `${codec.updateToNdjsonLine(u)}\n`);
      await write(io.stdout, chunk.join(''));
    }
    return 0;
  },
});

/** The batch to read: a HollowBatch as given, or the output of a COMPACTED CompactResponse. */
function batchFromInput(text: string, { compactResponseFromJson, hollowBatchFromJson, parseJson }: typeof import('../wire/json.js')): HollowBatch {
  const value = parseJson(text, 'HollowBatch or CompactResponse JSON');
  // A HollowBatch has no `outcome`; every CompactResponse printed by compact has one.
  if (typeof value !== 'object' || value === null || Array.isArray(value) || !('outcome' in value)) return hollowBatchFromJson(value);
  const res = compactResponseFromJson(value);
  if (res.output === undefined) {
    const why = res.reason ? ` (${res.reason})` : '';
    throw new CompactdError('invalid', `the response is SKIPPED${why}: it has no output batch; read the input batches instead`);
  }
  return res.output;
}
