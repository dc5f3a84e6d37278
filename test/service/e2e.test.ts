/**
 * End to end over loopback: a real server (port 0, worker threads, a file store), a real gRPC
 * client, real health checks and /metrics scrapes.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Blob } from '../../src/blob/blob.js';
import { openBlob } from '../../src/blob/url.js';
import { CompactorClient } from '../../src/client/compactor-client.js';
import type { HollowBatch, HollowPart } from '../../src/model/batch.js';
import { I64_MAX } from '../../src/model/update.js';
import { consolidate, desc1, readRows, upd, writeBatch } from '../helpers/batches.js';
import { compactRequest, healthClient, httpGetText, listKeys, startTestServer, until, writeInputs, type TestServer } from './harness.js';
import { metricSum } from './prom.js';
import { failure } from '../helpers/errors.js';

let dir: string;
let url: string;
let blob: Blob;
let t: TestServer;
let client: CompactorClient;
/** 2 batches x 20k rows: a compaction that keeps a worker busy for a while. */
let heavy: HollowBatch[];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'compactd-e2e-'));
  url = pathToFileURL(dir).href;
  blob = await openBlob(url);
  t = await startTestServer(url, ['--workers', '2']);
  client = new CompactorClient({ address: t.server.address, retries: 0 });
  heavy = (await writeInputs(blob, 'heavy', 2, 20_000)).inputs;
});

afterAll(async () => {
  client?.close();
  await t?.server.shutdown(0);
  await blob?.close();
  await rm(dir, { recursive: true, force: true });
});

async function scrape(): Promise<string> {
  const res = await httpGetText(t.server.metricsPort, '/metrics');
  expect(res.status).toBe(200);
  return res.body;
}

const outputsOf = (shard: string) => listKeys(blob, `${shard}/c`);

describe('Compact', () => {
  it('compacts consecutive batches into their consolidation and logs start and finish', async () => {
    const { inputs, rows } = await writeInputs(blob, 'ok', 3, 200);
    const res = await client.compact(compactRequest('ok', inputs, { since: 5, requestId: 'req-ok' }));
    expect(res.outcome).toBe('compacted');
    const out = res.output!;
    expect(out.desc).toEqual(desc1(0, 6, 5));
    const got = (await readRows(blob, 'ok', out)).flat();
    expect(got).toEqual(consolidate(rows, [[5n]]));
    expect(out.len).toBe(got.length);
    for (const run of out.runs) {
      expect(run.order).toBe('ordered');
      for (const p of run.parts as HollowPart[]) {
        expect(p.key).toMatch(/^c[0-9a-f-]{36}\/p[0-9a-f-]{36}$/);
        expect(p.checksum).toMatch(/^sha256:[0-9a-f]{64}$/);
      }
    }
    expect(res.stats.inputUpdates).toBe(600);
    expect(res.stats.outputUpdates).toBe(got.length);
    // The only request in flight started at once: it queued for no time at all.
    expect(res.stats.queuedSeconds).toBe(0);
    const lines = t.logs.filter((l) => l.requestId === 'req-ok');
    expect(lines.map((l) => l.msg)).toEqual(expect.arrayContaining(['compaction started', 'compaction finished']));
    expect(lines.every((l) => l.shard === 'ok')).toBe(true);
    expect(lines.find((l) => l.msg === 'compaction finished')).toMatchObject({ inputUpdates: 600, outputUpdates: got.length });
  });

  it('answers SKIPPED for a small request without force and writes nothing', async () => {
    const { inputs } = await writeInputs(blob, 'skip', 2, 10);
    const before = await scrape();
    const res = await client.compact(compactRequest('skip', inputs, { force: false, requestId: 'req-skip' }));
    expect(res.outcome).toBe('skipped');
    expect(res.output).toBeUndefined();
    const reason = '2 inputs < 8, 2 parts < 8, 20 updates < 1024; set "force": true to compact anyway';
    expect(res.reason).toBe(reason);
    expect(await outputsOf('skip')).toEqual([]);
    const after = await scrape();
    expect(metricSum(after, 'compactd_compaction_skipped_total') - metricSum(before, 'compactd_compaction_skipped_total')).toBe(1);
    expect(metricSum(after, 'compactd_compaction_started_total')).toBe(metricSum(before, 'compactd_compaction_started_total'));
    expect(t.logs.some((l) => l.requestId === 'req-skip' && l.msg === 'compaction skipped' && l.reason === reason)).toBe(true);
  });

  it('compacts without force once a heuristic threshold is met', async () => {
    const { inputs } = await writeInputs(blob, 'many', 8, 3);
    const res = await client.compact(compactRequest('many', inputs, { force: false }));
    expect(res.outcome).toBe('compacted');
    expect(res.reason).toBeUndefined();
  });
});

