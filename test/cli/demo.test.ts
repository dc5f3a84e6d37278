/**
 * `compactd demo` as a user runs it: real child processes against a real `compactd serve` on
 * port 0. A compaction split into chunks verifies; a dead endpoint fails fast and writes nothing;
 * progress goes to stderr; what the demo wrote is gone on every path (success, failure, the
 * service killed mid-compaction) once it says so; a demo whose store differs from the service's
 * says so and names both. The serve log warns about a memory bound too small for the target part
 * size at start-up and after UpdateConfig.
 */
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CompactorClient } from '../../src/client/compactor-client.js';
import { MEMORY_BOUND_WARNING, memoryBoundWarning } from '../../src/config/options.js';
import { ROOT } from '../helpers/cli.js';
import { servingPorts, spawnServe, type ServeProcess } from '../helpers/serve-process.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const TSX = pathToFileURL(path.join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
const ENTRY = path.join(ROOT, 'test', 'cli', 'entry.ts');

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `compactd <args>` as a child process in `cwd`; `onStderr` sees stderr as it comes. */
function cli(args: string[], cwd: string, onStderr: (text: string) => void = () => {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, ENTRY, ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
      onStderr(stderr);
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** Every file under `dir` (recursively), temp files included; [] when it does not exist. */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

const lines = (text: string) => text.trimEnd().split('\n');

let dir: string;
let store: string;
let serve: ServeProcess;
let endpoint: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'compactd-demo-'));
  store = path.join(dir, 'data');
  // 128MiB cannot hold 2 output + 2 input parts of the default 128MiB: every request splits in pairs.
  serve = spawnServe(['--port', '0', '--metrics-port', '0', '--workers', '1', '--blob', pathToFileURL(store).href, '--memory-bound-bytes', '128MiB']);
  endpoint = `127.0.0.1:${(await servingPorts(serve)).port}`;
});

afterAll(async () => {
  if (serve && serve.proc.exitCode === null) {
    serve.proc.kill('SIGTERM');
    await serve.exit;
  }
  await rm(dir, { recursive: true, force: true });
});

describe('compactd demo', () => {
  it('verifies a compaction split into chunks, shows progress, and cleans up after saying so', async () => {
    const r = await cli(['demo', '--endpoint', endpoint, '--blob', pathToFileURL(store).href, '--batches', '8', '--rows', '300'], dir);
    expect(r.code, r.stderr).toBe(0);
    const out = lines(r.stdout);
    expect(r.stdout).toMatch(/verified +yes: consolidated output equals the reference consolidation/);
    const runs = Number(/output runs +(\d+)/.exec(r.stdout)![1]);
    const chunks = Number(/chunks +(\d+)/.exec(r.stdout)![1]);
    expect(chunks).toBeGreaterThan(1);
    expect(runs).toBe(chunks);
    expect(out[out.length - 1]).toMatch(/^cleaned up: \d+ output parts deleted through DeleteParts, 8 input parts removed$/);
    expect(await filesUnder(store)).toEqual([]);
    // Progress on stderr, one line per batch written, then the compaction.
    const progress = lines(r.stderr);
    for (let i = 1; i <= 8; i++) expect(progress).toContain(`writing inputs to ${pathToFileURL(store).href}: batch ${i}/8 (${i === 1 ? 300 : 525} updates)`);
    expect(progress[progress.length - 1]).toMatch(new RegExp(`^compacting \\d+ parts through ${endpoint}$`));
  });

  it('fails fast against a dead endpoint, with one line, writing nothing', async () => {
    const elsewhere = path.join(dir, 'never-written');
    const r = await cli(['demo', '--endpoint', '127.0.0.1:1', '--blob', pathToFileURL(elsewhere).href], dir);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/^UNAVAILABLE: demo: no compactd service answers at 127\.0\.0\.1:1 \(127\.0\.0\.1:1 is unreachable \(connection refused\).*\); nothing was written\n$/);
    expect(await filesUnder(elsewhere)).toEqual([]);
  });

  it('says that the two stores differ, naming both, when run from another directory with the default store', async () => {
    const other = path.join(dir, 'elsewhere');
    await mkdir(other);
    const r = await cli(['demo', '--endpoint', endpoint, '--batches', '8', '--rows', '100'], other);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    const err = lines(r.stderr);
    expect(err[err.length - 1]).toBe(
      `NOT_FOUND: demo: the service and this demo use different stores: the demo wrote its inputs to ${pathToFileURL(path.join(other, 'data')).href}, ` +
        `the service reads ${pathToFileURL(store).href}; run the demo with --blob set to the service's store`,
    );
    expect(err[err.length - 2]).toBe('cleaned up: 8 input parts removed');
    expect(await filesUnder(path.join(other, 'data'))).toEqual([]);
  });

  it('cleans up when the service dies mid-compaction, and reports what it removed', async () => {
    const own = path.join(dir, 'slow');
    // Slow store operations on the service's side give the test time to kill it mid-compaction.
    const slow = spawnServe(['--port', '0', '--metrics-port', '0', '--workers', '1', '--blob', pathToFileURL(own).href, '--blob-faults', 'latencyMs=1000']);
    try {
      const port = (await servingPorts(slow)).port;
      let killed = false;
      const r = await cli(['demo', '--endpoint', `127.0.0.1:${port}`, '--blob', pathToFileURL(own).href, '--batches', '8', '--rows', '200'], dir, (text) => {
        if (!killed && /^compacting /m.test(text)) {
          killed = true;
          // Once the service has had time to start reading: it dies with the work in flight.
          setTimeout(() => slow.proc.kill('SIGKILL'), 600);
        }
      });
      expect(killed).toBe(true);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      const err = lines(r.stderr);
      expect(err[err.length - 1]).toMatch(/^UNAVAILABLE: /);
      expect(err[err.length - 2]).toMatch(/^cleaned up: 8 input parts removed/);
      expect(await filesUnder(own)).toEqual([]);
    } finally {
      if (slow.proc.exitCode === null) slow.proc.kill('SIGKILL');
      await slow.exit;
    }
  });
});

