/**
 * The `compactd` command is a shell launcher (bin/compactd -> bin/compactd-node -> node): it must
 * run the CLI from wherever npm links it, hand the process over to node itself (a supervisor's
 * signal reaches node, not a shell), and give node glibc's malloc settings unless the user set
 * their own (docs/design.md, "Memory from the operating system").
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/cli.js';

const LAUNCHER = join(ROOT, 'bin', 'compactd');
const NODE = join(ROOT, 'bin', 'compactd-node');

/** The environment of a person's terminal: without the test runner's preloads or a GLIBC_TUNABLES of its own. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { NODE_OPTIONS: _preloads, GLIBC_TUNABLES: _tunables, ...base } = process.env;
  return { ...base, ...extra };
}

/** Prints what a script run by `bin/compactd-node` sees. */
function nodeSays(script: string, env: NodeJS.ProcessEnv): string {
  const r = spawnSync(NODE, ['-e', script], { env, encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout.trim();
}

/**
 * Allocates a 64 MiB buffer, touches it, and prints the VmFlags of the mapping that holds it:
 * `hg` is glibc's madvise(MADV_HUGEPAGE) (Linux's smaps; the mapping is the one whose range
 * contains the buffer's first byte, found through a marker written into it).
 */
const MAPPING_FLAGS = `
const size = 64 * 1024 * 1024;
const b = Buffer.allocUnsafe(size);
b.fill(1);
const smaps = require('node:fs').readFileSync('/proc/self/smaps', 'utf8');
const big = smaps.split(/\\n(?=[0-9a-f]+-[0-9a-f]+ )/).filter((m) => {
  const [lo, hi] = m.split(' ')[0].split('-').map((x) => parseInt(x, 16));
  return hi - lo >= size && hi - lo < size + (4 << 20) && /VmFlags:.* rd wr/.test(m);
});
console.log(JSON.stringify(big.map((m) => /VmFlags:(.*)/.exec(m)[1].trim().split(' '))));
`;

describe('the compactd launcher', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'compactd-launcher-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('runs the CLI through a symlink, as npm links it into node_modules/.bin', async () => {
    const link = join(dir, 'compactd');
    await symlink(LAUNCHER, link);
    const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string; bin: Record<string, string> };
    expect(pkg.bin.compactd).toBe('bin/compactd');
    const r = spawnSync(link, ['--version'], { env: cleanEnv(), encoding: 'utf8', cwd: dir });
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`compactd ${pkg.version}\n`);
    expect(r.status).toBe(0);
    // Exit codes pass through: a usage error is 2.
    const bad = spawnSync(link, ['no-such-command'], { env: cleanEnv(), encoding: 'utf8', cwd: dir });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^compactd: unknown command "no-such-command"/);
  });

  it('sets the malloc settings when GLIBC_TUNABLES is unset, and keeps a value the user set, even empty', () => {
    const set = nodeSays('console.log(process.env.GLIBC_TUNABLES)', cleanEnv());
    expect(set.split(':').sort()).toEqual(['glibc.malloc.arena_max=1', 'glibc.malloc.hugetlb=1', 'glibc.malloc.mmap_threshold=33554432', 'glibc.malloc.trim_threshold=268435456']);
    expect(nodeSays('console.log(process.env.GLIBC_TUNABLES)', cleanEnv({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }))).toBe('glibc.malloc.arena_max=2');
    expect(nodeSays('console.log(JSON.stringify(process.env.GLIBC_TUNABLES))', cleanEnv({ GLIBC_TUNABLES: '' }))).toBe('""');
  });

  it('large buffers are marked for huge pages under the launcher, and not without its settings', () => {
    const under = JSON.parse(nodeSays(MAPPING_FLAGS, cleanEnv())) as string[][];
    expect(under.length).toBeGreaterThan(0);
    expect(under.every((flags) => flags.includes('hg'))).toBe(true);
    const without = JSON.parse(nodeSays(MAPPING_FLAGS, cleanEnv({ GLIBC_TUNABLES: '' }))) as string[][];
    expect(without.length).toBeGreaterThan(0);
    expect(without.some((flags) => flags.includes('hg'))).toBe(false);
  });

  it('execs: the process started is node itself, so signals reach it directly', async () => {
    const child = spawn(LAUNCHER, ['serve', '--port', '0', '--metrics-port', '0', '--blob', `file://${dir}/store`, '--log-format', 'json'], {
      env: cleanEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    const end = Date.now() + 30_000;
    while (!out.includes('"server serving"')) {
      if (child.exitCode !== null || Date.now() > end) throw new Error(`serve did not start: ${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const comm = (await readFile(`/proc/${child.pid}/comm`, 'utf8')).trim();
    expect(comm).toBe('node');
    const environ = (await readFile(`/proc/${child.pid}/environ`, 'utf8')).split('\0');
    expect(environ.some((e) => e.startsWith('GLIBC_TUNABLES=glibc.malloc.hugetlb=1'))).toBe(true);
    // SIGTERM to that pid drains and exits 0, as it does for `node bin/compactd.js serve`.
    child.kill('SIGTERM');
    expect(await exited).toEqual({ code: 0, signal: null });
  }, 60_000);
});
