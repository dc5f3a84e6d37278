/**
 * The blob store as the service uses it, built the same way in the main thread and in every
 * worker thread from the serve options:
 *
 *   Metered( retries( [Faulty( ] base [ )] ) )
 *
 * - base: the store of the --blob URL. S3 stores retry each request themselves (per multipart
 *   part, with the same policy); file stores get the retry layer here, so a transient EIO or
 *   EMFILE is ridden out the same way.
 * - Faulty: only with --blob-faults (testing): injected failures sit under the retries, as a
 *   flaky network would, so a transient fault costs a retry and a lasting one an UNAVAILABLE.
 * - retries: give up after --blob-retry-seconds with UNAVAILABLE; every retry is reported to
 *   `onRetry` with its operation, key and cause (the compactd_blob_retries_total counter and a
 *   warning in the log: a store degrading shows before anything fails).
 * - Metered (added by the caller): one observation per logical operation, retries included.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import type { Blob, BlobData, BlobMeta, BlobOptions, Versioned, WriteCondition } from '../blob/blob.js';
import { FaultyBlob } from '../blob/faulty.js';
import type { BlobOp } from '../blob/metered.js';
import { RetryingBlob, retryPolicy, type RetryInfo, type RetryPolicy } from '../blob/retry.js';
import { openBlob, parseBlobUrl } from '../blob/url.js';
import { dataBytes } from '../blob/util.js';
import type { FaultSpec } from '../config/faults.js';
import { STORE_PROBE_PREFIX } from '../config/options.js';
import { CompactdError } from '../model/errors.js';
import { roundMs } from '../obs/log.js';

export interface ServiceStoreOptions {
  readonly url: string;
  /** Retry budget: no retry starts later than this after the first attempt. */
  readonly retrySeconds: number;
  /** Testing only: faults to inject under the retries. */
  readonly faults?: FaultSpec;
  /** Seed offset, so each thread's fault sequence differs. */
  readonly faultSeedOffset?: number;
  /** Called once per retry (before its backoff). */
  readonly onRetry?: (event: BlobRetryEvent) => void;
}

/** A blob request about to be retried: what failed, where, why, and how long until the next try. */
export interface BlobRetryEvent {
  /** The blob operation (get, set, delete, head, list), or 'other'. */
  readonly op: string;
  /** The key (or list prefix) as the store saw it. */
  readonly key: string;
  /** The attempt that failed, from 1. */
  readonly attempt: number;
  readonly delayMs: number;
  /** The failure's message. */
  readonly cause: string;
}

/** The event of a retry of `op`, the key taken from the retry's `what` (`<request> <key>`). */
function retryEvent(op: string, info: RetryInfo): BlobRetryEvent {
  const key = /^\S+\s(.*)$/.exec(info.what ?? '')?.[1] ?? '';
  const cause = info.error instanceof Error ? info.error.message : String(info.error);
  return { op, key, attempt: info.attempt, delayMs: info.delayMs, cause };
}

/** S3 request names (s3.ts) to the blob operation they serve. */
const S3_OPS: Readonly<Record<string, BlobOp>> = {
  GET: 'get',
  PUT: 'set',
  CreateMultipartUpload: 'set',
  UploadPart: 'set',
  CompleteMultipartUpload: 'set',
  DELETE: 'delete',
  HEAD: 'head',
  LIST: 'list',
};

/** The operation of an S3 retry, from the request name its error message starts with. */
export function s3RetryOp(error: unknown): BlobOp | 'other' {
  const msg = error instanceof Error ? error.message : '';
  return S3_OPS[/^(\w+)\s/.exec(msg)?.[1] ?? ''] ?? 'other';
}

/**
 * Opens the service's store (see the module comment). Throws `invalid` for a bad URL or fault
 * spec; makes no request.
 */
export async function openServiceStore(o: ServiceStoreOptions): Promise<Blob> {
  const policy = retryPolicy({ maxElapsedMs: o.retrySeconds * 1000 });
  const onRetry = o.onRetry ?? (() => {});
  const spec = parseBlobUrl(o.url);
  if (spec.kind === 's3') {
    const base = await openBlob(spec, {
      s3: { retry: policy, onRetry: (info) => onRetry(retryEvent(s3RetryOp(info.error), info)) },
    });
    if (!o.faults) return base;
    return new PerOpRetryingBlob(faulty(base, o.faults, o.faultSeedOffset ?? 0), policy, onRetry);
  }
  const base = await openBlob(spec);
  const inner = o.faults ? faulty(base, o.faults, o.faultSeedOffset ?? 0) : base;
  return new PerOpRetryingBlob(inner, policy, onRetry);
}

function faulty(inner: Blob, f: FaultSpec, seedOffset: number): FaultyBlob {
  const re = f.failKeys === '' ? undefined : new RegExp(f.failKeys);
  return new FaultyBlob(inner, {
    errorRate: f.errorRate,
    latencyMs: f.latencyMs,
    latencyJitterMs: f.latencyJitterMs,
    ops: f.ops,
    permanent: f.permanent,
    determinate: !f.indeterminate,
    failKeys: re ? (key) => re.test(key) : undefined,
    seed: (f.seed + seedOffset) >>> 0,
  });
}

