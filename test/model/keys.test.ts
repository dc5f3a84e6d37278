import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CompactdError } from '../../src/model/errors.js';
import {
  MAX_PART_KEY_CHARS,
  isServiceKey,
  newCompactionPrefix,
  newOutputKey,
  objectKey,
  validatePartKey,
  validateShardId,
} from '../../src/model/keys.js';

function kindOf(f: () => void): string | undefined {
  try {
    f();
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(CompactdError);
    return (err as CompactdError).kind;
  }
}

const seg = (n: number) => `a${'b'.repeat(n - 1)}`;

describe('shard ids', () => {
  it.each(['a', 'Z', '0', 's1', 'shard_01-x', 'A-_', seg(128)])('accepts %s', (id) => {
    expect(kindOf(() => validateShardId(id))).toBeUndefined();
  });

  it.each([
    ['empty', ''],
    ['leading dash', '-a'],
    ['leading underscore', '_a'],
    ['a dot', 'a.b'],
    ['dot', '.'],
    ['dot dot', '..'],
    ['a slash', 'a/b'],
    ['a leading slash', '/a'],
    ['a backslash', 'a\\b'],
    ['a space', 'a b'],
    ['percent escape', '%2e%2e'],
    ['NUL', 'a\0'],
    ['non-ASCII letter', 'café'],
    ['fullwidth look-alike', '\uff53\uff11'],
    ['Cyrillic look-alike', '\u0455hard'],
    ['129 characters', seg(129)],
    ['trailing newline', 'a\n'],
  ])('rejects %s', (_name, id) => {
    expect(kindOf(() => validateShardId(id))).toBe('invalid');
  });
});

describe('part keys', () => {
  const max = [seg(128), seg(128), seg(128), seg(125)].join('/');

  it.each(['p', 'w1/p1', 'a.b/c-d_e', 'a..b', 'v1.2.3', `c${randomUUID()}/p${randomUUID()}`, seg(128), max])('accepts %s', (key) => {
    expect(kindOf(() => validatePartKey(key))).toBeUndefined();
  });

  it('512 characters is the limit', () => {
    expect(max.length).toBe(MAX_PART_KEY_CHARS);
    expect(kindOf(() => validatePartKey(`${max}x`))).toBe('invalid');
  });

  it.each([
    ['empty', ''],
    ['dot', '.'],
    ['dot dot', '..'],
    ['a dot segment', 'a/./b'],
    ['a parent segment', 'a/../b'],
    ['a leading parent segment', '../b'],
    ['a trailing parent segment', 'a/..'],
    ['a leading slash', '/a'],
    ['a trailing slash', 'a/'],
    ['an empty segment', 'a//b'],
    ['percent-escaped dots', '%2e%2e/a'],
    ['a percent-escaped slash', 'a%2fb'],
    ['a backslash', 'a\\b'],
    ['a backslash traversal', '..\\..\\etc'],
    ['NUL', 'a\0b'],
    ['one-dot leader look-alike of ..', 'a/\u2024\u2024/b'],
    ['fullwidth full stops', '\uff0e\uff0e/a'],
    ['a fullwidth slash', 'a\uff0fb'],
    ['a segment starting with a dot', '.hidden'],
    ['a segment starting with a dash', '-a'],
    ['a space', 'a b'],
    ['a newline', 'a\nb'],
    ['non-ASCII', 'caf\u00e9'],
    ['a 129-character segment', `a/${seg(129)}`],
    ['513 characters', `${seg(128)}/${seg(128)}/${seg(128)}/${seg(126)}`],
  ])('rejects %s', (_name, key) => {
    expect(kindOf(() => validatePartKey(key))).toBe('invalid');
  });
});

describe('service keys', () => {
  it('fresh output keys are service keys and valid part keys', () => {
    const prefix = newCompactionPrefix();
    const key = newOutputKey(prefix);
    expect(key.startsWith(`${prefix}/p`)).toBe(true);
    expect(isServiceKey(key)).toBe(true);
    expect(kindOf(() => validatePartKey(key))).toBeUndefined();
    expect(newOutputKey(prefix)).not.toBe(key);
  });

  const u = () => randomUUID();
  it.each([
    ['a writer key', () => `w${u()}/p${u()}`],
    ['a prefix only', () => `c${u()}`],
    ['an extra segment', () => `c${u()}/p${u()}/x`],
    ['upper-case hex', () => `c${u().toUpperCase()}/p${u()}`],
    ['a short uuid', () => `c${u().slice(1)}/p${u()}`],
    ['a missing p', () => `c${u()}/${u()}`],
    ['a nested shard path', () => `s1/c${u()}/p${u()}`],
  ])('rejects %s', (_name, make) => {
    expect(isServiceKey(make())).toBe(false);
  });
});

describe('objectKey', () => {
  it('joins a valid shard and key and refuses invalid halves', () => {
    expect(objectKey('s1', 'w1/p1')).toBe('s1/w1/p1');
    expect(kindOf(() => objectKey('../s', 'p'))).toBe('invalid');
    expect(kindOf(() => objectKey('s', '../p'))).toBe('invalid');
  });
});
