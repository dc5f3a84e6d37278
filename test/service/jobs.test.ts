/**
 * Compactions as jobs over real gRPC on loopback, on a file store: CompactStream's events, the
 * checkpoint's rules (reused id, live lease elsewhere, a finished job answering again with
 * copies), stall, cancel by id while queued and while running, listing, and the live page's JSON.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Blob } from '../../src/blob/blob.js';
import { openBlob } from '../../src/blob/url.js';
import type { CompactStreamEvent } from '../../src/client/compact-stream.js';
import { CompactorClient } from '../../src/client/compactor-client.js';
import type { CompactRequest, HollowBatch, HollowPart } from '../../src/model/batch.js';
import { CompactdError } from '../../src/model/errors.js';
import { consolidate, readRows } from '../helpers/batches.js';
import { compactRequest, httpGetText, listKeys, startTestServer, until, writeInputs, type TestServer } from './harness.js';
import { metricSum } from './prom.js';

let dir: string;
let url: string;
let blob: Blob;
const servers: TestServer[] = [];
const clients: CompactorClient[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'compactd-jobs-'));
  url = pathToFileURL(dir).href;
  blob = await openBlob(url);
});

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all(servers.map((s) => s.server.shutdown(0)));
  await blob?.close();
  await rm(dir, { recursive: true, force: true });
});

async function serve(flags: string[] = []): Promise<{ t: TestServer; client: CompactorClient }> {
  const t = await startTestServer(url, ['--workers', '1', '--target-part-bytes', '4KiB', ...flags]);
  servers.push(t);
  const client = new CompactorClient({ address: t.server.address, retries: 0 });
  clients.push(client);
  return { t, client };
}

async function collect(it: AsyncIterable<CompactStreamEvent>): Promise<CompactStreamEvent[]> {
  const out: CompactStreamEvent[] = [];
  for await (const e of it) out.push(e);
  return out;
}

async function failureOf(p: Promise<unknown>): Promise<CompactdError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(CompactdError);
  return err as CompactdError;
}

const partKeys = (b: HollowBatch | undefined) => (b?.runs ?? []).flatMap((r) => r.parts.map((p) => (p as HollowPart).key));

describe('CompactStream', () => {
  let fast: { t: TestServer; client: CompactorClient };
  beforeAll(async () => {
    fast = await serve();
  });

  it('sends accepted, progress, chunks and done; the output is the reference consolidation', async () => {
    const { inputs, rows } = await writeInputs(blob, 'st', 3, 600);
    const req: CompactRequest = { ...compactRequest('st', inputs, { since: 5 }), compactionId: 'job-st-1' };
    const events = await collect(fast.client.compactStream(req, { resends: 0 }));
    expect(events[0]).toMatchObject({ type: 'accepted', compactionId: 'job-st-1', resumed: false, epoch: 1 });
    const done = events[events.length - 1];
    if (done.type !== 'done') throw new Error('no done event');
    const got = (await readRows(blob, 'st', done.response.output!)).flat();
    expect(got).toEqual(consolidate(rows, [[5n]]));
    const progress = events.filter((e) => e.type === 'progress');
    expect(progress.length).toBeGreaterThan(0);
    const chunks = events.filter((e) => e.type === 'chunk');
    expect(chunks.map((c) => (c.type === 'chunk' ? c.parts.map((p) => p.key) : []))).toEqual(done.response.output!.runs.map((r) => partKeys({ ...done.response.output!, runs: [r] })));
    // The checkpoint stays for the retention and records the answer.
    expect(await blob.head('st/_jobs/job-st-1.json')).toBeDefined();
    expect(metricSum(await scrape(fast.t), 'compactd_checkpoint_writes_total')).toBeGreaterThan(0);
  });

  it('a finished job answers the same request again at once, with copies under new keys', async () => {
    const { inputs } = await writeInputs(blob, 'again', 2, 300);
    const req: CompactRequest = { ...compactRequest('again', inputs), compactionId: 'job-again' };
    const first = await collect(fast.client.compactStream(req, { resends: 0 }));
    const second = await collect(fast.client.compactStream(req, { resends: 0 }));
    expect(second[0]).toMatchObject({ type: 'accepted', resumed: true });
    const a = first[first.length - 1];
    const b = second[second.length - 1];
    if (a.type !== 'done' || b.type !== 'done') throw new Error('no done event');
    const ka = partKeys(a.response.output);
    const kb = partKeys(b.response.output);
    expect(kb.length).toBe(ka.length);
    expect(kb.filter((k) => ka.includes(k))).toEqual([]);
    expect(await readRows(blob, 'again', b.response.output!)).toEqual(await readRows(blob, 'again', a.response.output!));
    expect(metricSum(await scrape(fast.t), 'compactd_compaction_replayed_total')).toBeGreaterThanOrEqual(1);
  });

  it('refuses a compaction id reused with other content: FAILED_PRECONDITION naming the id', async () => {
    const { inputs } = await writeInputs(blob, 'reuse', 2, 50);
    await collect(fast.client.compactStream({ ...compactRequest('reuse', inputs), compactionId: 'job-reuse' }, { resends: 0 }));
    const other = { ...compactRequest('reuse', inputs, { since: 3 }), compactionId: 'job-reuse' };
    const err = await failureOf(collect(fast.client.compactStream(other, { resends: 0 })));
    expect(err.kind).toBe('precondition');
    expect(err.message).toContain('job-reuse');
  });

  it('runs a unary Compact with a compaction id as a job: checkpointed, and answered again with copies', async () => {
    const { inputs, rows } = await writeInputs(blob, 'unary', 2, 300);
    const req: CompactRequest = { ...compactRequest('unary', inputs), compactionId: 'job-unary' };
    const a = await fast.client.compact(req);
    expect((await readRows(blob, 'unary', a.output!)).flat()).toEqual(consolidate(rows, [[0n]]));
    expect(await blob.head('unary/_jobs/job-unary.json')).toBeDefined();
    const b = await fast.client.compact(req);
    expect(partKeys(b.output).filter((k) => partKeys(a.output).includes(k))).toEqual([]);
    expect(await readRows(blob, 'unary', b.output!)).toEqual(await readRows(blob, 'unary', a.output!));
  });

  it('rejects a malformed compaction id with INVALID_ARGUMENT', async () => {
    const { inputs } = await writeInputs(blob, 'badid', 2, 10);
    const err = await failureOf(collect(fast.client.compactStream({ ...compactRequest('badid', inputs), compactionId: 'no/slashes' }, { resends: 0 })));
    expect(err.kind).toBe('invalid');
  });
});

describe('jobs on a slow store', () => {
  let slow: { t: TestServer; client: CompactorClient };
  let other: { t: TestServer; client: CompactorClient };
  let inputs: HollowBatch[];

  beforeAll(async () => {
    // Every store operation of the serving processes waits 40 ms: a compaction of many parts takes seconds.
    const faults = ['--blob-faults', 'latencyMs=40', '--progress-interval-seconds', '0.1', '--concurrency-limit', '1'];
    slow = await serve(faults);
    other = await serve(faults);
    inputs = (await writeInputs(blob, 'slow', 4, 3000)).inputs;
  });

  it('lists the running job with its progress, here and on the page\'s JSON', async () => {
    const req: CompactRequest = { ...compactRequest('slow', inputs), compactionId: 'job-slow-progress' };
    const seen: CompactStreamEvent[] = [];
    const run = (async () => {
      for await (const e of slow.client.compactStream(req, { resends: 0 })) seen.push(e);
    })();
    await until(() => seen.some((e) => e.type === 'progress' && e.progress.phase !== 'queued' && e.progress.inputBytesDone > 0));
    const listed = await slow.client.listCompactions();
    expect(listed.active.map((j) => j.compactionId)).toContain('job-slow-progress');
    const page = JSON.parse((await httpGetText(slow.t.server.metricsPort, '/compactions')).body) as { active: { compactionId: string }[] };
    expect(page.active.map((j) => j.compactionId)).toContain('job-slow-progress');
    await run;
    expect(seen[0].type).toBe('accepted');
    const recent = (await slow.client.listCompactions()).recent;
    expect(recent.find((j) => j.compactionId === 'job-slow-progress')?.state).toBe('succeeded');
  });

  it('sends progress at least every interval even while every store request takes longer', async () => {
    // Each store operation takes 600 ms; progress every 100 ms. Gaps well under 600 ms can only
    // come from the interval, not from parts being read or written.
    const { client } = await serve(['--blob-faults', 'latencyMs=600', '--progress-interval-seconds', '0.1']);
    const small = (await writeInputs(blob, 'tick', 2, 100)).inputs;
    const at: number[] = [];
    for await (const e of client.compactStream({ ...compactRequest('tick', small), compactionId: 'job-tick' }, { resends: 0 })) {
      if (e.type === 'progress') at.push(performance.now());
    }
    const gaps = at.slice(1).map((t, i) => t - at[i]);
    expect(gaps.length).toBeGreaterThan(10);
    expect(Math.max(...gaps)).toBeLessThan(450);
  });

  it('refuses a compaction id whose lease is live on another process with ALREADY_EXISTS', async () => {
    const req: CompactRequest = { ...compactRequest('slow', inputs), compactionId: 'job-slow-lease' };
    const events: CompactStreamEvent[] = [];
    const run = (async () => {
      for await (const e of slow.client.compactStream(req, { resends: 0 })) events.push(e);
    })();
    await until(() => events.some((e) => e.type === 'accepted'));
    const err = await failureOf(collect(other.client.compactStream(req, { resends: 0 })));
    expect(err.kind).toBe('exists');
    expect(err.message).toContain('job-slow-lease');
    await run;
    expect(events[events.length - 1].type).toBe('done');
  });

  it('cancels by id while running and while queued: CANCELLED, everything written deleted, checkpoint too', async () => {
    const big = (await writeInputs(blob, 'slow', 4, 12_000)).inputs;
    const running: CompactRequest = { ...compactRequest('slow', big), compactionId: 'job-cancel-run' };
    const queued: CompactRequest = { ...compactRequest('slow', inputs), compactionId: 'job-cancel-queued' };
    const before = await listKeys(blob, 'slow/');
    const evRun: CompactStreamEvent[] = [];
    const a = (async () => {
      for await (const e of slow.client.compactStream(running, { resends: 0 })) evRun.push(e);
    })();
    await until(() => evRun.some((e) => e.type === 'progress' && e.progress.outputParts > 0));
    const b = collect(slow.client.compactStream(queued, { resends: 0 }));
    await until(async () => (await slow.client.listCompactions()).active.some((j) => j.compactionId === 'job-cancel-queued' && j.state === 'queued'));
    expect(await slow.client.cancelCompaction('job-cancel-queued')).toBe(true);
    expect((await failureOf(b)).kind).toBe('cancelled');
    expect(await slow.client.cancelCompaction('job-cancel-run')).toBe(true);
    expect((await failureOf(a)).kind).toBe('cancelled');
    expect(await slow.client.cancelCompaction('job-cancel-run')).toBe(false);
    expect(await listKeys(blob, 'slow/')).toEqual(before);
    const recent = (await slow.client.listCompactions()).recent;
    expect(recent.find((j) => j.compactionId === 'job-cancel-run')?.state).toBe('cancelled');
    expect(metricSum(await scrape(slow.t), 'compactd_compaction_cancelled_by_id_total')).toBe(2);
  });
});

describe('liveness', () => {
  it('stops a compaction that reads and writes nothing for the stall timeout: DEADLINE_EXCEEDED naming the phase', async () => {
    const { inputs } = await writeInputs(blob, 'stall', 2, 200);
    const { t, client } = await serve(['--blob-faults', 'latencyMs=1500', '--stall-timeout-seconds', '0.5']);
    const req: CompactRequest = { ...compactRequest('stall', inputs), compactionId: 'job-stall' };
    const err = await failureOf(collect(client.compactStream(req, { resends: 0 })));
    expect(err.kind).toBe('deadline');
    expect(err.message).toMatch(/stalled: no part read or written for \d+ s while (checking|fetching|merging|uploading)/);
    expect(metricSum(await scrape(t), 'compactd_compaction_stalled_total')).toBe(1);
  });

  it('takes the stall timeout from Admin.UpdateConfig for the compactions that start afterwards', async () => {
    const { inputs } = await writeInputs(blob, 'stall-rt', 2, 200);
    // Never at start-up: only the runtime change can stop this compaction.
    const { t, client } = await serve(['--blob-faults', 'latencyMs=1500', '--stall-timeout-seconds', '0']);
    expect((await client.updateConfig({ stallTimeoutSeconds: 0.5 })).stallTimeoutSeconds).toBe(0.5);
    const req: CompactRequest = { ...compactRequest('stall-rt', inputs), compactionId: 'job-stall-rt' };
    const err = await failureOf(collect(client.compactStream(req, { resends: 0 })));
    expect(err.kind).toBe('deadline');
    expect(err.message).toMatch(/stalled/);
    expect(metricSum(await scrape(t), 'compactd_compaction_stalled_total')).toBe(1);
  });
});

async function scrape(t: TestServer): Promise<string> {
  const res = await httpGetText(t.server.metricsPort, '/metrics');
  expect(res.status).toBe(200);
  return res.body;
}
