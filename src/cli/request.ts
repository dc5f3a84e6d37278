/**
 * `compactd request`: batch files (HollowBatch JSON as `write-batch` prints them) -> one
 * CompactRequest JSON on stdout, ready for `compactd compact`. The output covers the batches'
 * span: lower of the first, upper of the last; the request is checked the way the service will
 * check it (consecutive inputs, since not behind an input's) before it is printed.
 */
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { readFlag, usage } from '../config/argv.js';
import { equals, format as formatAntichain, type Antichain } from '../model/antichain.js';
import type { CompactRequest, HollowBatch } from '../model/batch.js';
import { CompactdError } from '../model/errors.js';
import { validateShardId } from '../model/keys.js';
import { flagCommand, write } from './command.js';
import { commandInfo } from './catalog.js';

export const requestCommand = flagCommand({
  ...commandInfo('request'),
  details: `Reads each BATCH_FILE (in the order given: each batch's lower is the previous one's upper)
and prints the CompactRequest that compacts them into one batch from the first lower to the last
upper, for \`compactd compact\`:
  compactd request --shard s1 b0.json b1.json | compactd compact --endpoint 127.0.0.1:50051
The output since is --since, else the since the batches share.`,
  flags: [
    { name: 'shard', type: 'string', valueName: 'ID', help: 'shard id the batches were written for', required: true },
    { name: 'since', type: 'string', valueName: 'FRONTIER', help: 'since of the output: times are advanced to it', defaultText: "the batches' since when they all have the same" },
    { name: 'force', type: 'boolean', help: 'compact even when the service would skip the request as too small' },
    { name: 'request-id', type: 'string', valueName: 'ID', help: 'id the service logs the request under', defaultText: 'one made up by the service' },
  ],
  args: { name: 'BATCH_FILE...', min: 1 },
  async run(flags, io, files) {
    const shardId = String(flags.get('shard'));
    readFlag(() => validateShardId(shardId));
    // The JSON codec reads the .proto with protobufjs: loaded when the command runs, not for --help.
    const { antichainFromJson, compactRequestToJson, formatJson, hollowBatchFromJson, validCompactRequestFromJson } = await import('../wire/json.js');
    const sinceText = flags.get('since');
    const given = sinceText === undefined ? undefined : readFlag(() => antichainFromJson(String(sinceText), '--since'));
    const inputs: HollowBatch[] = [];
    for (const file of files) inputs.push(await readBatchFile(path.resolve(io.cwd, file), file, hollowBatchFromJson));
    const req: CompactRequest = {
      shardId,
      desc: { lower: inputs[0].desc.lower, upper: inputs[inputs.length - 1].desc.upper, since: given ?? sharedSince(inputs, files) },
      inputs,
      force: flags.get('force') === true,
      requestId: String(flags.get('request-id') ?? ''),
    };
    const json = compactRequestToJson(req);
    // The service's own rules, so a request that would be refused is refused here, naming files.
    try {
      validCompactRequestFromJson(json);
    } catch (err) {
      const e = CompactdError.from(err);
      throw new CompactdError(e.kind, `${e.message.replace(/^inputs\[(\d+)\]/, (_, i: string) => `${files[Number(i)]} (inputs[${i}])`)}`, { cause: err });
    }
    await write(io.stdout, `${formatJson(json)}\n`);
    return 0;
  },
});

async function readBatchFile(file: string, shown: string, hollowBatchFromJson: (text: string) => HollowBatch): Promise<HollowBatch> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw usage(`cannot read ${JSON.stringify(shown)} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    return hollowBatchFromJson(text);
  } catch (err) {
    const e = CompactdError.from(err);
    throw new CompactdError(e.kind, `${shown}: ${e.message}`, { cause: err });
  }
}

/** The since every batch has, or a usage error asking for --since. */
function sharedSince(inputs: readonly HollowBatch[], files: readonly string[]): Antichain {
  const first = inputs[0].desc.since;
  const other = inputs.findIndex((b) => !equals(b.desc.since, first));
  if (other >= 0) {
    throw usage(
      `${files[0]} has since ${formatAntichain(first)} but ${files[other]} has ${formatAntichain(inputs[other].desc.since)}: give --since (at or beyond every batch's)`,
    );
  }
  return first;
}
