/**
 * Resuming the engine from a checkpoint: for any safe boundary an earlier run reported, a run
 * resumed there produces the same output rows, run by run, as the uninterrupted run.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryBlob } from '../../src/blob/memory.js';
import type { ResumePoint } from '../../src/compact/resume.js';
import { DEFAULT_ENGINE_CONFIG, type EngineConfig, type EngineEvent } from '../../src/compact/types.js';
import type { CompactRequest, HollowBatch, HollowPart, Run } from '../../src/model/batch.js';
import { consolidate, type Update } from '../../src/model/update.js';
import { ac, desc1, enc, readRows, splitAt, ts, writeRun } from '../helpers/batches.js';
import { validateAndCompact } from '../helpers/compact.js';

const SHARD = 's1';

const row = fc.record({
  k: fc.integer({ min: 0, max: 150 }),
  v: fc.constantFrom('', 'x', 'yy'),
  t: fc.integer({ min: 0, max: 5 }),
  d: fc.integer({ min: -2, max: 3 }),
});

async function buildRequest(blob: MemoryBlob, runs: { rows: { k: number; v: string; t: number; d: number }[]; cuts: number[] }[]): Promise<CompactRequest> {
  const desc = desc1(0, 10, 3);
  const out: Run[] = [];
  let len = 0;
  for (const { rows, cuts } of runs) {
    const sorted = consolidate(
      rows.map((r): Update => ({ k: enc(`key-${String(r.k).padStart(3, '0')}`), v: enc(r.v), t: ts(r.t), d: BigInt(r.d) })),
      [],
    );
    out.push(await writeRun(blob, SHARD, 1, desc, splitAt(sorted, cuts).map((p) => ({ rows: p }))));
    len += sorted.length;
  }
  const inputs: HollowBatch[] = [{ desc, runs: out, len }];
  return { shardId: SHARD, desc: { lower: ac([0]), upper: ac([10]), since: ac([3]) }, inputs, force: true, requestId: 'r' };
}

const config: EngineConfig = { ...DEFAULT_ENGINE_CONFIG, targetPartBytes: 700, memoryBoundBytes: 700 * 2 + 2500 };

interface Recorded {
  readonly parts: Map<number, Map<number, Extract<EngineEvent, { type: 'part' }>>>;
  readonly chunkParts: Map<number, number>;
}

function recorder(): { rec: Recorded; onEvent: (e: EngineEvent) => void } {
  const rec: Recorded = { parts: new Map(), chunkParts: new Map() };
  return {
    rec,
    onEvent: (e) => {
      if (e.type === 'part') {
        if (!rec.parts.has(e.chunk)) rec.parts.set(e.chunk, new Map());
        rec.parts.get(e.chunk)!.set(e.index, e);
      } else if (e.type === 'chunk') {
        rec.chunkParts.set(e.chunk, e.parts);
      }
    },
  };
}

/** Every resume point the recorded run allows: m finished chunks plus a safe prefix of chunk m. */
function resumePoints(rec: Recorded, chunks: number): ResumePoint[] {
  const runOf = (c: number): HollowPart[] => {
    const n = rec.chunkParts.get(c) ?? 0;
    return Array.from({ length: n }, (_, i) => rec.parts.get(c)!.get(i)!.part);
  };
  const out: ResumePoint[] = [];
  for (let m = 0; m < chunks; m++) {
    const done = Array.from({ length: m }, (_, c) => runOf(c));
    out.push({ done });
    const run = rec.parts.get(m);
    const n = rec.chunkParts.get(m) ?? 0;
    for (let j = 0; j + 1 < n; j++) {
      if (!run!.get(j + 1)!.startsNewKv) continue;
      out.push({ done, partial: { parts: runOf(m).slice(0, j + 1), boundary: run!.get(j)!.last } });
    }
  }
  return out;
}

