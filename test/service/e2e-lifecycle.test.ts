/**
 * End to end: load shedding and the server lifecycle (drain, grace period, abort) over loopback
 * with real worker threads and a file store.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Blob } from '../../src/blob/blob.js';
import { openBlob } from '../../src/blob/url.js';
import { CompactorClient } from '../../src/client/compactor-client.js';
import type { HollowBatch } from '../../src/model/batch.js';
import { CompactdError } from '../../src/model/errors.js';
import { compactRequest, healthClient, httpGetText, listKeys, startTestServer, until, writeInputs } from './harness.js';
import { metricSum } from './prom.js';

let dir: string;
let url: string;
let blob: Blob;
let heavy: HollowBatch[];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'compactd-life-'));
  url = pathToFileURL(dir).href;
  blob = await openBlob(url);
  heavy = (await writeInputs(blob, 'heavy', 2, 20_000)).inputs;
});

afterAll(async () => {
  await blob?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Flags that make the heavy request take seconds: one worker, tiny output parts. */
const SLOW = ['--workers', '1', '--target-part-bytes', '1KiB'];

function settle<T>(p: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: CompactdError }> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error: error as CompactdError }),
  );
}

describe('admission under load', () => {
  it('answers RESOURCE_EXHAUSTED at once to what the queue cannot hold, and runs the rest', async () => {
    const t = await startTestServer(url, ['--workers', '1', '--target-part-bytes', '4KiB', '--concurrency-limit', '1', '--queue-size', '2']);
    const client = new CompactorClient({ address: t.server.address, retries: 0 });
    try {
      const settledAt: number[] = [];
      const calls = Array.from({ length: 8 }, (_, i) =>
        settle(client.compact(compactRequest('heavy', heavy, { requestId: `flood-${i}` }))).then((r) => {
          settledAt[i] = performance.now();
          return r;
        }),
      );
      const results = await Promise.all(calls);
      const ok = results.flatMap((r, i) => (r.ok ? [i] : []));
      const dropped = results.flatMap((r, i) => (!r.ok && r.error.kind === 'exhausted' ? [i] : []));
      expect(ok.length).toBe(3); // one running + two queued
      expect(dropped.length).toBe(5);
      // Refusals come at once: before even the first admitted compaction has finished.
      const firstDone = Math.min(...ok.map((i) => settledAt[i]));
      expect(dropped.every((i) => settledAt[i] < firstDone)).toBe(true);
      const metrics = (await httpGetText(t.server.metricsPort, '/metrics')).body;
      expect(metricSum(metrics, 'compactd_compaction_dropped_total')).toBe(5);
      expect(metricSum(metrics, 'compactd_compaction_concurrency_waits_total')).toBe(2);
      expect(metricSum(metrics, 'compactd_compaction_completed_total')).toBe(3);
      expect(metricSum(metrics, 'compactd_queue_depth')).toBe(0);
    } finally {
      client.close();
      await t.server.shutdown(0);
    }
  });

  it('lets a client ride out a full queue with retries and backoff', async () => {
    const t = await startTestServer(url, ['--workers', '1', '--concurrency-limit', '1', '--queue-size', '1']);
    const client = new CompactorClient({ address: t.server.address, retries: 10, backoffInitialMs: 20, backoffMaxMs: 200 });
    try {
      const { inputs } = await writeInputs(blob, 'retry', 2, 2000);
      const results = await Promise.all(Array.from({ length: 5 }, () => client.compact(compactRequest('retry', inputs))));
      expect(results.every((r) => r.outcome === 'compacted')).toBe(true);
      const metrics = (await httpGetText(t.server.metricsPort, '/metrics')).body;
      expect(metricSum(metrics, 'compactd_compaction_completed_total')).toBe(5);
      // The queue did overflow: the successes above needed retries.
      expect(metricSum(metrics, 'compactd_compaction_dropped_total')).toBeGreaterThan(0);
    } finally {
      client.close();
      await t.server.shutdown(0);
    }
  });
});

describe('graceful shutdown', () => {
  it('drains: refuses new work, reports NOT_SERVING, lets in-flight work finish, then stops', async () => {
    const t = await startTestServer(url, ['--workers', '1', '--target-part-bytes', '4KiB']);
    const client = new CompactorClient({ address: t.server.address, retries: 0 });
    const h = healthClient(t.server.address);
    try {
      expect((await h.check()).status).toBe('SERVING');
      const inFlight = client.compact(compactRequest('heavy', heavy, { requestId: 'drain-1' }));
      await until(() => t.logs.some((l) => l.requestId === 'drain-1' && l.msg === 'compaction started'));
      const stopped = t.server.shutdown(60);
      expect(t.server.state).toBe('draining');
      expect((await h.check()).status).toBe('NOT_SERVING');
      expect((await httpGetText(t.server.metricsPort, '/healthz')).status).toBe(503);
      const refused = await settle(client.compact(compactRequest('heavy', heavy)));
      expect(refused.ok).toBe(false);
      expect(!refused.ok && refused.error.kind).toBe('unavailable');
      expect(!refused.ok && refused.error.message).toContain('shutting down');
      const res = await inFlight;
      expect(res.outcome).toBe('compacted');
      expect((await blob.head(`heavy/${(res.output!.runs[0].parts[0] as { key: string }).key}`))).toBeDefined();
      await stopped;
      expect(t.server.state).toBe('stopped');
      const states = t.logs.filter((l) => l.msg.startsWith('server ')).map((l) => l.state);
      expect(states).toEqual(['starting', 'serving', 'draining', 'stopped']);
    } finally {
      h.close();
      client.close();
      await t.server.shutdown(0);
    }
  });

  it('aborts what is still running when the grace period ends, deleting its outputs', async () => {
    const t = await startTestServer(url, SLOW);
    const client = new CompactorClient({ address: t.server.address, retries: 0 });
    try {
      const before = await listKeys(blob, 'heavy/c');
      const inFlight = settle(client.compact(compactRequest('heavy', heavy, { requestId: 'cut-1' })));
      const queued = settle(client.compact(compactRequest('heavy', heavy, { requestId: 'cut-2' })));
      await until(() => t.logs.some((l) => l.requestId === 'cut-1' && l.msg === 'compaction started'));
      await t.server.shutdown(0.2);
      const [a, b] = await Promise.all([inFlight, queued]);
      expect(!a.ok && a.error.kind).toBe('unavailable');
      expect(!b.ok && b.error.kind).toBe('unavailable');
      expect(await listKeys(blob, 'heavy/c')).toEqual(before);
      expect(t.server.state).toBe('stopped');
      expect(t.logs.some((l) => l.msg === 'grace period over; aborting remaining work')).toBe(true);
    } finally {
      client.close();
    }
  });
});
