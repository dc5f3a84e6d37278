/**
 * Error paths of the engine: each failure has its documented kind, names what failed, and leaves
 * nothing behind: after any failure the store holds exactly the inputs, byte for byte.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Blob } from '../../src/blob/blob.js';
import { FaultyBlob } from '../../src/blob/faulty.js';
import { MemoryBlob } from '../../src/blob/memory.js';
import { cancellationOf } from '../../src/compact/cancel.js';
import { validateAndCompact } from '../helpers/compact.js';
import { DEFAULT_ENGINE_CONFIG, type EngineConfig } from '../../src/compact/types.js';
import type { CompactRequest, HollowBatch, HollowPart } from '../../src/model/batch.js';
import type { Description } from '../../src/model/description.js';
import { CompactdError, type ErrorKind } from '../../src/model/errors.js';
import { objectKey } from '../../src/model/keys.js';
import type { Update } from '../../src/model/update.js';
import { encodePart } from '../../src/part/encode.js';
import { columnsFromUpdates } from '../../src/part/rows.js';
import { ac, desc1, readRows, upd, writeBatch, writeRun } from '../helpers/batches.js';

const SHARD = 'err';
const small: EngineConfig = { ...DEFAULT_ENGINE_CONFIG, targetPartBytes: 200, memoryBoundBytes: 2000 };

function rows(prefix: string, n: number, t: number): Update[] {
  return Array.from({ length: n }, (_, i) => upd(`${prefix}${String(i).padStart(4, '0')}`, 'v', t, 1));
}

/** Several batches with several parts each, so that failures can strike mid-way. */
async function request(blob: Blob, nBatches = 4): Promise<CompactRequest> {
  const inputs: HollowBatch[] = [];
  for (let i = 0; i < nBatches; i++) {
    const all = rows(`k${i}-`, 40, i);
    inputs.push(await writeBatch(blob, SHARD, 1, desc1(i, i + 1, 0), [[all.slice(0, 10), all.slice(10, 20), all.slice(20, 30), all.slice(30)]]));
  }
  return { shardId: SHARD, desc: desc1(0, nBatches, nBatches), inputs, force: true, requestId: 'e' };
}

async function snapshot(blob: Blob): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  for await (const meta of blob.list('')) {
    m.set(meta.key, createHash('sha256').update((await blob.get(meta.key))!).digest('hex'));
  }
  return m;
}

async function expectFailure(
  blob: Blob,
  req: CompactRequest,
  kind: ErrorKind,
  fragment: string | RegExp,
  config: EngineConfig = small,
  signal?: AbortSignal,
  inspect: Blob = blob,
): Promise<void> {
  const before = await snapshot(inspect);
  const err = await validateAndCompact(req, { blob, config, cancel: signal && cancellationOf(signal) }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CompactdError);
  expect((err as CompactdError).kind).toBe(kind);
  expect((err as CompactdError).message).toMatch(fragment);
  expect(await snapshot(inspect)).toEqual(before);
}

const hollow = (req: CompactRequest, input: number, part: number): HollowPart => {
  const p = req.inputs[input].runs[0].parts[part];
  if (p.kind !== 'hollow') throw new Error('expected hollow');
  return p;
};

