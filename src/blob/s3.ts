/**
 * A store on S3 or an S3-compatible service (MinIO, s3rver) through @aws-sdk/client-s3.
 *
 * The SDK's own retries are off: every request goes through `retry` (retry.ts) so backoff, the
 * give-up budget and cancellation are the same for every store. Failures are classified as
 * determinate (the request definitely had no effect: refused connection, a 4xx) or not (a timeout
 * or reset after sending, a 5xx), which callers need to know whether a write may have landed.
 */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { CompactdError } from '../model/errors.js';
import { mapLimit } from '../model/util/concurrency.js';
import type { Blob, BlobData, BlobMeta, BlobOptions, Versioned, WriteCondition } from './blob.js';
import { retry, retryPolicy, type RetryOptions, type RetryPolicy } from './retry.js';
import { cancelled, checkKey, checkPrefix, chunksOf, dataBytes } from './util.js';

/** Objects larger than this go up in parts: one slow or failed part is retried alone. */
export const MULTIPART_THRESHOLD_BYTES = 8 * 1024 * 1024;
/** Smallest part: S3 needs >= 5 MiB; 8 MiB keeps per-request overhead small. */
export const MIN_PART_BYTES = 8 * 1024 * 1024;
/** S3 allows at most 10000 parts per upload: parts grow beyond MIN_PART_BYTES to stay under it. */
export const MAX_PARTS = 10_000;
/** Parts in flight per upload: enough to fill a link without holding many sockets per object. */
export const PART_CONCURRENCY = 4;
/** A TCP connect that takes longer than this is treated as a failed (determinate) attempt. */
export const CONNECTION_TIMEOUT_MS = 5_000;
/** A socket idle this long mid-request is a failed (indeterminate) attempt. */
export const SOCKET_TIMEOUT_MS = 30_000;
/** Budget for aborting a failed multipart upload; best effort, lifecycle rules clean up the rest. */
const ABORT_UPLOAD_BUDGET_MS = 2_000;

/**
 * The SDK's logger: silent, as its default is, except that with the default the SDK writes a
 * warning to the console on every failed request whose body is a stream (parts sent as chunks).
 * Failures are classified, retried and reported by `retry` instead.
 */
const SDK_LOGGER = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };

export type ChecksumMode = 'when_required' | 'when_supported';

export interface S3Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly sessionToken?: string;
}

export interface S3BlobOptions {
  readonly bucket: string;
  /** Prepended to every key as `<prefix>/<key>`; empty for none. */
  readonly prefix?: string;
  /** e.g. `http://127.0.0.1:9000` for MinIO or s3rver; unset for AWS. */
  readonly endpoint?: string;
  /** Default: `us-east-1` when an endpoint is given, else the SDK's region chain. */
  readonly region?: string;
  /** Path-style addressing (`endpoint/bucket/key`); default true when an endpoint is given. */
  readonly forcePathStyle?: boolean;
  /** Default: the SDK's standard chain (AWS_ACCESS_KEY_ID etc., profiles, instance roles). */
  readonly credentials?: S3Credentials;
  /**
   * Flexible checksums. 'when_required' (default) sends none unless an operation demands one:
   * MinIO and s3rver mishandle the SDK's default CRC32 trailers (s3rver stores the aws-chunked
   * framing as object bytes). 'when_supported' is the SDK default, right for AWS itself.
   */
  readonly checksums?: ChecksumMode;
  readonly retry?: Partial<RetryPolicy>;
  readonly onRetry?: RetryOptions['onRetry'];
  readonly multipartThresholdBytes?: number;
  readonly minPartBytes?: number;
  readonly partConcurrency?: number;
  readonly connectionTimeoutMs?: number;
  readonly socketTimeoutMs?: number;
  /** Keys per ListObjectsV2 page (S3 caps it at 1000). */
  readonly listPageSize?: number;
}

export class S3Blob implements Blob {
  readonly bucket: string;
  readonly prefix: string;
  private readonly client: S3Client;
  private readonly policy: RetryPolicy;
  private readonly onRetry: RetryOptions['onRetry'];
  private readonly multipartThreshold: number;
  private readonly minPartBytes: number;
  private readonly partConcurrency: number;
  private readonly listPageSize: number;

