/** Runs the CLI in-process with injected streams, for command tests. */
import { spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { expect } from 'vitest';
import { main } from '../../src/cli/main.js';

export const ROOT = join(import.meta.dirname, '..', '..');

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export function sink() {
  const s = { text: '', write: (c: string) => ((s.text += c), true), once: () => s };
  return s;
}

/** Runs the CLI in this process with `input` on stdin. */
export async function run(argv: string[], input = '', cwd = ROOT): Promise<Result> {
  const stdout = sink();
  const stderr = sink();
  const code = await main(argv, { stdin: Readable.from([Buffer.from(input)]), stdout, stderr, cwd });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

/**
 * One line on stderr, nothing on stdout; exit 2 for a usage error (a pattern for
 * `compactd <command>: ...`), else exit 1.
 */
export function expectError(r: Result, re: RegExp): void {
  expect(r.code).toBe(/^\^compactd[ :]/.test(re.source) ? 2 : 1);
  expect(r.stdout).toBe('');
  expect(r.stderr.endsWith('\n')).toBe(true);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr.trimEnd()).toMatch(re);
}

/**
 * Runs `compactd <argv>` as a child process (the sources through tsx, as bin/compactd.js runs
 * dist), `input` on its stdin; resolves with what a person would see and the exit code.
 */
export function runChild(argv: readonly string[], input = '', opts: { cwd?: string; env?: Readonly<Record<string, string | undefined>> } = {}): Promise<Result> {
  return new Promise((resolve, reject) => {
    const tsx = pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
    const child = spawn(process.execPath, ['--import', tsx, join(ROOT, 'test', 'cli', 'entry.ts'), ...argv], {
      cwd: opts.cwd ?? ROOT,
      // An undefined value removes the variable from the child's environment.
      env: Object.fromEntries(Object.entries({ ...process.env, ...opts.env }).filter(([, v]) => v !== undefined)),
      stdio: 'pipe',
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(input);
  });
}
