/**
 * `compactd serve`: runs the service until SIGTERM or SIGINT, then shuts down gracefully (stop
 * accepting, drain within --grace-seconds, abort the rest) and exits 0. Options come from flags
 * and COMPACTD_* environment variables (docs/configuration.md).
 */
import { readEnv } from '../config/env.js';
import { parseServeOptions, serveHelp, wantsHelp } from '../config/options.js';
import { startServer } from '../service/server.js';
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
    const server = await startServer(options);
    await new Promise<void>((resolve) => {
      const onSignal = (signal: NodeJS.Signals) => {
        for (const s of STOP_SIGNALS) process.off(s, onSignal);
        // A second signal during the drain gets the default behaviour: the process ends at once.
        server.log.info({ signal }, 'stop signal received');
        void server.shutdown().then(resolve, (err: unknown) => {
          server.log.error({ err }, 'shutdown failed');
          resolve();
        });
      };
      for (const s of STOP_SIGNALS) process.on(s, onSignal);
    });
    return 0;
  },
};