describe('memory bound warning', () => {
  it('names both options and the consequence, from 4 target parts down', () => {
    expect(memoryBoundWarning({ memoryBoundBytes: 1 * GiB, targetPartBytes: 128 * MiB })).toBeUndefined();
    expect(memoryBoundWarning({ memoryBoundBytes: 512 * MiB, targetPartBytes: 128 * MiB })).toBeUndefined();
    const w = memoryBoundWarning({ memoryBoundBytes: 512 * MiB - 1, targetPartBytes: 128 * MiB })!;
    expect(w).toMatch(/^--memory-bound-bytes 536870911 cannot hold two output parts plus two input parts of --target-part-bytes 128MiB \(512MiB needed\)/);
    expect(w).toMatch(/split into chunks of two runs each, one output run per chunk/);
    expect(memoryBoundWarning({ memoryBoundBytes: 1 * GiB, targetPartBytes: 10 * 1024 * GiB })).toMatch(/--target-part-bytes 10TiB \(40TiB needed\)/);
  });

  it('is logged at start-up and after each UpdateConfig that leaves the bound too small', async () => {
    const warnings = () => serve.lines.filter((l) => l.msg === MEMORY_BOUND_WARNING);
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toMatchObject({ level: 40, memoryBoundBytes: 128 * MiB, targetPartBytes: 128 * MiB });
    expect(String(warnings()[0].warning)).toMatch(/^--memory-bound-bytes 128MiB cannot hold .* --target-part-bytes 128MiB/);
    const client = new CompactorClient({ address: endpoint, retries: 0 });
    const logged = async (n: number) => {
      for (let i = 0; i < 200 && warnings().length < n; i++) await new Promise((r) => setTimeout(r, 10));
      return warnings().length;
    };
    try {
      await client.updateConfig({ queueSize: 21 });
      expect(await logged(2)).toBe(2);
      await client.updateConfig({ memoryBoundBytes: 1 * GiB });
      await client.updateConfig({ targetPartBytes: 10 * 1024 * GiB });
      expect(await logged(3)).toBe(3);
      expect(String(warnings()[2].warning)).toMatch(/--memory-bound-bytes 1GiB .* --target-part-bytes 10TiB/);
      // Only the 1GiB update left a fitting pair: no warning came from it.
      expect(serve.lines.filter((l) => l.msg === 'config updated')).toHaveLength(3);
    } finally {
      await client.updateConfig({ memoryBoundBytes: 128 * MiB, targetPartBytes: 128 * MiB });
      client.close();
    }
  });
});
