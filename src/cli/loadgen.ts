/**
 * `compactd loadgen`: drives a running service with K simulated writers (src/loadgen), shows
 * progress on stderr (a bar on a terminal, a line every few seconds otherwise) and prints a
 * summary table: requests, outcomes, throughput, latency percentiles, and whether every shard
 * still equals the consolidation of everything written to it. Exits 1 when a shard differs or a
 * request failed (requests shed with RESOURCE_EXHAUSTED after retries are reported, not failures).
 */
import { randomBytes } from 'node:crypto';
import { DEFAULT_HOST, DEFAULT_PORT } from '../config/options.js';
import { CompactdError } from '../model/errors.js';
import type { LoadGenerator, LoadCounters, LoadReport, RequestOutcome } from '../loadgen/run.js';
import type { FlagSpec } from './args.js';
import { CLIENT_FLAGS, clientOptionsFromFlags, deadlineSecondsFromFlags, endpointFromFlags } from './client-flags.js';
import { readFlag, usage } from '../config/argv.js';
import { flagCommand, write, type CliIo } from './command.js';
import { commandInfo } from './catalog.js';
import { BLOB_FLAG, withBlob } from './shared.js';

const DEFAULTS = {
  shards: 4,
  batches: 32,
  updatesPerBatch: 1000,
  compactEvery: 4,
  concurrency: 4,
  raceFraction: 0.1,
  targetPartBytes: 64 * 1024,
  deadlineSeconds: 120,
};
/** The endpoint check before the run: as long as `compactd health` waits by default. */
const HEALTH_CHECK_MS = 5000;
/** Redraws of the bar per second: smooth enough, cheap on a slow terminal. */
const TTY_REFRESH_MS = 200;
/** A progress line this often when stderr is a file or pipe (CI logs). */
const PLAIN_REFRESH_MS = 5000;

const OUTCOME_LABELS: Record<RequestOutcome, string> = {
  applied: 'compacted, applied',
  stale: 'compacted, stale (deleted)',
  skipped: 'skipped by heuristics',
  shed: 'shed (queue full)',
  failed: 'failed',
};

function num(flags: ReadonlyMap<string, unknown>, name: string, fallback: number): number {
  const v = flags.get(name);
  return v === undefined ? fallback : (v as number);
}

function fraction(raw: unknown, name: string, fallback: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(String(raw).trim()) || n > 1) throw usage(`--${name}: expected a number from 0 to 1, got ${JSON.stringify(raw)}`);
  return n;
}

function seconds(raw: unknown, name: string): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(String(raw).trim()) || !(n > 0)) throw usage(`--${name}: expected a number of seconds > 0, got ${JSON.stringify(raw)}`);
  return n;
}

function si(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)} k`;
  return String(Math.round(n));
}

function bytes(n: number): string {
  if (n >= 2 ** 30) return `${(n / 2 ** 30).toFixed(2)} GiB`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(1)} MiB`;
  if (n >= 2 ** 10) return `${(n / 2 ** 10).toFixed(1)} KiB`;
  return `${n} B`;
}

function ms(n: number): string {
  return Number.isNaN(n) ? '-' : n >= 100 ? n.toFixed(0) : n.toFixed(1);
}

/** One progress line (no newline): batches, requests by outcome, in flight. */
export function progressLine(c: LoadCounters, elapsed: number, width = 24): string {
  const o = c.outcomes;
  const done = `reqs ${c.requests} (applied ${o.applied}, stale ${o.stale}, skipped ${o.skipped}, shed ${o.shed}, failed ${o.failed}) queue full ${c.queueFullAnswers} in flight ${c.inFlight}`;
  if (c.plannedBatches !== undefined && c.plannedBatches > 0) {
    const f = Math.min(1, c.batchesAppended / c.plannedBatches);
    const fill = Math.round(f * width);
    return `[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${(f * 100).toFixed(0).padStart(3)}% batches ${c.batchesAppended}/${c.plannedBatches}  ${done}  ${elapsed.toFixed(0)} s`;
  }
  return `${elapsed.toFixed(0)} s  batches ${c.batchesAppended}  ${done}`;
}

