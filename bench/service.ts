/**
 * Section "service": compactions end to end over gRPC, against an in-process server started the
 * way the end-to-end tests start one (real worker threads, loopback port 0), once with a file
 * store and once with s3rver (in a child process, s3rver-child.ts).
 * - Latency of small compactions (two batches of 10 updates, force), one call at a time from
 *   one client: p50 and p99.
 *   For comparison, the same compactions by the engine called directly, on the same store.
 * - Throughput of large compactions (input MB per second of wall time) from one client calling
 *   one at a time, and from `concurrency_limit` clients calling at once.
 * The CPU column counts this process only (client, server and its workers), never s3rver.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Blob } from '../src/blob/blob.js';
import { openBlob } from '../src/blob/url.js';
import { CompactorClient } from '../src/client/compactor-client.js';
import { compact } from '../src/compact/compact.js';
import { validateCompactRequest } from '../src/model/validate.js';
import type { EngineConfig } from '../src/compact/types.js';
import type { CompactRequest } from '../src/model/batch.js';
import { parseServeOptions } from '../src/config/options.js';
import { createRootLogger } from '../src/obs/log.js';
import { startServer, type CompactdServer } from '../src/service/server.js';
import type { DataSpec } from './data.js';
import { tempFileStore } from './engine.js';
import { deleteAll, outputKeys, outputPartKeys, writeInputs, type BenchInput } from './inputs.js';
import { atMost, fmt, fmtCount, fmtMs, type Row, type SectionResult } from './report.js';
import { mbPerSecond, quantile, timeOnce, type RepOptions, type Sample } from './stats.js';
import { childScript } from './child.js';

export interface ServiceOptions {
  readonly spec: DataSpec;
  /** Small compactions: warm-up calls, then timed calls. */
  readonly small: RepOptions;
  /** Large compactions: updates per request (2 runs); rounds of warm-up and timed calls per client. */
  readonly large: RepOptions & { readonly updates: number };
  readonly config: EngineConfig;
  readonly inputPartBytes: number;
}

/** Target from issue 6. */
export const SMALL_P50_MAX_MS = 5;
const SMALL_UPDATES_PER_BATCH = 10;

interface StoreResult {
  readonly store: string;
  readonly concurrencyLimit: number;
  readonly smallMs: readonly number[];
  readonly smallP50Ms: number;
  readonly smallP99Ms: number;
  /** The same small compactions run by the engine in this process, without gRPC or worker threads. */
  readonly engineSmallP50Ms: number;
  readonly engineSmallP99Ms: number;
  readonly large: { readonly inputBytes: number; readonly updates: number };
  readonly oneClient: Sample & { readonly calls: number; readonly mbPerSecond: number };
  readonly manyClients: Sample & { readonly clients: number; readonly calls: number; readonly mbPerSecond: number };
  /** The same large compactions by the engine in this process, one at a time: CPU per byte of the local path. */
  readonly engineLarge: Sample & { readonly calls: number };
}

/** Target: the service path's CPU per input byte at most this many times the local engine's. */
export const SERVICE_OVER_LOCAL_CPU_MAX = 1.1;

/** Starts s3rver in a child process; resolves with its blob URL and a stop function. */
async function startS3rverChild(): Promise<{ url: string; stop(): Promise<void> }> {
  const child: ChildProcess = spawn(process.execPath, childScript('s3rver-child'), { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const line = await new Promise<string>((resolve, reject) => {
    const rl = createInterface({ input: child.stdout! });
    rl.once('line', (l) => {
      rl.close();
      resolve(l);
    });
    child.once('exit', (code) => reject(new Error(`s3rver child exited with ${code} before it listened`)));
  });
  const { url } = JSON.parse(line) as { url: string };
  return {
    url,
    async stop() {
      child.stdin!.end();
      await exited;
    },
  };
}

async function startBenchServer(blobUrl: string, config: EngineConfig): Promise<CompactdServer> {
  const log = createRootLogger({ level: 'warn', destination: { write: (s: string) => void process.stderr.write(s) } });
  const options = parseServeOptions(
    ['--port', '0', '--metrics-port', '0', '--blob', blobUrl, '--target-part-bytes', String(config.targetPartBytes), '--memory-bound-bytes', String(config.memoryBoundBytes)],
    {},
  );
  return startServer(options, { log });
}

/** Latencies of `reps.reps` compactions of `input` by the engine itself, after `reps.warmup` untimed ones. */
async function engineLatency(blob: Blob, input: BenchInput, reps: RepOptions, config: EngineConfig): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < reps.warmup + reps.reps; i++) {
    const t0 = performance.now();
    const res = await compact(validateCompactRequest(input.req), { blob, config });
    if (i >= reps.warmup) ms.push(performance.now() - t0);
    await deleteAll(blob, outputKeys(input.req.shardId, res.output));
  }
  return ms;
}

