/**
 * The load generator against a real server on loopback (file store): every shard verifies; raced
 * merges produce exactly one applied and one stale result each, and the stale outputs are deleted
 * through DeleteParts (the server counts them); skipped merges are grouped and merged later;
 * nothing is left in the store afterwards; a client that loses part of an output is caught by the
 * verification. The CLI prints the summary table and refuses bad flags with one line.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Blob } from '../../src/blob/blob.js';
import { openBlob } from '../../src/blob/url.js';
import { formatTable, progressLine } from '../../src/cli/loadgen.js';
import { CompactorClient } from '../../src/client/compactor-client.js';
import { LoadGenerator, runLoad, type LoadClient, type LoadCounters } from '../../src/loadgen/run.js';
import { main } from '../../src/cli/main.js';
import { ROOT, expectError, run, sink } from '../helpers/cli.js';
import { httpGetText, listKeys, startTestServer, type TestServer } from '../service/harness.js';
import { metricSum } from '../service/prom.js';

let dir: string;
let url: string;
let ts: TestServer;
let blob: Blob;
let client: CompactorClient;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'compactd-loadgen-'));
  url = pathToFileURL(dir).href;
  // Small output parts, so outputs have several parts (the tampering test drops one).
  ts = await startTestServer(url, ['--workers', '1', '--target-part-bytes', '16KiB']);
  blob = await openBlob(url);
  client = new CompactorClient(ts.server.address);
});

afterAll(async () => {
  client?.close();
  await blob?.close();
  await ts?.server.shutdown();
  await rm(dir, { recursive: true, force: true });
});

async function scrape(): Promise<string> {
  return (await httpGetText(ts.server.metricsPort, '/metrics')).body;
}

describe('loadgen', () => {
  it('races every merge: one result applied, the other deleted through DeleteParts; shards verify; the store ends empty', async () => {
    const before = await scrape();
    const report = await runLoad({
      client,
      blob,
      shards: 3,
      batches: 12,
      updatesPerBatch: 150,
      compactEvery: 3,
      concurrency: 4,
      seed: 11,
      raceFraction: 1,
      force: true,
      shardPrefix: 'race',
    });
    const after = await scrape();
    const delta = (name: string) => metricSum(after, name) - metricSum(before, name);
    const c = report.counters;

    expect(report.shards.map((s) => [s.shardId, s.ok, s.problem])).toEqual([0, 1, 2].map((i) => [`race-${i}`, true, undefined]));
    expect(report.verified).toBe(true);
    expect(c.batchesAppended).toBe(36);
    expect(c.outcomes.failed + c.outcomes.shed + c.outcomes.skipped).toBe(0);
    expect(c.outcomes.applied).toBeGreaterThan(0);
    expect(c.outcomes.stale).toBe(c.outcomes.applied);
    expect(c.requests).toBe(2 * c.outcomes.applied);
    expect(delta('compactd_compaction_completed_total')).toBe(c.requests);
    expect(c.staleDeleted).toBeGreaterThan(0);
    expect(c.staleMissing).toBe(0);
    expect(delta('compactd_parts_deleted_total')).toBe(c.staleDeleted);
    expect(c.partsRetired).toBeGreaterThan(0);
    for (let i = 0; i < 3; i++) expect(await listKeys(blob, `race-${i}/`)).toEqual([]);
    expect(report.allLatencies.count).toBe(c.requests);
  });

  it('lets the service skip small merges, groups them, and merges them later', async () => {
    const before = await scrape();
    const report = await runLoad({
      client,
      blob,
      shards: 2,
      batches: 16,
      updatesPerBatch: 40,
      compactEvery: 2,
      concurrency: 2,
      seed: 3,
      raceFraction: 0,
      shardPrefix: 'skip',
    });
    const after = await scrape();
    const c = report.counters;
    expect(report.verified).toBe(true);
    expect(c.outcomes.skipped).toBeGreaterThan(0);
    // With the default heuristics (8 inputs) a group of 8 or more batches is compacted.
    expect(c.outcomes.applied).toBeGreaterThan(0);
    expect(metricSum(after, 'compactd_compaction_skipped_total') - metricSum(before, 'compactd_compaction_skipped_total')).toBe(c.outcomes.skipped);
    for (const s of report.shards) expect(s.batches).toBeLessThan(16);
  });

  it('catches an output that lost a part', async () => {
    let tampered = false;
    const lossy: LoadClient = {
      async compact(req, opts) {
        const res = await client.compact(req, opts);
        if (tampered || res.outcome !== 'compacted' || !res.output || !req.shardId.endsWith('-1')) return res;
        const runs = res.output.runs;
        const at = runs.findIndex((r) => r.parts.length > 0);
        if (at < 0) return res;
        tampered = true;
        const lost = runs.map((r, i) => (i === at ? { ...r, parts: r.parts.slice(0, -1) } : r));
        return { ...res, output: { ...res.output, runs: lost } };
      },
      deleteParts: (shard, keys, opts) => client.deleteParts(shard, keys, opts),
    };
    const report = await runLoad({
      client: lossy,
      blob,
      shards: 2,
      batches: 8,
      updatesPerBatch: 200,
      compactEvery: 2,
      concurrency: 2,
      seed: 5,
      raceFraction: 0,
      force: true,
      shardPrefix: 'lossy',
    });
    expect(tampered).toBe(true);
    expect(report.verified).toBe(false);
    const [ok, bad] = report.shards;
    expect(ok.ok).toBe(true);
    expect(bad.ok).toBe(false);
    expect(bad.problem).toMatch(/expected|row/);
    expect(bad.actualRows).not.toBe(bad.expectedRows);
  });

  it('refuses options that cannot run', () => {
    const base = { client, blob, shards: 1, batches: 1, updatesPerBatch: 1, compactEvery: 2, concurrency: 1, seed: 1 };
    expect(() => new LoadGenerator({ ...base, compactEvery: 1 })).toThrow(/compact every/);
    expect(() => new LoadGenerator({ ...base, batches: undefined })).toThrow(/batches, a duration/);
    expect(() => new LoadGenerator({ ...base, raceFraction: 2 })).toThrow(/race fraction/);
    expect(() => new LoadGenerator({ ...base, shardPrefix: 'bad/prefix' })).toThrow(/shard id/);
  });
});

describe('compactd loadgen', () => {
  it('runs, verifies and prints the summary table', async () => {
    const r = await run([
      'loadgen', '--endpoint', ts.server.address, '--blob', url, '--shards', '2', '--batches', '8',
      '--updates-per-batch', '100', '--compact-every', '2', '--concurrency', '2', '--seed', '9', '--force',
    ]);
    expect({ code: r.code, stderr: r.stderr }, r.stdout).toEqual({ code: 0, stderr: 'compactd loadgen: seed 9\n' });
    expect(r.stdout).toMatch(/^compactd loadgen: 2 shards x 8 batches x 100 updates/);
    expect(r.stdout).toMatch(/outcome +requests +share +p50 ms +p90 ms +p99 ms/);
    expect(r.stdout).toMatch(/compacted, applied +\d+/);
    expect(r.stdout).toContain('verified: yes, 2/2 shards');
    expect(await listKeys(blob, 'lg9-0/')).toEqual([]);
  });

  it('draws the progress bar on a terminal and ends it with a newline', async () => {
    const out = sink();
    const err = Object.assign(sink(), { isTTY: true, columns: 200 });
    const code = await main(
      ['loadgen', '--endpoint', ts.server.address, '--blob', url, '--shards', '1', '--batches', '4', '--updates-per-batch', '20', '--seed', '8'],
      { stdin: Readable.from([]), stdout: out, stderr: err, cwd: ROOT },
    );
    expect(code).toBe(0);
    // Each redraw returns to the start of the line and erases it (ESC [2K) before drawing.
    const redraws = err.text.split('\r').slice(1);
    expect(redraws.length).toBeGreaterThan(0);
    expect(redraws.at(-1)).toMatch(/^.\[2K\[#{24}\] 100% batches 4\/4 .*\n$/s);
    expect(redraws.every((r) => r.startsWith('\u001b[2K'))).toBe(true);
    expect(out.text).toContain('verified: yes');
  });

  it('stops appending after --duration-seconds when no --batches is given', async () => {
    const r = await run(['loadgen', '--endpoint', ts.server.address, '--blob', url, '--shards', '1', '--updates-per-batch', '20', '--duration-seconds', '0.5', '--seed', '4']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('x unbounded batches');
    expect(r.stdout).toMatch(/batches appended +[1-9]\d*/);
    expect(r.stdout).toContain('verified: yes');
  });

  it('refuses bad flags with one line', async () => {
    expectError(await run(['loadgen', '--compact-every', '1']), /^compactd loadgen: compact every must be a whole number >= 2/);
    expectError(await run(['loadgen', '--race-fraction', '2']), /^compactd loadgen: --race-fraction: expected a number from 0 to 1/);
    expectError(await run(['loadgen', '--duration-seconds', 'x']), /^compactd loadgen: --duration-seconds/);
  });

  it('draws a progress bar and aligns the summary table', () => {
    const counters: LoadCounters = {
      plannedBatches: 40, batchesAppended: 10, updatesAppended: 0, bytesAppended: 0, requests: 3, inFlight: 1,
      outcomes: { applied: 1, stale: 0, skipped: 1, shed: 0, failed: 0 }, failures: {}, inputUpdates: 0, outputUpdates: 0,
      inputBytes: 0, outputBytes: 0, staleDeleted: 0, staleMissing: 0, partsRetired: 0, consecutiveFailures: 0, queueFullAnswers: 0,
    };
    expect(progressLine(counters, 2, 8)).toMatch(/^\[##\.\.\.\.\.\.\] {2}25% batches 10\/40 {2}reqs 3 \(applied 1,.*in flight 1 {2}2 s$/);
    expect(progressLine({ ...counters, plannedBatches: undefined }, 2)).toMatch(/^2 s {2}batches 10 /);
    expect(formatTable(['a', 'n'], [['x', '1'], ['long', '100']]).split('\n')).toEqual(['  a       n', '  ----  ---', '  x       1', '  long  100']);
  });
});