describe('error codes', () => {
  it('INVALID_ARGUMENT for non-consecutive inputs, a since regression and a bad shard id', async () => {
    const { inputs } = await writeInputs(blob, 'bad', 2, 5);
    const gap = await failure(client.compact({ ...compactRequest('bad', inputs), inputs: [inputs[1]] }));
    expect(gap.kind).toBe('invalid');
    expect(gap.message).toContain('non-consecutive');

    const late = await writeBatch(blob, 'bad', 1, desc1(0, 2, 1), [[[upd('a', 'x', 1, 1)]]]);
    const regress = await failure(client.compact({ ...compactRequest('bad', [late]), desc: desc1(0, 2, 0) }));
    expect(regress.kind).toBe('invalid');
    expect(regress.message).toContain('must be at or in advance of');

    const shard = await failure(client.compact(compactRequest('../etc', inputs)));
    expect(shard.kind).toBe('invalid');
  });

  it('NOT_FOUND naming the missing part', async () => {
    const { inputs } = await writeInputs(blob, 'gone', 1, 5);
    const part = inputs[0].runs[0].parts[0] as HollowPart;
    await blob.delete(`gone/${part.key}`);
    const err = await failure(client.compact(compactRequest('gone', inputs)));
    expect(err.kind).toBe('not_found');
    expect(err.message).toContain(part.key);
  });

  it('DATA_LOSS for a part whose bytes are not a part', async () => {
    const { inputs } = await writeInputs(blob, 'rot', 1, 5);
    const part = inputs[0].runs[0].parts[0] as HollowPart;
    await writeFile(path.join(dir, 'rot', part.key), 'not an arrow file');
    const err = await failure(client.compact(compactRequest('rot', inputs)));
    expect(err.kind).toBe('data_loss');
    expect(await outputsOf('rot')).toEqual([]);
  });

  it('OUT_OF_RANGE when a diff sum leaves the i64 range, leaving no outputs', async () => {
    const a = await writeBatch(blob, 'big', 1, desc1(0, 2, 0), [[[upd('k', 'v', 1, I64_MAX)]]]);
    const b = await writeBatch(blob, 'big', 1, desc1(2, 4, 0), [[[upd('k', 'v', 3, I64_MAX)]]]);
    const err = await failure(client.compact(compactRequest('big', [a, b], { since: 4 })));
    expect(err.kind).toBe('out_of_range');
    expect(await outputsOf('big')).toEqual([]);
  });

  it('PERMISSION_DENIED deleting a key the service did not write, and nothing is deleted', async () => {
    const { inputs } = await writeInputs(blob, 'own', 1, 5);
    const writerKey = (inputs[0].runs[0].parts[0] as HollowPart).key;
    const serviceKey = `c${crypto.randomUUID()}/p${crypto.randomUUID()}`;
    const err = await failure(client.deleteParts('own', [serviceKey, writerKey]));
    expect(err.kind).toBe('permission');
    expect(await blob.head(`own/${writerKey}`)).toBeDefined();
  });

  it('UNAVAILABLE "compaction disabled" while disabled through Admin, and work again once re-enabled', async () => {
    const { inputs } = await writeInputs(blob, 'off', 1, 5);
    const cfg = await client.updateConfig({ enabled: false });
    expect(cfg.enabled).toBe(false);
    expect((await client.getConfig()).enabled).toBe(false);
    const err = await failure(client.compact(compactRequest('off', inputs)));
    expect(err.kind).toBe('unavailable');
    expect(err.message).toContain('compaction disabled');
    expect(metricSum(await scrape(), 'compactd_compaction_disabled_total')).toBeGreaterThanOrEqual(1);
    await client.updateConfig({ enabled: true });
    expect((await client.compact(compactRequest('off', inputs))).outcome).toBe('compacted');
  });

  it('INVALID_ARGUMENT for a bad config update, which changes nothing', async () => {
    const before = await client.getConfig();
    const err = await failure(client.updateConfig({ queueSize: 0, heuristicMinParts: 3 }));
    expect(err.kind).toBe('invalid');
    expect(err.message).toContain('queue_size');
    expect(await client.getConfig()).toEqual(before);
  });

  it('RESOURCE_EXHAUSTED for a request over a size limit', async () => {
    const many = await writeInputs(blob, 'limit', 3, 1);
    const small = await startTestServer(url, ['--workers', '1', '--max-inputs', '2']);
    const c = new CompactorClient({ address: small.server.address, retries: 0 });
    try {
      const err = await failure(c.compact(compactRequest('limit', many.inputs)));
      expect(err.kind).toBe('exhausted');
    } finally {
      c.close();
      await small.server.shutdown(0);
    }
  });
});