/** Deletes the outputs of compactions through the service's own DeleteParts. */
async function deleteOutputs(client: CompactorClient, shardId: string, keys: string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 256) await client.deleteParts(shardId, keys.slice(i, i + 256));
}

/** Compacts `req` through `client`; throws unless it was compacted. Returns the output part keys. */
async function compactVia(client: CompactorClient, req: CompactRequest): Promise<string[]> {
  const res = await client.compact(req);
  if (res.outcome !== 'compacted') throw new Error(`the service answered ${res.outcome} to a forced compaction`);
  return outputPartKeys(res.output);
}

/** Calls `compact` `calls` times from each client at once; returns the wall/CPU of the whole and the output keys. */
async function largeRound(clients: readonly CompactorClient[], input: BenchInput, calls: number): Promise<{ sample: Sample; outputs: string[] }> {
  const outputs: string[] = [];
  const sample = await timeOnce(async () => {
    await Promise.all(
      clients.map(async (c) => {
        for (let i = 0; i < calls; i++) outputs.push(...(await compactVia(c, input.req)));
      }),
    );
  });
  return { sample, outputs };
}

async function benchStore(store: string, blobUrl: string, blob: Blob, opts: ServiceOptions): Promise<StoreResult> {
  const smallSpec: DataSpec = { ...opts.spec, updates: 2 * SMALL_UPDATES_PER_BATCH, runs: 2 };
  const small = await writeInputs(blob, 'small', smallSpec, opts.inputPartBytes);
  const large = await writeInputs(blob, 'large', { ...opts.spec, updates: opts.large.updates, runs: 2 }, opts.inputPartBytes);
  const engineSmallMs = await engineLatency(blob, small, opts.small, opts.config);
  const server = await startBenchServer(blobUrl, opts.config);
  const client = new CompactorClient(server.address);
  try {
    const concurrencyLimit = (await client.getConfig()).concurrencyLimit;
    const smallMs: number[] = [];
    const smallOut: string[] = [];
    for (let i = 0; i < opts.small.warmup + opts.small.reps; i++) {
      const t0 = performance.now();
      const keys = await compactVia(client, small.req);
      const ms = performance.now() - t0;
      if (i >= opts.small.warmup) smallMs.push(ms);
      smallOut.push(...keys);
    }
    await deleteOutputs(client, 'small', smallOut);

    // One client, one call at a time.
    await deleteOutputs(client, 'large', (await largeRound([client], large, opts.large.warmup)).outputs);
    const one = await largeRound([client], large, opts.large.reps);
    await deleteOutputs(client, 'large', one.outputs);

    // The local path on the same parts and store, measured the same way (this process's CPU).
    let engineLarge: Sample = { wallMs: 0, cpuMs: 0 };
    for (let i = 0; i < opts.large.reps; i++) {
      let written: string[] = [];
      const t = await timeOnce(async () => {
        written = outputKeys(large.req.shardId, (await compact(validateCompactRequest(large.req), { blob, config: opts.config })).output);
      });
      engineLarge = { wallMs: engineLarge.wallMs + t.wallMs, cpuMs: engineLarge.cpuMs + t.cpuMs };
      await deleteAll(blob, written);
    }

    // concurrency_limit clients at once, each one call at a time.
    const many = Array.from({ length: concurrencyLimit }, () => new CompactorClient(server.address));
    try {
      await deleteOutputs(client, 'large', (await largeRound(many, large, opts.large.warmup)).outputs);
      const all = await largeRound(many, large, opts.large.reps);
      await deleteOutputs(client, 'large', all.outputs);
      const oneCalls = opts.large.reps;
      const manyCalls = opts.large.reps * concurrencyLimit;
      return {
        store,
        concurrencyLimit,
        smallMs,
        smallP50Ms: quantile(smallMs, 0.5),
        smallP99Ms: quantile(smallMs, 0.99),
        engineSmallP50Ms: quantile(engineSmallMs, 0.5),
        engineSmallP99Ms: quantile(engineSmallMs, 0.99),
        large: { inputBytes: large.inputBytes, updates: large.updates },
        oneClient: { ...one.sample, calls: oneCalls, mbPerSecond: mbPerSecond(large.inputBytes * oneCalls, one.sample.wallMs) },
        engineLarge: { ...engineLarge, calls: opts.large.reps },
        manyClients: {
          ...all.sample,
          clients: concurrencyLimit,
          calls: manyCalls,
          mbPerSecond: mbPerSecond(large.inputBytes * manyCalls, all.sample.wallMs),
        },
      };
    } finally {
      for (const c of many) c.close();
    }
  } finally {
    client.close();
    // Inputs stay: the caller removes the temp directory or the s3rver child's bucket whole.
    await server.shutdown(0);
  }
}

