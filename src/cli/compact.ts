/**
 * `compactd compact`: a CompactRequest JSON on stdin -> a CompactResponse JSON on stdout, either
 * through a running service (`--endpoint`) or with the same engine in this process (`--local`).
 */
import { DEFAULT_ENGINE_CONFIG, type EngineConfig } from '../compact/types.js';
import { COMPRESSIONS, DEFAULT_BLOB, DEFAULT_MEMORY_BOUND_BYTES, DEFAULT_TARGET_PART_BYTES, type Compression } from '../config/options.js';
import type { CompactResponse } from '../model/batch.js';
import { validateCompactionId } from '../model/compaction-id.js';
import { CompactdError, invalid } from '../model/errors.js';
import { usage } from '../config/argv.js';
import { flagCommand, readAll, write } from './command.js';
import { commandInfo } from './catalog.js';
import { CLIENT_FLAGS, clientOptionsFromFlags, deadlineSecondsFromFlags, endpointFromFlags } from './client-flags.js';
import { progressRenderer } from './jobs.js';
import { BLOB_FLAG } from './shared.js';

const DETAILS = `Reads one CompactRequest as JSON (proto3 canonical mapping) on standard input and prints
the CompactResponse JSON. With --endpoint the request goes to a running service, which applies
its skip heuristics unless "force" is set (a SKIPPED answer says why in "reason"). With --local
the engine runs in this process against --blob and always compacts (the heuristics are the
service's admission policy). Flags of one mode are refused in the other.

A request compacting two batches written by write-batch (compactd request builds one from the
batch files):
  {"shardId": "s1", "force": true,
   "desc": {"lower": [["0"]], "upper": [["10"]], "since": [["0"]]},
   "inputs": [<b0.json>, <b1.json>]}

  compactd request --shard s1 --force b0.json b1.json > req.json
  compactd compact --endpoint 127.0.0.1:50051 < req.json > res.json
  compactd read-batch --shard s1 < res.json`;

/** Flags that only one mode reads, so a flag given for the other is a mistake, not a no-op. */
const LOCAL_ONLY = ['blob', 'target-part-bytes', 'memory-bound-bytes', 'compression'] as const;
const ENDPOINT_ONLY = ['deadline-seconds', ...CLIENT_FLAGS.map((f) => f.name)] as const;

