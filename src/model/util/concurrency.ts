/**
 * Bounded parallelism: enough calls in flight to hide a store's latency, few enough that a large
 * job does not open hundreds of connections or hold every result at once. The one such loop of
 * the program (writer library, S3 multipart uploads, the merge's first fetches, DeleteParts).
 */

export interface MapLimitOptions {
  /** Called once, with the first failure, before the calls already started have settled. */
  readonly onFailure?: (err: unknown) => void;
}

/**
 * Applies `f` to every item with at most `limit` calls pending, and resolves to the results in
 * input order. On the first failure no new calls start; the promise rejects with that failure
 * once the calls already started have settled (so callers can clean up after a consistent state).
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  f: (item: T, index: number) => Promise<R>,
  opts: MapLimitOptions = {},
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  let failure: unknown;
  const worker = async (): Promise<void> => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        results[i] = await f(items[i], i);
      } catch (err) {
        if (!failed) {
          failure = err;
          failed = true;
          opts.onFailure?.(err);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failed) throw failure;
  return results;
}
