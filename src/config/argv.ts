/**
 * The one grammar of command-line flags, shared by `compactd serve`'s options and every other
 * command: `--flag value`, `--flag=value`, bare booleans (`--flag` is true, `--flag false` and
 * `--no-flag` false); unknown flags, repeats, missing values and stray arguments are refused.
 * Also the one reading of byte sizes: plain bytes or a binary unit (KiB, MiB, GiB, TiB).
 */
import { CompactdError } from '../model/errors.js';
import { GiB, KiB, MiB, TiB } from '../model/util/sizes.js';

/**
 * A mistake on the command line (a flag, its value, a missing or stray argument), found before
 * anything was sent anywhere. Its kind is `invalid`; the CLI prints it as
 * `compactd <command>: <message>` and exits 2, so it never reads like a server's answer.
 */
export class UsageError extends CompactdError {
  constructor(message: string) {
    super('invalid', message);
    this.name = 'UsageError';
  }
}

/** A UsageError with `message`. */
export const usage = (message: string): UsageError => new UsageError(message);

/**
 * Runs `read`, which reads a flag's value with a shared reader (a frontier, a shard id, an
 * endpoint), and reports its `invalid` errors as the usage errors they are.
 */
export function readFlag<T>(read: () => T): T {
  try {
    return read();
  } catch (err) {
    if (err instanceof CompactdError && err.kind === 'invalid' && !(err instanceof UsageError)) throw usage(err.message);
    throw err;
  }
}

/**
 * The known name closest to `name` when it is a likely typo (at most two edits apart, or one is
 * a prefix of the other), for "did you mean --force?"; undefined when nothing is close.
 */
export function closestName(name: string, known: Iterable<string>): string | undefined {
  let best: { name: string; d: number } | undefined;
  for (const k of known) {
    const d = k.startsWith(name) || name.startsWith(k) ? Math.min(1, editDistance(name, k)) : editDistance(name, k);
    if (d <= Math.min(2, Math.max(1, Math.floor(k.length / 3))) && (best === undefined || d < best.d)) best = { name: k, d };
  }
  return best?.name;
}

/** Levenshtein distance (insert, delete, substitute). */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

/** How the caller's flag table answers for one name. */
export interface FlagLookup {
  /** The flag named `name`, or undefined when there is none. */
  find(name: string): { readonly name: string; readonly boolean: boolean } | undefined;
  /** Every flag name, for "did you mean" on an unknown one. */
  readonly names: readonly string[];
  /**
   * True when the command takes arguments that are not flags (file names); they are returned in
   * order by splitFlagsAndArgs instead of being refused.
   */
  readonly positional?: boolean;
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

/** Splits `argv` into the flags it gives, by name, in the one grammar. Throws UsageError. */
export function splitFlags(argv: readonly string[], flags: FlagLookup): Map<string, GivenFlag> {
  return splitFlagsAndArgs(argv, flags).flags;
}

/**
 * Splits `argv` into the flags it gives, by name, and (when `flags.positional`) the other
 * arguments in order; `--` ends the flags. Throws UsageError.
 */
export function splitFlagsAndArgs(argv: readonly string[], flags: FlagLookup): { flags: Map<string, GivenFlag>; args: string[] } {
  const out = new Map<string, GivenFlag>();
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (flags.positional && arg === '--') {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (!arg.startsWith('--') || arg === '--') {
      if (flags.positional && arg !== '--') {
        args.push(arg);
        continue;
      }
      throw usage(`unexpected argument ${JSON.stringify(arg)}${flags.hint}`);
    }
    const eq = arg.indexOf('=');
    let name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
    let raw: string | undefined = eq < 0 ? undefined : arg.slice(eq + 1);
    let spec = flags.find(name);
    if (!spec && raw === undefined && name.startsWith('no-') && flags.find(name.slice(3))?.boolean) {
      spec = flags.find(name.slice(3))!;
      name = spec.name;
      raw = 'false';
    }
    if (!spec) {
      const near = closestName(name, flags.names);
      throw usage(near === undefined ? `unknown flag --${name}${flags.hint}` : `unknown flag --${name} (did you mean --${near}?)`);
    }
    if (raw === undefined) {
      const taken = separateValue(argv, i, spec.boolean);
      if (taken.raw === undefined) throw usage(flags.missingValue(name));
      raw = taken.raw;
      i = taken.last;
    }
    if (out.has(spec.name)) throw usage(`--${spec.name}: given more than once${flags.hint}`);
    out.set(spec.name, { name: spec.name, source: `--${spec.name}`, raw });
  }
  return { flags: out, args };
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
/** What a boolean flag or variable takes, for every command and `serve` alike. */
export const BOOLEAN_SYNTAX = 'true or false (also 1/0, yes/no, on/off)';
const TRUE_WORDS = ['true', '1', 'yes', 'on'];
const FALSE_WORDS = ['false', '0', 'no', 'off'];

/** Reads a boolean the way BOOLEAN_SYNTAX says (any case), or undefined. */
export function parseBoolean(text: string): boolean | undefined {
  const lower = text.trim().toLowerCase();
  if (TRUE_WORDS.includes(lower)) return true;
  if (FALSE_WORDS.includes(lower)) return false;
  return undefined;
}

export const SIZE_SYNTAX = 'a whole number of bytes, optionally with KiB, MiB, GiB or TiB (kB, MB, GB are refused)';

/** Reads a byte size such as `1048576`, `128MiB` or `1 GiB`; undefined when it is not one or not a safe integer. */
export function parseByteSize(text: string): number | undefined {
  const m = /^(\d+)\s*([A-Za-z]*)$/.exec(text.trim());
  const unit = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) return undefined;
  const n = Number(m[1]) * unit;
  return Number.isSafeInteger(n) ? n : undefined;
}
