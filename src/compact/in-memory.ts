/**
 * Consolidation of sorted runs that are already in memory: the engine's merge without a blob
 * store, part encoding or checksums. For callers that hold decoded columns (a writer
 * consolidating what it buffered, the benchmarks' comparison with an in-memory database).
 */
import type { Antichain } from '../model/antichain.js';
import { columnsBytes, type PartColumns } from '../part/columns.js';
import { OutputBuilder } from './builder.js';
import { ChunkMerge, sinceMeet } from './merge.js';
import type { LoadedPart } from './source.js';
import { DEFAULT_TARGET_PART_BYTES } from './types.js';

export interface InMemoryResult {
  /** The consolidated rows, sorted, cut into parts of about the target size. */
  readonly parts: PartColumns[];
  readonly rowsIn: number;
  readonly rowsOut: number;
}

/**
 * Merges `runs` (each a list of parts whose concatenation is sorted and consolidated, as in an
 * ORDERED run; all of `dims` coordinates) into their consolidation with `since`. Parts are not
 * re-validated (the caller decoded or built them), but parts of a run out of order with each
 * other are still a `data_loss` error, and a diff sum outside i64 is `out_of_range`.
 */
export async function mergeInMemory(
  runs: readonly (readonly PartColumns[])[],
  dims: number,
  since: Antichain,
  targetPartBytes = DEFAULT_TARGET_PART_BYTES,
): Promise<InMemoryResult> {
  const next = runs.map(() => 0);
  const take = (r: number): LoadedPart => {
    const cols = runs[r][next[r]++];
    return { cols, rows: null, count: cols.len, bytes: columnsBytes(cols), diffSum: 0n, name: `runs[${r}].parts[${next[r] - 1}]` };
  };
  const builder = new OutputBuilder(dims);
  const parts: PartColumns[] = [];
  let rowsOut = 0;
  const merge = new ChunkMerge(
    {
      runs: runs.length,
      takeReady: take,
      next: async (r) => take(r),
      hasMore: (r) => next[r] < runs[r].length,
      released: () => {},
    },
    {
      builder,
      targetPartBytes,
      flush: async () => {
        const cols = builder.take();
        rowsOut += cols.len;
        parts.push(cols);
      },
      checkpoint: () => {},
    },
    dims,
    sinceMeet(since, dims),
  );
  const { rowsIn } = await merge.run();
  return { parts, rowsIn, rowsOut };
}
