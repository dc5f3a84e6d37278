/**
 * The one place for each default that more than one layer applies: the engine's sizes and the
 * limits a request is validated against. The service's options, the CLI's --local mode and the
 * engine read them from here. Defaults follow Materialize persist where it has one.
 */
import { MAX_PART_KEY_CHARS } from './keys.js';
import { GiB, MiB } from './util/sizes.js';

/** Materialize's compaction_memory_bound_bytes: decoded bytes one compaction may hold. */
export const DEFAULT_MEMORY_BOUND_BYTES = 1 * GiB;
/** Materialize's blob_target_size: approximate size of each output part. */
export const DEFAULT_TARGET_PART_BYTES = 128 * MiB;

/** Far above any spine merge; bounds planning work per request. */
export const DEFAULT_MAX_INPUTS = 10_000;
/** Bounds the plan's memory, not the data size. */
export const DEFAULT_MAX_PARTS = 1_000_000;
/** Partial orders beyond a handful of coordinates are not a real use. */
export const DEFAULT_MAX_DIMS = 16;
/**
 * Checking that a frontier is an antichain compares every pair of its elements: 1024 elements
 * cost about a million comparisons (milliseconds); real frontiers have a handful.
 */
export const DEFAULT_MAX_ANTICHAIN_ELEMENTS = 1024;
/** docs/contract.md allows part keys of up to 512 characters; a deployment may allow fewer. */
export const DEFAULT_MAX_KEY_CHARS = MAX_PART_KEY_CHARS;
