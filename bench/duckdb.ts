/**
 * Section "duckdb": the same updates consolidated by DuckDB and by the engine, repetitions
 * interleaved. DuckDB gets the updates loaded into an in-memory table beforehand (not timed) and
 * runs `CREATE TABLE out AS SELECT ... GROUP BY k, v, greatest(t, since) HAVING sum(d) <> 0
 * ORDER BY k, v, t`, so its result is materialized. The engine's merge gets the same presorted
 * runs as decoded columns (built beforehand, not timed) and consolidates them into output
 * columns held in memory (`mergeInMemory`): the same job, the target's comparison. The whole
 * engine (parts in a MemoryBlob: fetch, checksum verification, decode, merge, encode, checksum,
 * store) is timed too, for reference. All three results are checked to hold the same number of
 * updates and the same diff sum.
 *
 * @duckdb/node-api lives in bench/package.json (`npm --prefix bench install`) and is imported
 * dynamically, so the root install and type-check do not need it; without it the section reports
 * itself skipped with the reason.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { MemoryBlob } from '../src/blob/memory.js';
import { compact } from '../src/compact/compact.js';
import { validateCompactRequest } from '../src/model/validate.js';
import type { EngineConfig } from '../src/compact/types.js';
import { ensureCodecs } from '../src/part/codecs.js';
import { mergeInMemory } from '../src/compact/in-memory.js';
import type { PartColumns } from '../src/part/columns.js';
import { drawRuns, rowsPerPart, runColumns, type DataSpec, type RunIds } from './data.js';
import { deleteAll, outputKeys, writeInputs } from './inputs.js';
import { atLeast, fmt, fmtCount, fmtMs, type SectionResult } from './report.js';
import { compare, mbPerSecond, type RepOptions } from './stats.js';

export interface DuckdbSectionOptions extends RepOptions {
  readonly spec: DataSpec;
  readonly config: EngineConfig;
  readonly inputPartBytes: number;
}

/** Target from issue 6: the engine at least this many times faster than DuckDB. */
export const DUCKDB_OVER_ENGINE_MIN = 2;

// The slice of @duckdb/node-api used here, declared locally so type-checking never needs it.
interface DuckAppender {
  appendBlob(value: Uint8Array): void;
  appendUBigInt(value: bigint): void;
  appendBigInt(value: bigint): void;
  endRow(): void;
  closeSync(): void;
}
interface DuckReader {
  getRows(): unknown[][];
}
export interface DuckConnection {
  run(sql: string): Promise<unknown>;
  runAndReadAll(sql: string): Promise<DuckReader>;
  createAppender(table: string): Promise<DuckAppender>;
  closeSync(): void;
}
interface DuckInstance {
  connect(): Promise<DuckConnection>;
  closeSync(): void;
}
interface DuckModule {
  DuckDBInstance: { create(path?: string, options?: Record<string, string>): Promise<DuckInstance> };
}

const DUCKDB_PACKAGE = '@duckdb/node-api';

/** Loads DuckDB, or says why it cannot. */
export async function loadDuckdb(): Promise<{ mod: DuckModule } | { reason: string }> {
  try {
    // Resolved from bench/ (its own package.json), also when the suite runs compiled from .bench/.
    const benchDir = new URL(import.meta.url.endsWith('.js') ? '../../bench/' : './', import.meta.url);
    const specifier = pathToFileURL(createRequire(new URL('package.json', benchDir)).resolve(DUCKDB_PACKAGE)).href;
    const mod = (await import(specifier)) as DuckModule;
    const db = await mod.DuckDBInstance.create(':memory:');
    const conn = await db.connect();
    await conn.runAndReadAll('SELECT 1');
    conn.closeSync();
    db.closeSync();
    return { mod };
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    return { reason: `${DUCKDB_PACKAGE} is not usable (${why}); install it with \`npm --prefix bench install\`` };
  }
}

/** Loads the runs into table `u(k BLOB, v BLOB, t UBIGINT, d BIGINT)` with DuckDB's appender. */
export async function loadTable(conn: DuckConnection, spec: DataSpec, runs: readonly RunIds[]): Promise<void> {
  await conn.run('CREATE TABLE u (k BLOB NOT NULL, v BLOB NOT NULL, t UBIGINT NOT NULL, d BIGINT NOT NULL)');
  const app = await conn.createAppender('u');
  const CHUNK = 65_536;
  for (const run of runs) {
    for (let from = 0; from < run.ids.length; from += CHUNK) {
      const cols = runColumns(spec, run, from, Math.min(run.ids.length, from + CHUNK));
      for (let i = 0; i < cols.len; i++) {
        app.appendBlob(cols.kData.subarray(cols.kOffsets[i], cols.kOffsets[i + 1]));
        app.appendBlob(cols.vData.subarray(cols.vOffsets[i], cols.vOffsets[i + 1]));
        app.appendUBigInt(cols.t[i]);
        app.appendBigInt(cols.d[i]);
        app.endRow();
      }
    }
  }
  app.closeSync();
}

