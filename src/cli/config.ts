/**
 * `compactd config get|set`: reads (Admin.GetConfig) or changes (Admin.UpdateConfig) the live
 * configuration of a running service and prints it as ServiceConfig JSON. `set` takes the
 * runtime options of `serve` as flags, read by the same rules (`--queue-size 5`,
 * `--target-part-bytes 64MiB`, `--enabled false`); options not given stay as they are.
 */
import { usage } from '../config/argv.js';
import { RUNTIME_OPTIONS, optionHelp, runtimeValueFromText } from '../config/options.js';
import type { CompactorClient } from '../client/compactor-client.js';
import type { FlagSpec, FlagValue } from './args.js';
import { CLIENT_FLAGS, clientOptionsFromFlags, deadlineSecondsFromFlags, endpointFromFlags } from './client-flags.js';
import { flagCommand, write, type CliCommand, type CliIo } from './command.js';
import { commandInfo } from './catalog.js';

/** Endpoint, deadline, TLS and token flags, as `compact` has them; the token is the admin token. */
const ADMIN_CLIENT_FLAGS: readonly FlagSpec[] = [
  { name: 'endpoint', type: 'string', valueName: 'HOST:PORT', help: 'address of a running compactd service', required: true },
  { name: 'deadline-seconds', type: 'count', valueName: 'S', help: 'give up after this many seconds' },
  ...CLIENT_FLAGS.map((f) =>
    f.name === 'token-file' ? { ...f, help: 'send the admin token in this file (serve --admin-token-file; else its --auth-token-file)' } : f,
  ),
];

/** The JSON codec reads the .proto with protobufjs: loaded when a subcommand runs, not for --help. */
const json = () => import('../wire/json.js');

/** The runtime options as `config set` flags; values are text, read by the serve option rules. */
const SET_FLAGS: readonly FlagSpec[] = RUNTIME_OPTIONS.map((o) => {
  const { valueName, help } = optionHelp(o);
  return { name: o.flag, type: 'string', valueName: valueName || 'true|false', help };
});

async function withAdmin<T>(flags: ReadonlyMap<string, FlagValue>, io: CliIo, f: (client: CompactorClient, deadlineMs?: number) => Promise<T>): Promise<T> {
  const endpoint = endpointFromFlags(flags)!;
  const deadline = deadlineSecondsFromFlags(flags);
  // Loaded when the command runs, so that other commands (and --help) do not pay for gRPC.
  const { CompactorClient } = await import('../client/compactor-client.js');
  const client = new CompactorClient({ address: endpoint, ...(await clientOptionsFromFlags(flags, io.cwd)) });
  try {
    return await f(client, deadline === undefined ? undefined : deadline * 1000);
  } finally {
    client.close();
  }
}

const getCommand = flagCommand({
  name: 'config get',
  summary: "Print a running service's live configuration (Admin.GetConfig) as ServiceConfig JSON.",
  flags: ADMIN_CLIENT_FLAGS,
  async run(flags, io) {
    const cfg = await withAdmin(flags, io, (c, deadlineMs) => c.getConfig(deadlineMs === undefined ? {} : { deadlineMs }));
    const { formatJson, serviceConfigToJson } = await json();
    await write(io.stdout, `${formatJson(serviceConfigToJson(cfg))}\n`);
    return 0;
  },
});

const setCommand = flagCommand({
  name: 'config set',
  summary: "Change a running service's live configuration (Admin.UpdateConfig); print the new one.",
  details: `Options not given stay as they are. The service checks every value by the rules of
\`compactd serve\` and applies all of them or none. Example:
  compactd config set --endpoint 127.0.0.1:50051 --queue-size 50 --heuristic-min-inputs 4`,
  flags: [...ADMIN_CLIENT_FLAGS, ...SET_FLAGS],
  async run(flags, io) {
    // The UpdateConfigRequest JSON the flags describe (field names are the options' keys).
    const given: Record<string, number | boolean> = {};
    for (const o of RUNTIME_OPTIONS) {
      const raw = flags.get(o.flag);
      if (raw !== undefined) given[o.key] = runtimeValueFromText(o, String(raw));
    }
    const { formatJson, serviceConfigToJson, serviceConfigUpdateFromJson } = await json();
    const update = serviceConfigUpdateFromJson(given);
    if (Object.keys(given).length === 0) throw usage(`give at least one option to change: ${RUNTIME_OPTIONS.map((o) => `--${o.flag}`).join(', ')}`);
    const cfg = await withAdmin(flags, io, (c, deadlineMs) => c.updateConfig(update, deadlineMs === undefined ? {} : { deadlineMs }));
    await write(io.stdout, `${formatJson(serviceConfigToJson(cfg))}\n`);
    return 0;
  },
});

const USAGE = `Usage: compactd config get|set --endpoint HOST:PORT [flags]

Read or change the live configuration of a running service (the Admin API).
  compactd config get --endpoint HOST:PORT     print it as ServiceConfig JSON
  compactd config set --endpoint HOST:PORT --queue-size 50 ...
                                               change the options given; print the result
Run \`compactd config get --help\` or \`compactd config set --help\` for their flags.
`;

export const configCommand: CliCommand = {
  ...commandInfo('config'),
  async run(argv, io) {
    const [sub, ...rest] = argv;
    if (sub === 'get') return getCommand.run(rest, io);
    if (sub === 'set') return setCommand.run(rest, io);
    if (sub === undefined) {
      await write(io.stderr, USAGE);
      return 2;
    }
    if (sub === '--help' || sub === '-h') {
      // The overview, then the flags of `set` (a superset of those of `get`).
      await write(io.stdout, `${USAGE}\n`);
      return setCommand.run(['--help'], io);
    }
    throw usage(`expected get or set, got ${JSON.stringify(sub)} (see compactd config --help)`);
  },
};