export const compactCommand = flagCommand({
  ...commandInfo('compact'),
  details: DETAILS,
  flags: [
    { name: 'endpoint', type: 'string', valueName: 'HOST:PORT', help: 'address of a running compactd service' },
    { name: 'local', type: 'boolean', help: 'run the engine in this process instead of calling a service' },
    { ...BLOB_FLAG, help: `with --local: ${BLOB_FLAG.help}` },
    { name: 'target-part-bytes', type: 'bytes', valueName: 'BYTES', help: 'with --local: size of each output part', defaultText: `${DEFAULT_TARGET_PART_BYTES / 2 ** 20}MiB` },
    { name: 'memory-bound-bytes', type: 'bytes', valueName: 'BYTES', help: 'with --local: memory bound of the merge', defaultText: `${DEFAULT_MEMORY_BOUND_BYTES / 2 ** 30}GiB` },
    { name: 'compression', type: 'string', valueName: COMPRESSIONS.join('|'), help: 'with --local: output part body compression (lz4 is LZ4_FRAME)', defaultText: 'none' },
    { name: 'deadline-seconds', type: 'count', valueName: 'S', help: 'with --endpoint: give up after this many seconds' },
    { name: 'progress', type: 'boolean', help: 'with --endpoint: stream the compaction and draw its progress on stderr (a bar on a terminal, a line per chunk otherwise)' },
    { name: 'compaction-id', type: 'string', valueName: 'ID', help: 'with --endpoint: run as a resumable job under this id (docs/jobs.md)' },
    ...CLIENT_FLAGS,
  ],
  async run(flags, io) {
    const endpoint = endpointFromFlags(flags);
    const deadline = deadlineSecondsFromFlags(flags);
    const local = flags.get('local') === true;
    if (local === (endpoint !== undefined)) throw usage('give exactly one of --endpoint HOST:PORT or --local');
    const wrong = (local ? ENDPOINT_ONLY : LOCAL_ONLY).find((name) => flags.has(name));
    if (wrong !== undefined) {
      throw usage(`--${wrong} applies only with ${local ? '--endpoint' : '--local'}, not with ${local ? '--local' : '--endpoint'}`);
    }
    const config = local ? engineConfig(flags) : undefined;
    // A person who typed the command without a pipe would otherwise wait on a silent terminal.
    if (isTerminal(io.stdin)) await write(io.stderr, 'compactd compact: reading a CompactRequest (JSON) from standard input; end it with Ctrl-D\n');
    // The JSON codec reads the .proto with protobufjs: loaded when the command runs, not for --help.
    const { compactRequestFromJson, compactResponseToJson, formatJson, parseJson, validCompactRequestFromJson } = await import('../wire/json.js');
    const input = parseJson(await readAll(io.stdin), 'standard input');
    const id = flags.get('compaction-id') as string | undefined;
    if (id !== undefined) validateCompactionId(id);
    const progress = flags.get('progress') === true;
    if (local && (progress || id !== undefined)) throw invalid('compact: --progress and --compaction-id need --endpoint');

    let res: CompactResponse;
    if (endpoint !== undefined) {
      // The service validates the request against its own limits.
      const parsed = compactRequestFromJson(input);
      const req = id === undefined ? parsed : { ...parsed, compactionId: id };
      // Loaded when the command runs, so that other commands (and --help) do not pay for it.
      const { CompactorClient } = await import('../client/compactor-client.js');
      const client = new CompactorClient({ address: endpoint, ...(await clientOptionsFromFlags(flags, io.cwd)) });
      try {
        const opts = deadline === undefined ? {} : { deadlineMs: deadline * 1000 };
        if (progress || id !== undefined) {
          const view = progressRenderer(io.stderr, progress && (io.stderr as { isTTY?: boolean }).isTTY === true);
          let answer: CompactResponse | undefined;
          try {
            for await (const e of client.compactStream(req, opts)) {
              if (progress) await view.event(e);
              if (e.type === 'done') answer = e.response;
            }
          } finally {
            if (progress) await view.end();
          }
          if (answer === undefined) throw new CompactdError('unavailable', 'compact: the stream ended without an answer');
          res = answer;
        } else {
          res = await client.compact(req, opts);
        }
      } finally {
        client.close();
      }
    } else {
      const req = validCompactRequestFromJson(input);
      const [{ openBlob }, { compact }] = await Promise.all([import('../blob/url.js'), import('../compact/compact.js')]);
      const blob = await openBlob(String(flags.get('blob') ?? DEFAULT_BLOB), { cwd: io.cwd });
      try {
        const { output, stats } = await compact(req, { blob, config: config! });
        res = { outcome: 'compacted', output, stats };
      } finally {
        await blob.close();
      }
    }
    await write(io.stdout, `${formatJson(compactResponseToJson(res))}\n`);
    return 0;
  },
});

function isTerminal(stream: unknown): boolean {
  return typeof stream === 'object' && stream !== null && (stream as { isTTY?: unknown }).isTTY === true;
}

function engineConfig(flags: ReadonlyMap<string, unknown>): EngineConfig {
  const targetPartBytes = (flags.get('target-part-bytes') as number | undefined) ?? DEFAULT_TARGET_PART_BYTES;
  const memoryBoundBytes = (flags.get('memory-bound-bytes') as number | undefined) ?? DEFAULT_MEMORY_BOUND_BYTES;
  const compression = String(flags.get('compression') ?? 'none');
  if (!(COMPRESSIONS as readonly string[]).includes(compression)) {
    throw usage(`--compression: expected one of ${COMPRESSIONS.join(', ')}, got ${JSON.stringify(compression)}`);
  }
  if (targetPartBytes < 1) throw usage('--target-part-bytes: must be at least 1');
  if (memoryBoundBytes < 1) throw usage('--memory-bound-bytes: must be at least 1');
  return { ...DEFAULT_ENGINE_CONFIG, targetPartBytes, memoryBoundBytes, compression: compression as Compression };
}
