/**
 * Fault campaign against a running service on S3 (s3rver on loopback), with faults injected under
 * the service's retries through `--blob-faults` (every worker thread and the main thread):
 * - transient failures on 10% of blob requests plus latency spikes: every compaction succeeds
 *   with the right output, and the retries show in compactd_blob_retries_total;
 * - lasting failures of one input's reads, and of writes (including writes that land but report
 *   failure): the request fails with UNAVAILABLE and no output part remains in the bucket;
 * - the store gone entirely (a relay in front of s3rver cut): UNAVAILABLE after the bounded retry
 *   budget, the server stays healthy, and the same request compacts once the store is back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Blob } from '../../src/blob/blob.js';
import { openBlob } from '../../src/blob/url.js';
import { CompactorClient } from '../../src/client/compactor-client.js';
import type { HollowBatch, HollowPart } from '../../src/model/batch.js';
import { CompactdError } from '../../src/model/errors.js';
import { objectKey } from '../../src/model/keys.js';
import type { Update } from '../../src/model/update.js';
import { consolidate, readRows } from '../helpers/batches.js';
import { S3RVER_CREDENTIALS, startS3rver, type S3rverHandle } from '../helpers/s3rver.js';
import { compactRequest, healthClient, httpGetText, listKeys, startTestServer, writeInputs, type TestServer } from '../service/harness.js';
import { metricSum } from '../service/prom.js';
import { startRelay, type Relay } from './proxy.js';
import { failure } from '../helpers/errors.js';

let s3: S3rverHandle;
/** A fault-free view of the bucket, for writing inputs and checking what is there. */
let blob: Blob;

beforeAll(async () => {
  s3 = await startS3rver({ prefix: 'faults' });
  blob = await openBlob(s3.url);
});

afterAll(async () => {
  await blob?.close();
  await s3?.stop();
});

async function withServer<T>(url: string, flags: string[], f: (t: TestServer, client: CompactorClient) => Promise<T>): Promise<T> {
  const t = await startTestServer(url, ['--workers', '2', ...flags]);
  const client = new CompactorClient({ address: t.server.address, retries: 0 });
  try {
    return await f(t, client);
  } finally {
    client.close();
    await t.server.shutdown(0);
  }
}

async function scrape(t: TestServer): Promise<string> {
  return (await httpGetText(t.server.metricsPort, '/metrics')).body;
}

/** Copies an input part to a key of our choosing (so a fault can target exactly that key). */
async function rekey(shard: string, batch: HollowBatch, newKey: string): Promise<HollowBatch> {
  const part = batch.runs[0].parts[0] as HollowPart;
  const bytes = (await blob.get(objectKey(shard, part.key)))!;
  await blob.set(objectKey(shard, newKey), bytes);
  return { ...batch, runs: [{ ...batch.runs[0], parts: [{ ...part, key: newKey }] }] };
}

describe('transient blob failures (10% of requests) and latency spikes', () => {
  it('every compaction succeeds with the right output and the retries are counted', async () => {
    const shard = 'flaky';
    const sets: { inputs: HollowBatch[]; rows: Update[] }[] = [];
    for (let i = 0; i < 4; i++) sets.push(await writeInputs(blob, `${shard}${i}`, 4, 600));
    await withServer(s3.url, ['--blob-faults', 'errorRate=0.1&latencyMs=1&latencyJitterMs=60&seed=11', '--target-part-bytes', '8KiB'], async (t, client) => {
      const results = await Promise.all(
        sets.map((s, i) => client.compact(compactRequest(`${shard}${i}`, s.inputs, { since: 3, requestId: `flaky-${i}` }))),
      );
      for (let i = 0; i < sets.length; i++) {
        const res = results[i];
        expect(res.outcome).toBe('compacted');
        expect(res.output!.runs.flatMap((r) => r.parts).length).toBeGreaterThan(1);
        expect((await readRows(blob, `${shard}${i}`, res.output!)).flat()).toEqual(consolidate(sets[i].rows, [[3n]]));
      }
      const m = await scrape(t);
      // Reads and writes both met injected failures and were retried; none surfaced.
      expect(metricSum(m, 'compactd_blob_retries_total{op="get"}')).toBeGreaterThan(0);
      expect(metricSum(m, 'compactd_blob_retries_total{op="set"}')).toBeGreaterThan(0);
      expect(metricSum(m, 'compactd_blob_errors_total')).toBe(0);
      expect(metricSum(m, 'compactd_compaction_completed_total')).toBe(sets.length);
      expect(metricSum(m, 'compactd_compaction_failed_total')).toBe(0);
      expect(t.logs.some((l) => l.msg === 'blob fault injection is ON: for testing only, never in production')).toBe(true);
    });
  });
});

