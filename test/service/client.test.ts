/**
 * CompactorClient against real servers on loopback: status codes back to error kinds, retries
 * with backoff on UNAVAILABLE, the overall deadline, cancellation during backoff, and
 * round_robin over two servers.
 */
import { status } from '@grpc/grpc-js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Blob } from '../../src/blob/blob.js';
import { openBlob } from '../../src/blob/url.js';
import { CompactorClient, kindOfStatus } from '../../src/client/compactor-client.js';
import type { HollowBatch } from '../../src/model/batch.js';
import { statusCode } from '../../src/service/status.js';
import { compactRequest, httpGetText, startTestServer, writeInputs, type TestServer } from './harness.js';
import { metricSum } from './prom.js';
import { failure } from '../helpers/errors.js';

let dir: string;
let url: string;
let blob: Blob;
let a: TestServer;
let b: TestServer;
let inputs: HollowBatch[];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'compactd-client-'));
  url = pathToFileURL(dir).href;
  blob = await openBlob(url);
  [a, b] = await Promise.all([startTestServer(url, ['--workers', '1']), startTestServer(url, ['--workers', '1'])]);
  inputs = (await writeInputs(blob, 'cl', 2, 20)).inputs;
});

afterAll(async () => {
  await Promise.all([a?.server.shutdown(0), b?.server.shutdown(0)]);
  await blob?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('kindOfStatus', () => {
  it('inverts the service mapping for every kind', () => {
    for (const kind of ['invalid', 'not_found', 'data_loss', 'out_of_range', 'exhausted', 'unavailable', 'deadline', 'cancelled', 'permission', 'unauthenticated', 'internal'] as const) {
      expect(kindOfStatus(statusCode(kind))).toBe(kind);
    }
    expect(kindOfStatus(status.UNIMPLEMENTED)).toBe('internal');
    expect(kindOfStatus(status.UNKNOWN)).toBe('internal');
  });
});

describe('CompactorClient', () => {
  it('retries UNAVAILABLE with backoff until the service takes the work', async () => {
    const admin = new CompactorClient(a.server.address);
    const client = new CompactorClient({ address: a.server.address, retries: 20, backoffInitialMs: 20, backoffMaxMs: 100 });
    try {
      await admin.updateConfig({ enabled: false });
      const call = client.compact(compactRequest('cl', inputs));
      await new Promise((r) => setTimeout(r, 300));
      await admin.updateConfig({ enabled: true });
      expect((await call).outcome).toBe('compacted');
      const metrics = (await httpGetText(a.server.metricsPort, '/metrics')).body;
      expect(metricSum(metrics, 'compactd_compaction_disabled_total')).toBeGreaterThan(1);
    } finally {
      await admin.updateConfig({ enabled: true });
      admin.close();
      client.close();
    }
  });

  it('gives up at the overall deadline with the last error', async () => {
    const admin = new CompactorClient(a.server.address);
    const client = new CompactorClient({ address: a.server.address, retries: 1000, backoffInitialMs: 10, backoffMaxMs: 50 });
    try {
      await admin.updateConfig({ enabled: false });
      const started = Date.now();
      const err = await failure(client.compact(compactRequest('cl', inputs), { deadlineMs: 400 }));
      expect(['unavailable', 'deadline']).toContain(err.kind);
      expect(Date.now() - started).toBeLessThan(5000);
    } finally {
      await admin.updateConfig({ enabled: true });
      admin.close();
      client.close();
    }
  });

  it('does not retry other errors', async () => {
    const client = new CompactorClient({ address: a.server.address, retries: 5 });
    try {
      const before = metricSum((await httpGetText(a.server.metricsPort, '/metrics')).body, 'compactd_compaction_requested_total');
      const err = await failure(client.compact({ ...compactRequest('cl', inputs), inputs: [inputs[1]] }));
      expect(err.kind).toBe('invalid');
      const after = metricSum((await httpGetText(a.server.metricsPort, '/metrics')).body, 'compactd_compaction_requested_total');
      expect(after - before).toBe(1);
    } finally {
      client.close();
    }
  });

  it('stops retrying when its signal aborts', async () => {
    const admin = new CompactorClient(a.server.address);
    const client = new CompactorClient({ address: a.server.address, retries: 1000, backoffInitialMs: 50, backoffMaxMs: 50 });
    try {
      await admin.updateConfig({ enabled: false });
      const ac = new AbortController();
      const call = client.compact(compactRequest('cl', inputs), { signal: ac.signal });
      setTimeout(() => ac.abort(), 200);
      expect((await failure(call)).kind).toBe('cancelled');
    } finally {
      await admin.updateConfig({ enabled: true });
      admin.close();
      client.close();
    }
  });

  it('fails with UNAVAILABLE when nothing listens, after its retries', async () => {
    const client = new CompactorClient({ address: '127.0.0.1:1', retries: 2, backoffInitialMs: 10 });
    try {
      expect((await failure(client.compact(compactRequest('cl', inputs)))).kind).toBe('unavailable');
    } finally {
      client.close();
    }
  });

  it('spreads calls over every address with round_robin', async () => {
    const target = `ipv4:127.0.0.1:${a.server.port},127.0.0.1:${b.server.port}`;
    const client = new CompactorClient({ address: target, loadBalancing: 'round_robin' });
    const count = async (t: TestServer) =>
      metricSum((await httpGetText(t.server.metricsPort, '/metrics')).body, 'compactd_compaction_requested_total');
    try {
      const before = [await count(a), await count(b)];
      for (let i = 0; i < 6; i++) await client.compact(compactRequest('cl', inputs, { force: false }));
      const after = [await count(a), await count(b)];
      expect(after[0] - before[0]).toBeGreaterThan(0);
      expect(after[1] - before[1]).toBeGreaterThan(0);
      expect(after[0] - before[0] + after[1] - before[1]).toBe(6);
    } finally {
      client.close();
    }
  });
});
