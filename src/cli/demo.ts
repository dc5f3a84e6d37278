/**
 * `compactd demo`: against a running service, writes sample batches to the store the service
 * uses, compacts them through the service, reads the output back and checks that it equals the
 * reference consolidation of every input update. Prints a short summary; exits 1 if anything
 * differs.
 *
 * It checks the endpoint before it writes anything, shows progress on stderr while it writes, and
 * unless --keep removes what it wrote on every path (success, failure, the service gone): the
 * output through DeleteParts (or directly from the store when the service no longer answers), the
 * inputs directly. Its last line says what was removed and what was left.
 */
import { randomBytes } from 'node:crypto';
import type { CompactorClient } from '../client/compactor-client.js';
import type { HealthCheckOptions } from '../client/health.js';
import type { Blob } from '../blob/blob.js';
import { describeBlobSpec, parseBlobUrl, storeNamedIn } from '../blob/url.js';
import { readFlag } from '../config/argv.js';
import { DEFAULT_BLOB, DEFAULT_HOST, DEFAULT_PORT } from '../config/options.js';
import type { HollowBatch, HollowPart } from '../model/batch.js';
import { CompactdError } from '../model/errors.js';
import { objectKey, validateShardId } from '../model/keys.js';
import { compareUpdates, consolidate, type Update } from '../model/update.js';
import { flagCommand, write } from './command.js';
import { commandInfo } from './catalog.js';
import { CLIENT_FLAGS, clientOptionsFromFlags, endpointFromFlags, localEndpoint } from './client-flags.js';
import { BLOB_FLAG, withBlob } from './shared.js';

/** Enough batches to pass the default skip heuristic on inputs alone (8). */
const DEFAULT_BATCHES = 8;
/** Big enough to show consolidation at work, small enough to finish in a blink. */
const DEFAULT_ROWS = 5000;
/** Small parts, so the inputs have several parts each, as real batches do. */
const DEMO_TARGET_PART_BYTES = 64 * 1024;

const enc = new TextEncoder();

/**
 * The sample updates of batch `i` (times in [10 i, 10 i + 10)): inserts of fresh keys plus
 * retractions and updates of keys the previous batch inserted, the traffic of a table under
 * updates. Deterministic, so a rerun writes the same data.
 */
export function demoUpdates(i: number, rows: number): Update[] {
  const out: Update[] = [];
  const t = (j: number) => [BigInt(10 * i + (j % 10))];
  for (let j = 0; j < rows; j++) {
    const key = enc.encode(`user-${String(i * rows + j).padStart(8, '0')}`);
    out.push({ k: key, v: enc.encode(`{"visits":${j % 7}}`), t: t(j), d: 1n });
    if (i > 0 && j % 2 === 0) {
      // Retract half of the previous batch's rows; every fourth is replaced by a new value.
      const prev = enc.encode(`user-${String((i - 1) * rows + j).padStart(8, '0')}`);
      out.push({ k: prev, v: enc.encode(`{"visits":${j % 7}}`), t: t(j), d: -1n });
      if (j % 4 === 0) out.push({ k: prev, v: enc.encode(`{"visits":${(j % 7) + 1}}`), t: t(j), d: 1n });
    }
  }
  return out;
}

function parts(batches: readonly HollowBatch[]): number {
  return batches.reduce((n, b) => n + b.runs.reduce((m, r) => m + r.parts.length, 0), 0);
}

/** How long the endpoint check and the clean-up calls wait for the service. */
const SERVICE_CHECK_MS = 5000;

function sameUpdates(a: readonly Update[], b: readonly Update[]): boolean {
  return a.length === b.length && a.every((u, i) => compareUpdates(u, b[i]) === 0 && u.d === b[i].d);
}

function table(rows: [string, string][]): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n');
}

/**
 * Fails fast, before anything is written, unless a compactd Compactor answers SERVING at
 * `endpoint`.
 */
async function checkEndpoint(endpoint: string, tls: HealthCheckOptions['tls']): Promise<void> {
  let got: string;
  try {
    const { checkHealth } = await import('../client/health.js');
    got = await checkHealth(endpoint, { service: 'compactd.v1.Compactor', timeoutMs: SERVICE_CHECK_MS, ...(tls ? { tls } : {}) });
  } catch (err) {
    const e = CompactdError.from(err);
    // Transport failures already read as one line a person acts on (client/transport.ts).
    const why = e.kind === 'not_found' ? `${endpoint} answers gRPC but is not a compactd service` : e.message;
    throw new CompactdError(e.kind, `demo: ${why}; nothing was written`, { cause: err });
  }
  if (got !== 'SERVING') throw new CompactdError('unavailable', `demo: the service at ${endpoint} is ${got}; nothing was written`);
}

/** What the demo wrote or had written, to remove afterwards. */
interface Written {
  readonly inputs: string[];
  outputs: string[];
}

