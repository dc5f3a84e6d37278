/**
 * Section "user": compactd measured as a user runs it. For each data shape the inputs are written
 * to a file store in a temp directory and the whole `compactd compact --local` process (the
 * `compactd` command, bin/compactd: the CLI on Node.js with the launcher's malloc settings) runs
 * with default settings (128 MiB target parts, 1 GiB memory bound, file store with fsync),
 * start-up included; CPU (user + system), wall and peak RSS come from the OS (`/usr/bin/time`).
 * In the same rounds, interleaved: the same program without the launcher's settings (`node
 * bin/compactd.js`: what they buy), the copy pipeline as a whole process on the same runtime
 * settings as compactd (bench/copy-child.ts through bin/compactd-node), DuckDB's consolidation
 * query alone (data loaded before timing, in this process), and optionally a baseline build of
 * compactd (`--baseline DIR`, run as that build is run: through its launcher if it has one).
 * Every result is checked against DuckDB's: same number of updates, same diff sum.
 *
 * Also: peak RSS of the whole process under a small bound (64 MiB, 4 MiB parts) at 1x and 4x
 * input, and the start-up time of `compactd --help` and `compactd health` (against a running
 * server).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileBlob } from '../src/blob/file.js';
import { DEFAULT_ENGINE_CONFIG } from '../src/compact/types.js';
import type { CompactResponse } from '../src/model/batch.js';
import { objectKey } from '../src/model/keys.js';
import { compactRequestToJson, compactResponseFromJson, parseJson } from '../src/wire/json.js';
import { childScript } from './child.js';
import { drawRuns, meanRowDataBytes, type DataSpec } from './data.js';
import { loadDuckdb, loadTable, type DuckConnection } from './duckdb.js';
import { deleteAll, writeInputs, type BenchInput } from './inputs.js';
import { atLeast, atMost, fmt, fmtBytes, fmtCount, fmtMs, type Row, type SectionResult } from './report.js';
import { median } from './stats.js';

const MiB = 1024 * 1024;

/** Targets of the whole process at default settings. */
export const USER_TARGETS = {
  mbPerCpuSecond: 200,
  overCopyWall: 1.3,
  overDuckdbWall: 0.5,
  rssOverBoundBytes: 150 * MiB,
  smallBoundRssRatio: 1.1,
  startupMs: 250,
} as const;

export interface UserShape {
  /** Short label for the table. */
  readonly name: string;
  readonly spec: DataSpec;
  /** Updates per input part. */
  readonly partRows: number;
}

export interface UserOptions {
  readonly reps: number;
  readonly shapes: readonly UserShape[];
  /** A directory holding another build of compactd (bin/ and dist/) to run side by side. */
  readonly baselineDir?: string;
  /** The small-bound memory check: the 1x input, and the multiple of it compared. */
  readonly small: { readonly shape: UserShape; readonly factor: number; readonly boundBytes: number; readonly partBytes: number };
  readonly startupReps: number;
}

/** Default shape of the issue: 4 M updates in 8 ordered runs, keys interleaving, 1 in 10 cancelling the previous run. */
export function defaultShape(updates: number): UserShape {
  return {
    name: 'default',
    spec: { updates, runs: 8, keyBytes: 16, valueBytes: 32, overlap: 0.1, cancel: 1, against: 'previous', seed: 42 },
    partRows: Math.round(updates / 16),
  };
}

