import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { HollowBatch } from '../../src/model/batch.js';
import { CompactdError } from '../../src/model/errors.js';
import {
  antichainFromJson,
  antichainToJson,
  base64FromJson,
  compactRequestFromJson,
  compactRequestToJson,
  compactResponseFromJson,
  compactResponseToJson,
  hollowBatchFromJson,
  hollowBatchToJson,
  serviceConfigFromJson,
  serviceConfigToJson,
  serviceConfigUpdateFromJson,
  updateFromNdjsonLine,
  updateToNdjsonLine,
} from '../../src/wire/json.js';
import { antichain, compactRequest, compactResponse, update } from '../model/arb.js';

function invalidMessage(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(CompactdError);
    expect((err as CompactdError).kind).toBe('invalid');
    expect((err as Error).message).not.toContain('\n');
    return (err as Error).message;
  }
  throw new Error('expected an invalid error');
}

const SHA = `sha256:${'ab'.repeat(32)}`;
const sample: HollowBatch = {
  desc: { lower: [[0n, 5n]], upper: [], since: [[0n, 0n]] },
  runs: [
    {
      order: 'ordered',
      parts: [
        { kind: 'hollow', key: 'w1/p1', encodedSizeBytes: 1234, updates: 3, keyLower: new Uint8Array([0xfb, 0xff]), diffsSum: -2n, checksum: SHA },
        { kind: 'inline', data: new Uint8Array([1, 2, 3]) },
      ],
    },
    { order: 'unordered', parts: [{ kind: 'hollow', key: 'w1/p2', encodedSizeBytes: 0, updates: 0, keyLower: new Uint8Array(0), checksum: '' }] },
  ],
  len: 18446744073709 + 1,
};

describe('canonical JSON rendering', () => {
  it('uses lowerCamelCase names, decimal strings for 64-bit integers, base64 bytes and enum names', () => {
    expect(hollowBatchToJson(sample)).toEqual({
      desc: { lower: [['0', '5']], upper: [], since: [['0', '0']] },
      runs: [
        {
          parts: [
            { hollow: { key: 'w1/p1', encodedSizeBytes: '1234', updates: '3', keyLower: '+/8=', diffsSum: '-2', checksum: SHA } },
            { inline: { data: 'AQID' } },
          ],
          order: 'RUN_ORDER_ORDERED',
        },
        {
          parts: [{ hollow: { key: 'w1/p2', encodedSizeBytes: '0', updates: '0', keyLower: '', checksum: '' } }],
          order: 'RUN_ORDER_UNORDERED',
        },
      ],
      len: '18446744073710',
    });
  });

  it('renders a skipped response without output and non-finite doubles as strings', () => {
    const json = compactResponseToJson({ outcome: 'skipped', stats: { ...zeroStats(), runSeconds: Infinity } });
    expect(json.outcome).toBe('SKIPPED');
    expect('output' in json).toBe(false);
    expect(json.stats).toMatchObject({ inputUpdates: '0', inputRuns: 0, runSeconds: 'Infinity' });
  });

  it('renders frontiers in the short form', () => {
    expect(antichainToJson([[1n, 0n], [0n, 1n]])).toEqual([['1', '0'], ['0', '1']]);
    expect(antichainToJson([])).toEqual([]);
  });
});

function zeroStats() {
  return { inputUpdates: 0, outputUpdates: 0, inputBytes: 0, outputBytes: 0, inputRuns: 0, outputRuns: 0, chunks: 0, memoryViolations: 0, queuedSeconds: 0, runSeconds: 0 };
}

