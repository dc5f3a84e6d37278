/**
 * Child process of the scaling section's memory measurement: runs one compaction against a file
 * store and prints, as one JSON line on stdout, the process's resident-set high-water mark before
 * the compaction (imports, codecs and the parsed request: the fixed overhead) and after it.
 * A fresh process per measurement keeps the figure free of whatever the parent holds.
 *
 * argv: a JSON `RssChildArgs`.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { openBlob } from '../src/blob/url.js';
import { compact } from '../src/compact/compact.js';
import { validateCompactRequest } from '../src/model/validate.js';
import { DEFAULT_ENGINE_CONFIG } from '../src/compact/types.js';
import { ensureCodecs } from '../src/part/codecs.js';
import { compactRequestFromJson } from '../src/wire/json.js';
import { deleteAll, outputKeys } from './inputs.js';
import type { Sample } from './stats.js';
import { timeOnce } from './stats.js';

export interface RssChildArgs {
  /** Root of the file store holding the inputs. */
  readonly dir: string;
  /** File holding the CompactRequest as canonical JSON. */
  readonly requestFile: string;
  readonly memoryBoundBytes: number;
  readonly targetPartBytes: number;
}

export interface RssChildResult {
  /** VmHWM before the compaction, bytes. */
  readonly baselineRssBytes: number;
  /** VmHWM after it, bytes. */
  readonly peakRssBytes: number;
  /** The engine's own account of input bytes held at once. */
  readonly peakResidentBytes: number;
  readonly chunks: number;
  readonly memoryViolations: number;
  readonly inputUpdates: number;
  readonly time: Sample;
  /** Peaks of process.memoryUsage() fields, sampled every few ms (the merge yields at part boundaries). */
  readonly peakHeapUsedBytes: number;
  readonly peakArrayBuffersBytes: number;
}

const SAMPLE_MS = 5;

/** The resident-set high-water mark of this process in bytes (Linux VmHWM, else maxRSS). */
function highWaterRss(): number {
  try {
    const m = /^VmHWM:\s+(\d+)\s+kB$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m !== null) return Number(m[1]) * 1024;
  } catch {
    // not Linux: fall through
  }
  return process.resourceUsage().maxRSS * 1024;
}

async function main(): Promise<void> {
  const args = JSON.parse(process.argv[2]) as RssChildArgs;
  await ensureCodecs();
  const req = compactRequestFromJson(await readFile(args.requestFile, 'utf8'));
  const blob = await openBlob(`file://${args.dir}`);
  const config = { ...DEFAULT_ENGINE_CONFIG, memoryBoundBytes: args.memoryBoundBytes, targetPartBytes: args.targetPartBytes };
  const baselineRssBytes = highWaterRss();
  let peakHeapUsedBytes = 0;
  let peakArrayBuffersBytes = 0;
  const sample = (): void => {
    const m = process.memoryUsage();
    peakHeapUsedBytes = Math.max(peakHeapUsedBytes, m.heapUsed);
    peakArrayBuffersBytes = Math.max(peakArrayBuffersBytes, m.arrayBuffers);
  };
  const timer = setInterval(sample, SAMPLE_MS);
  let result: Awaited<ReturnType<typeof compact>> | undefined;
  const time = await timeOnce(async () => {
    result = await compact(validateCompactRequest(req), { blob, config });
  });
  clearInterval(timer);
  sample();
  const peakRssBytes = highWaterRss();
  const out: RssChildResult = {
    baselineRssBytes,
    peakRssBytes,
    peakResidentBytes: result!.peakResidentBytes,
    chunks: result!.stats.chunks,
    memoryViolations: result!.stats.memoryViolations,
    inputUpdates: result!.stats.inputUpdates,
    time,
    peakHeapUsedBytes,
    peakArrayBuffersBytes,
  };
  await deleteAll(blob, outputKeys(req.shardId, result!.output));
  await blob.close();
  process.stdout.write(`${JSON.stringify(out)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
