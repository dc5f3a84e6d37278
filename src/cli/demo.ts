/**
 * `compactd demo`: against a running service, writes sample batches to the store the service
 * uses, compacts them through the service, reads the output back and checks that it equals the
 * reference consolidation of every input update. Prints a short summary; exits 1 if anything
 * differs. By default it removes what it wrote afterwards (the output through DeleteParts).
 */
import { randomBytes } from 'node:crypto';
import { DEFAULT_HOST, DEFAULT_PORT } from '../config/options.js';
import type { HollowBatch, HollowPart } from '../model/batch.js';
import { CompactdError } from '../model/errors.js';
import { objectKey, validateShardId } from '../model/keys.js';
import { compareUpdates, consolidate, type Update } from '../model/update.js';
import { flagCommand, write } from './command.js';
import { CLIENT_FLAGS, clientOptionsFromFlags } from './client-flags.js';
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

function sameUpdates(a: readonly Update[], b: readonly Update[]): boolean {
  return a.length === b.length && a.every((u, i) => compareUpdates(u, b[i]) === 0 && u.d === b[i].d);
}

function table(rows: [string, string][]): string {
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `  ${k.padEnd(width)}  ${v}`).join('\n');
}

export const demoCommand = flagCommand({
  name: 'demo',
  summary: 'Write sample batches, compact them through a running service, verify and summarize.',
  details: `Writes sample batches to --blob (the store the service was started with), sends one
Compact request to --endpoint, reads the output back and compares it with the reference
consolidation of every input update. Exits 1 when they differ.`,
  flags: [
    { name: 'endpoint', type: 'string', valueName: 'HOST:PORT', help: 'address of the running service', defaultText: `${DEFAULT_HOST}:${DEFAULT_PORT}` },
    BLOB_FLAG,
    { name: 'shard', type: 'string', valueName: 'ID', help: 'shard to write to', defaultText: 'demo-<random>' },
    { name: 'batches', type: 'count', valueName: 'N', help: 'input batches', defaultText: String(DEFAULT_BATCHES) },
    { name: 'rows', type: 'count', valueName: 'N', help: 'new rows per batch', defaultText: String(DEFAULT_ROWS) },
    { name: 'keep', type: 'boolean', help: 'keep the inputs and the output in the store afterwards' },
    ...CLIENT_FLAGS,
  ],
  async run(flags, io) {
    const endpoint = String(flags.get('endpoint') ?? `${DEFAULT_HOST}:${DEFAULT_PORT}`);
    const shardId = String(flags.get('shard') ?? `demo-${randomBytes(4).toString('hex')}`);
    validateShardId(shardId);
    const batchCount = Number(flags.get('batches') ?? DEFAULT_BATCHES);
    const rows = Number(flags.get('rows') ?? DEFAULT_ROWS);
    if (batchCount < 1 || rows < 1) throw new CompactdError('invalid', 'demo: --batches and --rows must be at least 1');
    const keep = flags.get('keep') === true;

    // Loaded when the command runs, so that other commands (and --help) do not pay for it.
    const [{ BatchReader }, { BatchWriter }, { CompactorClient }] = await Promise.all([
      import('../client/batch-reader.js'),
      import('../client/batch-writer.js'),
      import('../client/compactor-client.js'),
    ]);
    const client = new CompactorClient({ address: endpoint, ...(await clientOptionsFromFlags(flags, io.cwd)) });
    try {
      return await withBlob(flags, io.cwd, async (blob) => {
        const writer = new BatchWriter({ blob, shardId, dims: 1, targetPartBytes: DEMO_TARGET_PART_BYTES });
        const inputs: HollowBatch[] = [];
        const all: Update[] = [];
        for (let i = 0; i < batchCount; i++) {
          const updates = demoUpdates(i, rows);
          all.push(...updates);
          const lower = [[BigInt(10 * i)]];
          const upper = [[BigInt(10 * i + 10)]];
          inputs.push(await writer.write(updates, { lower, upper, since: [[0n]] }));
        }
        // Advance everything before the last batch: older history collapses, retractions cancel.
        const since = [[BigInt(10 * (batchCount - 1))]];
        const desc = { lower: [[0n]], upper: [[BigInt(10 * batchCount)]], since };
        const started = performance.now();
        const res = await client.compact({ shardId, desc, inputs, force: true, requestId: `${shardId}-demo` });
        const seconds = (performance.now() - started) / 1000;
        if (res.outcome !== 'compacted' || !res.output) throw new CompactdError('internal', 'demo: the service did not compact');

        const got = await new BatchReader({ blob, shardId }).readConsolidated(res.output);
        const expected = consolidate(all, since);
        const verified = sameUpdates(got, expected) && res.output.len === expected.length;

        const outKeys = res.output.runs.flatMap((r) => r.parts.flatMap((p) => (p.kind === 'hollow' ? [(p as HollowPart).key] : [])));
        const s = res.stats;
        await write(
          io.stdout,
          [
            `compactd demo: shard ${shardId} via ${endpoint}`,
            table([
              ['input batches', String(batchCount)],
              ['input parts', String(parts(inputs))],
              ['input updates', String(s.inputUpdates)],
              ['output parts', String(outKeys.length)],
              ['output updates', String(s.outputUpdates)],
              ['input bytes', String(s.inputBytes)],
              ['output bytes', String(s.outputBytes)],
              ['chunks', String(s.chunks)],
              ['service run time', `${s.runSeconds.toFixed(3)} s (queued ${s.queuedSeconds.toFixed(3)} s)`],
              ['round trip', `${seconds.toFixed(3)} s`],
              ['verified', verified ? 'yes: output equals the reference consolidation' : 'NO: output differs from the reference'],
            ]),
            keep || !verified
              ? `kept for inspection: inputs and output under ${shardId}/`
              : 'cleaned up: output deleted through DeleteParts, inputs removed',
            '',
          ].join('\n'),
        );
        if (!keep && verified) {
          await client.deleteParts(shardId, outKeys);
          for (const b of inputs) for (const r of b.runs) for (const p of r.parts) if (p.kind === 'hollow') await blob.delete(objectKey(shardId, p.key));
        }
        if (!verified) throw new CompactdError('internal', 'demo: the compacted output differs from the reference consolidation');
        return 0;
      });
    } finally {
      client.close();
    }
  },
});
