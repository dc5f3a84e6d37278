/**
 * A client of the standard gRPC health service (`grpc.health.v1.Health/Check`), for container
 * health checks, readiness gates and tools that wait for a service to come up. It makes the one
 * unary call itself over node:http2 (health-wire.ts holds the bytes) instead of through grpc-js:
 * a probe runs every few seconds as a fresh process, and loading gRPC and protobufjs would be
 * most of its time. Transport failures read as they do for every other client command
 * (transport.ts).
 */
import { Buffer } from 'node:buffer';
import { connect as http2Connect, constants as h2, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { CompactdError } from '../model/errors.js';
import { GRPC_STATUS, kindOfStatus } from '../wire/status-codes.js';
import {
  decodeGrpcMessage,
  decodeHealthCheckResponse,
  encodeHealthCheckRequest,
  frameMessage,
  grpcTimeout,
  HEALTH_CHECK_PATH,
  unframeMessage,
  type HealthStatus,
} from './health-wire.js';
import { explainConnectionError, parseEndpoint } from './transport.js';

export type { HealthStatus } from './health-wire.js';

export interface HealthCheckOptions {
  /** The service to ask about; '' (the default) is the whole server. */
  readonly service?: string;
  /** Overall deadline, connection included (default 5000 ms). */
  readonly timeoutMs?: number;
  /**
   * TLS to the service: `ca` the PEM roots (default: the system's), `cert` and `key` for mutual
   * TLS. The server certificate must name the address's host (DNS name or IP address).
   */
  readonly tls?: { readonly ca?: Uint8Array; readonly cert?: Uint8Array; readonly key?: Uint8Array };
}

/** Long enough for a loaded server to answer, short enough for a probe interval of 10 s. */
const DEFAULT_TIMEOUT_MS = 5000;

/** Where a gRPC target's connection goes: a host and port, or a Unix socket path. */
type Dial = { readonly host: string; readonly port: number } | { readonly path: string };

/** grpc-js's default port for a `dns:` target without one. */
const DEFAULT_DNS_PORT = 443;

/**
 * The address to dial for a target as parseEndpoint returns it: `host:port`, `[v6]:port`,
 * `dns:[//authority/]host[:port]`, `ipv4:`/`ipv6:` address lists (the first is dialled),
 * `unix:path`, `unix:///abs/path`, `unix-abstract:name`.
 */
function dialOf(target: string): Dial {
  const scheme = /^([a-z][a-z0-9-]*):(.*)$/i.exec(target);
  const hostPort = (text: string, defaultPort?: number): Dial | undefined => {
    const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:[\]]+))(?::(\d{1,5}))?$/.exec(text);
    const port = m?.[3] !== undefined ? Number(m[3]) : defaultPort;
    return m && port !== undefined ? { host: m[1] ?? m[2], port } : undefined;
  };
  let dial: Dial | undefined;
  const kind = scheme?.[1].toLowerCase();
  if (scheme === null || /^\d+$/.test(scheme[2])) dial = hostPort(target);
  else if (kind === 'dns') dial = hostPort(scheme[2].replace(/^\/\/[^/]*\//, ''), DEFAULT_DNS_PORT);
  else if (kind === 'ipv4' || kind === 'ipv6') dial = hostPort(scheme[2].split(',')[0], DEFAULT_DNS_PORT);
  else if (kind === 'unix') dial = { path: scheme[2].replace(/^\/\//, '') };
  else if (kind === 'unix-abstract') dial = { path: `\0${scheme[2]}` };
  if (dial === undefined) throw new CompactdError('invalid', `address: the health check cannot dial ${JSON.stringify(target)}; give HOST:PORT`);
  return dial;
}

/**
 * Asks `address` (`host:port`, `http://` or `https://host:port`, or a gRPC target such as
 * `dns:///name:port`) for the serving status of `opts.service`. Resolves with the status the
 * server reported (SERVING, NOT_SERVING, ...). Rejects with a CompactdError when there is no
 * answer: `unavailable` when nothing listens or the connection fails (transport.ts words it),
 * `deadline` when no answer came within the timeout, `not_found` when the server does not know
 * the service, and the kind of any other status code the server sent.
 */
export async function checkHealth(address: string, opts: HealthCheckOptions = {}): Promise<HealthStatus> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const service = opts.service ?? '';
  const endpoint = parseEndpoint(address, 'address');
  if (endpoint.tls === false && opts.tls !== undefined) {
    throw new CompactdError('invalid', `address: ${address} says plain text (http://) but TLS was asked for; use https:// or HOST:PORT`);
  }
  const tls = opts.tls ?? (endpoint.tls ? {} : undefined);
  if (tls && (tls.cert === undefined) !== (tls.key === undefined)) {
    throw new CompactdError('invalid', 'a TLS client certificate needs its key (and the key its certificate)');
  }
  const target = endpoint.target;
  const dial = dialOf(target);
  const what = service === '' ? target : `service ${JSON.stringify(service)} at ${target}`;
  const started = Date.now();

  let session: ClientHttp2Session | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    return await new Promise<HealthStatus>((resolve, reject) => {
      let settled = false;
      const fail = (err: CompactdError | Promise<CompactdError>) => {
        if (settled) return;
        settled = true;
        void Promise.resolve(err).then(reject, reject);
      };
      const connectionFailed = (err: Error) => fail(explainConnectionError(err, target, { tls: tls !== undefined }));
      timer = setTimeout(() => fail(new CompactdError('deadline', `no health answer from ${what} within ${timeoutMs / 1000} s`)), timeoutMs);

      const authority = 'host' in dial ? `${isIP(dial.host) === 6 ? `[${dial.host}]` : dial.host}:${dial.port}` : 'localhost';
      session = http2Connect(`${tls ? 'https' : 'http'}://${authority}`, {
        createConnection: () => connection(dial, tls),
      });
      session.on('error', connectionFailed);
      // A session the peer ends before answering (an HTTP/1 server, a TLS server spoken to in clear).
      session.on('goaway', (code) => {
        if (code !== h2.NGHTTP2_NO_ERROR) connectionFailed(Object.assign(new Error('Protocol error'), { code: 'ERR_HTTP2_GOAWAY_SESSION' }));
      });

      const stream = session.request({
        [h2.HTTP2_HEADER_METHOD]: 'POST',
        [h2.HTTP2_HEADER_PATH]: HEALTH_CHECK_PATH,
        [h2.HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc',
        [h2.HTTP2_HEADER_TE]: 'trailers',
        'grpc-timeout': grpcTimeout(timeoutMs - (Date.now() - started)),
      });
      let headers: IncomingHttpHeaders | undefined;
      let trailers: IncomingHttpHeaders | undefined;
      const body: Buffer[] = [];
      stream.on('response', (h) => (headers = h));
      stream.on('trailers', (t) => (trailers = t));
      stream.on('data', (chunk: Buffer) => body.push(chunk));
      stream.on('error', connectionFailed);
      stream.on('close', () => {
        if (settled) return;
        if (headers === undefined) {
          connectionFailed(Object.assign(new Error(`Received RST_STREAM with code ${stream.rstCode ?? 0}`), { code: 'ERR_HTTP2_STREAM_ERROR' }));
          return;
        }
        try {
          const status = answer(headers, trailers, Buffer.concat(body));
          settled = true;
          resolve(status);
        } catch (err) {
          fail(callError(CompactdError.from(err), what, timeoutMs));
        }
      });
      stream.end(frameMessage(encodeHealthCheckRequest(service)));
    });
  } finally {
    clearTimeout(timer);
    session?.destroy();
  }
}

/** The socket of the session: TCP or a Unix socket, inside TLS when asked for. */
function connection(dial: Dial, tls: HealthCheckOptions['tls']): Socket {
  if (!tls) return 'host' in dial ? netConnect({ host: dial.host, port: dial.port }) : netConnect({ path: dial.path });
  const buf = (b: Uint8Array | undefined) => (b === undefined ? undefined : Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  const host = 'host' in dial ? dial.host : 'localhost';
  return tlsConnect({
    ...('host' in dial ? { host: dial.host, port: dial.port } : { socket: netConnect({ path: dial.path }) }),
    // SNI and the certificate's name check use the host; an IP address is checked against the
    // certificate's IP names (SNI never carries one).
    ...(isIP(host) === 0 ? { servername: host } : {}),
    ca: buf(tls.ca),
    cert: buf(tls.cert),
    key: buf(tls.key),
    ALPNProtocols: ['h2'],
  });
}

/** The status a complete response reports, or a CompactdError with the status code the server sent. */
function answer(headers: IncomingHttpHeaders, trailers: IncomingHttpHeaders | undefined, body: Buffer): HealthStatus {
  const httpStatus = Number(headers[h2.HTTP2_HEADER_STATUS]);
  if (httpStatus !== 200) throw new CompactdError(kindOfHttpStatus(httpStatus), `the server answered HTTP status ${httpStatus}, not gRPC`);
  const contentType = String(headers[h2.HTTP2_HEADER_CONTENT_TYPE] ?? '');
  if (!/^application\/grpc(\+proto)?(;|$)/.test(contentType)) throw new CompactdError('internal', `the server answered content-type ${JSON.stringify(contentType)}, not gRPC`);
  // A failure may come as headers alone ("Trailers-Only"), with no body and no trailers.
  const end = trailers ?? headers;
  const code = end['grpc-status'];
  if (code === undefined) throw new CompactdError('internal', 'the server ended the call without a grpc-status');
  const status = Number(code);
  if (status !== GRPC_STATUS.OK) {
    const message = decodeGrpcMessage(String(end['grpc-message'] ?? ''));
    throw new CompactdError(kindOfStatus(status), message || `gRPC status ${status}`);
  }
  try {
    return decodeHealthCheckResponse(unframeMessage(body));
  } catch (err) {
    throw new CompactdError('internal', `malformed health answer: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * gRPC's mapping of an HTTP status that is not 200 (a proxy or a server that is not gRPC), as
 * grpc-js applies it: 400 INTERNAL, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 UNIMPLEMENTED,
 * 429, 502, 503, 504 UNAVAILABLE, else UNKNOWN (both of which read as internal).
 */
function kindOfHttpStatus(httpStatus: number): ReturnType<typeof kindOfStatus> {
  const table: Readonly<Record<number, number>> = {
    400: GRPC_STATUS.INTERNAL,
    401: GRPC_STATUS.UNAUTHENTICATED,
    403: GRPC_STATUS.PERMISSION_DENIED,
    404: GRPC_STATUS.UNIMPLEMENTED,
    429: GRPC_STATUS.UNAVAILABLE,
    502: GRPC_STATUS.UNAVAILABLE,
    503: GRPC_STATUS.UNAVAILABLE,
    504: GRPC_STATUS.UNAVAILABLE,
  };
  return kindOfStatus(table[httpStatus] ?? GRPC_STATUS.UNKNOWN);
}

/** The words of a status the server sent: an unknown service and a passed deadline name what was asked. */
function callError(err: CompactdError, what: string, timeoutMs: number): CompactdError {
  if (err.kind === 'not_found') return new CompactdError('not_found', `${what}: the server does not know this service`, { cause: err });
  if (err.kind === 'deadline') return new CompactdError('deadline', `no health answer from ${what} within ${timeoutMs / 1000} s`, { cause: err });
  return err;
}