  /** Creates the client; no request is made until the first operation. */
  constructor(opts: S3BlobOptions) {
    if (!opts.bucket) throw new CompactdError('invalid', 'S3 store needs a bucket');
    this.bucket = opts.bucket;
    this.prefix = (opts.prefix ?? '').replace(/^\/+|\/+$/g, '');
    if (this.prefix !== '') checkKey(this.prefix);
    this.policy = retryPolicy(opts.retry);
    this.onRetry = opts.onRetry;
    this.multipartThreshold = positive(opts.multipartThresholdBytes ?? MULTIPART_THRESHOLD_BYTES, 'multipartThresholdBytes');
    this.minPartBytes = positive(opts.minPartBytes ?? MIN_PART_BYTES, 'minPartBytes');
    this.partConcurrency = positive(opts.partConcurrency ?? PART_CONCURRENCY, 'partConcurrency');
    this.listPageSize = Math.min(1000, positive(opts.listPageSize ?? 1000, 'listPageSize'));
    const checksums = opts.checksums === 'when_supported' ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED';
    const hasEndpoint = opts.endpoint !== undefined && opts.endpoint !== '';
    this.client = new S3Client({
      region: opts.region ?? (hasEndpoint ? 'us-east-1' : undefined),
      endpoint: hasEndpoint ? opts.endpoint : undefined,
      forcePathStyle: opts.forcePathStyle ?? hasEndpoint,
      // A copy: the SDK annotates the object it is given (and callers may hand in a frozen one).
      credentials: opts.credentials ? { ...opts.credentials } : undefined,
      requestChecksumCalculation: checksums,
      responseChecksumValidation: checksums,
      maxAttempts: 1,
      logger: SDK_LOGGER,
      requestHandler: {
        connectionTimeout: opts.connectionTimeoutMs ?? CONNECTION_TIMEOUT_MS,
        socketTimeout: opts.socketTimeoutMs ?? SOCKET_TIMEOUT_MS,
      },
    });
  }

  /** The minimum part size used for an object of `len` bytes. */
  partSize(len: number): number {
    return Math.max(this.minPartBytes, Math.ceil(len / MAX_PARTS));
  }

  private objectKey(key: string): string {
    checkKey(key);
    return this.prefix === '' ? key : `${this.prefix}/${key}`;
  }

  /** One S3 request under the retry policy, its failures classified. */
  private call<T>(what: string, signal: AbortSignal | undefined, op: (attempt: number) => Promise<T>): Promise<T> {
    return retry(
      async (attempt) => {
        try {
          return await op(attempt);
        } catch (err) {
          throw classifyS3Error(err, what, signal, this.bucket);
        }
      },
      { policy: this.policy, signal, what, onRetry: this.onRetry },
    );
  }

  async get(key: string, opts?: BlobOptions): Promise<Uint8Array | undefined> {
    // One GET either way: the version (ETag) comes with the body.
    return (await this.getVersioned(key, opts))?.data;
  }


  async set(key: string, data: BlobData, opts?: BlobOptions): Promise<void> {
    const Key = this.objectKey(key);
    const signal = opts?.signal;
    const chunks = chunksOf(data);
    const size = dataBytes(data);
    if (size <= this.multipartThreshold) {
      const body = new RequestBody(chunks, 0, size);
      await this.call(`PUT ${Key}`, signal, () =>
        this.client.send(body.sign(new PutObjectCommand({ Bucket: this.bucket, Key, Body: body.open(), ContentLength: size })), {
          abortSignal: signal,
        }),
      );
      return;
    }
    await this.putMultipart(Key, chunks, size, signal);
  }