describe('deadlines and cancellation', () => {
  // Tiny output parts turn the heavy request into thousands of part writes: seconds of work, far
  // longer than its 1 s per MiB timeout, so the stop lands while outputs are being written.
  beforeAll(() => client.updateConfig({ targetPartBytes: 512 }));
  afterAll(() => client.updateConfig({ targetPartBytes: 128 * 1024 * 1024 }));

  it('DEADLINE_EXCEEDED when the compaction timeout passes, leaving no output parts', async () => {
    await client.updateConfig({ minimumTimeoutSeconds: 0.05 });
    try {
      const before = await scrape();
      const err = await failure(client.compact(compactRequest('heavy', heavy, { requestId: 'req-timeout' })));
      expect(err.kind).toBe('deadline');
      await until(() => t.server.pending === 0);
      expect(await outputsOf('heavy')).toEqual([]);
      const after = await scrape();
      expect(metricSum(after, 'compactd_compaction_timed_out_total') - metricSum(before, 'compactd_compaction_timed_out_total')).toBe(1);
      expect(t.logs.some((l) => l.requestId === 'req-timeout' && l.msg === 'compaction failed' && l.kind === 'deadline')).toBe(true);
    } finally {
      await client.updateConfig({ minimumTimeoutSeconds: 90 });
    }
  });

  it("honours the client's deadline, leaving no output parts", async () => {
    const err = await failure(client.compact(compactRequest('heavy', heavy), { deadlineMs: 100 }));
    expect(err.kind).toBe('deadline');
    await until(() => t.server.pending === 0);
    expect(await outputsOf('heavy')).toEqual([]);
  });

  it('stops the work of a cancelled call and deletes its outputs', async () => {
    const before = await scrape();
    const ac = new AbortController();
    const call = client.compact(compactRequest('heavy', heavy, { requestId: 'req-cancel' }), { signal: ac.signal });
    await until(() => t.logs.some((l) => l.requestId === 'req-cancel' && l.msg === 'compaction started'));
    ac.abort();
    const err = await failure(call);
    expect(err.kind).toBe('cancelled');
    await until(() => t.server.pending === 0);
    expect(await outputsOf('heavy')).toEqual([]);
    const after = await scrape();
    expect(metricSum(after, 'compactd_compaction_cancelled_total') - metricSum(before, 'compactd_compaction_cancelled_total')).toBe(1);
  });
});

describe('DeleteParts', () => {
  it('deletes service-written parts and counts the missing ones', async () => {
    const { inputs } = await writeInputs(blob, 'del', 2, 50);
    const res = await client.compact(compactRequest('del', inputs));
    const keys = res.output!.runs.flatMap((r) => r.parts.map((p) => (p as HollowPart).key));
    expect(keys.length).toBeGreaterThan(0);
    const ghost = `c${crypto.randomUUID()}/p${crypto.randomUUID()}`;
    expect(await client.deleteParts('del', [...keys, ghost])).toEqual({ deleted: keys.length, missing: 1 });
    expect(await outputsOf('del')).toEqual([]);
    expect(await client.deleteParts('del', keys)).toEqual({ deleted: 0, missing: keys.length });
  });
});

