/**
 * `compactd compact --local`: batches written with `write-batch` are compacted in-process and the
 * result, read back with `read-batch`, is the consolidation of everything written.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compactResponseFromJson, hollowBatchFromJson, hollowBatchToJson, updateFromNdjsonLine } from '../../src/wire/json.js';
import { consolidate } from '../../src/model/update.js';
import { expectError, run } from '../helpers/cli.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const line = (k: string, t: number, d: number) => JSON.stringify({ k: b64(k), v: b64('v'), t: [String(t)], d: String(d) });

describe('compactd compact --local', () => {
  let dir: string;
  let blob: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'compactd-cli-compact-'));
    blob = `file://${dir}`;
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  async function writeBatch(lines: string[], lower: number, upper: number) {
    const r = await run(['write-batch', '--blob', blob, '--shard', 's1', '--lower', `[["${lower}"]]`, '--upper', `[["${upper}"]]`], lines.join('\n'));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout) as Record<string, unknown>;
  }

  it('compacts batches written by write-batch into their consolidation', async () => {
    const b0 = [line('a', 0, 1), line('b', 1, 1), line('c', 1, 2)];
    const b1 = [line('a', 5, -1), line('b', 6, 1), line('d', 7, 1)];
    const req = {
      shardId: 's1',
      desc: { lower: [['0']], upper: [['10']], since: [['10']] },
      inputs: [await writeBatch(b0, 0, 5), await writeBatch(b1, 5, 10)],
    };
    const r = await run(['compact', '--local', '--blob', blob, '--target-part-bytes', '30'], JSON.stringify(req));
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const res = compactResponseFromJson(JSON.parse(r.stdout));
    expect(res.outcome).toBe('compacted');
    expect(res.output!.runs).toHaveLength(1);
    expect(res.output!.runs[0].parts.length).toBeGreaterThan(1);
    expect(res.stats.inputUpdates).toBe(6);

    const read = await run(['read-batch', '--blob', blob, '--shard', 's1'], JSON.stringify(hollowBatchToJson(res.output!)));
    expect(read.code).toBe(0);
    const got = read.stdout.trim().split('\n').map((l) => updateFromNdjsonLine(l, 1));
    const all = [...b0, ...b1].map((l) => updateFromNdjsonLine(l, 1));
    expect(got).toEqual(consolidate(all, res.output!.desc.since));
    expect(got.map((u) => [Buffer.from(u.k).toString(), u.t[0], u.d])).toEqual([
      ['b', 10n, 2n],
      ['c', 10n, 2n],
      ['d', 10n, 1n],
    ]);
    // Outputs live under c<uuid>/p<uuid> next to the inputs.
    const keys = await readdir(join(dir, 's1'));
    expect(keys.some((k) => /^c[0-9a-f-]{36}$/.test(k))).toBe(true);
    expect(hollowBatchFromJson(JSON.parse(JSON.stringify(hollowBatchToJson(res.output!)))).len).toBe(3);
  });

  it('reports engine errors as one status line', async () => {
    const req = {
      shardId: 's1',
      desc: { lower: [['0']], upper: [['10']], since: [['0']] },
      inputs: [{ desc: { lower: [['0']], upper: [['4']], since: [['0']] }, runs: [], len: '0' }],
    };
    expectError(await run(['compact', '--local', '--blob', blob], JSON.stringify(req)), /^INVALID_ARGUMENT: .*non-consecutive/);
    const missing = {
      ...req,
      inputs: [{ desc: { lower: [['0']], upper: [['10']], since: [['0']] }, runs: [{ parts: [{ hollow: { key: 'w1/p2' } }] }], len: '1' }],
    };
    expectError(await run(['compact', '--local', '--blob', blob], JSON.stringify(missing)), /^NOT_FOUND: part s1\/w1\/p2 is missing$/);
  });

  it('needs exactly one of --local and --endpoint, and valid JSON', async () => {
    expectError(await run(['compact'], '{}'), /^compactd compact: .*--endpoint.*--local/);
    expectError(await run(['compact', '--local', '--endpoint', '127.0.0.1:1'], '{}'), /^compactd compact: .*exactly one/);
    expectError(await run(['compact', '--local', '--blob', blob], '{nope'), /^INVALID_ARGUMENT: /);
    expectError(await run(['compact', '--local', '--blob', blob, '--compression', 'gzip'], '{}'), /^compactd compact: --compression/);
  });
});
