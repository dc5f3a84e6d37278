import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { CompactdError, type ErrorKind } from '../../src/model/errors.js';
import { INTERNAL_MESSAGE, MAX_DETAILS_CHARS, statusCode, statusName, toServiceError } from '../../src/service/status.js';
import { GRPC_STATUS, kindOfStatus } from '../../src/wire/status-codes.js';

const TABLE: [ErrorKind, status, string][] = [
  ['invalid', status.INVALID_ARGUMENT, 'INVALID_ARGUMENT'],
  ['not_found', status.NOT_FOUND, 'NOT_FOUND'],
  ['data_loss', status.DATA_LOSS, 'DATA_LOSS'],
  ['out_of_range', status.OUT_OF_RANGE, 'OUT_OF_RANGE'],
  ['exhausted', status.RESOURCE_EXHAUSTED, 'RESOURCE_EXHAUSTED'],
  ['unavailable', status.UNAVAILABLE, 'UNAVAILABLE'],
  ['deadline', status.DEADLINE_EXCEEDED, 'DEADLINE_EXCEEDED'],
  ['cancelled', status.CANCELLED, 'CANCELLED'],
  ['permission', status.PERMISSION_DENIED, 'PERMISSION_DENIED'],
  ['unauthenticated', status.UNAUTHENTICATED, 'UNAUTHENTICATED'],
  ['internal', status.INTERNAL, 'INTERNAL'],
];

describe('status mapping', () => {
  it('writes the gRPC status codes exactly as grpc-js numbers them', () => {
    const grpcJs = Object.fromEntries(Object.entries(status).filter(([name]) => Number.isNaN(Number(name))));
    expect(GRPC_STATUS).toEqual(grpcJs);
  });

  it('reads every code back to the kind it was sent for (FAILED_PRECONDITION as precondition), unknown codes as internal', () => {
    for (const [kind, code] of TABLE) expect(kindOfStatus(code)).toBe(kind);
    expect(kindOfStatus(status.FAILED_PRECONDITION)).toBe('precondition');
    expect(kindOfStatus(status.UNIMPLEMENTED)).toBe('internal');
    expect(kindOfStatus(99)).toBe('internal');
  });

  it.each(TABLE)('maps %s to %s', (kind, code, name) => {
    expect(statusCode(kind)).toBe(code);
    expect(statusName(kind)).toBe(name);
    const e = toServiceError(new CompactdError(kind, 'part s1/w1/p2 is missing'), 'r1');
    expect(e.code).toBe(code);
  });

  it('passes the message of non-internal errors through', () => {
    expect(toServiceError(new CompactdError('not_found', 'part s1/w1/p2 is missing')).details).toBe('part s1/w1/p2 is missing');
  });

  it('never sends the message or cause of an internal error', () => {
    const secret = new CompactdError('internal', 'open /secret/path?token=abc failed', { cause: new Error('token=abc') });
    const e = toServiceError(secret, 'req-7');
    expect(e.details).toBe(`${INTERNAL_MESSAGE} (request req-7)`);
    expect(JSON.stringify(e)).not.toContain('abc');
    expect(toServiceError(secret).details).toBe(INTERNAL_MESSAGE);
  });

  it('treats anything that is not a CompactdError as internal, and aborts as cancelled', () => {
    expect(toServiceError(new TypeError('x is undefined')).code).toBe(status.INTERNAL);
    expect(toServiceError(new TypeError('x is undefined')).details).not.toContain('undefined');
    expect(toServiceError('boom').code).toBe(status.INTERNAL);
    const abort = Object.assign(new Error('aborted'), { name: 'AbortError' });
    expect(toServiceError(abort).code).toBe(status.CANCELLED);
  });

  it('caps long details', () => {
    const e = toServiceError(new CompactdError('invalid', 'x'.repeat(10_000)));
    expect(e.details.length).toBe(MAX_DETAILS_CHARS);
    expect(e.details.endsWith('...')).toBe(true);
  });
});