/** RetryingBlob with the operation of each retry reported. */
class PerOpRetryingBlob implements Blob {
  private readonly by: Readonly<Record<BlobOp, RetryingBlob>>;

  constructor(
    private readonly inner: Blob,
    policy: RetryPolicy,
    onRetry: (event: BlobRetryEvent) => void,
  ) {
    const make = (op: BlobOp) => new RetryingBlob(inner, { policy, onRetry: (info) => onRetry(retryEvent(op, info)) });
    this.by = { get: make('get'), set: make('set'), delete: make('delete'), head: make('head'), list: make('list') };
  }

  get(key: string, opts?: BlobOptions): Promise<Uint8Array | undefined> {
    return this.by.get.get(key, opts);
  }

  set(key: string, data: BlobData, opts?: BlobOptions): Promise<void> {
    return this.by.set.set(key, data, opts);
  }

  getVersioned(key: string, opts?: BlobOptions): Promise<Versioned | undefined> {
    return this.by.get.getVersioned(key, opts);
  }

  setIf(key: string, data: Uint8Array, cond: WriteCondition, opts?: BlobOptions): Promise<string | undefined> {
    return this.by.set.setIf(key, data, cond, opts);
  }

  copy(from: string, to: string, opts?: BlobOptions): Promise<boolean> {
    return this.by.set.copy(from, to, opts);
  }

  delete(key: string, opts?: BlobOptions): Promise<number | undefined> {
    return this.by.delete.delete(key, opts);
  }

  head(key: string, opts?: BlobOptions): Promise<BlobMeta | undefined> {
    return this.by.head.head(key, opts);
  }

  list(prefix: string, opts?: BlobOptions): AsyncIterable<BlobMeta> {
    return this.by.list.list(prefix, opts);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

/**
 * A per-job view of the store that logs each part it reads or writes at debug level, so an
 * operator (or a test) can follow a compaction's progress through its phases: fetching
 * ('part fetched'), merging (between), uploading ('part upload started', 'part uploaded').
 */
export class ProgressBlob implements Blob {
  constructor(
    private readonly inner: Blob,
    private readonly debug: (obj: object, msg: string) => void,
  ) {}

  async get(key: string, opts?: BlobOptions): Promise<Uint8Array | undefined> {
    const start = performance.now();
    const bytes = await this.inner.get(key, opts);
    this.debug({ key, bytes: bytes?.byteLength ?? 0, ms: roundMs(performance.now() - start) }, 'part fetched');
    return bytes;
  }

  async set(key: string, data: BlobData, opts?: BlobOptions): Promise<void> {
    const start = performance.now();
    const bytes = dataBytes(data);
    this.debug({ key, bytes }, 'part upload started');
    await this.inner.set(key, data, opts);
    this.debug({ key, bytes, ms: roundMs(performance.now() - start) }, 'part uploaded');
  }

  getVersioned(key: string, opts?: BlobOptions): Promise<Versioned | undefined> {
    return this.inner.getVersioned(key, opts);
  }

  setIf(key: string, data: Uint8Array, cond: WriteCondition, opts?: BlobOptions): Promise<string | undefined> {
    return this.inner.setIf(key, data, cond, opts);
  }

  copy(from: string, to: string, opts?: BlobOptions): Promise<boolean> {
    return this.inner.copy(from, to, opts);
  }

  delete(key: string, opts?: BlobOptions): Promise<number | undefined> {
    return this.inner.delete(key, opts);
  }

  head(key: string, opts?: BlobOptions): Promise<BlobMeta | undefined> {
    return this.inner.head(key, opts);
  }

  list(prefix: string, opts?: BlobOptions): AsyncIterable<BlobMeta> {
    return this.inner.list(prefix, opts);
  }

  /** The store is shared by every job of the thread: closing a view closes nothing. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * The start-up store check: writes one small object under STORE_PROBE_PREFIX, reads it back,
 * compares and deletes it. Throws a CompactdError of the failure's kind whose message is one line
 * for the operator: the step that failed, where (`where`, the store as a URL without secrets, plus
 * the key) and the cause (which may name a local path: this is the operator's terminal, not a
 * client).
 */
export async function checkStore(blob: Blob, where: string): Promise<void> {
  const key = `${STORE_PROBE_PREFIX}${randomUUID()}`;
  const data = new Uint8Array(randomBytes(32));
  const step = async <T>(what: string, op: () => Promise<T>): Promise<T> => {
    try {
      return await op();
    } catch (err) {
      const e = CompactdError.from(err);
      const cause = e.cause instanceof Error && !e.message.includes(e.cause.message) ? `: ${e.cause.message}` : '';
      throw new CompactdError(e.kind, `store check failed: cannot ${what} ${where} key ${key}: ${e.message}${cause}`, { cause: err });
    }
  };
  await step('write to', () => blob.set(key, data));
  try {
    const back = await step('read back from', () => blob.get(key));
    if (back === undefined || Buffer.compare(Buffer.from(back), Buffer.from(data)) !== 0) {
      throw new CompactdError('misconfigured', `store check failed: ${where} key ${key} read back ${back === undefined ? 'nothing' : 'different bytes'} after a write`);
    }
  } finally {
    await step('delete from', () => blob.delete(key));
  }
}
