/**
 * `compactd serve` as a real child process for crash tests: started through the CLI entry with
 * tsx, its JSON log lines parsed as they arrive, killable with any signal.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import { ROOT } from '../helpers/cli.js';
import type { LogLine } from '../service/harness.js';

const ENTRY = path.join(ROOT, 'test', 'cli', 'entry.ts');

export interface ServeChild {
  readonly proc: ChildProcess;
  readonly lines: LogLine[];
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
  /** Resolves with the ports once the server logged `server serving`. */
  serving(): Promise<{ port: number; metricsPort: number }>;
  /** Resolves once a log line satisfies `pred`; rejects if the process exits first or after `ms`. */
  waitFor(pred: (l: LogLine) => boolean, ms?: number): Promise<LogLine>;
}

/** Starts `compactd serve` with `args` (ports 0 are added). */
export function startServeChild(args: string[]): ServeChild {
  const proc = spawn(process.execPath, ['--import', 'tsx', ENTRY, 'serve', '--port', '0', '--metrics-port', '0', ...args], {
    cwd: ROOT,
    env: { ...process.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: LogLine[] = [];
  const waiters = new Set<() => void>();
  let pending = '';
  let err = '';
  proc.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    const parts = (pending + chunk).split('\n');
    pending = parts.pop()!;
    for (const l of parts) if (l.trim()) lines.push(JSON.parse(l) as LogLine);
    for (const w of waiters) w();
  });
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once('exit', (code, signal) => {
      for (const w of waiters) w();
      resolve({ code, signal });
    }),
  );
  const waitFor = (pred: (l: LogLine) => boolean, ms = 60_000) =>
    new Promise<LogLine>((resolve, reject) => {
      const check = () => {
        const hit = lines.find(pred);
        if (hit) {
          done();
          resolve(hit);
        } else if (proc.exitCode !== null || proc.signalCode !== null) {
          done();
          reject(new Error(`serve exited before the awaited log line: ${err}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error('awaited log line did not come in time'));
      }, ms);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  return {
    proc,
    lines,
    exit,
    stderr: () => err,
    async serving() {
      const l = await waitFor((x) => x.msg === 'server serving');
      return { port: l.port as number, metricsPort: l.metricsPort as number };
    },
    waitFor,
  };
}
