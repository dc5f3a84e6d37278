/**
 * grpc-js writes its own diagnostics to stderr (`E No address added out of total 1 resolved`
 * next to compactd's own message when a port is taken). The CLI owns what a person sees: those
 * lines become debug records of the service's log, and are dropped by the client commands, which
 * translate failed calls into one line of their own (src/client/transport.ts).
 */
import { format } from 'node:util';
import { logVerbosity, setLogger, setLogVerbosity } from '@grpc/grpc-js';
import { grpcQuietedByCli } from '../config/env.js';
import type { Logger } from '../obs/log.js';

/**
 * Sends grpc-js's diagnostics to `log` at debug level. The CLI quiets grpc-js before it loads
 * (config/env.ts, quietGrpcDiagnostics); the service turns its errors back on, as records.
 */
export function routeGrpcLogs(log: Logger): void {
  if (grpcQuietedByCli()) setLogVerbosity(logVerbosity.ERROR);
  const emit = (...args: unknown[]) => {
    if (log.isLevelEnabled('debug')) log.debug({ library: 'grpc-js', detail: format(...args) }, 'grpc-js diagnostic');
  };
  setLogger({ error: emit, info: emit, debug: emit });
}
