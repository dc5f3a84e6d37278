import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/cli/main.js';
import { hollowBatchFromJson, updateFromNdjsonLine, updateToNdjsonLine } from '../../src/wire/json.js';
import { consolidate, type Update } from '../../src/model/update.js';
import { startS3rver, type S3rverHandle } from '../helpers/s3rver.js';
import { update } from '../model/arb.js';
import { ROOT, run, runChild, expectError, type Result } from '../helpers/cli.js';

const ndjson = (us: readonly Update[]) => us.map((u) => `${updateToNdjsonLine(u)}\n`).join('');
const b64 = (s: string) => Buffer.from(s).toString('base64');
const line = (k: string, t: (number | string)[], d: number | string, v = '') => JSON.stringify({ k: b64(k), v: b64(v), t: t.map(String), d: String(d) });

const SAMPLE = [
  line('apple', [3, 1], 1, 'red'),
  line('apple', [1, 3], 1, 'red'),
  line('apple', [4, 4], -1, 'red'),
  line('pear', [2, 2], 2),
  line('pear', [2, 2], -2),
  line('fig', [9, 0], 5, 'x'.repeat(40)),
  '',
].join('\n');
const SAMPLE_FLAGS = ['--lower', '[["0","0"]]', '--upper', '[["10","10"]]', '--since', '[["2","2"]]'];

function expectedSample(): string {
  const us = SAMPLE.split('\n').filter(Boolean).map((l) => updateFromNdjsonLine(l, 2));
  return ndjson(consolidate(us, [[2n, 2n]]));
}

