/**
 * `compactd serve`: runs the service until SIGTERM or SIGINT, then shuts down gracefully (stop
 * accepting, drain within --grace-seconds, abort the rest) and exits 0. Options come from flags
 * and COMPACTD_* environment variables (README, "Configuration").
 */
import { readEnv } from '../config/env.js';
import { parseServeOptions, serveHelp, wantsHelp } from '../config/options.js';
import { write, type CliCommand } from './command.js';

/** Signals that ask the service to stop: orchestrators send SIGTERM, a terminal sends SIGINT. */
const STOP_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

export const serveCommand: CliCommand = {
  name: 'serve',
  summary: 'Run the compaction service (gRPC, health, reflection, /metrics) until SIGTERM or SIGINT.',
  async run(argv, io) {
    if (wantsHelp(argv)) {
      await write(io.stdout, `${serveHelp()}\n`);
      return 0;
    }
    const options = parseServeOptions(argv, readEnv());
    // Loaded when the command runs, so that other commands (and --help) do not pay for it.
    const { startServer } = await import('../service/server.js');
    const server = await startServer(options);
    let signals = 0;
    let stopRequested!: () => void;
    const stop = new Promise<void>((resolve) => (stopRequested = resolve));
    const onSignal = (signal: NodeJS.Signals) => {
      signals++;
      if (signals === 1) {
        server.log.info({ signal }, 'stop signal received; draining');
        stopRequested();
      } else {
        // An impatient operator: stop waiting for the grace period, but still clean up outputs.
        server.log.warn({ signal }, 'second stop signal; aborting in-flight work');
        server.abortPending();
      }
    };
    for (const s of STOP_SIGNALS) process.on(s, onSignal);
    try {
      await stop;
      await server.shutdown();
    } finally {
      for (const s of STOP_SIGNALS) process.off(s, onSignal);
    }
    return 0;
  },
};
