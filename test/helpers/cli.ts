/** Runs the CLI in-process with injected streams, for command tests. */
import { Readable } from 'node:stream';
import { join } from 'node:path';
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

/** One line on stderr, nothing on stdout, exit 1. */
export function expectError(r: Result, re: RegExp): void {
  expect(r.code).toBe(1);
  expect(r.stdout).toBe('');
  expect(r.stderr.endsWith('\n')).toBe(true);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr.trimEnd()).toMatch(re);
}
