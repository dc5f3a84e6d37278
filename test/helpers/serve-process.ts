/**
 * `compactd serve` as a child process for deployment tests: started from the sources the way
 * bin/compactd.js starts it from dist, JSON log lines captured, ports read from the `server
 * serving` line (the service binds port 0 and logs what it chose).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { ROOT } from './cli.js';
import type { LogLine } from '../service/harness.js';

const ENTRY = path.join(ROOT, 'test', 'cli', 'entry.ts');

export interface ServeProcess {
  readonly proc: ChildProcess;
  readonly lines: LogLine[];
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

/**
 * Spawns `compactd serve <args>` with `env` added to this process's environment; `prefix` is a
 * command the node process runs under (e.g. `setpriv --reuid=nobody ...`).
 */
export function spawnServe(args: readonly string[], env: Readonly<Record<string, string>> = {}, prefix: readonly string[] = []): ServeProcess {
  const argv = [process.execPath, '--import', 'tsx', ENTRY, 'serve', ...args];
  const all = [...prefix, ...argv];
  const proc = spawn(all[0], all.slice(1), {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  let pending = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (pending + chunk).split('\n');
    pending = parts.pop()!;
    for (const l of parts) if (l.trim()) lines.push(JSON.parse(l) as LogLine);
  });
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => resolve({ code, signal })),
  );
  return { proc, lines, exit, stderr: () => err };
}

/** Waits for the `server serving` log line and returns the ports it names. */
export async function servingPorts(child: ServeProcess, ms = 60_000): Promise<{ port: number; metricsPort: number }> {
  const end = Date.now() + ms;
  for (;;) {
    const line = child.lines.find((l) => l.msg === 'server serving');
    if (line) return { port: line.port as number, metricsPort: line.metricsPort as number };
    if (child.proc.exitCode !== null || Date.now() > end) throw new Error(`serve did not start: ${child.stderr()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