/** Renders rows as an aligned table with a header rule; numeric columns right-aligned. */
export function formatTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].map((l) => `  ${l}`).join('\n');
}

/** The end-of-run summary printed on stdout. */
export function summary(report: LoadReport, endpoint: string, shardsDesc: string): string {
  const c = report.counters;
  const t = Math.max(report.elapsedSeconds, 1e-9);
  // OUTCOME_LABELS lists the outcomes in REQUEST_OUTCOMES' order (loadgen/run.ts stays unloaded until a run).
  const rows = (Object.keys(OUTCOME_LABELS) as RequestOutcome[]).map((o) => {
    const l = report.latencies[o];
    const share = c.requests === 0 ? 0 : (100 * c.outcomes[o]) / c.requests;
    return [OUTCOME_LABELS[o], String(c.outcomes[o]), `${share.toFixed(1)}%`, ms(l.percentile(50)), ms(l.percentile(90)), ms(l.percentile(99))];
  });
  const all = report.allLatencies;
  rows.push(['all requests', String(c.requests), '100.0%', ms(all.percentile(50)), ms(all.percentile(90)), ms(all.percentile(99))]);
  const failures = Object.entries(c.failures)
    .filter(([kind]) => kind !== 'exhausted')
    .map(([kind, n]) => `${kind} ${n}`);
  const bad = report.shards.filter((s) => !s.ok);
  const lines = [
    `compactd loadgen: ${shardsDesc} via ${endpoint}, ${report.elapsedSeconds.toFixed(1)} s`,
    '',
    formatTable(['outcome', 'requests', 'share', 'p50 ms', 'p90 ms', 'p99 ms'], rows),
    '',
    formatTable(
      ['throughput', 'total', 'per second'],
      [
        ['compact requests', String(c.requests), (c.requests / t).toFixed(1)],
        ['batches appended', String(c.batchesAppended), (c.batchesAppended / t).toFixed(1)],
        ['updates appended', si(c.updatesAppended), si(c.updatesAppended / t)],
        ['bytes appended', bytes(c.bytesAppended), `${bytes(c.bytesAppended / t)}/s`],
        ['updates compacted in', si(c.inputUpdates), si(c.inputUpdates / t)],
        ['updates compacted out', si(c.outputUpdates), si(c.outputUpdates / t)],
        ['bytes compacted in', bytes(c.inputBytes), `${bytes(c.inputBytes / t)}/s`],
        ['bytes compacted out', bytes(c.outputBytes), `${bytes(c.outputBytes / t)}/s`],
      ],
    ),
    '',
    `  stale outputs deleted via DeleteParts: ${c.staleDeleted} parts${c.staleMissing > 0 ? ` (${c.staleMissing} already gone)` : ''}`,
    `  replaced input parts deleted by the writers: ${c.partsRetired}`,
    `  queue full (RESOURCE_EXHAUSTED) answers, retried ones included: ${c.queueFullAnswers}; requests that gave up shed: ${c.outcomes.shed}`,
    ...(c.stoppedBecause ? [`  stopped early: ${c.stoppedBecause}`] : []),
    ...(failures.length > 0 ? [`  failures: ${failures.join(', ')}; first: ${c.firstFailure ? `${c.firstFailure.kind}: ${c.firstFailure.message}` : '-'}`] : []),
    `  verified: ${
      bad.length === 0
        ? `yes, ${report.shards.length}/${report.shards.length} shards equal the consolidation of everything written`
        : `NO, ${bad.length}/${report.shards.length} shards differ: ${bad.map((s) => `${s.shardId}: ${s.problem}`).join('; ')}`
    }`,
    '',
  ];
  return lines.join('\n');
}

