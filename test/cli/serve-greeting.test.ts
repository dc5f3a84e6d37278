/**
 * What a person sees when `compactd serve` starts, as a real child process: on a terminal (a
 * pseudo-terminal from util-linux `script`) a short greeting with the version, the gRPC address,
 * the metrics and page URLs, the store as an absolute URL, the workers and what to try next;
 * piped, JSON records only; --log-format overrides both. A port in use is one clear line and
 * exit 1, with no stray grpc-js line, on a terminal and piped (plus one JSON record there).
 */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';
import { spawnServe } from '../helpers/serve-process.js';
import { httpGetText } from '../service/harness.js';
import { parseExposition } from '../service/prom.js';

const ENTRY = path.join(ROOT, 'test', 'cli', 'entry.ts');
// By file URL: the child runs in a directory with no node_modules.
const TSX = pathToFileURL(path.join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const hasScript = spawnSync('script', ['--version'], { stdio: 'ignore' }).status === 0;
// CI installs util-linux's `script` with the OS; a missing one must fail there, not skip.
const needScript = !hasScript && process.env.CI !== 'true';

let dir: string;
let blocker: Server;
let busyPort: number;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'compactd-greet-'));
  blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  busyPort = (blocker.address() as import('node:net').AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((resolve) => blocker.close(() => resolve()));
  await rm(dir, { recursive: true, force: true });
});

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/**
 * Runs `compactd serve <args>` on a pseudo-terminal in `cwd`. `until` is polled on the output
 * so far; the terminal session is ended (script stops its child) once it holds or the child exits.
 */
