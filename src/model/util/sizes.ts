/**
 * Sizes that several layers must agree on: binary units, the 64-bit integer range, the per-row
 * overhead of the size estimate and the gRPC message limit shared by the service and its client.
 */

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
export const TiB = 1024 * GiB;

/** The signed 64-bit range of a diff (docs/contract.md, "Data model"). */
export const I64_MIN = -(1n << 63n);
export const I64_MAX = (1n << 63n) - 1n;

/** Fixed per-row cost in row-size estimates: Arrow offsets (2 x 4 bytes) plus the diff (8). */
export const ROW_OVERHEAD_BYTES = 16;

/** Largest gRPC message, both directions: gRPC's 4 MiB default is too small for inline parts. */
export const DEFAULT_MAX_MESSAGE_BYTES = 64 * MiB;