/** The shapes of a full or quick run: `scale` divides the update counts. */
export function userShapes(scale: number): UserShape[] {
  const n = (x: number): number => Math.round(x / scale);
  // A spine's runs: each level about half the size of the one below, from an old large run to fresh small ones.
  const spine = [1_600_000, 900_000, 600_000, 400_000, 250_000, 120_000, 60_000, 30_000, 20_000, 10_000, 6_000, 4_000].map(n);
  return [
    defaultShape(n(4_000_000)),
    {
      name: 'spine',
      spec: { updates: spine.reduce((a, b) => a + b, 0), runs: spine.length, runSizes: spine, keyBytes: 16, valueBytes: 32, overlap: 0.1, cancel: 1, against: 'previous', seed: 7 },
      partRows: n(250_000),
    },
    {
      name: 'wide rows',
      spec: { updates: n(1_000_000), runs: 8, keyBytes: 24, keyBytesMax: 64, valueBytes: 100, valueBytesMax: 400, overlap: 0.1, cancel: 1, against: 'previous', seed: 11 },
      partRows: n(60_000),
    },
    {
      name: 'easy (2 runs, 20% repeats of run 0, 16 MiB parts)',
      spec: { updates: n(4_000_000), runs: 2, keyBytes: 16, valueBytes: 32, overlap: 0.2, cancel: 0.5, seed: 42 },
      partRows: Math.floor((16 * MiB) / (48 + 24)),
    },
  ];
}

/** The repository root (bin/compactd), from bench/ or from the compiled .bench/bench/. */
function repoRoot(): string {
  return fileURLToPath(new URL(import.meta.url.endsWith('.js') ? '../../' : '../', import.meta.url));
}

/** How a process is started: a program, the arguments before the measured ones, environment changes. */
interface Launch {
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

/** glibc's defaults, whatever this process was started with (an empty GLIBC_TUNABLES sets nothing). */
const GLIBC_DEFAULTS = { GLIBC_TUNABLES: '' } as const;

/**
 * A build of compactd as a user runs it: its `compactd` command (the launcher) when it has one;
 * a build from before the launcher existed as `node bin/compactd.js`, as it was run then.
 */
function compactdLaunch(buildDir: string): Launch {
  const launcher = path.join(buildDir, 'bin', 'compactd');
  if (existsSync(launcher)) return { command: launcher, args: [] };
  return bareLaunch(buildDir);
}

/** The same CLI without the launcher's malloc settings. */
function bareLaunch(buildDir: string): Launch {
  return { command: process.execPath, args: [path.join(buildDir, 'bin', 'compactd.js')], env: GLIBC_DEFAULTS };
}

/** A bench child script on the same runtime settings as the `compactd` command. */
function tunedChild(name: string): Launch {
  return { command: path.join(repoRoot(), 'bin', 'compactd-node'), args: childScript(name) };
}

/** What the OS says about one child process. */
export interface ProcSample {
  readonly wallMs: number;
  readonly userMs: number;
  readonly sysMs: number;
  readonly cpuMs: number;
  readonly maxRssBytes: number;
}

const TIME = '/usr/bin/time';

/**
 * Runs `launch` with `args` under /usr/bin/time with stdin from `stdinFile`; resolves to its
 * stdout and resource usage, rejects when it exits non-zero.
 */
async function timed(launch: Launch, args: readonly string[], stdinFile?: string): Promise<{ sample: ProcSample; stdout: string }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'compactd-time-'));
  const out = path.join(dir, 'time.txt');
  const fd = stdinFile === undefined ? 'ignore' : openSync(stdinFile, 'r');
  try {
    const t0 = performance.now();
    const child = spawn(TIME, ['-f', '%U %S %M', '-o', out, launch.command, ...launch.args, ...args], {
      stdio: [fd, 'pipe', 'pipe'],
      env: { ...process.env, ...launch.env },
    });
    const chunks: Buffer[] = [];
    const errs: Buffer[] = [];
    child.stdout!.on('data', (c: Buffer) => chunks.push(c));
    child.stderr!.on('data', (c: Buffer) => errs.push(c));
    const code = await new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (c) => resolve(c ?? 1));
    });
    const wallMs = performance.now() - t0;
    if (code !== 0) throw new Error(`${[launch.command, ...launch.args, ...args].join(' ')} exited ${code}: ${Buffer.concat(errs).toString().slice(0, 2000)}`);
    const [user, sys, rssKb] = (await readFile(out, 'utf8')).trim().split(/\s+/).slice(-3).map(Number);
    const sample = { wallMs, userMs: user * 1000, sysMs: sys * 1000, cpuMs: (user + sys) * 1000, maxRssBytes: rssKb * 1024 };
    return { sample, stdout: Buffer.concat(chunks).toString() };
  } finally {
    if (typeof fd === 'number') closeSync(fd);
    await rm(dir, { recursive: true, force: true });
  }
}

