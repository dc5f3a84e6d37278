/**
 * Crash safety: a real `compactd serve` process is killed with SIGKILL in the middle of a large
 * compaction at three points, told apart by the per-part debug lines of the running job:
 * - fetching: inputs still being read (reads slowed by injected latency), nothing written;
 * - merging: every input part read, no output upload started yet (one large zstd output part);
 * - uploading: output parts being written (many small parts, writes slowed by latency).
 * After each kill: every input object is byte-identical, the client got no response (an error,
 * never an output). Then a restarted server compacts the same request correctly, and
 * `compactd orphans` finds exactly the parts the killed compactions left behind and deletes them.
 */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Blob } from '../../src/blob/blob.js';
import { openBlob } from '../../src/blob/url.js';
import { CompactorClient } from '../../src/client/compactor-client.js';
import type { CompactRequest, HollowBatch, HollowPart } from '../../src/model/batch.js';
import { CompactdError } from '../../src/model/errors.js';
import { objectKey } from '../../src/model/keys.js';
import type { Update } from '../../src/model/update.js';
import { hollowBatchToJson } from '../../src/wire/json.js';
import { decodePart } from '../../src/part/decode.js';
import { updatesFromColumns } from '../../src/part/rows.js';
import { consolidate, desc1, writeBatch } from '../helpers/batches.js';
import { run } from '../helpers/cli.js';
import { compactRequest, listKeys, sampleRows, until, type LogLine } from '../service/harness.js';
import { startServeChild } from './child.js';

const SHARD = 'crash';
/** Rows per input batch: large enough that the merge takes a visible while. */
const ROWS = 200_000;
const PARTS = 4;

let dir: string;
let url: string;
let blob: Blob;
let request: CompactRequest;
let expected: Update[];
const inputHashes = new Map<string, string>();

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'compactd-crash-'));
  url = pathToFileURL(dir).href;
  blob = await openBlob(url);
  const inputs: HollowBatch[] = [];
  let all: Update[] = [];
  for (let i = 0; i < 2; i++) {
    const rows = consolidate(sampleRows(i, ROWS), []);
    all = all.concat(rows);
    // One run of two parts per batch: a run's second part is read only after its first.
    const half = rows.length >> 1;
    inputs.push(await writeBatch(blob, SHARD, 1, desc1(2 * i, 2 * i + 2, 0), [[rows.slice(0, half), rows.slice(half)]]));
  }
  request = compactRequest(SHARD, inputs, { since: 2 });
  expected = consolidate(all, [[2n]]);
  for (const b of inputs) for (const r of b.runs) for (const p of r.parts as HollowPart[]) {
    inputHashes.set(p.key, sha((await blob.get(objectKey(SHARD, p.key)))!));
  }
  expect(inputHashes.size).toBe(PARTS);
});

afterAll(async () => {
  await blob?.close();
  await rm(dir, { recursive: true, force: true });
});

interface Progress {
  fetched: number;
  uploadsStarted: number;
  uploaded: number;
  finished: boolean;
}

function progress(lines: readonly LogLine[], requestId: string): Progress {
  const mine = lines.filter((l) => l.requestId === requestId);
  const count = (msg: string) => mine.filter((l) => l.msg === msg).length;
  return {
    fetched: count('part fetched'),
    uploadsStarted: count('part upload started'),
    uploaded: count('part uploaded'),
    finished: mine.some((l) => l.msg === 'compaction finished' || l.msg === 'compaction failed'),
  };
}

/** A digest of updates in order: (k, v, t, d) of each, length-prefixed, so equal digests mean equal lists. */
function digestOf(updates: Iterable<Update>): { digest: string; count: number } {
  const h = createHash('sha256');
  let count = 0;
  const len = Buffer.alloc(4);
  for (const u of updates) {
    for (const bytes of [u.k, u.v]) {
      len.writeUInt32LE(bytes.length);
      h.update(len).update(bytes);
    }
    h.update(`${u.t.join(',')};${u.d}|`);
    count++;
  }
  return { digest: h.digest('hex'), count };
}

/** Every row of a batch's parts in order (parts too large for the spread in readRows). */
async function* readAll(batch: HollowBatch): AsyncGenerator<Update[]> {
  for (const r of batch.runs) {
    for (const p of r.parts as HollowPart[]) yield updatesFromColumns(decodePart((await blob.get(objectKey(SHARD, p.key)))!, p.key).cols);
  }
}

async function expectInputsIntact(): Promise<void> {
  for (const [key, hash] of inputHashes) {
    const bytes = await blob.get(objectKey(SHARD, key));
    expect(bytes, key).toBeDefined();
    expect(sha(bytes!), key).toBe(hash);
  }
}

const BASE = ['--workers', '1', '--log-level', 'debug'];

