/**
 * `compactd delete-parts`: gives back parts the service wrote for a compaction the writer could
 * not apply (Compactor.DeleteParts). Keys come as arguments or from a CompactResponse on stdin
 * (`--from-response`: every hollow part of its output); prints {"deleted","missing"}.
 */
import { usage } from '../config/argv.js';
import { readFlag } from '../config/argv.js';
import { validateShardId } from '../model/keys.js';
import { CLIENT_FLAGS, clientOptionsFromFlags, deadlineSecondsFromFlags, endpointFromFlags } from './client-flags.js';
import { flagCommand, readAll, write } from './command.js';
import { commandInfo } from './catalog.js';
import { SHARD_FLAG } from './shared.js';

export const deletePartsCommand = flagCommand({
  ...commandInfo('delete-parts'),
  details: `Keys are relative to the shard (c<uuid>/p<uuid>, as in a CompactResponse output); only
keys the service writes are accepted (else PERMISSION_DENIED). With --from-response, the keys are
every part of the output of the CompactResponse JSON on standard input:
  compactd delete-parts --endpoint 127.0.0.1:50051 --shard s1 --from-response < res.json
Prints {"deleted": N, "missing": M}; a key already gone counts as missing, not as an error.`,
  flags: [
    { name: 'endpoint', type: 'string', valueName: 'HOST:PORT', help: 'address of a running compactd service', required: true },
    SHARD_FLAG,
    { name: 'from-response', type: 'boolean', help: 'take the keys from the CompactResponse JSON on standard input' },
    { name: 'deadline-seconds', type: 'count', valueName: 'S', help: 'give up after this many seconds' },
    ...CLIENT_FLAGS,
  ],
  args: { name: '[KEY...]', min: 0 },
  async run(flags, io, args) {
    const endpoint = endpointFromFlags(flags)!;
    const shardId = String(flags.get('shard'));
    readFlag(() => validateShardId(shardId));
    const fromResponse = flags.get('from-response') === true;
    if (fromResponse && args.length > 0) throw usage('give keys as arguments or --from-response, not both');
    // The JSON codec reads the .proto with protobufjs: loaded when the command runs, not for --help.
    const { compactResponseFromJson, formatJson } = await import('../wire/json.js');
    let keys: string[] = [...args];
    if (fromResponse) {
      const res = compactResponseFromJson(await readAll(io.stdin));
      keys = (res.output?.runs ?? []).flatMap((r) => r.parts.flatMap((p) => (p.kind === 'hollow' ? [p.key] : [])));
    }
    if (keys.length === 0 && !fromResponse) throw usage('give the keys to delete, or --from-response');
    const deadline = deadlineSecondsFromFlags(flags);
    // Loaded when the command runs, so that other commands (and --help) do not pay for gRPC.
    const { CompactorClient } = await import('../client/compactor-client.js');
    const client = new CompactorClient({ address: endpoint, ...(await clientOptionsFromFlags(flags, io.cwd)) });
    try {
      const res = await client.deleteParts(shardId, keys, deadline === undefined ? {} : { deadlineMs: deadline * 1000 });
      await write(io.stdout, `${formatJson({ deleted: res.deleted, missing: res.missing })}\n`);
    } finally {
      client.close();
    }
    return 0;
  },
});
