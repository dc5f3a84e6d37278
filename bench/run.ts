/**
 * `npm run bench [-- --quick] [--only NAME[,NAME]] [--json FILE] [--baseline DIR]`: runs the benchmark sections,
 * prints the machine and one markdown table, and optionally writes every measurement as JSON.
 * Sizes for the full and the quick run are in `plans` below; what each section measures is in
 * its own module and in BENCHMARKS.md.
 */
import { writeFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { DEFAULT_ENGINE_CONFIG, type EngineConfig } from '../src/compact/types.js';
import { DEFAULT_DATA, type DataSpec } from './data.js';
import { duckdbSection } from './duckdb.js';
import { engineSection } from './engine.js';
import { machineInfo, machineMarkdown } from './machine.js';
import { markdownTable, type SectionResult } from './report.js';
import { scalingSection, type ScalingOptions } from './scaling.js';
import { serviceSection, type ServiceOptions } from './service.js';
import type { RepOptions } from './stats.js';
import { defaultShape, userSection, userShapes, type UserOptions } from './user.js';

const MiB = 1024 * 1024;

interface Plan {
  /** Repetitions of the head-to-head sections (engine vs copy, engine vs DuckDB). */
  readonly headToHeadReps: RepOptions;
  /** Updates compacted in the engine vs copy and engine vs DuckDB sections. */
  readonly headToHead: number;
  readonly scaling: Omit<ScalingOptions, 'spec'>;
  readonly service: Omit<ServiceOptions, 'spec'>;
  readonly user: Omit<UserOptions, 'baselineDir'>;
}

/** Engine settings of the throughput sections: the default memory bound, 16 MiB parts in and out. */
const CONFIG: EngineConfig = { ...DEFAULT_ENGINE_CONFIG, targetPartBytes: 16 * MiB };
const INPUT_PART_BYTES = 16 * MiB;

const plans: Record<'full' | 'quick', Plan> = {
  full: {
    headToHeadReps: { warmup: 1, warmupMs: 1000, reps: 5 },
    headToHead: 4_000_000,
    scaling: {
      reps: { warmup: 1, warmupMs: 1000, reps: 3 },
      sizes: [1_000_000, 4_000_000, 16_000_000],
      runCounts: [2, 4, 8, 16, 32, 64],
      runsTotal: 4_000_000,
      rss: { base: 1_000_000, factor: 10, runs: 8, memoryBoundBytes: 64 * MiB, targetPartBytes: 8 * MiB, reps: 3 },
      config: CONFIG,
      inputPartBytes: INPUT_PART_BYTES,
    },
    service: {
      small: { warmup: 50, reps: 500 },
      large: { updates: 2_000_000, warmup: 1, reps: 3 },
      config: CONFIG,
      inputPartBytes: INPUT_PART_BYTES,
    },
    user: {
      reps: 3,
      shapes: userShapes(1),
      small: { shape: defaultShape(1_000_000), factor: 4, boundBytes: 64 * MiB, partBytes: 4 * MiB },
      startupReps: 5,
    },
  },
  quick: {
    headToHeadReps: { warmup: 1, warmupMs: 300, reps: 3 },
    headToHead: 500_000,
    scaling: {
      reps: { warmup: 1, warmupMs: 500, reps: 3 },
      sizes: [250_000, 500_000, 1_000_000],
      runCounts: [2, 4, 8, 16, 32, 64],
      runsTotal: 200_000,
      // Smaller parts and bound, so that the 1x input already fills whole parts and chunks.
      rss: { base: 250_000, factor: 10, runs: 8, memoryBoundBytes: 16 * MiB, targetPartBytes: 2 * MiB, reps: 1 },
      config: CONFIG,
      inputPartBytes: INPUT_PART_BYTES,
    },
    service: {
      small: { warmup: 10, reps: 40 },
      large: { updates: 200_000, warmup: 1, reps: 2 },
      config: CONFIG,
      inputPartBytes: INPUT_PART_BYTES,
    },
    user: {
      reps: 1,
      shapes: userShapes(8),
      small: { shape: defaultShape(250_000), factor: 4, boundBytes: 16 * MiB, partBytes: 1 * MiB },
      startupReps: 3,
    },
  },
};

type SectionRunner = (plan: Plan, spec: DataSpec, baselineDir: string | undefined) => Promise<SectionResult>;

const SECTIONS: Readonly<Record<string, SectionRunner>> = {
  // First: the headline, compactd as a user runs it (its own data shapes; ignores the data options).
  user: (p, _spec, baselineDir) => userSection({ ...p.user, baselineDir }),
  engine: (p, spec) => engineSection({ ...p.headToHeadReps, spec: { ...spec, updates: p.headToHead }, config: CONFIG, inputPartBytes: INPUT_PART_BYTES }),
  duckdb: (p, spec) => duckdbSection({ ...p.headToHeadReps, spec: { ...spec, updates: p.headToHead }, config: CONFIG, inputPartBytes: INPUT_PART_BYTES }),
  scaling: (p, spec) => scalingSection({ ...p.scaling, spec }),
  service: (p, spec) => serviceSection({ ...p.service, spec }),
};

/** Keys carry their order in their first 6 bytes (data.ts). */
const MIN_KEY_BYTES = 6;
/** Far beyond any realistic key or value; keeps a typo from allocating gigabytes. */
const MAX_FIELD_BYTES = 1 << 16;

const HELP = `usage: npm run bench -- [--quick] [--only NAME[,NAME]] [--json FILE] [data options]

  --quick            smaller sizes and fewer repetitions (checks that everything runs)
  --only NAMES       run only these sections: ${Object.keys(SECTIONS).join(', ')}
  --json FILE        also write every measurement to FILE
  --baseline DIR     user section: also run the compactd in DIR (its bin/ and dist/) side by side
  --key-bytes N[-M]  key size, or uniform sizes from N to M (default ${DEFAULT_DATA.keyBytes}; N >= ${MIN_KEY_BYTES})
  --value-bytes N[-M] value size, or uniform sizes from N to M (default ${DEFAULT_DATA.valueBytes})
  --seed N           seed of the synthetic data (default ${DEFAULT_DATA.seed})
`;

/** Parses `N` or `N-M` into a size range, or throws with a message for the user. */
function parseSizeRange(flag: string, text: string, min: number): { min: number; max: number } {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text.trim());
  const lo = m === null ? Number.NaN : Number(m[1]);
  const hi = m === null ? Number.NaN : m[2] === undefined ? lo : Number(m[2]);
  if (!(lo >= min && hi >= lo && hi <= MAX_FIELD_BYTES)) {
    throw new UsageError(`--${flag} ${JSON.stringify(text)}: expected N or N-M with ${min} <= N <= M <= ${MAX_FIELD_BYTES}`);
  }
  return { min: lo, max: hi };
}