/** Runs the section; see the module comment. */
export async function duckdbSection(opts: DuckdbSectionOptions): Promise<SectionResult> {
  const title = 'engine vs DuckDB';
  const loaded = await loadDuckdb();
  if ('reason' in loaded) return { name: 'duckdb', title, rows: [], skipped: loaded.reason, data: { skipped: loaded.reason } };
  await ensureCodecs();
  const { spec } = opts;
  const runs = drawRuns(spec);
  const blob = new MemoryBlob();
  const input = await writeInputs(blob, 'bench', spec, opts.inputPartBytes, runs);
  const db = await loaded.mod.DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    await loadTable(conn, spec, runs);
    const threads = String((await conn.runAndReadAll("SELECT current_setting('threads')")).getRows()[0][0]);
    const since = runs.length;
    const query =
      `CREATE TABLE out AS SELECT k, v, greatest(t, ${since}::UBIGINT) AS t, sum(d) AS d FROM u ` +
      `GROUP BY k, v, greatest(t, ${since}::UBIGINT) HAVING sum(d) <> 0 ORDER BY k, v, t`;
    // The merge on its own: the same runs as decoded columns (built before timing, as the table
    // is loaded before timing), consolidated into output columns held in memory.
    const per = rowsPerPart(spec, opts.inputPartBytes);
    const columns: PartColumns[][] = runs.map((run) => {
      const parts: PartColumns[] = [];
      for (let from = 0; from < run.ids.length; from += per) parts.push(runColumns(spec, run, from, Math.min(run.ids.length, from + per)));
      return parts;
    });
    const sinceFrontier = [[BigInt(runs.length)]];
    let merged = { rows: 0, diffSum: 0n };
    let mergedParts: PartColumns[] = [];
    let engineOut: string[] = [];
    let engineRows = 0;
    let engineDiffSum = 0n;
    let duck = { rows: 0, diffSum: 0n };
    const [merge, engine, duckdb] = await compare(
      [
        {
          run: async () => {
            mergedParts = (await mergeInMemory(columns, 1, sinceFrontier, opts.config.targetPartBytes)).parts;
          },
          after: async () => {
            let rows = 0;
            let diffSum = 0n;
            for (const part of mergedParts) {
              rows += part.len;
              for (const d of part.d) diffSum += d;
            }
            merged = { rows, diffSum };
            mergedParts = [];
          },
        },
        {
          run: async () => {
            const res = await compact(validateCompactRequest(input.req), { blob, config: opts.config });
            engineOut = outputKeys(input.req.shardId, res.output);
            engineRows = res.stats.outputUpdates;
            engineDiffSum = 0n;
            for (const run of res.output.runs) for (const p of run.parts) if (p.kind === 'hollow') engineDiffSum += p.diffsSum ?? 0n;
          },
          after: () => deleteAll(blob, engineOut),
        },
        {
          run: async () => {
            await conn.run(query);
          },
          after: async () => {
            const [[rows, sum]] = (await conn.runAndReadAll('SELECT count(*), coalesce(sum(d), 0) FROM out')).getRows();
            duck = { rows: Number(rows), diffSum: BigInt(String(sum)) };
            await conn.run('DROP TABLE out');
          },
        },
      ],
      opts,
    );
    for (const [who, r] of [['the engine', { rows: engineRows, diffSum: engineDiffSum }], ['the in-memory merge', merged]] as const) {
      if (duck.rows !== r.rows || duck.diffSum !== r.diffSum) {
        throw new Error(`DuckDB and ${who} disagree: ${duck.rows} vs ${r.rows} updates, diff sum ${duck.diffSum} vs ${r.diffSum}`);
      }
    }
    const ratioWall = duckdb.wallMs / merge.wallMs;
    const ratioCpu = duckdb.cpuMs / merge.cpuMs;
    const engineRatioWall = duckdb.wallMs / engine.wallMs;
    const what = `${fmtCount(input.updates)} updates, ${spec.runs} runs, ${fmt(input.inputBytes / 1e6)} MB of parts`;
    return {
      name: 'duckdb',
      title,
      rows: [
        {
          name: `engine merge, runs in memory (${what}): decoded columns in, consolidated columns out`,
          wall: `${fmtMs(merge.wallMs)} (${fmt(mbPerSecond(input.inputBytes, merge.wallMs))} MB/s)`,
          cpu: fmtMs(merge.cpuMs),
        },
        {
          name: `whole engine, memory store (same parts: fetch, verify checksums, decode, merge, encode, checksum, store)`,
          wall: `${fmtMs(engine.wallMs)} (${fmt(mbPerSecond(input.inputBytes, engine.wallMs))} MB/s)`,
          cpu: fmtMs(engine.cpuMs),
        },
        { name: `DuckDB, same updates in a table (${threads} threads)`, wall: fmtMs(duckdb.wallMs), cpu: fmtMs(duckdb.cpuMs) },
        {
          name: 'DuckDB time / engine merge time',
          wall: `${fmt(ratioWall)}x`,
          cpu: `${fmt(ratioCpu)}x`,
          check: atLeast(ratioWall, DUCKDB_OVER_ENGINE_MIN, `${DUCKDB_OVER_ENGINE_MIN}x (wall)`),
        },
        { name: 'DuckDB time / whole engine time', wall: `${fmt(engineRatioWall)}x`, cpu: `${fmt(duckdb.cpuMs / engine.cpuMs)}x` },
      ],
      data: {
        spec,
        inputBytes: input.inputBytes,
        inputUpdates: input.updates,
        outputUpdates: engineRows,
        duckdbThreads: threads,
        query,
        merge,
        engine,
        duckdb,
        ratioWall,
        engineRatioWall,
        ratioCpu,
      },
    };
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}
