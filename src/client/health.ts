/**
 * A client of the standard gRPC health service (`grpc.health.v1.Health/Check`), for container
 * health checks, readiness gates and tools that wait for a service to come up. It uses the
 * service definition shipped with grpc-health-check, the same package the server answers with,
 * so no probe binary has to be downloaded next to compactd.
 */
import {
  credentials as grpcCredentials,
  makeGenericClientConstructor,
  status,
  type ChannelCredentials,
  type Client,
  type ServiceDefinition,
  type ServiceError,
} from '@grpc/grpc-js';
import { Buffer } from 'node:buffer';
import { service as healthService } from 'grpc-health-check';
import { CompactdError } from '../model/errors.js';
import { fromServiceError } from './compactor-client.js';
import { explainCallError, parseEndpoint } from './transport.js';

/** What a health check may answer (grpc.health.v1.HealthCheckResponse.ServingStatus). */
export type HealthStatus = 'UNKNOWN' | 'SERVING' | 'NOT_SERVING' | 'SERVICE_UNKNOWN';

export interface HealthCheckOptions {
  /** The service to ask about; '' (the default) is the whole server. */
  readonly service?: string;
  /** Overall deadline, connection included (default 5000 ms). */
  readonly timeoutMs?: number;
  /** Channel credentials; wins over `tls`. Default: `tls` when given, else plain-text HTTP/2. */
  readonly credentials?: ChannelCredentials;
  /** TLS to the service: `ca` the PEM roots (default: the system's), `cert` and `key` for mutual TLS. */
  readonly tls?: { readonly ca?: Uint8Array; readonly cert?: Uint8Array; readonly key?: Uint8Array };
}

/** Long enough for a loaded server to answer, short enough for a probe interval of 10 s. */
const DEFAULT_TIMEOUT_MS = 5000;

type HealthClient = Client & {
  Check(
    req: { service: string },
    opts: { deadline: Date },
    cb: (err: ServiceError | null, res?: { status: HealthStatus | number }) => void,
  ): void;
};

// grpc-health-check ships its service definition and no client type: the definition is the one
// grpc-js wants (it only lacks the nominal type), and the constructor it yields has the method above.
const HealthClientCtor = makeGenericClientConstructor(healthService as unknown as ServiceDefinition, 'Health') as unknown as new (
  address: string,
  creds: ChannelCredentials,
  options?: object,
) => HealthClient;

const STATUS_NAMES: readonly HealthStatus[] = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

/**
 * Asks `address` (any gRPC target, e.g. `127.0.0.1:50051`) for the serving status of
 * `opts.service`. Resolves with the status the server reported (SERVING, NOT_SERVING, ...).
 * Rejects with a CompactdError when there is no answer: `unavailable` when nothing listens or the
 * connection fails, `deadline` when no answer came within the timeout, `not_found` when the server
 * does not know the service, and the kind of any other status code the server sent.
 */
export async function checkHealth(address: string, opts: HealthCheckOptions = {}): Promise<HealthStatus> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const service = opts.service ?? '';
  const endpoint = parseEndpoint(address, 'address');
  if (endpoint.tls === false && (opts.tls !== undefined || opts.credentials !== undefined)) {
    throw new CompactdError('invalid', `address: ${address} says plain text (http://) but TLS was asked for; use https:// or HOST:PORT`);
  }
  const tls = opts.tls ?? (endpoint.tls ? {} : undefined);
  const target = endpoint.target;
  const creds = opts.credentials ?? (tls ? tlsCredentials(tls) : grpcCredentials.createInsecure());
  const client = new HealthClientCtor(target, creds, {
    // A probe must not keep retrying a dead port in the background after it has answered.
    'grpc.enable_retries': 0,
  });
  try {
    return await new Promise<HealthStatus>((resolve, reject) => {
      client.Check({ service }, { deadline: new Date(Date.now() + timeoutMs) }, (err, res) => {
        if (err) {
          healthError(err, target, service, timeoutMs, tls !== undefined || opts.credentials !== undefined).then(reject, reject);
          return;
        }
        const s = res?.status;
        resolve(typeof s === 'number' ? (STATUS_NAMES[s] ?? 'UNKNOWN') : (s ?? 'UNKNOWN'));
      });
    });
  } finally {
    client.close();
  }
}

function tlsCredentials(tls: NonNullable<HealthCheckOptions['tls']>): ChannelCredentials {
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    throw new CompactdError('invalid', 'a TLS client certificate needs its key (and the key its certificate)');
  }
  const buf = (b: Uint8Array | undefined) => (b === undefined ? null : Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  return grpcCredentials.createSsl(buf(tls.ca), buf(tls.key), buf(tls.cert));
}

async function healthError(err: ServiceError, address: string, service: string, timeoutMs: number, tls: boolean): Promise<CompactdError> {
  const what = service === '' ? address : `service ${JSON.stringify(service)} at ${address}`;
  switch (err.code) {
    case status.DEADLINE_EXCEEDED:
      return new CompactdError('deadline', `no health answer from ${what} within ${timeoutMs / 1000} s`, { cause: err });
    case status.NOT_FOUND:
      return new CompactdError('not_found', `${what}: the server does not know this service`, { cause: err });
    case status.UNAVAILABLE:
      return explainCallError(fromServiceError(err), address, { tls });
    default:
      return fromServiceError(err);
  }
}
