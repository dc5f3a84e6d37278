/**
 * A client of the compactd service for writers: domain types in and out, deadlines, cancellation
 * through an AbortSignal, and retries with exponential backoff and jitter on UNAVAILABLE and
 * RESOURCE_EXHAUSTED (a service that is draining, disabled or has a full queue). Errors are
 * CompactdErrors whose kind is mapped back from the gRPC status code, so a writer handles the same
 * kinds whether it runs the engine in-process or through the service.
 *
 * Retrying Compact is safe: a compaction that failed, was cancelled or timed out deleted what it
 * wrote before it answered, and a successful one is only applied by the writer that receives it.
 */
import {
  credentials as grpcCredentials,
  loadPackageDefinition,
  Metadata,
  type ChannelCredentials,
  type ChannelOptions,
  type ClientUnaryCall,
  type ServiceError,
} from '@grpc/grpc-js';
import { Buffer } from 'node:buffer';
import type { CompactRequest, CompactResponse } from '../model/batch.js';
import { CompactdError, type ErrorKind } from '../model/errors.js';
import { DEFAULT_MAX_MESSAGE_BYTES } from '../model/util/sizes.js';
import type { ProtoGrpcType } from '../gen/compactd.js';
import type { AdminClient } from '../gen/compactd/v1/Admin.js';
import type { CompactorClient as GeneratedCompactorClient } from '../gen/compactd/v1/Compactor.js';
import {
  compactRequestToProto,
  compactResponseFromProto,
  deletePartsRequestToProto,
  deletePartsResponseFromProto,
  serviceConfigFromProto,
  updateConfigRequestToProto,
  type DeletePartsResponse,
  type ServiceConfig,
  type ServiceConfigUpdate,
} from '../wire/convert.js';
import { loadCompactdPackage } from '../wire/load.js';
import { explainCallError, parseEndpoint } from './transport.js';
import { kindOfStatus } from '../wire/status-codes.js';
import type { CompactionSummary__Output } from '../gen/compactd/v1/CompactionSummary.js';
import { compactStream, summaryFromProto, type CompactionSummaryView, type CompactStreamEvent, type StreamOptions } from './compact-stream.js';

/** Retries after the first attempt: rides out a rolling restart or a short burst of full queues. */
const DEFAULT_RETRIES = 4;
/** First backoff; doubled per retry up to the maximum, with full jitter. */
const DEFAULT_BACKOFF_INITIAL_MS = 100;
const DEFAULT_BACKOFF_MAX_MS = 5_000;

/** Kinds worth another attempt: the service is there but cannot take the work right now. */
const RETRYABLE: ReadonlySet<ErrorKind> = new Set<ErrorKind>(['unavailable', 'exhausted']);

export { kindOfStatus };

export interface CompactorClientOptions {
  /**
   * `host:port` or any gRPC target (`dns:///compactd.internal:50051` for several addresses);
   * `http://host:port` is plain text and `https://host:port` TLS (transport.ts, parseEndpoint).
   */
  readonly address: string;
  /** Channel credentials; wins over `tls`. Default: `tls` when given, else plain-text HTTP/2. */
  readonly credentials?: ChannelCredentials;
  /**
   * TLS to the service: `ca` the PEM roots that sign the server certificate (default: the
   * system's), `cert` and `key` the client certificate for mutual TLS.
   */
  readonly tls?: { readonly ca?: Uint8Array; readonly cert?: Uint8Array; readonly key?: Uint8Array };
  /** Bearer token sent as `authorization: Bearer <token>` on every call (never logged). */
  readonly token?: string;
  /** `round_robin` spreads calls over every address the target resolves to. Default: pick_first. */
  readonly loadBalancing?: 'pick_first' | 'round_robin';
  /** Extra channel options, merged over the defaults. */
  readonly channelOptions?: ChannelOptions;
  /** Largest message sent or received (default 64 MiB, the service's default). */
  readonly maxMessageBytes?: number;
  /** Default retries per call (default 4). */
  readonly retries?: number;
  /** First backoff in ms (default 100); doubles per retry. */
  readonly backoffInitialMs?: number;
  /** Largest backoff in ms (default 5000). */
  readonly backoffMaxMs?: number;
}

export interface CallOptions {
  /** Overall deadline across every attempt, in ms from the call. */
  readonly deadlineMs?: number;
  /** Aborting cancels the call in flight (the service stops the work and deletes its outputs). */
  readonly signal?: AbortSignal;
  /** Retries on UNAVAILABLE and RESOURCE_EXHAUSTED; overrides the client default. */
  readonly retries?: number;
  /**
   * Told the error kind of every failed attempt, retried ones included (a load generator counts
   * the RESOURCE_EXHAUSTED answers that retries would otherwise hide).
   */
  readonly onAttemptFailed?: (kind: ErrorKind) => void;
}

