/**
 * Section "engine": the engine against the copy pipeline (copy.ts) on the file store, the same
 * parts, the same memory settings, repetitions interleaved. Reports input MB per second of wall
 * time and per CPU-second (one core fully busy for one second), and the ratio of the times.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { Blob } from '../src/blob/blob.js';
import { openBlob } from '../src/blob/url.js';
import { compact } from '../src/compact/compact.js';
import { validateCompactRequest } from '../src/model/validate.js';
import type { EngineConfig } from '../src/compact/types.js';
import { ensureCodecs } from '../src/part/codecs.js';
import { copyPipeline } from './copy.js';
import type { DataSpec } from './data.js';
import { deleteAll, outputKeys, writeInputs, type BenchInput } from './inputs.js';
import { atLeast, atMost, fmt, fmtCount, fmtMs, type Row, type SectionResult } from './report.js';
import { compare, mbPerSecond, type RepOptions, type Summary } from './stats.js';

export interface EngineSectionOptions extends RepOptions {
  readonly spec: DataSpec;
  readonly config: EngineConfig;
  /** Target size of the input parts the writer leaves. */
  readonly inputPartBytes: number;
}

/** Targets from issue 6. */
export const ENGINE_MB_PER_CORE = 200;
export const ENGINE_OVER_COPY_MAX = 1.5;

/** A file store in a fresh temp directory, removed by `dispose`. */
export async function tempFileStore(label: string): Promise<{ blob: Blob; dir: string; dispose(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), `compactd-bench-${label}-`));
  const blob = await openBlob(`file://${dir}`);
  return {
    blob,
    dir,
    async dispose() {
      await blob.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Runs the section; see the module comment. */
export async function engineSection(opts: EngineSectionOptions): Promise<SectionResult> {
  await ensureCodecs();
  const store = await tempFileStore('engine');
  try {
    const input = await writeInputs(store.blob, 'bench', opts.spec, opts.inputPartBytes);
    let engineOut: string[] = [];
    let copyOut: readonly string[] = [];
    let outputUpdates = 0;
    const [engine, copy] = await compare(
      [
        {
          run: async () => {
            const res = await compact(validateCompactRequest(input.req), { blob: store.blob, config: opts.config });
            engineOut = outputKeys(input.req.shardId, res.output);
            outputUpdates = res.stats.outputUpdates;
          },
          after: () => deleteAll(store.blob, engineOut),
        },
        {
          run: async () => {
            const copied = await copyPipeline(input.req, store.blob, opts.config);
            if (copied.rows !== input.updates) throw new Error(`the copy pipeline copied ${copied.rows} of ${input.updates} updates`);
            copyOut = copied.written;
          },
          after: () => deleteAll(store.blob, copyOut),
        },
      ],
      opts,
    );
    return engineResult(input, engine, copy, outputUpdates, opts);
  } finally {
    await store.dispose();
  }
}

function engineResult(input: BenchInput, engine: Summary, copy: Summary, outputUpdates: number, opts: EngineSectionOptions): SectionResult {
  const mb = input.inputBytes;
  const engineCpuRate = mbPerSecond(mb, engine.cpuMs);
  const ratioWall = engine.wallMs / copy.wallMs;
  const ratioCpu = engine.cpuMs / copy.cpuMs;
  const what = `${fmtCount(input.updates)} updates, ${opts.spec.runs} runs, ${fmt(mb / 1e6)} MB in ${input.parts} parts`;
  const rate = (s: Summary): [string, string] => [
    `${fmt(mbPerSecond(mb, s.wallMs))} MB/s (${fmtMs(s.wallMs)})`,
    `${fmt(mbPerSecond(mb, s.cpuMs))} MB/cpu-s (${fmtMs(s.cpuMs)})`,
  ];
  const [ew, ec] = rate(engine);
  const [cw, cc] = rate(copy);
  const rows: Row[] = [
    { name: `engine, file store (${what})`, wall: ew, cpu: ec, check: atLeast(engineCpuRate, ENGINE_MB_PER_CORE, `${ENGINE_MB_PER_CORE} MB/cpu-s`) },
    { name: 'copy pipeline, same parts', wall: cw, cpu: cc },
    {
      name: 'engine time / copy time',
      wall: `${fmt(ratioWall)}x`,
      cpu: `${fmt(ratioCpu)}x`,
      check: atMost(ratioWall, ENGINE_OVER_COPY_MAX, `${ENGINE_OVER_COPY_MAX}x (wall)`),
    },
  ];
  return {
    name: 'engine',
    title: 'engine vs copy',
    rows,
    data: {
      spec: opts.spec,
      config: { targetPartBytes: opts.config.targetPartBytes, memoryBoundBytes: opts.config.memoryBoundBytes, compression: opts.config.compression },
      inputPartBytes: opts.inputPartBytes,
      inputBytes: mb,
      inputUpdates: input.updates,
      outputUpdates,
      parts: input.parts,
      engine,
      copy,
      engineMBps: mbPerSecond(mb, engine.wallMs),
      engineMBperCpuS: engineCpuRate,
      copyMBps: mbPerSecond(mb, copy.wallMs),
      copyMBperCpuS: mbPerSecond(mb, copy.cpuMs),
      ratioWall,
      ratioCpu,
    },
  };
}
