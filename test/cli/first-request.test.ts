/**
 * The path from "it runs" to "I sent my own request", as a person walks it: child processes with
 * real stdin and stdout against a real `compactd serve` on port 0. write-batch prints the short
 * frontier form, `request` assembles a CompactRequest from batch files, a SKIPPED answer says why
 * (in the response and the server log), `compact | read-batch` reads the output, flags of the
 * other mode are refused, `config get|set` and `delete-parts` reach the rest of the API.
 */
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';
import { runChild, sink, type Result } from '../helpers/cli.js';
import { servingPorts, spawnServe, type ServeProcess } from '../helpers/serve-process.js';

const b64 = (s: string) => Buffer.from(s).toString('base64');
const line = (k: string, t: number, d: number) => JSON.stringify({ k: b64(k), v: b64('v'), t: [String(t)], d: String(d) });

let dir: string;
let blob: string;
let serve: ServeProcess;
let endpoint: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'compactd-first-request-'));
  blob = pathToFileURL(dir).href;
  serve = spawnServe(['--port', '0', '--metrics-port', '0', '--workers', '1', '--blob', blob, '--log-format', 'json']);
  endpoint = `127.0.0.1:${(await servingPorts(serve)).port}`;
}, 60_000);

afterAll(async () => {
  serve?.proc.kill('SIGTERM');
  await serve?.exit;
  await rm(dir, { recursive: true, force: true });
});

/** Runs compactd in `dir` (batch files are relative to it). */
const cli = (argv: string[], input = ''): Promise<Result> => runChild(argv, input, { cwd: dir });

function ok(r: Result): string {
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return r.stdout;
}

async function writeTwoBatches(shard: string): Promise<void> {
  const b0 = ok(await cli(['write-batch', '--blob', blob, '--shard', shard, '--lower', '[["0"]]', '--upper', '[["5"]]'], [line('a', 1, 1), line('b', 2, 1)].join('\n')));
  const b1 = ok(await cli(['write-batch', '--blob', blob, '--shard', shard, '--lower', '[["5"]]', '--upper', '[["10"]]'], [line('a', 6, -1), line('c', 7, 2)].join('\n')));
  await writeFile(join(dir, `${shard}-b0.json`), b0);
  await writeFile(join(dir, `${shard}-b1.json`), b1);
}

