import { readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Blob } from '../../src/blob/blob.js';
import { openBlob } from '../../src/blob/url.js';
import { DEFAULT_ENGINE_CONFIG, type EngineConfig } from '../../src/compact/types.js';
import { validateCompactRequest, type ValidCompactRequest } from '../../src/model/validate.js';
import { CompactdError } from '../../src/model/errors.js';
import { createRootLogger } from '../../src/obs/log.js';
import { WorkerPool } from '../../src/service/workers.js';
import { consolidate, desc1, readRows, upd, writeBatch } from '../helpers/batches.js';

const SHARD = 's1';
let dir: string;
let url: string;
let blob: Blob;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'compactd-workers-'));
  url = pathToFileURL(dir).href;
  blob = await openBlob(url);
});

afterAll(async () => {
  await blob.close();
  await rm(dir, { recursive: true, force: true });
});

async function keys(prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const m of blob.list(prefix)) out.push(m.key);
  return out;
}

/** Two consecutive batches of `rows` updates each, with every key written twice (so some cancel). */
async function request(rows: number): Promise<ValidCompactRequest> {
  const a = Array.from({ length: rows }, (_, i) => upd(`k${String(i).padStart(8, '0')}`, 'v', 1, 1));
  const b = Array.from({ length: rows }, (_, i) => upd(`k${String(i).padStart(8, '0')}`, 'v', 2, i % 2 === 0 ? -1 : 1));
  const inputs = [
    await writeBatch(blob, SHARD, 1, desc1(0, 2, 0), [[consolidate(a, [])]]),
    await writeBatch(blob, SHARD, 1, desc1(2, 4, 0), [[consolidate(b, [])]]),
  ];
  return validateCompactRequest({ shardId: SHARD, desc: desc1(0, 4, 3), inputs, force: true, requestId: 'r' });
}


const SMALL_PARTS: EngineConfig = { ...DEFAULT_ENGINE_CONFIG, targetPartBytes: 2048 };

describe('WorkerPool', () => {
  // One pool for the tests that leave it healthy: starting threads from TypeScript sources is slow.
  const observed: string[] = [];
  let shared: WorkerPool;
  beforeAll(async () => {
    shared = new WorkerPool({
      size: 2,
      blobUrl: url,
      log: createRootLogger({ level: 'silent' }),
      blobObserver: {
        observe: (op) => observed.push(op),
      },
      abortGraceMs: 10_000,
    });
    await shared.start();
  });
  afterAll(() => shared.close());

  it('runs a compaction in a worker thread and reports its blob operations', async () => {
    observed.length = 0;
    const req = await request(100);
    const res = await shared.run(req, DEFAULT_ENGINE_CONFIG);
    // k even: +1 at t1, -1 at t2, both advanced to 3: they cancel. k odd: +2.
    const rows = (await readRows(blob, SHARD, res.output)).flat();
    expect(rows.length).toBe(50);
    expect(rows.every((u) => u.d === 2n && u.t[0] === 3n)).toBe(true);
    expect(res.stats.inputUpdates).toBe(200);
    expect(observed).toContain('get');
    expect(observed).toContain('set');
  });

  it('answers the engine error as a CompactdError of its kind', async () => {
    const req = await request(4);
    const missing = validateCompactRequest({
      ...req,
      inputs: [{ ...req.inputs[0], runs: [{ order: 'ordered', parts: [{ ...req.inputs[0].runs[0].parts[0], key: 'w0/gone' } as never] }] }, req.inputs[1]],
    });
    const err = (await shared.run(missing, DEFAULT_ENGINE_CONFIG).catch((e: unknown) => e)) as CompactdError;
    expect(err).toBeInstanceOf(CompactdError);
    expect(err.kind).toBe('not_found');
    expect(err.message).toContain('w0/gone');
  });

  it('stops an aborted compaction, answers the abort reason and leaves no outputs', async () => {
    observed.length = 0;
    const req = await request(20_000);
    const before = await keys(`${SHARD}/c`);
    const ac = new AbortController();
    // Abort once the first output object shows up on disk: the engine is then mid-way through
    // hundreds of parts. (Its thread may not turn its event loop while merging, so watch the disk.)
    const running = shared.run(req, { ...SMALL_PARTS, targetPartBytes: 1024 }, { signal: ac.signal });
    const watch = setInterval(() => {
      const files = readdirSync(path.join(dir, SHARD), { recursive: true }) as string[];
      if (files.some((f) => f.startsWith('c') && f.includes('/'))) {
        clearInterval(watch);
        ac.abort(new CompactdError('deadline', 'compaction timed out'));
      }
    }, 1);
    running.finally(() => clearInterval(watch)).catch(() => {});
    const err = (await running.catch((e: unknown) => e)) as CompactdError;
    expect(err.kind).toBe('deadline');
    expect(await keys(`${SHARD}/c`)).toEqual(before);
  });

  it('fails the jobs of a crashed worker with INTERNAL and replaces the worker', async () => {
    let restarts = 0;
    const p = new WorkerPool({ size: 1, blobUrl: url, log: createRootLogger({ level: 'silent' }), onRestart: () => restarts++ });
    await p.start();
    try {
      const req = await request(20_000);
      const running = p.run(req, SMALL_PARTS);
      // A real thread death: terminate the worker under the running job.
      await (p as unknown as { slots: { worker: { terminate(): Promise<number> } }[] }).slots[0].worker.terminate();
      const err = (await running.catch((e: unknown) => e)) as CompactdError;
      expect(err.kind).toBe('internal');
      expect(restarts).toBe(1);
      const ok = await p.run(await request(10), DEFAULT_ENGINE_CONFIG);
      expect(ok.output.len).toBe(5);
    } finally {
      await p.close();
    }
  });

  it('refuses to start when a worker cannot open the store', async () => {
    const p = new WorkerPool({ size: 1, blobUrl: 's3://no such bucket', log: createRootLogger({ level: 'silent' }) });
    const err = (await p.start().catch((e: unknown) => e)) as CompactdError;
    expect(err).toBeInstanceOf(CompactdError);
    expect(err.kind).toBe('invalid');
  });

  it('refuses work after close', async () => {
    const p = new WorkerPool({ size: 1, blobUrl: url, log: createRootLogger({ level: 'silent' }) });
    await p.start();
    await p.close();
    const err = (await p.run(await request(1), DEFAULT_ENGINE_CONFIG).catch((e: unknown) => e)) as CompactdError;
    expect(err.kind).toBe('unavailable');
  });
});