function storeRows(r: StoreResult, smallReps: number): Row[] {
  const mb = r.large.inputBytes;
  const perCall = `${fmtCount(r.large.updates)} updates, ${fmt(mb / 1e6)} MB per call`;
  return [
    {
      name: `${r.store}: small compactions (2 x ${SMALL_UPDATES_PER_BATCH} updates, force), 1 client, ${smallReps} calls`,
      wall: `p50 ${fmtMs(r.smallP50Ms)}, p99 ${fmtMs(r.smallP99Ms)}`,
      // The target is on the embedded default store. s3rver, the tests' stand-in for S3, spends a
      // few milliseconds on every request by itself (its own row below shows the engine alone).
      ...(r.store === 'file store' ? { check: atMost(r.smallP50Ms, SMALL_P50_MAX_MS, `${SMALL_P50_MAX_MS} ms p50`) } : {}),
    },
    {
      name: `${r.store}: the same small compactions by the engine alone (in this process: no gRPC, no worker thread)`,
      wall: `p50 ${fmtMs(r.engineSmallP50Ms)}, p99 ${fmtMs(r.engineSmallP99Ms)}`,
    },
    {
      name: `${r.store}: large compactions (${perCall}), 1 client, ${r.oneClient.calls} calls`,
      wall: `${fmt(r.oneClient.mbPerSecond)} MB/s`,
      cpu: `${fmt(mbPerSecond(mb * r.oneClient.calls, r.oneClient.cpuMs))} MB/cpu-s`,
    },
    {
      name: `${r.store}: the same large compactions by the engine alone (in this process, one at a time)`,
      wall: `${fmt(mbPerSecond(mb * r.engineLarge.calls, r.engineLarge.wallMs))} MB/s`,
      cpu: `${fmt(mbPerSecond(mb * r.engineLarge.calls, r.engineLarge.cpuMs))} MB/cpu-s`,
    },
    {
      name: `${r.store}: service CPU per byte / engine alone (1 client)`,
      wall: '',
      cpu: `${fmt(r.oneClient.cpuMs / r.engineLarge.cpuMs)}x`,
      check: atMost(r.oneClient.cpuMs / r.engineLarge.cpuMs, SERVICE_OVER_LOCAL_CPU_MAX, `${SERVICE_OVER_LOCAL_CPU_MAX}x (CPU)`),
    },
    {
      name: `${r.store}: large compactions, ${r.manyClients.clients} clients at once (concurrency_limit ${r.concurrencyLimit}), ${r.manyClients.calls} calls`,
      wall: `${fmt(r.manyClients.mbPerSecond)} MB/s`,
      cpu: `${fmt(mbPerSecond(mb * r.manyClients.calls, r.manyClients.cpuMs))} MB/cpu-s`,
    },
  ];
}

/** Runs the section; see the module comment. */
export async function serviceSection(opts: ServiceOptions): Promise<SectionResult> {
  const results: StoreResult[] = [];
  const file = await tempFileStore('service');
  try {
    results.push(await benchStore('file store', `file://${file.dir}`, file.blob, opts));
  } finally {
    await file.dispose();
  }
  const s3 = await startS3rverChild();
  try {
    const blob = await openBlob(s3.url);
    try {
      results.push(await benchStore('s3rver', s3.url, blob, opts));
    } finally {
      await blob.close();
    }
  } finally {
    await s3.stop();
  }
  return {
    name: 'service',
    title: 'service',
    rows: results.flatMap((r) => storeRows(r, opts.small.reps)),
    data: { options: { small: opts.small, large: opts.large, targetPartBytes: opts.config.targetPartBytes }, stores: results },
  };
}