describe('JSON round trips', () => {
  it('CompactRequest survives toJson -> text -> fromJson', () => {
    fc.assert(
      fc.property(compactRequest(), (req) => {
        expect(compactRequestFromJson(JSON.stringify(compactRequestToJson(req)))).toEqual(req);
      }),
      { numRuns: 100 },
    );
  });

  it('CompactResponse survives toJson -> text -> fromJson', () => {
    fc.assert(
      fc.property(compactResponse(), (resp) => {
        expect(compactResponseFromJson(JSON.stringify(compactResponseToJson(resp)))).toEqual(resp);
      }),
      { numRuns: 100 },
    );
  });

  it('HollowBatch and frontiers round-trip', () => {
    expect(hollowBatchFromJson(JSON.stringify(hollowBatchToJson(sample)))).toEqual(sample);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }).chain((d) => antichain(d)), (a) => {
        expect(antichainFromJson(JSON.stringify(antichainToJson(a)))).toEqual(a);
      }),
      { numRuns: 100 },
    );
  });

  it('ServiceConfig round-trips and an update carries only what it names', () => {
    const cfg = { enabled: true, queueSize: 20, concurrencyLimit: 5, heuristicMinInputs: 8, heuristicMinParts: 8, heuristicMinUpdates: 1024, minimumTimeoutSeconds: 90, memoryBoundBytes: 2 ** 30, targetPartBytes: 2 ** 27, stallTimeoutSeconds: 0 };
    expect(serviceConfigFromJson(JSON.stringify(serviceConfigToJson(cfg)))).toEqual(cfg);
    expect(serviceConfigUpdateFromJson('{"queue_size": 3, "targetPartBytes": "4096"}')).toEqual({ queueSize: 3, targetPartBytes: 4096 });
  });
});

describe('lenient but exact parsing', () => {
  const base = {
    shard_id: 's1',
    desc: { lower: [['0']], upper: { elements: [{ coords: [10] }] }, since: [['0']] },
    inputs: [{ desc: { lower: [['0']], upper: [['10']], since: [['0']] }, runs: [{ parts: [{ hollow: { key: 'w/p', encoded_size_bytes: 7, updates: '1', key_lower: 'YQ', diffs_sum: -1 } }], order: 1 }], len: 1 }],
    request_id: 'r',
  };

  it('accepts snake_case names, exact numbers for 64-bit fields, enum numbers, unpadded base64 and short-form frontiers', () => {
    const r = compactRequestFromJson(JSON.stringify(base));
    expect(r.shardId).toBe('s1');
    expect(r.desc.upper).toEqual([[10n]]);
    expect(r.requestId).toBe('r');
    const p = r.inputs[0].runs[0].parts[0];
    expect(r.inputs[0].runs[0].order).toBe('unordered');
    expect(p).toEqual({ kind: 'hollow', key: 'w/p', encodedSizeBytes: 7, updates: 1, keyLower: new Uint8Array([0x61]), diffsSum: -1n, checksum: '' });
  });

  it('treats null as the default value', () => {
    const r = compactRequestFromJson({ ...base, force: null, requestId: null, request_id: undefined });
    expect(r.force).toBe(false);
    expect(r.requestId).toBe('');
  });

  const cases: [string, unknown, RegExp][] = [
    ['text that is not JSON', '{"shardId": ', /^bad CompactRequest JSON: /],
    ['a non-object', '[1]', /^expected a JSON object for CompactRequest, got an array$/],
    ['an unknown field', { ...base, shardID: 'x' }, /^shardID: unknown field of CompactRequest$/],
    ['a field given under both names', { ...base, shardId: 's2' }, /^shardId: given twice \(as "shard_id" and "shardId"\)$/],
    ['an inexact number', { ...base, inputs: [{ ...base.inputs[0], len: 2 ** 64 }] }, /^inputs\[0\]\.len: 18446744073709552000 is not an exact integer/],
    ['a negative u64', { ...base, desc: { ...base.desc, lower: [['-1']] } }, /^desc\.lower\[0\]\[0\]: -1 is negative$/],
    ['a fractional u64', { ...base, inputs: [{ ...base.inputs[0], len: 1.5 }] }, /^inputs\[0\]\.len: 1\.5 is not an exact integer/],
    ['bad base64', { ...base, inputs: [{ ...base.inputs[0], runs: [{ parts: [{ inline: { data: 'a' } }] }] }] }, /^inputs\[0\]\.runs\[0\]\.parts\[0\]\.inline\.data: "a" is not base64/],
    ['both oneof members', { ...base, inputs: [{ ...base.inputs[0], runs: [{ parts: [{ hollow: { key: 'a' }, inline: { data: 'AA==' } }] }] }] }, /^inputs\[0\]\.runs\[0\]\.parts\[0\]: only one of hollow, inline may be set$/],
    ['an unknown enum name', { ...base, inputs: [{ ...base.inputs[0], runs: [{ parts: [], order: 'SORTED' }] }] }, /order: "SORTED" is not one of RUN_ORDER_ORDERED, RUN_ORDER_UNORDERED$/],
    ['an unknown enum number', { ...base, inputs: [{ ...base.inputs[0], runs: [{ parts: [], order: 5 }] }] }, /order: 5 is not one of/],
    ['a null list element', { ...base, inputs: [null] }, /^inputs\[0\]: null is not allowed in a list$/],
    ['a scalar where a list goes', { ...base, inputs: {} }, /^inputs: expected a list, got an object$/],
    ['a number where a string goes', { ...base, shard_id: 5 }, /^shardId: expected a string, got 5$/],
    ['a string where a bool goes', { ...base, force: 'true' }, /^force: expected true or false, got "true"$/],
    ['a missing description', { ...base, desc: null }, /^desc: missing$/],
    ['a non-antichain', { ...base, desc: { ...base.desc, since: [['1'], ['2']] } }, /^desc\.since: \{1, 2\} is not an antichain/],
  ];

  it.each(cases)('rejects %s with a one-line message naming the field', (_name, input, re) => {
    expect(invalidMessage(() => compactRequestFromJson(input))).toMatch(re);
  });
});