interface Outcome {
  readonly rows: number;
  readonly diffSum: bigint;
}

/** Runs `compactd compact --local` started as `launch` on the request; returns the sample and deletes the outputs. */
async function runCompactd(launch: Launch, blob: FileBlob, dir: string, requestFile: string, shardId: string, extra: readonly string[] = []): Promise<{ sample: ProcSample; outcome: Outcome }> {
  const { sample, stdout } = await timed(launch, ['compact', '--local', '--blob', `file://${dir}`, ...extra], requestFile);
  const res: CompactResponse = compactResponseFromJson(parseJson(stdout));
  if (res.outcome !== 'compacted' || res.output === undefined) throw new Error(`compactd answered ${res.outcome}`);
  let diffSum = 0n;
  const keys: string[] = [];
  for (const run of res.output.runs) {
    for (const p of run.parts) {
      if (p.kind !== 'hollow') continue;
      diffSum += p.diffsSum ?? 0n;
      keys.push(objectKey(shardId, p.key));
    }
  }
  await deleteAll(blob, keys);
  return { sample, outcome: { rows: Number(res.output.len), diffSum } };
}

function summarize(samples: readonly ProcSample[]): ProcSample {
  const m = (f: (s: ProcSample) => number): number => median(samples.map(f));
  return { wallMs: m((s) => s.wallMs), userMs: m((s) => s.userMs), sysMs: m((s) => s.sysMs), cpuMs: m((s) => s.cpuMs), maxRssBytes: m((s) => s.maxRssBytes) };
}

interface Prepared {
  readonly dir: string;
  readonly blob: FileBlob;
  readonly input: BenchInput;
  readonly requestFile: string;
  dispose(): Promise<void>;
}

