/**
 * The flag tables of the commands of `compactd` other than serve, read by the one flag grammar
 * (config/argv.ts): `--name value`, `--name=value`, and for booleans a bare `--name` (true),
 * `--name=true|false` and `--no-name`. Unknown flags, flags given twice, missing values, bad
 * values and stray arguments are UsageErrors (one line, pointing at `--help` or at the flag meant).
 */
import { BOOLEAN_SYNTAX, parseBoolean, parseByteSize, SIZE_SYNTAX, splitFlagsAndArgs, usage, wantsHelp } from '../config/argv.js';

export type FlagType = 'string' | 'boolean' | 'count' | 'bytes';

export interface FlagSpec {
  /** Kebab-case name without the dashes. */
  readonly name: string;
  readonly type: FlagType;
  /** One line for --help. */
  readonly help: string;
  /** Shown in --help; applied by the command, not by the parser. */
  readonly defaultText?: string;
  readonly required?: boolean;
  /** Placeholder in --help, e.g. `URL`. */
  readonly valueName?: string;
}

export type FlagValue = string | boolean | number;

export interface ParsedFlags {
  /** Only the flags given on the command line, by name. */
  readonly values: ReadonlyMap<string, FlagValue>;
  /** The arguments that are not flags, in order (only for commands that take them). */
  readonly args: readonly string[];
  readonly help: boolean;
}

/** Arguments of a command that are not flags (e.g. batch files), for parsing and --help. */
export interface ArgsSpec {
  /** Placeholder in the usage line: `BATCH_FILE...`. */
  readonly name: string;
  /** Fewest arguments accepted. */
  readonly min: number;
}

function parseValue(spec: FlagSpec, raw: string, hint: string): FlagValue {
  const where = `--${spec.name}`;
  switch (spec.type) {
    case 'string':
      return raw;
    case 'boolean': {
      const b = parseBoolean(raw);
      if (b === undefined) throw usage(`${where}: expected ${BOOLEAN_SYNTAX}, got ${JSON.stringify(raw)}${hint}`);
      return b;
    }
    case 'count': {
      if (!/^[0-9]+$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
        throw usage(`${where}: expected a whole number, got ${JSON.stringify(raw)}${hint}`);
      }
      return Number(raw);
    }
    case 'bytes': {
      const n = parseByteSize(raw);
      if (n === undefined) throw usage(`${where}: expected a byte size such as 1048576 or 128MiB, got ${JSON.stringify(raw)}${hint}`);
      return n;
    }
  }
}

/**
 * Parses `argv` (the arguments after the command name) against `flags`. `command` names the
 * command in error hints. `--help`/`-h` anywhere sets `help` and skips every other check.
 */
export function parseFlags(argv: readonly string[], flags: readonly FlagSpec[], command: string, positional?: ArgsSpec): ParsedFlags {
  const hint = ` (see compactd ${command} --help)`;
  if (wantsHelp(argv)) return { values: new Map(), args: [], help: true };
  const byName = new Map(flags.map((f) => [f.name, f]));
  const { flags: given, args } = splitFlagsAndArgs(argv, {
    find: (name) => {
      const spec = byName.get(name);
      return spec && { name: spec.name, boolean: spec.type === 'boolean' };
    },
    names: [...byName.keys(), 'help'],
    positional: positional !== undefined,
    hint,
    missingValue: (name) => `--${name}: missing value${hint}`,
  });
  if (positional && args.length < positional.min) throw usage(`expected ${positional.name}${hint}`);
  const values = new Map<string, FlagValue>();
  for (const [name, g] of given) values.set(name, parseValue(byName.get(name)!, g.raw, hint));
  for (const f of flags) if (f.required && !values.has(f.name)) throw usage(`--${f.name} is required${hint}`);
  return { values, args, help: false };
}

/** The --help text of a command: usage line, summary, then one line per flag. */
export function formatHelp(command: string, summary: string, flags: readonly FlagSpec[], details = '', positional?: ArgsSpec): string {
  const required = flags.filter((f) => f.required).map((f) => `--${f.name} ${f.valueName ?? 'VALUE'}`);
  const words = [...required, '[flags]', ...(positional ? [positional.name] : [])];
  const lines = [`Usage: compactd ${command} ${words.join(' ')}`, '', summary, ''];
  if (details) lines.push(details.trimEnd(), '');
  lines.push('Flags:');
  const rows = flags.map((f) => {
    const left = f.type === 'boolean' ? `--${f.name}` : `--${f.name} ${f.valueName ?? 'VALUE'}`;
    // A required flag has no default to fall back on, whatever the shared spec says.
    const notes = f.required ? ['required'] : f.defaultText !== undefined ? [`default ${f.defaultText}`] : [];
    return [left, notes.length > 0 ? `${f.help} (${notes.join('; ')})` : f.help];
  });
  rows.push(['--help', 'show this help']);
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  for (const [l, r] of rows) lines.push(`  ${l.padEnd(width)}${r}`);
  if (flags.some((f) => f.type === 'bytes')) lines.push('', `Sizes: ${SIZE_SYNTAX}.`);
  return `${lines.join('\n')}\n`;
}
