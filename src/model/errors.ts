/**
 * The one error type of compactd. Every failure carries a `kind`; only `wire/status-codes.ts` turns
 * kinds into gRPC status codes and only the CLI prints them. The `cause` is for logs and never
 * reaches a client.
 */
export type ErrorKind =
  | 'invalid'
  | 'not_found'
  | 'data_loss'
  | 'out_of_range'
  | 'exhausted'
  | 'unavailable'
  | 'deadline'
  | 'cancelled'
  | 'permission'
  | 'unauthenticated'
  /**
   * The service's own setup prevents the operation, not the request: its blob store refuses it
   * (permissions, missing or rejected credentials, a bucket that does not exist). Retrying does not
   * help until an operator fixes the store's configuration.
   */
  | 'misconfigured'
  /** Something with that name already exists or is owned elsewhere (a compaction's live lease). */
  | 'exists'
  /** The request conflicts with recorded state (a compaction id reused with other content). */
  | 'precondition'
  | 'internal';

export interface CompactdErrorOptions {
  cause?: unknown;
  /**
   * For storage errors: true when the operation definitely did not happen (safe to retry or to
   * report as failed), false when it may have happened (a timeout after sending a PUT). Default
   * false: an error nobody classified may have taken effect, and only the code that knows the
   * request never reached the store (or was refused by it) may say otherwise.
   */
  determinate?: boolean;
}

export class CompactdError extends Error {
  readonly kind: ErrorKind;
  readonly determinate: boolean;

  constructor(kind: ErrorKind, message: string, options: CompactdErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CompactdError';
    this.kind = kind;
    this.determinate = options.determinate ?? false;
  }

  /** Wraps anything thrown into a CompactdError, keeping CompactdErrors as they are. */
  static from(err: unknown, fallback: ErrorKind = 'internal'): CompactdError {
    if (err instanceof CompactdError) return err;
    if (isAbortError(err)) return new CompactdError('cancelled', 'operation cancelled', { cause: err });
    const message = err instanceof Error ? err.message : String(err);
    return new CompactdError(fallback, message, { cause: err });
  }
}

function isAbortError(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || (err as { code?: string }).code === 'ABORT_ERR');
}

/** The answer to work that arrives or is still running while the server stops. */
export const shuttingDown = (): CompactdError => new CompactdError('unavailable', 'server shutting down');

export const invalid = (message: string): CompactdError => new CompactdError('invalid', message);
export const dataLoss = (message: string, cause?: unknown): CompactdError =>
  new CompactdError('data_loss', message, { cause });
export const internal = (message: string, cause?: unknown): CompactdError =>
  new CompactdError('internal', message, { cause });
