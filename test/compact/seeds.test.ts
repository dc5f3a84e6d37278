/**
 * The behaviour pinned by the test cases of the two seed files (Materialize's 2021
 * `compact_trace` and today's `Compactor`), restated against compactd's engine.
 */
import { describe, expect, it } from 'vitest';
import { MemoryBlob } from '../../src/blob/memory.js';
import { validateAndCompact } from '../helpers/compact.js';
import { DEFAULT_ENGINE_CONFIG, type EngineConfig } from '../../src/compact/types.js';
import type { CompactRequest, HollowBatch } from '../../src/model/batch.js';
import type { Description } from '../../src/model/description.js';
import { CompactdError } from '../../src/model/errors.js';
import { objectKey } from '../../src/model/keys.js';
import type { Update } from '../../src/model/update.js';
import { decodePart } from '../../src/part/decode.js';
import { ac, desc1, readRows, upd, writeBatch } from '../helpers/batches.js';

const SHARD = 's1';
const cfg = (over: Partial<EngineConfig> = {}): EngineConfig => ({ ...DEFAULT_ENGINE_CONFIG, ...over });

interface TraceCase {
  readonly name: string;
  readonly b0: Update[][];
  readonly b1: Update[][];
  readonly expected: Update[];
}

const kv = (k: string, v: string, t: number, d: number) => upd(k, v, t, d);
const expected = [kv('k', 'v', 2, 2), kv('k2', 'v2', 2, 1), kv('k3', 'v3', 2, 1)];

const traceCases: TraceCase[] = [
  {
    name: 'normal',
    b0: [[kv('k', 'v', 0, 1), kv('k2', 'v2', 0, 1)]],
    b1: [[kv('k', 'v', 2, 1), kv('k3', 'v3', 2, 1)]],
    expected,
  },
  {
    name: 'one input has multiple parts',
    b0: [[kv('k', 'v', 0, 1)], [kv('k2', 'v2', 0, 1)]],
    b1: [[kv('k', 'v', 2, 1), kv('k3', 'v3', 2, 1)]],
    expected,
  },
  {
    name: 'both inputs have multiple parts',
    b0: [[kv('k', 'v', 0, 1)], [kv('k2', 'v2', 0, 1)]],
    b1: [[kv('k', 'v', 2, 1)], [kv('k3', 'v3', 2, 1)]],
    expected,
  },
  {
    name: 'one input has empty parts',
    b0: [[], [kv('k', 'v', 0, 1)], [], [kv('k2', 'v2', 0, 1)], []],
    b1: [[kv('k', 'v', 2, 1)], [kv('k3', 'v3', 2, 1)]],
    expected,
  },
  {
    name: 'one input has only empty parts',
    b0: [[], [], []],
    b1: [[kv('k', 'v', 2, 2), kv('k2', 'v2', 2, 1), kv('k3', 'v3', 2, 1)]],
    expected,
  },
  {
    name: 'one input has no parts',
    b0: [],
    b1: [[kv('k', 'v', 2, 2), kv('k2', 'v2', 2, 1), kv('k3', 'v3', 2, 1)]],
    expected,
  },
];

async function twoBatchRequest(blob: MemoryBlob, c: TraceCase): Promise<CompactRequest> {
  const b0 = await writeBatch(blob, SHARD, 1, desc1(0, 1, 0), c.b0.length === 0 ? [] : [c.b0]);
  const b1 = await writeBatch(blob, SHARD, 1, desc1(1, 3, 0), c.b1.length === 0 ? [] : [c.b1]);
  return { shardId: SHARD, desc: desc1(0, 3, 2), inputs: [b0, b1], force: true, requestId: 'r' };
}

async function outputRows(blob: MemoryBlob, out: HollowBatch): Promise<Update[]> {
  return (await readRows(blob, SHARD, out)).flat();
}

async function partDescs(blob: MemoryBlob, out: HollowBatch): Promise<Description[]> {
  const descs: Description[] = [];
  for (const run of out.runs) {
    for (const p of run.parts) {
      if (p.kind !== 'hollow') throw new Error('output parts are never inline');
      descs.push(decodePart((await blob.get(objectKey(SHARD, p.key)))!, p.key).meta.desc);
    }
  }
  return descs;
}

describe('compact_trace cases (2021 seed)', () => {
  for (const c of traceCases) {
    it(`${c.name}: one output part at the normal target size`, async () => {
      const blob = new MemoryBlob();
      const req = await twoBatchRequest(blob, c);
      const { output, stats } = await validateAndCompact(req, { blob, config: cfg() });
      expect(output.desc).toEqual(req.desc);
      expect(output.runs).toHaveLength(1);
      expect(output.runs[0].parts).toHaveLength(1);
      expect(output.len).toBe(3);
      expect(await outputRows(blob, output)).toEqual(c.expected);
      for (const d of await partDescs(blob, output)) expect(d).toEqual(req.desc);
      expect(stats.outputUpdates).toBe(3);
    });

    it(`${c.name}: a tiny target size puts every update in its own part`, async () => {
      const blob = new MemoryBlob();
      const req = await twoBatchRequest(blob, c);
      const { output } = await validateAndCompact(req, { blob, config: cfg({ targetPartBytes: 10, memoryBoundBytes: 1 << 20 }) });
      expect(output.runs).toHaveLength(1);
      expect(output.runs[0].parts).toHaveLength(3);
      expect(await outputRows(blob, output)).toEqual(c.expected);
    });
  }
});

