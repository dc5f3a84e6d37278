/**
 * Bounded parallelism for blob round trips: enough requests in flight to hide latency, few
 * enough that a large batch does not open hundreds of connections or hold every part at once.
 */

/** Parts fetched or uploaded at once by the writer library. */
export const DEFAULT_IN_FLIGHT = 4;

/**
 * Applies `f` to every item with at most `limit` calls pending, and resolves to the results in
 * input order. On the first failure no new calls start; the promise rejects with that failure
 * once the calls already started have settled (so callers can clean up after a consistent state).
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, f: (item: T, index: number) => Promise<R>): Promise<R[]> {
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
        if (!failed) failure = err;
        failed = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failed) throw failure;
  return results;
}
