/**
 * Messages between the service's main thread and its compaction worker threads. Everything is
 * plain structured-clonable data (bigints and Uint8Arrays included); errors travel as their kind,
 * message and determinacy because class instances do not survive the thread boundary.
 */
import type { ValidCompactRequest } from '../model/validate.js';
import { CompactdError, type ErrorKind } from '../model/errors.js';
import type { ResumePoint } from '../compact/resume.js';
import type { CompactResult, EngineConfig, EngineEvent } from '../compact/types.js';
import type { FaultSpec } from '../config/faults.js';
import type { BlobRetryEvent } from './store.js';

/** A CompactdError as it crosses threads; `stack` and `cause` are for the log only. */
export interface SerializedError {
  readonly kind: ErrorKind;
  readonly message: string;
  readonly determinate: boolean;
  readonly stack?: string;
  readonly cause?: string;
}

/** Data a worker starts with. */
export interface WorkerInit {
  readonly blobUrl: string;
  /** Least severe engine log level forwarded to the main thread. */
  readonly logLevel: string;
  /** Blob retry budget in seconds (--blob-retry-seconds). */
  readonly retrySeconds: number;
  /** Testing only (--blob-faults): faults injected under the retries. */
  readonly faults?: FaultSpec;
  /** Distinguishes the fault sequences of the threads. */
  readonly faultSeedOffset: number;
}

export type ToWorker =
  | {
      readonly type: 'compact';
      readonly id: number;
      readonly req: ValidCompactRequest;
      readonly config: EngineConfig;
      /** One Int32 the main thread sets to `abortCode(kind)` when it aborts the job (see workers.ts). */
      readonly abortFlag: SharedArrayBuffer;
      /** Set for compactions run as jobs: the engine reports events and keeps durable parts on failure. */
      readonly job?: { readonly prefix: string; readonly resume?: ResumePoint; readonly durable: boolean };
    }
  | { readonly type: 'abort'; readonly id: number; readonly reason: SerializedError }
  | { readonly type: 'close' };

export type FromWorker =
  | { readonly type: 'ready' }
  | { readonly type: 'fatal'; readonly error: SerializedError }
  | { readonly type: 'done'; readonly id: number; readonly result: CompactResult }
  | { readonly type: 'failed'; readonly id: number; readonly error: SerializedError }
  | { readonly type: 'blob'; readonly op: string; readonly seconds: number; readonly ok: boolean; readonly bytes: number }
  | { readonly type: 'retry'; readonly event: BlobRetryEvent }
  | { readonly type: 'event'; readonly id: number; readonly event: EngineEvent }
  | { readonly type: 'log'; readonly id: number; readonly level: 'debug' | 'info' | 'warn'; readonly obj: object; readonly msg: string };

/** Flattens any thrown value into its serializable form (as a CompactdError). */
export function serializeError(err: unknown): SerializedError {
  const e = CompactdError.from(err);
  const cause = e.cause === undefined ? undefined : e.cause instanceof Error ? e.cause.message : String(e.cause);
  return { kind: e.kind, message: e.message, determinate: e.determinate, stack: e.stack, cause };
}

/** Rebuilds a CompactdError from its serialized form; the remote stack and cause go in `cause`. */
export function deserializeError(s: SerializedError): CompactdError {
  const remote = new Error(s.cause ?? s.message);
  if (s.stack) remote.stack = s.stack;
  return new CompactdError(s.kind, s.message, { determinate: s.determinate, cause: remote });
}

/** The code an abort flag holds for each kind of abort; 0 means "not aborted". Total over the kinds. */
const ABORT_CODES: Readonly<Record<ErrorKind, number>> = Object.freeze({
  cancelled: 1,
  deadline: 2,
  unavailable: 3,
  internal: 4,
  invalid: 5,
  not_found: 6,
  data_loss: 7,
  out_of_range: 8,
  exhausted: 9,
  permission: 10,
  unauthenticated: 11,
  misconfigured: 12,
  exists: 13,
  precondition: 14,
});

const ABORT_KINDS: ReadonlyMap<number, ErrorKind> = new Map(
  (Object.entries(ABORT_CODES) as [ErrorKind, number][]).map(([kind, code]) => [code, kind]),
);

/** The non-zero code an abort flag holds for an abort of `kind`. */
export function abortCode(kind: ErrorKind): number {
  return ABORT_CODES[kind];
}

/** The error kind of an abort flag code; undefined for 0 (not aborted). */
export function abortKind(code: number): ErrorKind | undefined {
  return ABORT_KINDS.get(code);
}

/** The reason a worker reports for an abort it learnt of only through the flag (the message with the full reason may still be on its way). */
export function abortReason(kind: ErrorKind): CompactdError {
  return new CompactdError(kind, kind === 'deadline' ? 'compaction timed out' : 'compaction cancelled');
}