  private async putMultipart(Key: string, chunks: readonly Uint8Array[], size: number, signal: AbortSignal | undefined): Promise<void> {
    const Bucket = this.bucket;
    const created = await this.call(`CreateMultipartUpload ${Key}`, signal, () =>
      this.client.send(new CreateMultipartUploadCommand({ Bucket, Key }), { abortSignal: signal }),
    );
    const UploadId = created.UploadId;
    if (!UploadId) throw new CompactdError('unavailable', `CreateMultipartUpload ${Key}: no upload id in the response`);

    const partSize = this.partSize(size);
    const count = Math.ceil(size / partSize);
    const etags: string[] = new Array(count);
    // One part's final failure stops the others instead of letting them retry for the whole budget.
    const stop = new AbortController();
    const partSignal = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
    const uploadPart = async (i: number) => {
      const body = new RequestBody(chunks, i * partSize, Math.min(size, (i + 1) * partSize));
      const res = await this.call(`UploadPart ${Key} #${i + 1}`, partSignal, () =>
        this.client.send(
          body.sign(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: i + 1, Body: body.open(), ContentLength: body.size })),
          { abortSignal: partSignal },
        ),
      );
      if (!res.ETag) throw new CompactdError('unavailable', `UploadPart ${Key} #${i + 1}: no ETag in the response`);
      etags[i] = res.ETag;
    };
    try {
      const indexes = Array.from({ length: count }, (_, i) => i);
      try {
        // The first failure is the original one: the stops it causes come after it.
        await mapLimit(indexes, this.partConcurrency, uploadPart, { onFailure: () => stop.abort() });
      } catch (err) {
        throw signal?.aborted ? cancelled(signal) : err;
      }
    } catch (err) {
      await this.abortUpload(Key, UploadId);
      // Nothing becomes visible before CompleteMultipartUpload: a failure up to here had no effect.
      throw asDeterminate(err);
    }

    try {
      await this.call(`CompleteMultipartUpload ${Key}`, signal, async (attempt) => {
        try {
          return await this.client.send(
            new CompleteMultipartUploadCommand({
              Bucket,
              Key,
              UploadId,
              MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
            }),
            { abortSignal: signal },
          );
        } catch (err) {
          // An earlier attempt may have completed the upload and only its answer was lost.
          if (attempt > 1 && (err as { name?: string }).name === 'NoSuchUpload') {
            const head = await this.client.send(new HeadObjectCommand({ Bucket, Key }), { abortSignal: signal });
            if (head.ContentLength === size) return undefined;
          }
          throw err;
        }
      });
    } catch (err) {
      await this.abortUpload(Key, UploadId);
      throw err;
    }
  }

  private async abortUpload(Key: string, UploadId: string): Promise<void> {
    try {
      await retry(
        async () => {
          try {
            return await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key, UploadId }));
          } catch (err) {
            throw classifyS3Error(err, `AbortMultipartUpload ${Key}`, undefined, this.bucket);
          }
        },
        { policy: { ...this.policy, maxElapsedMs: Math.min(this.policy.maxElapsedMs, ABORT_UPLOAD_BUDGET_MS) } },
      );
    } catch {
      // Best effort: an orphaned upload costs storage until a lifecycle rule removes it, nothing more.
    }
  }

  async getVersioned(key: string, opts?: BlobOptions): Promise<Versioned | undefined> {
    const Key = this.objectKey(key);
    const signal = opts?.signal;
    return this.call(`GET ${Key}`, signal, async () => {
      let res;
      try {
        res = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key }), { abortSignal: signal });
      } catch (err) {
        if (isNotFound(err)) return undefined;
        throw err;
      }
      const data = await readBody(res.Body, res.ContentLength, signal);
      return { data, version: res.ETag ?? '' };
    });
  }

  /**
   * One PUT with `If-None-Match: *` or `If-Match: <etag>`: S3 applies the condition atomically
   * and answers 412 when it does not hold (409 when a concurrent conditional write is in
   * progress, retried). Stores that ignore the headers (s3rver) write unconditionally. Objects
   * written this way are small records: larger ones are refused rather than sent in parts.
   */
  async setIf(key: string, data: Uint8Array, cond: WriteCondition, opts?: BlobOptions): Promise<string | undefined> {
    const Key = this.objectKey(key);
    const signal = opts?.signal;
    if (data.length > this.multipartThreshold) {
      throw new CompactdError('invalid', `conditional PUT ${Key}: ${data.length} bytes is over the single-request limit`);
    }
    const condition = 'ifAbsent' in cond ? { IfNoneMatch: '*' } : { IfMatch: cond.ifMatch };
    return this.call(`PUT ${Key}`, signal, async () => {
      try {
        const res = await this.client.send(
          new PutObjectCommand({ Bucket: this.bucket, Key, Body: data, ContentLength: data.length, ...condition }),
          { abortSignal: signal },
        );
        return res.ETag ?? '';
      } catch (err) {
        const st = statusOf(err);
        if (st === 412) return undefined;
        // A 404 answers If-Match on a missing key on some stores: the condition did not hold.
        if (st === 404 && 'ifMatch' in cond) return undefined;
        if (st === 409) throw new CompactdError('unavailable', `PUT ${Key}: conditional write conflict (409)`, { cause: err, determinate: true });
        throw err;
      }
    });
  }

  /** A server-side CopyObject: the bytes stay in the store. */
  async copy(from: string, to: string, opts?: BlobOptions): Promise<boolean> {
    const source = this.objectKey(from);
    const Key = this.objectKey(to);
    const signal = opts?.signal;
    const CopySource = `${this.bucket}/${source.split('/').map(encodeURIComponent).join('/')}`;
    return this.call(`COPY ${source} ${Key}`, signal, async () => {
      try {
        await this.client.send(new CopyObjectCommand({ Bucket: this.bucket, Key, CopySource }), { abortSignal: signal });
        return true;
      } catch (err) {
        if (isNotFound(err)) return false;
        throw err;
      }
    });
  }

  /** S3 does not say whether a DELETE removed anything, so the size comes from a HEAD first. */
  async delete(key: string, opts?: BlobOptions): Promise<number | undefined> {
    const meta = await this.head(key, opts);
    if (!meta) return undefined;
    const Key = this.objectKey(key);
    const signal = opts?.signal;
    await this.call(`DELETE ${Key}`, signal, () =>
      this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key }), { abortSignal: signal }),
    );
    return meta.size;
  }

  async head(key: string, opts?: BlobOptions): Promise<BlobMeta | undefined> {
    const Key = this.objectKey(key);
    const signal = opts?.signal;
    return this.call(`HEAD ${Key}`, signal, async () => {
      try {
        const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key }), { abortSignal: signal });
        return { key, size: res.ContentLength ?? 0, lastModifiedMs: res.LastModified?.getTime() };
      } catch (err) {
        // HEAD has no body, so a missing bucket looks like a missing key here.
        if (statusOf(err) === 404) return undefined;
        throw err;
      }
    });
  }

  async *list(prefix: string, opts?: BlobOptions): AsyncIterable<BlobMeta> {
    checkPrefix(prefix);
    const signal = opts?.signal;
    const strip = this.prefix === '' ? 0 : this.prefix.length + 1;
    const Prefix = this.prefix === '' ? prefix : `${this.prefix}/${prefix}`;
    let ContinuationToken: string | undefined;
    do {
      const page = await this.call(`LIST ${Prefix}`, signal, () =>
        this.client.send(
          new ListObjectsV2Command({ Bucket: this.bucket, Prefix, ContinuationToken, MaxKeys: this.listPageSize }),
          { abortSignal: signal },
        ),
      );
      for (const o of page.Contents ?? []) {
        if (o.Key === undefined || !o.Key.startsWith(Prefix)) continue;
        yield { key: o.Key.slice(strip), size: o.Size ?? 0, lastModifiedMs: o.LastModified?.getTime() };
      }
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
      if (page.IsTruncated && !ContinuationToken) {
        throw new CompactdError('internal', `LIST ${Prefix}: truncated page without a continuation token`);
      }
    } while (ContinuationToken);
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

/** The header that carries the SHA-256 of a request's payload in SigV4. */
const PAYLOAD_HASH_HEADER = 'x-amz-content-sha256';

/**
 * The body of one PUT: bytes [from, to) of the object whose chunks are `chunks`. When one chunk
 * holds them the body is that buffer, which the SDK signs (hashes) itself. Otherwise each attempt
 * gets a fresh stream over views of the chunks (no copy; a retry sends the body whole again), and
 * `sign` puts the payload's SHA-256 in the signed headers, hashed here once, chunk by chunk: the
 * SDK would sign a stream as UNSIGNED-PAYLOAD, so the store could no longer tell a damaged body.
 */
class RequestBody {
  readonly size: number;
  private readonly views: Uint8Array[] = [];
  private readonly sha256: string | undefined;

  constructor(chunks: readonly Uint8Array[], from: number, to: number) {
    this.size = to - from;
    let at = 0;
    for (const c of chunks) {
      const end = at + c.byteLength;
      if (end > from && at < to && c.byteLength > 0) this.views.push(c.subarray(Math.max(0, from - at), Math.min(c.byteLength, to - at)));
      at = end;
      if (at >= to) break;
    }
    if (this.views.length > 1) {
      const h = createHash('sha256');
      for (const v of this.views) h.update(v);
      this.sha256 = h.digest('hex');
    }
  }

  /** A body for one attempt. */
  open(): Uint8Array | Readable {
    if (this.views.length === 0) return new Uint8Array(0);
    if (this.views.length === 1) return this.views[0];
    return Readable.from(this.views, { objectMode: false });
  }

  /** `command`, with the payload hash added to its signed headers when the body is a stream. */
  sign<C extends PutObjectCommand | UploadPartCommand>(command: C): C {
    if (this.sha256 !== undefined) {
      command.middlewareStack.addRelativeTo(payloadHash(this.sha256), {
        relation: 'before',
        toMiddleware: 'httpSigningMiddleware',
        name: 'compactdPayloadHash',
      });
    }
    return command;
  }
}

/** A middleware that sets the payload hash header before signing, unless a checksum trailer set it. */
function payloadHash(sha256: string) {
  return <A extends { request: unknown }, R>(next: (args: A) => Promise<R>) =>
    async (args: A): Promise<R> => {
      const headers = (args.request as { headers?: Record<string, string> }).headers;
      // A checksum trailer (checksums=when_supported) sets its own streaming payload marker.
      if (headers !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === PAYLOAD_HASH_HEADER)) {
        headers[PAYLOAD_HASH_HEADER] = sha256;
      }
      return next(args);
    };
}

