/**
 * Logging: one root pino logger writing JSON lines to stdout, and one child per request carrying
 * its request id and shard, so every line of a compaction can be found by either. Messages are
 * fixed strings; the variable parts are fields.
 */
import { pino, stdTimeFunctions, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

export interface RootLoggerOptions {
  /** pino level name: fatal, error, warn, info, debug, trace or silent. */
  readonly level: string;
  /** Where lines go; stdout when absent (tests pass a stream to read them back). */
  readonly destination?: DestinationStream;
}

/** The process's root logger: JSON lines with ISO timestamps, `err` fields serialized with stack. */
export function createRootLogger(opts: RootLoggerOptions): Logger {
  const options = {
    level: opts.level,
    base: { service: 'compactd' },
    timestamp: stdTimeFunctions.isoTime,
  };
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

/** The fields that identify one request in its log lines. */
export interface RequestFields {
  readonly requestId: string;
  readonly shard: string;
}

/** A child logger whose every line carries `requestId` and `shard`. */
export function requestLogger(root: Logger, fields: RequestFields): Logger {
  return root.child({ requestId: fields.requestId, shard: fields.shard });
}
