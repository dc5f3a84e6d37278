/**
 * Section "scaling": how the engine's cost grows.
 * - Time per update at growing input sizes (2 runs, memory store): should stay flat.
 * - Time per update at a fixed total across 2..64 runs (memory store): a k-way heap merge should
 *   grow like log R.
 * - Peak resident memory of a compaction of 1x and 10x input under the same memory bound, each
 *   in a fresh child process (rss-child.ts) reading inputs the parent wrote to a file store:
 *   should stay flat.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { MemoryBlob } from '../src/blob/memory.js';
import { compact } from '../src/compact/compact.js';
import { validateCompactRequest } from '../src/model/validate.js';
import type { EngineConfig } from '../src/compact/types.js';
import { ensureCodecs } from '../src/part/codecs.js';
import { compactRequestToJson } from '../src/wire/json.js';
import type { DataSpec } from './data.js';
import { tempFileStore } from './engine.js';
import { deleteAll, outputKeys, writeInputs, type BenchInput } from './inputs.js';
import { atMost, fmt, fmtBytes, fmtCount, fmtMs, type Row, type SectionResult } from './report.js';
import type { RssChildArgs, RssChildResult } from './rss-child.js';
import { measure, median, type RepOptions, type Summary } from './stats.js';
import { childScript } from './child.js';

const execFileAsync = promisify(execFile);

export interface RssOptions {
  /** Updates of the 1x input. */
  readonly base: number;
  /** The larger input is `factor` times the base. */
  readonly factor: number;
  readonly runs: number;
  readonly memoryBoundBytes: number;
  /** Output target, and the size the inputs are written at. */
  readonly targetPartBytes: number;
  /** Child processes per input size (the median is reported). */
  readonly reps: number;
}

export interface ScalingOptions {
  readonly spec: DataSpec;
  /** Repetitions of each point of the size and run sweeps. */
  readonly reps: RepOptions;
  /** Input sizes (updates, 2 runs) for time per update; the last is compared with the first. */
  readonly sizes: readonly number[];
  readonly runCounts: readonly number[];
  /** Total updates of the runs sweep. */
  readonly runsTotal: number;
  readonly rss: RssOptions;
  readonly config: EngineConfig;
  readonly inputPartBytes: number;
}

/** Targets from issue 6. */
export const PER_UPDATE_GROWTH_MAX = 1.2;
export const RSS_GROWTH_MAX = 1.1;

interface Point {
  readonly updates: number;
  readonly runs: number;
  readonly inputBytes: number;
  readonly time: Summary;
  readonly wallNsPerUpdate: number;
  readonly cpuNsPerUpdate: number;
}

/** Engine time for one input in a memory store (inputs dropped afterwards). */
async function enginePoint(spec: DataSpec, config: EngineConfig, inputPartBytes: number, reps: RepOptions): Promise<Point> {
  const blob = new MemoryBlob();
  const input = await writeInputs(blob, 'bench', spec, inputPartBytes);
  let out: string[] = [];
  const time = await measure(
    {
      run: async () => {
        out = outputKeys(input.req.shardId, (await compact(validateCompactRequest(input.req), { blob, config })).output);
      },
      after: () => deleteAll(blob, out),
    },
    reps,
  );
  await blob.close();
  return {
    updates: input.updates,
    runs: spec.runs,
    inputBytes: input.inputBytes,
    time,
    wallNsPerUpdate: (time.wallMs * 1e6) / input.updates,
    cpuNsPerUpdate: (time.cpuMs * 1e6) / input.updates,
  };
}

const ns = (x: number): string => `${fmt(x)} ns/update`;

async function sizeRows(opts: ScalingOptions): Promise<{ rows: Row[]; points: Point[] }> {
  const points: Point[] = [];
  for (const updates of opts.sizes) {
    points.push(await enginePoint({ ...opts.spec, updates, runs: 2 }, opts.config, opts.inputPartBytes, opts.reps));
  }
  const rows: Row[] = points.map((p) => ({
    name: `time per update, ${fmtCount(p.updates)} updates (${fmt(p.inputBytes / 1e6)} MB), 2 runs`,
    wall: `${ns(p.wallNsPerUpdate)} (${fmtMs(p.time.wallMs)})`,
    cpu: ns(p.cpuNsPerUpdate),
  }));
  const first = points[0];
  const last = points[points.length - 1];
  const growthCpu = last.cpuNsPerUpdate / first.cpuNsPerUpdate;
  rows.push({
    name: `per-update time, ${fmtCount(last.updates)} / ${fmtCount(first.updates)}`,
    wall: `${fmt(last.wallNsPerUpdate / first.wallNsPerUpdate)}x`,
    cpu: `${fmt(growthCpu)}x`,
    check: atMost(growthCpu, PER_UPDATE_GROWTH_MAX, `${PER_UPDATE_GROWTH_MAX}x (CPU)`),
  });
  return { rows, points };
}