describe('engine resume', () => {
  it('resumed at any safe boundary, yields the rows of the uninterrupted run, skipping input', async () => {
    let multiChunk = 0;
    let partials = 0;
    let partialSkips = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ rows: fc.array(row, { minLength: 40, maxLength: 150 }), cuts: fc.array(fc.nat(150), { minLength: 2, maxLength: 8 }) }), {
          minLength: 2,
          maxLength: 4,
        }),
        async (runs) => {
          const blob = new MemoryBlob();
          const req = await buildRequest(blob, runs);
          const { rec, onEvent } = recorder();
          const full = await validateAndCompact(req, { blob, config, job: { onEvent } });
          const fullRows = await readRows(blob, SHARD, full.output);
          const all = req.inputs.flatMap((b) => b.runs);
          const allRows = (await readRows(blob, SHARD, { desc: req.desc, runs: all, len: 0 })).flat();
          expect(fullRows.flat().length).toBeLessThanOrEqual(allRows.length);
          if (full.stats.chunks > 1) multiChunk++;
          for (const point of resumePoints(rec, full.stats.chunks)) {
            const resumed = await validateAndCompact(req, { blob, config, job: { resume: point } });
            const got = await readRows(blob, SHARD, resumed.output);
            expect(got).toEqual(fullRows);
            expect(resumed.output.len).toBe(full.output.len);
            const skipsSomething = point.done.length > 0;
            if (skipsSomething) expect(resumed.stats.resumedBytes ?? 0).toBeGreaterThan(0);
            if (point.partial) {
              partials++;
              if (point.done.length === 0 && (resumed.stats.resumedBytes ?? 0) > 0) partialSkips++;
            }
          }
        },
      ),
      { numRuns: 12 },
    );
    // The generator must reach the interesting cases, or the property says little.
    expect(multiChunk).toBeGreaterThan(0);
    expect(partials).toBeGreaterThan(0);
    expect(partialSkips).toBeGreaterThan(0);
  });

  it('reports each durable part with its (k, v) boundary, and a part continuing a (k, v) as such', async () => {
    const blob = new MemoryBlob();
    // One long (k, v) at seven distinct times (beyond since): more bytes than one output part.
    const desc = desc1(0, 10, 3);
    const big = enc('k'.repeat(300));
    const rows = [3, 4, 5, 6, 7, 8, 9].map((t): Update => ({ k: big, v: enc('v'), t: ts(t), d: 1n }));
    const tail: Update[] = [{ k: enc('z'), v: enc(''), t: ts(5), d: 1n }];
    const runs = [await writeRun(blob, SHARD, 1, desc, [{ rows }]), await writeRun(blob, SHARD, 1, desc, [{ rows: tail }])];
    const req: CompactRequest = { shardId: SHARD, desc, inputs: [{ desc, runs, len: 8 }], force: true, requestId: 'r' };
    const { rec, onEvent } = recorder();
    const res = await validateAndCompact(req, { blob, config: { ...config, memoryBoundBytes: 1 << 20 }, job: { onEvent } });
    const parts = [...rec.parts.get(0)!.values()].sort((a, b) => a.index - b.index);
    expect(parts.length).toBe(res.output.runs[0].parts.length);
    expect(parts.length).toBeGreaterThan(2);
    expect(parts[0].startsNewKv).toBe(true);
    expect(parts[1].startsNewKv).toBe(false);
    expect(new TextDecoder().decode(parts[parts.length - 1].last.k)).toBe('z');
    // Every flag and boundary agrees with the rows written.
    const written = await Promise.all(
      res.output.runs[0].parts.map((p) => readRows(blob, SHARD, { desc, runs: [{ parts: [p], order: 'ordered' }], len: 0 }).then((r) => r[0])),
    );
    const same = (a: Update, b: Update) => Buffer.from(a.k).equals(Buffer.from(b.k)) && Buffer.from(a.v).equals(Buffer.from(b.v));
    for (let i = 0; i < parts.length; i++) {
      const last = written[i][written[i].length - 1];
      expect(Buffer.from(parts[i].last.k).equals(Buffer.from(last.k))).toBe(true);
      if (i > 0) expect(parts[i].startsNewKv).toBe(!same(written[i - 1][written[i - 1].length - 1], written[i][0]));
    }
    expect(parts.map((p) => p.part.key)).toEqual(res.output.runs[0].parts.map((p) => (p.kind === 'hollow' ? p.key : '')));
  });
});