type Callback<T> = (err: ServiceError | null, value?: T) => void;
type UnaryMethod<Req, Res> = (arg: Req, metadata: Metadata, options: { deadline?: Date }, cb: Callback<Res>) => ClientUnaryCall;

export class CompactorClient {
  private readonly compactor: GeneratedCompactorClient;
  private readonly admin: AdminClient;
  private readonly retries: number;
  private readonly backoffInitialMs: number;
  private readonly backoffMaxMs: number;
  private readonly token: string | undefined;
  /** The target dialled, as messages name it. */
  readonly target: string;
  private readonly usesTls: boolean;

  /** Throws `invalid` for an address that is not an endpoint (parseEndpoint) or a bad token. */
  constructor(opts: CompactorClientOptions | string) {
    const given: CompactorClientOptions = typeof opts === 'string' ? { address: opts } : opts;
    const endpoint = parseEndpoint(given.address, 'address');
    if (endpoint.tls === false && (given.tls !== undefined || given.credentials !== undefined)) {
      throw new CompactdError('invalid', `address: ${given.address} says plain text (http://) but TLS was asked for; use https:// or HOST:PORT`);
    }
    // https:// with no TLS settings means TLS trusting the system's roots.
    const o: CompactorClientOptions = { ...given, address: endpoint.target, ...(endpoint.tls && given.tls === undefined && given.credentials === undefined ? { tls: {} } : {}) };
    this.target = endpoint.target;
    this.usesTls = o.tls !== undefined || o.credentials !== undefined;
    // loadPackageDefinition returns an untyped GrpcObject; src/gen/compactd.ts is the typed view of
    // exactly this package (generated with the same loader options), the cast proto-loader documents.
    const proto = loadPackageDefinition(loadCompactdPackage().packageDefinition) as unknown as ProtoGrpcType;
    const max = o.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    const channelOptions: ChannelOptions = {
      'grpc.max_receive_message_length': max,
      'grpc.max_send_message_length': max,
      ...(o.loadBalancing === 'round_robin'
        ? { 'grpc.service_config': JSON.stringify({ loadBalancingConfig: [{ round_robin: {} }] }) }
        : {}),
      ...o.channelOptions,
    };
    const creds = o.credentials ?? (o.tls ? tlsCredentials(o.tls) : grpcCredentials.createInsecure());
    this.compactor = new proto.compactd.v1.Compactor(o.address, creds, channelOptions);
    // The Admin client shares the Compactor's channel.
    this.admin = new proto.compactd.v1.Admin(o.address, creds, { ...channelOptions, channelOverride: this.compactor.getChannel() });
    this.retries = o.retries ?? DEFAULT_RETRIES;
    this.backoffInitialMs = o.backoffInitialMs ?? DEFAULT_BACKOFF_INITIAL_MS;
    this.backoffMaxMs = o.backoffMaxMs ?? DEFAULT_BACKOFF_MAX_MS;
    if (o.token !== undefined && !/^[\x21-\x7e]+$/.test(o.token)) {
      throw new CompactdError('invalid', 'bearer token must be non-empty printable ASCII without spaces');
    }
    this.token = o.token;
  }

  /**
   * Compacts `req` through the service. Resolves with the response (COMPACTED with the output
   * batch, or SKIPPED); rejects with a CompactdError of the status code's kind.
   */
  async compact(req: CompactRequest, opts: CallOptions = {}): Promise<CompactResponse> {
    const res = await this.call(this.compactor.Compact.bind(this.compactor) as UnaryMethod<unknown, unknown>, compactRequestToProto(req), opts);
    return compactResponseFromProto(res as Parameters<typeof compactResponseFromProto>[0]);
  }

  /**
   * Compacts `req` as a job, yielding its events (accepted, progress, chunk, done; `resend` when
   * the library sends the request again). A request without a compaction_id gets one, so that
   * when the replica dies (UNAVAILABLE) the re-sent request resumes from its checkpoint; while
   * the id's lease is live elsewhere (ALREADY_EXISTS) it backs off and re-sends.
   */
  compactStream(req: CompactRequest, opts: StreamOptions = {}): AsyncGenerator<CompactStreamEvent> {
    const method: Parameters<typeof compactStream>[0] = (arg, metadata, options) =>
      this.compactor.CompactStream(arg as Parameters<typeof this.compactor.CompactStream>[0], metadata, options);
    return compactStream(method, () => this.metadata(), req, opts, (attempt) => Math.random() * Math.min(this.backoffMaxMs, this.backoffInitialMs * 2 ** attempt), fromServiceError);
  }

  /** Stops a queued or running compaction by id; resolves with whether the replica had it. */
  async cancelCompaction(compactionId: string, opts: CallOptions = {}): Promise<boolean> {
    const res = await this.call(this.compactor.CancelCompaction.bind(this.compactor) as UnaryMethod<unknown, unknown>, { compaction_id: compactionId }, { retries: 0, ...opts });
    return (res as { found?: boolean }).found === true;
  }

