/**
 * Bounded parallelism of the writer library's blob round trips (the loop itself is shared:
 * model/util/concurrency.ts).
 */
export { mapLimit } from '../model/util/concurrency.js';

/** Parts fetched or uploaded at once by the writer library. */
export const DEFAULT_IN_FLIGHT = 4;