describe('observability', () => {
  it('counts compactions, blob operations and process metrics on /metrics', async () => {
    const before = await scrape();
    const { inputs } = await writeInputs(blob, 'count', 2, 30);
    await client.compact(compactRequest('count', inputs));
    const after = await scrape();
    const delta = (name: string) => metricSum(after, name) - metricSum(before, name);
    expect(delta('compactd_compaction_requested_total')).toBe(1);
    expect(delta('compactd_compaction_started_total')).toBe(1);
    expect(delta('compactd_compaction_completed_total')).toBe(1);
    expect(delta('compactd_compaction_input_updates_total')).toBe(60);
    expect(delta('compactd_compaction_seconds_count')).toBe(1);
    expect(delta('compactd_compaction_queued_seconds_count')).toBe(1);
    expect(delta('compactd_compaction_runs_compacted_total')).toBe(2);
    expect(delta('compactd_compaction_chunks_compacted_total')).toBeGreaterThanOrEqual(1);
    expect(delta('compactd_compaction_input_bytes_total')).toBeGreaterThan(0);
    expect(delta('compactd_compaction_output_bytes_total')).toBeGreaterThan(0);
    expect(delta('compactd_compaction_output_updates_total')).toBeGreaterThan(0);
    expect(metricSum(after, 'compactd_blob_requests_total{op="get"}') - metricSum(before, 'compactd_blob_requests_total{op="get"}')).toBe(2);
    expect(delta('compactd_blob_requests_total')).toBeGreaterThanOrEqual(3);
    expect(after).toContain('compactd_blob_request_seconds_bucket{le="0.001",op="get"}');
    for (const name of [
      'compactd_compaction_dropped_total',
      'compactd_compaction_failed_total',
      'compactd_compaction_concurrency_waits_total',
      'compactd_compaction_memory_violations_total',
      'compactd_queue_depth',
      'compactd_compactions_in_flight',
      'compactd_blob_errors_total',
      'process_cpu_seconds_total',
      'nodejs_eventloop_lag_seconds',
    ]) {
      expect(after).toContain(`# TYPE ${name}`);
    }
  });

  it('answers health SERVING for the server and each service, and /healthz', async () => {
    const h = healthClient(t.server.address);
    try {
      for (const service of ['', 'compactd.v1.Compactor', 'compactd.v1.Admin']) {
        expect((await h.check(service)).status).toBe('SERVING');
      }
    } finally {
      h.close();
    }
    expect((await httpGetText(t.server.metricsPort, '/healthz')).status).toBe(200);
    expect((await httpGetText(t.server.metricsPort, '/nope')).status).toBe(404);
  });

  it('keeps health and /metrics answering quickly while every worker is busy', async () => {
    const h = healthClient(t.server.address);
    await h.check();
    // Two heavy compactions on two workers, each slowed to many small parts.
    await client.updateConfig({ targetPartBytes: 4096 });
    try {
      const calls = [1, 2].map((i) => client.compact(compactRequest('heavy', heavy, { requestId: `busy-${i}` })));
      await until(() => [1, 2].every((i) => t.logs.some((l) => l.requestId === `busy-${i}` && l.msg === 'compaction started')));
      const healthMs: number[] = [];
      const metricsMs: number[] = [];
      while (healthMs.length < 5 && t.server.pending === 2) {
        healthMs.push((await h.check()).ms);
        metricsMs.push((await httpGetText(t.server.metricsPort, '/metrics')).ms);
      }
      const stillBusy = t.server.pending === 2;
      await Promise.all(calls);
      // The probes must have run while both workers were busy to say anything.
      expect(healthMs.length).toBeGreaterThanOrEqual(3);
      expect(stillBusy || healthMs.length === 5).toBe(true);
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
      expect(median(healthMs)).toBeLessThan(50);
      expect(median(metricsMs)).toBeLessThan(50);
    } finally {
      await client.updateConfig({ targetPartBytes: 128 * 1024 * 1024 });
      h.close();
    }
  });

  it('exposes reflection', async () => {
    const { loadSync } = await import('@grpc/proto-loader');
    const grpc = await import('@grpc/grpc-js');
    const file = path.join(path.dirname(createRequire(import.meta.url).resolve('@grpc/reflection/package.json')), 'build/proto/grpc/reflection/v1/reflection.proto');
    const def = loadSync(file, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
    type Stream = { write(m: object): void; end(): void; on(e: string, f: (x: never) => void): void };
    const Ctor = (grpc.loadPackageDefinition(def) as unknown as { grpc: { reflection: { v1: { ServerReflection: new (...a: unknown[]) => { ServerReflectionInfo(): Stream; close(): void } } } } }).grpc.reflection.v1.ServerReflection;
    const c = new Ctor(t.server.address, grpc.credentials.createInsecure());
    const names = await new Promise<string[]>((resolve, reject) => {
      const s = c.ServerReflectionInfo();
      s.on('data', (m: { list_services_response?: { service: { name: string }[] } }) => resolve(m.list_services_response!.service.map((x) => x.name)));
      s.on('error', reject);
      s.write({ list_services: '' });
      s.end();
    });
    c.close();
    expect(names).toEqual(expect.arrayContaining(['compactd.v1.Compactor', 'compactd.v1.Admin']));
  });
});