/** Shows progress on stderr until the returned function is called. */
function startProgress(io: CliIo, gen: LoadGenerator): () => Promise<void> {
  const tty = (io.stderr as { isTTY?: boolean }).isTTY === true;
  const columns = (io.stderr as { columns?: number }).columns ?? 120;
  const draw = () => {
    const line = progressLine(gen.counters, gen.elapsedSeconds());
    if (tty) io.stderr.write(`\r\x1b[2K${line.slice(0, Math.max(20, columns - 1))}`);
    else io.stderr.write(`${line}\n`);
  };
  const timer = setInterval(draw, tty ? TTY_REFRESH_MS : PLAIN_REFRESH_MS);
  return async () => {
    clearInterval(timer);
    if (tty) {
      draw();
      await write(io.stderr, '\n');
    }
  };
}

/** The flags of `compactd loadgen`. */
export const LOADGEN_FLAGS: readonly FlagSpec[] = [
  { name: 'endpoint', type: 'string', valueName: 'TARGET', help: 'service address: host:port, or dns:///name:port for every replica', defaultText: `${DEFAULT_HOST}:${DEFAULT_PORT}` },
  BLOB_FLAG,
  { name: 'shards', type: 'count', valueName: 'K', help: 'shards, one writer each', defaultText: String(DEFAULTS.shards) },
  { name: 'batches', type: 'count', valueName: 'N', help: 'batches each writer appends', defaultText: `${DEFAULTS.batches}, unbounded with --duration-seconds` },
  { name: 'updates-per-batch', type: 'count', valueName: 'M', help: 'updates in each batch', defaultText: String(DEFAULTS.updatesPerBatch) },
  { name: 'compact-every', type: 'count', valueName: 'B', help: 'merge fan-out: B batches of one level make a compaction', defaultText: String(DEFAULTS.compactEvery) },
  { name: 'concurrency', type: 'count', valueName: 'C', help: 'compact requests in flight at once', defaultText: String(DEFAULTS.concurrency) },
  { name: 'seed', type: 'count', valueName: 'S', help: 'seed of the generated data', defaultText: 'random (printed)' },
  { name: 'duration-seconds', type: 'string', valueName: 'S', help: 'stop appending after this long' },
  { name: 'race-fraction', type: 'string', valueName: 'F', help: 'fraction of merges requested twice at once', defaultText: String(DEFAULTS.raceFraction) },
  { name: 'force', type: 'boolean', help: 'ask the service to bypass its skip heuristics' },
  { name: 'target-part-bytes', type: 'bytes', valueName: 'BYTES', help: 'part size of appended batches', defaultText: '64KiB' },
  { name: 'deadline-seconds', type: 'count', valueName: 'S', help: 'deadline of each Compact call, retries included', defaultText: String(DEFAULTS.deadlineSeconds) },
  { name: 'shard-prefix', type: 'string', valueName: 'NAME', help: 'shard ids are <NAME>-<i>', defaultText: 'lg<seed>' },
  { name: 'keep', type: 'boolean', help: 'leave the shards\' parts in the store afterwards' },
  ...CLIENT_FLAGS,
];