async function onTerminal(args: string[], cwd: string, until: (out: string) => boolean): Promise<{ out: string; code: number | null }> {
  const cmd = [process.execPath, '--import', TSX, ENTRY, 'serve', ...args].map(quote).join(' ');
  // -e: the child's exit code; -f: flush as it comes; the typescript file is /dev/null.
  const proc = spawn('script', ['-qefc', cmd, '/dev/null'], { cwd, env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
  proc.stderr.setEncoding('utf8').on('data', (c: string) => (out += c));
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const end = Date.now() + 60_000;
  while (!until(out) && proc.exitCode === null && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
  if (proc.exitCode === null) proc.kill('SIGTERM');
  const code = await exited;
  return { out: out.replace(/\r\n/g, '\n'), code };
}

describe.skipIf(needScript)(`compactd serve start-up${needScript ? ' (skipped: no util-linux script)' : ''}`, { timeout: 180_000 }, () => {
  it('greets a terminal with the version, addresses, absolute store, workers and what to try', async () => {
    const { out } = await onTerminal(['--port', '0', '--metrics-port', '0', '--workers', '1', '--blob', 'file://./data'], dir, (o) => o.includes('try:'));
    const line = (label: string) => out.split('\n').find((l) => l.trimStart().startsWith(label)) ?? '';
    expect(out).toContain(`compactd ${VERSION} is serving`);
    const grpc = /^\s*gRPC\s+(127\.0\.0\.1:\d+) \(plain text, no token\)$/.exec(line('gRPC'));
    expect(grpc).not.toBeNull();
    const metrics = /^\s*metrics\s+(http:\/\/127\.0\.0\.1:(\d+)\/metrics)$/.exec(line('metrics'));
    expect(metrics).not.toBeNull();
    expect(line('page')).toMatch(/^\s*page\s+http:\/\/127\.0\.0\.1:\d+\/$/);
    // The store is absolute: a demo started from another directory still finds it.
    const store = pathToFileURL(path.join(dir, 'data')).href;
    expect(line('store')).toMatch(new RegExp(`^\\s*store\\s+${store.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}$`));
    expect(line('workers')).toMatch(/^\s*workers\s+1$/);
    expect(line('try:')).toContain(`compactd demo --endpoint ${grpc![1]} --blob ${store}`);
    // Human lines only: nothing on the terminal is a JSON record.
    expect(out.split('\n').filter((l) => l.startsWith('{'))).toEqual([]);
  });

  it('writes JSON records when stdout is a pipe, with the same facts in the serving record', async () => {
    const child = spawnServe(['--port', '0', '--metrics-port', '0', '--workers', '1', '--blob', pathToFileURL(dir).href]);
    try {
      const end = Date.now() + 60_000;
      while (!child.lines.some((l) => l.msg === 'server serving') && child.proc.exitCode === null && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
      const serving = child.lines.find((l) => l.msg === 'server serving')!;
      expect(serving).toMatchObject({ version: VERSION, blob: pathToFileURL(dir).href, workers: 1, tls: 'off', auth: false });
      expect(serving.metricsUrl).toBe(`http://127.0.0.1:${serving.metricsPort as number}/metrics`);
      expect(serving.address).toBe(`127.0.0.1:${serving.port as number}`);
      // The page names the build and where to look; every answer of that port names the gRPC port.
      const page = await httpGetText(serving.metricsPort as number, '/');
      expect(page.status).toBe(200);
      expect(page.body).toContain(`compactd ${VERSION}`);
      expect(page.body).toContain(`gRPC     127.0.0.1:${serving.port as number}`);
      const exposition = parseExposition((await httpGetText(serving.metricsPort as number, '/metrics')).body);
      expect(exposition.get(`compactd_build_info{version="${VERSION}"}`)).toBe(1);
    } finally {
      child.proc.kill('SIGTERM');
      await child.exit;
    }
    expect(child.stderr()).toBe('');
  });

  it('follows --log-format over the terminal test, both ways', async () => {
    const json = await onTerminal(['--port', '0', '--metrics-port', '0', '--workers', '1', '--log-format', 'json', '--blob', pathToFileURL(dir).href], dir, (o) =>
      o.includes('"server serving"'),
    );
    const records = json.out.split('\n').filter((l) => l.trim() !== '');
    expect(records.length).toBeGreaterThan(0);
    for (const r of records.slice(0, 3)) expect(() => JSON.parse(r) as unknown).not.toThrow();

    const child = spawnServe(['--port', '0', '--metrics-port', '0', '--workers', '1', '--blob', pathToFileURL(dir).href, '--log-format', 'pretty'], {});
    // spawnServe parses JSON lines: a human line makes it record a parse failure instead.
    const texts: string[] = [];
    child.proc.stdout!.removeAllListeners('data').on('data', (c: string) => texts.push(c));
    const end = Date.now() + 60_000;
    while (!texts.join('').includes('try:') && Date.now() < end && child.proc.exitCode === null) await new Promise((r) => setTimeout(r, 20));
    child.proc.kill('SIGTERM');
    await child.exit;
    expect(texts.join('')).toContain(`compactd ${VERSION} is serving`);
    expect(texts.join('')).not.toContain('{"level"');
  });

  it('says a port in use in one line and exits 1 on a terminal, with no grpc-js line', async () => {
    const { out, code } = await onTerminal(['--port', String(busyPort), '--metrics-port', '0', '--workers', '1', '--blob', pathToFileURL(dir).href], dir, () => false);
    expect(code).toBe(1);
    expect(out).not.toMatch(/No address added/);
    const errors = out.split('\n').filter((l) => /UNAVAILABLE|fail|error/i.test(l));
    expect(errors).toEqual([
      `UNAVAILABLE: cannot listen on 127.0.0.1:${busyPort} for gRPC (--port): the port is already in use (another process listens there; pick another port or stop it)`,
    ]);
  });

  it('says a bad option in one line and one JSON record when piped, and exits 2', async () => {
    const child = spawnServe(['--queue-size', 'x']);
    expect((await child.exit).code).toBe(2);
    expect(child.stderr()).toBe('compactd serve: --queue-size: expected a whole number >= 1, got "x"\n');
    expect(child.lines).toEqual([
      expect.objectContaining({ level: 60, msg: 'server failed to start', kind: 'invalid', error: '--queue-size: expected a whole number >= 1, got "x"' }),
    ]);
  });

  it('says a port in use in one line and one JSON record when piped, and exits 1', async () => {
    for (const args of [
      ['--port', String(busyPort), '--metrics-port', '0'],
      ['--port', '0', '--metrics-port', String(busyPort)],
    ]) {
      const child = spawnServe([...args, '--workers', '1', '--blob', pathToFileURL(dir).href]);
      expect((await child.exit).code).toBe(1);
      const which = args[1] === String(busyPort) ? 'gRPC (--port)' : 'metrics (--metrics-port)';
      const message = `cannot listen on 127.0.0.1:${busyPort} for ${which}: the port is already in use (another process listens there; pick another port or stop it)`;
      expect(child.stderr()).toBe(`UNAVAILABLE: ${message}\n`);
      const fatal = child.lines.filter((l) => l.level >= 50);
      expect(fatal).toEqual([expect.objectContaining({ level: 60, msg: 'server failed to start', state: 'stopped', kind: 'unavailable', error: message })]);
      expect(child.lines.at(-1)!.msg).toBe('server failed to start');
    }
  });
});
