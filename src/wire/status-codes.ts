/**
 * The one table of error kinds and gRPC status codes (docs/contract.md, "Errors"). The service
 * answers with `statusCode(kind)`, the client reads a status back with `kindOfStatus(code)` (the
 * inverse, derived from the same table), and the CLI prints `statusName(kind)`.
 */
import { status } from '@grpc/grpc-js';
import type { ErrorKind } from '../model/errors.js';

const CODES: Readonly<Record<ErrorKind, status>> = Object.freeze({
  invalid: status.INVALID_ARGUMENT,
  not_found: status.NOT_FOUND,
  data_loss: status.DATA_LOSS,
  out_of_range: status.OUT_OF_RANGE,
  exhausted: status.RESOURCE_EXHAUSTED,
  unavailable: status.UNAVAILABLE,
  deadline: status.DEADLINE_EXCEEDED,
  cancelled: status.CANCELLED,
  permission: status.PERMISSION_DENIED,
  unauthenticated: status.UNAUTHENTICATED,
  exists: status.ALREADY_EXISTS,
  precondition: status.FAILED_PRECONDITION,
  // Not PERMISSION_DENIED: that one tells the caller that *its* credentials may not do this (tokens,
  // foreign keys). A store the service itself cannot use is a state of the system an operator must
  // fix, which is what FAILED_PRECONDITION means; the message is safe (no path, bucket or key).
  misconfigured: status.FAILED_PRECONDITION,
  internal: status.INTERNAL,
});

// Derived, not written: a kind added to the table above is read back without a second edit. Where
// two kinds share a code (FAILED_PRECONDITION: a request against recorded state, a store the
// service cannot use), the first listed is the one a client reads back.
const KINDS: ReadonlyMap<status, ErrorKind> = new Map(
  (Object.entries(CODES) as [ErrorKind, status][]).reverse().map(([kind, code]) => [code, kind]),
);

/** The gRPC status code of an error kind. */
export function statusCode(kind: ErrorKind): status {
  return CODES[kind];
}

/** The canonical gRPC name of an error kind's status code, e.g. `NOT_FOUND`. */
export function statusName(kind: ErrorKind): string {
  return status[CODES[kind]];
}

/** The error kind of a gRPC status code; codes compactd never sends (UNKNOWN, UNIMPLEMENTED...) are `internal`. */
export function kindOfStatus(code: status): ErrorKind {
  return KINDS.get(code) ?? 'internal';
}