describe('antichainFromJson', () => {
  it.each([
    ['[["0"]]', [[0n]]],
    ['[]', []],
    ['[["1","0"],["0","1"]]', [[0n, 1n], [1n, 0n]]],
    ['[[5]]', [[5n]]],
    ['{"elements":[{"coords":["18446744073709551615"]}]}', [[18446744073709551615n]]],
  ])('parses %s', (text, expected) => {
    expect(antichainFromJson(text, '--lower')).toEqual(expected);
  });

  it.each([
    ['[["1"],["2"]]', /^--lower: \{1, 2\} is not an antichain/],
    // The path is the form the user wrote: the short form's index, the message form's fields.
    ['[[]]', /^--lower\[0\]: a timestamp needs at least one coordinate$/],
    ['[["1"],[]]', /^--lower\[1\]: a timestamp needs at least one coordinate$/],
    ['{"elements":[{"coords":[]}]}', /^--lower\.elements\[0\]\.coords: a timestamp needs at least one coordinate$/],
    ['[["x"]]', /^--lower\[0\]\[0\]: "x" is not an unsigned 64-bit integer$/],
    ['[0]', /^--lower\[0\]: expected a timestamp: a list of coordinates such as \["0"\], got 0$/],
    ['[["0"],["0","1"]]', /^--lower\.elements: timestamps of different dimensions/],
    ['[["0"]', /^bad --lower JSON: /],
    ['"0"', /^--lower: expected a frontier: a list of timestamps such as \[\["0"\]\] \(\[\] is the empty frontier\), got "0"$/],
  ])('rejects %s', (text, re) => {
    expect(invalidMessage(() => antichainFromJson(text, '--lower'))).toMatch(re);
  });
});