function positive(n: number, name: string): number {
  if (!Number.isSafeInteger(n) || n <= 0) throw new CompactdError('invalid', `S3 store: ${name} must be a positive integer`);
  return n;
}

/**
 * Reads a response body into a fresh (8-byte aligned) buffer. A body shorter or longer than its
 * Content-Length is a failed, retryable attempt: a proxy or server cut it off.
 */
async function readBody(body: unknown, contentLength: number | undefined, signal: AbortSignal | undefined): Promise<Uint8Array> {
  if (body === undefined || body === null) return new Uint8Array(0);
  const stream = body as AsyncIterable<Uint8Array> & { destroy?: (err?: Error) => void };
  const onAbort = () => stream.destroy?.(cancelled(signal));
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    if (contentLength !== undefined) {
      const out = new Uint8Array(contentLength);
      let off = 0;
      for await (const chunk of stream) {
        if (off + chunk.length > contentLength) throw shortBody(`more than Content-Length ${contentLength} bytes`);
        out.set(chunk, off);
        off += chunk.length;
      }
      if (off !== contentLength) throw shortBody(`${off} of ${contentLength} bytes`);
      return out;
    }
    const chunks: Uint8Array[] = [];
    let total = 0;
    for await (const chunk of stream) {
      chunks.push(chunk);
      total += chunk.length;
    }
    const out = new Uint8Array(total);
    let off = 0;
    for (const c of chunks) {
      out.set(c, off);
      off += c.length;
    }
    return out;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
}

