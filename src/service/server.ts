/**
 * The compactd server: gRPC (Compactor, Admin, grpc.health.v1.Health, reflection) plus an HTTP
 * endpoint for /metrics and /healthz, over a pool of worker threads that run the compactions.
 *
 * Lifecycle (each transition logged):
 *   starting  -> opening the store, starting workers, binding ports
 *   serving   -> accepting work; health SERVING
 *   draining  -> shutdown() called: new work is refused with UNAVAILABLE, health NOT_SERVING,
 *                in-flight work gets the grace period, then the rest is aborted (its outputs are
 *                deleted by the engine before it answers)
 *   stopped   -> ports closed, workers and store released
 */
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadPackageDefinition, Server, type ServerCredentials, type ServiceDefinition } from '@grpc/grpc-js';
import { HealthImplementation, type ServingStatus } from 'grpc-health-check';
import type { Blob } from '../blob/blob.js';
import { GRPC_PORT_HEADER } from '../client/transport.js';
import { MeteredBlob } from '../blob/metered.js';
import { describeBlobSpec, parseBlobUrl, redactBlobUrl } from '../blob/url.js';
import { parseFaultSpec } from '../config/faults.js';
import { runtimeConfigOf, warnAboutMemoryBound, type ServeOptions } from '../config/options.js';
import { CompactdError, shuttingDown } from '../model/errors.js';
import { createRootLogger, roundMs, type Logger } from '../obs/log.js';
import { packageVersion } from '../obs/version.js';
import { blobObserver, createMetrics, type Metrics } from '../obs/metrics.js';
import type { ProtoGrpcType } from '../gen/compactd.js';
import { loadCompactdPackage } from '../wire/load.js';
import type { RequestAbort } from './abort.js';
import { adminHandlers, LiveConfig } from './admin.js';
import { Admission } from './admission.js';
import { AccessControl, guardHandlers, serverCredentials } from './auth.js';
import { compactorHandlers } from './compactor.js';
import { servePage } from './jobs/page.js';
import { JobRegistry } from './jobs/registry.js';
import { addReflection } from './reflection.js';
import { checkStore, openServiceStore, type BlobRetryEvent } from './store.js';
import { WorkerPool } from './workers.js';

export type ServerState = 'starting' | 'serving' | 'draining' | 'stopped';

/** The service names health checks answer for: the whole server ('') and each service. */
export const HEALTH_SERVICES = ['', 'compactd.v1.Compactor', 'compactd.v1.Admin'] as const;

/** After the grace period, how long aborted work may take to clean up before the server stops anyway. */
const ABORT_WAIT_MS = 30_000;
/** How long gRPC's own graceful shutdown may take before connections are cut. */
const GRPC_SHUTDOWN_MS = 5_000;

/** What a failed listen() means, by errno, in words an operator acts on. */
const LISTEN_REASONS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'the port is already in use (another process listens there; pick another port or stop it)',
  EACCES: 'permission denied (ports below 1024 need privileges)',
  EADDRNOTAVAIL: 'this machine has no such address (check --host)',
  ENOTFOUND: 'unknown host (check --host)',
};

/** One clear error for a port that could not be bound; the library's text stays the cause. */
function listenError(address: string, what: string, err: Error): CompactdError {
  const code = (err as NodeJS.ErrnoException).code ?? /\b(E[A-Z]{4,})\b/.exec(err.message)?.[1];
  const why = (code !== undefined ? LISTEN_REASONS[code] : undefined) ?? err.message;
  return new CompactdError('unavailable', `cannot listen on ${address} for ${what}: ${why}`, { cause: err });
}

export interface StartServerOptions {
  /** Root logger; by default JSON lines on stdout at `options.logLevel`. */
  readonly log?: Logger;
}

/** A running server. Create with `startServer`. */
export class CompactdServer {
  private current: ServerState = 'starting';
  private readonly active = new Set<RequestAbort>();
  private idleWaiters: (() => void)[] = [];
  private stopping?: Promise<void>;
  private grpcPort = 0;
  private httpPort = 0;
  /** Transport security and authentication, for the start-up record. */
  private security: { tls: string; auth: boolean } = { tls: 'none', auth: false };
  private readonly grpc: Server;
  private readonly http: HttpServer;
  private readonly health = new HealthImplementation();
  private readonly admission: Admission;
  /** Queued, running and recent compactions (ListCompactions, the live page). */
  readonly jobs = new JobRegistry();
  /** The live runtime configuration (the Admin API's view). */
  readonly config: LiveConfig;
  readonly metrics: Metrics;

