/**
 * `compactd health`: asks a running service's gRPC health service whether it is SERVING. Exit 0
 * and `SERVING` on stdout when it is; exit 1 with one line on stderr otherwise (NOT_SERVING, no
 * answer, unknown service). Small enough to be a container HEALTHCHECK or a Kubernetes exec probe.
 */
import { DEFAULT_PORT } from '../config/options.js';
import { CompactdError } from '../model/errors.js';
import type { FlagSpec } from './args.js';
import { CLIENT_FLAGS, clientOptionsFromFlags, endpointFromFlags, localEndpoint } from './client-flags.js';
import { usage } from '../config/argv.js';
import { flagCommand, write } from './command.js';
import { commandInfo } from './catalog.js';

/** Inside a probe interval of 10 s with room for a second attempt by the orchestrator. */
const DEFAULT_TIMEOUT_SECONDS = 5;

function parseTimeout(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_TIMEOUT_SECONDS;
  const n = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw.trim()) || !(n > 0)) {
    throw usage(`--timeout-seconds: expected a number of seconds > 0, got ${JSON.stringify(raw)}`);
  }
  return n;
}

/** The flags of `compactd health`. */
export const HEALTH_FLAGS: readonly FlagSpec[] = [
  {
    name: 'endpoint',
    type: 'string',
    valueName: 'HOST:PORT',
    help: 'address of the service',
    defaultText: `127.0.0.1:$COMPACTD_PORT, else 127.0.0.1:${DEFAULT_PORT}`,
  },
  { name: 'service', type: 'string', valueName: 'NAME', help: 'service name to check', defaultText: "'' (the whole server)" },
  { name: 'timeout-seconds', type: 'string', valueName: 'S', help: 'give up after this long', defaultText: String(DEFAULT_TIMEOUT_SECONDS) },
  // The health service is never behind the bearer token, but it is behind TLS when the server is.
  ...CLIENT_FLAGS.filter((f) => f.name !== 'token-file'),
];

export const healthCommand = flagCommand({
  ...commandInfo('health'),
  details: `Calls grpc.health.v1.Health/Check on --endpoint for --service ('' is the whole server;
compactd also answers for compactd.v1.Compactor and compactd.v1.Admin). Prints SERVING and exits 0
when the service is serving; otherwise prints one line (NOT_SERVING, unreachable, no answer in
time, unknown service) to stderr and exits 1. A draining server reports NOT_SERVING.`,
  flags: HEALTH_FLAGS,
  async run(flags, io) {
    const endpoint = endpointFromFlags(flags) ?? localEndpoint();
    const service = (flags.get('service') as string | undefined) ?? '';
    const timeoutSeconds = parseTimeout(flags.get('timeout-seconds') as string | undefined);
    const { tls } = await clientOptionsFromFlags(flags, io.cwd);
    // Loaded when the command runs, so that other commands (and --help) do not pay for it.
    const { checkHealth } = await import('../client/health.js');
    const got = await checkHealth(endpoint, { service, timeoutMs: timeoutSeconds * 1000, ...(tls ? { tls } : {}) });
    if (got !== 'SERVING') {
      const what = service === '' ? endpoint : `service ${JSON.stringify(service)} at ${endpoint}`;
      throw new CompactdError('unavailable', `${what} is ${got}`);
    }
    await write(io.stdout, 'SERVING\n');
    return 0;
  },
});