function shortBody(what: string): CompactdError {
  return new CompactdError('unavailable', `response body ended badly: ${what}`, { determinate: false });
}

function statusOf(err: unknown): number | undefined {
  const e = err as { $metadata?: { httpStatusCode?: number }; $response?: { statusCode?: number } } | null;
  return e?.$response?.statusCode ?? e?.$metadata?.httpStatusCode;
}

function isNotFound(err: unknown): boolean {
  return statusOf(err) === 404 && (err as { name?: string }).name !== 'NoSuchBucket';
}

/** Connection failures before any byte was sent: the request cannot have taken effect. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);
/**
 * Configuration problems no retry can cure, by SDK error name, with what the client is told (safe:
 * no bucket, key or credential; the log gets those from the cause).
 */
const MISCONFIGURED_NAMES: Readonly<Record<string, string>> = Object.freeze({
  CredentialsProviderError: 'the service has no credentials for the store',
  InvalidAccessKeyId: "the store does not know the service's access key",
  SignatureDoesNotMatch: "the store rejects the service's secret key",
  NoSuchBucket: "the store's bucket does not exist",
  AccessDenied: 'the store denies the service access',
  AllAccessDisabled: 'the store denies the service access',
  InvalidBucketName: "the store's bucket name is invalid",
  PermanentRedirect: "the store's bucket is in another region or at another endpoint",
  AuthorizationHeaderMalformed: "the store's region does not match the bucket's",
});
/** HTTP statuses that say the store refuses the service (whatever the error name). */
const MISCONFIGURED_STATUSES = new Set([301, 401, 403]);

