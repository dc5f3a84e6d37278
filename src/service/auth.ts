/**
 * Transport security and access control of the gRPC port.
 *
 * TLS: `--tls-cert` + `--tls-key` serve TLS; `--tls-client-ca` also demands a client certificate
 * signed by that CA (mutual TLS). Without them the port is plain text (the default binds loopback).
 *
 * Tokens: with `--auth-token-file`, Compactor calls must carry `authorization: Bearer <token>`;
 * anything else is UNAUTHENTICATED. With `--admin-token-file`, Admin calls need that token (the
 * ordinary token is PERMISSION_DENIED there, no or a wrong token UNAUTHENTICATED); the admin
 * token is also accepted by Compactor. Without an admin token file, Admin is guarded exactly
 * like Compactor. Health and reflection are never guarded: orchestrators probe without secrets,
 * and neither reveals data.
 *
 * Tokens are compared in constant time (SHA-256 digests of equal length through
 * crypto.timingSafeEqual) and never logged: refusals log the peer and the reason only.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import { ServerCredentials, type Metadata, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import type { ServeOptions } from '../config/options.js';
import { CompactdError } from '../model/errors.js';
import type { Logger } from '../obs/log.js';
import type { Metrics } from '../obs/metrics.js';
import { toServiceError } from './status.js';

/** The services whose calls are checked. */
export type GuardedService = 'compactor' | 'admin';

/** The metadata key of bearer tokens (gRPC lowercases header names). */
const AUTHORIZATION = 'authorization';
/** Longest token file read: a token is a line, not a document. */
const MAX_TOKEN_FILE_BYTES = 4096;

async function readSecretFile(path: string, flag: string): Promise<Buffer> {
  let data: Buffer;
  try {
    data = await readFile(path);
  } catch (err) {
    throw new CompactdError('invalid', `--${flag}: cannot read ${JSON.stringify(path)} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return data;
}

async function readToken(path: string, flag: string): Promise<Buffer> {
  const data = await readSecretFile(path, flag);
  if (data.length > MAX_TOKEN_FILE_BYTES) throw new CompactdError('invalid', `--${flag}: the file is over ${MAX_TOKEN_FILE_BYTES} bytes; it should hold one token`);
  // A trailing newline is how editors and `echo` end files; it is not part of the token.
  const token = data.toString('utf8').trim();
  if (token === '') throw new CompactdError('invalid', `--${flag}: the file is empty`);
  if (/[\s]/.test(token)) throw new CompactdError('invalid', `--${flag}: a token cannot contain whitespace`);
  return digest(token);
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** The token a call presents, or undefined when it has no well-formed bearer header. */
function presented(metadata: Metadata): string | undefined {
  const values = metadata.get(AUTHORIZATION);
  if (values.length !== 1 || typeof values[0] !== 'string') return undefined;
  const m = /^Bearer ([^\s]+)$/i.exec(values[0].trim());
  return m?.[1];
}

/** Who may call what (see the module comment). */
export class AccessControl {
  private constructor(
    private readonly token: Buffer | undefined,
    private readonly adminToken: Buffer | undefined,
  ) {}

  /** Reads the token files of `options`; throws `invalid` for an unreadable or empty file. */
  static async load(options: Pick<ServeOptions, 'authTokenFile' | 'adminTokenFile'>): Promise<AccessControl> {
    const token = options.authTokenFile ? await readToken(options.authTokenFile, 'auth-token-file') : undefined;
    const adminToken = options.adminTokenFile ? await readToken(options.adminTokenFile, 'admin-token-file') : undefined;
    return new AccessControl(token, adminToken);
  }

  /** True when some call needs a token. */
  get enabled(): boolean {
    return this.token !== undefined || this.adminToken !== undefined;
  }

  /**
   * Throws `unauthenticated` or `permission` unless `metadata` may call `service`. Every
   * configured token is compared, whatever matched first, so the time taken does not say which.
   */
  check(service: GuardedService, metadata: Metadata): void {
    const required = service === 'admin' && this.adminToken !== undefined ? this.adminToken : this.token;
    if (required === undefined && (service === 'compactor' || this.adminToken === undefined)) return;
    const given = presented(metadata);
    if (given === undefined) throw new CompactdError('unauthenticated', 'missing "authorization: Bearer <token>" metadata');
    const d = digest(given);
    const isToken = this.token !== undefined && timingSafeEqual(d, this.token);
    const isAdmin = this.adminToken !== undefined && timingSafeEqual(d, this.adminToken);
    if (service === 'compactor') {
      if (isToken || isAdmin) return;
      throw new CompactdError('unauthenticated', 'invalid bearer token');
    }
    if (this.adminToken === undefined) {
      if (isToken) return;
      throw new CompactdError('unauthenticated', 'invalid bearer token');
    }
    if (isAdmin) return;
    if (isToken) throw new CompactdError('permission', 'the Admin service needs the admin token');
    throw new CompactdError('unauthenticated', 'invalid bearer token');
  }
}

type UnaryHandler = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => void;

/**
 * Wraps every unary handler of a service so that `access.check` runs first; a refused call is
 * answered through status.ts and logged (peer and reason, never the metadata) and counted.
 */
export function guardHandlers<T extends object>(
  handlers: T,
  service: GuardedService,
  access: AccessControl,
  log: Logger,
  metrics: Metrics,
): T {
  if (!access.enabled) return handlers;
  const out: Record<string, UnaryHandler> = {};
  for (const [name, handler] of Object.entries(handlers) as [string, UnaryHandler][]) {
    out[name] = (call, callback) => {
      try {
        access.check(service, call.metadata);
      } catch (err) {
        const e = CompactdError.from(err);
        const se = toServiceError(e);
        metrics.authRefused.inc({ service, code: e.kind === 'permission' ? 'PERMISSION_DENIED' : 'UNAUTHENTICATED' });
        log.warn({ method: name, service, peer: call.getPeer(), kind: e.kind, error: e.message }, 'call refused');
        // A server-streaming call has no callback: its status goes out through the stream.
        if (typeof callback === 'function') callback(se);
        else call.emit('error', se);
        return;
      }
      handler(call, callback);
    };
  }
  return out as T;
}

/** The credentials of the gRPC port: TLS (mutual when a client CA is given) or plain text. */
export async function serverCredentials(options: Pick<ServeOptions, 'tlsCert' | 'tlsKey' | 'tlsClientCa'>): Promise<{ creds: ServerCredentials; tls: 'off' | 'tls' | 'mutual' }> {
  if (!options.tlsCert) return { creds: ServerCredentials.createInsecure(), tls: 'off' };
  const cert = await readSecretFile(options.tlsCert, 'tls-cert');
  const key = await readSecretFile(options.tlsKey, 'tls-key');
  const ca = options.tlsClientCa ? await readSecretFile(options.tlsClientCa, 'tls-client-ca') : null;
  try {
    // gRPC would only find a bad file when binding; checking here gives the flags' names.
    createSecureContext({ cert, key, ...(ca ? { ca } : {}) });
  } catch (err) {
    // OpenSSL's message names the failing step; it never quotes key material.
    throw new CompactdError('invalid', `--tls-cert/--tls-key${ca ? '/--tls-client-ca' : ''}: not a usable PEM certificate and key (${(err as Error).message})`);
  }
  const creds = ServerCredentials.createSsl(ca, [{ cert_chain: cert, private_key: key }], ca !== null);
  return { creds, tls: ca ? 'mutual' : 'tls' };
}
