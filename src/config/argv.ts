/**
 * The one grammar of command-line flags, shared by `compactd serve`'s options and the other
 * commands: `--flag value`, `--flag=value`, bare booleans (`--flag` is true, `--flag false` and
 * `--no-flag` false).
 */

/**
 * The value of the flag at argv[i] when it was given without `=`: a boolean is true unless a
 * literal true or false follows (then taken as its value); any other flag takes the next
 * argument. Returns the value (undefined when a non-boolean has none: the caller reports it) and
 * the index of the last argument used.
 */
export function separateValue(argv: readonly string[], i: number, isBoolean: boolean): { raw: string | undefined; last: number } {
  const next = argv[i + 1];
  if (isBoolean) {
    return next !== undefined && /^(true|false)$/i.test(next) ? { raw: next, last: i + 1 } : { raw: 'true', last: i };
  }
  if (next === undefined || next.startsWith('--')) return { raw: undefined, last: i };
  return { raw: next, last: i + 1 };
}