describe('the first request', () => {
  it('write-batch prints frontiers in the short form the docs use', async () => {
    const out = ok(await cli(['write-batch', '--blob', blob, '--shard', 'short', '--lower', '[["0"]]', '--upper', '[["5"]]'], line('a', 1, 1)));
    expect(out).toContain('"lower": [["0"]]');
    expect(out).toContain('"upper": [["5"]]');
    expect(out).toContain('"since": [["0"]]');
    expect(out).not.toContain('elements');
  });

  it('a request without force is SKIPPED and says why, in the answer and in the server log', async () => {
    await writeTwoBatches('skip');
    const req = ok(await cli(['request', '--shard', 'skip', '--request-id', 'first-skip', 'skip-b0.json', 'skip-b1.json']));
    expect(JSON.parse(req)).toMatchObject({ shardId: 'skip', force: false, desc: { lower: [['0']], upper: [['10']], since: [['0']] } });
    const res = JSON.parse(ok(await cli(['compact', '--endpoint', endpoint], req))) as Record<string, unknown>;
    const reason = '2 inputs < 8, 2 parts < 8, 4 updates < 1024; set "force": true to compact anyway';
    expect(res).toMatchObject({ outcome: 'SKIPPED', reason });
    const logged = serve.lines.find((l) => l.msg === 'compaction skipped' && l.requestId === 'first-skip');
    expect(logged?.reason).toBe(reason);
    // read-batch of a SKIPPED answer says there is nothing to read, and why.
    const read = await cli(['read-batch', '--blob', blob, '--shard', 'skip'], JSON.stringify(res));
    expect(read.code).toBe(1);
    expect(read.stderr).toBe(`INVALID_ARGUMENT: the response is SKIPPED (${reason}): it has no output batch; read the input batches instead\n`);
  });

  it('request --force, compact, and compact output piped into read-batch', async () => {
    await writeTwoBatches('first');
    const req = ok(await cli(['request', '--shard', 'first', '--force', '--since', '[["10"]]', 'first-b0.json', 'first-b1.json']));
    const res = ok(await cli(['compact', '--endpoint', endpoint], req));
    expect(JSON.parse(res)).toMatchObject({ outcome: 'COMPACTED', reason: '', output: { desc: { lower: [['0']], upper: [['10']], since: [['10']] } } });
    const read = ok(await cli(['read-batch', '--blob', blob, '--shard', 'first'], res));
    expect(read).toBe(`${[line('b', 10, 1), line('c', 10, 2)].join('\n')}\n`);
    expect((await readdir(join(dir, 'first'))).some((k) => /^c[0-9a-f-]{36}$/.test(k))).toBe(true);

    // delete-parts gives the outputs back: they leave the store; a second call finds them missing.
    const del = JSON.parse(ok(await cli(['delete-parts', '--endpoint', endpoint, '--shard', 'first', '--from-response'], res))) as { deleted: number; missing: number };
    expect(del.deleted).toBeGreaterThan(0);
    expect(del.missing).toBe(0);
    expect((await readdir(join(dir, 'first'))).some((k) => /^c[0-9a-f-]{36}$/.test(k))).toBe(false);
    expect(JSON.parse(ok(await cli(['delete-parts', '--endpoint', endpoint, '--shard', 'first', '--from-response'], res)))).toEqual({ deleted: 0, missing: del.deleted });
  });

  it('request refuses batches that do not line up, naming the file', async () => {
    await writeTwoBatches('gap');
    const r = await cli(['request', '--shard', 'gap', 'gap-b1.json', 'gap-b0.json']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^INVALID_ARGUMENT: .*non-consecutive/);
    const none = await cli(['request', '--shard', 'gap']);
    expect(none).toEqual({ code: 2, stdout: '', stderr: 'compactd request: expected BATCH_FILE... (see compactd request --help)\n' });
  });

  it('compact refuses flags of the other mode, saying which mode takes them', async () => {
    expect(await cli(['compact', '--endpoint', endpoint, '--target-part-bytes', '1KiB'], '{}')).toEqual({
      code: 2,
      stdout: '',
      stderr: 'compactd compact: --target-part-bytes applies only with --local, not with --endpoint\n',
    });
    expect(await cli(['compact', '--local', '--deadline-seconds', '5'], '{}')).toEqual({
      code: 2,
      stdout: '',
      stderr: 'compactd compact: --deadline-seconds applies only with --endpoint, not with --local\n',
    });
  });

  it('compact says it reads a request from standard input when that is a terminal', async () => {
    const stdin = Object.assign(Readable.from([Buffer.from('{}')]), { isTTY: true });
    const stderr = sink();
    const stdout = sink();
    await main(['compact', '--endpoint', endpoint], { stdin, stdout, stderr, cwd: dir });
    expect(stderr.text.split('\n')[0]).toBe('compactd compact: reading a CompactRequest (JSON) from standard input; end it with Ctrl-D');
    // From a pipe it stays silent.
    const piped = await cli(['compact', '--endpoint', endpoint], '{"shardId":"x","desc":{"lower":[["0"]],"upper":[["0"]],"since":[["0"]]}}');
    expect(piped.stderr).toBe('');
  });
});

describe('config get|set', () => {
  it('reads and changes the live configuration; bad values are refused before the call', async () => {
    const before = JSON.parse(ok(await cli(['config', 'get', '--endpoint', endpoint]))) as Record<string, unknown>;
    expect(before).toMatchObject({ enabled: true, queueSize: 20, heuristicMinInputs: 8 });
    const after = JSON.parse(ok(await cli(['config', 'set', '--endpoint', endpoint, '--queue-size', '5', '--target-part-bytes', '1MiB']))) as Record<string, unknown>;
    expect(after).toMatchObject({ queueSize: 5, targetPartBytes: String(1024 * 1024), heuristicMinInputs: 8 });
    expect(JSON.parse(ok(await cli(['config', 'get', '--endpoint', endpoint])))).toEqual(after);
    expect(await cli(['config', 'set', '--endpoint', endpoint, '--queue-size', '0'])).toEqual({
      code: 2,
      stdout: '',
      stderr: 'compactd config set: --queue-size: expected a whole number >= 1, got "0"\n',
    });
    expect((await cli(['config', 'frob'])).stderr).toBe('compactd config: expected get or set, got "frob" (see compactd config --help)\n');
    ok(await cli(['config', 'set', '--endpoint', endpoint, '--queue-size', '20']));
  });
});
