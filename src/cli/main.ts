/**
 * The `compactd` command line: `compactd <command> [flags]`. Each command is one entry of the
 * catalog (catalog.ts); its module is loaded only when it runs. A mistake on the command line
 * prints `compactd <command>: <message>` to stderr and exits 2; any other failure prints one
 * line, `<STATUS_CODE_NAME>: <message>`, and exits 1 (docs/contract.md, "Command line").
 */
import { closestName, UsageError, usage } from '../config/argv.js';
import { quietGrpcDiagnostics, silenceAwsNodeVersionNotice } from '../config/env.js';
import { CompactdError } from '../model/errors.js';
import { packageVersion } from '../obs/version.js';
import { statusName } from '../wire/status-codes.js';
import { CATALOG, type CommandInfo, type CommandName } from './catalog.js';
import type { CliCommand, CliIo } from './command.js';
import { write } from './command.js';

/** Every command, in the order `compactd --help` lists them (names and summaries only). */
export const COMMANDS: readonly CommandInfo[] = CATALOG;

/**
 * How to load each command's module: only the command that runs is loaded, so `--help` and one
 * command's start-up do not pay for every other command's dependencies (gRPC, protobufjs, pino...).
 */
const LOADERS: Readonly<Record<CommandName, () => Promise<CliCommand>>> = {
  serve: async () => (await import('./serve.js')).serveCommand,
  compact: async () => (await import('./compact.js')).compactCommand,
  request: async () => (await import('./request.js')).requestCommand,
  'write-batch': async () => (await import('./write-batch.js')).writeBatchCommand,
  'read-batch': async () => (await import('./read-batch.js')).readBatchCommand,
  demo: async () => (await import('./demo.js')).demoCommand,
  health: async () => (await import('./health.js')).healthCommand,
  config: async () => (await import('./config.js')).configCommand,
  'delete-parts': async () => (await import('./delete-parts.js')).deletePartsCommand,
  orphans: async () => (await import('./orphans.js')).orphansCommand,
  loadgen: async () => (await import('./loadgen.js')).loadgenCommand,
  jobs: async () => (await import('./jobs.js')).jobsCommand,
  cancel: async () => (await import('./jobs.js')).cancelCommand,
};

/** The top-level help: usage and one line per command. */
export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    'Usage: compactd <command> [flags]',
    '',
    'A compaction service for differential update batches on object storage.',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    'Flags:',
    '  --help     show this help (also: compactd <command> --help)',
    '  --version  print the version',
    '',
    'Run `compactd <command> --help` for the flags of a command.',
    '',
  ].join('\n');
}

/** Exit code of a mistake on the command line (the shell convention for usage errors). */
export const USAGE_EXIT_CODE = 2;

/**
 * One line for stderr: `compactd <command>: <message>` for a usage error (`command` is the
 * command's name, when there is one), else the status code name of the error's kind, then its message.
 */
export async function formatError(err: unknown, command?: string): Promise<string> {
  const e = CompactdError.from(err);
  const message = e.message.replace(/\s*\n\s*/g, ' ');
  if (e instanceof UsageError) return `${command === undefined ? 'compactd' : `compactd ${command}`}: ${message}`;
  return `${statusName(e.kind)}: ${message}`;
}

function defaultIo(): CliIo {
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, cwd: process.cwd() };
}

/**
 * Runs `compactd` with `argv` (the arguments after the program name) and resolves to the exit
 * code: 0 on success, 1 on any failure (after printing one line to stderr). Never rejects for a
 * command's own errors. `io` replaces the process's streams and working directory.
 */
export async function main(argv: readonly string[], io: Partial<CliIo> = {}): Promise<number> {
  const full: CliIo = { ...defaultIo(), ...io };
  silenceAwsNodeVersionNotice();
  quietGrpcDiagnostics();
  const [name, ...rest] = argv;
  try {
    if (name === undefined) {
      await write(full.stderr, mainHelp());
      return USAGE_EXIT_CODE;
    }
    if (name === '--help' || name === '-h' || name === 'help') {
      const target = name === 'help' ? rest[0] : undefined;
      if (target !== undefined) return await (await lookup(target)).run(['--help'], full);
      await write(full.stdout, mainHelp());
      return 0;
    }
    if (name === '--version' || name === '-v') {
      await write(full.stdout, `compactd ${packageVersion()}\n`);
      return 0;
    }
    return await (await lookup(name)).run(rest, full);
  } catch (err) {
    const cmd = COMMANDS.find((c) => c.name === name);
    const sub = cmd?.subcommands?.includes(rest[0]) ? ` ${rest[0]}` : '';
    const known = cmd ? `${cmd.name}${sub}` : undefined;
    await write(full.stderr, `${await formatError(err, known)}\n`);
    return err instanceof UsageError ? USAGE_EXIT_CODE : 1;
  }
}

/** Loads the module of the command called `name`; a usage error (with did-you-mean) for an unknown name. */
async function lookup(name: string): Promise<CliCommand> {
  const cmd = CATALOG.find((c) => c.name === name);
  if (!cmd) {
    const near = closestName(name, COMMANDS.map((c) => c.name));
    const list = `commands: ${COMMANDS.map((c) => c.name).join(', ')}`;
    throw usage(`unknown command ${JSON.stringify(name)}${near === undefined ? `; ${list}` : ` (did you mean ${near}?)`}`);
  }
  return LOADERS[cmd.name]();
}