function netCode(err: unknown): string | undefined {
  const e = err as { code?: string; errors?: { code?: string }[] } | null;
  return e?.code ?? e?.errors?.[0]?.code;
}

/**
 * Turns an SDK or socket failure into a CompactdError:
 * - cancelled by the caller's signal: 'cancelled';
 * - refused or unresolvable connection, connect timeout, 408/429: retryable 'unavailable', determinate;
 * - reset or timed out after sending, 5xx, garbled responses: retryable 'unavailable', indeterminate;
 * - refused access, missing or rejected credentials, a missing bucket or a wrong region:
 *   'misconfigured' (not retried), determinate; the cause names the bucket (`bucket`) for the log;
 * - other 4xx and programming errors: 'internal' (not retried), determinate.
 */
export function classifyS3Error(err: unknown, what: string, signal: AbortSignal | undefined, bucket?: string): CompactdError {
  if (err instanceof CompactdError) {
    return signal?.aborted && err.kind !== 'cancelled' ? new CompactdError('cancelled', `${what}: cancelled`, { cause: err }) : err;
  }
  const e = err as { name?: string; message?: string } | null;
  const name = e?.name ?? 'Error';
  const message = e?.message ?? String(err);
  if (signal?.aborted || name === 'AbortError') {
    return new CompactdError('cancelled', `${what}: cancelled`, { cause: err, determinate: false });
  }
  const status = statusOf(err);
  const unavailable = (determinate: boolean, why: string) =>
    new CompactdError('unavailable', `${what}: ${why}`, { cause: err, determinate });
  const refusal = MISCONFIGURED_NAMES[name] ?? (status !== undefined && MISCONFIGURED_STATUSES.has(status) ? 'the store refuses the service' : undefined);
  if (refusal !== undefined) {
    const where = bucket === undefined ? what : `${what} in bucket ${bucket}`;
    const cause = new Error(`${where}: ${name}${status === undefined ? '' : ` (${status})`}: ${message}`, { cause: err });
    // The store refused (or the SDK never sent) the request: it was not applied.
    return new CompactdError('misconfigured', `blob store: ${refusal} (${name}${status === undefined ? '' : ` ${status}`})`, { cause, determinate: true });
  }
  if (status !== undefined && status >= 300) {
    if (status === 408 || status === 429) return unavailable(true, `${name} (${status})`);
    if (status >= 500) return unavailable(false, `${name} (${status})`);
    // A 4xx is the store refusing the request: it was not applied.
    return new CompactdError('internal', `${what}: store rejected the request: ${name} (${status})`, { cause: err, determinate: true });
  }
  // A bug (ours or the SDK's) is not an outage: retrying it would only delay the report.
  if (err instanceof TypeError || err instanceof RangeError || err instanceof ReferenceError) {
    return new CompactdError('internal', `${what}: ${name}: ${message}`, { cause: err });
  }
  const code = netCode(err);
  if (code !== undefined && NOT_SENT.has(code)) return unavailable(true, `${code}`);
  if (name === 'TimeoutError' && /did not establish a connection/.test(message)) {
    return unavailable(true, 'connect timeout');
  }
  return unavailable(false, code ? `${code}: ${message}` : `${name}: ${message}`);
}

function asDeterminate(err: unknown): unknown {
  if (!(err instanceof CompactdError) || err.determinate) return err;
  return new CompactdError(err.kind, err.message, { cause: err.cause ?? err, determinate: true });
}