describe('compactd help', () => {
  it('--help lists every command', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: compactd <command> \[flags\]/);
    for (const c of COMMANDS) expect(r.stdout).toContain(`  ${c.name}`);
    expect(r.stdout).toContain('write-batch');
    expect(r.stdout).toContain('read-batch');
  });

  it.each(COMMANDS.map((c) => c.name))('%s --help describes its flags and exits 0', async (name) => {
    const r = await run([name, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Usage: compactd ${name} `));
    expect(r.stdout).toMatch(/\n {2}--[a-z]/);
    expect(r.stdout).toContain('--help');
    expect(await run(['help', name])).toEqual(r);
  });

  it('with no command prints the usage to stderr and exits 2', async () => {
    const r = await run([]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^Usage: compactd/);
  });

  it('--version prints the package version', async () => {
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = await run(['--version']);
    expect(r).toEqual({ code: 0, stdout: `compactd ${pkg.version}\n`, stderr: '' });
  });

  it('an unknown command is one usage line, suggesting the command meant', async () => {
    const names = COMMANDS.map((c) => c.name).join(', ');
    expectError(await run(['frobnicate']), new RegExp(`^compactd: unknown command "frobnicate"; commands: ${names}$`));
    expectError(await run(['compcat']), /^compactd: unknown command "compcat" \(did you mean compact\?\)$/);
  });
});

describe('write-batch -> read-batch', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'compactd-cli-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('round-trips on file:// with several parts, D = 2', async () => {
    const blob = `file://${dir}/store`;
    const w = await run(['write-batch', '--blob', blob, '--shard', 's1', ...SAMPLE_FLAGS, '--target-part-bytes', '60'], SAMPLE);
    expect(w.stderr).toBe('');
    expect(w.code).toBe(0);
    const batch = hollowBatchFromJson(w.stdout);
    expect(batch.runs).toHaveLength(1);
    expect(batch.runs[0].parts.length).toBeGreaterThan(1);
    expect(batch.desc.since).toEqual([[2n, 2n]]);
    const files = await readdir(join(dir, 'store', 's1'), { recursive: true });
    expect(files.filter((f) => f.includes('/p')).length).toBe(batch.runs[0].parts.length);

    const r = await run(['read-batch', '--blob', blob, '--shard', 's1'], w.stdout);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(expectedSample());
  });

  it('resolves the default store file://./data against the working directory', async () => {
    const cwd = await mkdtemp(join(dir, 'cwd-'));
    const w = await run(['write-batch', '--shard', 'rel', '--lower', '[["0"]]', '--upper', '[]'], `${line('k', [1], 1)}\n`, cwd);
    expect(w.code).toBe(0);
    expect(await readdir(join(cwd, 'data', 'rel'))).toHaveLength(1);
    const r = await run(['read-batch', '--shard', 'rel'], w.stdout, cwd);
    expect(r.stdout).toBe(`${line('k', [1], 1)}\n`);
  });

  it('round-trips random updates on mem:// (one process)', async () => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(update(1, { maxBytes: 4 }), { maxLength: 30 }), fc.integer({ min: 40, max: 300 }), async (us, target) => {
        const blob = `mem://cli-prop-${n++}`;
        const w = await run(['write-batch', '--blob', blob, '--shard', 'p', '--lower', '[["0"]]', '--upper', '[]', '--since', '[["3"]]', '--target-part-bytes', String(target)], ndjson(us));
        expect(w.code).toBe(0);
        const r = await run(['read-batch', '--blob', blob, '--shard', 'p'], w.stdout);
        expect(r.code).toBe(0);
        expect(r.stdout).toBe(ndjson(consolidate(us, [[3n]])));
      }),
      { numRuns: 20 },
    );
  });

  it('--inline carries the parts in the batch; --unordered keeps rows as given', async () => {
    const w = await run(['write-batch', '--blob', 'mem://inline-w', '--shard', 's', ...SAMPLE_FLAGS, '--inline'], SAMPLE);
    expect(w.code).toBe(0);
    expect(JSON.parse(w.stdout).runs[0].parts[0].inline.data).toMatch(/^[A-Za-z0-9+/]+=*$/);
    const r = await run(['read-batch', '--blob', 'mem://inline-r-empty', '--shard', 's'], w.stdout);
    expect(r.stdout).toBe(expectedSample());

    const u = await run(['write-batch', '--blob', 'mem://unordered', '--shard', 's', '--lower', '[["0","0"]]', '--upper', '[["10","10"]]', '--unordered', '--compression', 'zstd'], SAMPLE);
    expect(u.code).toBe(0);
    expect(JSON.parse(u.stdout).runs[0].order).toBe('RUN_ORDER_UNORDERED');
    expect(JSON.parse(u.stdout).len).toBe('6');
    const ur = await run(['read-batch', '--blob', 'mem://unordered', '--shard', 's'], u.stdout);
    const us = SAMPLE.split('\n').filter(Boolean).map((l) => updateFromNdjsonLine(l, 2));
    expect(ur.stdout).toBe(ndjson(consolidate(us, [[0n, 0n]])));
  });

  it('reads CRLF input and skips blank lines', async () => {
    const w = await run(['write-batch', '--blob', 'mem://crlf', '--shard', 's', '--lower', '[["0"]]', '--upper', '[]'], `\r\n${line('a', [1], 1)}\r\n\r\n${line('b', [1], 1)}`);
    expect(w.code).toBe(0);
    expect(hollowBatchFromJson(w.stdout).len).toBe(2);
  });

  describe('on S3', () => {
    let s3: S3rverHandle;
    beforeAll(async () => {
      s3 = await startS3rver({ prefix: 'cli' });
    });
    afterAll(async () => {
      await s3?.stop();
    });

    it('round-trips', async () => {
      const w = await run(['write-batch', '--blob', s3.url, '--shard', 's3shard', ...SAMPLE_FLAGS, '--target-part-bytes=60'], SAMPLE);
      expect(w.stderr).toBe('');
      expect(hollowBatchFromJson(w.stdout).runs[0].parts.length).toBeGreaterThan(1);
      const r = await run(['read-batch', '--blob', s3.url, '--shard', 's3shard'], w.stdout);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe(expectedSample());
    });
  });
});

