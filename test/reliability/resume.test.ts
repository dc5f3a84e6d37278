/**
 * Resume after a crash, on the file store and on S3 (s3rver): a real `compactd serve` process is
 * killed with SIGKILL in the middle of a multi-part compaction with a compaction_id, after its
 * checkpoint recorded at least two parts. A new process on the same store gets the same request
 * (through the writer library, which waits out the dead owner's lease) and answers with the
 * reference output, resumed bytes above zero, no part key the first attempt wrote, inputs
 * unchanged; `compactd orphans` then deletes what the first attempt left.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Blob } from '../../src/blob/blob.js';
import { openBlob } from '../../src/blob/url.js';
import type { CompactStreamEvent } from '../../src/client/compact-stream.js';
import { CompactorClient } from '../../src/client/compactor-client.js';
import type { CompactRequest, HollowBatch, HollowPart } from '../../src/model/batch.js';
import { checkpointKey } from '../../src/model/compaction-id.js';
import { objectKey } from '../../src/model/keys.js';
import type { Update } from '../../src/model/update.js';
import { decodePart } from '../../src/part/decode.js';
import { updatesFromColumns } from '../../src/part/rows.js';
import { decodeCheckpoint } from '../../src/service/jobs/checkpoint.js';
import { hollowBatchToJson } from '../../src/wire/json.js';
import { consolidate, desc1, splitAt, writeBatch } from '../helpers/batches.js';
import { run } from '../helpers/cli.js';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.js';
import { compactRequest, listKeys, sampleRows, until } from '../service/harness.js';
import { startServeChild } from './child.js';

const SHARD = 'resume';
const ROWS = 60_000;
const ID = 'crash-job-1';
// Slow store, small output parts, a short lease: many checkpoints, and a quick takeover.
const FLAGS = ['--workers', '1', '--target-part-bytes', '32KiB', '--lease-seconds', '2', '--blob-faults', 'latencyMs=100'];

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

interface Store {
  readonly url: string;
  readonly blob: Blob;
  close(): Promise<void>;
}

function digest(updates: Update[]): string {
  const h = createHash('sha256');
  for (const u of updates) h.update(`${Buffer.from(u.k).toString('hex')}/${Buffer.from(u.v).toString('hex')}/${u.t.join(',')}/${u.d}|`);
  return h.digest('hex');
}

async function rowsOf(blob: Blob, batch: HollowBatch): Promise<Update[]> {
  const out: Update[] = [];
  for (const r of batch.runs) {
    for (const p of r.parts as HollowPart[]) out.push(...updatesFromColumns(decodePart((await blob.get(objectKey(SHARD, p.key)))!, p.key).cols));
  }
  return out;
}

function scenario(name: string, open: () => Promise<Store>): void {
  describe(`SIGKILL and resume (${name})`, () => {
    let store: Store;
    let request: CompactRequest;
    let expected: string;
    const inputHashes = new Map<string, string>();

    beforeAll(async () => {
      store = await open();
      const inputs: HollowBatch[] = [];
      let all: Update[] = [];
      for (let i = 0; i < 2; i++) {
        const rows = consolidate(sampleRows(i, ROWS), []);
        all = all.concat(rows);
        // Eight parts per run: the resumed attempt skips whole parts by key_lower.
        const cuts = Array.from({ length: 7 }, (_, j) => Math.floor(((j + 1) * rows.length) / 8));
        inputs.push(await writeBatch(store.blob, SHARD, 1, desc1(2 * i, 2 * i + 2, 0), [splitAt(rows, cuts)]));
      }
      request = { ...compactRequest(SHARD, inputs, { since: 2 }), compactionId: ID };
      expected = digest(consolidate(all, [[2n]]));
      for (const b of inputs) for (const r of b.runs) for (const p of r.parts as HollowPart[]) {
        inputHashes.set(p.key, sha((await store.blob.get(objectKey(SHARD, p.key)))!));
      }
    });

    afterAll(async () => {
      await store?.close();
    });

    it('resumes from the checkpoint on a new process with copies, and orphans cleans the rest', async () => {
      const first = startServeChild(['--blob', store.url, ...FLAGS]);
      try {
        const { port } = await first.serving();
        const c1 = new CompactorClient({ address: `127.0.0.1:${port}`, retries: 0 });
        const events: CompactStreamEvent[] = [];
        const call = (async () => {
          for await (const e of c1.compactStream(request, { resends: 0 })) events.push(e);
        })().catch((err: unknown) => err);
        // Several output parts are durable: each one at a safe boundary advanced the checkpoint.
        // Many output parts are durable; the checkpoint trails them by a write or two.
        await until(() => events.some((e) => e.type === 'progress' && e.progress.outputParts >= 30), 120_000);
        first.proc.kill('SIGKILL');
        expect(await first.exit).toEqual({ code: null, signal: 'SIGKILL' });
        expect(events.some((e) => e.type === 'done')).toBe(false);
        await call;
        // Nothing writes it any more: at least two checkpoints were written, recording at least two parts.
        const cp = decodeCheckpoint((await store.blob.get(checkpointKey(SHARD, ID)))!, 'checkpoint');
        expect(cp.seq).toBeGreaterThanOrEqual(2);
        expect(cp.chunks.reduce((n, r) => n + r.length, 0) + (cp.partial?.parts.length ?? 0)).toBeGreaterThanOrEqual(2);
        c1.close();
      } finally {
        first.proc.kill('SIGKILL');
      }
      const firstKeys = (await listKeys(store.blob, `${SHARD}/c`)).map((k) => k.slice(SHARD.length + 1));
      expect(firstKeys.length).toBeGreaterThanOrEqual(2);

      const second = startServeChild(['--blob', store.url, '--workers', '1', '--target-part-bytes', '32KiB', '--lease-seconds', '2']);
      try {
        const { port } = await second.serving();
        const c2 = new CompactorClient({ address: `127.0.0.1:${port}`, retries: 0, backoffInitialMs: 200, backoffMaxMs: 500 });
        const events: CompactStreamEvent[] = [];
        for await (const e of c2.compactStream(request, { deadlineMs: 120_000 })) events.push(e);
        c2.close();
        // The dead owner's lease was live at first: the library waited it out.
        const accepted = events.find((e) => e.type === 'accepted');
        expect(accepted).toMatchObject({ type: 'accepted', resumed: true });
        expect((accepted as { epoch: number }).epoch).toBeGreaterThanOrEqual(2);
        const done = events[events.length - 1];
        if (done.type !== 'done') throw new Error('no done event');
        const res = done.response;
        expect(res.stats.resumedBytes ?? 0).toBeGreaterThan(0);
        expect(digest(await rowsOf(store.blob, res.output!))).toBe(expected);
        const answerKeys = res.output!.runs.flatMap((r) => (r.parts as HollowPart[]).map((p) => p.key));
        expect(answerKeys.filter((k) => firstKeys.includes(k))).toEqual([]);
        for (const [key, hash] of inputHashes) expect(sha((await store.blob.get(objectKey(SHARD, key)))!)).toBe(hash);

        // Everything the first attempt wrote is unreferenced now: orphans finds and deletes it.
        const liveFile = path.join(tmpdir(), `compactd-resume-live-${process.pid}-${name}.json`);
        await writeFile(liveFile, JSON.stringify([hollowBatchToJson(res.output!), ...request.inputs.map(hollowBatchToJson)]));
        const swept = await run(['orphans', '--blob', store.url, '--shard', SHARD, '--live', liveFile, '--delete']);
        await rm(liveFile, { force: true });
        expect(swept.code, swept.stderr).toBe(0);
        expect(swept.stdout.trim().split('\n').sort()).toEqual([...firstKeys].sort());
        const left = (await listKeys(store.blob, `${SHARD}/c`)).map((k) => k.slice(SHARD.length + 1));
        expect(left.sort()).toEqual([...answerKeys].sort());
        for (const [key, hash] of inputHashes) expect(sha((await store.blob.get(objectKey(SHARD, key)))!)).toBe(hash);

        // The finished job's checkpoint protects its answer while it is young; once older than
        // --older-than nobody resumes it, and orphans deletes it, leaving the live parts alone.
        expect(await store.blob.head(checkpointKey(SHARD, ID))).toBeDefined();
        await writeFile(liveFile, JSON.stringify([hollowBatchToJson(res.output!), ...request.inputs.map(hollowBatchToJson)]));
        const old = await run(['orphans', '--blob', store.url, '--shard', SHARD, '--live', liveFile, '--older-than', '0s', '--delete']);
        await rm(liveFile, { force: true });
        expect(old.code, old.stderr).toBe(0);
        expect(old.stdout.trim().split('\n')).toEqual([`_jobs/${ID}.json`]);
        expect(await store.blob.head(checkpointKey(SHARD, ID))).toBeUndefined();
        expect((await listKeys(store.blob, `${SHARD}/c`)).length).toBe(answerKeys.length);
      } finally {
        second.proc.kill('SIGKILL');
      }
    });
  });
}

let tmp: string;
let s3: S3rverHandle | undefined;

beforeAll(async () => {
  tmp = await mkdtemp(path.join(tmpdir(), 'compactd-resume-'));
});

afterAll(async () => {
  await s3?.stop();
  await rm(tmp, { recursive: true, force: true });
});

scenario('file store', async () => {
  const url = pathToFileURL(path.join(tmp, 'store')).href;
  const blob = await openBlob(url);
  return { url, blob, close: () => blob.close() };
});

scenario('s3rver', async () => {
  s3 = await startS3rver();
  const url = s3.url;
  const blob = await openBlob(url);
  return { url, blob, close: () => blob.close() };
});
