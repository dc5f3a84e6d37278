// Quick engine throughput probe (development aid; the suite is bench/run.ts).
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { FileBlob } from '../src/blob/file.js';
import { MemoryBlob } from '../src/blob/memory.js';
import { compact } from '../src/compact/compact.js';
import { DEFAULT_ENGINE_CONFIG } from '../src/compact/types.js';
import { encodePart } from '../src/part/encode.js';
import type { HollowBatch, Part } from '../src/model/batch.js';
const ac = (...elems: number[][]) => elems.map((e) => e.map(BigInt));
import { DEFAULT_DATA, drawRuns, rowsPerPart, runColumns } from './data.js';

const spec = { ...DEFAULT_DATA, updates: Number(process.argv[2] ?? 2_000_000), runs: Number(process.argv[3] ?? 2) };
// PROBE_STORE=file: a file store in a temp dir and checksummed inputs, as the benchmark's engine section.
const onFile = process.env.PROBE_STORE === 'file';
const dir = onFile ? mkdtempSync(`${tmpdir()}/compactd-probe-`) : '';
const blob = onFile ? new FileBlob(dir) : new MemoryBlob();
const inputs: HollowBatch[] = [];
let inBytes = 0;
const per = rowsPerPart(spec, 16 << 20);
for (const [r, run] of drawRuns(spec).entries()) {
  const desc = { lower: ac([r]), upper: ac([r + 1]), since: ac([0]) };
  const parts: Part[] = [];
  for (let s = 0; s < run.ids.length; s += per) {
    const e = Math.min(run.ids.length, s + per);
    const bytes = encodePart(runColumns(spec, run, s, e), { version: 1, dims: 1, desc, index: parts.length });
    const key = `w/p${r}-${s}`;
    await blob.set(`b/${key}`, bytes);
    inBytes += bytes.byteLength;
    parts.push({ kind: 'hollow', key, encodedSizeBytes: bytes.byteLength, updates: e - s, keyLower: new Uint8Array(0), checksum: onFile ? `sha256:${createHash('sha256').update(bytes).digest('hex')}` : '' });
  }
  inputs.push({ desc, runs: [{ parts, order: 'ordered' }], len: run.ids.length });
}
const req = { shardId: 'b', desc: { lower: ac([0]), upper: ac([spec.runs]), since: ac([spec.runs]) }, inputs, force: true, requestId: '' };
for (let i = 0; i < Number(process.argv[4] ?? 4); i++) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const res = await compact(req, { blob, config: { ...DEFAULT_ENGINE_CONFIG, targetPartBytes: 16 << 20 } });
  const s = (performance.now() - t0) / 1000;
  const cu = process.cpuUsage(c0);
  const cpu = (cu.user + cu.system) / 1e6;
  console.log(`engine: ${res.stats.inputUpdates} rows ${spec.runs} runs ${(inBytes / 1e6).toFixed(0)} MB: wall ${s.toFixed(3)} s (${(inBytes / 1e6 / s).toFixed(0)} MB/s), cpu ${cpu.toFixed(3)} s (user ${(cu.user / 1e6).toFixed(3)}, system ${(cu.system / 1e6).toFixed(3)}; ${(inBytes / 1e6 / cpu).toFixed(0)} MB/cpu-s, ${(cpu / res.stats.inputUpdates * 1e9).toFixed(0)} ns/row), out ${res.stats.outputUpdates}`);
  for (const run of res.output.runs) for (const p of run.parts) if (p.kind === 'hollow') await blob.delete(`b/${p.key}`);
}
if (onFile) rmSync(dir, { recursive: true, force: true });