describe('strict base64', () => {
  it.each([
    ['', []],
    ['YQ==', [0x61]],
    ['YQ', [0x61]],
    ['YWI=', [0x61, 0x62]],
    ['+/8=', [0xfb, 0xff]],
    ['-_8', [0xfb, 0xff]],
  ])('decodes %j', (text, bytes) => {
    expect([...base64FromJson(text, 'k')]).toEqual(bytes);
  });

  it.each(['a', 'YQ=', 'YQ===', 'Y Q==', 'YQ==YQ==', 'YR==', '@@@@', 'YW=I', 'ab\ncd'])('rejects %j', (text) => {
    expect(invalidMessage(() => base64FromJson(text, 'k'))).toMatch(/^k: ".*" is not (canonical )?base64/);
  });

  it('agrees with Buffer on every canonical encoding', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        const std = Buffer.from(bytes).toString('base64');
        expect([...base64FromJson(std, 'k')]).toEqual([...bytes]);
        expect([...base64FromJson(Buffer.from(bytes).toString('base64url'), 'k')]).toEqual([...bytes]);
      }),
      { numRuns: 200 },
    );
  });
});

describe('NDJSON updates', () => {
  it('round-trips any update', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }).chain((d) => update(d, { maxBytes: 20, diff: fc.bigInt({ min: -(1n << 63n), max: (1n << 63n) - 1n }) }).map((u) => [d, u] as const)), ([dims, u]) => {
        const line = updateToNdjsonLine(u);
        expect(line).not.toContain('\n');
        expect(updateFromNdjsonLine(line, dims)).toEqual(u);
      }),
      { numRuns: 200 },
    );
  });

  it('reads the contract form', () => {
    expect(updateFromNdjsonLine('{"k":"YQ==","v":"","t":["3","18446744073709551615"],"d":"-9223372036854775808"}', 2)).toEqual({
      k: new Uint8Array([0x61]),
      v: new Uint8Array(0),
      t: [3n, 18446744073709551615n],
      d: -9223372036854775808n,
    });
    expect(updateFromNdjsonLine('{"d":1,"t":[4],"v":"AA==","k":"AA=="}').t).toEqual([4n]);
  });

  it.each([
    ['not JSON', '{"k":', undefined, /^bad NDJSON update: /],
    ['not an object', '[1,2]', undefined, /^an update is a JSON object/],
    ['a missing field', '{"k":"","v":"","t":["1"]}', undefined, /^d: missing$/],
    ['an extra field', '{"k":"","v":"","t":["1"],"d":"1","x":1}', undefined, /^x: unknown field of an update/],
    ['bad base64 key', '{"k":"!!","v":"","t":["1"],"d":"1"}', undefined, /^k: "!!" is not base64$/],
    ['non-canonical base64 value', '{"k":"","v":"YR==","t":["1"],"d":"1"}', undefined, /^v: "YR==" is not canonical base64$/],
    ['wrong dims', '{"k":"","v":"","t":["1"],"d":"1"}', 2, /^t: has 1 coordinates, expected 2$/],
    ['empty t', '{"k":"","v":"","t":[],"d":"1"}', undefined, /^t: a timestamp needs at least one coordinate$/],
    ['t not a list', '{"k":"","v":"","t":"1","d":"1"}', undefined, /^t: expected a list/],
    ['negative t', '{"k":"","v":"","t":["-1"],"d":"1"}', 1, /^t\[0\]: -1 is negative$/],
    ['t past u64', '{"k":"","v":"","t":["18446744073709551616"],"d":"1"}', 1, /^t\[0\]: 18446744073709551616 exceeds the uint64 range$/],
    ['d past i64', '{"k":"","v":"","t":["1"],"d":"9223372036854775808"}', 1, /^d: 9223372036854775808 leaves the int64 range$/],
    ['d not a number', '{"k":"","v":"","t":["1"],"d":"1e3"}', 1, /^d: "1e3" is not a signed 64-bit integer$/],
    ['an inexact d', '{"k":"","v":"","t":["1"],"d":9223372036854775807}', 1, /^d: 9223372036854776000 is not an exact integer/],
  ])('rejects %s', (_name, line, dims, re) => {
    expect(invalidMessage(() => updateFromNdjsonLine(line, dims))).toMatch(re);
  });
});