/**
 * Removes what the demo wrote: the outputs through DeleteParts, or from the store directly when
 * the service does not answer; the inputs directly; and, for a shard the demo named itself, any
 * leftover of a compaction the service could not clean up. Never throws: returns the one-line
 * report of what was and was not removed.
 */
async function cleanUp(blob: Blob, client: CompactorClient, shardId: string, ownShard: boolean, w: Written, store: string): Promise<string> {
  const done: string[] = [];
  const left: string[] = [];
  const removeDirectly = async (keys: readonly string[]): Promise<number> => {
    let n = 0;
    for (const key of keys) {
      try {
        await blob.delete(objectKey(shardId, key));
        n++;
      } catch {
        left.push(`${shardId}/${key}`);
      }
    }
    return n;
  };
  if (w.outputs.length > 0) {
    try {
      const res = await client.deleteParts(shardId, w.outputs, { retries: 0, deadlineMs: SERVICE_CHECK_MS });
      done.push(`${res.deleted} output parts deleted through DeleteParts`);
    } catch (err) {
      const n = await removeDirectly(w.outputs);
      done.push(`${n} output parts removed from the store directly (DeleteParts failed: ${CompactdError.from(err).message})`);
    }
  }
  done.push(`${await removeDirectly(w.inputs)} input parts removed`);
  if (ownShard) {
    // The shard is this run's own (a random name): whatever is still under it is ours too, e.g.
    // the outputs of a compaction whose service died before it could delete them.
    const leftovers: string[] = [];
    try {
      for await (const m of blob.list(`${shardId}/`)) leftovers.push(m.key.slice(shardId.length + 1));
    } catch {
      // Listing failed: the keys already known are reported; nothing more can be said.
    }
    const known = new Set(left);
    const extra = leftovers.filter((k) => !known.has(`${shardId}/${k}`));
    if (extra.length > 0) done.push(`${await removeDirectly(extra)} leftover objects removed`);
    // A service killed mid-write leaves temp files (file stores) that listing does not show.
    const swept = await blob.sweepTemporary?.(`${shardId}/`, 0).catch(() => undefined);
    if (swept && swept.removed > 0) done.push(`${swept.removed} unfinished writes removed`);
  }
  if (left.length === 0) return `cleaned up: ${done.join(', ')}`;
  const shown = left.slice(0, 3).join(', ') + (left.length > 3 ? `, ... (${left.length - 3} more)` : '');
  return `NOT fully cleaned up: ${done.join(', ')}; ${left.length} objects are left in ${store}: ${shown}`;
}

/**
 * The error for a part the service could not find: when the demo's own store has it, the two
 * stores differ, and the message names both.
 */
async function explainMissing(e: CompactdError, blob: Blob, shardId: string, inputKeys: readonly string[], store: string): Promise<CompactdError> {
  const theirs = storeNamedIn(e.message);
  const key = inputKeys.find((k) => e.message.includes(`${shardId}/${k}`));
  if (key === undefined || (await blob.head(objectKey(shardId, key)).catch(() => undefined)) === undefined) return e;
  const other = theirs ?? "the service's store (its --blob)";
  return new CompactdError(
    'not_found',
    `demo: the service and this demo use different stores: the demo wrote its inputs to ${store}, the service reads ${other}; ` +
      `run the demo with --blob set to the service's store`,
    { cause: e },
  );
}

