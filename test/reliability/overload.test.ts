/**
 * Overload: a burst of four times the service's capacity (concurrency limit + queue size) of
 * slow compactions. The excess is refused at once with RESOURCE_EXHAUSTED, every accepted request
 * succeeds with the right output, the queue-depth gauge never exceeds the queue size, health
 * checks keep answering quickly throughout, and memory stays bounded.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Blob } from '../../src/blob/blob.js';
import { openBlob } from '../../src/blob/url.js';
import { CompactorClient } from '../../src/client/compactor-client.js';
import type { CompactResponse } from '../../src/model/batch.js';
import { CompactdError } from '../../src/model/errors.js';
import { consolidate, readRows } from '../helpers/batches.js';
import { compactRequest, healthClient, httpGetText, startTestServer, writeInputs, type TestServer } from '../service/harness.js';
import { metricSum } from '../service/prom.js';

const CONCURRENCY = 1;
const QUEUE = 3;
const CAPACITY = CONCURRENCY + QUEUE;
const BURST = 4 * CAPACITY;

let dir: string;
let blob: Blob;
let t: TestServer;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'compactd-overload-'));
  const url = pathToFileURL(dir).href;
  blob = await openBlob(url);
  // Every blob request takes 150 ms: an accepted compaction holds its slot for about half a second.
  t = await startTestServer(url, [
    '--workers', '1',
    '--concurrency-limit', String(CONCURRENCY),
    '--queue-size', String(QUEUE),
    '--blob-faults', 'latencyMs=150',
  ]);
});

afterAll(async () => {
  await t?.server.shutdown(0);
  await blob?.close();
  await rm(dir, { recursive: true, force: true });
});

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

describe(`a burst of ${BURST} requests at capacity ${CAPACITY}`, () => {
  it('refuses the excess at once, completes the rest, keeps the queue bounded and health responsive', async () => {
    const { inputs, rows } = await writeInputs(blob, 'burst', 2, 300);
    const client = new CompactorClient({ address: t.server.address, retries: 0 });
    const health = healthClient(t.server.address);
    await health.check();
    const rssBefore = process.memoryUsage().rss;
    try {
      const settled: { at: number; res?: CompactResponse; err?: CompactdError }[] = [];
      const start = performance.now();
      let open = BURST;
      const calls = Array.from({ length: BURST }, (_, i) =>
        client.compact(compactRequest('burst', inputs, { since: 3, requestId: `burst-${i}` })).then(
          (res) => settled.push({ at: performance.now() - start, res }),
          (err: CompactdError) => settled.push({ at: performance.now() - start, err }),
        ).finally(() => open--),
      );

      // Probe while the burst is being worked off.
      const healthMs: number[] = [];
      const depths: number[] = [];
      while (open > 0) {
        healthMs.push((await health.check()).ms);
        depths.push(metricSum((await httpGetText(t.server.metricsPort, '/metrics')).body, 'compactd_queue_depth'));
        await new Promise((r) => setTimeout(r, 10));
      }
      await Promise.all(calls);

      const refused = settled.filter((s) => s.err);
      const done = settled.filter((s) => s.res);
      expect(refused.map((s) => s.err!.kind)).toEqual(Array(BURST - CAPACITY).fill('exhausted'));
      expect(refused.every((s) => s.err!.message.includes('queue is full'))).toBe(true);
      expect(done).toHaveLength(CAPACITY);
      // "At once": every refusal arrived before the first accepted request could finish.
      expect(Math.max(...refused.map((s) => s.at))).toBeLessThan(Math.min(...done.map((s) => s.at)));
      const expected = consolidate(rows, [[3n]]);
      for (const s of done) {
        expect(s.res!.outcome).toBe('compacted');
        expect((await readRows(blob, 'burst', s.res!.output!)).flat()).toEqual(expected);
      }

      // The gauge saw the queue fill, never past its bound.
      expect(depths.length).toBeGreaterThan(3);
      expect(Math.max(...depths)).toBeLessThanOrEqual(QUEUE);
      expect(Math.max(...depths)).toBeGreaterThan(0);
      // Health stays responsive (generous bounds: the machine is shared).
      expect(median(healthMs)).toBeLessThan(50);
      expect(Math.max(...healthMs)).toBeLessThan(500);

      const m = (await httpGetText(t.server.metricsPort, '/metrics')).body;
      expect(metricSum(m, 'compactd_compaction_dropped_total')).toBe(BURST - CAPACITY);
      expect(metricSum(m, 'compactd_compaction_completed_total')).toBe(CAPACITY);
      expect(metricSum(m, 'compactd_queue_depth')).toBe(0);
      expect(metricSum(m, 'compactd_compactions_in_flight')).toBe(0);
      expect(process.memoryUsage().rss - rssBefore).toBeLessThan(256 * 1024 * 1024);
    } finally {
      health.close();
      client.close();
    }
  });
});
