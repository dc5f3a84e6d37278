/**
 * A small flag parser for the commands of `compactd`. Accepted forms: `--name value`,
 * `--name=value`, and for booleans a bare `--name` (true), `--name=true|false` and `--no-name`.
 * Unknown flags, flags given twice, missing values, bad values and stray arguments are errors
 * (CompactdError `invalid`, one line, pointing at `--help`).
 */
import { invalid } from '../model/errors.js';
import { separateValue } from '../config/argv.js';

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
  readonly help: boolean;
}

const BYTE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1000,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1000 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1000 ** 3,
  gib: 1024 ** 3,
};

function parseValue(spec: FlagSpec, raw: string, hint: string): FlagValue {
  const where = `--${spec.name}`;
  switch (spec.type) {
    case 'string':
      return raw;
    case 'boolean':
      if (/^true$/i.test(raw)) return true;
      if (/^false$/i.test(raw)) return false;
      throw invalid(`${where}: expected true or false, got ${JSON.stringify(raw)}${hint}`);
    case 'count': {
      if (!/^[0-9]+$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
        throw invalid(`${where}: expected a whole number, got ${JSON.stringify(raw)}${hint}`);
      }
      return Number(raw);
    }
    case 'bytes': {
      const m = /^([0-9]+)\s*([A-Za-z]*)$/.exec(raw);
      const unit = m ? BYTE_UNITS[m[2].toLowerCase()] : undefined;
      const n = m && unit !== undefined ? Number(m[1]) * unit : NaN;
      if (!Number.isSafeInteger(n)) {
        throw invalid(`${where}: expected a byte size such as 1048576 or 128MiB, got ${JSON.stringify(raw)}${hint}`);
      }
      return n;
    }
  }
}

/**
 * Parses `argv` (the arguments after the command name) against `flags`. `command` names the
 * command in error hints. `--help`/`-h` anywhere sets `help` and skips every other check.
 */
export function parseFlags(argv: readonly string[], flags: readonly FlagSpec[], command: string): ParsedFlags {
  const hint = ` (see compactd ${command} --help)`;
  if (argv.includes('--help') || argv.includes('-h')) return { values: new Map(), help: true };
  const byName = new Map(flags.map((f) => [f.name, f]));
  const values = new Map<string, FlagValue>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--') || arg === '--') throw invalid(`unexpected argument ${JSON.stringify(arg)}${hint}`);
    const eq = arg.indexOf('=');
    let name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    let raw: string | undefined = eq < 0 ? undefined : arg.slice(eq + 1);
    let spec = byName.get(name);
    if (!spec && raw === undefined && name.startsWith('no-') && byName.get(name.slice(3))?.type === 'boolean') {
      spec = byName.get(name.slice(3))!;
      name = spec.name;
      raw = 'false';
    }
    if (!spec) throw invalid(`unknown flag --${name}${hint}`);
    if (raw === undefined) {
      const taken = separateValue(argv, i, spec.type === 'boolean');
      if (taken.raw === undefined) throw invalid(`--${name}: missing value${hint}`);
      raw = taken.raw;
      i = taken.last;
    }
    if (values.has(spec.name)) throw invalid(`--${spec.name}: given more than once${hint}`);
    values.set(spec.name, parseValue(spec, raw, hint));
  }
  for (const f of flags) if (f.required && !values.has(f.name)) throw invalid(`--${f.name} is required${hint}`);
  return { values, help: false };
}

/** The --help text of a command: usage line, summary, then one line per flag. */
export function formatHelp(command: string, summary: string, flags: readonly FlagSpec[], details = ''): string {
  const usage = flags.filter((f) => f.required).map((f) => `--${f.name} ${f.valueName ?? 'VALUE'}`);
  const lines = [`Usage: compactd ${command} ${[...usage, '[flags]'].join(' ')}`, '', summary, ''];
  if (details) lines.push(details.trimEnd(), '');
  lines.push('Flags:');
  const rows = flags.map((f) => {
    const left = f.type === 'boolean' ? `--${f.name}` : `--${f.name} ${f.valueName ?? 'VALUE'}`;
    const notes = [f.required ? 'required' : '', f.defaultText !== undefined ? `default ${f.defaultText}` : ''].filter(Boolean);
    return [left, notes.length > 0 ? `${f.help} (${notes.join('; ')})` : f.help];
  });
  rows.push(['--help', 'show this help']);
  const width = Math.max(...rows.map(([l]) => l.length)) + 2;
  for (const [l, r] of rows) lines.push(`  ${l.padEnd(width)}${r}`);
  return `${lines.join('\n')}\n`;
}