async function prepare(shape: UserShape, partRows = shape.partRows): Promise<Prepared & { runs: ReturnType<typeof drawRuns> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'compactd-bench-user-'));
  // Inputs are written without fsync (untimed anyway); the measured processes fsync as the CLI does.
  const blob = new FileBlob(dir, { fsync: false });
  const runs = drawRuns(shape.spec);
  const input = await writeInputs(blob, 'bench', shape.spec, partRows * (meanRowDataBytes(shape.spec) + 24), runs);
  const requestFile = path.join(dir, 'request.json');
  // Without an empty compactionId: a --baseline build from before that field refuses unknown fields.
  const { compactionId, ...json } = compactRequestToJson(input.req);
  await writeFile(requestFile, JSON.stringify(compactionId === '' ? json : { ...json, compactionId }));
  return {
    dir,
    blob,
    input,
    requestFile,
    runs,
    async dispose() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function same(who: string, a: Outcome, ref: Outcome): void {
  if (a.rows !== ref.rows || a.diffSum !== ref.diffSum) {
    throw new Error(`${who} disagrees with DuckDB: ${a.rows} vs ${ref.rows} updates, diff sum ${a.diffSum} vs ${ref.diffSum}`);
  }
}

const mbPerCpuS = (bytes: number, ms: number): number => bytes / 1e6 / (ms / 1000);
const cpuText = (s: ProcSample, bytes: number): string =>
  `${fmtMs(s.cpuMs)} = ${fmt(mbPerCpuS(bytes, s.cpuMs))} MB/cpu-s (user ${fmtMs(s.userMs)}, system ${fmtMs(s.sysMs)})`;

interface ShapeResult {
  readonly shape: UserShape;
  readonly inputBytes: number;
  readonly updates: number;
  readonly parts: number;
  readonly outputUpdates: number;
  readonly compactd: ProcSample;
  /** The same build without the launcher's malloc settings. */
  readonly bare: ProcSample;
  readonly baseline?: ProcSample;
  readonly copy: ProcSample;
  readonly duckdb?: { wallMs: number; cpuMs: number; threads: string };
  readonly samples: Record<string, ProcSample[]>;
}

async function benchShape(shape: UserShape, opts: UserOptions, duck: Awaited<ReturnType<typeof loadDuckdb>>): Promise<ShapeResult> {
  const p = await prepare(shape);
  const root = repoRoot();
  const bin = compactdLaunch(root);
  const bare = bareLaunch(root);
  const baseBin = opts.baselineDir === undefined ? undefined : compactdLaunch(path.resolve(opts.baselineDir));
  const copy = tunedChild('copy-child');
  const copyArgs = [p.dir, p.requestFile, String(DEFAULT_ENGINE_CONFIG.targetPartBytes), String(DEFAULT_ENGINE_CONFIG.memoryBoundBytes)];
  let conn: DuckConnection | undefined;
  let db: { closeSync(): void } | undefined;
  let threads = '';
  const since = p.runs.length;
  const query =
    `CREATE TABLE out AS SELECT k, v, greatest(t, ${since}::UBIGINT) AS t, sum(d) AS d FROM u ` +
    `GROUP BY k, v, greatest(t, ${since}::UBIGINT) HAVING sum(d) <> 0 ORDER BY k, v, t`;
  try {
    if ('mod' in duck) {
      const inst = await duck.mod.DuckDBInstance.create(':memory:');
      db = inst;
      conn = await inst.connect();
      await loadTable(conn, shape.spec, p.runs);
      threads = String((await conn.runAndReadAll("SELECT current_setting('threads')")).getRows()[0][0]);
    }
    const samples: Record<string, ProcSample[]> = { compactd: [], bare: [], baseline: [], copy: [], duckdb: [] };
    let reference: Outcome | undefined;
    const outcomes: Array<[string, Outcome]> = [];
    for (let rep = 0; rep < opts.reps; rep++) {
      process.stderr.write(`[bench] user: ${shape.name}, round ${rep + 1}/${opts.reps}\n`);
      const c = await runCompactd(bin, p.blob, p.dir, p.requestFile, p.input.req.shardId);
      samples.compactd.push(c.sample);
      outcomes.push(['compactd', c.outcome]);
      const w = await runCompactd(bare, p.blob, p.dir, p.requestFile, p.input.req.shardId);
      samples.bare.push(w.sample);
      outcomes.push(['compactd without the launcher', w.outcome]);
      if (baseBin !== undefined) {
        const b = await runCompactd(baseBin, p.blob, p.dir, p.requestFile, p.input.req.shardId);
        samples.baseline.push(b.sample);
        outcomes.push(['the baseline compactd', b.outcome]);
      }
      const copied0 = await timed(copy, copyArgs);
      samples.copy.push(copied0.sample);
      const copied = JSON.parse(copied0.stdout) as { written: string[]; rows: number };
      if (copied.rows !== p.input.updates) throw new Error(`the copy pipeline copied ${copied.rows} of ${p.input.updates} updates`);
      await deleteAll(p.blob, copied.written);
      if (conn !== undefined) {
        const c0 = process.cpuUsage();
        const t0 = performance.now();
        await conn.run(query);
        const wallMs = performance.now() - t0;
        const cu = process.cpuUsage(c0);
        const cpuMs = (cu.user + cu.system) / 1000;
        samples.duckdb.push({ wallMs, cpuMs, userMs: cu.user / 1000, sysMs: cu.system / 1000, maxRssBytes: 0 });
        const [[rows, sum]] = (await conn.runAndReadAll('SELECT count(*), coalesce(sum(d), 0) FROM out')).getRows();
        reference = { rows: Number(rows), diffSum: BigInt(String(sum)) };
        await conn.run('DROP TABLE out');
      }
    }
    // Every compactd run must agree with DuckDB (and with each other when DuckDB is absent).
    reference ??= outcomes[0][1];
    for (const [who, o] of outcomes) same(who, o, reference);
    return {
      shape,
      inputBytes: p.input.inputBytes,
      updates: p.input.updates,
      parts: p.input.parts,
      outputUpdates: reference.rows,
      compactd: summarize(samples.compactd),
      bare: summarize(samples.bare),
      ...(baseBin === undefined ? {} : { baseline: summarize(samples.baseline) }),
      copy: summarize(samples.copy),
      ...(conn === undefined ? {} : { duckdb: { ...summarize(samples.duckdb), threads } }),
      samples,
    };
  } finally {
    conn?.closeSync();
    db?.closeSync();
    await p.dispose();
  }
}

function shapeRows(r: ShapeResult, duckSkipped: string | undefined): Row[] {
  const mb = r.inputBytes;
  const what = `${r.shape.name}: ${fmtCount(r.updates)} updates in ${r.shape.spec.runs} runs, ${fmt(mb / 1e6)} MB in ${r.parts} parts -> ${fmtCount(r.outputUpdates)}`;
  const bound = DEFAULT_ENGINE_CONFIG.memoryBoundBytes;
  const rows: Row[] = [
    {
      name: `${what}; compactd compact --local, whole process`,
      wall: fmtMs(r.compactd.wallMs),
      cpu: cpuText(r.compactd, mb),
      check: atLeast(mbPerCpuS(mb, r.compactd.cpuMs), USER_TARGETS.mbPerCpuSecond, `${USER_TARGETS.mbPerCpuSecond} MB/cpu-s`),
    },
    {
      name: `${r.shape.name}: compactd peak RSS (bound ${fmtBytes(bound)})`,
      wall: fmtBytes(r.compactd.maxRssBytes),
      check: atMost(r.compactd.maxRssBytes, bound + USER_TARGETS.rssOverBoundBytes, `bound + ${fmtBytes(USER_TARGETS.rssOverBoundBytes)}`),
    },
  ];
  rows.push({
    name: `${r.shape.name}: the same without the launcher's malloc settings (node bin/compactd.js); peak RSS ${fmtBytes(r.bare.maxRssBytes)}`,
    wall: `${fmtMs(r.bare.wallMs)} (compactd / this ${fmt(r.compactd.wallMs / r.bare.wallMs)}x)`,
    cpu: `${cpuText(r.bare, mb)}; compactd / this ${fmt(r.compactd.cpuMs / r.bare.cpuMs)}x`,
  });
  if (r.baseline !== undefined) {
    rows.push({
      name: `${r.shape.name}: baseline compactd (--baseline), same parts; peak RSS ${fmtBytes(r.baseline.maxRssBytes)}`,
      wall: `${fmtMs(r.baseline.wallMs)} (compactd / baseline ${fmt(r.compactd.wallMs / r.baseline.wallMs)}x)`,
      cpu: `${cpuText(r.baseline, mb)}; compactd / baseline ${fmt(r.compactd.cpuMs / r.baseline.cpuMs)}x`,
    });
  }
  rows.push(
    { name: `${r.shape.name}: copy pipeline, whole process, same parts, same malloc settings`, wall: fmtMs(r.copy.wallMs), cpu: cpuText(r.copy, mb) },
    {
      name: `${r.shape.name}: compactd / copy pipeline`,
      wall: `${fmt(r.compactd.wallMs / r.copy.wallMs)}x`,
      cpu: `${fmt(r.compactd.cpuMs / r.copy.cpuMs)}x`,
      check: atMost(r.compactd.wallMs / r.copy.wallMs, USER_TARGETS.overCopyWall, `${USER_TARGETS.overCopyWall}x (wall)`),
    },
  );
  if (r.duckdb !== undefined) {
    rows.push(
      { name: `${r.shape.name}: DuckDB consolidation query alone (${r.duckdb.threads} threads, data loaded before timing), same output`, wall: fmtMs(r.duckdb.wallMs), cpu: fmtMs(r.duckdb.cpuMs) },
      {
        name: `${r.shape.name}: compactd whole process / DuckDB query`,
        wall: `${fmt(r.compactd.wallMs / r.duckdb.wallMs)}x`,
        cpu: `${fmt(r.compactd.cpuMs / r.duckdb.cpuMs)}x`,
        check: atMost(r.compactd.wallMs / r.duckdb.wallMs, USER_TARGETS.overDuckdbWall, `${USER_TARGETS.overDuckdbWall}x (wall)`),
      },
    );
  } else if (duckSkipped !== undefined) {
    rows.push({ name: `${r.shape.name}: DuckDB skipped: ${duckSkipped}`, wall: '' });
  }
  return rows;
}

interface SmallResult {
  readonly updates: number[];
  readonly inputBytes: number[];
  readonly rss: number[];
  readonly baselineRss?: number[];
}

/** Peak RSS of the whole process under a small bound at 1x and `factor`x input. */
async function smallBound(opts: UserOptions): Promise<{ rows: Row[]; data: SmallResult }> {
  const { shape, factor, boundBytes, partBytes } = opts.small;
  const bin = compactdLaunch(repoRoot());
  const baseBin = opts.baselineDir === undefined ? undefined : compactdLaunch(path.resolve(opts.baselineDir));
  const flags = ['--memory-bound-bytes', String(boundBytes), '--target-part-bytes', String(partBytes)];
  const partRows = Math.floor(partBytes / (meanRowDataBytes(shape.spec) + 24));
  const data: { updates: number[]; inputBytes: number[]; rss: number[]; baselineRss: number[] } = { updates: [], inputBytes: [], rss: [], baselineRss: [] };
  for (const mult of [1, factor]) {
    const s: UserShape = { ...shape, spec: { ...shape.spec, updates: shape.spec.updates * mult } };
    const p = await prepare(s, partRows);
    try {
      const rss: number[] = [];
      const base: number[] = [];
      // Peak RSS spreads by about 25 MiB from run to run at this size (huge pages come in 2 MiB
      // and uploads overlap differently), more than the effect measured: at least 5 runs.
      for (let rep = 0; rep < Math.max(5, opts.reps); rep++) {
        rss.push((await runCompactd(bin, p.blob, p.dir, p.requestFile, p.input.req.shardId, flags)).sample.maxRssBytes);
        if (baseBin !== undefined) base.push((await runCompactd(baseBin, p.blob, p.dir, p.requestFile, p.input.req.shardId, flags)).sample.maxRssBytes);
      }
      data.updates.push(p.input.updates);
      data.inputBytes.push(p.input.inputBytes);
      data.rss.push(median(rss));
      if (base.length > 0) data.baselineRss.push(median(base));
    } finally {
      await p.dispose();
    }
  }
  const what = (i: number): string => `${i === 0 ? '1x' : `${factor}x`} input, ${fmtCount(data.updates[i])} updates, ${fmt(data.inputBytes[i] / 1e6)} MB`;
  const rows: Row[] = [0, 1].map((i) => ({
    name: `small bound (${fmtBytes(boundBytes)} bound, ${fmtBytes(partBytes)} parts): peak RSS, ${what(i)}${data.baselineRss.length > 0 ? `; baseline ${fmtBytes(data.baselineRss[i])}` : ''}`,
    wall: fmtBytes(data.rss[i]),
    check: atMost(data.rss[i], boundBytes + USER_TARGETS.rssOverBoundBytes, `bound + ${fmtBytes(USER_TARGETS.rssOverBoundBytes)}`),
  }));
  rows.push({
    name: `small bound: peak RSS ${factor}x / 1x`,
    wall: `${fmt(data.rss[1] / data.rss[0])}x`,
    check: atMost(data.rss[1] / data.rss[0], USER_TARGETS.smallBoundRssRatio, `${USER_TARGETS.smallBoundRssRatio}x`),
  });
  return { rows, data: data.baselineRss.length > 0 ? data : { ...data, baselineRss: undefined } };
}

/** Start-up: `compactd --help` and `compactd health` against a running `compactd serve`. */
async function startup(opts: UserOptions): Promise<{ rows: Row[]; data: unknown }> {
  const bins: Array<[string, Launch]> = [['compactd', compactdLaunch(repoRoot())]];
  if (opts.baselineDir !== undefined) bins.push(['baseline', compactdLaunch(path.resolve(opts.baselineDir))]);
  const dir = await mkdtemp(path.join(tmpdir(), 'compactd-bench-serve-'));
  const serve = bins[0][1];
  const server = spawn(serve.command, [...serve.args, 'serve', '--port', '0', '--metrics-port', '0', '--blob', `file://${dir}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...serve.env },
  });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let text = '';
      const onData = (c: Buffer): void => {
        text += c.toString();
        const m = /"port":(\d+)/.exec(text) ?? /listening[^\n]*?:(\d+)/.exec(text);
        if (m !== null) resolve(Number(m[1]));
      };
      server.stdout.on('data', onData);
      server.stderr.on('data', onData);
      server.on('exit', (code) => reject(new Error(`compactd serve exited ${code}: ${text.slice(0, 2000)}`)));
      setTimeout(() => reject(new Error(`compactd serve did not say its port: ${text.slice(0, 2000)}`)), 30_000).unref();
    });
    const rows: Row[] = [];
    const data: Record<string, ProcSample> = {};
    for (const [who, bin] of bins) {
      for (const [what, args] of [
        ['--help', ['--help']],
        ['health', ['health', '--endpoint', `127.0.0.1:${port}`]],
      ] as const) {
        const samples: ProcSample[] = [];
        for (let i = 0; i < opts.startupReps; i++) samples.push((await timed(bin, args)).sample);
        const s = summarize(samples);
        data[`${who} ${what}`] = s;
        rows.push({
          name: `start-up: ${who === 'baseline' ? 'baseline ' : ''}compactd ${what}, whole process`,
          wall: fmtMs(s.wallMs),
          cpu: fmtMs(s.cpuMs),
          ...(who === 'compactd' ? { check: atMost(s.wallMs, USER_TARGETS.startupMs, `${USER_TARGETS.startupMs} ms (wall)`) } : {}),
        });
      }
    }
    return { rows, data };
  } finally {
    server.kill('SIGTERM');
    await new Promise((resolve) => server.once('close', resolve));
    await rm(dir, { recursive: true, force: true });
  }
}

/** Runs the section; see the module comment. */
export async function userSection(opts: UserOptions): Promise<SectionResult> {
  const title = 'as a user runs it';
  const duck = await loadDuckdb();
  const duckSkipped = 'reason' in duck ? duck.reason : undefined;
  const shapes: ShapeResult[] = [];
  for (const shape of opts.shapes) shapes.push(await benchShape(shape, opts, duck));
  process.stderr.write('[bench] user: small bound\n');
  const small = await smallBound(opts);
  process.stderr.write('[bench] user: start-up\n');
  const start = await startup(opts);
  return {
    name: 'user',
    title,
    rows: [...shapes.flatMap((r) => shapeRows(r, duckSkipped)), ...small.rows, ...start.rows],
    data: { reps: opts.reps, baselineDir: opts.baselineDir, shapes, small: small.data, startup: start.data },
  };
}
