/**
 * How a handler answers a failure: the status code of its kind (the one table is
 * wire/status-codes.ts). The message of an `internal` error never reaches the client: it may hold
 * paths, stack fragments or credentials in URLs; the client gets a generic line and the log gets
 * the rest.
 */
import { status, type ServiceError } from '@grpc/grpc-js';
import { CompactdError } from '../model/errors.js';
import { statusCode } from '../wire/status-codes.js';

export { statusCode, statusName } from '../wire/status-codes.js';

/** Longest message sent as status details: they travel in a header, which servers and proxies cap. */
export const MAX_DETAILS_CHARS = 1024;

/** What an `internal` error says to the client. */
export const INTERNAL_MESSAGE = 'internal error';

/**
 * The status a handler answers for a thrown value: its kind's code and its message, except that
 * `internal` errors (and anything that is not a CompactdError) say only `internal error` plus the
 * request id, so the client can quote it and an operator can find the logged cause.
 */
export function toServiceError(err: unknown, requestId?: string): Partial<ServiceError> & { code: status; details: string } {
  const e = CompactdError.from(err);
  const code = statusCode(e.kind);
  let details =
    e.kind === 'internal' ? (requestId ? `${INTERNAL_MESSAGE} (request ${requestId})` : INTERNAL_MESSAGE) : e.message;
  if (details.length > MAX_DETAILS_CHARS) details = `${details.slice(0, MAX_DETAILS_CHARS - 3)}...`;
  const out = new Error(details) as Error & { code: status; details: string };
  out.code = code;
  out.details = details;
  return out;
}