export const loadgenCommand = flagCommand({
  ...commandInfo('loadgen'),
  details: `Simulates --shards writers, each appending --batches batches of --updates-per-batch updates
to its shard in --blob (the store the service uses). Each writer keeps its shard as a spine: when
--compact-every consecutive batches of similar size (one level) accumulate, it asks --endpoint to
compact them, applies the result with a compare-and-set on its own state and deletes the inputs it
replaced. A result it cannot apply (--race-fraction of merges are requested twice at once, like two
writer processes of one shard) is deleted through DeleteParts. At the end every shard is read back
and compared with the reference consolidation of everything its writer appended.
With --duration-seconds and no --batches, writers append until the time is up.`,
  flags: LOADGEN_FLAGS,
  async run(flags, io) {
    const endpoint = endpointFromFlags(flags, `${DEFAULT_HOST}:${DEFAULT_PORT}`)!;
    const deadlineSeconds = deadlineSecondsFromFlags(flags) ?? DEFAULTS.deadlineSeconds;
    const durationSeconds = seconds(flags.get('duration-seconds'), 'duration-seconds');
    const batches = flags.get('batches') as number | undefined;
    const seed = (flags.get('seed') as number | undefined) ?? randomBytes(4).readUInt32BE(0);
    const shards = num(flags, 'shards', DEFAULTS.shards);
    const opts = {
      shards,
      batches: batches ?? (durationSeconds === undefined ? DEFAULTS.batches : undefined),
      updatesPerBatch: num(flags, 'updates-per-batch', DEFAULTS.updatesPerBatch),
      compactEvery: num(flags, 'compact-every', DEFAULTS.compactEvery),
      concurrency: num(flags, 'concurrency', DEFAULTS.concurrency),
      seed,
      durationMs: durationSeconds === undefined ? undefined : durationSeconds * 1000,
      raceFraction: fraction(flags.get('race-fraction'), 'race-fraction', DEFAULTS.raceFraction),
      force: flags.get('force') === true,
      targetPartBytes: num(flags, 'target-part-bytes', DEFAULTS.targetPartBytes),
      deadlineMs: deadlineSeconds * 1000,
      shardPrefix: flags.get('shard-prefix') as string | undefined,
      keep: flags.get('keep') === true,
    };
    // Loaded when the command runs, so that other commands (and --help) do not pay for it.
    const [{ CompactorClient }, { checkHealth }, { LoadGenerator }] = await Promise.all([
      import('../client/compactor-client.js'),
      import('../client/health.js'),
      import('../loadgen/run.js'),
    ]);
    const clientOptions = await clientOptionsFromFlags(flags, io.cwd);
    const client = new CompactorClient({ address: endpoint, loadBalancing: 'round_robin', ...clientOptions });
    // The first stop signal ends the appends; the run then settles, verifies and summarizes.
    const abort = new AbortController();
    const onSignal = () => abort.abort();
    process.once('SIGINT', onSignal);
    try {
      return await withBlob(flags, io.cwd, async (blob) => {
        const gen = readFlag(() => new LoadGenerator({ ...opts, client, blob, signal: abort.signal }));
        // Options checked, nothing written yet: a wrong endpoint is one line now, not a run of
        // failures later.
        const status = await checkHealth(endpoint, { timeoutMs: HEALTH_CHECK_MS, ...(clientOptions.tls ? { tls: clientOptions.tls } : {}) });
        if (status !== 'SERVING') throw new CompactdError('unavailable', `${endpoint} is ${status}: it does not take compactions now`);
        await write(io.stderr, `compactd loadgen: seed ${seed}\n`);
        const stopProgress = startProgress(io, gen);
        let report: LoadReport;
        try {
          report = await gen.run();
        } finally {
          await stopProgress();
        }
        const what = `${shards} shards x ${opts.batches ?? 'unbounded'} batches x ${opts.updatesPerBatch} updates (compact every ${opts.compactEvery}, seed ${seed})`;
        await write(io.stdout, summary(report, endpoint, what));
        if (!report.verified) {
          throw new CompactdError('data_loss', `loadgen: ${report.shards.filter((s) => !s.ok).length} shards differ from the consolidation of what was written`);
        }
        if (report.counters.stoppedBecause) throw new CompactdError(report.counters.lastFailure?.kind ?? 'internal', `loadgen: stopped: ${report.counters.stoppedBecause}`);
        const failed = report.counters.outcomes.failed;
        const first = report.counters.firstFailure;
        if (failed > 0) throw new CompactdError(first?.kind ?? 'internal', `loadgen: ${failed} compact requests failed; first: ${first?.message ?? '?'}`);
        return 0;
      });
    } finally {
      process.off('SIGINT', onSignal);
      client.close();
    }
  },
});
