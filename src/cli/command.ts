/**
 * What every `compactd` command is: a name, a one-line summary and a `run` over the arguments
 * after the command name, with its input and output streams injected (the process's by default,
 * in-memory streams in tests). Commands with ordinary flags are built with `flagCommand`, which
 * handles `--help` and flag parsing; a command with its own option machinery implements `run`.
 */
import { invalid } from '../model/errors.js';
import type { CommandInfo } from './catalog.js';
import { formatHelp, parseFlags, type ArgsSpec, type FlagSpec, type FlagValue } from './args.js';

/** A writable text sink: process.stdout/stderr or any stream.Writable. */
export interface TextSink {
  write(chunk: string): boolean;
  once(event: 'drain', listener: () => void): unknown;
}

export interface CliIo {
  readonly stdin: AsyncIterable<string | Uint8Array>;
  readonly stdout: TextSink;
  readonly stderr: TextSink;
  /** Base directory for relative file:// URLs. */
  readonly cwd: string;
}

/** A command's catalog entry (name, summary, subcommands) and how it runs. */
export interface CliCommand extends CommandInfo {
  /** Runs the command with the arguments after its name; resolves to the exit code. Throws CompactdErrors. */
  run(argv: readonly string[], io: CliIo): Promise<number>;
}

export interface FlagCommandSpec {
  readonly name: string;
  readonly summary: string;
  /** More --help text between the summary and the flags. */
  readonly details?: string;
  readonly flags: readonly FlagSpec[];
  /** Arguments other than flags the command takes (none when absent: they are refused). */
  readonly args?: ArgsSpec;
  run(flags: ReadonlyMap<string, FlagValue>, io: CliIo, args: readonly string[]): Promise<number>;
}

/** A command whose arguments are flags from `spec.flags`; `--help` prints their help and exits 0. */
export function flagCommand(spec: FlagCommandSpec): CliCommand {
  return {
    name: spec.name,
    summary: spec.summary,
    async run(argv, io) {
      const parsed = parseFlags(argv, spec.flags, spec.name, spec.args);
      if (parsed.help) {
        await write(io.stdout, formatHelp(spec.name, spec.summary, spec.flags, spec.details, spec.args));
        return 0;
      }
      return spec.run(parsed.values, io, parsed.args);
    },
  };
}

/** Writes `text`, waiting for the sink to drain when it asks to (large outputs stay bounded). */
export async function write(sink: TextSink, text: string): Promise<void> {
  if (!sink.write(text)) await new Promise<void>((resolve) => sink.once('drain', resolve));
}

/** Decodes UTF-8 chunk by chunk; malformed input is `invalid` rather than silently replaced. */
function utf8Decoder(): (chunk: string | Uint8Array | undefined) => string {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  return (chunk) => {
    if (typeof chunk === 'string') return chunk;
    try {
      return chunk === undefined ? decoder.decode() : decoder.decode(chunk, { stream: true });
    } catch {
      throw invalid('standard input is not valid UTF-8');
    }
  };
}

/** Reads the whole input as UTF-8 text. */
export async function readAll(input: AsyncIterable<string | Uint8Array>): Promise<string> {
  const decode = utf8Decoder();
  const parts: string[] = [];
  for await (const chunk of input) parts.push(decode(chunk));
  parts.push(decode(undefined));
  return parts.join('');
}

/** Yields the input's lines (without `\n` or `\r\n`), decoding UTF-8 as it streams. */
export async function* lines(input: AsyncIterable<string | Uint8Array>): AsyncGenerator<string> {
  const decode = utf8Decoder();
  let pending = '';
  for await (const chunk of input) {
    const split = (pending + decode(chunk)).split('\n');
    pending = split.pop()!;
    for (const line of split) yield line.endsWith('\r') ? line.slice(0, -1) : line;
  }
  pending += decode(undefined);
  if (pending !== '') yield pending.endsWith('\r') ? pending.slice(0, -1) : pending;
}
