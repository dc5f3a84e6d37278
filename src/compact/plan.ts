/**
 * Planning: which runs are merged together, in what order, under the memory bound. Pure
 * functions of the request and config; no I/O.
 */
import type { CompactRequest, Part } from '../model/batch.js';
import { partBytes } from '../model/batch.js';
import type { Description } from '../model/description.js';

/** One run as the merge sees it: parts in order, and whether they arrive sorted. */
export interface PlannedRun {
  /** Index of the input batch the run comes from. */
  readonly input: number;
  /** The description of that batch (for the narrower-batch rule). */
  readonly desc: Description;
  readonly parts: readonly Part[];
  /** False for parts exploded from an UNORDERED run: the merge sorts them in memory. */
  readonly sorted: boolean;
  /** The memory the run is charged: its largest part. */
  readonly maxPartBytes: number;
  /** A readable location for errors and logs: `inputs[i].runs[j]` (plus `.parts[k]` when exploded). */
  readonly name: string;
}

export interface Chunk {
  readonly runs: readonly PlannedRun[];
  /** Σ maxPartBytes over the chunk's runs. */
  readonly memoryBytes: number;
}

export interface Plan {
  readonly chunks: readonly Chunk[];
  readonly memoryViolations: number;
  /** memory bound minus the output reservation (2 x target), saturating at 0. */
  readonly runBudget: number;
}

/**
 * Orders runs round-robin across input batches (first run of each batch, then the second, ...)
 * so that the chunks of a request that does not fit the memory bound mix data from different
 * batches, which is where consolidation finds updates to cancel. UNORDERED runs are exploded into
 * single-part runs. Runs without parts are dropped: they contribute nothing.
 */
export function orderRuns(req: CompactRequest): PlannedRun[] {
  const queues = req.inputs.map((b, i) => ({ i, b, next: 0 }));
  const out: PlannedRun[] = [];
  while (queues.length > 0) {
    const q = queues.shift()!;
    if (q.next >= q.b.runs.length) continue;
    const j = q.next++;
    const run = q.b.runs[j];
    const name = `inputs[${q.i}].runs[${j}]`;
    if (run.order === 'unordered') {
      run.parts.forEach((p, k) =>
        out.push({ input: q.i, desc: q.b.desc, parts: [p], sorted: false, maxPartBytes: partBytes(p), name: `${name}.parts[${k}]` }),
      );
    } else if (run.parts.length > 0) {
      const maxPartBytes = run.parts.reduce((m, p) => Math.max(m, partBytes(p)), 0);
      out.push({ input: q.i, desc: q.b.desc, parts: run.parts, sorted: true, maxPartBytes, name });
    }
    queues.push(q);
  }
  return out;
}

/**
 * Packs runs greedily into chunks whose charged memory fits `runBudget`. A chunk holds at least
 * two runs whenever two are left, even over budget (counted as a memory violation), so every
 * chunk makes progress and repeated compaction converges even when parts were written with a
 * larger target size than today's.
 */
export function chunkRuns(runs: readonly PlannedRun[], memoryBoundBytes: number, targetPartBytes: number): Plan {
  const runBudget = Math.max(0, memoryBoundBytes - 2 * targetPartBytes);
  const chunks: Chunk[] = [];
  let cur: PlannedRun[] = [];
  let mem = 0;
  for (let i = 0; i < runs.length; i++) {
    const r = runs[i];
    if (cur.length > 0 && mem + r.maxPartBytes > runBudget && cur.length >= 2) {
      chunks.push({ runs: cur, memoryBytes: mem });
      cur = [];
      mem = 0;
    }
    cur.push(r);
    mem += r.maxPartBytes;
  }
  if (cur.length > 0) {
    if (cur.length === 1 && chunks.length > 0) {
      // A lone trailing run joins the previous chunk: a one-run chunk would merge nothing.
      const prev = chunks.pop()!;
      chunks.push({ runs: [...prev.runs, cur[0]], memoryBytes: prev.memoryBytes + cur[0].maxPartBytes });
    } else {
      chunks.push({ runs: cur, memoryBytes: mem });
    }
  }
  // Every chunk charged more than the budget was forced over it: that is a violation.
  const memoryViolations = chunks.filter((c) => c.memoryBytes > runBudget).length;
  return { chunks, memoryViolations, runBudget };
}
