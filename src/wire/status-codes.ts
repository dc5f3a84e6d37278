/**
 * The one table of error kinds and gRPC status codes (docs/contract.md, "Errors"). The service
 * answers with `statusCode(kind)`, the client reads a status back with `kindOfStatus(code)` (the
 * inverse, derived from the same table), and the CLI prints `statusName(kind)`.
 *
 * The status codes are the gRPC protocol's own numbers, written here rather than read from
 * @grpc/grpc-js so that printing an error and the hand-written health client (client/health.ts)
 * do not load gRPC (about 130 ms of start-up); a test checks them against grpc-js's table.
 */
import type { status } from '@grpc/grpc-js';
import type { ErrorKind } from '../model/errors.js';

/** The gRPC status codes by name (the protocol's numbering). */
export const GRPC_STATUS = Object.freeze({
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
});

export type GrpcStatusName = keyof typeof GRPC_STATUS;

const CODES: Readonly<Record<ErrorKind, GrpcStatusName>> = Object.freeze({
  invalid: 'INVALID_ARGUMENT',
  not_found: 'NOT_FOUND',
  data_loss: 'DATA_LOSS',
  out_of_range: 'OUT_OF_RANGE',
  exhausted: 'RESOURCE_EXHAUSTED',
  unavailable: 'UNAVAILABLE',
  deadline: 'DEADLINE_EXCEEDED',
  cancelled: 'CANCELLED',
  permission: 'PERMISSION_DENIED',
  unauthenticated: 'UNAUTHENTICATED',
  exists: 'ALREADY_EXISTS',
  precondition: 'FAILED_PRECONDITION',
  // Not PERMISSION_DENIED: that one tells the caller that *its* credentials may not do this (tokens,
  // foreign keys). A store the service itself cannot use is a state of the system an operator must
  // fix, which is what FAILED_PRECONDITION means; the message is safe (no path, bucket or key).
  misconfigured: 'FAILED_PRECONDITION',
  internal: 'INTERNAL',
});

// Derived, not written: a kind added to the table above is read back without a second edit. Where
// two kinds share a code (FAILED_PRECONDITION: a request against recorded state, a store the
// service cannot use), the first listed is the one a client reads back.
const KINDS: ReadonlyMap<number, ErrorKind> = new Map(
  (Object.entries(CODES) as [ErrorKind, GrpcStatusName][]).reverse().map(([kind, name]) => [GRPC_STATUS[name], kind]),
);

/** The gRPC status code of an error kind. */
export function statusCode(kind: ErrorKind): status {
  // The numbers are grpc-js's enum values (checked by a test); the enum is a type only here.
  return GRPC_STATUS[CODES[kind]] as status;
}

/** The canonical gRPC name of an error kind's status code, e.g. `NOT_FOUND`. */
export function statusName(kind: ErrorKind): GrpcStatusName {
  return CODES[kind];
}

/** The error kind of a gRPC status code; codes compactd never sends (UNKNOWN, UNIMPLEMENTED...) are `internal`. */
export function kindOfStatus(code: number): ErrorKind {
  return KINDS.get(code) ?? 'internal';
}