  /** The replica's queued and running compactions, and its recent finished ones. */
  async listCompactions(opts: CallOptions = {}): Promise<{ active: CompactionSummaryView[]; recent: CompactionSummaryView[] }> {
    const res = (await this.call(this.compactor.ListCompactions.bind(this.compactor) as UnaryMethod<unknown, unknown>, {}, opts)) as {
      active?: CompactionSummary__Output[];
      recent?: CompactionSummary__Output[];
    };
    return { active: (res.active ?? []).map(summaryFromProto), recent: (res.recent ?? []).map(summaryFromProto) };
  }

  /** Deletes parts the service wrote (`c<uuid>/p<uuid>` keys) that the writer did not apply. */
  async deleteParts(shardId: string, keys: readonly string[], opts: CallOptions = {}): Promise<DeletePartsResponse> {
    const res = await this.call(
      this.compactor.DeleteParts.bind(this.compactor) as UnaryMethod<unknown, unknown>,
      deletePartsRequestToProto({ shardId, keys }),
      opts,
    );
    return deletePartsResponseFromProto(res as Parameters<typeof deletePartsResponseFromProto>[0]);
  }

  /** The service's live configuration. */
  async getConfig(opts: CallOptions = {}): Promise<ServiceConfig> {
    const res = await this.call(this.admin.GetConfig.bind(this.admin) as UnaryMethod<unknown, unknown>, {}, opts);
    return serviceConfigFromProto(res as Parameters<typeof serviceConfigFromProto>[0]);
  }

  /** Changes the given fields of the service's configuration; resolves with the new configuration. */
  async updateConfig(update: ServiceConfigUpdate, opts: CallOptions = {}): Promise<ServiceConfig> {
    const res = await this.call(
      this.admin.UpdateConfig.bind(this.admin) as UnaryMethod<unknown, unknown>,
      updateConfigRequestToProto(update),
      { retries: 0, ...opts },
    );
    return serviceConfigFromProto(res as Parameters<typeof serviceConfigFromProto>[0]);
  }

  /** Closes the channel; calls in flight fail with CANCELLED or UNAVAILABLE. */
  close(): void {
    this.admin.close();
    this.compactor.close();
  }

  private metadata(): Metadata {
    const md = new Metadata();
    if (this.token !== undefined) md.set('authorization', `Bearer ${this.token}`);
    return md;
  }

  private async call<Req, Res>(method: UnaryMethod<Req, Res>, arg: Req, opts: CallOptions): Promise<Res> {
    const deadline = opts.deadlineMs === undefined ? undefined : Date.now() + opts.deadlineMs;
    const retries = opts.retries ?? this.retries;
    const explain = (err: unknown) => explainCallError(CompactdError.from(err), this.target, { tls: this.usesTls, deadlineMs: opts.deadlineMs });
    for (let attempt = 0; ; attempt++) {
      try {
        return await once(method, arg, this.metadata(), deadline, opts.signal);
      } catch (err) {
        if (err instanceof CompactdError) opts.onAttemptFailed?.(err.kind);
        if (attempt >= retries || !(err instanceof CompactdError) || !RETRYABLE.has(err.kind)) throw await explain(err);
        // Full jitter: spread retries of many writers instead of retrying in lockstep.
        const cap = Math.min(this.backoffMaxMs, this.backoffInitialMs * 2 ** attempt);
        const wait = Math.random() * cap;
        if (deadline !== undefined && Date.now() + wait >= deadline) throw await explain(err);
        await sleep(wait, opts.signal);
      }
    }
  }
}

function tlsCredentials(tls: NonNullable<CompactorClientOptions['tls']>): ChannelCredentials {
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new CompactdError('invalid', 'a TLS client certificate needs its key (and the key its certificate)');
  }
  const buf = (b: Uint8Array | undefined) => (b === undefined ? null : Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  return grpcCredentials.createSsl(buf(tls.ca), buf(tls.key), buf(tls.cert));
}

function once<Req, Res>(
  method: UnaryMethod<Req, Res>,
  arg: Req,
  metadata: Metadata,
  deadline: number | undefined,
  signal?: AbortSignal,
): Promise<Res> {
  if (signal?.aborted) return Promise.reject(new CompactdError('cancelled', 'call cancelled before it started', { cause: signal.reason }));
  return new Promise<Res>((resolve, reject) => {
    const onAbort = () => call.cancel();
    const call = method(arg, metadata, deadline === undefined ? {} : { deadline: new Date(deadline) }, (err, value) => {
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(fromServiceError(err));
      else resolve(value as Res);
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A CompactdError for a failed call; the ServiceError (with its code) is kept as the cause. */
export function fromServiceError(err: ServiceError): CompactdError {
  return new CompactdError(kindOfStatus(err.code), err.details || err.message, { cause: err, determinate: false });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(new CompactdError('cancelled', 'call cancelled', { cause: signal!.reason }));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
