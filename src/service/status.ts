/**
 * The one place where CompactdError kinds become gRPC status codes (CONTRACT.md section 3,
 * "Errors"). The message of an `internal` error never reaches the client: it may hold paths,
 * stack fragments or credentials in URLs; the client gets a generic line and the log gets the rest.
 */
import { status, type ServiceError } from '@grpc/grpc-js';
import { CompactdError, type ErrorKind } from '../model/errors.js';

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
  internal: status.INTERNAL,
});

/** Longest message sent as status details: they travel in a header, which servers and proxies cap. */
export const MAX_DETAILS_CHARS = 1024;

/** What an `internal` error says to the client. */
export const INTERNAL_MESSAGE = 'internal error';

/** The gRPC status code of an error kind. */
export function statusCode(kind: ErrorKind): status {
  return CODES[kind];
}

/** The canonical gRPC name of an error kind's status code, e.g. `NOT_FOUND`; pure, for the CLI. */
export function statusName(kind: ErrorKind): string {
  return status[CODES[kind]];
}

/**
 * The status a handler answers for a thrown value: its kind's code and its message, except that
 * `internal` errors (and anything that is not a CompactdError) say only `internal error` plus the
 * request id, so the client can quote it and an operator can find the logged cause.
 */
export function toServiceError(err: unknown, requestId?: string): Partial<ServiceError> & { code: status; details: string } {
  const e = CompactdError.from(err);
  const code = CODES[e.kind];
  let details =
    e.kind === 'internal' ? (requestId ? `${INTERNAL_MESSAGE} (request ${requestId})` : INTERNAL_MESSAGE) : e.message;
  if (details.length > MAX_DETAILS_CHARS) details = `${details.slice(0, MAX_DETAILS_CHARS - 3)}...`;
  const out = new Error(details) as Error & { code: status; details: string };
  out.code = code;
  out.details = details;
  return out;
}
