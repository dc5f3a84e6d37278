/**
 * Builds input batches for engine tests: writes parts with the real codec into a real blob store
 * (or inline) exactly as a writer would, with full control over run order and part splits.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { Blob } from '../../src/blob/blob.js';
import type { Antichain } from '../../src/model/antichain.js';
import { withDiffsSum, type HollowBatch, type Part, type Run, type RunOrder } from '../../src/model/batch.js';
import type { Description } from '../../src/model/description.js';
import { objectKey } from '../../src/model/keys.js';
import type { Timestamp } from '../../src/model/timestamp.js';
import { consolidate, type Update } from '../../src/model/update.js';
import { decodePart } from '../../src/part/decode.js';
import { encodePart } from '../../src/part/encode.js';
import { columnsFromUpdates, updatesFromColumns } from '../../src/part/rows.js';

export const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
export const ts = (...c: number[]): Timestamp => c.map(BigInt);
export const ac = (...elems: number[][]): Antichain => elems.map((e) => ts(...e));
export const desc1 = (lower: number, upper: number, since: number): Description => ({
  lower: ac([lower]),
  upper: ac([upper]),
  since: ac([since]),
});
export const upd = (k: string, v: string, t: number | number[], d: number | bigint): Update => ({
  k: enc(k),
  v: enc(v),
  t: Array.isArray(t) ? ts(...t) : ts(t),
  d: BigInt(d),
});

export interface PartSpec {
  readonly rows: readonly Update[];
  /** Carry the bytes in the request instead of the store. */
  readonly inline?: boolean;
  /** The description written into the part, when it differs from the batch's (narrower batch). */
  readonly writtenDesc?: Description;
}

/** Writes one part and returns its Part (hollow parts get every field filled). */
export async function writePart(
  blob: Blob,
  shard: string,
  dims: number,
  desc: Description,
  spec: PartSpec,
  index = 0,
): Promise<Part> {
  const cols = columnsFromUpdates(spec.rows, dims);
  const bytes = encodePart(cols, { version: 1, dims, desc: spec.writtenDesc ?? desc, index });
  if (spec.inline) return { kind: 'inline', data: bytes };
  const key = `w${randomUUID()}/p${randomUUID()}`;
  await blob.set(objectKey(shard, key), bytes);
  const first = spec.rows[0]?.k ?? new Uint8Array(0);
  return withDiffsSum(
    {
      kind: 'hollow',
      key,
      encodedSizeBytes: bytes.byteLength,
      updates: spec.rows.length,
      keyLower: first.slice(0, 100),
      checksum: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
    },
    spec.rows.reduce((s, u) => s + u.d, 0n),
  );
}

export async function writeRun(
  blob: Blob,
  shard: string,
  dims: number,
  desc: Description,
  parts: readonly PartSpec[],
  order: RunOrder = 'ordered',
): Promise<Run> {
  const out: Part[] = [];
  for (let i = 0; i < parts.length; i++) out.push(await writePart(blob, shard, dims, desc, parts[i], i));
  return { parts: out, order };
}

/** A batch with one ORDERED run per element of `runs`, each run's updates consolidated by desc.since. */
export async function writeBatch(
  blob: Blob,
  shard: string,
  dims: number,
  desc: Description,
  runs: readonly (readonly (readonly Update[])[])[],
): Promise<HollowBatch> {
  const out: Run[] = [];
  let len = 0;
  for (const parts of runs) {
    out.push(await writeRun(blob, shard, dims, desc, parts.map((rows) => ({ rows }))));
    for (const p of parts) len += p.length;
  }
  return { desc, runs: out, len };
}

/** Reads every row of a hollow batch's parts as stored (no filtering, no consolidation). */
export async function readRows(blob: Blob, shard: string, batch: HollowBatch): Promise<Update[][]> {
  const runs: Update[][] = [];
  for (const run of batch.runs) {
    const rows: Update[] = [];
    for (const p of run.parts) {
      const bytes = p.kind === 'inline' ? p.data : await blob.get(objectKey(shard, p.key));
      if (bytes === undefined) throw new Error(`missing ${p.kind === 'hollow' ? p.key : 'inline'}`);
      rows.push(...updatesFromColumns(decodePart(bytes, 'test').cols));
    }
    runs.push(rows);
  }
  return runs;
}

/** Splits sorted, consolidated rows into contiguous parts at the given cut points. */
export function splitAt<T>(rows: readonly T[], cuts: readonly number[]): T[][] {
  const points = [...new Set(cuts.map((c) => Math.max(0, Math.min(rows.length, c))))].sort((a, b) => a - b);
  const out: T[][] = [];
  let prev = 0;
  for (const c of points) {
    out.push(rows.slice(prev, c));
    prev = c;
  }
  out.push(rows.slice(prev));
  return out;
}

export { consolidate };