describe('compact_trace error cases (2021 seed)', () => {
  const empty = (desc: Description): HollowBatch => ({ desc, runs: [], len: 0 });
  const req = (b0: Description, b1: Description, since: number): CompactRequest => ({
    shardId: SHARD,
    desc: { lower: b0.lower, upper: b1.upper, since: ac([since]) },
    inputs: [empty(b0), empty(b1)],
    force: true,
    requestId: '',
  });
  const expectInvalid = async (r: CompactRequest, fragment: string) => {
    const blob = new MemoryBlob();
    const err = await validateAndCompact(r, { blob, config: cfg() }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CompactdError);
    expect((err as CompactdError).kind).toBe('invalid');
    expect((err as CompactdError).message).toContain(fragment);
  };

  it('rejects a gap between inputs', () => expectInvalid(req(desc1(0, 2, 0), desc1(3, 4, 0), 0), 'non-consecutive'));
  it('rejects overlapping inputs', () => expectInvalid(req(desc1(0, 2, 0), desc1(1, 4, 0), 0), 'non-consecutive'));
  it("rejects an output since behind the first input's since", () =>
    expectInvalid(req(desc1(0, 2, 1), desc1(2, 4, 0), 0), 'must be at or in advance of'));
  it("rejects an output since behind the second input's since", () =>
    expectInvalid(req(desc1(0, 2, 0), desc1(2, 4, 1), 0), 'must be at or in advance of'));
  it('rejects inputs that do not reach the output upper', async () => {
    const r = req(desc1(0, 2, 0), desc1(2, 4, 0), 0);
    await expectInvalid({ ...r, desc: { ...r.desc, upper: ac([5]) } }, 'non-consecutive');
  });
  it('rejects inputs that do not start at the output lower', async () => {
    const r = req(desc1(1, 2, 0), desc1(2, 4, 0), 0);
    await expectInvalid({ ...r, desc: { ...r.desc, lower: ac([0]) } }, 'non-consecutive');
  });
});

describe('Compactor cases (current seed)', () => {
  it('regression_minimum_since: updates at the minimum time advance and cancel', async () => {
    const blob = new MemoryBlob();
    const b0 = await writeBatch(blob, SHARD, 1, desc1(0, 1, 0), [[[upd('0', 'zero', 0, 1)]]]);
    const b1 = await writeBatch(blob, SHARD, 1, desc1(1, 2, 0), [[[upd('0', 'zero', 1, -1), upd('1', 'one', 1, 1)]]]);
    const req: CompactRequest = { shardId: SHARD, desc: desc1(0, 2, 10), inputs: [b0, b1], force: true, requestId: '' };
    const { output } = await validateAndCompact(req, { blob, config: cfg({ targetPartBytes: 100, memoryBoundBytes: 1 << 20 }) });
    expect(output.desc).toEqual(req.desc);
    expect(output.len).toBe(1);
    expect(output.runs.flatMap((r) => r.parts)).toHaveLength(1);
    expect(await partDescs(blob, output)).toEqual([req.desc]);
    expect(await outputRows(blob, output)).toEqual([upd('1', 'one', 10, 1)]);
  });

  it('compaction_partial_order: product times advance coordinate-wise and are re-sorted', async () => {
    const blob = new MemoryBlob();
    const mid = ac([0, 11], [10, 0]);
    const d0: Description = { lower: ac([0, 0]), upper: mid, since: ac([0, 0]) };
    const d1: Description = { lower: mid, upper: ac([10, 1]), since: ac([0, 0]) };
    const b0 = await writeBatch(blob, SHARD, 2, d0, [[[upd('0', 'zero', [0, 10], 1)]]]);
    const b1 = await writeBatch(blob, SHARD, 2, d1, [[[upd('1', 'one', [10, 0], 1)]]]);
    const req: CompactRequest = {
      shardId: SHARD,
      desc: { lower: d0.lower, upper: d1.upper, since: ac([10, 0]) },
      inputs: [b0, b1],
      force: true,
      requestId: '',
    };
    const { output } = await validateAndCompact(req, { blob, config: cfg({ targetPartBytes: 100, memoryBoundBytes: 1 << 20 }) });
    expect(output.desc).toEqual(req.desc);
    expect(output.len).toBe(2);
    expect(output.runs.flatMap((r) => r.parts)).toHaveLength(1);
    expect(await outputRows(blob, output)).toEqual([upd('0', 'zero', [10, 10], 1), upd('1', 'one', [10, 0], 1)]);
  });
});
