/**
 * Timing: warm-up, then repetitions, reported as medians of wall time and of process CPU time.
 * Tasks that are compared run interleaved (a, b, a, b, ...) so a burst of load from another
 * process on a shared machine hits both sides rather than one.
 */

/** One timed repetition. */
export interface Sample {
  readonly wallMs: number;
  /** User + system CPU of the whole process (every thread) during the repetition. */
  readonly cpuMs: number;
}

export interface Summary {
  /** Median wall time over the repetitions. */
  readonly wallMs: number;
  /** Median CPU time over the repetitions. */
  readonly cpuMs: number;
  readonly samples: readonly Sample[];
}

/** A unit of timed work, with untimed preparation and cleanup around every run. */
export interface Task {
  /** Untimed, before each run (warm-up included). */
  readonly before?: () => Promise<void>;
  readonly run: () => Promise<void>;
  /** Untimed, after each run: e.g. delete the outputs. */
  readonly after?: () => Promise<void>;
}

export interface RepOptions {
  /** Untimed rounds before the timed ones (at least this many). */
  readonly warmup: number;
  /**
   * Keep warming up until the warm-up rounds took this long in all: the JIT needs an amount of
   * work, not a number of calls, before a small input runs at its steady speed.
   */
  readonly warmupMs?: number;
  readonly reps: number;
}

/** Warm-up never takes more rounds than this, whatever `warmupMs` asks. */
const MAX_WARMUP_ROUNDS = 20;

/** The median of `xs` (mean of the middle two for an even count); NaN when empty. */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The q-quantile of `xs` (0 <= q <= 1) by the nearest-rank method; NaN when empty. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.min(s.length, Math.max(1, Math.ceil(q * s.length)));
  return s[rank - 1];
}

/** Runs a full collection when the process was started with --expose-gc; a no-op otherwise. */
export function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc !== undefined) gc();
}

/** Times one call of `fn` (wall and process CPU). */
export async function timeOnce(fn: () => Promise<void>): Promise<Sample> {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await fn();
  const wallMs = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { wallMs, cpuMs: (c.user + c.system) / 1000 };
}

/**
 * Runs untimed warm-up rounds (see RepOptions), then `reps` timed rounds in which each task runs
 * once, in order. Returns one summary per task, in the order given.
 */
export async function compare(tasks: readonly Task[], opts: RepOptions): Promise<Summary[]> {
  const round = async (): Promise<Sample[]> => {
    const out: Sample[] = [];
    for (const task of tasks) {
      await task.before?.();
      collectGarbage();
      out.push(await timeOnce(task.run));
      await task.after?.();
    }
    return out;
  };
  let warmMs = 0;
  for (let r = 0; r < MAX_WARMUP_ROUNDS && (r < opts.warmup || warmMs < (opts.warmupMs ?? 0)); r++) {
    for (const s of await round()) warmMs += s.wallMs;
  }
  const samples: Sample[][] = tasks.map(() => []);
  for (let r = 0; r < opts.reps; r++) (await round()).forEach((s, i) => samples[i].push(s));
  return samples.map(summarize);
}

/** `compare` of a single task. */
export async function measure(task: Task, opts: RepOptions): Promise<Summary> {
  return (await compare([task], opts))[0];
}

/** Medians of a list of samples. */
export function summarize(samples: readonly Sample[]): Summary {
  return { wallMs: median(samples.map((s) => s.wallMs)), cpuMs: median(samples.map((s) => s.cpuMs)), samples };
}

/** Megabytes (10^6 bytes) per second. */
export function mbPerSecond(bytes: number, ms: number): number {
  return bytes / 1e6 / (ms / 1000);
}
