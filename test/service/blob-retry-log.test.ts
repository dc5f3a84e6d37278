/**
 * A store that fails is not retried in silence: a real `compactd serve` whose store refuses every
 * read of the request's parts logs each retry at warn level with the operation, the key and the
 * cause, counts it on compactd_blob_retries_total, and answers UNAVAILABLE once the budget
 * (--blob-retry-seconds) is spent.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openBlob } from '../../src/blob/url.js';
import { compactRequestToJson, formatJson } from '../../src/wire/json.js';
import { runChild } from '../helpers/cli.js';
import { servingPorts, spawnServe } from '../helpers/serve-process.js';
import { compactRequest, httpGetText, writeInputs } from './harness.js';
import { metricSum } from './prom.js';

let dir: string;
let url: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'compactd-retrylog-'));
  url = pathToFileURL(dir).href;
});

afterAll(() => rm(dir, { recursive: true, force: true }));

describe('blob store retries', { timeout: 180_000 }, () => {
  it('are logged at warn level with operation, key and cause, and counted', async () => {
    const blob = await openBlob(url);
    const { inputs } = await writeInputs(blob, 'flaky', 2, 20);
    await blob.close();
    const firstKey = inputs[0].runs[0].parts[0];
    expect(firstKey.kind).toBe('hollow');
    const child = spawnServe([
      '--port', '0', '--metrics-port', '0', '--workers', '1', '--blob', url,
      '--blob-retry-seconds', '1', '--blob-faults', 'failKeys=^flaky/&ops=get',
    ]);
    try {
      const { port, metricsPort } = await servingPorts(child);
      const r = await runChild(['compact', '--endpoint', `127.0.0.1:${port}`], formatJson(compactRequestToJson(compactRequest('flaky', inputs, { force: true }))));
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^UNAVAILABLE: /);

      const retries = child.lines.filter((l) => l.msg === 'blob request retried');
      expect(retries.length).toBeGreaterThan(1);
      for (const l of retries) {
        expect(l.level).toBe(40);
        expect(l).toMatchObject({ op: 'get', attempt: expect.any(Number), retryInMs: expect.any(Number), cause: expect.stringMatching(/\S/) });
        expect(l.key).toMatch(/^flaky\//);
      }
      const keys = new Set(retries.map((l) => l.key as string));
      expect([...keys].some((k) => k.endsWith(firstKey.kind === 'hollow' ? firstKey.key : '?'))).toBe(true);
      const metrics = (await httpGetText(metricsPort, '/metrics')).body;
      expect(metricSum(metrics, 'compactd_blob_retries_total')).toBe(retries.length);
    } finally {
      child.proc.kill('SIGTERM');
      await child.exit;
    }
  });
});
