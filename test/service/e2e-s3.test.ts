/**
 * End to end against S3 (s3rver on loopback): the service's worker threads and its main thread
 * each open their own S3 client from the --blob URL.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Blob } from '../../src/blob/blob.js';
import { openBlob } from '../../src/blob/url.js';
import { CompactorClient } from '../../src/client/compactor-client.js';
import type { HollowPart } from '../../src/model/batch.js';
import { CompactdError } from '../../src/model/errors.js';
import { consolidate, readRows } from '../helpers/batches.js';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.js';
import { compactRequest, httpGetText, listKeys, startTestServer, writeInputs, type TestServer } from './harness.js';
import { metricSum } from './prom.js';

let s3: S3rverHandle;
let blob: Blob;
let t: TestServer;
let client: CompactorClient;

beforeAll(async () => {
  s3 = await startS3rver({ prefix: 'svc' });
  blob = await openBlob(s3.url);
  t = await startTestServer(s3.url, ['--workers', '1']);
  client = new CompactorClient({ address: t.server.address, retries: 0 });
});

afterAll(async () => {
  client?.close();
  await t?.server.shutdown(0);
  await blob?.close();
  await s3?.stop();
});

describe('service on S3', () => {
  it('compacts, reads back, deletes, and counts S3 requests', async () => {
    const { inputs, rows } = await writeInputs(blob, 's3shard', 3, 300);
    const res = await client.compact(compactRequest('s3shard', inputs, { since: 2 }));
    expect(res.outcome).toBe('compacted');
    expect((await readRows(blob, 's3shard', res.output!)).flat()).toEqual(consolidate(rows, [[2n]]));

    const keys = res.output!.runs.flatMap((r) => r.parts.map((p) => (p as HollowPart).key));
    expect(await client.deleteParts('s3shard', keys)).toEqual({ deleted: keys.length, missing: 0 });
    expect(await listKeys(blob, 's3shard/c')).toEqual([]);

    const metrics = (await httpGetText(t.server.metricsPort, '/metrics')).body;
    expect(metricSum(metrics, 'compactd_blob_requests_total{op="get"}')).toBe(3);
    expect(metricSum(metrics, 'compactd_blob_requests_total{op="set"}')).toBe(keys.length);
    expect(metricSum(metrics, 'compactd_blob_requests_total{op="delete"}')).toBe(keys.length);
  });

  it('answers NOT_FOUND for a part missing from the bucket', async () => {
    const { inputs } = await writeInputs(blob, 's3gone', 1, 5);
    const part = inputs[0].runs[0].parts[0] as HollowPart;
    await blob.delete(`s3gone/${part.key}`);
    const err = (await client.compact(compactRequest('s3gone', inputs)).catch((e: unknown) => e)) as CompactdError;
    expect(err).toBeInstanceOf(CompactdError);
    expect(err.kind).toBe('not_found');
    expect(err.message).toContain(part.key);
  });
});
