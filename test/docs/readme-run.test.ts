/**
 * The README's "Quick start" and "Your first request" run as written: their fenced `sh` blocks
 * are parsed out of README.md and run with bash, in a fresh directory, against a real
 * `compactd serve` started by the command `npm start` runs (package.json's start script).
 *
 * What differs from a person's terminal, and why:
 * - The directory has `node_modules/.bin/compactd` pointing at this checkout's bin/compactd
 *   (what `npm link` or `npm install <checkout>` gives, as the README says), so `npx compactd`
 *   resolves locally and never asks the registry.
 * - The service gets free ports through COMPACTD_PORT and COMPACTD_METRICS_PORT (tests run in
 *   parallel), and the README's literal ports 50051 and 9464 in the blocks are replaced by those.
 * - `npm ci` and `npm test` of the quick start are not run (they install and run this suite).
 * - NODE_OPTIONS is dropped: the test runner's preloads are no part of a person's terminal.
 * The output shown in the README's `text` block after read-batch must be what read-batch prints.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

/** The fenced blocks (language and text) of the README section headed `## <title>`. */
function sectionBlocks(readme: string, title: string): { lang: string; text: string }[] {
  const start = readme.indexOf(`\n## ${title}\n`);
  expect(start, `README section ${title}`).toBeGreaterThanOrEqual(0);
  const rest = readme.slice(start + 1);
  const next = rest.indexOf('\n## ', 1);
  const section = next < 0 ? rest : rest.slice(0, next);
  return [...section.matchAll(/```(\w*)\n([\s\S]*?)```/g)].map((m) => ({ lang: m[1], text: m[2] }));
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as import('node:net').AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

let dir: string;
let serve: ChildProcess;
let env: NodeJS.ProcessEnv;
let port: number;
let metricsPort: number;
let readme: string;

/** Runs a README shell block in `dir` the way a person pastes it (bash, stop at the first failure). */
function runBlock(text: string): { code: number | null; stdout: string; stderr: string } {
  const script = text.replaceAll('50051', String(port)).replaceAll('9464', String(metricsPort));
  const r = spawnSync('bash', ['-e', '-o', 'pipefail', '-c', script], { cwd: dir, env, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

beforeAll(async () => {
  readme = await readFile(join(ROOT, 'README.md'), 'utf8');
  dir = await mkdtemp(join(tmpdir(), 'compactd-readme-'));
  await writeFile(join(dir, 'package.json'), '{"name":"readme-run","private":true}\n');
  await mkdir(join(dir, 'node_modules', '.bin'), { recursive: true });
  await symlink(join(ROOT, 'bin', 'compactd'), join(dir, 'node_modules', '.bin', 'compactd'));
  [port, metricsPort] = [await freePort(), await freePort()];
  // A person's terminal, not the test runner's: no NODE_OPTIONS preloads of the runner's own.
  const { NODE_OPTIONS: _runnerPreloads, ...base } = process.env;
  env = { ...base, COMPACTD_PORT: String(port), COMPACTD_METRICS_PORT: String(metricsPort), COMPACTD_LOG_FORMAT: 'json' };

  // What `npm start` runs, with bin/compactd taken from the checkout.
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } };
  const start = pkg.scripts.start.replace('bin/compactd', join(ROOT, 'bin', 'compactd'));
  serve = spawn('bash', ['-c', `exec ${start}`], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  serve.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  const end = Date.now() + 60_000;
  while (!out.includes('"server serving"')) {
    if (serve.exitCode !== null || Date.now() > end) throw new Error(`serve did not start: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}, 90_000);

afterAll(async () => {
  if (serve && serve.exitCode === null) {
    serve.kill('SIGTERM');
    await new Promise((r) => serve.once('exit', r));
  }
  await rm(dir, { recursive: true, force: true });
});

describe('README run as written', () => {
  it('the quick start starts the service with npm start, and its demo and metrics lines work', () => {
    const blocks = sectionBlocks(readme, 'Quick start').filter((b) => b.lang === 'sh');
    expect(blocks).toHaveLength(2);
    expect(blocks[0].text).toMatch(/npm start/);
    const r = runBlock(blocks[1].text);
    expect(r.stderr).not.toMatch(/npm error/);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/compactd_compaction_completed_total(\{[^}]*\})? [1-9]/);
  }, 180_000);

  it('"Your first request" runs as written: SKIPPED with its reason, then compacted and read back', async () => {
    const blocks = sectionBlocks(readme, 'Your first request');
    const sh = blocks.filter((b) => b.lang === 'sh');
    expect(sh).toHaveLength(2);

    const first = runBlock(sh[0].text);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const skipped = JSON.parse(first.stdout) as { outcome: string; reason: string };
    expect(skipped.outcome).toBe('SKIPPED');
    // The reason the README quotes is the one the service gives.
    expect(readme.replace(/\s+/g, ' ')).toContain(`"reason": "${skipped.reason.replaceAll('"', '\\"')}"`);
    expect(skipped.reason).toBe('2 inputs < 8, 2 parts < 8, 4 updates < 1024; set "force": true to compact anyway');
    const request = JSON.parse(await readFile(join(dir, 'request.json'), 'utf8')) as Record<string, unknown>;
    expect(request).toMatchObject({ shardId: 's1', desc: { lower: [['0']], upper: [['10']], since: [['10']] }, force: false });

    const second = runBlock(sh[1].text);
    expect(second.stderr).toBe('');
    expect(second.code).toBe(0);
    const shown = blocks.find((b) => b.lang === 'text');
    expect(second.stdout).toBe(shown!.text);
    const response = JSON.parse(await readFile(join(dir, 'response.json'), 'utf8')) as { outcome: string };
    expect(response.outcome).toBe('COMPACTED');
  }, 180_000);
});
