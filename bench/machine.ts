/**
 * The machine a run happened on, printed above the table: benchmark figures mean little without
 * it, and on a shared machine the load average says how much to trust the wall-clock columns.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';

export interface MachineInfo {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryBytes: number;
  readonly node: string;
  /** The malloc settings this process (and the children that inherit them) run with, if any. */
  readonly glibcTunables?: string;
  /** The kernel's transparent huge page mode: huge pages for large buffers need `madvise` or `always`. */
  readonly thp?: string;
  readonly date: string;
  /** 1, 5 and 15 minute load averages. */
  readonly loadAverage: readonly number[];
  /** The commit the tree is at, when git can tell (plus "+dirty" for local changes). */
  readonly commit?: string;
}

/** Reads the machine's description now (the load average changes during a run). */
export function machineInfo(): MachineInfo {
  return {
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    memoryBytes: totalmem(),
    node: process.version,
    ...(process.env.GLIBC_TUNABLES === undefined ? {} : { glibcTunables: process.env.GLIBC_TUNABLES }),
    ...thpMode(),
    date: new Date().toISOString(),
    loadAverage: loadavg().map((x) => Math.round(x * 100) / 100),
    commit: gitCommit(),
  };
}

function thpMode(): { thp?: string } {
  try {
    const text = readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8');
    const mode = /\[(\w+)\]/.exec(text)?.[1];
    return mode === undefined ? {} : { thp: mode };
  } catch {
    return {};
  }
}

function gitCommit(): string | undefined {
  try {
    const opts = { encoding: 'utf8' as const, stdio: ['ignore', 'pipe', 'ignore'] as ('ignore' | 'pipe')[] };
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], opts).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], opts).trim() !== '';
    return dirty ? `${head}+dirty` : head;
  } catch {
    return undefined;
  }
}

/** The machine as markdown bullet lines; `loadAfter` is the load average when the run ended. */
export function machineMarkdown(m: MachineInfo, loadAfter?: readonly number[]): string {
  const lines = [
    `- CPU: ${m.cpu}, ${m.cores} cores, ${(m.memoryBytes / 1024 ** 3).toFixed(0)} GiB memory`,
    `- Node.js ${m.node}; GLIBC_TUNABLES ${m.glibcTunables === undefined ? 'unset' : `\`${m.glibcTunables}\``}; transparent huge pages: ${m.thp ?? 'unknown'}`,
    `- date: ${m.date}${m.commit === undefined ? '' : `, commit ${m.commit}`}`,
    `- load average (1, 5, 15 min) at start: ${m.loadAverage.join(', ')}${loadAfter === undefined ? '' : `; at end: ${loadAfter.map((x) => x.toFixed(2)).join(', ')}`}`,
  ];
  return lines.join('\n');
}