  private constructor(
    readonly options: ServeOptions,
    readonly log: Logger,
    private readonly blob: Blob,
    private readonly pool: WorkerPool,
    metrics: Metrics,
    access: AccessControl,
    private readonly credentials: ServerCredentials,
  ) {
    this.metrics = metrics;
    this.config = new LiveConfig(runtimeConfigOf(options), () => this.admission.pump());
    this.admission = new Admission(() => this.config.get(), metrics);
    for (const name of HEALTH_SERVICES) this.health.setStatus(name, 'NOT_SERVING');

    this.grpc = new Server({
      'grpc.max_receive_message_length': options.maxMessageBytes,
      'grpc.max_send_message_length': options.maxMessageBytes,
      // grpc-js clients re-resolve DNS only when a connection ends: closing old connections now
      // and then is how round-robin clients of a scaled-out service learn about new replicas.
      ...(options.maxConnectionAgeSeconds > 0 ? { 'grpc.max_connection_age_ms': Math.round(options.maxConnectionAgeSeconds * 1000) } : {}),
    });
    const pkg = loadCompactdPackage();
    // loadPackageDefinition returns an untyped GrpcObject; src/gen/compactd.ts is the typed view of
    // exactly this package (generated with the same loader options), the cast proto-loader documents.
    const proto = loadPackageDefinition(pkg.packageDefinition) as unknown as ProtoGrpcType;
    this.grpc.addService(
      proto.compactd.v1.Compactor.service as ServiceDefinition,
      guardHandlers(compactorHandlers({
        options,
        log,
        metrics,
        admission: this.admission,
        pool,
        blob,
        config: () => this.config.get(),
        accepting: () => this.current === 'serving',
        track: (abort) => this.track(abort),
        jobs: this.jobs,
      }), 'compactor', access, log, metrics),
    );
    this.grpc.addService(
      proto.compactd.v1.Admin.service as ServiceDefinition,
      guardHandlers(adminHandlers(this.config, log), 'admin', access, log, metrics),
    );
    // Health and reflection stay unauthenticated: probes carry no secrets and neither reveals data.
    this.health.addToServer(this.grpc);
    addReflection(this.grpc);

    this.http = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      res.setHeader(GRPC_PORT_HEADER, String(this.grpcPort));
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { allow: 'GET, HEAD' }).end();
      } else if (path === '/metrics') {
        this.metrics.registry.metrics().then(
          (text) => res.writeHead(200, { 'content-type': this.metrics.registry.contentType }).end(text),
          (err: unknown) => {
            this.log.error({ err }, 'metrics collection failed');
            res.writeHead(500).end();
          },
        );
      } else if (servePage(path, res, this.jobs, () => this.page())) {
        // the live page and its JSON (jobs/page.ts)
      } else if (path === '/healthz') {
        const ok = this.current === 'serving';
        res.writeHead(ok ? 200 : 503, { 'content-type': 'text/plain' }).end(`${this.current}\n`);
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics or /healthz\n');
      }
    });
  }

  /** Starts a server: opens the store, starts the workers, binds both ports. */
  static async start(options: ServeOptions, opts: StartServerOptions = {}): Promise<CompactdServer> {
    const log = opts.log ?? createRootLogger({ level: options.logLevel });
    log.info({ state: 'starting', version: packageVersion(), blob: storeUrl(options.blob), workers: options.workers }, 'server starting');
    // Each worker thread opens its own store; an in-process memory store would differ per thread.
    if (parseBlobUrl(options.blob).kind === 'memory') {
      throw new CompactdError('invalid', '--blob: mem:// stores are not shared between worker threads; use file:// or s3://');
    }
    // Secrets and certificates are read before anything starts, so a bad file fails fast.
    const access = await AccessControl.load(options);
    const { creds, tls } = await serverCredentials(options);
    const faults = options.blobFaults ? parseFaultSpec(options.blobFaults) : undefined;
    if (faults) log.warn({ faults: options.blobFaults }, 'blob fault injection is ON: for testing only, never in production');
    log.info({ tls, auth: access.enabled }, 'access control');
    const security = { tls, auth: access.enabled };
    const metrics = createMetrics();
    const onBlobRetry = (e: BlobRetryEvent) => {
      metrics.blobRetries.inc({ op: e.op });
      log.warn({ op: e.op, key: e.key, attempt: e.attempt, retryInMs: roundMs(e.delayMs), cause: e.cause }, 'blob request retried');
    };
    const store = await openServiceStore({ url: options.blob, retrySeconds: options.blobRetrySeconds, faults, onRetry: onBlobRetry });
    const blob = new MeteredBlob(store, blobObserver(metrics));
    if (options.storeCheck) {
      // The check is about the real store: injected faults (testing) must not fail the start-up.
      const probed = faults ? await openServiceStore({ url: options.blob, retrySeconds: options.blobRetrySeconds }) : store;
      try {
        await checkStore(probed, redactBlobUrl(options.blob));
      } catch (err) {
        await blob.close().catch(() => {});
        throw err;
      } finally {
        if (probed !== store) await probed.close().catch(() => {});
      }
      log.info({ blob: redactBlobUrl(options.blob) }, 'store check passed');
    } else {
      log.warn({ blob: redactBlobUrl(options.blob) }, 'store check skipped (--no-store-check)');
    }
    const pool = new WorkerPool({
      size: options.workers,
      blobUrl: options.blob,
      log,
      blobObserver: blobObserver(metrics),
      onBlobRetry,
      blobRetrySeconds: options.blobRetrySeconds,
      blobFaults: faults,
      onRestart: () => metrics.workerRestarts.inc(),
    });
    try {
      await pool.start();
    } catch (err) {
      await blob.close().catch(() => {});
      throw err;
    }
    const server = new CompactdServer(options, log, blob, pool, metrics, access, creds);
    warnAboutMemoryBound(log, server.config.get());
    server.security = security;
    try {
      await server.bind();
    } catch (err) {
      await server.release();
      throw err;
    }
    return server;
  }

  /** The current lifecycle state. */
  get state(): ServerState {
    return this.current;
  }

  /** The bound gRPC port (the chosen one when --port was 0). */
  get port(): number {
    return this.grpcPort;
  }

  /** The bound metrics port (the chosen one when --metrics-port was 0). */
  get metricsPort(): number {
    return this.httpPort;
  }

  /** `host:port` of the gRPC server, for clients. */
  get address(): string {
    return `${this.hostForUrl()}:${this.grpcPort}`;
  }

  /** The base URL of the metrics port (`/metrics`, `/healthz`, and a page at `/`). */
  get httpUrl(): string {
    return `http://${this.hostForUrl()}:${this.httpPort}/`;
  }

  private hostForUrl(): string {
    // A wildcard bind is reachable on loopback: the address a person on this machine can use.
    const host = this.options.host === '0.0.0.0' ? '127.0.0.1' : this.options.host === '::' ? '::1' : this.options.host;
    return host.includes(':') ? `[${host}]` : host;
  }

  /** The text of the page at `/` of the metrics port: what runs here and where to look. */
  private page(): string {
    return [
      `compactd ${packageVersion()} (${this.current})`,
      '',
      `gRPC     ${this.address}`,
      `store    ${storeUrl(this.options.blob)}`,
      `workers  ${this.options.workers}`,
      '',
      '/compactions  the running, queued and recent compactions (JSON; this page shows them)',
      '/metrics      Prometheus metrics',
      '/healthz      200 while serving, 503 otherwise',
      '',
    ].join('\n');
  }

  /** Requests (queued or running) not yet answered. */
  get pending(): number {
    return this.active.size;
  }

  /**
   * Graceful shutdown: refuse new work (UNAVAILABLE), report NOT_SERVING, give in-flight work
   * `graceSeconds` (default: the --grace-seconds option), abort what remains (outputs deleted),
   * then close everything. Idempotent; resolves once stopped.
   */
  shutdown(graceSeconds: number = this.options.graceSeconds): Promise<void> {
    this.stopping ??= this.drainAndStop(graceSeconds);
    return this.stopping;
  }

  /**
   * Aborts every pending request now with UNAVAILABLE (each deletes what it wrote before it
   * answers). A drain in progress then finishes as soon as they have answered.
   */
  abortPending(): void {
    const reason = shuttingDown();
    for (const abort of this.active) abort.abort(reason);
  }

  private async bind(): Promise<void> {
    const host = this.options.host.includes(':') ? `[${this.options.host}]` : this.options.host;
    this.grpcPort = await new Promise<number>((resolve, reject) => {
      this.grpc.bindAsync(`${host}:${this.options.port}`, this.credentials, (err, port) =>
        err ? reject(listenError(`${host}:${this.options.port}`, 'gRPC (--port)', err)) : resolve(port),
      );
    });
    this.httpPort = await new Promise<number>((resolve, reject) => {
      const onError = (err: Error) => reject(listenError(`${host}:${this.options.metricsPort}`, 'metrics (--metrics-port)', err));
      this.http.once('error', onError);
      this.http.listen(this.options.metricsPort, this.options.host, () => {
        this.http.off('error', onError);
        resolve((this.http.address() as AddressInfo).port);
      });
    });
    this.setHealth('SERVING');
    this.transition('serving', {
      version: packageVersion(),
      address: this.address,
      port: this.grpcPort,
      metricsPort: this.httpPort,
      metricsUrl: `${this.httpUrl}metrics`,
      pageUrl: this.httpUrl,
      host: this.options.host,
      blob: storeUrl(this.options.blob),
      workers: this.options.workers,
      ...this.security,
      config: this.config.get(),
    });
  }

  private track(abort: RequestAbort): () => void {
    this.active.add(abort);
    return () => {
      this.active.delete(abort);
      if (this.active.size === 0) for (const w of this.idleWaiters.splice(0)) w();
    };
  }

  /** Resolves true once no request is pending, or false after `ms`. */
  private waitIdle(ms: number): Promise<boolean> {
    if (this.active.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        resolve(true);
      };
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
        resolve(false);
      }, ms);
      this.idleWaiters.push(done);
    });
  }

  private async drainAndStop(graceSeconds: number): Promise<void> {
    if (this.current === 'serving' || this.current === 'starting') {
      this.setHealth('NOT_SERVING');
      this.transition('draining', { pending: this.active.size, graceSeconds });
    }
    if (!(await this.waitIdle(graceSeconds * 1000))) {
      this.log.warn({ pending: this.active.size }, 'grace period over; aborting remaining work');
      this.abortPending();
      if (!(await this.waitIdle(ABORT_WAIT_MS))) {
        this.log.error({ pending: this.active.size }, 'aborted work did not finish; stopping anyway');
      }
    }
    await this.release();
    this.transition('stopped', {});
  }

  /** Closes ports, workers and the store. */
  private async release(): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.grpc.forceShutdown();
        resolve();
      }, GRPC_SHUTDOWN_MS);
      this.grpc.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    if (this.http.listening) {
      const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
      this.http.closeAllConnections();
      await closed;
    }
    await this.pool.close();
    await this.blob.close().catch((err: unknown) => this.log.warn({ err }, 'closing the blob store failed'));
  }

  private setHealth(status: ServingStatus): void {
    for (const name of HEALTH_SERVICES) this.health.setStatus(name, status);
  }

  private transition(next: ServerState, fields: object): void {
    const previous = this.current;
    this.current = next;
    this.log.info({ ...fields, state: next, previous }, `server ${next}`);
  }
}

/** The store as an absolute URL without credentials (file:///abs/dir, s3://bucket/prefix?endpoint=...). */
export function storeUrl(blob: string): string {
  try {
    return describeBlobSpec(parseBlobUrl(blob));
  } catch {
    return redactBlobUrl(blob);
  }
}

/** Starts a server; see CompactdServer.start. */
export function startServer(options: ServeOptions, opts: StartServerOptions = {}): Promise<CompactdServer> {
  return CompactdServer.start(options, opts);
}
