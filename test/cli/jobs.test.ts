/**
 * The CLI's view of long compactions: `compact --progress` (a line per chunk when stderr is not a
 * terminal, a redrawn bar when it is), `jobs` and `cancel` against a real service on loopback.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Blob } from '../../src/blob/blob.js';
import { openBlob } from '../../src/blob/url.js';
import { progressRenderer } from '../../src/cli/jobs.js';
import { CompactorClient } from '../../src/client/compactor-client.js';
import { compactRequestToJson, compactResponseFromJson } from '../../src/wire/json.js';
import { consolidate, readRows } from '../helpers/batches.js';
import { run, sink } from '../helpers/cli.js';
import { compactRequest, startTestServer, until, writeInputs, type TestServer } from '../service/harness.js';

let dir: string;
let blob: Blob;
let t: TestServer;
let endpoint: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'compactd-cli-jobs-'));
  const url = pathToFileURL(dir).href;
  blob = await openBlob(url);
  t = await startTestServer(url, ['--workers', '1', '--target-part-bytes', '4KiB', '--blob-faults', 'latencyMs=20', '--progress-interval-seconds', '0.1']);
  endpoint = t.server.address;
});

afterAll(async () => {
  await t?.server.shutdown(0);
  await blob?.close();
  await rm(dir, { recursive: true, force: true });
});

describe('compactd compact --progress', () => {
  it('streams the compaction: one line per chunk on a non-terminal stderr, the response on stdout', async () => {
    const { inputs, rows } = await writeInputs(blob, 'cli', 2, 2000);
    const req = compactRequest('cli', inputs, { since: 1 });
    const r = await run(['compact', '--endpoint', endpoint, '--progress', '--compaction-id', 'cli-job-1'], JSON.stringify(compactRequestToJson(req)));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('compaction cli-job-1 accepted');
    expect(r.stderr).toMatch(/^chunk 0 done: \d+ parts$/m);
    const res = compactResponseFromJson(r.stdout);
    expect((await readRows(blob, 'cli', res.output!)).flat()).toEqual(consolidate(rows, [[1n]]));
  });

  it('draws a bar redrawn in place on a terminal', async () => {
    const err = Object.assign(sink(), { isTTY: true });
    const view = progressRenderer(err, true);
    const progress = {
      compactionId: 'x',
      shardId: 's',
      phase: 'merging' as const,
      chunk: 0,
      chunks: 2,
      inputBytesDone: 512,
      inputBytesTotal: 1024,
      inputUpdatesDone: 1,
      inputUpdatesTotal: 2,
      outputParts: 1,
      outputBytes: 10,
      outputUpdates: 1,
      resumedBytes: 0,
      elapsedSeconds: 1,
      remainingSeconds: 1,
    };
    await view.event({ type: 'progress', progress });
    await view.event({ type: 'progress', progress: { ...progress, inputBytesDone: 1024 } });
    await view.end();
    expect(err.text).toContain('\r\x1b[2Kx [############------------]  50% merging chunk 1/2');
    expect(err.text).toContain('[########################] 100%');
    expect(err.text.endsWith('\n')).toBe(true);
  });
});

describe('compactd jobs and cancel', () => {
  it('lists a running compaction with its bar, cancels it by id, and lists it as cancelled', async () => {
    const { inputs } = await writeInputs(blob, 'cli2', 3, 8000);
    const client = new CompactorClient({ address: endpoint, retries: 0 });
    try {
      const events: string[] = [];
      const stream = (async () => {
        for await (const e of client.compactStream({ ...compactRequest('cli2', inputs), compactionId: 'cli-job-2' }, { resends: 0 })) events.push(e.type);
      })().catch((e: unknown) => e);
      await until(() => events.includes('progress'));
      const listed = await run(['jobs', '--endpoint', endpoint]);
      expect(listed.code).toBe(0);
      expect(listed.stdout).toMatch(/running and queued: 1\n {2}(queued|running) +cli-job-2 \[[#-]+\] +\d+%/);
      const cancelled = await run(['cancel', '--endpoint', endpoint, 'cli-job-2']);
      expect(cancelled).toMatchObject({ code: 0, stdout: 'cancelled cli-job-2\n' });
      expect(((await stream) as Error).message).toContain('cancelled');
      const again = await run(['cancel', '--endpoint', endpoint, 'cli-job-2']);
      expect(again.code).toBe(1);
      const after = await run(['jobs', '--endpoint', endpoint]);
      expect(after.stdout).toMatch(/running and queued: 0\n/);
      expect(after.stdout).toMatch(/ {2}cancelled +cli-job-2 /);
    } finally {
      client.close();
    }
  });

  it('cancel without an id is a usage error', async () => {
    const r = await run(['cancel', '--endpoint', endpoint]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/compaction id/);
  });
});