describe('engine error paths', () => {
  it('a missing part is NOT_FOUND naming the key, after earlier chunks wrote outputs', async () => {
    const blob = new MemoryBlob();
    const req = await request(blob);
    const last = hollow(req, 3, 3);
    await blob.delete(objectKey(SHARD, last.key));
    await expectFailure(blob, req, 'not_found', `part ${SHARD}/${last.key} is missing`);
  });

  it('random bytes in a part are DATA_LOSS naming the part', async () => {
    const blob = new MemoryBlob();
    const req = await request(blob, 2);
    const p = hollow(req, 1, 2);
    const junk = new Uint8Array(64).fill(7);
    await blob.set(objectKey(SHARD, p.key), junk);
    const patched = withPart(req, 1, 2, { ...p, encodedSizeBytes: 0, checksum: '' });
    await expectFailure(blob, patched, 'data_loss', p.key);
  });

  it('a checksum mismatch is DATA_LOSS', async () => {
    const blob = new MemoryBlob();
    const req = await request(blob, 2);
    const p = hollow(req, 0, 1);
    await expectFailure(blob, withPart(req, 0, 1, { ...p, checksum: `sha256:${'0'.repeat(64)}` }), 'data_loss', /checksum/);
  });

  it('a size mismatch is DATA_LOSS', async () => {
    const blob = new MemoryBlob();
    const req = await request(blob, 2);
    const p = hollow(req, 0, 1);
    await expectFailure(blob, withPart(req, 0, 1, { ...p, encodedSizeBytes: p.encodedSizeBytes + 1 }), 'data_loss', /bytes/);
  });

  it('an unsorted part in an ORDERED run is DATA_LOSS', async () => {
    const blob = new MemoryBlob();
    const d = desc1(0, 1, 0);
    const bad = [upd('b', 'v', 0, 1), upd('a', 'v', 0, 1)];
    const run = await writeRun(blob, SHARD, 1, d, [{ rows: bad }]);
    const req: CompactRequest = { shardId: SHARD, desc: desc1(0, 1, 0), inputs: [{ desc: d, runs: [run], len: 2 }], force: true, requestId: '' };
    await expectFailure(blob, req, 'data_loss', /sorted|order/);
  });

  it('the same rows in an UNORDERED run are fine', async () => {
    const blob = new MemoryBlob();
    const d = desc1(0, 1, 0);
    const run = await writeRun(blob, SHARD, 1, d, [{ rows: [upd('b', 'v', 0, 1), upd('a', 'v', 0, 1), upd('b', 'v', 0, -1)] }], 'unordered');
    const req: CompactRequest = { shardId: SHARD, desc: desc1(0, 1, 0), inputs: [{ desc: d, runs: [run], len: 3 }], force: true, requestId: '' };
    const { output } = await validateAndCompact(req, { blob, config: small });
    expect((await readRows(blob, SHARD, output)).flat()).toEqual([upd('a', 'v', 0, 1)]);
  });

  it('unconsolidated rows or zero diffs in an ORDERED part are DATA_LOSS', async () => {
    for (const bad of [[upd('a', 'v', 0, 1), upd('a', 'v', 0, 1)], [upd('a', 'v', 0, 0)]]) {
      const blob = new MemoryBlob();
      const d = desc1(0, 1, 0);
      const run = await writeRun(blob, SHARD, 1, d, [{ rows: bad }]);
      const req: CompactRequest = { shardId: SHARD, desc: d, inputs: [{ desc: d, runs: [run], len: bad.length }], force: true, requestId: '' };
      await expectFailure(blob, req, 'data_loss', /./);
    }
  });

  it('parts of an ORDERED run out of order with each other are DATA_LOSS', async () => {
    const blob = new MemoryBlob();
    const d = desc1(0, 1, 0);
    const run = await writeRun(blob, SHARD, 1, d, [{ rows: [upd('b', 'v', 0, 1)] }, { rows: [upd('a', 'v', 0, 1)] }]);
    const req: CompactRequest = { shardId: SHARD, desc: d, inputs: [{ desc: d, runs: [run], len: 2 }], force: true, requestId: '' };
    await expectFailure(blob, req, 'data_loss', /out of order/);
  });

  it('a part with other dimensions than the request is DATA_LOSS', async () => {
    const blob = new MemoryBlob();
    const d = desc1(0, 1, 0);
    const bytes = encodePart(columnsFromUpdates([upd('a', 'v', [0, 0], 1)], 2), { version: 1, dims: 2, desc: { lower: ac([0, 0]), upper: ac([1, 0]), since: ac([0, 0]) }, index: 0 });
    const req: CompactRequest = { shardId: SHARD, desc: d, inputs: [{ desc: d, runs: [{ parts: [{ kind: 'inline', data: bytes }], order: 'ordered' }], len: 1 }], force: true, requestId: '' };
    await expectFailure(blob, req, 'data_loss', /dimensional/);
  });

  it('a diff sum outside i64 is OUT_OF_RANGE and leaves no output', async () => {
    const blob = new MemoryBlob();
    const max = (1n << 63n) - 1n;
    const b0 = await writeBatch(blob, SHARD, 1, desc1(0, 1, 0), [[[upd('a', 'v', 0, max)]]]);
    const b1 = await writeBatch(blob, SHARD, 1, desc1(1, 2, 0), [[[upd('a', 'v', 1, 1)]]]);
    const req: CompactRequest = { shardId: SHARD, desc: desc1(0, 2, 5), inputs: [b0, b1], force: true, requestId: '' };
    await expectFailure(blob, req, 'out_of_range', /i64/);
    // Exactly at the limit is fine.
    const b2 = await writeBatch(blob, SHARD, 1, desc1(1, 2, 0), [[[upd('a', 'v', 1, -1)]]]);
    const ok = await validateAndCompact({ ...req, inputs: [b0, b2] }, { blob, config: small });
    expect((await readRows(blob, SHARD, ok.output)).flat()).toEqual([upd('a', 'v', 5, max - 1n)]);
  });

  it('a failing upload is UNAVAILABLE and every output written before it is deleted', async () => {
    const inner = new MemoryBlob();
    const req = await request(inner);
    let sets = 0;
    const blob = new FaultyBlob(inner, { ops: ['set'], failKeys: () => ++sets > 3 });
    await expectFailure(blob, req, 'unavailable', /./, small, undefined, inner);
    expect(sets).toBeGreaterThan(3);
  });

  it('cancellation mid-way is CANCELLED and deletes what was written', async () => {
    const inner = new MemoryBlob();
    const req = await request(inner);
    const ac = new AbortController();
    let sets = 0;
    const blob = new FaultyBlob(inner, { latencyMs: 2, failKeys: () => false });
    const spy: Blob = {
      ...bind(blob),
      set: async (k, d, o) => {
        if (++sets === 2) ac.abort();
        return blob.set(k, d, o);
      },
    };
    await expectFailure(spy, req, 'cancelled', /./, small, ac.signal, inner);
  });

  it('a timeout (abort with a deadline reason) is DEADLINE and deletes what was written', async () => {
    const inner = new MemoryBlob();
    const req = await request(inner);
    const ctl = new AbortController();
    let sets = 0;
    const spy: Blob = {
      ...bind(inner),
      set: async (k, d, o) => {
        if (++sets === 2) ctl.abort(new CompactdError('deadline', 'compaction timed out after 1s'));
        return inner.set(k, d, o);
      },
    };
    await expectFailure(spy, req, 'deadline', /timed out/, small, ctl.signal, inner);
  });
});

