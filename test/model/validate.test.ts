import { describe, expect, it } from 'vitest';
import type { CompactRequest, HollowPart } from '../../src/model/batch.js';
import { CompactdError } from '../../src/model/errors.js';
import { checkCompactRequestFields, MAX_KEY_LOWER_BYTES, validateCompactRequest } from '../../src/model/validate.js';

const f = (t: number) => [[BigInt(t)]];
const part = (extra: Partial<HollowPart> = {}): HollowPart => ({
  kind: 'hollow', key: 'w/p1', encodedSizeBytes: 10, updates: 1, keyLower: new Uint8Array(0), checksum: '', ...extra,
});
const request = (p: HollowPart, inputs = 1): CompactRequest => ({
  shardId: 's1',
  desc: { lower: f(0), upper: f(inputs), since: f(0) },
  inputs: Array.from({ length: inputs }, (_, i) => ({ desc: { lower: f(i), upper: f(i + 1), since: f(0) }, runs: [{ order: 'ordered' as const, parts: [p] }], len: 1 })),
  force: true,
  requestId: '',
});

function refusal(run: () => unknown): CompactdError {
  try {
    run();
  } catch (err) {
    if (err instanceof CompactdError) return err;
    throw err;
  }
  throw new Error('expected a refusal');
}

describe('the one statement of the request rules', () => {
  it('a checksum takes hex digits in either case (what the service always accepted)', () => {
    const hex = 'aB'.repeat(32);
    expect(() => validateCompactRequest(request(part({ checksum: `sha256:${hex}` })))).not.toThrow();
    const e = refusal(() => validateCompactRequest(request(part({ checksum: `sha256:${'g'.repeat(64)}` }))));
    expect(e.kind).toBe('invalid');
    expect(e.message).toMatch(/^inputs\[0\]\.runs\[0\]\.parts\[0\]\.hollow\.checksum: .* is not "sha256:" followed by 64 hex digits$/);
  });

  it('key_lower has one limit, named by its field', () => {
    expect(() => validateCompactRequest(request(part({ keyLower: new Uint8Array(MAX_KEY_LOWER_BYTES) })))).not.toThrow();
    const e = refusal(() => validateCompactRequest(request(part({ keyLower: new Uint8Array(MAX_KEY_LOWER_BYTES + 1) }))));
    expect(e.message).toBe(`inputs[0].runs[0].parts[0].hollow.keyLower: ${MAX_KEY_LOWER_BYTES + 1} bytes, more than ${MAX_KEY_LOWER_BYTES}`);
  });

  it('the key-length limit of a deployment is part of the same validation', () => {
    const limits = { maxInputs: 10, maxParts: 10, maxDims: 4, maxAntichainElements: 8, maxKeyChars: 4 };
    const e = refusal(() => validateCompactRequest(request(part({ key: 'w/p12' })), limits));
    expect(e.message).toBe('inputs[0].runs[0].parts[0]: part key is 5 characters, over the limit of 4 (--max-key-chars)');
  });

  it('fields alone pass the codec check; the request-wide rules are the validation\'s', () => {
    const gap: CompactRequest = { ...request(part(), 2), desc: { lower: f(0), upper: f(3), since: f(0) } };
    expect(() => checkCompactRequestFields(gap)).not.toThrow();
    expect(refusal(() => validateCompactRequest(gap)).message).toMatch(/^invalid merge of non-consecutive batches: inputs\[1\]\.desc\.upper \{2\} != desc\.upper \{3\}$/);
  });

  it('returns frontiers in normal form and leaves its input alone', () => {
    const two = [[1n, 0n], [0n, 1n]];
    const req: CompactRequest = {
      shardId: 's1',
      desc: { lower: two, upper: [], since: two },
      inputs: [{ desc: { lower: two, upper: [], since: two }, runs: [], len: 0 }],
      force: false,
      requestId: '',
    };
    const valid = validateCompactRequest(req);
    expect(valid.desc.lower).toEqual([[0n, 1n], [1n, 0n]]);
    expect(req.desc.lower).toEqual(two);
  });
});