describe('lasting failures', () => {
  it('reads of one input failing for good: UNAVAILABLE, and the outputs of earlier chunks are deleted', async () => {
    const shard = 'poison';
    const { inputs, rows } = await writeInputs(blob, shard, 6, 400);
    // The last input's part moves to a key the fault matches; chunks of two runs each put it
    // in the last chunk, after two chunks' outputs have been written.
    inputs[5] = await rekey(shard, inputs[5], 'poison-5/p1');
    const maxPart = Math.max(...inputs.map((b) => (b.runs[0].parts[0] as HollowPart).encodedSizeBytes));
    const target = 4096;
    const memoryBound = 2 * target + Math.floor(2.5 * maxPart);
    await withServer(
      s3.url,
      [
        '--blob-faults', `failKeys=${encodeURIComponent('/poison-5/')}&ops=get`,
        '--blob-retry-seconds', '0.3',
        '--target-part-bytes', String(target),
        '--memory-bound-bytes', String(memoryBound),
      ],
      async (t, client) => {
        const err = await failure(client.compact(compactRequest(shard, inputs, { requestId: 'poison' })));
        expect(err.kind).toBe('unavailable');
        expect(err.message).toContain('poison-5/p1');
        const m = await scrape(t);
        expect(metricSum(m, 'compactd_blob_requests_total{op="set"}')).toBeGreaterThan(0);
        expect(metricSum(m, 'compactd_blob_retries_total{op="get"}')).toBeGreaterThan(0);
        expect(await listKeys(blob, `${shard}/c`)).toEqual([]);
        expect(t.logs.some((l) => l.requestId === 'poison' && l.msg === 'compaction failed' && l.kind === 'unavailable')).toBe(true);
      },
    );
    // The inputs are untouched: once the fault is gone they compact to the right output.
    await withServer(s3.url, [], async (_t, client) => {
      const res = await client.compact(compactRequest(shard, inputs));
      expect((await readRows(blob, shard, res.output!)).flat()).toEqual(consolidate(rows, []));
    });
  });

  it('writes failing for good: UNAVAILABLE and nothing written remains', async () => {
    const shard = 'nowrite';
    const { inputs } = await writeInputs(blob, shard, 3, 300);
    await withServer(s3.url, ['--blob-faults', 'ops=set&permanent=true', '--blob-retry-seconds', '0.3'], async (t, client) => {
      const err = await failure(client.compact(compactRequest(shard, inputs)));
      expect(err.kind).toBe('unavailable');
      expect(err.message).toMatch(/gave up after \d+ attempts/);
      expect(metricSum(await scrape(t), 'compactd_blob_errors_total{op="set"}')).toBeGreaterThan(0);
      expect(await listKeys(blob, `${shard}/c`)).toEqual([]);
    });
  });

  it('writes that land but report failure are deleted too', async () => {
    const shard = 'ghost';
    const { inputs } = await writeInputs(blob, shard, 3, 500);
    // No retries: the first failed write fails the compaction; half of the failed writes were
    // applied before the error, as when a reply is lost after the store stored the object.
    const faults = 'ops=set&errorRate=0.3&indeterminate=true&seed=5';
    await withServer(s3.url, ['--blob-faults', faults, '--blob-retry-seconds', '0', '--target-part-bytes', '4KiB'], async (t, client) => {
      let failed = 0;
      for (let i = 0; i < 6; i++) {
        const res = await client.compact(compactRequest(shard, inputs)).catch((e: unknown) => e);
        if (res instanceof CompactdError) {
          expect(res.kind).toBe('unavailable');
          failed++;
        } else {
          await client.deleteParts(shard, (res as { output: HollowBatch }).output.runs.flatMap((r) => r.parts.map((p) => (p as HollowPart).key)));
        }
      }
      expect(failed).toBeGreaterThan(0);
      expect(metricSum(await scrape(t), 'compactd_blob_errors_total{op="set"}')).toBeGreaterThan(0);
      expect(await listKeys(blob, `${shard}/c`)).toEqual([]);
    });
  });
});

describe('the store down entirely', () => {
  let relay: Relay;
  beforeAll(async () => {
    relay = await startRelay(Number(new URL(s3.endpoint).port));
  });
  afterAll(() => relay?.close());

  it('UNAVAILABLE after the bounded retries, healthy meanwhile, and recovery when the store returns', async () => {
    const shard = 'outage';
    const { inputs, rows } = await writeInputs(blob, shard, 3, 200);
    const { accessKeyId, secretAccessKey } = S3RVER_CREDENTIALS;
    const endpoint = encodeURIComponent(`http://127.0.0.1:${relay.port}`);
    const url = `s3://${accessKeyId}:${secretAccessKey}@${s3.bucket}/faults?endpoint=${endpoint}&region=us-east-1&forcePathStyle=true&checksums=when_required`;
    await withServer(url, ['--blob-retry-seconds', '1'], async (t, client) => {
      const health = healthClient(t.server.address);
      try {
        await relay.down();
        const started = performance.now();
        const call = client.compact(compactRequest(shard, inputs, { requestId: 'outage' }));
        // While the compaction retries against a dead store, the server answers health checks.
        const during = await health.check();
        expect(during.status).toBe('SERVING');
        const err = await failure(call);
        const seconds = (performance.now() - started) / 1000;
        expect(err.kind).toBe('unavailable');
        expect(err.message).toMatch(/gave up after \d+ attempts/);
        // Bounded by the 1 s retry budget (plus backoff jitter and scheduling), far from the 30 s default.
        expect(seconds).toBeLessThan(10);
        // The S3 client's own retries are counted under the operation they served.
        expect(metricSum(await scrape(t), 'compactd_blob_retries_total{op="get"}')).toBeGreaterThan(0);
        expect((await health.check()).status).toBe('SERVING');
        expect((await httpGetText(t.server.metricsPort, '/healthz')).status).toBe(200);

        await relay.up();
        const res = await client.compact(compactRequest(shard, inputs, { since: 4, requestId: 'recovered' }));
        expect(res.outcome).toBe('compacted');
        expect((await readRows(blob, shard, res.output!)).flat()).toEqual(consolidate(rows, [[4n]]));
      } finally {
        health.close();
        await relay.up();
      }
    });
  });
});
