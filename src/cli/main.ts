/**
 * The `compactd` command line: `compactd <command> [flags]`. Each command is one entry in
 * COMMANDS. Failures print one line, `<STATUS_CODE_NAME>: <message>`, to stderr and exit 1
 * (docs/contract.md, "Command line").
 */
import { quietGrpcDiagnostics, silenceAwsNodeVersionNotice } from '../config/env.js';
import { CompactdError } from '../model/errors.js';
import { packageVersion } from '../obs/version.js';
import type { CliCommand, CliIo } from './command.js';
import { write } from './command.js';
import { compactCommand } from './compact.js';
import { demoCommand } from './demo.js';
import { healthCommand } from './health.js';
import { cancelCommand, jobsCommand } from './jobs.js';
import { loadgenCommand } from './loadgen.js';
import { orphansCommand } from './orphans.js';
import { readBatchCommand } from './read-batch.js';
import { serveCommand } from './serve.js';
import { writeBatchCommand } from './write-batch.js';

/** Every command, in the order `compactd --help` lists them. */
export const COMMANDS: readonly CliCommand[] = [serveCommand, compactCommand, writeBatchCommand, readBatchCommand, demoCommand, healthCommand, orphansCommand, loadgenCommand, jobsCommand, cancelCommand];

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
    'Run `compactd <command> --help` for the flags of a command.',
    '',
  ].join('\n');
}

/** One line for stderr: the status code name of the error's kind, then its message. */
export async function formatError(err: unknown): Promise<string> {
  // The status table loads gRPC: only on the error path, so that successful commands need not.
  const { statusName } = await import('../wire/status-codes.js');
  const e = CompactdError.from(err);
  return `${statusName(e.kind)}: ${e.message.replace(/\s*\n\s*/g, ' ')}`;
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
      return 1;
    }
    if (name === '--help' || name === '-h' || name === 'help') {
      const target = name === 'help' ? rest[0] : undefined;
      if (target !== undefined) return await lookup(target).run(['--help'], full);
      await write(full.stdout, mainHelp());
      return 0;
    }
    if (name === '--version' || name === '-v') {
      await write(full.stdout, `compactd ${packageVersion()}\n`);
      return 0;
    }
    return await lookup(name).run(rest, full);
  } catch (err) {
    await write(full.stderr, `${await formatError(err)}\n`);
    return 1;
  }
}

function lookup(name: string): CliCommand {
  const cmd = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    throw new CompactdError('invalid', `unknown command ${JSON.stringify(name)}; commands: ${COMMANDS.map((c) => c.name).join(', ')}`);
  }
  return cmd;
}
