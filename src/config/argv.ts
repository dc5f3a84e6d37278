/**
 * The one grammar of command-line flags, shared by `compactd serve`'s options and every other
 * command: `--flag value`, `--flag=value`, bare booleans (`--flag` is true, `--flag false` and
 * `--no-flag` false); unknown flags, repeats, missing values and stray arguments are refused.
 * Also the one reading of byte sizes: plain bytes or a binary unit (KiB, MiB, GiB, TiB).
 */
import { invalid } from '../model/errors.js';
import { GiB, KiB, MiB, TiB } from '../model/util/sizes.js';

/** How the caller's flag table answers for one name. */
export interface FlagLookup {
  /** The flag named `name`, or undefined when there is none. */
  find(name: string): { readonly name: string; readonly boolean: boolean } | undefined;
  /** Appended to every message: where to read the flags (` (see compactd serve --help)`). */
  readonly hint: string;
  /** The message for a flag given without its value. */
  missingValue(name: string): string;
}

/** A flag as given: its canonical name, the source to name in errors and its raw text. */
export interface GivenFlag {
  readonly name: string;
  readonly source: string;
  readonly raw: string;
}

/**
 * The value of the flag at argv[i] when it was given without `=`: a boolean is true unless a
 * literal true or false follows (then taken as its value); any other flag takes the next
 * argument. Returns the value (undefined when a non-boolean has none: the caller reports it) and
 * the index of the last argument used.
 */
function separateValue(argv: readonly string[], i: number, isBoolean: boolean): { raw: string | undefined; last: number } {
  const next = argv[i + 1];
  if (isBoolean) {
    return next !== undefined && /^(true|false)$/i.test(next) ? { raw: next, last: i + 1 } : { raw: 'true', last: i };
  }
  if (next === undefined || next.startsWith('--')) return { raw: undefined, last: i };
  return { raw: next, last: i + 1 };
}

/** Splits `argv` into the flags it gives, by name, in the one grammar. Throws `invalid`. */
export function splitFlags(argv: readonly string[], flags: FlagLookup): Map<string, GivenFlag> {
  const out = new Map<string, GivenFlag>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--') || arg === '--') throw invalid(`unexpected argument ${JSON.stringify(arg)}${flags.hint}`);
    const eq = arg.indexOf('=');
    let name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    let raw: string | undefined = eq < 0 ? undefined : arg.slice(eq + 1);
    let spec = flags.find(name);
    if (!spec && raw === undefined && name.startsWith('no-') && flags.find(name.slice(3))?.boolean) {
      spec = flags.find(name.slice(3))!;
      name = spec.name;
      raw = 'false';
    }
    if (!spec) throw invalid(`unknown flag --${name}${flags.hint}`);
    if (raw === undefined) {
      const taken = separateValue(argv, i, spec.boolean);
      if (taken.raw === undefined) throw invalid(flags.missingValue(name));
      raw = taken.raw;
      i = taken.last;
    }
    if (out.has(spec.name)) throw invalid(`--${spec.name}: given more than once${flags.hint}`);
    out.set(spec.name, { name: spec.name, source: `--${spec.name}`, raw });
  }
  return out;
}

/** True when the command line asks for help (`--help` or `-h` anywhere). */
export function wantsHelp(argv: readonly string[]): boolean {
  return argv.includes('--help') || argv.includes('-h');
}

/**
 * Byte-size units, case-insensitive. Decimal units (kB, MB, GB) are refused rather than read as
 * 1000 or 1024: either guess would be wrong for someone.
 */
const SIZE_UNITS: Readonly<Record<string, number>> = { '': 1, b: 1, kib: KiB, mib: MiB, gib: GiB, tib: TiB };

/** What every byte-size flag accepts, for help texts and messages. */
export const SIZE_SYNTAX = 'a whole number of bytes, optionally with KiB, MiB, GiB or TiB (kB, MB, GB are refused)';

/** Reads a byte size such as `1048576`, `128MiB` or `1 GiB`; undefined when it is not one or not a safe integer. */
export function parseByteSize(text: string): number | undefined {
  const m = /^(\d+)\s*([A-Za-z]*)$/.exec(text.trim());
  const unit = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) return undefined;
  const n = Number(m[1]) * unit;
  return Number.isSafeInteger(n) ? n : undefined;
}
