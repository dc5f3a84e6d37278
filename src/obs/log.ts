/**
 * Logging: one root pino logger and one child per request carrying its request id and shard, so
 * every line of a compaction can be found by either. Messages are fixed strings; the variable
 * parts are fields. Two renderings of the same records: JSON lines (for log collectors) and
 * short human lines (for a person at a terminal).
 *
 * Durations are logged in milliseconds, as `<name>Ms` fields rounded by `roundMs`, so a line
 * reads `queuedMs: 0.0186`, not `queuedSeconds: 0.000018626000004587694`.
 */
import { pino, stdTimeFunctions, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

/** How records are written: JSON lines, or human lines for a terminal. */
export const LOG_FORMATS = ['json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** One parsed log record, as a pretty renderer receives it. */
export type LogRecord = Readonly<Record<string, unknown>> & { readonly msg?: string; readonly level?: number };

/** Renders a record to text lines (without the final newline), or undefined for the default line. */
export type RecordRenderer = (record: LogRecord) => string | undefined;

export interface RootLoggerOptions {
  /** pino level name: fatal, error, warn, info, debug, trace or silent. */
  readonly level: string;
  /** JSON lines (default) or human lines. */
  readonly format?: LogFormat;
  /** Pretty format only: special renderings of some messages (the start-up greeting), by message. */
  readonly renderers?: Readonly<Record<string, RecordRenderer>>;
  /** Where lines go; stdout when absent (tests pass a stream to read them back). */
  readonly destination?: DestinationStream;
}

/** The process's root logger: ISO timestamps, `err` fields serialized with stack; see the module comment. */
export function createRootLogger(opts: RootLoggerOptions): Logger {
  const options = {
    level: opts.level,
    base: { service: 'compactd' },
    timestamp: stdTimeFunctions.isoTime,
  };
  if (opts.format === 'pretty') {
    return pino(options, prettyDestination(opts.destination ?? process.stdout, opts.renderers ?? {}));
  }
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

/**
 * A duration in milliseconds rounded to what a person reads: three significant digits below one
 * second (0.0186, 1.23, 45.6, 789), whole milliseconds from one second up (1234, 90000).
 */
export function roundMs(ms: number): number {
  if (!Number.isFinite(ms)) return ms;
  if (Math.abs(ms) >= 1000) return Math.round(ms);
  return ms === 0 ? 0 : Number(ms.toPrecision(3));
}

/** A duration given in seconds as logged milliseconds (`roundMs`). */
export function secondsToLogMs(seconds: number): number {
  return roundMs(seconds * 1000);
}

const LEVEL_NAMES: Readonly<Record<number, string>> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };
/** Fields every record has that a person at a terminal does not need repeated. */
const HIDDEN = new Set(['level', 'time', 'msg', 'service', 'pid', 'hostname']);

/** One field value as text: strings bare unless they need quotes, errors by message. */
function fieldText(value: unknown): string {
  if (typeof value === 'string') return /^[^\s"=]+$/.test(value) ? value : JSON.stringify(value);
  if (value !== null && typeof value === 'object' && typeof (value as { message?: unknown }).message === 'string') {
    return JSON.stringify((value as { message: string }).message);
  }
  return JSON.stringify(value) ?? String(value);
}

/** The default human line: `12:00:01 warn  message  key=value ...`. */
export function prettyLine(record: LogRecord): string {
  const time = typeof record.time === 'string' ? record.time.slice(11, 19) : '';
  const level = (LEVEL_NAMES[record.level ?? 30] ?? String(record.level)).padEnd(5);
  const fields = Object.entries(record)
    .filter(([k, v]) => !HIDDEN.has(k) && v !== undefined)
    .map(([k, v]) => `${k}=${fieldText(v)}`);
  return [`${time} ${level} ${record.msg ?? ''}`, ...fields].join('  ');
}

/** A pino destination that turns each JSON record into human text on `out`. */
function prettyDestination(out: DestinationStream, renderers: Readonly<Record<string, RecordRenderer>>): DestinationStream {
  return {
    write(chunk: string): void {
      for (const line of chunk.split('\n')) {
        if (line === '') continue;
        let record: LogRecord;
        try {
          record = JSON.parse(line) as LogRecord;
        } catch {
          out.write(`${line}\n`);
          continue;
        }
        const special = record.msg === undefined ? undefined : renderers[record.msg]?.(record);
        out.write(`${special ?? prettyLine(record)}\n`);
      }
    },
  };
}