const POINTS: {
  readonly name: string;
  readonly flags: string[];
  readonly killWhen: (p: Progress) => boolean;
  /** Checks that the kill landed in the intended phase (on the progress at the kill and at exit). */
  readonly phase: (atKill: Progress, atExit: Progress) => void;
}[] = [
  {
    name: 'fetching',
    flags: ['--blob-faults', 'latencyMs=400'],
    killWhen: (p) => p.fetched >= 1,
    phase: (k, e) => {
      expect(k.fetched).toBeLessThan(PARTS);
      expect(e.uploadsStarted).toBe(0);
    },
  },
  {
    name: 'merging',
    flags: ['--compression', 'zstd'],
    killWhen: (p) => p.fetched === PARTS,
    phase: (k, e) => {
      expect(k.fetched).toBe(PARTS);
      expect(e.uploadsStarted).toBe(0);
    },
  },
  {
    name: 'uploading',
    flags: ['--blob-faults', 'latencyMs=60', '--target-part-bytes', '64KiB'],
    killWhen: (p) => p.uploaded >= 2,
    phase: (k, e) => {
      expect(k.uploaded).toBeGreaterThanOrEqual(2);
      expect(e.finished).toBe(false);
    },
  },
];

describe('SIGKILL in the middle of a compaction', () => {
  for (const point of POINTS) {
    it(`while ${point.name}: inputs intact, nothing reported`, async () => {
      const child = startServeChild(['--blob', url, ...BASE, ...point.flags]);
      const client = new CompactorClient({ address: '127.0.0.1:1', retries: 0 });
      let c: CompactorClient | undefined;
      try {
        const { port } = await child.serving();
        c = new CompactorClient({ address: `127.0.0.1:${port}`, retries: 0 });
        const requestId = `crash-${point.name}`;
        const call = c.compact({ ...request, requestId }).then(
          (res) => res,
          (err: unknown) => err,
        );
        await until(() => point.killWhen(progress(child.lines, requestId)) || progress(child.lines, requestId).finished, 60_000);
        child.proc.kill('SIGKILL');
        const atKill = progress(child.lines, requestId);
        expect(await child.exit).toEqual({ code: null, signal: 'SIGKILL' });
        point.phase(atKill, progress(child.lines, requestId));

        const answer = await call;
        expect(answer).toBeInstanceOf(CompactdError);
        expect((answer as CompactdError).kind).toBe('unavailable');
        await expectInputsIntact();
      } finally {
        c?.close();
        client.close();
        child.proc.kill('SIGKILL');
      }
    });
  }

  it('a restarted server compacts the same request; orphans lists and deletes what the kills left', async () => {
    const leftovers = await listKeys(blob, `${SHARD}/c`);
    // The upload-phase kill left written parts behind (the others wrote nothing).
    expect(leftovers.length).toBeGreaterThanOrEqual(2);

    const child = startServeChild(['--blob', url, '--workers', '1']);
    let c: CompactorClient | undefined;
    try {
      const { port } = await child.serving();
      c = new CompactorClient({ address: `127.0.0.1:${port}`, retries: 0 });
      const res = await c.compact({ ...request, requestId: 'after-restart' });
      expect(res.outcome).toBe('compacted');
      const parts: Update[][] = [];
      for await (const rows of readAll(res.output!)) parts.push(rows);
      expect(digestOf(parts.flatMap((x) => x))).toEqual(digestOf(expected));
      await expectInputsIntact();

      const outputKeys = res.output!.runs.flatMap((r) => (r.parts as HollowPart[]).map((p) => p.key));
      const liveFile = path.join(dir, 'live.json');
      await writeFile(liveFile, JSON.stringify([hollowBatchToJson(res.output!), ...request.inputs.map(hollowBatchToJson)]));
      const orphanKeys = leftovers.map((k) => k.slice(SHARD.length + 1)).sort();

      const young = await run(['orphans', '--blob', url, '--shard', SHARD, '--live', liveFile, '--older-than', '1h']);
      expect(young.code).toBe(0);
      expect(young.stdout).toBe('');
      expect(young.stderr).toContain(`${orphanKeys.length} younger than 1h`);

      const listed = await run(['orphans', '--blob', url, '--shard', SHARD, '--live', liveFile, '--delete']);
      expect(listed.code).toBe(0);
      expect(listed.stdout.trim().split('\n').sort()).toEqual(orphanKeys);
      expect(listed.stderr).toContain(`${orphanKeys.length} deleted`);
      expect((await listKeys(blob, `${SHARD}/c`)).map((k) => k.slice(SHARD.length + 1)).sort()).toEqual([...outputKeys].sort());
      await expectInputsIntact();
    } finally {
      c?.close();
      child.proc.kill('SIGKILL');
    }
  });
});