async function runRows(opts: ScalingOptions): Promise<{ rows: Row[]; points: Point[] }> {
  const points: Point[] = [];
  for (const runs of opts.runCounts) {
    points.push(await enginePoint({ ...opts.spec, updates: opts.runsTotal, runs }, opts.config, opts.inputPartBytes, opts.reps));
  }
  const base = points[0];
  const rows: Row[] = points.map((p) => ({
    name: `${p.runs} runs, ${fmtCount(p.updates)} updates (log2 R / log2 ${base.runs} = ${fmt(Math.log2(p.runs) / Math.log2(base.runs))})`,
    wall: `${ns(p.wallNsPerUpdate)}, ${fmt(p.wallNsPerUpdate / base.wallNsPerUpdate)}x`,
    cpu: `${ns(p.cpuNsPerUpdate)}, ${fmt(p.cpuNsPerUpdate / base.cpuNsPerUpdate)}x`,
  }));
  return { rows, points };
}

interface RssPoint {
  readonly updates: number;
  readonly inputBytes: number;
  readonly children: readonly RssChildResult[];
  readonly peakRssBytes: number;
  readonly baselineRssBytes: number;
}

const CHILD = childScript('rss-child');

/** Writes the input to a temp file store, then runs `reps` children against it. */
async function rssPoint(opts: ScalingOptions, updates: number): Promise<RssPoint> {
  const r = opts.rss;
  const store = await tempFileStore('rss');
  try {
    const input: BenchInput = await writeInputs(store.blob, 'bench', { ...opts.spec, updates, runs: r.runs }, r.targetPartBytes);
    const requestFile = path.join(store.dir, 'request.json');
    await writeFile(requestFile, JSON.stringify(compactRequestToJson(input.req)));
    const args: RssChildArgs = { dir: store.dir, requestFile, memoryBoundBytes: r.memoryBoundBytes, targetPartBytes: r.targetPartBytes };
    const children: RssChildResult[] = [];
    for (let i = 0; i < r.reps; i++) {
      const { stdout } = await execFileAsync(process.execPath, [...CHILD, JSON.stringify(args)], { maxBuffer: 1 << 20 });
      children.push(JSON.parse(stdout) as RssChildResult);
    }
    return {
      updates: input.updates,
      inputBytes: input.inputBytes,
      children,
      peakRssBytes: median(children.map((c) => c.peakRssBytes)),
      baselineRssBytes: median(children.map((c) => c.baselineRssBytes)),
    };
  } finally {
    await store.dispose();
  }
}

async function rssRows(opts: ScalingOptions): Promise<{ rows: Row[]; points: RssPoint[] }> {
  const r = opts.rss;
  const points = [await rssPoint(opts, r.base), await rssPoint(opts, r.base * r.factor)];
  const bound = `bound ${fmtBytes(r.memoryBoundBytes)}, ${fmtBytes(r.targetPartBytes)} parts, ${r.runs} runs`;
  const rows: Row[] = points.map((p, i) => {
    const c = p.children[0];
    return {
      name: `peak RSS, ${i === 0 ? '1x' : `${r.factor}x`} input: ${fmtCount(p.updates)} updates, ${fmt(p.inputBytes / 1e6)} MB (${bound}; ${c.chunks} chunks)`,
      wall: `${fmtBytes(p.peakRssBytes)} (${fmtBytes(p.peakRssBytes - p.baselineRssBytes)} over the ${fmtBytes(p.baselineRssBytes)} before compacting)`,
      cpu: fmtMs(median(p.children.map((x) => x.time.cpuMs))),
    };
  });
  const growth = points[1].peakRssBytes / points[0].peakRssBytes;
  rows.push({
    name: `peak RSS, ${r.factor}x / 1x`,
    wall: `${fmt(growth)}x`,
    check: atMost(growth, RSS_GROWTH_MAX, `${RSS_GROWTH_MAX}x`),
  });
  return { rows, points };
}

/** Runs the section; see the module comment. */
export async function scalingSection(opts: ScalingOptions): Promise<SectionResult> {
  await ensureCodecs();
  const sizes = await sizeRows(opts);
  const runs = await runRows(opts);
  const rss = await rssRows(opts);
  return {
    name: 'scaling',
    title: 'scaling',
    rows: [...sizes.rows, ...runs.rows, ...rss.rows],
    data: {
      spec: opts.spec,
      config: { targetPartBytes: opts.config.targetPartBytes, memoryBoundBytes: opts.config.memoryBoundBytes },
      sizes: sizes.points,
      runs: runs.points,
      rss: { options: opts.rss, points: rss.points },
    },
  };
}
