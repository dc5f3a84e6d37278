/**
 * `compactd serve`: runs the service until SIGTERM or SIGINT, then shuts down gracefully (stop
 * accepting, drain within --grace-seconds, abort the rest) and exits 0. Options come from flags
 * and COMPACTD_* environment variables (README, "Configuration").
 *
 * A person at a terminal gets short human lines and a greeting saying where everything is; a
 * collector (stdout not a terminal) gets JSON lines; --log-format chooses. A start-up failure is
 * one line on stderr (and, in JSON, one `server failed to start` record) and exit 1.
 */
import { envName, readEnv, type EnvSnapshot } from '../config/env.js';
import { DEFAULT_HOST, DEFAULT_PORT, parseServeOptions, serveHelp, wantsHelp, type ServeOptions } from '../config/options.js';
import { CompactdError } from '../model/errors.js';
import type { LogFormat, LogRecord, Logger } from '../obs/log.js';
import { packageVersion } from '../obs/version.js';
import type { CompactdServer } from '../service/server.js';
import { write, type CliCommand, type CliIo } from './command.js';
import { commandInfo } from './catalog.js';

/** Signals that ask the service to stop: orchestrators send SIGTERM, a terminal sends SIGINT. */
const STOP_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/** The log format `--log-format` asks for, with `auto` decided by whether stdout is a terminal. */
export function resolveLogFormat(choice: ServeOptions['logFormat'], stdout: unknown): LogFormat {
  if (choice !== 'auto') return choice;
  return (stdout as { isTTY?: boolean }).isTTY === true ? 'pretty' : 'json';
}

/** The greeting a person sees once the service serves (the pretty rendering of `server serving`). */
export function greeting(r: LogRecord): string {
  const address = String(r.address);
  const security = [r.tls === 'off' || r.tls === undefined ? 'plain text' : r.tls === 'mutual' ? 'mutual TLS' : 'TLS', r.auth ? 'bearer token' : 'no token'];
  const demo = ['compactd demo'];
  if (address !== `${DEFAULT_HOST}:${DEFAULT_PORT}`) demo.push(`--endpoint ${address}`);
  demo.push(`--blob ${String(r.blob)}`);
  return [
    `compactd ${String(r.version)} is serving`,
    `  gRPC     ${address} (${security.join(', ')})`,
    `  metrics  ${String(r.metricsUrl)}`,
    `  page     ${String(r.pageUrl)}`,
    `  store    ${String(r.blob)}`,
    `  workers  ${String(r.workers)}`,
    `  try:     ${demo.join(' ')}   (in another terminal; Ctrl-C here stops the service)`,
  ].join('\n');
}

/** --log-format (or COMPACTD_LOG_FORMAT) as given, when options could not be parsed; else auto. */
function rawLogFormat(argv: readonly string[], env: EnvSnapshot): ServeOptions['logFormat'] {
  const i = argv.findIndex((a) => a === '--log-format' || a.startsWith('--log-format='));
  const raw = i < 0 ? env[envName('log-format')] : argv[i].includes('=') ? argv[i].slice(argv[i].indexOf('=') + 1) : argv[i + 1];
  return raw === 'json' || raw === 'pretty' ? raw : 'auto';
}

function stdoutSink(io: CliIo): { write(s: string): boolean } {
  return { write: (s: string) => io.stdout.write(s) };
}

export const serveCommand: CliCommand = {
  ...commandInfo('serve'),
  async run(argv, io) {
    if (wantsHelp(argv)) {
      await write(io.stdout, `${serveHelp()}\n`);
      return 0;
    }
    // Listed in the help: what an operator checks before starting a new build.
    if (argv.includes('--version')) {
      await write(io.stdout, `compactd ${packageVersion()}\n`);
      return 0;
    }
    // The logger (pino) is loaded when the service starts, not for --help.
    const { createRootLogger } = await import('../obs/log.js');
    const env = readEnv();
    let options: ServeOptions;
    try {
      options = parseServeOptions(argv, env);
    } catch (err) {
      // A bad option is a start-up failure too: a collector gets its record.
      const format = resolveLogFormat(rawLogFormat(argv, env), io.stdout);
      throw startFailure(createRootLogger({ level: 'fatal', format, destination: stdoutSink(io) }), format, err);
    }
    const format = resolveLogFormat(options.logFormat, io.stdout);
    const log = createRootLogger({
      level: options.logLevel,
      format,
      renderers: { 'server serving': greeting },
      destination: stdoutSink(io),
    });
    // grpc-js's own diagnostics (a failed bind adds "E No address added ...") become debug records.
    // Loaded when the command runs, so that other commands (and --help) do not pay for gRPC.
    const [{ routeGrpcLogs }, { startServer }] = await Promise.all([import('./grpc-log.js'), import('../service/server.js')]);
    routeGrpcLogs(log);
    // Signals are handled from the start: one that arrives while the server starts (after its
    // `server serving` line, before this function resumes) still stops it gracefully.
    let server: CompactdServer | undefined;
    let signals = 0;
    let stopRequested!: () => void;
    const stop = new Promise<void>((resolve) => (stopRequested = resolve));
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals === 1) {
        log.info({ signal }, 'stop signal received; draining');
        stopRequested();
      } else {
        // An impatient operator: stop waiting for the grace period, but still clean up outputs.
        log.warn({ signal }, 'second stop signal; aborting in-flight work');
        server?.abortPending();
      }
    };
    for (const s of STOP_SIGNALS) process.on(s, onSignal);
    try {
      try {
        server = await startServer(options, { log });
      } catch (err) {
        throw startFailure(log, format, err);
      }
      await stop;
      if (signals > 1) server.abortPending();
      await server.shutdown();
    } finally {
      for (const s of STOP_SIGNALS) process.off(s, onSignal);
    }
    return 0;
  },
};

/**
 * A start-up failure: in JSON, one `server failed to start` record for the collector (the one
 * line on stderr comes from main); a person at a terminal gets only that line.
 */
function startFailure(log: Logger, format: LogFormat, err: unknown): CompactdError {
  const e = CompactdError.from(err);
  if (format === 'json') log.fatal({ state: 'stopped', kind: e.kind, error: e.message }, 'server failed to start');
  return e;
}