describe('request limits', () => {
  it('a frontier with more elements than the limit is RESOURCE_EXHAUSTED before any work', async () => {
    const blob = new MemoryBlob();
    // An antichain of 1025 incomparable 2-D times: (i, 1025 - i).
    const wide = Array.from({ length: 1025 }, (_, i) => [BigInt(i), BigInt(1025 - i)]);
    const desc: Description = { lower: wide, upper: [], since: ac([0, 0]) };
    const req: CompactRequest = { shardId: SHARD, desc, inputs: [{ desc, runs: [], len: 0 }], force: true, requestId: '' };
    await expectFailure(blob, req, 'exhausted', /1025 elements, over the limit of 1024/);
    const ok = await validateAndCompact({ ...req, desc: { ...desc, lower: wide.slice(0, 1024) }, inputs: [{ desc: { ...desc, lower: wide.slice(0, 1024) }, runs: [], len: 0 }] }, { blob, config: small });
    expect(ok.output.len).toBe(0);
  });
});

describe('narrower batches (docs/contract.md, "Narrower batches")', () => {
  it('rows outside the registered [lower, upper) of an unadvanced part are ignored', async () => {
    const blob = new MemoryBlob();
    const written: Description = desc1(0, 10, 0);
    const registered: Description = desc1(3, 6, 0);
    const run = await writeRun(blob, SHARD, 1, registered, [
      { rows: [upd('a', 'v', 2, 1), upd('a', 'v', 3, 1), upd('b', 'v', 5, 1), upd('c', 'v', 6, 1)], writtenDesc: written },
    ]);
    const req: CompactRequest = { shardId: SHARD, desc: desc1(3, 6, 4), inputs: [{ desc: registered, runs: [run], len: 4 }], force: true, requestId: '' };
    const { output, stats } = await validateAndCompact(req, { blob, config: small });
    expect((await readRows(blob, SHARD, output)).flat()).toEqual([upd('a', 'v', 4, 1), upd('b', 'v', 5, 1)]);
    expect(stats.inputUpdates).toBe(2);
  });

  it('a narrowed part whose since is not the minimum is DATA_LOSS', async () => {
    const blob = new MemoryBlob();
    const registered: Description = desc1(3, 6, 0);
    const run = await writeRun(blob, SHARD, 1, registered, [{ rows: [upd('a', 'v', 3, 1)], writtenDesc: desc1(0, 10, 2) }]);
    const req: CompactRequest = { shardId: SHARD, desc: desc1(3, 6, 4), inputs: [{ desc: registered, runs: [run], len: 1 }], force: true, requestId: '' };
    await expectFailure(blob, req, 'data_loss', /since/);
  });
});

function withPart(req: CompactRequest, input: number, part: number, p: HollowPart): CompactRequest {
  const inputs = req.inputs.map((b, i) =>
    i !== input ? b : { ...b, runs: b.runs.map((r, j) => (j !== 0 ? r : { ...r, parts: r.parts.map((q, k) => (k === part ? p : q)) })) },
  );
  return { ...req, inputs };
}

function bind(b: Blob): Blob {
  return {
    get: b.get.bind(b),
    set: b.set.bind(b),
    delete: b.delete.bind(b),
    head: b.head.bind(b),
    list: b.list.bind(b),
    getVersioned: b.getVersioned.bind(b),
    setIf: b.setIf.bind(b),
    copy: b.copy.bind(b),
    close: b.close.bind(b),
  };
}
