/**
 * grpc-js writes its own diagnostics to stderr (`E No address added out of total 1 resolved`
 * next to compactd's own message when a port is taken). The CLI owns what a person sees: those
 * lines become debug records of the service's log, and are dropped by the client commands, which
 * translate failed calls into one line of their own (src/client/transport.ts).
 */
import { format } from 'node:util';
import { setLogger } from '@grpc/grpc-js';
import type { Logger } from '../obs/log.js';

/** Sends grpc-js's diagnostics to `log` at debug level, or nowhere without a logger. */
export function routeGrpcLogs(log?: Logger): void {
  const emit = (...args: unknown[]) => {
    if (log?.isLevelEnabled('debug')) log.debug({ library: 'grpc-js', detail: format(...args) }, 'grpc-js diagnostic');
  };
  setLogger({ error: emit, info: emit, debug: emit });
}
