import { describe, expect, it } from 'vitest';
import { formatHelp, parseFlags, type FlagSpec } from '../../src/cli/args.js';
import { CompactdError } from '../../src/model/errors.js';

const FLAGS: FlagSpec[] = [
  { name: 'shard', type: 'string', help: 'shard', required: true },
  { name: 'lower', type: 'string', help: 'lower' },
  { name: 'inline', type: 'boolean', help: 'inline' },
  { name: 'dims', type: 'count', help: 'dims' },
  { name: 'target-part-bytes', type: 'bytes', help: 'size', defaultText: '128MiB' },
];

const parse = (...argv: string[]) => Object.fromEntries(parseFlags(argv, FLAGS, 'cmd').values);

function error(...argv: string[]): string {
  try {
    parseFlags(argv, FLAGS, 'cmd');
  } catch (err) {
    expect(err).toBeInstanceOf(CompactdError);
    expect((err as CompactdError).kind).toBe('invalid');
    return (err as Error).message;
  }
  throw new Error('expected an error');
}

describe('parseFlags', () => {
  it('accepts --flag value and --flag=value, keeping values verbatim', () => {
    expect(parse('--shard', 's1', '--lower=[["0"]]')).toEqual({ shard: 's1', lower: '[["0"]]' });
    expect(parse('--shard=a=b')).toEqual({ shard: 'a=b' });
    expect(parse('--shard', 's', '--lower', '[]')).toEqual({ shard: 's', lower: '[]' });
  });

  it('reads booleans bare, with a literal, with =, and negated', () => {
    expect(parse('--shard', 's', '--inline')).toMatchObject({ inline: true });
    expect(parse('--inline', '--shard', 's')).toMatchObject({ inline: true, shard: 's' });
    expect(parse('--shard', 's', '--inline', 'false')).toMatchObject({ inline: false });
    // The booleans of every command read as serve's do (config/argv.ts parseBoolean).
    expect(parse('--shard', 's', '--inline=yes')).toMatchObject({ inline: true });
    expect(parse('--shard', 's', '--inline=OFF')).toMatchObject({ inline: false });
    expect(parse('--shard', 's', '--inline=1')).toMatchObject({ inline: true });
    expect(parse('--shard', 's', '--inline=FALSE')).toMatchObject({ inline: false });
    expect(parse('--shard', 's', '--no-inline')).toMatchObject({ inline: false });
  });

  it('reads counts and byte sizes with units', () => {
    expect(parse('--shard', 's', '--dims', '3')).toMatchObject({ dims: 3 });
    expect(parse('--shard', 's', '--target-part-bytes', '4096')).toMatchObject({ 'target-part-bytes': 4096 });
    expect(parse('--shard', 's', '--target-part-bytes=128MiB')).toMatchObject({ 'target-part-bytes': 128 * 2 ** 20 });
    // One set of units for serve and every command: binary only; 2kb was read as 2000 here and refused by serve.
    expect(parse('--shard', 's', '--target-part-bytes=2KiB')).toMatchObject({ 'target-part-bytes': 2048 });
    expect(parse('--shard', 's', '--target-part-bytes=1TiB')).toMatchObject({ 'target-part-bytes': 2 ** 40 });
    expect(error('--shard', 's', '--target-part-bytes=2kb')).toBe(
      '--target-part-bytes: expected a byte size such as 1048576 or 128MiB, got "2kb" (see compactd cmd --help)',
    );
    expect(parse('--shard', 's', '--target-part-bytes=1GiB')).toMatchObject({ 'target-part-bytes': 2 ** 30 });
  });

  it('only reports the flags given', () => {
    expect(parse('--shard', 's')).toEqual({ shard: 's' });
  });

  it('--help wins over everything else', () => {
    expect(parseFlags(['--bogus', '--help'], FLAGS, 'cmd').help).toBe(true);
    expect(parseFlags(['-h'], FLAGS, 'cmd').help).toBe(true);
  });

  it.each([
    [['--shard', 's', '--nope', '1'], 'unknown flag --nope (see compactd cmd --help)'],
    [['--shard', 's', '--no-lower'], 'unknown flag --no-lower (see compactd cmd --help)'],
    [['--shard'], '--shard: missing value (see compactd cmd --help)'],
    [['--shard', '--inline'], '--shard: missing value (see compactd cmd --help)'],
    [['--shard', 's', '--shard=t'], '--shard: given more than once (see compactd cmd --help)'],
    [['--shard', 's', 'extra'], 'unexpected argument "extra" (see compactd cmd --help)'],
    [['--shard', 's', '--'], 'unexpected argument "--" (see compactd cmd --help)'],
    [[], '--shard is required (see compactd cmd --help)'],
    [['--shard', 's', '--dims', '-1'], '--dims: expected a whole number, got "-1" (see compactd cmd --help)'],
    [['--shard', 's', '--dims', '1.5'], '--dims: expected a whole number, got "1.5" (see compactd cmd --help)'],
    [['--shard', 's', '--inline=maybe'], '--inline: expected true or false (also 1/0, yes/no, on/off), got "maybe" (see compactd cmd --help)'],
    [['--shard', 's', '--target-part-bytes', '5 parsecs'], '--target-part-bytes: expected a byte size such as 1048576 or 128MiB, got "5 parsecs" (see compactd cmd --help)'],
    [['--shard', 's', '--target-part-bytes', '99999999999GiB'], '--target-part-bytes: expected a byte size such as 1048576 or 128MiB, got "99999999999GiB" (see compactd cmd --help)'],
  ])('rejects %j', (argv, message) => {
    expect(error(...argv)).toBe(message);
  });
});

describe('formatHelp', () => {
  it('shows the usage with required flags, every flag with its notes, and --help', () => {
    const text = formatHelp('cmd', 'Does things.', FLAGS);
    expect(text.split('\n')[0]).toBe('Usage: compactd cmd --shard VALUE [flags]');
    for (const f of FLAGS) expect(text).toContain(`--${f.name}`);
    expect(text).toMatch(/--shard VALUE +shard \(required\)/);
    expect(text).toMatch(/--target-part-bytes VALUE +size \(default 128MiB\)/);
    expect(text).toMatch(/--inline +inline\n/);
    expect(text).toMatch(/--help +show this help/);
  });
});