describe('errors are one line with the status code name', () => {
  const W = ['write-batch', '--blob', 'mem://errors', '--shard', 's1'];
  const D1 = ['--lower', '[["0"]]', '--upper', '[["10"]]'];

  it.each([
    ['a missing flag', [...W, '--lower', '[["0"]]'], '', /^compactd write-batch: --upper is required \(see compactd write-batch --help\)$/],
    ['an unknown flag', [...W, ...D1, '--colour', 'red'], '', /^compactd write-batch: unknown flag --colour \(see compactd write-batch --help\)$/],
    ['a mistyped flag', [...W, ...D1, '--uper', '[]'], '', /^compactd write-batch: unknown flag --uper \(did you mean --upper\?\)$/],
    ['a bad frontier', [...W, '--lower', '[["0"],["1"]]', '--upper', '[]'], '', /^compactd write-batch: --lower: \{0, 1\} is not an antichain/],
    ['frontier JSON that does not parse', [...W, '--lower', '[[0]', '--upper', '[]'], '', /^compactd write-batch: bad --lower JSON: /],
    ['frontiers of different dims', [...W, '--lower', '[["0"]]', '--upper', '[["1","1"]]'], '', /^compactd write-batch: --upper has 2 coordinates, --lower 1$/],
    ['empty frontiers without --dims', [...W, '--lower', '[]', '--upper', '[]'], '', /^compactd write-batch: cannot infer the number of coordinates/],
    ['bad JSON on stdin', [...W, ...D1], `${line('a', [1], 1)}\n{"k": nope}\n`, /^INVALID_ARGUMENT: stdin line 2: bad NDJSON update: /],
    ['bad base64', [...W, ...D1], '{"k":"a$b=","v":"","t":["1"],"d":"1"}', /^INVALID_ARGUMENT: stdin line 1: k: "a\$b=" is not base64$/],
    ['wrong dims', [...W, ...D1], `${line('a', [1, 2], 1)}\n`, /^INVALID_ARGUMENT: stdin line 1: t: has 2 coordinates, expected 1$/],
    ['a time beyond upper', [...W, ...D1], `${line('a', [1], 1)}\n${line('a', [12], 1)}\n`, /^INVALID_ARGUMENT: stdin line 2: time 12 is beyond --upper \{10\}$/],
    ['a time below lower', [...W, '--lower', '[["1","1"]]', '--upper', '[]'], `${line('a', [1, 0], 1)}\n`, /^INVALID_ARGUMENT: stdin line 1: time \(1,0\) is not beyond --lower \{\(1,1\)\}$/],
    ['a diff outside i64', [...W, ...D1], `${line('a', [1], '9223372036854775808')}\n`, /^INVALID_ARGUMENT: stdin line 1: d: 9223372036854775808 leaves the int64 range$/],
    ['a sum outside i64', [...W, ...D1], `${line('a', [1], '9223372036854775807')}\n${line('a', [1], 1)}\n`, /^OUT_OF_RANGE: diff sum leaves the i64 range$/],
    ['a bad store URL', ['write-batch', '--blob', 'ftp://x', '--shard', 's', ...D1], '', /^INVALID_ARGUMENT: .*ftp:\/\/x/],
    ['a bad shard', ['read-batch', '--blob', 'mem://errors', '--shard', 'a/b'], '{}', /^compactd read-batch: bad shard id "a\/b": use 1 to 128 letters, digits, "_" or "-", starting with a letter or digit$/],
    ['a batch that is not JSON', ['read-batch', '--blob', 'mem://errors', '--shard', 's1'], 'nope', /^INVALID_ARGUMENT: bad HollowBatch or CompactResponse JSON: /],
    ['a batch without desc', ['read-batch', '--blob', 'mem://errors', '--shard', 's1'], '{"runs":[]}', /^INVALID_ARGUMENT: desc: missing$/],
    ['a batch with an unknown field', ['read-batch', '--blob', 'mem://errors', '--shard', 's1'], '{"desc":{},"partz":[]}', /^INVALID_ARGUMENT: partz: unknown field of HollowBatch$/],
  ])('%s', async (_name, argv, input, re) => {
    expectError(await run(argv, input), re);
  });

  it('a missing part is NOT_FOUND naming it; a changed part is DATA_LOSS', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'compactd-cli-err-'));
    try {
      const blob = `file://${dir}`;
      const w = await run(['write-batch', '--blob', blob, '--shard', 's1', '--lower', '[["0"]]', '--upper', '[]'], `${line('a', [1], 1)}\n`);
      const key = JSON.parse(w.stdout).runs[0].parts[0].hollow.key as string;
      const file = join(dir, 's1', key);
      const bytes = await readFile(file);
      bytes[bytes.length - 20] ^= 0xff;
      await writeFile(file, bytes);
      expectError(await run(['read-batch', '--blob', blob, '--shard', 's1'], w.stdout), new RegExp(`^DATA_LOSS: part s1/${key} fails its checksum$`));
      await rm(file);
      expectError(await run(['read-batch', '--blob', blob, '--shard', 's1'], w.stdout), new RegExp(`^NOT_FOUND: part s1/${key} is missing$`));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('as a child process', () => {
  function spawnCli(args: string[], input: string): Promise<Result> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'test', 'cli', 'entry.ts'), ...args], { cwd: ROOT, stdio: 'pipe' });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
      child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
      child.stdin.end(input);
    });
  }

  it('writes and reads a batch through real stdin/stdout, and exits 2 with one line on a usage error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'compactd-cli-child-'));
    try {
      const blob = `file://${dir}`;
      const w = await spawnCli(['write-batch', '--blob', blob, '--shard', 'c1', ...SAMPLE_FLAGS, '--target-part-bytes', '80'], SAMPLE);
      expect(w.stderr).toBe('');
      expect(w.code).toBe(0);
      const r = await spawnCli(['read-batch', '--blob', blob, '--shard', 'c1'], w.stdout);
      expect(r).toEqual({ code: 0, stdout: expectedSample(), stderr: '' });
      const bad = await spawnCli(['read-batch', '--blob', blob], '');
      expect(bad).toEqual({ code: 2, stdout: '', stderr: 'compactd read-batch: --shard is required (see compactd read-batch --help)\n' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('help text and usage errors, as a person meets them', () => {
  it('serve --help shows value placeholders, allowed values, one default style and --version', async () => {
    const r = await runChild(['serve', '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\n {2}--port PORT +gRPC port/);
    expect(r.stdout).toMatch(/\n {2}--blob URL +/);
    expect(r.stdout).toMatch(/\n {2}--compression none\|zstd\|lz4 +/);
    expect(r.stdout).toMatch(/\n {2}--log-level LEVEL +.*one of fatal, error, warn, info, debug, trace, silent \(default info\)/);
    expect(r.stdout).toMatch(/\n {2}--log-format auto\|json\|pretty +/);
    expect(r.stdout).toContain('(default 0: never)');
    expect(r.stdout).toMatch(/\n {2}--version +/);
    expect(r.stdout).not.toContain('(default:');
    expect((await runChild(['serve', '--version'])).stdout).toMatch(/^compactd \d+\.\d+\.\d+\n$/);
  });

  it('orphans --help marks --blob required without a default', async () => {
    const r = await run(['orphans', '--help']);
    expect(r.stdout).toMatch(/\n {2}--blob URL +.*\(required\)\n/);
    expect(r.stdout).not.toContain('required; default');
  });

  it('a mistyped flag gets "did you mean", exit 2, no status code name', async () => {
    const r = await runChild(['compact', '--endpont', '127.0.0.1:1']);
    expect(r).toEqual({ code: 2, stdout: '', stderr: 'compactd compact: unknown flag --endpont (did you mean --endpoint?)\n' });
    const s = await runChild(['serve', '--queue-sise', '3']);
    expect(s.code).toBe(2);
    expect(s.stderr).toBe('compactd serve: unknown flag --queue-sise (did you mean --queue-size?)\n');
  });

  it('COMPACTD_PORT=abc makes health fail clearly instead of probing the default port', async () => {
    const r = await runChild(['health'], '', { env: { COMPACTD_PORT: 'abc' } });
    expect(r).toEqual({ code: 2, stdout: '', stderr: 'compactd health: COMPACTD_PORT: expected a whole number from 0 to 65535, got "abc"\n' });
  });
});
