/**
 * `compactd orphans` on a file store: lists exactly the service-written parts of one shard that no
 * live batch references, honours --older-than through the objects' modification times, deletes
 * only with --delete (which requires --live), and never touches writer keys or other shards.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Blob } from '../../src/blob/blob.js';
import { openBlob } from '../../src/blob/url.js';
import { parseDuration } from '../../src/cli/orphans.js';
import type { HollowBatch } from '../../src/model/batch.js';
import { hollowBatchToJson } from '../../src/wire/json.js';
import { desc1 } from '../helpers/batches.js';
import { expectError, run } from '../helpers/cli.js';
import { listKeys } from '../service/harness.js';

let dir: string;
let url: string;
let blob: Blob;

const serviceKey = () => `c${randomUUID()}/p${randomUUID()}`;
const batchOf = (keys: string[]): HollowBatch => ({
  desc: desc1(0, 1, 0),
  runs: [{ order: 'ordered', parts: keys.map((key) => ({ kind: 'hollow', key, encodedSizeBytes: 3, updates: 1, keyLower: new Uint8Array(0), checksum: '' })) }],
  len: keys.length,
});

/** Writes `key` under `shard`, last modified `ageMs` ago. */
async function put(shard: string, key: string, ageMs = 0): Promise<void> {
  await blob.set(`${shard}/${key}`, new Uint8Array([1, 2, 3]));
  const when = (Date.now() - ageMs) / 1000;
  await utimes(path.join(dir, shard, ...key.split('/')), when, when);
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'compactd-orphans-'));
  url = pathToFileURL(dir).href;
  blob = await openBlob(url);
});

beforeEach(async () => {
  for (const k of await listKeys(blob, '')) await blob.delete(k);
});

afterAll(async () => {
  await blob?.close();
  await rm(dir, { recursive: true, force: true });
});

async function liveFile(batches: HollowBatch[] | HollowBatch): Promise<string> {
  const file = path.join(dir, `live-${randomUUID()}.json`);
  await writeFile(file, JSON.stringify(Array.isArray(batches) ? batches.map(hollowBatchToJson) : hollowBatchToJson(batches)));
  return file;
}

describe('compactd orphans', () => {
  it('lists unreferenced service parts of the shard only, and deletes them with --delete', async () => {
    const live = [serviceKey(), serviceKey()];
    const orphans = [serviceKey(), serviceKey(), serviceKey()];
    for (const k of [...live, ...orphans]) await put('s1', k);
    await put('s1', 'w1/p1'); // a writer's part, referenced by nobody: never the service's to judge
    await put('s10', serviceKey()); // another shard whose id extends this one's
    await put('other', serviceKey());

    const file = await liveFile(batchOf(live));
    const listed = await run(['orphans', '--blob', url, '--shard', 's1', '--live', file]);
    expect(listed.code).toBe(0);
    expect(listed.stdout.trim().split('\n').sort()).toEqual([...orphans].sort());
    expect(listed.stderr).toBe(`orphans: shard s1: 5 service-written parts, 2 referenced by --live, 3 orphaned (9 bytes)\n`);
    expect((await listKeys(blob, 's1/')).length).toBe(6);

    const deleted = await run(['orphans', '--blob', url, '--shard', 's1', '--live', file, '--delete']);
    expect(deleted.code).toBe(0);
    expect(deleted.stderr).toContain('3 deleted');
    expect((await listKeys(blob, 's1/')).sort()).toEqual([...live.map((k) => `s1/${k}`), 's1/w1/p1'].sort());
    expect(await listKeys(blob, 's10/')).toHaveLength(1);
    expect(await listKeys(blob, 'other/')).toHaveLength(1);
  });

  it('with --older-than leaves recent parts alone', async () => {
    const old = [serviceKey(), serviceKey()];
    const recent = [serviceKey()];
    for (const k of old) await put('s2', k, 2 * 3_600_000);
    for (const k of recent) await put('s2', k, 60_000);
    const file = await liveFile([]);
    const r = await run(['orphans', '--blob', url, '--shard', 's2', '--live', file, '--older-than', '1h', '--delete']);
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n').sort()).toEqual([...old].sort());
    expect(r.stderr).toContain('1 younger than 1h');
    expect(await listKeys(blob, 's2/')).toEqual([`s2/${recent[0]}`]);

    const all = await run(['orphans', '--blob', url, '--shard', 's2', '--older-than', '30s']);
    expect(all.stdout.trim()).toBe(recent[0]);
  });

  it('refuses --delete without --live, bad durations, bad live files and bad shards, deleting nothing', async () => {
    await put('s3', serviceKey());
    expectError(await run(['orphans', '--blob', url, '--shard', 's3', '--delete']), /^compactd orphans: --delete needs --live/);
    expectError(await run(['orphans', '--blob', url, '--shard', 's3', '--older-than', '5 minutes']), /^compactd orphans: --older-than: expected a duration/);
    const bad = path.join(dir, 'bad.json');
    await writeFile(bad, '{"runs": 3}');
    expectError(await run(['orphans', '--blob', url, '--shard', 's3', '--live', bad, '--delete']), /^compactd orphans: --live: batch 0: /);
    expectError(await run(['orphans', '--blob', url, '--shard', '../s3']), /^compactd orphans: bad shard id/);
    expect(await listKeys(blob, 's3/')).toHaveLength(1);
  });

  it('parses durations', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('15m')).toBe(900_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('2d')).toBe(172_800_000);
    for (const bad of ['', '10', 'h', '-1m', '1 h', '1w']) expect(() => parseDuration(bad)).toThrow(/expected a duration/);
  });

  it('--delete also sweeps temp files of writes a crash cut off, only old ones and only in the shard', async () => {
    const live = [serviceKey()];
    await put('s1', live[0]);
    const c = `c${randomUUID()}`;
    await put('s1', `${c}/p${randomUUID()}`, 0);
    const stale = path.join(dir, 's1', c, '.compactd-tmp-0123456789abcdef');
    const fresh = path.join(dir, 's1', c, '.compactd-tmp-fedcba9876543210');
    const elsewhere = path.join(dir, 'other', '.compactd-tmp-00000000000000aa');
    for (const f of [stale, fresh, elsewhere]) {
      await mkdir(path.dirname(f), { recursive: true });
      await writeFile(f, 'partial');
    }
    const old = (Date.now() - 2 * 3_600_000) / 1000;
    await utimes(stale, old, old);
    await utimes(elsewhere, old, old);

    const file = await liveFile(batchOf(live));
    const r = await run(['orphans', '--blob', url, '--shard', 's1', '--live', file, '--delete']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('1 unfinished writes removed (7 bytes)');
    expect(await exists(stale)).toBe(false);
    expect(await exists(fresh)).toBe(true);
    expect(await exists(elsewhere)).toBe(true);
    await rm(fresh);
    await rm(elsewhere);
  });
});

async function exists(file: string): Promise<boolean> {
  return stat(file).then(
    () => true,
    () => false,
  );
}