export const demoCommand = flagCommand({
  ...commandInfo('demo'),
  details: `Checks that a compactd service answers at --endpoint, writes sample batches to --blob (the
store the service was started with; progress on stderr), sends one Compact request, reads the
output back and compares its consolidated content with the reference consolidation of every input
update. Exits 1 when they differ. Unless --keep, removes what it wrote on every path, and says what
was and was not removed.`,
  flags: [
    { name: 'endpoint', type: 'string', valueName: 'HOST:PORT', help: 'address of the running service', defaultText: `127.0.0.1:$COMPACTD_PORT, else ${DEFAULT_HOST}:${DEFAULT_PORT}` },
    BLOB_FLAG,
    { name: 'shard', type: 'string', valueName: 'ID', help: 'shard to write to', defaultText: 'demo-<random>' },
    { name: 'batches', type: 'count', valueName: 'N', help: 'input batches', defaultText: String(DEFAULT_BATCHES) },
    { name: 'rows', type: 'count', valueName: 'N', help: 'new rows per batch', defaultText: String(DEFAULT_ROWS) },
    { name: 'keep', type: 'boolean', help: 'keep the inputs and the output in the store afterwards' },
    ...CLIENT_FLAGS,
  ],
  async run(flags, io) {
    const endpoint = endpointFromFlags(flags) ?? localEndpoint();
    const ownShard = flags.get('shard') === undefined;
    const shardId = String(flags.get('shard') ?? `demo-${randomBytes(4).toString('hex')}`);
    readFlag(() => validateShardId(shardId));
    const batchCount = Number(flags.get('batches') ?? DEFAULT_BATCHES);
    const rows = Number(flags.get('rows') ?? DEFAULT_ROWS);
    if (batchCount < 1 || rows < 1) throw new CompactdError('invalid', 'demo: --batches and --rows must be at least 1');
    const keep = flags.get('keep') === true;
    const store = describeBlobSpec(parseBlobUrl(String(flags.get('blob') ?? DEFAULT_BLOB), io.cwd));

    // Loaded when the command runs, so that other commands (and --help) do not pay for it.
    const [{ BatchReader }, { BatchWriter }, { CompactorClient }] = await Promise.all([
      import('../client/batch-reader.js'),
      import('../client/batch-writer.js'),
      import('../client/compactor-client.js'),
    ]);
    const clientOptions = await clientOptionsFromFlags(flags, io.cwd);
    await checkEndpoint(endpoint, clientOptions.tls);
    const client = new CompactorClient({ address: endpoint, ...clientOptions });
    try {
      return await withBlob(flags, io.cwd, async (blob) => {
        const written: Written = { inputs: [], outputs: [] };
        let summary: string[] = [];
        let failure: unknown;
        let verified = false;
        try {
          const writer = new BatchWriter({ blob, shardId, dims: 1, targetPartBytes: DEMO_TARGET_PART_BYTES });
          const inputs: HollowBatch[] = [];
          const all: Update[] = [];
          for (let i = 0; i < batchCount; i++) {
            const updates = demoUpdates(i, rows);
            all.push(...updates);
            const lower = [[BigInt(10 * i)]];
            const upper = [[BigInt(10 * i + 10)]];
            const batch = await writer.write(updates, { lower, upper, since: [[0n]] });
            inputs.push(batch);
            written.inputs.push(...partKeys(batch));
            await write(io.stderr, `writing inputs to ${store}: batch ${i + 1}/${batchCount} (${updates.length} updates)\n`);
          }
          // Advance everything before the last batch: older history collapses, retractions cancel.
          const since = [[BigInt(10 * (batchCount - 1))]];
          const desc = { lower: [[0n]], upper: [[BigInt(10 * batchCount)]], since };
          await write(io.stderr, `compacting ${parts(inputs)} parts through ${endpoint}\n`);
          const started = performance.now();
          let res;
          try {
            res = await client.compact({ shardId, desc, inputs, force: true, requestId: `${shardId}-demo` });
          } catch (err) {
            const e = CompactdError.from(err);
            throw e.kind === 'not_found' ? await explainMissing(e, blob, shardId, written.inputs, store) : e;
          }
          const seconds = (performance.now() - started) / 1000;
          if (res.outcome !== 'compacted' || !res.output) throw new CompactdError('internal', 'demo: the service did not compact');
          written.outputs = partKeys(res.output);

          // The contract's promise: the output, consolidated, equals the reference consolidation
          // of every input (whatever the number of chunks, i.e. output runs), and its len counts
          // exactly the updates its parts hold.
          const raw = await new BatchReader({ blob, shardId }).read(res.output);
          const got = consolidate(raw, since);
          const expected = consolidate(all, since);
          verified = sameUpdates(got, expected) && raw.length === res.output.len;

          const s = res.stats;
          summary = [
            `compactd demo: shard ${shardId} via ${endpoint}`,
            table([
              ['input batches', String(batchCount)],
              ['input parts', String(parts(inputs))],
              ['input updates', String(s.inputUpdates)],
              ['output parts', String(written.outputs.length)],
              ['output runs', String(res.output.runs.length)],
              ['output updates', String(s.outputUpdates)],
              ['input bytes', String(s.inputBytes)],
              ['output bytes', String(s.outputBytes)],
              ['chunks', String(s.chunks)],
              ['service run time', `${s.runSeconds.toFixed(3)} s (queued ${s.queuedSeconds.toFixed(3)} s)`],
              ['round trip', `${seconds.toFixed(3)} s`],
              ['verified', verified ? 'yes: consolidated output equals the reference consolidation' : 'NO: consolidated output differs from the reference'],
            ]),
          ];
        } catch (err) {
          failure = err;
        }
        const report = keep
          ? `kept: ${written.inputs.length} input parts and ${written.outputs.length} output parts under ${shardId}/ in ${store}`
          : await cleanUp(blob, client, shardId, ownShard, written, store);
        if (failure !== undefined) {
          await write(io.stderr, `${report}\n`);
          throw failure;
        }
        await write(io.stdout, [...summary, report, ''].join('\n'));
        if (!verified) throw new CompactdError('internal', 'demo: the consolidated output differs from the reference consolidation');
        return 0;
      });
    } finally {
      client.close();
    }
  },
});

/** The keys of the hollow parts of `b`, relative to the shard. */
function partKeys(b: HollowBatch): string[] {
  return b.runs.flatMap((r) => r.parts.flatMap((p) => (p.kind === 'hollow' ? [(p as HollowPart).key] : [])));
}