class UsageError extends Error {}

/** The data spec the command line asks for. */
function dataSpec(values: { 'key-bytes'?: string; 'value-bytes'?: string; seed?: string }): DataSpec {
  const k = parseSizeRange('key-bytes', values['key-bytes'] ?? String(DEFAULT_DATA.keyBytes), MIN_KEY_BYTES);
  const v = parseSizeRange('value-bytes', values['value-bytes'] ?? String(DEFAULT_DATA.valueBytes), 0);
  const seed = Number(values.seed ?? DEFAULT_DATA.seed);
  if (!Number.isSafeInteger(seed)) throw new UsageError(`--seed ${JSON.stringify(values.seed)}: expected an integer`);
  return { ...DEFAULT_DATA, keyBytes: k.min, keyBytesMax: k.max, valueBytes: v.min, valueBytesMax: v.max, seed };
}

function describeSpec(spec: DataSpec): string {
  const size = (min: number, max: number | undefined): string => (max === undefined || max <= min ? `${min} B` : `${min}-${max} B (uniform)`);
  const pct = (x: number): string => `${Math.round(x * 100)}%`;
  return (
    `keys ${size(spec.keyBytes, spec.keyBytesMax)}, values ${size(spec.valueBytes, spec.valueBytesMax)}; ` +
    `${pct(spec.overlap)} of the updates of runs after the first repeat a (k, v) of the first run, ` +
    `${pct(spec.cancel)} of those cancel it; seed ${spec.seed}`
  );
}

async function main(): Promise<number> {
  // The AWS SDK's notice about future Node versions would land in the middle of the output.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      json: { type: 'string' },
      baseline: { type: 'string' },
      'key-bytes': { type: 'string' },
      'value-bytes': { type: 'string' },
      seed: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const names = values.only === undefined ? Object.keys(SECTIONS) : values.only.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const unknown = names.filter((n) => !(n in SECTIONS));
  if (unknown.length > 0 || names.length === 0) {
    process.stderr.write(`unknown section(s): ${unknown.join(', ') || '(none given)'}\n${HELP}`);
    return 2;
  }
  let spec: DataSpec;
  try {
    spec = dataSpec(values);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    process.stderr.write(`${err.message}\n${HELP}`);
    return 2;
  }
  const mode = values.quick ? 'quick' : 'full';
  const plan = plans[mode];
  const machine = machineInfo();
  const started = performance.now();
  const results: SectionResult[] = [];
  for (const name of names) {
    const t0 = performance.now();
    process.stderr.write(`[bench] ${name} ...\n`);
    results.push(await SECTIONS[name](plan, spec, values.baseline));
    process.stderr.write(`[bench] ${name} done in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  }
  const loadAfter = loadavg();
  const elapsedSeconds = (performance.now() - started) / 1000;
  const args = process.argv.slice(2);
  const command = args.length === 0 ? 'npm run bench' : `npm run bench -- ${args.join(' ')}`;
  process.stdout.write(`## compactd benchmarks (${mode})\n\n${machineMarkdown(machine, loadAfter)}\n`);
  process.stdout.write(`- command: \`${command}\`, ${elapsedSeconds.toFixed(0)} s\n- data: ${describeSpec(spec)}\n\n`);
  process.stdout.write(`${markdownTable(results)}\n`);
  if (values.json !== undefined) {
    const json = { mode, command, machine, loadAverageAtEnd: loadAfter, elapsedSeconds, data: spec, sections: results };
    await writeFile(values.json, `${JSON.stringify(json, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v), 2)}\n`);
    process.stderr.write(`[bench] wrote ${values.json}\n`);
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
